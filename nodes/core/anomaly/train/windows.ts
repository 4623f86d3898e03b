// Training-data helpers shared by the window models: per-feature standardisation and sliding windows
// flattened step-major (x[t*F + f]), the same layout the scorer feeds the model.

export interface Scaler {
  mean: number[];
  std: number[];
}

export function fitScaler(rows: number[][]): Scaler {
  const n = rows.length;
  const f = rows[0]?.length ?? 0;
  const mean = new Array<number>(f).fill(0);
  const std = new Array<number>(f).fill(0);
  for (const r of rows) for (let j = 0; j < f; j++) mean[j] += r[j] / n;
  for (const r of rows) for (let j = 0; j < f; j++) std[j] += (r[j] - mean[j]) ** 2 / Math.max(1, n - 1);
  // a constant column keeps unit spread so it cannot divide by zero at scoring time
  for (let j = 0; j < f; j++)
    std[j] = Math.sqrt(std[j]) > 1e-9 * Math.max(1, Math.abs(mean[j])) ? Math.sqrt(std[j]) : 1;
  return { mean, std };
}

/** Standardised sliding windows: returns count windows of window*F values in one Float32Array. */
export function makeWindows(
  rows: number[][],
  window: number,
  scaler: Scaler,
  stride = 1
): { data: Float32Array; count: number; ends: number[] } {
  const f = scaler.mean.length;
  if (rows.length < window)
    throw new Error(`need at least ${window} rows for windows of ${window} steps, got ${rows.length}`);
  const ends: number[] = [];
  for (let end = window - 1; end < rows.length; end += stride) ends.push(end);
  const size = window * f;
  const data = new Float32Array(ends.length * size);
  ends.forEach((end, w) => {
    for (let t = 0; t < window; t++) {
      const r = rows[end - window + 1 + t];
      for (let j = 0; j < f; j++) data[w * size + t * f + j] = (r[j] - scaler.mean[j]) / scaler.std[j];
    }
  });
  return { data, count: ends.length, ends };
}

export interface ReconstructionScore {
  reconstruction: Float64Array;
  /** mean squared error over the whole window */
  score: number;
  /** squared error summed per feature over the window's steps */
  perFeature: Float64Array;
}

/** Scores a window model's reconstruction `rec` of `window` (step-major, `features` per step). */
export function reconstructionScore(
  window: ArrayLike<number>,
  rec: Float64Array,
  features: number
): ReconstructionScore {
  const perFeature = new Float64Array(features);
  let sum = 0;
  for (let i = 0; i < rec.length; i++) {
    const e = (window[i] - rec[i]) ** 2;
    sum += e;
    perFeature[i % features] += e;
  }
  return { reconstruction: rec, score: sum / rec.length, perFeature };
}
