// The seeds' vector check: L2 norm of the z-scored feature vector against a limit learned from the
// training rows' own norms. The centre follows slow drift on points judged normal (adaptRate).
import { quantile } from './linalg';
import { fitScaling, limitOrUnit, ScalingKind } from './scaling';

export interface L2Model {
  center: number[];
  scale: number[];
  limit: number;
}

export interface L2Options {
  alpha?: number;
  limitScale?: number;
  scaling?: ScalingKind;
}

export function scoreL2(model: L2Model, x: ArrayLike<number>, contributions?: number[]): number {
  let s = 0;
  for (let j = 0; j < model.center.length; j++) {
    const z = (x[j] - model.center[j]) / model.scale[j];
    const z2 = z * z;
    if (contributions) contributions[j] = z2;
    s += z2;
  }
  return Math.sqrt(s);
}

export function fitL2(rows: number[][], opts: L2Options = {}): L2Model {
  const { center, scale } = fitScaling(rows, opts.scaling ?? 'std');
  const model: L2Model = { center, scale, limit: 0 };
  const norms = rows.map((r) => scoreL2(model, r));
  model.limit = limitOrUnit(quantile(norms, 1 - (opts.alpha ?? 0.01)) * (opts.limitScale ?? 1));
  return model;
}

/** Moves the centre towards a point judged normal. */
export function learnL2(model: L2Model, x: ArrayLike<number>, rate: number): void {
  for (let j = 0; j < model.center.length; j++) model.center[j] += rate * (x[j] - model.center[j]);
}
