// The open connections of `npm start`'s embedded broker, in order of their last activity, within a cap. Any
// local process can open TCP connections to the broker, and aedes keeps each one (a socket, a file descriptor,
// a client with its parser and timers) for as long as the peer keeps it open: a client that connects without a
// keepalive and says nothing more is held forever. Without a bound, thousands of idle connections exhaust the
// process's memory or file descriptors, and then nobody — no device, not the pipeline — connects any more.
//
// So the table never refuses: a connection that arrives when the cap is reached takes the place of the one that
// has been idle the longest. Refusing the newcomer instead would hand the broker to whoever opened the cap's
// worth of connections first, and a device reconnecting after a network drop would be locked out for as long
// as the flood lasts; with eviction it always gets in (it may be evicted in turn only once every other
// connection has been active more recently than it). The pipeline's own connections (the generated login) are
// never evicted and are not counted against the cap: only the holder of that login opens them, one per
// partition, and the data path depends on them.
//
// Recency is an intrusive doubly-linked list (core/linked-list.ts): touch, add, remove and finding the longest
// idle connection are O(1). Pure: the caller passes the clock and closes what it is told to evict
// (scripts/lib/embedded-broker.js).
import { IntrusiveList, type Linked } from '../linked-list';

/** One open connection; `conn` is whatever the caller closes it by. */
export interface TrackedConnection<C> extends Linked<TrackedConnection<C>> {
  readonly conn: C;
  /** when the connection opened (the caller's clock, ms) */
  readonly openedAt: number;
  /** when it last sent anything (the caller's clock, ms) */
  lastActiveAt: number;
  /** the pipeline's (never evicted, not counted against the cap) */
  pipeline: boolean;
  /** false once removed or evicted: later calls for it do nothing */
  tracked: boolean;
}

export interface Admission<C> {
  /** the new connection's entry: pass it to touch, markPipeline and remove */
  entry: TrackedConnection<C>;
  /** the connection evicted to make room (no longer in the table), or null */
  evicted: TrackedConnection<C> | null;
}

export class ConnectionTable<C> {
  /** everyone but the pipeline, longest idle first */
  private readonly others = new IntrusiveList<TrackedConnection<C>>();
  private readonly pipelines = new IntrusiveList<TrackedConnection<C>>();
  private evictedCount = 0;
  /** connections besides the pipeline's kept at most (≥ 1) */
  readonly max: number;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`a connection cap must be a whole number ≥ 1, not ${max}`);
    this.max = max;
  }

  /** Open connections tracked, the pipeline's included. */
  get size(): number {
    return this.others.size + this.pipelines.size;
  }

  /** The pipeline's open connections. */
  get pipelineSize(): number {
    return this.pipelines.size;
  }

  /** Connections evicted so far to stay within the cap. */
  get evictions(): number {
    return this.evictedCount;
  }

  /**
   * Tracks a connection that just opened as the most recently active one. When the others already number `max`,
   * the longest idle of them is evicted first (never the new one, never the pipeline's) and returned: the
   * caller closes it.
   */
  add(conn: C, now: number): Admission<C> {
    let evicted: TrackedConnection<C> | null = null;
    if (this.others.size >= this.max && this.others.head) {
      evicted = this.others.head;
      this.others.remove(evicted);
      evicted.tracked = false;
      this.evictedCount++;
    }
    const entry: TrackedConnection<C> = {
      conn,
      openedAt: now,
      lastActiveAt: now,
      pipeline: false,
      tracked: true,
      prev: null,
      next: null,
    };
    this.others.push(entry);
    return { entry, evicted };
  }

  /** The connection sent something: it becomes the most recently active. */
  touch(entry: TrackedConnection<C>, now: number): void {
    if (!entry.tracked) return;
    entry.lastActiveAt = now;
    if (!entry.pipeline) this.others.moveToTail(entry);
  }

  /** The connection logged in as the pipeline: from now on it is never evicted and not counted against the cap. */
  markPipeline(entry: TrackedConnection<C>): void {
    if (!entry.tracked || entry.pipeline) return;
    this.others.remove(entry);
    entry.pipeline = true;
    this.pipelines.push(entry);
  }

  /** The connection closed; false when it was no longer tracked (evicted, or removed before). */
  remove(entry: TrackedConnection<C>): boolean {
    if (!entry.tracked) return false;
    (entry.pipeline ? this.pipelines : this.others).remove(entry);
    entry.tracked = false;
    return true;
  }

  /** The connection the next eviction would take, or null when there is none besides the pipeline's. */
  longestIdle(): TrackedConnection<C> | null {
    return this.others.head;
  }

  /** Every connection but the pipeline's, longest idle first: the order evictions take them in. */
  *evictionOrder(): IterableIterator<C> {
    for (let e = this.others.head; e; e = e.next) yield e.conn;
  }
}
