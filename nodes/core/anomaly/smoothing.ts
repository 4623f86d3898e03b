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
  return medianOf(window);
}

let scratch = new Float64Array(32);

/** Median by insertion sort into reused scratch space: for the small windows used here (k ≈ 15) this beats
 * allocating and sorting a copy by a wide margin, and the smoother runs once per scored point. */
function medianOf(values: number[]): number {
  const n = values.length;
  if (scratch.length < n) scratch = new Float64Array(n);
  const a = scratch;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
  const mid = n >> 1;
  return n % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
}
