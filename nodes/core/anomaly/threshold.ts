// Fixed per-field limits, what plants start with. Score per field: 0 inside the warning band, rising from
// 1 at a warning limit to 2 at the critical limit and on linearly beyond, so severity follows the limits.

export interface FieldLimits {
  lowCritical?: number;
  lowWarning?: number;
  highWarning?: number;
  highCritical?: number;
}

export type ThresholdLimits = Record<string, FieldLimits>;

/** Score of one value against its limits (0 when inside, > 1 past a warning limit, ≥ 2 past a critical one). */
export function limitScore(value: number, l: FieldLimits): number {
  return Math.max(side(value, l.highWarning, l.highCritical, 1), side(value, l.lowWarning, l.lowCritical, -1));
}

/**
 * One side of the band; dir = 1 for high limits, −1 for low ones. Between warning and critical the score
 * rises linearly from 1 to 2; with a warning limit only it stays below 2 (never critical); with a critical
 * limit only, crossing it is critical at once.
 */
function side(value: number, warning: number | undefined, critical: number | undefined, dir: 1 | -1): number {
  if (critical !== undefined && dir * (value - critical) >= 0) {
    const span = warning !== undefined ? Math.abs(critical - warning) : Math.max(Math.abs(critical), 1);
    return 2 + (dir * (value - critical)) / (span || 1);
  }
  if (warning === undefined || !(dir * (value - warning) > 0)) return 0;
  const over = dir * (value - warning);
  if (critical !== undefined) return 1 + over / Math.abs(critical - warning);
  return Math.min(1.999, 1 + over / Math.max(Math.abs(warning), 1));
}

export interface ThresholdScore {
  score: number;
  contributions: number[];
}

export function scoreThreshold(features: string[], limits: ThresholdLimits, x: ArrayLike<number>): ThresholdScore {
  let score = 0;
  const contributions = new Array<number>(features.length);
  for (let j = 0; j < features.length; j++) {
    const l = limits[features[j]];
    const s = l ? limitScore(x[j], l) : 0;
    contributions[j] = s;
    if (s > score) score = s;
  }
  return { score, contributions };
}

/** Checks limits are numbers in a sensible order; returns a message or null. */
export function validateLimits(limits: unknown): string | null {
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits))
    return 'limits must be an object of field → {lowCritical, lowWarning, highWarning, highCritical}';
  for (const [field, l] of Object.entries(limits as Record<string, unknown>)) {
    if (typeof l !== 'object' || l === null) return `limits for ${field} must be an object`;
    const order = ['lowCritical', 'lowWarning', 'highWarning', 'highCritical']
      .map((k) => (l as Record<string, unknown>)[k])
      .filter((v) => v !== undefined);
    for (const v of order)
      if (typeof v !== 'number' || !Number.isFinite(v)) return `limits for ${field} must be finite numbers`;
    for (let i = 1; i < order.length; i++)
      if ((order[i] as number) < (order[i - 1] as number))
        return `limits for ${field} are not ordered lowCritical ≤ lowWarning ≤ highWarning ≤ highCritical`;
    for (const k of Object.keys(l))
      if (!['lowCritical', 'lowWarning', 'highWarning', 'highCritical'].includes(k))
        return `unknown limit ${k} for ${field}`;
  }
  return null;
}
