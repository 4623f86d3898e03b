// A Map of at most `max` entries that evicts the least recently set one: the bound every per-key cache and
// table keyed by what a client sends needs (device ids, tokens, addresses), written once. Setting a key again
// (or touch()) moves it to the end of the Map's order; a new key at the bound drops the first entry. The drop
// goes through FirstEntry, not `keys().next()`: a Map that a churn of new keys evicts from the front keeps the
// holes of the deleted entries until V8 rehashes it, and a fresh iterator skips all of them on every eviction
// (first-entry.ts: 8 µs per eviction at 10k entries), which is exactly the load an attacker chooses.
import { FirstEntry } from './first-entry';

export class BoundedMap<K, V> extends Map<K, V> {
  readonly max: number;
  /** entries dropped to stay within `max`, since creation */
  evicted = 0;
  private readonly oldest: FirstEntry<K, V>;

  constructor(max: number) {
    super();
    const whole = Math.floor(max);
    this.max = whole >= 1 ? whole : 1; // NaN too
    this.oldest = new FirstEntry<K, V>(this);
  }

  /** Stores `value` as the most recent entry; a new key at the bound first drops the least recent one. */
  override set(key: K, value: V): this {
    this.put(key, value);
    return this;
  }

  /** set(), returning the entry it dropped to make room, if it dropped one. */
  put(key: K, value: V): [K, V] | undefined {
    let dropped: [K, V] | undefined;
    if (super.has(key)) super.delete(key);
    else if (this.size >= this.max) {
      dropped = this.oldest.take();
      if (dropped) {
        super.delete(dropped[0]);
        this.evicted++;
      }
    }
    super.set(key, value);
    return dropped;
  }

  /** The value of `key`, made the most recent entry; undefined (nothing changed) when absent. */
  touch(key: K): V | undefined {
    if (!super.has(key)) return undefined;
    const value = super.get(key) as V;
    super.delete(key);
    super.set(key, value);
    return value;
  }
}
