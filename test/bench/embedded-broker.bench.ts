// What the embedded broker's packet-size cap costs (nodes/core/mqtt/packet-size.ts): the same aedes, once with
// every socket handed to it directly (as npm start did before the cap) and once through PacketSizeGuard, in
// the same process and run, rounds alternating. Load: one device publishing signed-size telemetry (QoS 1,
// ~1 KB, pipelined 100 at a time) to one subscriber (the pipeline's role); msgs/s end to end and the
// process's CPU time per message (clients, broker and guard together: the difference is the guard's).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { PacketSizeGuard } from '../../nodes/core/mqtt/packet-size';
import { EMBEDDED_BROKER_MAX_PACKET } from '../../nodes/core/mqtt/embedded-broker';
import { benchBody, fmt } from './lib';

const MESSAGES = 20000;
const ROUNDS = 3;
const PIPELINE = 100;

async function broker(guarded: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const { Aedes } = require('aedes');
  const aedes = await Aedes.createBroker();
  const server = net.createServer(
    guarded
      ? (socket) => aedes.handle(new PacketSizeGuard(socket, EMBEDDED_BROKER_MAX_PACKET, () => undefined))
      : aedes.handle
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise((r) => aedes.close(() => server.close(() => r()))),
  };
}

function connect(port: number, clientId: string): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 0 });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function run(guarded: boolean): Promise<{ perSec: number; cpuUs: number }> {
  const b = await broker(guarded);
  const sub = await connect(b.port, 'pipeline');
  await sub.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const dev = await connect(b.port, 'dev-1');
  const payload = JSON.stringify({ device_id: 'dev-1', sig: 'v1=' + 'a'.repeat(64), body: benchBody(1, 0, 0) });
  let got = 0;
  let all: () => void = () => undefined;
  const done = new Promise<void>((r) => (all = r));
  sub.on('message', () => {
    if (++got === MESSAGES) all();
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < MESSAGES; i += PIPELINE)
    await Promise.all(
      Array.from({ length: Math.min(PIPELINE, MESSAGES - i) }, () =>
        dev.publishAsync('devices/dev-1/telemetry', payload, { qos: 1 })
      )
    );
  await done;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  dev.end(true);
  sub.end(true);
  await b.close();
  return { perSec: MESSAGES / seconds, cpuUs: (cpu.user + cpu.system) / MESSAGES };
}

async function main(): Promise<void> {
  const os = await import('node:os');
  console.log(
    `embedded aedes, ${MESSAGES} QoS 1 messages of ~1 KB per round, ${ROUNDS} rounds each, alternating; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
  await run(false); // warm-up (JIT, aedes' first persistence calls)
  const plain: Array<{ perSec: number; cpuUs: number }> = [];
  const guarded: Array<{ perSec: number; cpuUs: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await run(false));
    guarded.push(await run(true));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [name, rs] of [
    ['aedes, socket handed over directly (baseline)', plain],
    ['aedes behind PacketSizeGuard', guarded],
  ] as const)
    console.log(
      `  ${name.padEnd(48)} ${fmt(median(rs.map((r) => r.perSec))).padStart(8)} msgs/s  ${fmt(median(rs.map((r) => r.cpuUs)), 1).padStart(6)} µs CPU/msg  (rounds: ${rs.map((r) => fmt(r.perSec)).join(', ')})`
    );
  const ratio = median(guarded.map((r) => r.perSec)) / median(plain.map((r) => r.perSec));
  console.log(`  guarded / baseline: ${fmt(100 * ratio, 1)} % of the msgs/s`);
  console.log(
    `  load average after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
