// Shared benchmark helpers: run a function for a time budget, report rate, latency percentiles and memory,
// and print results next to a baseline measured in the same process.
import { performance } from 'node:perf_hooks';

export interface Rate {
  name: string;
  ops: number;
  seconds: number;
  perSec: number;
}

/** Calls fn repeatedly (in chunks of `chunk`) for about `ms` milliseconds after a short warm-up. */
export function measureRate(name: string, fn: (i: number) => void, ms = 1500, chunk = 1000): Rate {
  for (let i = 0; i < chunk * 5; i++) fn(i);
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < chunk; i++) fn(ops + i);
    ops += chunk;
    t = performance.now();
  }
  const seconds = (t - t0) / 1000;
  return { name, ops, seconds, perSec: ops / seconds };
}

export async function measureRateAsync(
  name: string,
  fn: (i: number) => Promise<void>,
  ms = 1500,
  chunk = 100
): Promise<Rate> {
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < chunk; i++) batch.push(fn(ops + i));
    await Promise.all(batch);
    ops += chunk;
    t = performance.now();
  }
  const seconds = (t - t0) / 1000;
  return { name, ops, seconds, perSec: ops / seconds };
}

export function percentiles(samples: number[], ps = [50, 90, 99]): Record<string, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  const out: Record<string, number> = {};
  for (const p of ps) {
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    out[`p${p}`] = sorted.length ? sorted[idx] : NaN;
  }
  return out;
}

export function heapUsedMB(): number {
  if (global.gc) global.gc();
  return process.memoryUsage().heapUsed / 1048576;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Prints rates as a table, each with its share of `baseline` when given. */
export function printRates(title: string, rates: Rate[], baseline?: Rate): void {
  console.log(`\n${title}`);
  for (const r of rates) {
    const share = baseline ? `  (${fmt((100 * r.perSec) / baseline.perSec, 1)} % of ${baseline.name})` : '';
    console.log(`  ${r.name.padEnd(48)} ${fmt(r.perSec).padStart(14)} /s${share}`);
  }
}

/**
 * The body a device of the in-process benches sends (views, per-item): nested components, a dozen readings,
 * device `dev-<d>`, reading i, timestamp t (epoch ms).
 */
export function benchBody(d: number, i: number, t: number): string {
  const s = Math.sin(i / 7 + d);
  return JSON.stringify({
    device_id: `dev-${d}`,
    ts: new Date(t).toISOString(),
    equipment_id: `line-${d % 5}`,
    hw: 'rev3',
    components: {
      motor: { temperature: { value: 60 + 5 * s, unit: '°C' }, current: 3 + s / 3, rpm: 1480 + 10 * s },
      bearing: { vibration: { rms: 0.1 + s / 50, peak: 0.4 + s / 20 }, temperature: 45 + 2 * s },
      pump: { pressure: 4 + s / 5, flow: 120 + 4 * s, power: 5.5 + s / 4 },
    },
  });
}
