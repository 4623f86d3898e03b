// End-to-end benchmark: signed telemetry from simulated devices → Mosquitto (QoS 1) → a real Node-RED →
// VictoriaMetrics, for two flows measured in the same run with the same messages, each run with a fresh
// Mosquitto, VictoriaMetrics and Node-RED (free loopback ports, temp dirs):
//
//   ours      flows/pipeline.json as shipped (hmac verify → normalize → anomaly (PCA) → influx write, plus
//             device health and alert), configured through its environment variables;
//   baseline  the flow a Node-RED user builds from core nodes: mqtt in → json → function (HMAC-SHA256 check
//             with crypto from functionGlobalContext, freshness, nonce replay set) → json (body) → function
//             (flatten the nested body into fields) → function (threshold check) → node-red-contrib-influxdb
//             `influxdb out` (InfluxDB 2.0 API, one point per message).
//
// Floors in the same run (docs/benchmarks.md): floor-a a raw mqtt.js subscriber (pipeline-raw.ts), floor-b Node-RED's
// mqtt in (QoS 1) → function (return null), floor-c the same with a fan-out of two; they store nothing, so
// they are complete when their tap has seen every message.
//
// Per run: N messages published as fast as the broker acknowledges them (the saturating phase), then PACED
// more at PACED_RATE/s (the paced phase). Throughput = N / (first publish → the database holds all N points),
// the count polled every 250 ms (force_flush + count_over_time over one telemetry field; VictoriaMetrics runs
// with -search.latencyOffset=0s). That includes our writer's flush interval (batch 100 / 5 s): the last
// partial batch waits for the writer's timer. "processed" is N / (first publish → the last point passed the
// tap in front of the writer). Latency = tap time − the body's ts (the publisher's send time, 1 ms
// resolution); in the saturating phase it includes queueing in the broker and in Node-RED, the paced phase
// shows it when the flow keeps up. After each run the export API must show exactly N + PACED samples with
// as many distinct (series, timestamp) pairs: no loss, no duplicates; otherwise the bench exits 1. RSS and
// CPU seconds (saturating phase) of the Node-RED process come from /proc, VictoriaMetrics' from its /metrics; the paced
// columns "µs/msg" and "main" are the Node-RED process's and its main thread's CPU per paced message (a message
// that arrives alone costs more than one in a saturated stream). The machine is shared, so runs go
// in ABBA order, the summary takes each flow's best throughput, and msgs per Node-RED CPU-second is given
// beside wall-clock rates.
//
//   node --expose-gc -r ts-node/register/transpile-only test/bench/pipeline.bench.ts     (or npm run bench -- pipeline)
//   BENCH_N (20000), BENCH_DEVICES (200), BENCH_TRAIN (20 points per device before scoring),
//   BENCH_CLIENTS (4 publisher connections), BENCH_WINDOW (200 unacknowledged publishes per connection),
//   BENCH_PACED (at least 2000, at least 4 s), BENCH_PACED_RATE (msgs/s; default "half": half of what the run processed per
//   second saturated), BENCH_ROUNDS (2), BENCH_FLOWS (floor-a,floor-b,floor-c,baseline,ours,ours-batch; also ours-core: the
//   shipped pipeline with the core mqtt in instead of moby-mqtt-in), BENCH_BATCH_SIZE (100) and BENCH_BATCH_MS (20) for
//   ours-batch (the telemetry input in batch mode, docs/batch-mode.md),
//   BENCH_CPU_PROF=<dir> (V8 CPU profile of each Node-RED child), BENCH_RUN_TIMEOUT (90 s per phase);
//   BENCH_WARMUP (0): messages each run publishes and waits for before its saturating phase, not measured (a
//   fresh Node-RED's first ~20,000 messages run cold code; 0 measures the cold start, as every round before the ninth);
//   ours-fanout and ours-batch-fanout (not in the default list): the shipped flow wired with the fan-outs it had
//   before verify's and anomaly's view outputs (issue 16), to measure what the views save;
//   ours-tenants (not in the default list): flows/tenants.json with the load split over BENCH_TENANTS
//   (acme,beta) on t/<tenant>/devices/<id>/telemetry, both tenants with the same device ids — tenants on vs
//   off is `BENCH_FLOWS=ours,ours-tenants npm run bench -- pipeline` (docs/tenants.md)
//   <flow>@alt (e.g. ours@alt): that flow on another build of this package, BENCH_ALT_ROOT (a directory with
//   package.json, dist/ and resources/, e.g. `git archive` of an earlier commit, built): a change against the
//   code before it in the same run set. <flow>+flags (e.g. ours-batch+flags, floor-b+flags@alt): that flow's
//   Node-RED started with BENCH_NODE_FLAGS, node/V8 options (e.g. "--single-threaded-gc"), space-separated.
//   <flow>+sync (e.g. floor-b+sync): that flow's Node-RED with the runtime setting runtimeSyncDelivery: true
//   (Node-RED 0.x's synchronous delivery; measured in docs/benchmarks.md, not what we ship).
// Node-RED CPU is the whole process's; each run also prints its main thread's (the event loop; the rest is
// V8's worker threads — parallel scavenges, concurrent marking, compilation — and libuv's pool).
// Per run and phase the Node-RED process's event-loop delay, GCs, context-store stringify calls and stalls
// ≥ 20 ms are printed beside the latency figures (nodered-probe.js, loaded by the bench's settings file).
// Needs Debian's mosquitto and victoria-metrics and a built dist/ (`npm run build`). Figures: docs/benchmarks.md.
import http from 'node:http';
import { startMosquittoBroker, MosquittoBroker } from '../support/mosquitto';
import { startVictoria, Victoria } from '../support/victoria';
import { sleep, which } from '../support/net';
import { fmt, percentiles } from './lib';
import {
  baselineFlow,
  floorFlow,
  oursFlow,
  oursTenantsFlow,
  BASELINE_MEASUREMENT,
  TELEMETRY_TOPIC,
} from './pipeline-flows';
import { killAllNodeRed, startNodeRed, startRawSubscriber, NodeRed } from './pipeline-nodered';
import { prepareLoad, publishLoad, Load } from './pipeline-load';

