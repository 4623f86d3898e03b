// What the issue-16 changes to the shipped flow's wiring and writer save, measured in ONE process with the
// variants interleaved (the end-to-end bench, pipeline.bench.ts, cannot resolve a few per cent on a shared
// machine). The pipeline of flows/pipeline.json without MQTT — verify → normalize → anomaly → writer, device
// health and alerts — runs in the real Node-RED runtime (node-red-node-test-helper), the writer sending to a
// stand-in database in a child process (answers 204, so its CPU is not ours), for three variants:
//
//   fan-out       verify → {normalize, health} and anomaly → {alert, writer}, write bodies gzipped (before)
//   views         verify's activity output → health, anomaly's output for alerts → alert (no clone), gzipped
//   views+plain   views, and `compression: auto`, which does not gzip bodies to a database on this machine
//
// Each round loads a fresh flow per variant (same work: every device calibrates, then is scored), feeds it
// BENCH_VIEWS_N signed messages (single-message mode, or batches of BENCH_VIEWS_BATCH), waits until the
// writer completed every point (durable: the database answered), and reads this process's CPU time. Rounds
// rotate the variant order; the table gives the median CPU µs per message of each.
//
//   node --expose-gc -r ts-node/register/transpile-only test/bench/views.bench.ts   (npm run bench -- views)
//   BENCH_VIEWS_N (4000), BENCH_VIEWS_ROUNDS (5), BENCH_VIEWS_DEVICES (100), BENCH_VIEWS_BATCH (0: single mode),
//   BENCH_VIEWS_VARIANTS (fan-out,views,views+plain), BENCH_VIEWS_WINDOW (1000: messages fed but not yet
//   stored, as Mosquitto's in-flight limit in the pipeline bench; 0 = all at once, as before the seventh round)
//   BENCH_VIEWS_ROOT: load the nodes from another build (a directory with dist/, e.g. the code before a change);
//   compare two builds by running this file alternately on each (one process can load one build)
//   BENCH_VIEWS_WARMUP (1; 0 = no warm-up run before the rounds: the first round measures cold code)
//   BENCH_VIEWS_HEAP_PROF=<file>: a sampling allocation profile of the measured rounds (tenth round)
//   variant `shipped` (BENCH_VIEWS_VARIANTS=shipped; issue 16, ninth round): flows/pipeline.json's own MOBY nodes
//   as shipped (file replay journal, anomaly state saves, health persistence, the alert journal and API, one
//   writer for everything), configured through the same environment variables as the end-to-end bench, fed
//   the end-to-end bench's load (the simulator's readings, keys derived from a master key; BENCH_VIEWS_TRAIN
//   points per device, default 20) with a fresh user directory per run — the end-to-end bench's Node-RED
//   work without MQTT, the source node and the latency tap
// Needs a built dist/ (`npm run build`).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';
import { freePort, waitFor } from '../support/net';
import { benchBody, fmt } from './lib';
import { prepareLoad, type Load } from './pipeline-load';
import { telemetryBody } from '../../bin/lib/sim-model';

const helper = require('node-red-node-test-helper');
const { hooks } = require('@node-red/util');
const root = path.resolve(__dirname, '..', '..');
const nodes = [
  'hmac/moby-hmac',
  'normalize/moby-normalize',
  'anomaly/moby-anomaly',
  'health/moby-device-health',
  'alert/moby-alert-channels',
  'alert/moby-alert',
  'influx/moby-influx',
  'health/moby-redis',
].map((n) => require(path.join(process.env.BENCH_VIEWS_ROOT || root, 'dist', 'nodes', `${n}.js`)));
helper.init(require.resolve('node-red'));

const N = Number(process.env.BENCH_VIEWS_N || 4000);
const ROUNDS = Number(process.env.BENCH_VIEWS_ROUNDS || 5);
const DEVICES = Number(process.env.BENCH_VIEWS_DEVICES || 100);
const BATCH = Number(process.env.BENCH_VIEWS_BATCH || 0);
const WINDOW = Number(process.env.BENCH_VIEWS_WINDOW ?? 1000);
const TRAIN = 10;
const MASTER_KEYS = Object.fromEntries(
  Array.from({ length: DEVICES }, (_, d) => [`dev-${d}`, { k1: `dev-${d}-device-secret-key` }])
);

