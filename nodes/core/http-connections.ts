// The open connections of the HTTP server that carries the editor and the alert API, within two caps: one per
// remote address and one overall. Any client that can reach the port opens connections without a token and may
// hold each one by sending a header byte now and then (red-team round 2026-12-07: 20,000 of them took every file
// descriptor of Node-RED; the alert API and the editor stopped answering, notifications went out a minute late,
// and the alert journal, the spool, the replay journal and the context store failed with EMFILE).
//
// Like the embedded broker (core/mqtt/connection-table.ts, whose table this reuses), the bound never refuses: a
// connection beyond a cap takes the place of the one idle the longest — first among its own address's, so one
// address holding its cap evicts only itself; then overall. Refusing newcomers instead would hand the port to
// whoever filled it first. Activity is a request's head arriving and a response ending. Before it evicts, the
// bound asks the caller whether the candidate is still active after all (a request in flight, bytes read since it
// last looked: an upload, the editor's WebSocket) and, if so, keeps it as the most recent and looks at the next,
// at most MAX_SKIPS times per eviction (red-team round 2: without this, 100 bare connections from the operator's
// own address evicted a deploy in progress and a busy editor WebSocket). A connection that never sends a whole
// head stays the longest idle and goes first. Behind a reverse proxy every client has the proxy's address: the
// per-address cap then works as the overall one and still locks nobody out. Pure: the caller passes the clock
// and closes what it is told.
import { ConnectionTable, type TrackedConnection } from './mqtt/connection-table';

export interface HttpConnection<S> {
  readonly socket: S;
  readonly address: string;
  /** @internal its entries in the two tables */
  overall: TrackedConnection<HttpConnection<S>> | null;
  own: TrackedConnection<HttpConnection<S>> | null;
}

/**
 * Candidates found still active that one eviction passes over before it takes the longest idle anyway: bounds
 * the work per connection, and a flood of busy connections cannot make the bound refuse.
 */
export const MAX_SKIPS = 8;

export interface HttpConnectionLimits {
  /** connections kept at most (≥ 1) */
  maxConnections: number;
  /** connections kept at most per remote address (≥ 1, ≤ maxConnections) */
  maxPerAddress: number;
}

export class HttpConnectionBound<S> {
  private readonly overall: ConnectionTable<HttpConnection<S>>;
  private readonly byAddress = new Map<string, ConnectionTable<HttpConnection<S>>>();
  readonly limits: HttpConnectionLimits;
  private evictedCount = 0;

  constructor(limits: HttpConnectionLimits) {
    for (const [name, v] of Object.entries(limits))
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number ≥ 1, not ${v}`);
    this.limits = {
      maxConnections: limits.maxConnections,
      maxPerAddress: Math.min(limits.maxPerAddress, limits.maxConnections),
    };
    this.overall = new ConnectionTable(this.limits.maxConnections);
  }

  /** Open connections tracked. */
  get size(): number {
    return this.overall.size;
  }

  /** Remote addresses with open connections. */
  get addresses(): number {
    return this.byAddress.size;
  }

  /** Connections evicted so far to stay within the caps. */
  get evictions(): number {
    return this.evictedCount;
  }

  /**
   * Tracks a connection that just opened, as the most recently active. Returns the connections evicted to make
   * room (at most two: one of its address, one overall), never the new one: the caller closes them.
   */
  add(
    socket: S,
    address: string,
    now: number,
    stillActive: (socket: S) => boolean = () => false
  ): { connection: HttpConnection<S>; evicted: HttpConnection<S>[] } {
    const connection: HttpConnection<S> = { socket, address, overall: null, own: null };
    const evicted: HttpConnection<S>[] = [];
    let own = this.byAddress.get(address);
    if (!own) {
      own = new ConnectionTable(this.limits.maxPerAddress);
      this.byAddress.set(address, own);
    }
    this.passOverActive(own, now, stillActive);
    const a = own.add(connection, now);
    connection.own = a.entry;
    if (a.evicted) evicted.push(this.forget(a.evicted.conn));
    this.passOverActive(this.overall, now, stillActive);
    const o = this.overall.add(connection, now);
    connection.overall = o.entry;
    if (o.evicted) evicted.push(this.forget(o.evicted.conn));
    this.evictedCount += evicted.length;
    return { connection, evicted };
  }

  /** When `table` is about to evict: candidates still active become the most recent, at most MAX_SKIPS of them. */
  private passOverActive(
    table: ConnectionTable<HttpConnection<S>>,
    now: number,
    stillActive: (socket: S) => boolean
  ): void {
    if (table.size < table.max) return;
    for (let i = 0; i < MAX_SKIPS; i++) {
      const candidate = table.longestIdle();
      if (!candidate || !stillActive(candidate.conn.socket)) return;
      this.touch(candidate.conn, now);
    }
  }

  /** The connection did something: it becomes the most recently active, overall and among its address's. */
  touch(c: HttpConnection<S>, now: number): void {
    if (c.overall) this.overall.touch(c.overall, now);
    if (c.own) this.byAddress.get(c.address)?.touch(c.own, now);
  }

  /** The connection closed; false when it was no longer tracked (evicted, or removed before). */
  remove(c: HttpConnection<S>): boolean {
    if (!c.overall && !c.own) return false;
    this.forget(c);
    return true;
  }

  /** Drops a connection from both tables (one of them may have dropped it already, as its eviction). */
  private forget(c: HttpConnection<S>): HttpConnection<S> {
    if (c.overall) this.overall.remove(c.overall);
    const own = this.byAddress.get(c.address);
    if (own && c.own) {
      own.remove(c.own);
      if (own.size === 0) this.byAddress.delete(c.address);
    }
    c.overall = null;
    c.own = null;
    return c;
  }
}
