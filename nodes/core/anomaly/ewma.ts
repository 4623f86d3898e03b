// Online per-feature EWMA mean and variance. The warm-up rows seed both; afterwards each point judged
// normal updates them with weight lambda (points judged anomalous teach nothing, so a fault is not learned
// as the new normal). Score: root-mean-square of the per-feature z-scores against a limit from training.
import { quantile } from './linalg';
import { fitScaling, limitOrUnit } from './scaling';

export interface EwmaModel {
  mean: number[];
  variance: number[];
  /** floor for each variance (share of the training variance) so a quiet spell cannot make it ~0 */
  minVariance: number[];
  limit: number;
}

export interface EwmaOptions {
  alpha?: number;
  limitScale?: number;
}

export function scoreEwma(model: EwmaModel, x: ArrayLike<number>, contributions?: number[]): number {
  const d = model.mean.length;
  let s = 0;
  for (let j = 0; j < d; j++) {
    const diff = x[j] - model.mean[j];
    const z2 = (diff * diff) / model.variance[j];
    if (contributions) contributions[j] = z2;
    s += z2;
  }
  return Math.sqrt(s / d);
}

export function fitEwma(rows: number[][], opts: EwmaOptions = {}): EwmaModel {
  const { center, scale } = fitScaling(rows, 'std');
  const variance = scale.map((s) => s * s);
  const model: EwmaModel = { mean: center, variance, minVariance: variance.map((v) => v * 0.25), limit: 0 };
  const scores = rows.map((r) => scoreEwma(model, r));
  model.limit = limitOrUnit(quantile(scores, 1 - (opts.alpha ?? 0.01)) * (opts.limitScale ?? 1));
  return model;
}

export function learnEwma(model: EwmaModel, x: ArrayLike<number>, lambda: number): void {
  for (let j = 0; j < model.mean.length; j++) {
    const diff = x[j] - model.mean[j];
    model.mean[j] += lambda * diff;
    model.variance[j] = Math.max(model.minVariance[j], (1 - lambda) * (model.variance[j] + lambda * diff * diff));
  }
}
