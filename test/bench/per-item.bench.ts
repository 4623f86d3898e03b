// Per-item functions of the hot path (issue 16, seventh round), this build against another build in ONE
// process, interleaved: each round runs every function on each build for a time budget, in alternating
// order, and the table gives the median ns per call and the change. Both sides are compiled dist/ code, so
// the comparison is of the source, not of the loader.
//
//   BENCH_ALT_ROOT=/path/to/other/build node --expose-gc -r ts-node/register/transpile-only test/bench/per-item.bench.ts
//   (npm run bench -- per-item); BENCH_ROUNDS (7), BENCH_MS (300 per function, side and round), BENCH_CASES
//   (comma-separated words: only the cases whose name contains one)
// Without BENCH_ALT_ROOT both sides are this build (an A/A run: what the noise alone reads).
import path from 'node:path';
import { benchBody, measureRate, fmt } from './lib';
import { parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';

const root = path.resolve(__dirname, '..', '..');
const altRoot = process.env.BENCH_ALT_ROOT || root;
const ROUNDS = Number(process.env.BENCH_ROUNDS || 7);
const MS = Number(process.env.BENCH_MS || 300);

type Mod = any;
const load = (base: string, m: string): Mod => require(path.join(base, 'dist', 'nodes', 'core', m));
const sides = [
  { name: 'this', base: root },
  { name: 'alt', base: altRoot },
].map((s) => ({
  ...s,
  json: load(s.base, 'safe-json.js'),
  lp: load(s.base, 'influx/line-protocol.js'),
  transport: load(s.base, 'influx/transport.js'),
  norm: load(s.base, 'normalize/normalize.js'),
  normalizer: null as Mod,
  topic: load(s.base, 'topic.js'),
  verify: load(s.base, 'hmac/verify.js'),
  keyring: load(s.base, 'hmac/keyring.js'),
  alert: load(s.base, 'alert/inputs.js'),
  replay: load(s.base, 'hmac/replay.js'),
  settle: load(s.base, 'mqtt/settle-tracker.js'),
  detector: load(s.base, 'anomaly/detector.js'),
  anomalyStates: [] as Mod[],
  tracker: null as Mod,
  patterns: null as Mod,
  verifier: null as Mod,
}));

/** The in-process benches' device body (lib.ts benchBody), fixed timestamps. */
const body = (d: number, i: number) => benchBody(d, i, 1_700_000_000_000 + i);
const BODIES = Array.from({ length: 512 }, (_, i) => body(i % 100, i));
const PARSED = BODIES.map((b) => JSON.parse(b));
const normOpts = { measurement: 'telemetry', separator: '_', tagKeys: ['equipment_id'], keepBooleans: true };
for (const s of sides) s.normalizer = new s.norm.Normalizer(normOpts); // as moby-normalize keeps one
const POINTS = BODIES.map((b) => {
  const r = sides[0].normalizer.normalize(b, { topic: 'devices/x/telemetry' });
  if (!r.ok) throw new Error(JSON.stringify(r.reject));
  return r.point;
});
for (const s of sides)
  s.patterns = {
    // device health's defaults (LWT and status), tried on every telemetry topic, and the verifier's pattern
    health: ['device/lwt/+device_id', 'device/status/+device_id'].map((t) => s.topic.TopicPattern.compile(t)),
    device: new s.verify.TopicDevice('devices/+device_id/telemetry'),
  };
// The verifier on a signed envelope, end to end: topic, key, freshness, MAC, body parse and checks. The
// replay cache is stubbed to "fresh" on both sides (the same 512 nonces come round again; the cache is not
// what this compares).
const SIGNED = BODIES.map((b, i) => {
  const deviceId = `dev-${i % 100}`;
  const env = signEnvelope({ deviceId, key: parseKey(`${deviceId}-device-secret-key`), kid: 'k1', body: b });
  return { payload: JSON.stringify(env), topic: `devices/${deviceId}/telemetry` };
});
for (const s of sides) {
  const ring = new s.keyring.Keyring().load(
    Object.fromEntries(Array.from({ length: 100 }, (_, d) => [`dev-${d}`, { k1: `dev-${d}-device-secret-key` }]))
  );
  s.verifier = new s.verify.Verifier({ keys: ring, topicPattern: 'devices/+device_id/telemetry' });
  s.verifier.nonces.check = () => 0; // NonceCheck.Fresh
}
// The replay cache as the verifier keeps it (default bounds, 300 s window), fed as the pipeline bench feeds it:
// 200 devices in turn, a new nonce each, one second of ts per 200 messages (so ~60,000 nonces stay fresh).
const REPLAY_DEVICES = Array.from({ length: 200 }, (_, d) => `dev-${d}`);
const replays = new Map(sides.map((s) => [s.name, { cache: new s.replay.NonceCache({ windowSec: 300 }), n: 0 }]));
function replayCheck(s: (typeof sides)[number]): number {
  const r = replays.get(s.name)!;
  const n = r.n++;
  const ts = 1_700_000_000 + Math.floor(n / 200);
  return r.cache.check(REPLAY_DEVICES[n % 200], `nonce-${n}`, ts, ts);
}
// moby-mqtt-in's settle tracker (default window), one message through the shipped flow's hops as the runtime
// reports them: first hop, the source's release, verify's two outputs, and anomaly's three receivers
const acked = new Map(sides.map((s) => [s.name, 0]));
for (const s of sides)
  s.tracker = new s.settle.SettleTracker({ onAck: () => acked.set(s.name, acked.get(s.name)! + 1) });
const HOPS: Array<[string, string]> = [
  ['delivered', 'verify'],
  ['release', ''],
  ['delivered', 'normalize'],
  ['delivered', 'health'],
  ['completed', 'verify'],
  ['completed', 'health'],
  ['delivered', 'anomaly'],
  ['completed', 'normalize'],
  ['delivered', 'writer'],
  ['delivered', 'tap'],
  ['delivered', 'alert'],
  ['completed', 'anomaly'],
  ['completed', 'tap'],
  ['completed', 'alert'],
  ['completed', 'writer'],
];
function settleOne(s: (typeof sides)[number], i: number): number {
  const t = s.tracker;
  const before = acked.get(s.name)!;
  const id = `m-${before}`; // fresh per message, as Node-RED's _msgid
  t.begin(id, i, 0);
  for (const [what, node] of HOPS) {
    if (what === 'release') t.release(id);
    else if (what === 'delivered') t.delivered(id, node);
    else t.completed(id, node);
  }
  return acked.get(s.name)! - before; // 1: settled and acknowledged
}
const TOPICS = Array.from({ length: 512 }, (_, i) => `devices/dev-${i % 100}/telemetry`);
// what moby-anomaly's "for alerts" output carries for a firing score (a PCA incident, a dozen contributions)
const FIRING = POINTS.map((p) => ({
  _msgid: 'm',
  anomaly: {
    score: 7.3125,
    threshold: 2.5,
    is_anomaly: true,
    alarm: true,
    severity: 'warning',
    method: 'pca',
    incident: { reason: 'persistent', severity: 'warning' },
    contributions: Object.fromEntries(Object.keys(p.fields).map((k, j) => [k, ((j * 7919) % 13) / 3.7])),
  },
  moby: { device_id: p.tags.device_id },
  payload: { tags: { device_id: p.tags.device_id, equipment_id: p.tags.equipment_id } },
}));
const ANOMALY = { score: 0.731, is_anomaly: false, severity: 'normal', threshold: 2.5, method: 'pca' };

// moby-anomaly's per-point work for a calibrated device: step() of the default method (PCA) over the bench
// points' numeric fields, 200 devices in turn, each point 1 s after that device's previous one (so the restart
// check since stop 47, settling(), runs and never fires). Calibrated on 50 points per device, the same on both
// sides; the result compared is the score.
const ANOMALY_DEVICES = 200;
const anomalyCfg = (s: (typeof sides)[number]) => ({ ...s.detector.defaultsFor('pca'), trainSize: 50 });
const ANOMALY_FEATURES: string[] = sides[0].detector.featuresOf(anomalyCfg(sides[0]), POINTS[0].fields);
const ANOMALY_X = POINTS.map((p) => sides[0].detector.extract(ANOMALY_FEATURES, p.fields) as Float64Array);
const ANOMALY_T0 = 1_700_000_000_000;
for (const s of sides) {
  const cfg = anomalyCfg(s);
  for (let d = 0; d < ANOMALY_DEVICES; d++) {
    const st = s.detector.newState(cfg, ANOMALY_FEATURES);
    for (let k = 0; k < cfg.trainSize; k++)
      s.detector.step(cfg, st, ANOMALY_X[(d * 7 + k) & 511], undefined, ANOMALY_T0 + k * 1000);
    if (!st.model) throw new Error('anomaly bench: a device did not calibrate');
    s.anomalyStates.push(st);
  }
}
const anomalyCfgs = new Map(sides.map((s) => [s.name, anomalyCfg(s)]));
const anomalyCalls = new Map(sides.map((s) => [s.name, 0]));
function anomalyStep(s: (typeof sides)[number], i: number): unknown {
  const n = anomalyCalls.get(s.name)!;
  anomalyCalls.set(s.name, n + 1);
  const d = n % ANOMALY_DEVICES;
  const at = ANOMALY_T0 + 50_000 + Math.floor(n / ANOMALY_DEVICES) * 1000;
  const r = s.detector.step(anomalyCfgs.get(s.name), s.anomalyStates[d], ANOMALY_X[i & 511], undefined, at);
  return r.kind === 'result' ? r.anomaly.score : r.kind;
}

// Lines each side made once, up front, and kept: as the writer holds lines until their request, so the
// join below reads them as they are stored (a tree of V8 cons strings per line unless flattened)
const HELD = new Map<string, string[]>(
  sides.map((s) => [
    s.name,
    POINTS.flatMap((p) => s.lp.messageToLines({ payload: p, anomaly: ANOMALY }, { precision: 'ms', now: 0 }).lines),
  ])
);

interface Case {
  name: string;
  run: (side: (typeof sides)[number], i: number) => unknown;
  /** items one call handles (the table gives ns per item) */
  per?: number;
}
const allCases: Case[] = [
  { name: 'checkValue(parsed body)', run: (s, i) => s.json.checkValue(PARSED[i & 511]) },
  { name: 'checkValue(point)', run: (s, i) => s.json.checkValue(POINTS[i & 511], { maxDepth: 4, maxKeys: 2000 }) },
  { name: 'parseJsonSafe(body)', run: (s, i) => s.json.parseJsonSafe(BODIES[i & 511]) },
  { name: 'pointToLine(point)', run: (s, i) => s.lp.pointToLine(POINTS[i & 511], 'ms') },
  {
    name: 'messageToLines(scored point)',
    run: (s, i) => s.lp.messageToLines({ payload: POINTS[i & 511], anomaly: ANOMALY }, { precision: 'ms', now: 0 }),
  },
  {
    // a writer request's body: 100 scored points (200 lines) mapped, then joined as the writer sends them
    name: 'batch → body (per point)',
    run: (s, i) => {
      const lines: string[] = [];
      for (let j = 0; j < 100; j++) {
        const m = s.lp.messageToLines(
          { payload: POINTS[(i + j) & 511], anomaly: ANOMALY },
          { precision: 'ms', now: 0 }
        );
        for (const l of m.lines) lines.push(l);
      }
      return lines.join('\n');
    },
    per: 100,
  },
  {
    // the writer's side alone: held lines joined into a request body of 200 lines
    name: 'lines → body (per line)',
    run: (s, i) => {
      const held = HELD.get(s.name)!;
      const at = (i * 200) % (held.length - 200);
      return held.slice(at, at + 200).join('\n');
    },
    per: 200,
  },
  {
    // a request of 1,000 held lines as the database client gets it: one joined string before the eighth
    // round, pieces written into one buffer (transport.ts linesBody) since; then the client's Buffer.from
    name: 'lines → request bytes (per line)',
    run: (s, i) => {
      const held = HELD.get(s.name)!;
      const at = (i * 1000) % (held.length - 1000);
      const ls = held.slice(at, at + 1000);
      return Buffer.from(s.transport.linesBody ? s.transport.linesBody(ls) : ls.join('\n'), 'utf-8').length;
    },
    per: 1000,
  },
  { name: 'verify(envelope)', run: (s, i) => s.verifier.verify(SIGNED[i & 511]) },
  {
    name: 'health patterns (2 misses)',
    run: (s, i) => s.patterns.health.map((p: Mod) => p.levels(TOPICS[i & 511])).filter(Boolean).length + 1,
  },
  { name: 'replay check (200 devices in turn)', run: (s) => replayCheck(s) + 1 },
  { name: 'settle tracker (one message, shipped hops)', run: (s, i) => settleOne(s, i) },
  { name: 'verify topic → device', run: (s, i) => s.patterns.device.match(TOPICS[i & 511]) },
  { name: 'alert signals (firing)', run: (s, i) => s.alert.signalsFromMessage(FIRING[i & 511]) },
  { name: 'anomaly step (pca, 200 devices in turn)', run: (s, i) => anomalyStep(s, i) },
  { name: 'normalize(body)', run: (s, i) => s.normalizer.normalize(BODIES[i & 511], { topic: 'devices/x/telemetry' }) },
];

// BENCH_CASES: only the cases whose name contains one of these comma-separated words
const only = process.env.BENCH_CASES?.split(',').filter(Boolean);
const cases = only ? allCases.filter((c) => only.some((w) => c.name.includes(w))) : allCases;

// same answers on both sides before timing anything
for (const c of cases)
  for (let i = 0; i < 512; i++) {
    const a = JSON.stringify(c.run(sides[0], i));
    const b = JSON.stringify(c.run(sides[1], i));
    if (a !== b) throw new Error(`${c.name}: the builds differ at ${i}:\n${a}\n${b}`);
  }

const ns: Record<string, Record<string, number[]>> = {};
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      global.gc?.();
      const rate = measureRate(
        `${c.name} ${s.name}`,
        (i) => {
          if (c.run(s, i)) sink++;
        },
        MS,
        Math.ceil(1000 / (c.per ?? 1))
      );
      ((ns[c.name] ??= {})[s.name] ??= []).push(1e9 / rate.perSec / (c.per ?? 1));
    }
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`per-item bench: ${ROUNDS} rounds × ${MS} ms per function and side, order alternating; alt = ${altRoot}`);
console.log('function                         this ns/call (min–max)      alt ns/call (min–max)       change');
for (const c of cases) {
  const t = ns[c.name].this;
  const a = ns[c.name].alt;
  const row = (x: number[]) => `${fmt(median(x))} (${fmt(Math.min(...x))}–${fmt(Math.max(...x))})`.padEnd(28);
  console.log(`${c.name.padEnd(32)} ${row(t)} ${row(a)} ${fmt((100 * (median(t) - median(a))) / median(a))} %`);
}
if (sink < 0) console.log(sink);
