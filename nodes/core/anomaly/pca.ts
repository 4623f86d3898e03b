// PCA monitoring with Hotelling T² and Q (squared prediction error). The math is kept deliberately plain
// (z-score, project, T² = Σ t_i²/λ_i, Q = ‖z − Pᵀt‖²) because the ONNX exporter reproduces it as a graph
// and must match it to 1e-5.
import { covariance, quantile, symmetricEigen } from './linalg';
import { fitScaling, limitOrUnit, ScalingKind } from './scaling';

export interface PcaModel {
  features?: string[];
  mean: number[];
  std: number[];
  /** k × d, each row a principal axis (unit vector in z-space) */
  components: number[][];
  /** the k kept eigenvalues, descending */
  eigenvalues: number[];
  t2Limit: number;
  qLimit: number;
}

export interface PcaFitOptions {
  /** share of total variance the kept components explain (default 0.85) */
  varianceShare?: number;
  /** false-alarm rate the limits are set for: limits are the (1 − alpha) quantiles of training scores (default 0.01) */
  alpha?: number;
  /** multiplies both limits (default 1); > 1 widens them for data that drift beyond the training window */
  limitScale?: number;
  features?: string[];
  /** 'std' (mean/std, default) or 'robust' (median/MAD); either way the model stores them as mean/std */
  scaling?: ScalingKind;
}

export interface PcaScore {
  t2: number;
  q: number;
  /** per feature: e_i²/qLimit + |z_i · Σ_k P_ki t_k / λ_k|/t2Limit (non-negative, not normalised) */
  contributions: number[];
}

export function fitPca(rows: number[][], opts: PcaFitOptions = {}): PcaModel {
  if (rows.length < 2) throw new Error(`PCA needs at least 2 rows, got ${rows.length}`);
  const d = rows[0].length;
  if (d === 0) throw new Error('PCA needs at least one feature');
  const varianceShare = opts.varianceShare ?? 0.85;
  const alpha = opts.alpha ?? 0.01;
  const limitScale = opts.limitScale ?? 1;
  // a constant column gets unit spread: it contributes nothing in training and any change later shows
  const { center: mu, scale: sd } = fitScaling(rows, opts.scaling ?? 'std');
  const z = rows.map((r) => r.map((x, j) => (x - mu[j]) / sd[j]));
  // the axes come from the covariance around the z mean (≠ 0 with robust centring)
  const zMean = new Array<number>(d).fill(0);
  for (const r of z) for (let j = 0; j < d; j++) zMean[j] += r[j] / z.length;
  const { values, vectors } = symmetricEigen(covariance(z.map((r) => r.map((v, j) => v - zMean[j]))));
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  let k = 0;
  let acc = 0;
  while (k < d && (k === 0 || acc < varianceShare * total)) {
    acc += Math.max(0, values[k]);
    k++;
  }
  // never keep an axis with (numerically) no variance: T² would divide by ~0
  while (k > 1 && values[k - 1] <= 1e-12 * Math.max(1, values[0])) k--;
  const model: PcaModel = {
    mean: mu,
    std: sd,
    components: vectors.slice(0, k),
    eigenvalues: values.slice(0, k).map((v) => Math.max(v, 1e-12)),
    t2Limit: Infinity,
    qLimit: Infinity,
  };
  if (opts.features) model.features = opts.features.slice();
  const t2s = new Float64Array(rows.length);
  const qs = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const s = scorePca(model, rows[i]);
    t2s[i] = s.t2;
    qs[i] = s.q;
  }
  model.t2Limit = positiveLimit(quantile(t2s, 1 - alpha) * limitScale);
  model.qLimit = positiveLimit(quantile(qs, 1 - alpha) * limitScale);
  if (!(total > 1e-12)) {
    // Every column constant (a machine idle through calibration, a rig replaying one reading): no spread to
    // measure a change against, and limits of 1e-9 scored a change of 0.5 as 2,499,999,999,999,982,000 in an
    // alert (red-team round of 2026-12-07). Each column already has unit spread (fitScaling); the axis and the
    // limits get it too (limitOrUnit), so the score is the squared change in the sensors' own units (0.5 → 0.25).
    model.eigenvalues = model.eigenvalues.map(() => 1);
    model.t2Limit = limitOrUnit(0);
    model.qLimit = limitOrUnit(0);
  }
  return model;
}

/** A limit of 0 (perfectly explained training data) would flag every later rounding error. */
function positiveLimit(v: number): number {
  return Number.isFinite(v) && v > 1e-9 ? v : 1e-9;
}

// scratch space reused across calls (scoring is synchronous, so no caller can interleave)
let zScratch = new Float64Array(16);
let tScratch = new Float64Array(16);

/**
 * Scores one observation (raw units, same feature order as the model). Pass `contributions` to have them
 * written into that array instead of a new one.
 */
export function scorePca(
  model: PcaModel,
  x: ArrayLike<number>,
  contributions: number[] = new Array<number>(model.mean.length)
): PcaScore {
  const d = model.mean.length;
  const k = model.components.length;
  if (zScratch.length < d) zScratch = new Float64Array(d);
  if (tScratch.length < k) tScratch = new Float64Array(k);
  const z = zScratch;
  const t = tScratch;
  for (let j = 0; j < d; j++) z[j] = (x[j] - model.mean[j]) / model.std[j];
  let t2 = 0;
  for (let c = 0; c < k; c++) {
    const p = model.components[c];
    let s = 0;
    for (let j = 0; j < d; j++) s += p[j] * z[j];
    t[c] = s;
    t2 += (s * s) / model.eigenvalues[c];
  }
  let q = 0;
  for (let j = 0; j < d; j++) {
    let recon = 0;
    let t2Part = 0;
    for (let c = 0; c < k; c++) {
      const pcj = model.components[c][j];
      recon += pcj * t[c];
      t2Part += (pcj * t[c]) / model.eigenvalues[c];
    }
    const e = z[j] - recon;
    q += e * e;
    contributions[j] = (e * e) / model.qLimit + Math.abs(z[j] * t2Part) / model.t2Limit;
  }
  return { t2, q, contributions };
}

/**
 * Slow adaptation to drift: moves the model's centre towards a point judged normal. Only the centre moves
 * (axes, eigenvalues and limits stay as fitted), so a fault can't widen the limits and the ONNX form of the
 * model stays the same graph with a new mean.
 */
export function learnPca(model: PcaModel, x: ArrayLike<number>, rate: number): void {
  for (let j = 0; j < model.mean.length; j++) model.mean[j] += rate * (x[j] - model.mean[j]);
}