const N = Number(process.env.BENCH_N || 20000);
const DEVICES = Number(process.env.BENCH_DEVICES || 200);
const TRAIN = Number(process.env.BENCH_TRAIN || 20);
const CLIENTS = Number(process.env.BENCH_CLIENTS || 4);
const WINDOW = Number(process.env.BENCH_WINDOW || 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 2);
const FLOWS = (process.env.BENCH_FLOWS || 'floor-a,floor-b,floor-c,baseline,ours,ours-batch')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const MASTER = 'moby-bench-master-key-not-secret';
const PACED = Number(process.env.BENCH_PACED ?? 2000);
// messages published (and stored) before the saturating phase and not measured: a fresh Node-RED runs cold
// code (interpreted, then compiled on V8's worker threads) through its first ~20,000 messages (issue 16, ninth round)
const WARMUP = Number(process.env.BENCH_WARMUP || 0);
// "half" (default): each run is paced at half of what it processed per second in its saturating phase
const PACED_RATE =
  process.env.BENCH_PACED_RATE && process.env.BENCH_PACED_RATE !== 'half'
    ? Number(process.env.BENCH_PACED_RATE)
    : 'half';
const BATCH_SIZE = Number(process.env.BENCH_BATCH_SIZE || 100);
const BATCH_MS = Number(process.env.BENCH_BATCH_MS || 20);
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT || 90) * 1000;
// ours-tenants: the two-tenant pipeline (flows/tenants.json); the same DEVICES devices split over these tenants
const TENANTS = (process.env.BENCH_TENANTS || 'acme,beta')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const POLL_MS = 250;
const FIELD = 'motor_temperature';

