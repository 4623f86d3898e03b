// The load of the end-to-end bench: N telemetry messages from D simulated devices (the simulator's
// MachineModel readings and its nested body format `telemetryBody`), each signed with the device's key
// derived from the master key (`signEnvelope`, scheme v1) and published with QoS 1 over a few MQTT
// connections with a bounded number of unacknowledged publishes each.
//
// Readings are generated before the run. The body and its signature are made at send time, because the
// body's `ts` is the send time (ISO, ms) from which both flows' taps compute latency and the MAC covers the
// body; that costs a few µs per message in the publisher. Per device, ts is strictly increasing, so every
// point has its own (series, timestamp) in the database and a count of samples is a count of messages.
import mqtt, { MqttClient } from 'mqtt';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';
import { MachineModel, Reading, deviceIdFor, telemetryBody } from '../../bin/lib/sim-model';

interface Device {
  id: string;
  /** the device's tenant (tenants bench): topic t/<tenant>/devices/<id>/telemetry, MAC over the tenant */
  tenant?: string;
  equipment: string;
  key: Buffer;
  readings: Reading[];
  lastTs: number;
}

export interface Load {
  n: number;
  devices: Device[];
}

export function prepareLoad(n: number, devices: number, master: string, tenants: string[] = []): Load {
  const masterKey = parseKey(master);
  const perDevice = Math.ceil(n / devices);
  const list: Device[] = [];
  for (let i = 0; i < devices; i++) {
    const model = new MachineModel(i, 1 + i, []);
    const readings: Reading[] = [];
    for (let j = 0; j < perDevice; j++) readings.push(model.step(1));
    // with tenants, device i belongs to tenant i mod T and keeps the id of device ⌊i / T⌋: every tenant has a
    // pump-001 … (overlapping ids), each keyed from the tenant's own master (master + '/' + tenant)
    const tenant = tenants.length ? tenants[i % tenants.length] : undefined;
    const id = deviceIdFor(tenants.length ? Math.floor(i / tenants.length) : i);
    const key = deriveDeviceKey(tenant ? parseKey(`${master}/${tenant}`) : masterKey, id);
    list.push({ id, tenant, equipment: model.equipmentType, key, readings, lastTs: 0 });
  }
  return { n, devices: list };
}

export interface PublishResult {
  /** epoch ms of the first publish */
  firstAt: number;
  /** epoch ms when the broker had acknowledged every publish */
  lastAckAt: number;
  published: number;
}

/**
 * Publishes message i (0 ≤ i < n) as device i mod D's next reading. Device d is always sent by client
 * d mod clients, so each device's messages leave in order. Resolves when all are acknowledged (PUBACK).
 */
export async function publishLoad(
  url: string,
  load: Load,
  opts: { clients: number; window: number; tag: string; count?: number; rate?: number; onFirst?: (at: number) => void }
): Promise<PublishResult> {
  const count = opts.count ?? load.n;
  const D = load.devices.length;
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: opts.clients }, (_, c) =>
      mqtt.connectAsync(url, {
        clientId: `moby-bench-pub-${opts.tag}-${c}`,
        clean: true,
        keepalive: 60,
        reconnectPeriod: 0,
      })
    )
  );
  let firstAt = 0;
  let published = 0;
  // per-device sequence numbers are reset for each run (readings are reused; timestamps are new)
  const seq = new Array<number>(D).fill(0);
  const sendOne = (client: MqttClient, i: number, cb: (err?: Error) => void) => {
    const d = i % D;
    const dev = load.devices[d];
    const now = Date.now();
    const ts = now > dev.lastTs ? now : dev.lastTs + 1;
    dev.lastTs = ts;
    const reading = dev.readings[seq[d]++ % dev.readings.length];
    const body = telemetryBody(dev.id, dev.equipment, reading, ts);
    const env = signEnvelope({ deviceId: dev.id, key: dev.key, kid: 'm1', body, tenant: dev.tenant });
    if (!firstAt) {
      firstAt = now;
      opts.onFirst?.(now);
    }
    const topic = dev.tenant ? `t/${dev.tenant}/devices/${dev.id}/telemetry` : `devices/${dev.id}/telemetry`;
    client.publish(topic, JSON.stringify(env), { qos: 1 }, (err) => cb(err ?? undefined));
  };
  if (opts.rate) {
    // paced: message k leaves at firstAt + k / rate (checked every 2 ms), whatever the acknowledgements do
    const rate = opts.rate;
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let acked = 0;
      const start = Date.now();
      const tick = () => {
        const due = Math.min(count, Math.floor(((Date.now() - start) * rate) / 1000) + 1);
        while (next < due) {
          const i = next++;
          sendOne(clients[(i % D) % opts.clients], i, (err) => {
            if (err) return reject(err);
            published++;
            if (++acked === count) resolve();
          });
        }
        if (next < count) setTimeout(tick, 2);
      };
      tick();
    });
    const lastAckAt = Date.now();
    await Promise.all(clients.map((c) => c.endAsync()));
    return { firstAt, lastAckAt, published };
  }
  await Promise.all(
    clients.map(
      (client, c) =>
        new Promise<void>((resolve, reject) => {
          // the indices this client sends, in order
          const mine: number[] = [];
          for (let i = 0; i < count; i++) if ((i % D) % opts.clients === c) mine.push(i);
          let next = 0;
          let inFlight = 0;
          const pump = () => {
            while (inFlight < opts.window && next < mine.length) {
              inFlight++;
              sendOne(client, mine[next++], (err) => {
                if (err) return reject(err);
                inFlight--;
                published++;
                if (next >= mine.length && inFlight === 0) resolve();
                else if (inFlight < opts.window / 2) pump();
              });
            }
            if (mine.length === 0) resolve();
          };
          pump();
        })
    )
  );
  const lastAckAt = Date.now();
  await Promise.all(clients.map((c) => c.endAsync()));
  return { firstAt, lastAckAt, published };
}
