// What 10,000 idle MQTT connections cost npm start's embedded broker (scripts/lib/embedded-broker.js), with
// its connection cap (MOBY_BROKER_MAX_CONNECTIONS, default 2000) and without: each round starts the broker in
// a process of its own (broker-connections-child.js), connects the pipeline, then opens the connections (each
// sends a CONNECT without keepalive and nothing more, as a flood would) and reads the broker process's RSS,
// heap after GC and open file descriptors. Rounds alternate baseline and capped in one run.
// Baseline: this tree with a cap of 1,000,000 (no eviction), or another checkout's broker with
// `MOBY_BENCH_BASELINE_ROOT=/path/to/checkout` (built: its dist/ is used), e.g. `git archive` of main in /tmp.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';

const CONNECTIONS = Number(process.env.MOBY_BENCH_CONNECTIONS || 10000);
const ROUNDS = 2;
const AT_ONCE = 200;
const root = path.resolve(__dirname, '..', '..');
const baselineRoot = process.env.MOBY_BENCH_BASELINE_ROOT;

interface Memory {
  rss: number;
  heapUsed: number;
  fds: number;
}

function startChild(tree: string, cap: string): Promise<{ child: ChildProcess; port: number; mem(): Promise<Memory> }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', path.join(__dirname, 'broker-connections-child.js'), tree, cap],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    }
  );
  const lines = readline.createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((r) => waiting.push(r));
  return next().then((l) => ({
    child,
    port: JSON.parse(l).port,
    mem: async () => {
      const answer = next();
      child.stdin!.write('mem\n');
      return JSON.parse(await answer) as Memory;
    },
  }));
}

/** A raw connection that sends one CONNECT and then nothing; resolves once the CONNACK (or a close) came. */
function idleConnection(port: number, clientId: string): Promise<{ sock: net.Socket; closed: () => boolean }> {
  return new Promise((resolve) => {
    let closed = false;
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
      resolve({ sock, closed: () => closed });
    });
    sock.once('connect', () =>
      sock.write(
        mqttPacket.generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, keepalive: 0 })
      )
    );
    sock.once('data', () => resolve({ sock, closed: () => closed }));
  });
}

async function round(name: string, tree: string, cap: string): Promise<void> {
  const b = await startChild(tree, cap);
  const empty = await b.mem();
  const pipeline = mqtt.connect(`mqtt://127.0.0.1:${b.port}`, {
    clientId: 'moby-pipeline',
    username: 'moby-pipeline',
    password: 'bench-pipeline-secret',
    keepalive: 0,
    reconnectPeriod: 0,
  });
  await new Promise((r) => pipeline.once('connect', r));
  let pipelineClosed = false;
  pipeline.on('close', () => (pipelineClosed = true));
  const conns: Array<{ sock: net.Socket; closed: () => boolean }> = [];
  const t0 = Date.now();
  for (let i = 0; i < CONNECTIONS; i += AT_ONCE)
    conns.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(AT_ONCE, CONNECTIONS - i) }, (_, k) => idleConnection(b.port, `idle-${i + k}`))
      ))
    );
  const seconds = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000)); // let evictions finish closing
  const full = await b.mem();
  const open = conns.filter((c) => !c.closed()).length;
  const mb = (n: number) => (n / 1048576).toFixed(1);
  console.log(
    `${name.padEnd(34)} RSS ${mb(empty.rss)} → ${mb(full.rss)} MB, heap ${mb(empty.heapUsed)} → ${mb(full.heapUsed)} MB, fds ${empty.fds} → ${full.fds}; ${open} of ${CONNECTIONS} still open after ${seconds.toFixed(1)} s; pipeline ${pipelineClosed ? 'CLOSED' : 'connected'}`
  );
  for (const c of conns) c.sock.destroy();
  pipeline.end(true);
  b.child.kill();
  await new Promise((r) => b.child.once('exit', r));
}

async function main(): Promise<void> {
  const os = await import('node:os');
  console.log(
    `embedded broker, ${CONNECTIONS} idle connections per round, ${ROUNDS} rounds each, alternating; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
  const baseline = baselineRoot
    ? { name: `baseline (${path.basename(baselineRoot)}, no cap)`, tree: baselineRoot, cap: '' }
    : { name: 'baseline (cap 1,000,000)', tree: root, cap: '1000000' };
  for (let r = 0; r < ROUNDS; r++) {
    await round(baseline.name, baseline.tree, baseline.cap);
    await round('capped (default 2000)', root, '');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
