// Temporal ensembling of remaining-useful-life predictions: the RUL reported at age t is the mean, over the
// predictions made in the last K steps of age (t − K, t], of each prediction minus the age since it was made
// (a prediction of 80 made 3 cycles ago says 77 now). It averages away much of the jitter of single-window
// predictions without a bigger model. One mechanism for the node (BundleScorer, per device) and for
// eval:cmapss, which scores exactly what the node outputs.

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
