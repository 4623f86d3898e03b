// Anomaly core throughput per method on 8 features (points/s through detector.step, i.e. scoring,
// smoothing, severity and drift learning), against a bare loop computing the same 8 z-scores in the same
// run; plus memory per device (heap growth over many calibrated devices).
import { defaultsFor, newState, step, AnomalyDeviceState, StatMethod } from '../../nodes/core/anomaly/detector';
import { gaussianRows } from '../support/anomaly-data';
import { fmt, heapUsedMB, measureRate, percentiles, printRates, Rate } from './lib';
import { performance } from 'node:perf_hooks';

const D = 8;
const features = Array.from({ length: D }, (_, j) => `f${j}`);
const rows = gaussianRows(4096, D, 42);
const limits = Object.fromEntries(
  features.map((f, j) => [f, { lowWarning: j * 5 - 4, highWarning: j * 5 + 4, highCritical: j * 5 + 6 }])
);

function calibrated(method: StatMethod): { cfg: ReturnType<typeof defaultsFor>; state: AnomalyDeviceState } {
  const cfg = { ...defaultsFor(method), limits };
  const state = newState(cfg, features);
  for (let i = 0; i < cfg.trainSize; i++) step(cfg, state, rows[i]);
  return { cfg, state };
}

// baseline: z-scores of 8 features, nothing else
const mu = new Float64Array(D).fill(1);
const sd = new Float64Array(D).fill(2);
const z = new Float64Array(D);
let sink = 0;
const baseline = measureRate('baseline: bare 8-feature z-score loop', (i) => {
  const x = rows[i & 4095];
  for (let j = 0; j < D; j++) z[j] = (x[j] - mu[j]) / sd[j];
  sink += z[7];
});

const rates: Rate[] = [];
const latency: Record<string, Record<string, number>> = {};
for (const method of ['threshold', 'l2', 'ewma', 'pca'] as const) {
  const { cfg, state } = calibrated(method);
  rates.push(
    measureRate(`${method} (step: score+smooth+severity+learn)`, (i) => {
      const r = step(cfg, state, rows[i & 4095]);
      if (r.kind === 'result') sink += r.anomaly.score;
    })
  );
  const samples: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const t0 = performance.now();
    step(cfg, state, rows[i & 4095]);
    samples.push((performance.now() - t0) * 1000);
  }
  latency[method] = percentiles(samples);
}
printRates('anomaly core, 8 features, one device (points/s)', rates, baseline);
console.log('\nlatency per point (µs)');
for (const [m, p] of Object.entries(latency))
  console.log(`  ${m.padEnd(10)} p50 ${fmt(p.p50, 2)}  p90 ${fmt(p.p90, 2)}  p99 ${fmt(p.p99, 2)}`);

// memory: many devices, calibrated (model only) and calibrating (buffer of up to trainSize rows)
console.log('\nmemory per device (heap growth / devices)');
for (const method of ['l2', 'ewma', 'pca'] as const) {
  const devices = 2000;
  const cfg = { ...defaultsFor(method), trainSize: 400 };
  const keep: AnomalyDeviceState[] = [];
  const h0 = heapUsedMB();
  for (let d = 0; d < devices; d++) {
    const s = newState(cfg, features);
    for (let i = 0; i < cfg.trainSize + 5; i++) step(cfg, s, rows[(d * 7 + i) & 4095]);
    keep.push(s);
  }
  const fitted = ((heapUsedMB() - h0) * 1048576) / devices;
  const keep2: AnomalyDeviceState[] = [];
  const h1 = heapUsedMB();
  for (let d = 0; d < devices; d++) {
    const s = newState(cfg, features);
    for (let i = 0; i < cfg.trainSize - 1; i++) step(cfg, s, rows[(d * 7 + i) & 4095]);
    keep2.push(s);
  }
  const calibrating = ((heapUsedMB() - h1) * 1048576) / devices;
  const total = keep.length + keep2.length;
  // drop this method's states before the next method's baseline heap reading
  keep.length = 0;
  keep2.length = 0;
  console.log(
    `  ${method.padEnd(6)} fitted ${fmt(fitted / 1024, 1)} KiB/device, calibrating (399 of 400 rows) ${fmt(calibrating / 1024, 1)} KiB/device  [${total} states]`
  );
}
if (sink === 42) console.log('');

