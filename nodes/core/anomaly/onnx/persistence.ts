// Persistence rule for bundle scores: the verdict uses the median of a device's last n window scores, so one
// unusual window (a spike, a dropped sample) does not alarm while a fault lasting more than n/2 windows does.
// The same rule as the statistical detectors' median smoothing, kept here because bundles are scored
// outside the detector.
export class PersistenceFilter {
  private readonly ring: Float64Array;
  private next = 0;
  private count = 0;
  private readonly sorted: Float64Array;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`persistence must be a positive integer, got ${size}`);
    this.ring = new Float64Array(size);
    this.sorted = new Float64Array(size);
  }

  /** Adds a raw score and returns the median of the last `size` (fewer while filling). */
  push(score: number): number {
    if (this.size === 1) return score;
    this.ring[this.next] = score;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
    const n = this.count;
    const s = this.sorted.subarray(0, n);
    for (let i = 0; i < n; i++) s[i] = this.ring[i];
    s.sort();
    return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  /** The scores held, oldest first (what a saved state keeps; push() them back in order). */
  recent(): number[] {
    const out: number[] = [];
    const start = this.count < this.size ? 0 : this.next;
    for (let i = 0; i < this.count; i++) out.push(this.ring[(start + i) % this.size]);
    return out;
  }
}
