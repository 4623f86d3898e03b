// Bounded per-device (or per-equipment) state for the anomaly node. A flood of made-up device ids must
// neither grow memory without end nor lock real devices out for good (issue #10: a hard cap of 10,000 that
// was persisted refused every new device, also after a restart). So the table never refuses: when it is full,
// a new device takes the place of the least recently active one, and devices whose latest verdict was an
// anomaly (the ones alerting) go only after every idle one.
//
// Recency is two intrusive doubly-linked lists (idle, alerting) threaded through the Map's entries: a touch
// relinks a few pointers, an eviction unlinks the head, both O(1). (Map delete + set on every point did the
// same with two hash operations and cost 18 % of a PCA step over 10k devices; the relink is a few ns.)

interface Entry<S> {
  key: string;
  state: S;
  alerting: boolean;
  prev: Entry<S> | null;
  next: Entry<S> | null;
}

class List<S> {
  head: Entry<S> | null = null;
  tail: Entry<S> | null = null;
  size = 0;

  push(e: Entry<S>): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.size++;
  }

  remove(e: Entry<S>): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    this.size--;
  }
}

export class DeviceStates<S> {
  private readonly map = new Map<string, Entry<S>>();
  private readonly idle = new List<S>();
  private readonly alerting = new List<S>();
  private evictedCount = 0;
  /** the entry of the last get(): the node's get → step → set for one point then needs one hash lookup */
  private last: Entry<S> | undefined;

  /** `max` is the bound (≥ 1); `onEvict` sees every state pushed out. */
  constructor(
    public max: number,
    private readonly onEvict?: (key: string, state: S) => void,
  ) {
    this.max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.map.size;
  }

  /** States dropped so far to stay within the bound. */
  get evictions(): number {
    return this.evictedCount;
  }

  get(key: string): S | undefined {
    this.last = this.map.get(key);
    return this.last?.state;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /**
   * Stores `state` for `key` as the most recently active one, in the alerting group when `alerting`,
   * evicting the least recently active state (idle ones first) when the bound is exceeded.
   */
  set(key: string, state: S, alerting = false): void {
    // `last` is always an entry still in the map (cleared whenever one leaves it)
    let e = this.last !== undefined && this.last.key === key ? this.last : this.map.get(key);
    if (e) {
      if (e.state !== state) e.state = state;
      const from = e.alerting ? this.alerting : this.idle;
      // already the most recent of its group: nothing to relink (a device sending alone, bursts)
      if (e.alerting === alerting && from.tail === e) return;
      from.remove(e);
    } else {
      e = { key, state, alerting, prev: null, next: null };
      this.map.set(key, e);
    }
    e.alerting = alerting;
    (alerting ? this.alerting : this.idle).push(e);
    while (this.map.size > this.max) this.evictOne(e);
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    (e.alerting ? this.alerting : this.idle).remove(e);
    this.map.delete(key);
    if (this.last === e) this.last = undefined;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.last = undefined;
    this.idle.head = this.idle.tail = this.alerting.head = this.alerting.tail = null;
    this.idle.size = this.alerting.size = 0;
  }

  /** Least recently active first, idle ones before alerting ones: the order eviction would take them in. */
  *entries(): IterableIterator<[string, S]> {
    for (const list of [this.idle, this.alerting]) {
      for (let e = list.head; e; e = e.next) yield [e.key, e.state];
    }
  }

  *values(): IterableIterator<S> {
    for (const [, s] of this.entries()) yield s;
  }

  /** Evicts the oldest idle state, else the oldest alerting one, never `keep` (the one just stored). */
  private evictOne(keep: Entry<S>): void {
    const list = this.idle.head && this.idle.head !== keep ? this.idle : this.alerting;
    const e = list.head === keep ? keep.next : list.head;
    if (!e) return;
    list.remove(e);
    this.map.delete(e.key);
    if (this.last === e) this.last = undefined;
    this.evictedCount++;
    this.onEvict?.(e.key, e.state);
  }
}
