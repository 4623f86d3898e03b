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
const limits = Object.fromEntries(features.map((f, j) => [f, { lowWarning: j * 5 - 4, highWarning: j * 5 + 4, highCritical: j * 5 + 6 }]));

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
  rates.push(measureRate(`${method} (step: score+smooth+severity+learn)`, (i) => {
    const r = step(cfg, state, rows[i & 4095]);
    if (r.kind === 'result') sink += r.anomaly.score;
  }));
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
for (const [m, p] of Object.entries(latency)) console.log(`  ${m.padEnd(10)} p50 ${fmt(p.p50, 2)}  p90 ${fmt(p.p90, 2)}  p99 ${fmt(p.p99, 2)}`);

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
  console.log(`  ${method.padEnd(6)} fitted ${fmt(fitted / 1024, 1)} KiB/device, calibrating (399 of 400 rows) ${fmt(calibrating / 1024, 1)} KiB/device  [${total} states]`);
}
if (sink === 42) console.log('');
