// Bounded per-device (or per-equipment) state for the anomaly node. A flood of made-up device ids must
// neither grow memory without end nor lock real devices out for good (issue #10: a hard cap of 10,000 that
// was persisted refused every new device, also after a restart). So the table never refuses: when it is full,
// a new device takes the place of the least recently active one, and devices whose latest verdict was an
// anomaly (the ones alerting) go only after every idle one.
//
// Two Maps keep the recency order for free: a Map iterates in insertion order, so delete + set on every
// touch moves a key to the end and the first key is the least recently active (taken through FirstEntry,
// which keeps eviction O(1) amortised where `keys().next()` would not be).
import { FirstEntry } from '../first-entry';

export class DeviceStates<S> {
  private readonly idle = new Map<string, S>();
  private readonly alerting = new Map<string, S>();
  private readonly firstIdle = new FirstEntry(this.idle);
  private readonly firstAlerting = new FirstEntry(this.alerting);
  private evictedCount = 0;

  /** `max` is the bound (≥ 1); `onEvict` sees every state pushed out, e.g. to drop a pending fit. */
  constructor(
    public max: number,
    private readonly onEvict?: (key: string, state: S) => void,
  ) {
    this.max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.idle.size + this.alerting.size;
  }

  /** States dropped so far to stay within the bound. */
  get evictions(): number {
    return this.evictedCount;
  }

  get(key: string): S | undefined {
    return this.idle.get(key) ?? this.alerting.get(key);
  }

  has(key: string): boolean {
    return this.idle.has(key) || this.alerting.has(key);
  }

  /**
   * Stores `state` for `key` as the most recently active one, in the alerting group when `alerting`,
   * evicting the least recently active state (idle ones first) when the bound is exceeded.
   */
  set(key: string, state: S, alerting = false): void {
    // delete + set, not set alone: re-setting an existing key keeps its old position
    if (!this.idle.delete(key)) this.alerting.delete(key);
    (alerting ? this.alerting : this.idle).set(key, state);
    while (this.size > this.max) this.evictOne();
  }

  delete(key: string): boolean {
    return this.idle.delete(key) || this.alerting.delete(key);
  }

  clear(): void {
    this.idle.clear();
    this.alerting.clear();
  }

  /** Least recently active first, idle ones before alerting ones: the order eviction would take them in. */
  *entries(): IterableIterator<[string, S]> {
    yield* this.idle;
    yield* this.alerting;
  }

  values(): IterableIterator<S> {
    const self = this;
    return (function* () {
      for (const [, s] of self.entries()) yield s;
    })();
  }

  private evictOne(): void {
    const from = this.idle.size ? this.idle : this.alerting;
    const first = (from === this.idle ? this.firstIdle : this.firstAlerting).take();
    if (!first) return;
    const [key, state] = first;
    from.delete(key);
    this.evictedCount++;
    this.onEvict?.(key, state);
  }
}
