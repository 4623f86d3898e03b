// Training-data helpers shared by the window models: per-feature standardisation and sliding windows
// flattened step-major (x[t*F + f]), the same layout the scorer feeds the model.
import { quantile } from '../linalg';
import { PersistenceFilter } from '../onnx/persistence';

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

/** `score` of each of `count` windows of `size` values laid end to end in `data` (as makeWindows returns them). */
export function scoreWindows(
  score: (window: Float32Array) => number,
  data: Float32Array,
  count: number,
  size: number
): Float64Array {
  const out = new Float64Array(count);
  for (let w = 0; w < count; w++) out[w] = score(data.subarray(w * size, (w + 1) * size));
  return out;
}

// ---- thresholds set on held-out windows, and the node's verdicts replayed ---------------------------------

/**
 * The threshold recipe shared by the reconstruction models (dense and convolutional autoencoders): the
 * training rows are split in time, the model learns on the earlier part, and the threshold is `margin` × the
 * `quantile` of the errors on windows ending in the later `holdout` share. A quantile of the model's own
 * training errors is optimistically small (the dense autoencoder set that way flagged 76 % of SKAB's normal
 * test rows, issue #14). `persistence` and `centerDrift` are what the bundle asks the node to do with the
 * score (meta.persistence, meta.center_drift). Chosen by `npm run eval:skab -- --cv` (docs/onnx-bundles.md).
 */
export const HELD_OUT_DEFAULTS = {
  holdout: 0.25,
  quantile: 0.99,
  margin: 2,
  persistence: 5,
  centerDrift: 0.01,
};

/** Threshold from held-out windows: margin × their q-quantile reconstruction error. */
export function heldOutThreshold(
  errors: ArrayLike<number>,
  q = HELD_OUT_DEFAULTS.quantile,
  margin = HELD_OUT_DEFAULTS.margin
): number {
  if (!errors.length) throw new Error('no held-out windows to set the threshold on');
  return margin * quantile(Float64Array.from(errors), q);
}

export interface StreamOptions {
  /** median over this many window scores (meta.persistence) */
  persistence?: number;
  /** per-device centre drift rate (meta.center_drift); 0 keeps the scaler fixed */
  centerDrift?: number;
}

/**
 * What the BundleScorer does with a reconstruction bundle for one device, row by row, with the model's
 * float64 reference forward pass (`score` of one standardised, step-major window): standardise around the
 * device's centre, slide the window, score, take the persistence median, flag above the threshold, and move
 * the centre after a point judged normal. Used by eval:skab so its figures are the node's; tests check it
 * against the scorer through onnxruntime. Rows before the first full window get NaN scores, never flagged.
 */
export function streamReconstruction(
  score: (window: Float64Array) => number,
  window: number,
  features: number,
  scaler: Scaler,
  threshold: number,
  rows: number[][],
  o: StreamOptions = {}
): { scores: Float64Array; raw: Float64Array; flagged: Uint8Array } {
  const W = window;
  const F = features;
  const drift = o.centerDrift ?? 0;
  const centre = Float64Array.from(scaler.mean);
  const ring = new Float64Array(W * F);
  const win = new Float64Array(W * F);
  const med = new PersistenceFilter(o.persistence ?? 1);
  const scores = new Float64Array(rows.length).fill(NaN);
  const raw = new Float64Array(rows.length).fill(NaN);
  const flagged = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const slot = (i % W) * F;
    for (let f = 0; f < F; f++) ring[slot + f] = (rows[i][f] - centre[f]) / scaler.std[f];
    if (i < W - 1) continue;
    // oldest step first: the slot after the newest
    const head = (i + 1) % W;
    for (let t = 0; t < W; t++) win.set(ring.subarray(((head + t) % W) * F, ((head + t) % W) * F + F), t * F);
    const r = score(win);
    const s = med.push(r);
    raw[i] = r;
    scores[i] = s;
    flagged[i] = s > threshold ? 1 : 0;
    if (drift > 0 && s <= threshold && r <= threshold)
      for (let f = 0; f < F; f++) centre[f] += drift * (rows[i][f] - centre[f]);
  }
  return { scores, raw, flagged };
}
