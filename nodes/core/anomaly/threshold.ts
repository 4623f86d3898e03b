// Fixed per-field limits, what plants start with. Score per field: 0 inside the warning band, rising from
// 1 at a warning limit to 2 at the critical limit and on linearly beyond, so severity follows the limits.

export interface FieldLimits {
  lowCritical?: number;
  lowWarning?: number;
  highWarning?: number;
  highCritical?: number;
}

export type ThresholdLimits = Record<string, FieldLimits>;

/** Score of one value against its limits (0 when inside, ≥ 1 past a warning limit, ≥ 2 past a critical one). */
export function limitScore(value: number, l: FieldLimits): number {
  const high = exceed(value - (l.highWarning ?? l.highCritical ?? Infinity), warningToCritical(l.highWarning, l.highCritical));
  const low = exceed((l.lowWarning ?? l.lowCritical ?? -Infinity) - value, warningToCritical(l.lowCritical, l.lowWarning));
  return Math.max(high, low);
}

/** Distance between a warning and a critical limit; with only one of them, crossing it scores as critical. */
function warningToCritical(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined) return 0;
  return Math.abs(b - a);
}

function exceed(over: number, span: number): number {
  if (!(over >= 0)) return 0;
  if (span === 0) return 2 + over; // single limit: treat as critical so it is not under-reported
  return 1 + over / span;
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
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) return 'limits must be an object of field → {lowCritical, lowWarning, highWarning, highCritical}';
  for (const [field, l] of Object.entries(limits as Record<string, unknown>)) {
    if (typeof l !== 'object' || l === null) return `limits for ${field} must be an object`;
    const order = ['lowCritical', 'lowWarning', 'highWarning', 'highCritical']
      .map((k) => (l as Record<string, unknown>)[k])
      .filter((v) => v !== undefined);
    for (const v of order) if (typeof v !== 'number' || !Number.isFinite(v)) return `limits for ${field} must be finite numbers`;
    for (let i = 1; i < order.length; i++) if ((order[i] as number) < (order[i - 1] as number)) return `limits for ${field} are not ordered lowCritical ≤ lowWarning ≤ highWarning ≤ highCritical`;
    for (const k of Object.keys(l)) if (!['lowCritical', 'lowWarning', 'highWarning', 'highCritical'].includes(k)) return `unknown limit ${k} for ${field}`;
  }
  return null;
}