interface Result {
  flow: string;
  /** msgs/s of the paced phase */
  pacedRate: number;
  n: number;
  stored: number;
  distinct: number;
  seconds: number;
  msgsPerSec: number;
  processedPerSec: number;
  publishPerSec: number;
  /** latency under the saturating load (queueing included) */
  lat: Record<string, number>;
  /** latency in the paced phase (pacedRate msgs/s, by default half of the run's processed/s) */
  paced: Record<string, number>;
  latCount: number;
  rssMB: number;
  /** Node-RED process CPU seconds (user + system) during the saturating phase */
  cpuSec: number;
  /** of which its main thread's (the event loop; the rest is V8's worker threads and libuv's pool) */
  mainCpuSec: number;
  /** VictoriaMetrics CPU seconds during the saturating phase */
  dbCpuSec: number;
  /** messages of the paced phase, and the Node-RED process's CPU seconds (and its main thread's) from its first publish until all are stored */
  pacedCount: number;
  pacedCpuSec: number;
  pacedMainCpuSec: number;
}

function getJson(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

/** Samples of `metric` in the database now (force_flush first, so just-ingested rows count). */
async function countSamples(vm: Victoria, metric: string): Promise<number> {
  await getJson(`${vm.url}/internal/force_flush`).catch(() => undefined); // answers 200 with an empty body
  const q = encodeURIComponent(`sum(count_over_time(${metric}[1h]))`);
  const r = await getJson(`${vm.url}/api/v1/query?query=${q}&time=${(Date.now() + 1000) / 1000}&nocache=1`);
  const v = r?.data?.result?.[0]?.value?.[1];
  return v === undefined ? 0 : Number(v);
}

/** CPU seconds VictoriaMetrics has used (its own /metrics), to show what each flow costs the database. */
async function dbCpuSec(vm: Victoria): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(`${vm.url}/metrics`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(Number(/^process_cpu_seconds_total\s+(\S+)/m.exec(text)?.[1] ?? NaN)));
      })
      .on('error', () => resolve(NaN));
  });
}

/** Polls a flow's tap until it has seen `want` messages; returns when (epoch ms), or 0 on timeout (the floors). */
async function waitTapped(nr: NodeRed, want: number, failed: () => unknown): Promise<{ at: number; stored: number }> {
  let seen = 0;
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline && !failed()) {
    await sleep(POLL_MS);
    seen = ((await getJson(`${nr.url}/bench/latency?count=1`)) as Tap).count;
    if (seen >= want) return { at: Date.now(), stored: seen };
  }
  if (failed()) throw failed();
  return { at: 0, stored: seen };
}

/** Polls the database until it holds `want` samples of `metric`; returns when (epoch ms), or 0 on timeout. */
async function waitStored(
  vm: Victoria,
  metric: string,
  want: number,
  failed: () => unknown
): Promise<{ at: number; stored: number }> {
  let stored = 0;
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline && !failed()) {
    await sleep(POLL_MS);
    stored = await countSamples(vm, metric);
    if (stored >= want) return { at: Date.now(), stored };
  }
  if (failed()) throw failed();
  return { at: 0, stored };
}