type Variant = 'fan-out' | 'views' | 'views+plain' | 'shipped';
const SHIPPED_MASTER = 'views-bench-master-key-0123456789';
const SHIPPED_TRAIN = Number(process.env.BENCH_VIEWS_TRAIN || 20);
/** the node each variant's messages enter, and the writer whose completions count the stored points */
const entry = (v: Variant) => (v === 'shipped' ? 'moby.verify' : 'v');
const WRITERS = new Set(['w', 'moby.write']);
const VARIANTS = (process.env.BENCH_VIEWS_VARIANTS || 'fan-out,views,views+plain').split(',') as Variant[];

/** Fresh signed messages for one run (nonces are single-use). */
function messages(v: Variant): Array<{ topic: string; payload: string }> {
  if (v === 'shipped') return shippedMessages();
  const t0 = Date.now() - 30_000;
  const out: Array<{ topic: string; payload: string }> = [];
  for (let i = 0; i < N; i++) {
    const d = i % DEVICES;
    const key = parseKey(MASTER_KEYS[`dev-${d}`].k1);
    const env = signEnvelope({ deviceId: `dev-${d}`, key, kid: 'k1', body: benchBody(d, i, t0 + i) });
    out.push({ topic: `devices/dev-${d}/telemetry`, payload: JSON.stringify(env) });
  }
  return out;
}

/** The end-to-end bench's load (pipeline-load.ts): device i mod D's next simulator reading, signed now. */
let shippedLoad: Load | null = null;
function shippedMessages(): Array<{ topic: string; payload: string }> {
  shippedLoad ??= prepareLoad(N, DEVICES, SHIPPED_MASTER);
  const t0 = Date.now() - 30_000;
  const out: Array<{ topic: string; payload: string }> = [];
  for (let i = 0; i < N; i++) {
    const dev = shippedLoad.devices[i % DEVICES];
    const reading = dev.readings[Math.floor(i / DEVICES) % dev.readings.length];
    const body = telemetryBody(dev.id, dev.equipment, reading, t0 + i);
    const env = signEnvelope({ deviceId: dev.id, key: dev.key, kid: 'm1', body });
    out.push({ topic: `devices/${dev.id}/telemetry`, payload: JSON.stringify(env) });
  }
  return out;
}

/** flows/pipeline.json's MOBY nodes as shipped: no MQTT nodes, no debug/catch/delay nodes, no wires to them. */
function shippedFlow(): Array<Record<string, unknown>> {
  const file = path.join(process.env.BENCH_VIEWS_ROOT || root, 'flows', 'pipeline.json');
  const all = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
  const keep = all.filter(
    (n) =>
      n.type === 'tab' || (typeof n.type === 'string' && n.type.startsWith('moby-') && !n.type.startsWith('moby-mqtt'))
  );
  const ids = new Set(keep.map((n) => n.id));
  return keep.map((n) => {
    const c: Record<string, unknown> = { ...n };
    if (Array.isArray(n.wires)) c.wires = (n.wires as string[][]).map((out) => out.filter((id) => ids.has(id)));
    return c;
  });
}

function flow(v: Variant, dbUrl: string) {
  if (v === 'shipped') return shippedFlow();
  const views = v !== 'fan-out';
  return [
    { id: 'kr', type: 'moby-keyring', keysEnv: '' },
    {
      id: 'db',
      type: 'moby-influx',
      url: dbUrl,
      org: 'moby',
      bucket: 'moby',
      precision: 'ms',
      compression: v === 'views+plain' ? 'auto' : 'always',
    },
    {
      id: 'v',
      type: 'moby-hmac-verify',
      keyring: 'kr',
      tolerance: 300,
      replayCache: 100000,
      replayStore: 'memory',
      topicPattern: 'devices/+device_id/telemetry',
      wires: views ? [['n'], [], ['h']] : [['n', 'h'], []],
    },
    {
      id: 'n',
      type: 'moby-normalize',
      registry: '',
      measurement: 'telemetry',
      separator: '_',
      tagKeys: 'equipment_id',
      keepBooleans: true,
      wires: [['a'], []],
    },
    {
      id: 'a',
      type: 'moby-anomaly',
      method: 'pca',
      trainSize: TRAIN,
      persistSeconds: 0,
      wires: views ? [['w'], ['w'], ['al']] : [['al', 'w'], ['w']],
    },
    { id: 'h', type: 'moby-device-health', timeout: 3600, sweepInterval: 1, persist: false, wires: [['al', 'w'], []] },
    { id: 'al', type: 'moby-alert', apiEnabled: false, wires: [['w'], [], []] },
    {
      id: 'w',
      type: 'moby-influx-write',
      influx: 'db',
      batchSize: 100,
      flushInterval: 5,
      retryMaxDelay: 2,
      wires: [[]],
    },
  ];
}

