// Bounded per-device (or per-equipment) state for the anomaly node. A flood of made-up device ids must
// neither grow memory without end nor lock real devices out for good (issue #10: a hard cap of 10,000 that
// was persisted refused every new device, also after a restart). So the table never refuses: when it is full,
// a new device takes the place of the least recently active one, and devices whose latest verdict was an
// anomaly (the ones alerting) go only after every idle one. With `isJunior`, states that cost little to rebuild
// (still calibrating) go before either: a churn of made-up ids, each sending a message or two, otherwise pushed
// out the fleet's trained models (red-team round 2026-12-06: 50,000 one-message ids left 2 of 18 trained devices
// scoring, a real spike fault unscored for 9 minutes while it re-calibrated on faulty data).
//
// Recency is three intrusive doubly-linked lists (junior, idle, alerting; core/linked-list.ts) threaded through the Map's
// entries: a touch relinks a few pointers, an eviction unlinks the head, both O(1). (Map delete + set on every
// point did the same with two hash operations and cost 18 % of a PCA step over 10k devices; the relink is a few
// ns.)
//
// Tenants (docs/tenants.md): a key `<tenant>/<device>` belongs to that tenant's partition, and the bound holds
// per partition: a tenant over its bound evicts only its own least recently active device, so one tenant's
// flood of new device ids never pushes out another tenant's devices. Without tenants there is one partition
// and the behaviour is the one above.
import { IntrusiveList, type Linked } from '../linked-list';
import { partitionOf } from '../tenant';

interface Entry<S> extends Linked<Entry<S>> {
  key: string;
  partition: string;
  state: S;
  /** the list the entry is in: its eviction group */
  list: IntrusiveList<Entry<S>>;
}

type List<S> = IntrusiveList<Entry<S>>;

export class DeviceStates<S> {
  private readonly map = new Map<string, Entry<S>>();
  private readonly junior: List<S> = new IntrusiveList();
  private readonly idle: List<S> = new IntrusiveList();
  private readonly alerting: List<S> = new IntrusiveList();
  private evictedCount = 0;
  /** entries per partition (tenant; '' without one) */
  private readonly partitions = new Map<string, number>();
  /** the entry of the last get(): the node's get → step → set for one point then needs one hash lookup */
  private last: Entry<S> | undefined;

  /**
   * `max` is the bound (≥ 1), per tenant when keys are scoped; `onEvict` sees every state pushed out; `isJunior`
   * tells a state that is evicted first (the anomaly node: one still calibrating).
   */
  constructor(
    public max: number,
    private readonly onEvict?: (key: string, state: S) => void,
    private readonly isJunior?: (state: S) => boolean
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
   * Stores `state` for `key` as the most recently active one, in the alerting group when `alerting` (else the
   * junior group when isJunior says so, else idle), evicting the least recently active state (junior ones
   * first, then idle ones) when the bound is exceeded.
   */
  set(key: string, state: S, alerting = false): void {
    const to = alerting ? this.alerting : this.isJunior?.(state) ? this.junior : this.idle;
    // `last` is always an entry still in the map (cleared whenever one leaves it)
    let e = this.last !== undefined && this.last.key === key ? this.last : this.map.get(key);
    if (e) {
      if (e.state !== state) e.state = state;
      // already the most recent of its group: nothing to relink (a device sending alone, bursts)
      if (e.list === to && to.tail === e) return;
      e.list.remove(e);
    } else {
      const partition = partitionOf(key);
      e = { key, partition, state, list: to, prev: null, next: null };
      this.map.set(key, e);
      const n = (this.partitions.get(partition) ?? 0) + 1;
      this.partitions.set(partition, n);
      to.push(e);
      while ((this.partitions.get(partition) ?? 0) > this.max) if (!this.evictOne(e)) break;
      return;
    }
    e.list = to;
    to.push(e);
  }

  /** Entries of one tenant ('' = keys without a tenant). */
  sizeOf(partition: string): number {
    return this.partitions.get(partition) ?? 0;
  }

  delete(key: string): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    e.list.remove(e);
    this.map.delete(key);
    this.uncount(e.partition);
    if (this.last === e) this.last = undefined;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.partitions.clear();
    this.last = undefined;
    this.junior.clear();
    this.idle.clear();
    this.alerting.clear();
  }

  /** Least recently active first, junior, then idle, then alerting: the order eviction would take them in. */
  *entries(): IterableIterator<[string, S]> {
    for (const list of [this.junior, this.idle, this.alerting]) {
      for (let e = list.head; e; e = e.next) yield [e.key, e.state];
    }
  }

  *values(): IterableIterator<S> {
    for (const [, s] of this.entries()) yield s;
  }

  private uncount(partition: string): void {
    const n = (this.partitions.get(partition) ?? 1) - 1;
    if (n > 0) this.partitions.set(partition, n);
    else this.partitions.delete(partition);
  }

  /** The oldest entry of `partition` in `list` other than `keep` (the head itself when there is one partition). */
  private static oldestOf<S>(list: List<S>, partition: string, keep: Entry<S>): Entry<S> | null {
    for (let e = list.head; e; e = e.next) if (e !== keep && e.partition === partition) return e;
    return null;
  }

  /**
   * Evicts the oldest junior state of keep's tenant, else its oldest idle one, else its oldest alerting one,
   * never `keep` (the one just stored) and never another tenant's.
   */
  private evictOne(keep: Entry<S>): boolean {
    let e: Entry<S> | null = null;
    for (const list of [this.junior, this.idle, this.alerting]) {
      e = DeviceStates.oldestOf(list, keep.partition, keep);
      if (e) break;
    }
    if (!e) return false;
    e.list.remove(e);
    this.map.delete(e.key);
    this.uncount(e.partition);
    if (this.last === e) this.last = undefined;
    this.evictedCount++;
    this.onEvict?.(e.key, e.state);
    return true;
  }
}