type Tap = { count: number; first: number; last: number; lat: number[] };
/** nodered-probe.js: event-loop delay beyond the timer's period, GCs, context-store flushes, stalls and causes */
type Probe = {
  eld: { p50: number; p99: number; max: number };
  gc: { minor: number; minorMs: number; major: number; majorMs: number; otherMs: number; maxMs: number };
  flush: { count: number; ms: number; maxMs: number; byKey: Record<string, string> };
  stalls: { count: number; maxMs: number; causes: Record<string, number> };
};
/** the probe's figures, or null for a flow without it (floor-a: no Node-RED) */
async function probe(nr: NodeRed, reset: boolean): Promise<Probe | null> {
  try {
    const p = (await getJson(`${nr.url}/bench/probe${reset ? '?reset=1' : ''}`)) as Probe;
    return p && p.eld ? p : null;
  } catch {
    return null;
  }
}
const probeLine = (phase: string, p: Probe | null, seconds: number) =>
  p
    ? `${phase}: event-loop delay p50 ${fmt(p.eld.p50, 1)} / p99 ${fmt(p.eld.p99, 1)} / max ${fmt(p.eld.max, 1)} ms; ` +
      `GC ${p.gc.minor} minor ${p.gc.minorMs} ms, ${p.gc.major} major ${p.gc.majorMs} ms, longest ${p.gc.maxMs} ms` +
      `${seconds > 0 ? ` (${fmt((100 * (p.gc.minorMs + p.gc.majorMs + p.gc.otherMs)) / (seconds * 1000), 1)} % of the phase)` : ''}; ` +
      `context stringify ${p.flush.count}× ${p.flush.ms} ms, longest ${p.flush.maxMs} ms (${Object.entries(
        p.flush.byKey
      )
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}); ` +
      `stalls ≥ 20 ms: ${p.stalls.count} (longest ${p.stalls.maxMs} ms)${
        p.stalls.count
          ? ` — ${Object.entries(p.stalls.causes)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')}`
          : ''
      }`
    : '';

async function runFlow(label: string, broker: MosquittoBroker, vm: Victoria, load: Load): Promise<Result> {
  // "<flow>@alt": the same flow with the package built in BENCH_ALT_ROOT (the code before a change, same run)
  // "<flow>+flags": that flow's Node-RED started with BENCH_NODE_FLAGS (node/V8 options, space-separated)
  // "<flow>+sync": that flow's Node-RED with runtimeSyncDelivery (each delivery runs inside send(), no setImmediate)
  const kind = label.split('@')[0].replace('+flags', '').replace('+sync', '');
  const nodeArgs = label.includes('+flags') ? (process.env.BENCH_NODE_FLAGS || '').split(/\s+/).filter(Boolean) : [];
  const extraSettings = label.includes('+sync') ? { runtimeSyncDelivery: true } : {};
  const packageRoot = label.includes('@') ? process.env.BENCH_ALT_ROOT : undefined;
  if (label.includes('@') && !packageRoot)
    throw new Error(`${label}: set BENCH_ALT_ROOT to the other build's directory`);
  const clientId = `moby-bench-${kind}-${process.pid}-${Date.now()}`;
  const isOurs = kind.startsWith('ours');
  // the floors write nothing: they are complete when their tap has seen every message
  const isFloor = kind.startsWith('floor-');
  const metric = isOurs ? `telemetry_${FIELD}` : `${BASELINE_MEASUREMENT}_${FIELD}`;
  const env: NodeJS.ProcessEnv = {
    MOBY_MQTT_URL: broker.url,
    MOBY_MQTT_CLIENT_ID: clientId,
    MOBY_INFLUX_URL: vm.url,
    MOBY_INFLUX_ORG: 'moby',
    MOBY_INFLUX_BUCKET: 'moby',
    MOBY_INFLUX_TOKEN: '',
    // ours-tenants: each tenant's master is MASTER/<tenant> (pipeline-load.ts), under the keyring's @tenants
    MOBY_HMAC_KEYS: JSON.stringify(
      kind === 'ours-tenants'
        ? { '@tenants': Object.fromEntries(TENANTS.map((t) => [t, { '*': { m1: `${MASTER}/${t}` } }])) }
        : { '*': { m1: MASTER } }
    ),
    MOBY_TRAIN_POINTS: String(TRAIN),
    MOBY_DEVICE_TIMEOUT: '3600',
    MOBY_CORS_ORIGINS: '*',
    BENCH_MASTER_KEY: MASTER,
  };
  process.env.MOBY_MQTT_URL = broker.url; // read by oursFlow('core') to fill in the core broker node
  // the core mqtt-broker logs "Connected to broker", moby-mqtt-broker "connected to mqtt://…"
  const ready = /Connected to broker|\] connected to mqtt/;
  const nr: NodeRed =
    kind === 'floor-a'
      ? await startRawSubscriber(broker.url, clientId, TELEMETRY_TOPIC)
      : await startNodeRed(
          label.replace('@', '-').replace('+', '-'),
          kind === 'ours'
            ? oursFlow('durable')
            : kind === 'ours-fanout'
              ? oursFlow('durable', undefined, 'pipeline.json', true)
              : kind === 'ours-batch-fanout'
                ? oursFlow('durable', { size: BATCH_SIZE, ms: BATCH_MS }, 'pipeline.json', true)
                : kind === 'ours-tenants'
                  ? oursTenantsFlow()
                  : kind === 'ours-batch'
                    ? oursFlow('durable', { size: BATCH_SIZE, ms: BATCH_MS })
                    : kind === 'ours-core'
                      ? oursFlow('core')
                      : kind === 'floor-b' || kind === 'floor-c'
                        ? floorFlow({ brokerPort: broker.port, clientId, fanOut: kind === 'floor-c' })
                        : baselineFlow({ brokerPort: broker.port, dbUrl: vm.url, clientId }),
          env,
          ready,
          packageRoot,
          nodeArgs,
          extraSettings
        );
  const waitDone = (want: number, failed: () => unknown) =>
    isFloor ? waitTapped(nr, want, failed) : waitStored(vm, metric, want, failed);
  try {
    if (!isFloor && (await countSamples(vm, metric)) !== 0) throw new Error(`${metric} is not empty before the run`);
    // warm-up (BENCH_WARMUP): stored like the rest (a database flow's counts include it), not measured
    let warm = 0;
    if (WARMUP > 0) {
      let warmErr: unknown = null;
      const warming = publishLoad(broker.url, load, {
        clients: CLIENTS,
        window: WINDOW,
        tag: `${kind}-warm`,
        count: WARMUP,
      });
      warming.catch((e) => (warmErr = e));
      if (!(await waitDone(WARMUP, () => warmErr)).at)
        throw new Error(`${label}: the warm-up was not complete in time`);
      await warming;
      await getJson(`${nr.url}/bench/latency?reset=1`); // the floors count what their tap saw: from here on
      warm = isFloor ? 0 : WARMUP;
    }
    // phase 1: N messages as fast as the broker takes them → throughput, latency under saturation
    await probe(nr, true);
    const u0 = nr.usage();
    const db0 = await dbCpuSec(vm);
    let firstAt = 0;
    let pubErr: unknown = null;
    const publishing = publishLoad(broker.url, load, {
      clients: CLIENTS,
      window: WINDOW,
      tag: `${kind}-sat`,
      count: N,
      onFirst: (t) => (firstAt = t),
    });
    publishing.catch((e) => (pubErr = e));
    const done = await waitDone(warm + N, () => pubErr);
    const pub = await publishing;
    const u1 = nr.usage();
    const db1 = await dbCpuSec(vm);
    const tap = (await getJson(`${nr.url}/bench/latency?reset=1`)) as Tap;
    const satProbe = await probe(nr, true);
    const satSeconds = (Date.now() - firstAt) / 1000;
    if (!done.at)
      console.log(`  ${kind}: only ${done.stored} of ${N} points in the database after ${RUN_TIMEOUT_MS / 1000} s`);
    // phase 2: PACED messages at PACED_RATE/s → latency when the flow keeps up
    let pacedTap: Tap = { count: 0, first: 0, last: 0, lat: [] };
    let pacedProbe: Probe | null = null;
    let pacedSeconds = 0;
    const processedPerSec = tap.count >= N ? N / ((tap.last - firstAt) / 1000) : NaN;
    const pacedRate = PACED_RATE === 'half' ? Math.max(50, Math.round(processedPerSec / 2) || 400) : PACED_RATE;
    // at least 4 s of paced load, so its p99 is not a handful of samples
    const pacedCount = PACED > 0 ? Math.min(20000, Math.max(PACED, Math.round(pacedRate * 4))) : 0;
    let pacedCpu = { cpuSec: NaN, mainCpuSec: NaN };
    if (done.at && pacedCount > 0) {
      const p0 = nr.usage();
      const paced = publishLoad(broker.url, load, {
        clients: CLIENTS,
        window: WINDOW,
        tag: `${kind}-paced`,
        count: pacedCount,
        rate: pacedRate,
      });
      paced.catch((e) => (pubErr = e));
      await paced;
      await waitDone(warm + N + pacedCount, () => pubErr);
      const p1 = nr.usage();
      // a message arriving alone costs more than one in a saturated stream (docs/benchmarks.md, fourteenth round)
      pacedCpu = { cpuSec: p1.cpuSec - p0.cpuSec, mainCpuSec: p1.mainCpuSec - p0.mainCpuSec };
      pacedTap = (await getJson(`${nr.url}/bench/latency`)) as Tap;
      pacedProbe = await probe(nr, false);
      pacedSeconds = pacedCount / pacedRate;
    }
    if (satProbe) console.log(`  ${label}: ${probeLine('saturated', satProbe, satSeconds)}`);
    if (pacedProbe) console.log(`  ${label}: ${probeLine('paced', pacedProbe, pacedSeconds)}`);
    // settle, then check: exactly N + PACED samples and as many distinct (series, timestamp) pairs
    await sleep(1000);
    let raw: number;
    let distinct: number;
    if (isFloor) {
      // a floor stores nothing: what its tap saw (QoS 1 from a clean session: a message is seen once)
      raw = distinct = ((await getJson(`${nr.url}/bench/latency?count=1`)) as Tap).count + tap.count;
    } else {
      const series = await vm.export(metric);
      raw = series.reduce((n, s) => n + s.timestamps.length, 0);
      distinct = series.reduce((n, s) => n + new Set(s.timestamps).size, 0);
    }
    const seconds = done.at ? (done.at - firstAt) / 1000 : NaN;
    return {
      flow: label,
      pacedRate,
      n: warm + N + pacedCount,
      stored: raw,
      distinct,
      seconds,
      msgsPerSec: N / seconds,
      processedPerSec,
      publishPerSec: pub.published / ((pub.lastAckAt - pub.firstAt) / 1000),
      lat: percentiles(tap.lat, [50, 90, 99]),
      paced: percentiles(pacedTap.lat, [50, 90, 99]),
      latCount: tap.count + pacedTap.count,
      rssMB: nr.usage().rssMB,
      cpuSec: u1.cpuSec - u0.cpuSec,
      mainCpuSec: u1.mainCpuSec - u0.mainCpuSec,
      dbCpuSec: db1 - db0,
      pacedCount,
      pacedCpuSec: pacedCpu.cpuSec,
      pacedMainCpuSec: pacedCpu.mainCpuSec,
    };
  } catch (err) {
    console.error(`--- Node-RED (${kind}) output ---\n${nr.output().slice(-4000)}`);
    throw err;
  } finally {
    const warnings = nr
      .output()
      .split('\n')
      .filter((l) => /\[(warn|error)\]/.test(l) && !/Projects disabled|Encrypted credentials not found/.test(l));
    if (warnings.length)
      console.log(`  ${kind}: ${warnings.length} warn/error log lines, e.g. ${warnings.slice(0, 3).join(' | ')}`);
    // a reconnect makes the broker redeliver what was in flight (duplicates the database stores once)
    const reconnects = nr
      .output()
      .split('\n')
      .filter((l) => /\] disconnected|session resumed|Disconnected from broker/.test(l));
    if (reconnects.length) console.log(`  ${kind}: MQTT reconnects: ${reconnects.slice(0, 3).join(' | ')}`);
    await nr.stop();
  }
}