/** A database stand-in in a child process: reads each request and answers 204. */
async function startDb(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.statusCode = 204; s.end(); }); }).listen(${port}, '127.0.0.1', () => console.log('up'));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  );
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, child };
}

let stored = 0;
hooks.add('onComplete.viewsBench', (ev: { node?: { id?: string }; msg?: { anomaly?: unknown; batch?: unknown[] } }) => {
  if (!ev.node?.id || !WRITERS.has(ev.node.id) || !ev.msg) return;
  if (Array.isArray(ev.msg.batch))
    stored += (ev.msg.batch as Array<{ anomaly?: unknown }>).filter((m) => m.anomaly !== undefined).length;
  else if (ev.msg.anomaly !== undefined) stored++;
});

// Node.prototype's own methods, before the helper's first load wraps them
let runtimeMethods: Array<[string, unknown]> = [];

let runtimeLog: unknown;
let baseUserDir = '';

/**
 * CPU µs of this process's main thread (Linux /proc; NaN elsewhere). process.cpuUsage() counts every thread:
 * V8's workers (parallel scavenges, concurrent marking, compilation) and libuv's pool too.
 */
function mainThreadCpuUs(): number {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / 100; // utime + stime, in USER_HZ ticks
  } catch {
    return NaN;
  }
}
let lastMainUs = NaN;

async function runOnce(v: Variant, dbUrl: string, input: Array<{ topic: string; payload: string }>): Promise<number> {
  // shipped: the end-to-end bench's environment (pipeline.bench.ts) and a fresh user directory per run, as
  // each of its runs starts a fresh Node-RED (replay journal, anomaly and alert state start empty)
  let shippedDir: string | null = null;
  if (v === 'shipped') {
    shippedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-views-shipped-'));
    helper.settings({ userDir: shippedDir, logging: { console: { level: process.env.BENCH_VIEWS_LOG || 'error' } } });
    Object.assign(process.env, {
      MOBY_INFLUX_URL: dbUrl,
      MOBY_INFLUX_ORG: 'moby',
      MOBY_INFLUX_BUCKET: 'moby',
      MOBY_INFLUX_TOKEN: '',
      MOBY_HMAC_KEYS: JSON.stringify({ '*': { m1: SHIPPED_MASTER } }),
      MOBY_TRAIN_POINTS: String(SHIPPED_TRAIN),
      MOBY_DEVICE_TIMEOUT: '3600',
      MOBY_CORS_ORIGINS: '*',
    });
  }
  await new Promise<void>((resolve, reject) =>
    helper.load(
      nodes,
      flow(v, dbUrl),
      v === 'shipped' ? {} : { kr: { keys: JSON.stringify(MASTER_KEYS) } },
      (err?: Error) => (err ? reject(err) : resolve())
    )
  );
  // the test helper wraps Node.prototype's send, status, log … in recording spies (a record and a nextTick
  // per call), which would charge a variant for each send() call it makes: the runtime's own methods back
  const spied = Object.fromEntries(runtimeMethods.map(([name]) => [name, helper._NodePrototype[name]]));
  for (const [name, fn] of runtimeMethods) helper._NodePrototype[name] = fn;
  // the runtime also copies Node.prototype.send onto every wired node when it creates it (Node.updateWires:
  // `this.send = Node.prototype.send`), so each node kept the spy as its own send until the seventh round
  // found it in a profile (~10 % of single-message mode's CPU in sinon): each node's own copy back too
  const realSend = runtimeMethods.find(([name]) => name === 'send')![1];
  for (const n of flow(v, dbUrl)) {
    const node = helper.getNode(n.id);
    if (node && Object.prototype.hasOwnProperty.call(node, 'send') && node.send === spied.send) node.send = realSend;
  }
  // … and @node-red/util's log.log, which every node.debug/trace/log call reaches (a sinon spy records each call)
  helper._log.log = runtimeLog;
  stored = 0;
  global.gc?.();
  const verify = helper.getNode(entry(v));
  const c0 = process.cpuUsage();
  const m0 = mainThreadCpuUs();
  // at most WINDOW messages unstored at a time, as Mosquitto's in-flight limit holds the pipeline bench (all at
  // once, the writer's memory queue overflows into its spool, which the pipeline bench never reaches)
  const step = BATCH > 0 ? BATCH : 1;
  for (let i = 0; i < input.length; i += step) {
    if (WINDOW > 0 && i - stored >= WINDOW) await waitFor(() => i - stored < WINDOW, 120000, `${v}: window`, 1);
    if (BATCH > 0) verify.receive({ batch: input.slice(i, i + BATCH) });
    else verify.receive(input[i]);
  }
  await waitFor(() => stored >= input.length, 120000, `${v}: every point stored`, 5);
  const c = process.cpuUsage(c0);
  lastMainUs = (mainThreadCpuUs() - m0) / input.length;
  await helper.unload();
  if (shippedDir) {
    helper.settings({ userDir: baseUserDir, logging: { console: { level: 'error' } } });
    fs.rmSync(shippedDir, { recursive: true, force: true });
  }
  return (c.user + c.system) / input.length;
}