// The device bound (issue #10): the node looks a device's state up and marks it most recently active on
// every point. Same scoring (pca, 8 features, 10k fitted devices round robin) with the previous plain
// Map.get against the bounded DeviceStates get + set (delete + set moves the key to the end), measured in
// CPU time and alternated so machine noise hits both alike; then memory per device and a flood of new ids.
import { DeviceStates } from '../../nodes/core/anomaly/device-states';
{
  const DEV = 10_000;
  const { cfg, state: proto } = calibrated('pca');
  const keys = Array.from({ length: DEV }, (_, d) => `dev-${d}`);
  const plain = new Map<string, AnomalyDeviceState>();
  const bounded = new DeviceStates<AnomalyDeviceState>(DEV);
  for (const k of keys) {
    plain.set(k, JSON.parse(JSON.stringify(proto)));
    bounded.set(k, JSON.parse(JSON.stringify(proto)));
  }
  const cpuRate = (fn: (i: number) => void, n = 200_000): number => {
    for (let i = 0; i < 20_000; i++) fn(i);
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const c = process.cpuUsage(c0);
    return n / ((c.user + c.system) / 1e6);
  };
  const prevRates: number[] = [];
  const newRates: number[] = [];
  for (let round = 0; round < 5; round++) {
    prevRates.push(
      cpuRate((i) => {
        const s = plain.get(keys[i % DEV])!;
        const r = step(cfg, s, rows[i & 4095]);
        if (r.kind === 'result') sink += r.anomaly.score;
      })
    );
    newRates.push(
      cpuRate((i) => {
        const k = keys[i % DEV];
        const s = bounded.get(k)!;
        const r = step(cfg, s, rows[i & 4095]);
        bounded.set(k, s, r.kind === 'result' && r.anomaly.is_anomaly);
      })
    );
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(
    `\ndevice lookup + pca step over ${fmt(DEV)} devices (points per CPU-second, median of 5 alternated runs)`
  );
  console.log(`  previous: Map.get (no bound, before #10)          ${fmt(med(prevRates)).padStart(10)} /s`);
  console.log(
    `  DeviceStates get + set (bounded, recency order)   ${fmt(med(newRates)).padStart(10)} /s  (${fmt((100 * med(newRates)) / med(prevRates), 1)} %)`
  );

  // what the bound's bookkeeping costs per device: the same 10k fitted states in a plain Map and in DeviceStates
  const fitted = keys.map(() => JSON.parse(JSON.stringify(proto)) as AnomalyDeviceState);
  let h = heapUsedMB();
  const m1 = new Map<string, AnomalyDeviceState>();
  keys.forEach((k, d) => m1.set(k, fitted[d]));
  const mapBytes = ((heapUsedMB() - h) * 1048576) / DEV;
  h = heapUsedMB();
  const m2 = new DeviceStates<AnomalyDeviceState>(DEV);
  keys.forEach((k, d) => m2.set(k, fitted[d]));
  const dsBytes = ((heapUsedMB() - h) * 1048576) / DEV;
  console.log(
    `  index per device (states excluded): Map ${fmt(mapBytes)} bytes, DeviceStates ${fmt(dsBytes)} bytes (recency links); fitted pca state ≈ ${fmt(JSON.stringify(proto).length)} bytes as JSON [${m1.size + m2.size}]`
  );

  // a flood of 100k new ids into a bound of 10k: each new id is a calibrating state with one row
  const flooded = new DeviceStates<AnomalyDeviceState>(DEV);
  const h0 = heapUsedMB();
  const c0 = process.cpuUsage();
  for (let k = 0; k < 100_000; k++) {
    const s = newState(cfg, features);
    step(cfg, s, rows[k & 4095]);
    flooded.set(`flood-${k}`, s);
  }
  const c = process.cpuUsage(c0);
  console.log(
    `  flood of 100,000 new ids into a bound of ${fmt(DEV)}: ${fmt(flooded.size)} held, ${fmt(flooded.evictions)} evicted, ${fmt(100_000 / ((c.user + c.system) / 1e6))} new ids per CPU-second, ${fmt(((heapUsedMB() - h0) * 1048576) / DEV / 1024, 2)} KiB per held state (1 calibration row)`
  );
}
