// Per-device sliding window: a fixed Float32Array ring of `window` steps × `features` values, holding
// standardised values. Memory per device is window*features*4 bytes plus a small object header.

export class SlidingWindow {
  readonly data: Float32Array;
  /** index of the slot the next step is written to */
  private head = 0;
  /** steps written so far, capped at `steps` */
  count = 0;

  constructor(
    readonly steps: number,
    readonly width: number
  ) {
    this.data = new Float32Array(steps * width);
  }

  get full(): boolean {
    return this.count >= this.steps;
  }

  /** Appends one step (already validated and scaled), overwriting the oldest when full. */
  push(values: ArrayLike<number>): void {
    const w = this.width;
    const off = this.head * w;
    for (let i = 0; i < w; i++) this.data[off + i] = values[i];
    this.head = (this.head + 1) % this.steps;
    if (this.count < this.steps) this.count++;
  }

  /**
   * Copies the window oldest-first (step-major) into `out` at `offset`. A window not yet full is padded at
   * the front with its oldest step, as if the device had idled at its first reading (RUL bundles with
   * `min_history`; the C-MAPSS evaluation pads short engines the same way).
   */
  copyTo(out: Float32Array, offset: number): void {
    const w = this.width;
    if (!this.full) {
      // not full: the steps sit at slots 0..count-1 in order, slot 0 the oldest
      const missing = this.steps - this.count;
      const first = this.data.subarray(0, w);
      for (let s = 0; s < missing; s++) out.set(first, offset + s * w);
      out.set(this.data.subarray(0, this.count * w), offset + missing * w);
      return;
    }
    // when full, head points at the oldest step; the tail part [head..end) comes first
    const split = this.head * w;
    out.set(this.data.subarray(split), offset);
    out.set(this.data.subarray(0, split), offset + this.data.length - split);
  }

  /**
   * The steps held, oldest first, as base64 of little-endian float32 (count × width values): what a saved
   * state keeps, exact and compact (a JSON number per float costs ~10× the time and 2× the bytes).
   * decodeRows() in saved-state.ts reads it back; push() the rows into a new window.
   */
  encode(): string {
    const w = this.width;
    const buf = Buffer.alloc(this.count * w * 4);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    // not full: slots 0..count-1 in order; full: head is the oldest slot
    const start = this.full ? this.head : 0;
    let o = 0;
    for (let s = 0; s < this.count; s++) {
      const off = ((start + s) % this.steps) * w;
      for (let i = 0; i < w; i++, o += 4) view.setFloat32(o, this.data[off + i], true);
    }
    return buf.toString('base64');
  }

  /** Re-expresses the stored values under a new scaler: z' = ((z*std + mean) - mean') / std'. */
  rescale(
    from: { mean: number[]; std: number[] } | undefined,
    to: { mean: number[]; std: number[] } | undefined
  ): void {
    const w = this.width;
    for (let s = 0; s < this.steps; s++) {
      for (let f = 0; f < w; f++) {
        const i = s * w + f;
        const raw = from ? this.data[i] * from.std[f] + from.mean[f] : this.data[i];
        this.data[i] = to ? (raw - to.mean[f]) / to.std[f] : raw;
      }
    }
  }
}