const median = (xs: number[]) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : NaN;
};

async function main(): Promise<number> {
  const started = Date.now();
  const mosquittoBin = which('mosquitto');
  const vmBin = which('victoria-metrics');
  if (!mosquittoBin || !vmBin) {
    console.error('pipeline bench needs mosquitto and victoria-metrics (apt-get install mosquitto victoria-metrics)');
    return 1;
  }
  // ABBA order (baseline, ours, ours, baseline, …) so a change in the shared machine's load hits both alike
  const order: string[] = [];
  for (let r = 0; r < ROUNDS; r++) order.push(...(r % 2 === 0 ? FLOWS : [...FLOWS].reverse()));
  console.log(
    `end-to-end: ${fmt(N)} signed messages from ${DEVICES} devices as fast as the broker takes them, then ≥ ${fmt(PACED)} (≥ 4 s) at ${PACED_RATE === 'half' ? 'half of what the run processed per second' : `${PACED_RATE}/s`}; ` +
      `QoS 1, ${CLIENTS} publisher connections × ${WINDOW} in flight; anomaly calibrates on ${TRAIN} points per device; ` +
      `a fresh Mosquitto, VictoriaMetrics and Node-RED per run; runs: ${order.join(', ')}`
  );
  const results: Result[] = [];
  let failed = false;
  for (const kind of order) {
    // in-flight limit as in flows/mosquitto/mosquitto.conf: moby-mqtt-in acknowledges on durability, so
    // Mosquitto's default of 20 unacknowledged messages would throttle it (the core mqtt in acks at once)
    const [broker, vm] = await Promise.all([
      startMosquittoBroker(mosquittoBin, { maxInflight: 1000 }),
      startVictoria(vmBin),
    ]);
    services = [broker, vm];
    try {
      const load = prepareLoad(N + PACED, DEVICES, MASTER, kind === 'ours-tenants' ? TENANTS : []);
      const r = await runFlow(kind, broker, vm, load);
      results.push(r);
      const ok = r.stored === r.n && r.distinct === r.n;
      if (!ok) failed = true;
      console.log(
        `  ${kind.padEnd(8)} ${fmt(N)} in the database ${fmt(r.seconds, 2)} s after the first publish (published in ${fmt(N / r.publishPerSec, 2)} s); ` +
          `in all ${r.stored} samples, ${r.distinct} distinct of ${r.n} sent${ok ? '' : '  <-- LOSS OR DUPLICATES'}; Node-RED CPU ${fmt(r.cpuSec, 2)} s (main thread ${fmt(r.mainCpuSec, 2)} s)`
      );
    } finally {
      await Promise.all([broker.close(), vm.close()]);
      services = [];
    }
  }
  console.log(
    `\n                   saturating load (${fmt(N)} msgs)                         |              paced               |`
  );
  console.log(
    'flow         msgs/s  processed/s  msgs/CPU-s   p50 ms   p99 ms |  msgs/s p50 ms p99 ms µs/msg main |  in DB / sent   RSS MB  DB CPU s'
  );
  const row = (name: string, r: Omit<Result, 'flow' | 'n' | 'stored' | 'distinct'> & { stored: string }) =>
    console.log(
      `${name.padEnd(10)} ${fmt(r.msgsPerSec).padStart(8)} ${fmt(r.processedPerSec).padStart(12)} ${fmt(N / r.cpuSec).padStart(11)} ${fmt(r.lat.p50).padStart(8)} ${fmt(r.lat.p99).padStart(8)} |` +
        ` ${fmt(r.pacedRate).padStart(7)} ${fmt(r.paced.p50).padStart(6)} ${fmt(r.paced.p99).padStart(6)} ${fmt((1e6 * r.pacedCpuSec) / r.pacedCount).padStart(6)} ${fmt((1e6 * r.pacedMainCpuSec) / r.pacedCount).padStart(4)} | ${r.stored.padStart(13)} ${fmt(r.rssMB).padStart(8)} ${fmt(r.dbCpuSec, 1).padStart(9)}`
    );
  for (const r of results) row(r.flow, { ...r, stored: `${r.stored} / ${r.n}` });
  const summary = (kind: string) => {
    const rs = results.filter((r) => r.flow === kind);
    if (!rs.length) return null;
    const best = rs.reduce((a, b) => (b.msgsPerSec > a.msgsPerSec ? b : a));
    const m = (f: (r: Result) => number) => median(rs.map(f));
    return {
      msgsPerSec: best.msgsPerSec,
      processedPerSec: Math.max(...rs.map((r) => r.processedPerSec)),
      cpuSec: m((r) => r.cpuSec),
      mainCpuSec: m((r) => r.mainCpuSec),
      dbCpuSec: m((r) => r.dbCpuSec),
      lat: { p50: m((r) => r.lat.p50), p99: m((r) => r.lat.p99) },
      paced: { p50: m((r) => r.paced.p50), p99: m((r) => r.paced.p99) },
      // the median of each run's CPU per paced message, as the CPU of one message (runs differ in paced count)
      pacedCount: 1,
      pacedCpuSec: m((r) => r.pacedCpuSec / r.pacedCount),
      pacedMainCpuSec: m((r) => r.pacedMainCpuSec / r.pacedCount),
      rssMB: m((r) => r.rssMB),
      stored: `${rs.reduce((n, r) => n + r.stored, 0)} / ${rs.reduce((n, r) => n + r.n, 0)}`,
      seconds: best.seconds,
      publishPerSec: best.publishPerSec,
      pacedRate: m((r) => r.pacedRate),
      latCount: 0,
    };
  };
  const ours = summary('ours');
  const oursCore = summary('ours-core');
  const base = summary('baseline');
  if (ROUNDS > 1) {
    console.log('-- best msgs/s and processed/s of the runs; medians of CPU, latency and RSS; all points');
    for (const kind of FLOWS) {
      const sm = summary(kind);
      if (sm) row(kind, sm);
    }
  }
  // the floors: ours' msgs per Node-RED CPU-second as a share of what the runtime itself needs
  for (const floor of ['floor-a', 'floor-b', 'floor-c']) {
    const f = summary(floor);
    if (!f) continue;
    for (const kind of FLOWS.filter((k) => !k.startsWith('floor-'))) {
      const o = summary(kind)!;
      console.log(
        `${kind} / ${floor}: ${fmt((100 * f.cpuSec) / o.cpuSec, 1)} % of its msgs per CPU-second (${fmt((1e6 * o.cpuSec) / N)} vs ${fmt((1e6 * f.cpuSec) / N)} µs per message), ` +
          `${fmt((100 * o.processedPerSec) / f.processedPerSec, 1)} % of its processed/s`
      );
    }
  }
  if (ours && oursCore) {
    // what acknowledging on durability costs: the same pipeline with the core mqtt in (acks on receipt)
    console.log(
      `\ndurable source (moby-mqtt-in) / core mqtt in: ${fmt(ours.msgsPerSec / oursCore.msgsPerSec, 2)}× msgs/s (DB complete), ` +
        `${fmt(ours.processedPerSec / oursCore.processedPerSec, 2)}× processed/s, ${fmt(oursCore.cpuSec / ours.cpuSec, 2)}× msgs per Node-RED CPU-second ` +
        `(${fmt((1e6 * ours.cpuSec) / N)} vs ${fmt((1e6 * oursCore.cpuSec) / N)} µs per message)`
    );
  }
  if (ours && base) {
    console.log(
      `\nours / baseline = ${fmt(ours.msgsPerSec / base.msgsPerSec, 2)}× msgs/s (DB complete), ${fmt(ours.processedPerSec / base.processedPerSec, 2)}× processed/s, ` +
        `${fmt(base.cpuSec / ours.cpuSec, 2)}× msgs per Node-RED CPU-second (${fmt((1e6 * ours.cpuSec) / N)} vs ${fmt((1e6 * base.cpuSec) / N)} µs per message), ` +
        `${fmt((base.cpuSec + base.dbCpuSec) / (ours.cpuSec + ours.dbCpuSec), 2)}× counting the database's CPU too`
    );
  }
  console.log(`total ${fmt((Date.now() - started) / 1000, 1)} s`);
  if (failed) console.error('FAILED: a run lost or duplicated points');
  return failed ? 1 : 0;
}

let services: Array<{ close(): Promise<void> }> = [];
function abort(why: string, code: number): void {
  console.error(`pipeline bench: ${why}`);
  killAllNodeRed();
  const closing = Promise.all(services.map((s) => s.close().catch(() => undefined)));
  Promise.race([closing, sleep(5000)]).finally(() => process.exit(code));
}
// 8 minutes for the default run set; longer for more runs or a longer per-run timeout
const hardStopMs = Math.max(480_000, ROUNDS * FLOWS.length * (RUN_TIMEOUT_MS + 30_000));
const hardStop = setTimeout(() => abort(`over ${Math.round(hardStopMs / 60000)} minutes, giving up`, 2), hardStopMs);
process.once('SIGINT', () => abort('interrupted', 130));
process.once('SIGTERM', () => abort('terminated', 143));
hardStop.unref();
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
