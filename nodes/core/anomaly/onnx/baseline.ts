// A device's own baseline for RUL bundles with meta.baseline_cycles B: the running sum and count of the raw
// values of its first B rows (every feature but the age), which the model reads as its second input, scaled
// like the window. Pure; kept, evicted and saved with the device's window (BundleScorer's DeviceState).
//
// The rule (docs/onnx-bundles.md, fifth round): with an age feature only rows of age ≤ B count, so a device
// first seen mid-life never completes its baseline and gets no RUL from such a bundle (the model was trained on
// offsets from an engine's first B cycles; a baseline taken later would give a wrong number, not a worse one);
// an age lower than the last one is a new life and starts the baseline afresh; the same age again (a
// redelivered row) counts once. Without an age feature the
// first B rows seen form the baseline.

/** A saved baseline (SavedDevice.base). */
export interface SavedBaseline {
  /** the bundle's baseline_cycles it was kept for (dropped on restore when the bundle's differs) */
  cycles: number;
  /** rows summed so far (≤ cycles) */
  count: number;
  /** raw sums per baselined feature */
  sum: number[];
  /** the last age seen, when the bundle has an age feature */
  age?: number;
}

export class DeviceBaseline {
  readonly sum: Float64Array;
  count = 0;
  /** the last age seen (-Infinity: none yet, or no age feature) */
  lastAge = -Infinity;

  constructor(
    readonly cycles: number,
    width: number
  ) {
    this.sum = new Float64Array(width);
  }

  get complete(): boolean {
    return this.count >= this.cycles;
  }

  /** True when it can no longer complete: the device's age has reached B with fewer than B rows counted. */
  get stuck(): boolean {
    return !this.complete && this.lastAge >= this.cycles;
  }

  /** Counts one raw row (its values at `cols`) if it belongs to the baseline; `age` when the bundle has one. */
  push(raw: ArrayLike<number>, cols: number[], age?: number): void {
    if (age !== undefined) {
      // the same age again (a redelivered row) is not counted twice
      if (age === this.lastAge) return;
      if (age < this.lastAge) {
        this.sum.fill(0);
        this.count = 0;
      }
      this.lastAge = age;
      if (age > this.cycles) return;
    }
    if (this.complete) return;
    for (let k = 0; k < cols.length; k++) this.sum[k] += raw[cols[k]];
    this.count++;
  }

  /** The baseline as the model's second input: (mean − scaler mean) / scaler std per feature, at `offset`. */
  writeScaled(
    cols: number[],
    scaler: { mean: number[]; std: number[] } | undefined,
    out: Float32Array,
    offset: number
  ): void {
    for (let k = 0; k < cols.length; k++) {
      const m = this.sum[k] / Math.max(1, this.count);
      out[offset + k] = scaler ? (m - scaler.mean[cols[k]]) / scaler.std[cols[k]] : m;
    }
  }

  toJSON(): SavedBaseline {
    const out: SavedBaseline = { cycles: this.cycles, count: this.count, sum: Array.from(this.sum) };
    if (Number.isFinite(this.lastAge)) out.age = this.lastAge;
    return out;
  }

  /** A saved baseline back, or null when it does not fit (another B or width, bad counts). */
  static restore(saved: SavedBaseline, cycles: number, width: number): DeviceBaseline | null {
    if (saved.cycles !== cycles || saved.sum.length !== width) return null;
    if (!Number.isInteger(saved.count) || saved.count < 0 || saved.count > cycles) return null;
    // re-checked here: restore() may be handed entries that did not come through parseSavedDevice
    if (!saved.sum.every(Number.isFinite) || (saved.age !== undefined && !Number.isFinite(saved.age))) return null;
    const b = new DeviceBaseline(cycles, width);
    b.sum.set(saved.sum);
    b.count = saved.count;
    if (saved.age !== undefined) b.lastAge = saved.age;
    return b;
  }
}
