// PUBACKs of settled batches (issue 16, ninth round): how moby-mqtt-broker wrote them before — one
// `{cmd: 'puback', messageId}` per message through mqtt.js's `_sendPacket`, the socket corked for the turn —
// against now — the turn's PUBACKs as bytes in one buffer, one socket write (nodes/core/mqtt/puback.ts) — in
// ONE process, the two alternating, on a real mqtt.js client connected over TCP to a sink in a child process
// (answers CONNECT with CONNACK and discards the rest, so its CPU is not counted). Each round settles
// BENCH_PUBACK_TURNS turns of BENCH_PUBACK_BATCH messages per side; the table gives the median CPU ns per
// PUBACK of this process (user + system: the socket writes are system time).
//
//   node --expose-gc -r ts-node/register/transpile-only test/bench/puback.bench.ts   (npm run bench -- puback)
//   BENCH_ROUNDS (7), BENCH_PUBACK_TURNS (2000), BENCH_PUBACK_BATCH (100)
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { pubackBytes } from '../../nodes/core/mqtt/puback';
import { freePort } from '../support/net';
import { fmt } from './lib';

const ROUNDS = Number(process.env.BENCH_ROUNDS || 7);
const TURNS = Number(process.env.BENCH_PUBACK_TURNS || 2000);
const BATCH = Number(process.env.BENCH_PUBACK_BATCH || 100);

const SINK = `
const net = require('net');
net.createServer((s) => {
  let first = true;
  s.on('data', () => { if (first) { first = false; s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); } });
  s.on('error', () => {});
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('up'));
`;

type Internals = {
  _sendPacket(p: Record<string, unknown>, cb?: () => void): void;
  stream: NodeJS.WritableStream & { cork(): void; uncork(): void };
};

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

async function main(): Promise<void> {
  const port = await freePort();
  const sink = spawn(process.execPath, ['-e', SINK, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => sink.stdout!.once('data', () => r()));
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: 'puback-bench',
    clean: true,
    reconnectPeriod: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const c = client as unknown as Internals;

  // before: per message, the client's send path, the socket corked until the end of the turn
  async function before(): Promise<void> {
    let id = 1;
    for (let t = 0; t < TURNS; t++) {
      const stream = c.stream;
      stream.cork();
      process.nextTick(() => stream.uncork());
      for (let i = 0; i < BATCH; i++) {
        c._sendPacket({ cmd: 'puback', messageId: id });
        id = id === 65535 ? 1 : id + 1;
      }
      await nextTurn();
    }
  }
  // now: the turn's ids gathered, one buffer, one write
  async function now(): Promise<void> {
    let id = 1;
    const ids: number[] = [];
    for (let t = 0; t < TURNS; t++) {
      for (let i = 0; i < BATCH; i++) {
        ids.push(id);
        id = id === 65535 ? 1 : id + 1;
      }
      await new Promise<void>((r) =>
        process.nextTick(() => {
          c.stream.write(pubackBytes(ids.splice(0)));
          r();
        })
      );
      await nextTurn();
    }
  }
  const sides: Array<[string, () => Promise<void>]> = [
    ['mqtt.js _sendPacket per PUBACK (before)', before],
    ['one buffer per turn (now)', now],
  ];
  const results = new Map<string, number[]>(sides.map(([n]) => [n, []]));
  await before(); // warm-up both
  await now();
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...sides].reverse() : sides;
    for (const [name, fn] of order) {
      global.gc?.();
      const u0 = process.cpuUsage();
      await fn();
      const u = process.cpuUsage(u0);
      results.get(name)!.push(((u.user + u.system) * 1000) / (TURNS * BATCH));
    }
  }
  client.end(true);
  sink.kill();
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `PUBACKs: ${TURNS} turns × ${BATCH} per side and round, ${ROUNDS} rounds alternating; CPU ns per PUBACK (this process)`
  );
  const base = med(results.get(sides[0][0])!);
  for (const [name] of sides) {
    const xs = results.get(name)!;
    const m = med(xs);
    console.log(
      `  ${name.padEnd(42)} ${fmt(m).padStart(7)} ns  (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})  ${name === sides[0][0] ? '' : `${(((m - base) / base) * 100).toFixed(0)} %`}`
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
