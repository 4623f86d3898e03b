// The device-health test flow of the node tests that put a real broker in front of it, as flows/pipeline.json
// does: mqtt in devices/+/telemetry → moby-hmac-verify "v" → moby-device-health "h" ← mqtt in device/lwt/+ and
// device/status/+; "h" → moby-alert "alert" and helper "h-out", its rejects → helper "h-bad"; the alert's
// events → helper "ev", its rejects → helper "a-rej". Keyring "kr" (keys as its credentials). Each MOBY node's
// settings can be overridden; the broker node is "b" (core-mqtt-flow.ts).
import { coreMqttBroker, coreMqttIn } from './core-mqtt-flow';

export interface HealthFlowOptions {
  /** moby-hmac-verify settings over keyring "kr" and an in-memory replay store */
  verify?: Record<string, unknown>;
  /** moby-device-health settings over sweepInterval 0.1 s and no persistence */
  health?: Record<string, unknown>;
  /** moby-alert settings over no API and autoResolvePoints 1 */
  alert?: Record<string, unknown>;
}

export function brokerHealthFlow(brokerPort: number, o: HealthFlowOptions = {}): unknown[] {
  return [
    coreMqttBroker(brokerPort),
    coreMqttIn('in-data', 'devices/+/telemetry', [['v']]),
    coreMqttIn('in-lwt', 'device/lwt/+', [['h']]),
    coreMqttIn('in-status', 'device/status/+', [['h']]),
    { id: 'kr', type: 'moby-keyring', keysEnv: '' },
    { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', replayStore: 'memory', wires: [['h'], []], ...o.verify },
    {
      id: 'h',
      type: 'moby-device-health',
      sweepInterval: 0.1,
      persist: false,
      wires: [['alert', 'h-out'], ['h-bad']],
      ...o.health,
    },
    { id: 'h-out', type: 'helper' },
    { id: 'h-bad', type: 'helper' },
    {
      id: 'alert',
      type: 'moby-alert',
      apiEnabled: false,
      autoResolvePoints: 1,
      wires: [['ev'], [], ['a-rej']],
      ...o.alert,
    },
    { id: 'ev', type: 'helper' },
    { id: 'a-rej', type: 'helper' },
  ];
}
