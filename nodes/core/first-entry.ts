// The oldest entry of a Map used as a recency queue (delete + set moves a key to the end), in amortised O(1).
// `map.keys().next()` would start at the front every time and skip every deleted slot there: a Map that
// evicts from the front keeps thousands of such holes until V8 rehashes it (8 µs per eviction at 10k
// entries, measured). A long-lived iterator pays for each hole once; by the language spec it sees entries
// appended after it was created and never entries deleted before it reaches them, so where it stands is
// always the oldest live entry — provided the caller removes every entry it takes.
export class FirstEntry<K, V> {
  private it: IterableIterator<[K, V]> | null = null;

  constructor(private readonly map: Map<K, V>) {}

  /** The oldest entry, which the caller must then delete from the map (or undefined when it is empty). */
  take(): [K, V] | undefined {
    if (this.it) {
      const r = this.it.next();
      if (!r.done) return r.value;
    }
    // a finished iterator stays finished: start a new one over what the map holds now
    this.it = this.map.entries();
    const r = this.it.next();
    return r.done ? undefined : r.value;
  }
}
