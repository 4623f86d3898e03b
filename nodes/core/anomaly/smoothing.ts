// Score smoothing over the last k points, so one noisy sample does not raise an alarm on its own. The
// window is a plain array (k is small) so it serialises with the rest of the device state.

export type SmoothingKind = 'none' | 'median' | 'mean';

/** Pushes `score` into `window` (kept at most k long, mutated) and returns the smoothed score. */
export function smooth(window: number[], score: number, k: number, kind: SmoothingKind): number {
  if (kind === 'none' || k <= 1) return score;
  window.push(score);
  while (window.length > k) window.shift();
  if (kind === 'mean') {
    let s = 0;
    for (const v of window) s += v;
    return s / window.length;
  }
  const sorted = window.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
