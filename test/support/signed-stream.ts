// A publisher of signed QoS 1 telemetry for end-to-end tests: `perDevice` messages from each of `devices`
// simulated machines, round-robin at `rate` msgs/s on one connection that reconnects (a cluster server may
// go away). Only messages the broker acknowledged (PUBACK) count as published. Chosen devices go wildly
// abnormal from a given point on (one incident each once calibrated).
import mqtt, { type MqttClient } from 'mqtt';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';
import { MachineModel, type Reading, telemetryBody, EQUIPMENT_TYPES } from '../../bin/lib/sim-model';

export interface SignedStream {
  /** messages the broker acknowledged: the ones that must be stored */
  acked: Array<{ device: string; ts: number }>;
  /** publishes that failed (connection lost before the PUBACK): never acknowledged, so not owed */
  failed: number;
  /** the newest timestamp used (a following stream starts after it) */
  readonly lastTs: number;
  done: Promise<void>;
}

export interface SignedStreamOptions {
  /** one URL or several (comma-separated): mqtt.js moves down the list when a server is unreachable */
  url: string;
  devices: number;
  perDevice: number;
  rate: number;
  prefix: string;
  master: string;
  /** device ids that turn abnormal from point `faultFrom` (counted per device) */
  faulty?: string[];
  faultFrom?: number;
  /** timestamps start after this (ms) */
  startAfter?: number;
}

export async function signedStream(o: SignedStreamOptions): Promise<SignedStream> {
  const masterKey = parseKey(o.master);
  const faulty = new Set(o.faulty ?? []);
  const devices = Array.from({ length: o.devices }, (_, i) => {
    const id = `${o.prefix}${String(i).padStart(3, '0')}`;
    return {
      id,
      equipment: `${EQUIPMENT_TYPES[i % EQUIPMENT_TYPES.length]}-${i}`,
      key: deriveDeviceKey(masterKey, id),
      model: new MachineModel(i, 500 + i, []),
      lastTs: o.startAfter ?? 0,
      sent: 0,
    };
  });
  const urls = o.url.split(',').map((u) => new URL(u.trim()));
  const client: MqttClient = mqtt.connect({
    servers: urls.map((u) => ({ host: u.hostname, port: Number(u.port) })),
    protocol: 'mqtt',
    clientId: `scale-pub-${process.pid}-${Date.now()}`,
    clean: true,
    reconnectPeriod: 500,
    connectTimeout: 10000,
  });
  client.on('error', () => undefined); // a refused (re)connect: mqtt.js tries the next server
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    setTimeout(() => reject(new Error(`publisher could not connect to ${o.url}`)), 60000).unref();
  });
  const total = o.devices * o.perDevice;
  const acked: SignedStream['acked'] = [];
  let failed = 0;
  let lastTs = o.startAfter ?? 0;
  let sent = 0;
  let pending = 0;
  const start = Date.now();
  const done = new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((Date.now() - start) * o.rate) / 1000) + 1);
      // bounded in flight: a slow broker slows the publisher down instead of queuing without limit
      while (sent < due && pending < 2000) {
        const dev = devices[sent++ % o.devices];
        const now = Date.now();
        const ts = now > dev.lastTs ? now : dev.lastTs + 1;
        dev.lastTs = ts;
        lastTs = Math.max(lastTs, ts);
        let r: Reading = dev.model.step(1);
        if (faulty.has(dev.id) && dev.sent >= (o.faultFrom ?? Infinity))
          r = { ...r, temperature: r.temperature + 90, vibration: r.vibration * 12, current: r.current * 2.5 };
        dev.sent++;
        const env = signEnvelope({
          deviceId: dev.id,
          key: dev.key,
          kid: 'm1',
          body: telemetryBody(dev.id, dev.equipment, r, ts),
        });
        pending++;
        client.publish(`devices/${dev.id}/telemetry`, JSON.stringify(env), { qos: 1 }, (err) => {
          pending--;
          // a publish the broker never acknowledged is not owed: counted, and the stream goes on
          if (err) failed++;
          else acked.push({ device: dev.id, ts });
        });
      }
      if (sent >= total) {
        const wait = () => (pending === 0 ? resolve() : setTimeout(wait, 20));
        return wait();
      }
      setTimeout(tick, 5);
    };
    tick();
  }).finally(() => client.endAsync());
  return {
    acked,
    get failed() {
      return failed;
    },
    get lastTs() {
      return lastTs;
    },
    done,
  };
}
