// Which numbers a detector may take as a feature value. JSON's own numbers are finite, but a finite 1e308 is not
// usable either: the first sum of squares overflows to Infinity and the model turns to NaN. Red-team round 3
// (2026-12-03): one signed point of 1e308 among a device's calibration points left every later point of that
// device `model_error: score is NaN` — never scored again, and the learned state kept the NaN across restarts.

/**
 * The largest magnitude a feature value may have: squares (1e200) and their sums over any calibration window
 * stay far inside a double's range (1.8e308), and no physical reading in any unit comes near it.
 */
export const MAX_FEATURE_MAGNITUDE = 1e100;

/** Why `v` cannot be a feature value (non-finite or beyond ±MAX_FEATURE_MAGNITUDE), or null when it can. */
export function featureValueProblem(v: number): string | null {
  if (!Number.isFinite(v)) return `is ${v}`;
  if (v > MAX_FEATURE_MAGNITUDE || v < -MAX_FEATURE_MAGNITUDE)
    return `is ${v}, beyond ±${MAX_FEATURE_MAGNITUDE} (the model's sums of squares would overflow)`;
  return null;
}
