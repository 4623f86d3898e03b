// A sensor that stops giving usable values: its points are rejected whole (missing_feature, not_numeric,
// bad_number), so nothing is scored, the device keeps sending (device health sees it ONLINE) and no alarm
// opens — a dead sensor reached the operator only as a counted reject (red-team round 2026-12-06: a pressure
// field absent for 120 readings, then null, then "NaN", never alerted). This watch counts each device's
// rejected points in a row and, from MISSING_ALARM_POINTS on, gives the alarm the alert node raises; the
// device's next scored point closes it as any alarm closes (`alarm: false`; an onnx result, which has no alarm
// layer, clears it by not being an anomaly). Method onnx had no such alarm until 2026-12-06.
import type { AnomalyResult } from '../contract';

/** Rejected points in a row (about half a minute at one point a second) before a sensor counts as missing. */
export const MISSING_ALARM_POINTS = 30;

/** The reject codes that mean "this sensor gave no usable value". */
export const MISSING_CODES: ReadonlySet<string> = new Set(['missing_feature', 'not_numeric', 'bad_number']);

export interface Gap {
  feature: string;
  points: number;
  /** this point is the one that reached the alarm count */
  opened: boolean;
}

/** Where the gaps are kept, by device: a WeakMap of the statistical methods' device states, or a bounded map. */
export interface GapStore<K> {
  get(key: K): Gap | undefined;
  set(key: K, gap: Gap): unknown;
  delete(key: K): unknown;
}

/**
 * Per device: how many of its points in a row were rejected for an unusable feature, and which feature the
 * latest named. The statistical methods key it by their device state (a WeakMap: the gap goes when the device
 * is evicted or reset); method onnx, whose device windows live in the bundle scorer, by the device's key in a
 * map bounded like the scorer's devices (a BoundedMap), forgotten on reset.
 */
export class MissingSensorWatch<K> {
  constructor(
    private readonly gaps: GapStore<K>,
    private readonly alarmPoints = MISSING_ALARM_POINTS
  ) {}

  /**
   * One more point of `state` rejected for `feature`; returns the gap once it has lasted `alarmPoints` points
   * (on that point and every one after), else null.
   */
  rejected(state: K, feature: string): Gap | null {
    let gap = this.gaps.get(state);
    if (!gap) this.gaps.set(state, (gap = { feature, points: 0, opened: false }));
    gap.feature = feature;
    gap.points++;
    gap.opened = gap.points === this.alarmPoints;
    return gap.points >= this.alarmPoints ? gap : null;
  }

  /** A usable point: the gap (if any) is over. */
  usable(state: K): void {
    this.gaps.delete(state);
  }
}

/** The anomaly result that carries a missing sensor's alarm to the alert node (output 3 only, never stored). */
export function missingSensorResult(method: string, gap: Gap): AnomalyResult {
  return {
    score: 0,
    threshold: 1,
    is_anomaly: true,
    severity: 'warning',
    method,
    contributions: {},
    alarm: true,
    incident: {
      reason: 'missing',
      severity: 'warning',
      points: gap.points,
      opened: gap.opened,
      feature: gap.feature,
    },
  };
}
