// The two window CNNs moby-train writes, served through the BundleScorer for 200 devices: the convolutional
// autoencoder (32 steps × 8 features, SKAB-sized, moby-train defaults) and the C-MAPSS RUL CNN (30 cycles × 19 synthetic
// sensors; FD001 keeps 14, so the real model is a little cheaper). Each is measured micro-batched (one session.run per tick of 200 windows) against its baseline in
// the same run, one session.run per window with the same 200 windows in flight. Models are trained for a
// few epochs on synthetic data: inference cost depends on the layer sizes, not on the weights.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BundleScorer, type ScoreOutcome } from '../../nodes/core/anomaly/onnx/bundle-scorer';
import { trainBundle } from '../../nodes/core/anomaly/train/train';
import { mulberry32 } from '../../nodes/core/prng';
import { syntheticCmapss } from '../support/anomaly-onnx-fixtures';
import { fmt, printRates, type Rate } from './lib';

const DEVICES = 200;
const MS = Number(process.env.BENCH_MS ?? 2000);

interface Case {
  name: string;
  equipment: string;
  window: number;
  features: string[];
  sample: (device: number, tick: number) => Record<string, number>;
}

async function runTicks(
  name: string,
  scorer: BundleScorer,
  c: Case,
  startTick: number
): Promise<{ rate: Rate; tick: number }> {
  let tick = startTick;
  let windows = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MS) {
    const ps: Array<Promise<ScoreOutcome>> = [];
    for (let d = 0; d < DEVICES; d++)
      ps.push(scorer.score({ key: `dev-${d}`, equipmentId: c.equipment, fields: c.sample(d, tick), timestamp: tick }));
    const rs = await Promise.all(ps);
    for (const r of rs) if (r.kind !== 'result') throw new Error(`unexpected ${JSON.stringify(r)}`);
    windows += DEVICES;
    tick++;
    t = performance.now();
  }
  const seconds = (t - t0) / 1000;
  return { rate: { name, ops: windows, seconds, perSec: windows / seconds }, tick };
}

async function bench(root: string, c: Case): Promise<number> {
  const single = new BundleScorer({ root, batchMax: 1 });
  const batched = new BundleScorer({ root, batchMax: DEVICES, batchWaitMs: 2 });
  await single.load();
  await batched.load();
  // fill every device's window first
  for (let t = 0; t < c.window; t++) {
    await Promise.all(
      Array.from({ length: DEVICES }, (_, d) =>
        single.score({ key: `dev-${d}`, equipmentId: c.equipment, fields: c.sample(d, t), timestamp: t })
      )
    );
    await Promise.all(
      Array.from({ length: DEVICES }, (_, d) =>
        batched.score({ key: `dev-${d}`, equipmentId: c.equipment, fields: c.sample(d, t), timestamp: t })
      )
    );
  }
  // the machine is shared: alternate the two cases twice and keep each one's better run
  let rSingle: Rate | null = null;
  let rBatched: Rate | null = null;
  let tick = c.window;
  let perRun = 0;
  for (let round = 0; round < 2; round++) {
    const a = await runTicks(`${c.name}: 1 window per session.run, ${DEVICES} in flight`, single, c, tick);
    const runs = batched.stats.runs;
    const wins = batched.stats.windows;
    const b = await runTicks(`${c.name}: micro-batched (batchMax ${DEVICES}, wait 2 ms)`, batched, c, a.tick);
    tick = b.tick;
    perRun = (batched.stats.windows - wins) / (batched.stats.runs - runs);
    if (!rSingle || a.rate.perSec > rSingle.perSec) rSingle = a.rate;
    if (!rBatched || b.rate.perSec > rBatched.perSec) rBatched = b.rate;
  }
  await single.close();
  await batched.close();
  printRates(`${c.name} windows/s (baseline: one session.run per window, same run)`, [rSingle!, rBatched!], rSingle!);
  const speedup = rBatched!.perSec / rSingle!.perSec;
  console.log(`  ${fmt(perRun, 1)} windows per batched session.run; speed-up ${fmt(speedup, 1)}x`);
  return speedup;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-cnn-bench-'));
  try {
    const rand = mulberry32(3);
    const skabLike = ['a1', 'a2', 'current', 'pressure', 'temp', 'thermo', 'voltage', 'flow'];
    const row = (i: number, d = 0) => {
      const base = Math.sin((i + 7 * d) / 9);
      return skabLike.map((_, j) => 10 * (j + 1) + base * (j % 3) + 0.2 * rand());
    };
    const csv = path.join(dir, 'normal.csv');
    fs.writeFileSync(
      csv,
      [skabLike.join(';'), ...Array.from({ length: 400 }, (_, i) => row(i).join(';'))].join('\n') + '\n'
    );
    const t0 = performance.now();
    const caeRep = await trainBundle({
      method: 'conv-autoencoder',
      csv,
      out: path.join(dir, 'root', 'valve', 'normal', 'v1'),
      epochs: 30,
    });
    const caeMs = performance.now() - t0;

    const fd = path.join(dir, 'train_FD.txt');
    fs.writeFileSync(
      fd,
      syntheticCmapss(
        Array.from({ length: 20 }, (_, i) => 120 + 5 * i),
        4
      )
    );
    const t1 = performance.now();
    const rul = await trainBundle({
      method: 'rul',
      csv: fd,
      out: path.join(dir, 'root', 'engine', 'normal', 'v1'),
      epochs: 2,
    });
    const rulMs = performance.now() - t1;
    const sensors = rul.meta.features;
    console.log(
      `conv autoencoder ${caeRep.meta.window}x8 (400 rows, 30 epochs) trained in ${fmt(caeMs)} ms; RUL CNN ${rul.meta.window}x${sensors.length} (${rul.windows} windows, 2 epochs, ${rul.meta.training?.ensemble ?? 1} nets) in ${fmt(rulMs)} ms; ${DEVICES} devices, ${MS} ms per case`
    );

    const root = path.join(dir, 'root');
    const cae = await bench(root, {
      name: 'conv autoencoder',
      equipment: 'valve',
      window: caeRep.meta.window,
      features: skabLike,
      sample: (d, t) => Object.fromEntries(row(t, d).map((v, j) => [skabLike[j], v])),
    });
    const rulSpeed = await bench(root, {
      name: 'RUL CNN',
      equipment: 'engine',
      window: rul.meta.window,
      features: sensors,
      // the age as a device counts it from its first cycle: the bundle keeps each device's baseline of cycles
      // 1–20 (moby-train's default) and refuses a device first seen later
      sample: (d, t) =>
        Object.fromEntries(
          sensors.map((s, j) => [s, s === 'cycle' ? t + 1 : 100 + 10 * j + Math.sin((t + d) / 11) + 0.1 * rand()])
        ),
    });
    console.log(
      `\nbatching speed-up: conv autoencoder ${fmt(cae, 1)}x, RUL CNN ${fmt(rulSpeed, 1)}x over one session.run per window`
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
