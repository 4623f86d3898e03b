// Per-feature location/scale from training rows: classic mean/std or robust median/MAD (one sensor's
// spikes in the training window then do not inflate its scale). Scales never reach 0.
import { column, mad, mean, median, std } from './linalg';

export type ScalingKind = 'std' | 'robust';

export interface Scaling {
  center: number[];
  scale: number[];
}

export function fitScaling(rows: number[][], kind: ScalingKind): Scaling {
  const d = rows[0].length;
  const center: number[] = [];
  const scale: number[] = [];
  for (let j = 0; j < d; j++) {
    const col = column(rows, j);
    const c = kind === 'robust' ? median(col) : mean(col);
    let s = kind === 'robust' ? mad(col, c) : std(col, c);
    // MAD is 0 for a mostly constant column with a few changes: fall back to the std, then to 1
    if (!(s > 1e-9 * Math.max(1, Math.abs(c)))) s = std(col);
    if (!(s > 1e-9 * Math.max(1, Math.abs(c)))) s = 1;
    center.push(c);
    scale.push(s);
  }
  return { center, scale };
}

/**
 * A model's limit from its calibration scores' quantile (already × limitScale). Scores are in units of each sensor's
 * spread; a quantile of (almost) 0 means calibration without spread (sensors constant, a machine idle), where a
 * floor of 1e-9 scored a change of 0.5 in the billions (red-team round of 2026-12-07): the limit is then one unit,
 * as a constant sensor's spread is.
 */
export function limitOrUnit(q: number): number {
  return Number.isFinite(q) && q > 1e-9 ? q : 1;
}
