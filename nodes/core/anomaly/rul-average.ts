// Temporal ensembling of remaining-useful-life predictions: the RUL reported at age t is the mean, over the
// predictions made in the last K steps of age (t − K, t], of each prediction minus the age since it was made
// (a prediction of 80 made 3 cycles ago says 77 now). It averages away much of the jitter of single-window
// predictions without a bigger model. One mechanism for the node (BundleScorer, per device) and for
// eval:cmapss, which scores exactly what the node outputs.

/** Largest `k` (meta.json's bound on rul_average). */
export const MAX_RUL_AVERAGE = 1000;

/**
 * Why `ages`/`preds` are not a history a RulAverage of `k` could hold (a saved one is input), or null: at
 * most k finite ages, strictly increasing and spanning fewer than k steps, and one finite prediction per age.
 */
export function rulHistoryProblem(k: number, ages: unknown, preds: unknown): string | null {
  const finite = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length <= k && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!finite(ages)) return `ages must be at most ${k} finite numbers`;
  if (!finite(preds) || preds.length !== ages.length) return 'preds must be finite numbers, one per age';
  for (let i = 1; i < ages.length; i++) if (!(ages[i] > ages[i - 1])) return 'ages must be strictly increasing';
  if (ages.length && ages[ages.length - 1] - ages[0] >= k) return `ages must span fewer than ${k} steps`;
  return null;
}

/** Per-device history of recent RUL predictions, at most `k` of them (pure, no timers). */
export class RulAverage {
  private ages: number[] = [];
  private preds: number[] = [];

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`rul average must be a positive integer, got ${k}`);
  }

  /** Predictions currently held (for tests and bounds: never more than k). */
  get size(): number {
    return this.ages.length;
  }

  /** The age of the latest prediction held, if any (without the copy history() makes: read per scored point). */
  get lastAge(): number | undefined {
    return this.ages.length ? this.ages[this.ages.length - 1] : undefined;
  }

  /** The predictions held and the ages they were made at, oldest first (copies: what a saved state keeps). */
  history(): { ages: number[]; preds: number[] } {
    return { ages: this.ages.slice(), preds: this.preds.slice() };
  }

  /**
   * Takes a saved history() back, so the next push() averages as if there had been no restart. Throws on a
   * history this average could not have held (check saved input with rulHistoryProblem first).
   */
  restore(ages: readonly number[], preds: readonly number[]): void {
    const problem = rulHistoryProblem(this.k, ages, preds);
    if (problem) throw new Error(`rul average: ${problem}`);
    this.ages = ages.slice();
    this.preds = preds.slice();
  }

  /** Forgets every prediction (a new series, a reset device). */
  reset(): void {
    this.ages = [];
    this.preds = [];
  }

  /**
   * Records the prediction `rul` made at age `age` (the device's cycle, or its count of scored points) and
   * returns the averaged RUL at that age. An age lower than the last one starts a new series (the device
   * was overhauled or replaced, or its counter restarted): the history is dropped. The same age again
   * replaces the prediction made at it (a point sent twice). Predictions made K or more steps ago fall
   * out, so a gap in the ages of K or more steps leaves the new prediction alone, and a shorter gap ages
   * the older ones by the steps actually elapsed. With k = 1 the prediction is returned unchanged.
   */
  push(age: number, rul: number): number {
    if (!Number.isFinite(age)) throw new Error(`rul average: the age must be a finite number, got ${age}`);
    if (this.k === 1) return rul;
    const n = this.ages.length;
    if (n > 0) {
      const last = this.ages[n - 1];
      if (age < last) this.reset();
      else if (age === last) {
        this.ages.pop();
        this.preds.pop();
      }
    }
    this.ages.push(age);
    this.preds.push(rul);
    let drop = 0;
    while (age - this.ages[drop] >= this.k) drop++;
    if (drop) {
      this.ages.splice(0, drop);
      this.preds.splice(0, drop);
    }
    let sum = 0;
    for (let i = 0; i < this.ages.length; i++) sum += this.preds[i] - (age - this.ages[i]);
    return sum / this.ages.length;
  }
}

/**
 * meta.rul_lift: above `from`, the RUL reported rises `slope` times as fast as the (averaged) prediction. A net
 * trained on a target capped at C (piece-wise linear) cannot say more than C, and it says less than C for most
 * young engines, so every engine further from failure than C is reported short — the largest error of the
 * C-MAPSS protocol, whose truths reach ~150. `moby-train --lift on` fits the two numbers on its own training
 * engines (fitRulLift; not the default, docs/onnx-bundles.md, seventh round); a bundle without rul_lift
 * reports the prediction as is.
 */
export interface RulLift {
  from: number;
  slope: number;
}

/** The RUL reported for the (averaged) prediction `rul`: unchanged up to lift.from, steeper above it. */
export function liftRul(lift: RulLift | undefined, rul: number): number {
  return lift && rul > lift.from ? lift.from + lift.slope * (rul - lift.from) : rul;
}
