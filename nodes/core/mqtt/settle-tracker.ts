// In-flight accounting for a source that acknowledges a message to its broker only once everything the
// message caused downstream is settled (durable, deliberately rejected or filtered). Pure logic: the
// Node-RED adapter (nodes/mqtt) feeds it the runtime's message events; nothing here knows Node-RED.
//
// Model. A message is identified by its id (Node-RED's _msgid, which the runtime keeps on clones and on
// messages a node passes on). It is `begin`-ed with a hold (the source's own send is still running), every
// delivery of it to a node adds one to that node's count (`delivered`), every completion of it by a node
// removes one (`completed`). When the hold is released and every count is back to zero, nothing is working
// on it any more: it is settled and acknowledged. Completions are matched per node, so a node that
// completes a message it never got through a counted delivery (a Catch or Complete node, which the runtime
// calls directly) cannot settle someone else's work. A completion with an error marks the message failed:
// it is never acknowledged (the broker keeps it and redelivers it on the next session), only reported.
// A message not settled within `timeoutMs` is reported once (it is still tracked, and acknowledged if it
// settles later: a full disk that recovers after minutes must not leave the broker's in-flight slots
// occupied). Entries the caller says can never be acknowledged any more (their connection is gone; the
// broker redelivers them) are forgotten once past the timeout, so a stuck node cannot leak the window.
//
// Bounded: at most `window` messages are tracked; `full` tells the source to stop taking more. An entry may
// stand for several broker messages (a batch, docs/batch-mode.md): it then weighs as many in the window.

export type SettleOutcome = 'acked' | 'failed' | 'timeout';

export interface TrackedInfo<A> {
  id: string;
  ack: A;
  startedAt: number;
  /** node ids still holding the message, with how many deliveries each */
  holders: Array<[string, number]>;
  error?: string;
}

export interface SettleTrackerOptions<A> {
  /** at most this many unsettled messages (default 1000) */
  window?: number;
  /** ms after which an unsettled message is reported and dropped from tracking (default 60000) */
  timeoutMs?: number;
  /** the message is settled without error: acknowledge it to the broker */
  onAck: (ack: A, id: string) => void;
  /** the message will not be acknowledged (a node failed on it, or it timed out) */
  onUnsettled?: (outcome: 'failed' | 'timeout', info: TrackedInfo<A>) => void;
  /** the window has room again after having been full */
  onRoom?: () => void;
  /** an overdue message was forgotten by sweep() (never acknowledged) */
  onForget?: (id: string) => void;
}

interface Entry<A> {
  ack: A;
  /** broker messages this entry stands for (1, or a batch's size) */
  weight: number;
  startedAt: number;
  held: boolean;
  reported: boolean;
  total: number;
  perNode: Map<string, number>;
  error?: string;
}

export interface SettleStats {
  inFlight: number;
  acked: number;
  failed: number;
  timedOut: number;
  window: number;
}

export class SettleTracker<A> {
  readonly window: number;
  readonly timeoutMs: number;
  private readonly entries = new Map<string, Entry<A>>();
  /** sum of the entries' weights: the broker messages in flight */
  private weight = 0;
  private readonly opts: SettleTrackerOptions<A>;
  private wasFull = false;
  private acked = 0;
  private failed = 0;
  private timedOut = 0;

  constructor(opts: SettleTrackerOptions<A>) {
    this.opts = opts;
    this.window = Math.max(1, Math.floor(opts.window ?? 1000));
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? 60000);
  }

  get inFlight(): number {
    return this.weight;
  }

  get full(): boolean {
    return this.weight >= this.window;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  stats(): SettleStats {
    return {
      inFlight: this.weight,
      acked: this.acked,
      failed: this.failed,
      timedOut: this.timedOut,
      window: this.window,
    };
  }

  /**
   * Starts tracking a message the source is about to send, held until `release(id)`. Returns false (and
   * tracks nothing) when the id is already tracked: ids must be fresh per message. `weight`: how many broker
   * messages the entry stands for (a batch's size).
   */
  begin(id: string, ack: A, now: number, weight = 1): boolean {
    if (this.entries.has(id)) return false;
    const w = Math.max(1, Math.floor(weight));
    this.entries.set(id, { ack, weight: w, startedAt: now, held: true, reported: false, total: 0, perNode: new Map() });
    this.weight += w;
    if (this.weight >= this.window) this.wasFull = true;
    return true;
  }

  /** The source's send has returned (every first-hop delivery is counted): drop its hold. */
  release(id: string): void {
    const e = this.entries.get(id);
    if (!e || !e.held) return;
    e.held = false;
    this.maybeSettle(id, e);
  }

  /** The runtime is handing the message to node `nodeId`. */
  delivered(id: string, nodeId: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.perNode.set(nodeId, (e.perNode.get(nodeId) ?? 0) + 1);
    e.total++;
  }

  /** Node `nodeId` is done with the message (with an error when it failed on it). */
  completed(id: string, nodeId: string, error?: unknown): void {
    const e = this.entries.get(id);
    if (!e) return;
    const n = e.perNode.get(nodeId);
    if (!n) return; // not a delivery we counted (Catch/Complete nodes get messages directly)
    if (n === 1) e.perNode.delete(nodeId);
    else e.perNode.set(nodeId, n - 1);
    e.total--;
    if (error !== undefined && error !== null && e.error === undefined) e.error = errorText(error);
    this.maybeSettle(id, e);
  }

  /**
   * Reports (once) messages older than timeoutMs, and forgets those among them for which `orphaned(ack)`
   * is true. Call it periodically with the current time. Returns how many were newly reported.
   */
  sweep(now: number, orphaned?: (ack: A) => boolean): number {
    let n = 0;
    let forgot = 0;
    for (const [id, e] of this.entries) {
      if (now - e.startedAt < this.timeoutMs) continue;
      if (!e.reported) {
        e.reported = true;
        this.timedOut++;
        n++;
        this.opts.onUnsettled?.('timeout', this.info(id, e));
      }
      if (orphaned?.(e.ack)) {
        this.entries.delete(id);
        this.weight -= e.weight;
        forgot++;
        this.opts.onForget?.(id);
      }
    }
    if (forgot) this.checkRoom();
    return n;
  }

  /** Messages past the timeout still tracked (reported, not settled). */
  get overdue(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.reported) n++;
    return n;
  }

  /** Forgets everything without acknowledging (the source is closing; the broker keeps the messages). */
  clear(): number {
    const n = this.weight; // broker messages, a batch counting as its size
    this.entries.clear();
    this.weight = 0;
    this.wasFull = false;
    return n;
  }

  private maybeSettle(id: string, e: Entry<A>): void {
    if (e.held || e.total > 0) return;
    this.entries.delete(id);
    this.weight -= e.weight;
    if (e.error !== undefined) {
      this.failed++;
      this.opts.onUnsettled?.('failed', this.info(id, e));
    } else {
      this.acked++;
      this.opts.onAck(e.ack, id);
    }
    this.checkRoom();
  }

  private checkRoom(): void {
    if (this.wasFull && this.weight < this.window) {
      this.wasFull = false;
      this.opts.onRoom?.();
    }
  }

  private info(id: string, e: Entry<A>): TrackedInfo<A> {
    const i: TrackedInfo<A> = { id, ack: e.ack, startedAt: e.startedAt, holders: [...e.perNode] };
    if (e.error !== undefined) i.error = e.error;
    return i;
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}