/**
 * BENCH_VIEWS_HEAP_PROF=<file.heapprofile>: V8's sampling heap profiler over the measured rounds, counting
 * the objects that scavenges and mark-compacts collected too, so it shows where the per-item garbage is
 * allocated, not only what stays alive (open the file in Chrome DevTools' Memory tab). Costs CPU: the
 * µs figures of a profiled run are not comparable.
 */
async function startHeapSampling(): Promise<(file: string) => Promise<void>> {
  const inspector = require('node:inspector') as typeof import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res)))
    );
  await post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return async (file) => {
    const { profile } = await post('HeapProfiler.stopSampling');
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
    console.log(`heap profile (sampled allocations, collected ones included): ${file}`);
  };
}

async function main() {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-views-bench-'));
  baseUserDir = userDir;
  helper.settings({ userDir, logging: { console: { level: 'error' } } });
  const db = await startDb();
  runtimeLog = helper._log.log;
  runtimeMethods = ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send'].map((m) => [
    m,
    helper._NodePrototype[m],
  ]);
  const per = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
  try {
    console.log(
      `views bench: ${N} signed messages from ${DEVICES} devices per run${BATCH ? `, batches of ${BATCH}` : ', single-message mode'}, ${ROUNDS} rounds, variants rotated; CPU of this process (the database is a child)`
    );
    // warm-up: JIT, module loading (BENCH_VIEWS_WARMUP=0: none, the first round runs cold code as a fresh
    // Node-RED process does, e.g. each run of the end-to-end bench)
    if (process.env.BENCH_VIEWS_WARMUP !== '0') await runOnce(VARIANTS[0], db.url, messages(VARIANTS[0]));
    const heapProf = process.env.BENCH_VIEWS_HEAP_PROF ? await startHeapSampling() : null;
    for (let r = 0; r < ROUNDS; r++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
      for (const v of order) {
        const us = await runOnce(v, db.url, messages(v));
        per[v].push(us);
        console.log(`  round ${r + 1} ${v.padEnd(12)} ${fmt(us)} µs CPU per message (main thread ${fmt(lastMainUs)})`);
      }
    }
    if (heapProf) await heapProf(process.env.BENCH_VIEWS_HEAP_PROF!);
  } finally {
    db.child.kill();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = median(per['fan-out'] ?? [NaN]);
  console.log('\nvariant        median µs CPU/msg   min–max        vs fan-out');
  for (const v of VARIANTS) {
    const m = median(per[v]);
    console.log(
      `${v.padEnd(14)} ${fmt(m).padStart(10)}        ${fmt(Math.min(...per[v]))}–${fmt(Math.max(...per[v]))}`.padEnd(
        48
      ) + `${fmt((100 * (m - base)) / base)} %`
    );
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
