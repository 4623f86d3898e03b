// The loss-free batching writer: lines are batched (batchSize or flushInterval, whichever first), sent one
// request at a time, and a batch is only forgotten after the database answered 2xx.
//
// Flow of a batch: memory queue → send. If a send fails with something worth retrying (connection error,
// timeout, 408, 429, 5xx) or with an auth/bucket problem (401/403/404, which an operator fixes without
// restarting), the batch and everything queued after it go to the disk spool, and from then on new batches
// are appended to the spool too, so order is kept; the pump replays the spool head with exponential
// backoff (Retry-After honoured) until it is empty, then returns to direct writes. A 400/422 means a bad
// point. When the answer names what it refused (InfluxDB's field type conflicts and invalid names:
// refusals.ts), every line of the request it picks out is handed to onReject at once, the rest is sent again
// once, and the refusal is remembered (10 min): later lines it picks out go to onReject without a request.
// Otherwise the batch is bisected (re-sending lines InfluxDB already took is harmless, same series+timestamp
// overwrites) until the refused lines are isolated, within a budget of requests per batch; what the budget
// leaves unresolved goes to onReject too. Refused lines are never retried. 413 splits the batch the same way,
// down to SMALL_BODY_413_BYTES: a 413 for less than that is the server refusing everything, retried.
import type { Reject } from '../contract';
import type { Spool } from './spool';
import { deviceIdOfLine } from './line-protocol';
import { SpoolShare } from './spool-share';
import { isRetryableStatus, retryDelay, type RetryPolicy } from '../retry';
import { entryMatches, readRefusal, RefusalMemory, DEFAULT_REFUSAL_TTL_MS, type RememberedRefusal } from './refusals';
import { clockTime } from '../span';

/**
 * Sends one body of newline-separated line protocol; resolves on 2xx, rejects with the server's error.
 * `lines`, when present, sends the same body for lines not yet joined (transport.ts: without one string of
 * the whole request), and the writer uses it.
 */
export type WriteBodyFn = ((body: string) => Promise<void>) & {
  lines?: (lines: readonly string[]) => Promise<void>;
};

export type FailureKind = 'retry' | 'config' | 'reject' | 'too_large';

export interface Failure {
  kind: FailureKind;
  status?: number;
  reason: string;
  /** delay the server asked for (Retry-After), ms */
  retryAfterMs?: number;
  /** lines a 400 names as refused, as sent, with the reason for each (InfluxDB 3: `data[].original_line`) */
  lines?: Map<string, string>;
}

/** Classifies an error thrown by WriteBodyFn (an influxdb-client HttpError, a Node socket error or a timeout). */
export function classifyFailure(err: unknown): Failure {
  const e = (err ?? {}) as {
    statusCode?: unknown;
    message?: unknown;
    body?: unknown;
    json?: { message?: unknown; error?: unknown; data?: unknown };
    retryAfter?: () => number;
    code?: unknown;
  };
  // v2 answers {"code","message"}, the v1 API {"error"}
  const reason =
    typeof e.json?.message === 'string'
      ? e.json.message
      : typeof e.json?.error === 'string'
        ? e.json.error
        : typeof e.message === 'string' && e.message
          ? e.message
          : String(err);
  if (typeof e.statusCode === 'number') {
    const status = e.statusCode;
    const ra = typeof e.retryAfter === 'function' ? e.retryAfter() : 0;
    const retryAfterMs = ra > 0 ? ra * 1000 : undefined;
    if (status === 400 || status === 422) {
      const f: Failure = { kind: 'reject', status, reason };
      // InfluxDB 3 lists the refused lines: {"error": "partial write of line protocol occurred", "data": [{original_line, …}]}
      if (Array.isArray(e.json?.data)) {
        const lines = new Map<string, string>();
        for (const d of e.json.data as Array<{ original_line?: unknown; error_message?: unknown } | null>) {
          if (typeof d?.original_line !== 'string') continue;
          lines.set(d.original_line, typeof d.error_message === 'string' ? `${reason}: ${d.error_message}` : reason);
        }
        if (lines.size) f.lines = lines;
      }
      return f;
    }
    if (status === 413) return { kind: 'too_large', status, reason };
    if (status === 401 || status === 403 || status === 404) return { kind: 'config', status, reason };
    if (isRetryableStatus(status)) return { kind: 'retry', status, reason, retryAfterMs };
    // other 4xx: the request itself is wrong for this server; keep the data and keep trying slowly
    return { kind: 'config', status, reason };
  }
  return { kind: 'retry', reason: typeof e.code === 'string' ? `${e.code}: ${reason}` : reason };
}

/** Seeds: 1 → 2 → 4 → 8 → 16 s; a server's Retry-After is honoured up to 5 minutes. */
export const DEFAULT_BACKOFF: RetryPolicy = {
  initialMs: 1000,
  maxMs: 16000,
  factor: 2,
  jitter: 0.2,
  maxRetryAfterMs: 300000,
};

/**
 * A body this small answered 413 is not too large for any real write endpoint (InfluxDB takes 25 MB, Victoria-
 * Metrics 32 MB, nginx's default is 1 MB): the server or a proxy in front of it is refusing everything for now.
 * Splitting further would refuse every line as too large — a tester's proxy answering 413 for 20 s destroyed a
 * whole 11,079-point backlog in 22,163 requests (red-team round 2026-12-05) — so such a 413 is retried with
 * backoff like a 503, the data kept.
 */
export const SMALL_BODY_413_BYTES = 64 * 1024;

/** Bytes of the request body `lines` make (UTF-8, newline-joined); only on the failure path. */
function bodyBytes(lines: readonly string[]): number {
  let n = Math.max(0, lines.length - 1);
  for (const l of lines) n += Buffer.byteLength(l);
  return n;
}

/** Extra requests a refused request of n lines may cost: what isolating one bad line by bisection takes. */
export function defaultSplitBudget(lines: number): number {
  return 2 * Math.ceil(Math.log2(Math.max(1, lines))) + 2;
}

export type WriterState = 'connecting' | 'connected' | 'retrying' | 'unauthorized' | 'disabled' | 'closed';

/** Told once when every line of one add() is durable: acknowledged by the database, or fsync'd in the spool. */
export type DurableFn = () => void;

// One add() call's lines may end up in several batches; its callback fires when the last one is durable.
interface Waiter {
  pending: number;
  /** some of its lines are still in the batching buffer */
  inBuffer: boolean;
  /** buffer index range of its lines still in the buffer */
  start: number;
  end: number;
  cb: DurableFn;
}

interface Batch {
  lines: string[];
  waiters: Waiter[] | null;
  /** how many of `lines` belong to an add() with a callback */
  unsettled: number;
}

/** One request's worth of queued batches; a waiter spread over several parts now waits for one batch. */
function mergeBatches(parts: Batch[]): Batch {
  const all: Waiter[] = [];
  let unsettled = 0;
  for (const p of parts) {
    if (p.waiters) all.push(...p.waiters);
    unsettled += p.unsettled;
  }
  // a waiter spread over several parts counted one pending batch per part: now it is one batch
  const times = new Map<Waiter, number>();
  for (const w of all) times.set(w, (times.get(w) ?? 0) + 1);
  const waiters = [...times.keys()];
  for (const [w, n] of times) w.pending -= n - 1;
  return {
    lines: ([] as string[]).concat(...parts.map((b) => b.lines)),
    waiters: waiters.length ? waiters : null,
    unsettled,
  };
}

/** add() refused lines: memory is at its bound because the disk spool cannot be written. */
export class WriterFullError extends Error {
  readonly code = 'WRITER_FULL';
}

export interface WriterStats {
  state: WriterState;
  /** points held in memory (batching buffer, queued and in-flight batches) */
  buffered: number;
  /** points waiting in the disk spool */
  spooled: number;
  written: number;
  /** lines the server refused, all told (diverted and unresolved included) */
  rejected: number;
  /** of those, lines matching a refusal the server had named recently: rejected without a request */
  diverted: number;
  /** of those, lines of a refused request the bisection budget did not resolve (see splitBudget) */
  unresolved: number;
  /** points dropped from the spool because its bound was hit, plus points refused by add() (see refused) */
  dropped: number;
  /** points add() refused because memory was at its bound while the spool could not be written */
  refused: number;
  /**
   * of `dropped`, the newest points of devices over twice their even share of the spool, not spooled while it was
   * more than half full (spool-share.ts), and the last such device
   */
  droppedOverShare: number;
  overShareDevice?: string;
  /** the disk spool's last write error while it is failing (ENOSPC, EIO, EROFS …), else undefined */
  spoolError?: string;
  /** points held in memory waiting for durability (database or spool) with a callback attached */
  unsettled: number;
  lastError?: string;
  /** epoch ms of the next retry while retrying */
  retryAt?: number;
}

export interface WriterOptions {
  /** null: no database configured, everything goes to the spool */
  send: WriteBodyFn | null;
  spool: Spool;
  batchSize?: number;
  flushIntervalMs?: number;
  /** batches held in memory while a request is in flight before they go to the spool (default 100) */
  maxQueuedBatches?: number;
  /** queued or spooled batches are combined into requests of up to this many lines (default 5000) */
  maxLinesPerRequest?: number;
  backoff?: Partial<RetryPolicy>;
  /**
   * a line the server refused (400/422/413 for that line alone, or named by its answer: `influx_<status>`),
   * refused recently for the same reason and not sent (`influx_diverted`), or left in a refused group when the
   * split budget ran out (`influx_unresolved`)
   */
  onReject?: (line: string, reject: Reject) => void;
  /** how long a refusal the server named is remembered, ms (default 600000; 0: only within its request) */
  refusalTtlMs?: number;
  /**
   * extra requests a refused request of n lines may cost while its refused lines are isolated; default
   * 2·⌈log2 n⌉ + 2, what isolating one unnamed bad line takes. Beyond it the unresolved lines are rejected.
   */
  splitBudget?: (lines: number) => number;
  /** a batch was acknowledged by the server */
  onWritten?: (points: number, seconds: number) => void;
  /** the disk spool failed (the data concerned stays in memory for now) */
  onError?: (err: Error) => void;
  /**
   * When an add() waits for durability (a source acknowledges messages only then), its partial batch is
   * cut after this many ms instead of flushIntervalMs (default 20): an unacknowledged message holds one of
   * the broker's in-flight slots, so waiting 5 s for a full batch would throttle the whole stream.
   */
  durableFlushMs?: number;
  /** on close, keep taking late lines until none arrived for this long (default 100 ms) */
  closeQuietMs?: number;
  /** the spool takes writes again after a failure (the backpressure episode is over) */
  onRecovered?: () => void;
  /** something operators see changed (state, counts) */
  onChange?: () => void;
}

export class InfluxWriter {
  private readonly send: WriteBodyFn | null;
  private readonly spool: Spool;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueuedBatches: number;
  private readonly maxLinesPerRequest: number;
  private readonly backoff: RetryPolicy;
  private readonly opts: WriterOptions;
  private buffer: string[] = [];
  /** waiters with lines in `buffer` */
  private bufWaiters: Waiter[] = [];
  private queue: Batch[] = [];
  /** batches bound for the spool, appended together at the end of the event-loop turn */
  private toSpool: Batch[] = [];
  private spillScheduled = false;
  private inFlight: Batch | null = null;
  private inFlightFromSpool = false;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private closing = false;
  private closed = false;
  private state: WriterState;
  private lastError?: string;
  private retryAt?: number;
  private written = 0;
  private rejectedCount = 0;
  private divertedCount = 0;
  private unresolvedCount = 0;
  private readonly refusals: RefusalMemory;
  private readonly splitBudget: (lines: number) => number;
  private lastAddAt = 0;
  private refusedPoints = 0;
  /** each device's share of the spool: one device cannot push out the others' points (spool-share.ts) */
  private readonly share = new SpoolShare();
  private overSharePoints = 0;
  private overShareDevice?: string;
  private spoolError: string | null = null;
  private spoolRetryTimer: NodeJS.Timeout | null = null;
  private spoolFailures = 0;
  private unsettledPoints = 0;
  /** flush a partial batch this soon when someone waits for durability (0 = at the end of the event-loop turn) */
  private readonly durableFlushMs: number;
  private durableTimer: NodeJS.Timeout | null = null;
  private immediateScheduled = false;
  private closeFailed = false;

  constructor(opts: WriterOptions) {
    this.opts = opts;
    this.send = opts.send;
    this.spool = opts.spool;
    this.batchSize = Math.max(1, Math.floor(opts.batchSize ?? 100));
    this.flushIntervalMs = Math.max(1, opts.flushIntervalMs ?? 5000);
    this.maxQueuedBatches = Math.max(1, opts.maxQueuedBatches ?? 100);
    this.maxLinesPerRequest = Math.max(this.batchSize, opts.maxLinesPerRequest ?? 5000);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.durableFlushMs = Math.max(0, opts.durableFlushMs ?? 20);
    this.refusals = new RefusalMemory(Math.max(0, opts.refusalTtlMs ?? DEFAULT_REFUSAL_TTL_MS));
    this.splitBudget = opts.splitBudget ?? defaultSplitBudget;
    this.state = this.send ? 'connecting' : 'disabled';
    if (this.send && this.spool.batches > 0) this.kick(); // replay what a previous run left behind
  }

  stats(): WriterStats {
    // a spooled batch in flight is still counted as spooled, not twice
    let buffered = this.buffer.length + (this.inFlight && !this.inFlightFromSpool ? this.inFlight.lines.length : 0);
    for (const b of this.queue) buffered += b.lines.length;
    for (const b of this.toSpool) buffered += b.lines.length;
    const s: WriterStats = {
      state: this.state,
      buffered,
      spooled: this.spool.points,
      written: this.written,
      rejected: this.rejectedCount,
      diverted: this.divertedCount,
      unresolved: this.unresolvedCount,
      dropped: this.spool.droppedPoints + this.refusedPoints + this.overSharePoints,
      refused: this.refusedPoints,
      droppedOverShare: this.overSharePoints,
      unsettled: this.unsettledPoints,
    };
    if (this.spoolError) s.spoolError = this.spoolError;
    if (this.overShareDevice !== undefined) s.overShareDevice = this.overShareDevice;
    if (this.lastError) s.lastError = this.lastError;
    if (this.retryAt && this.state !== 'connected') s.retryAt = this.retryAt;
    return s;
  }

  /** Points held in memory, bound for the spool or the database. */
  private heldPoints(): number {
    let n = this.buffer.length;
    for (const b of this.queue) n += b.lines.length;
    for (const b of this.toSpool) n += b.lines.length;
    return n;
  }

  /**
   * Adds lines; returns false (and takes nothing) after close. `onDurable` is called once all of them are
   * durable (database 2xx, or fsync'd in the spool; a line the database refused counts as settled, it left
   * on onReject). While the spool cannot be written, lines stay in memory and onDurable waits; beyond
   * 10 × maxQueuedBatches × batchSize points held that way, add() throws WriterFullError and takes nothing
   * (the points are counted in `refused`): the caller must not treat them as stored.
   */
  add(lines: readonly string[], onDurable?: DurableFn): boolean {
    if (this.closed) return false;
    if (this.spoolError !== null && this.heldPoints() + lines.length > this.maxQueuedBatches * 10 * this.batchSize) {
      this.refusedPoints += lines.length;
      this.opts.onChange?.();
      throw new WriterFullError(`writer memory full while the spool fails (${this.spoolError})`);
    }
    if (lines.length === 0) {
      onDurable?.();
      return true;
    }
    const start = this.buffer.length;
    for (const l of lines) this.buffer.push(l);
    if (onDurable) {
      this.bufWaiters.push({ pending: 0, inBuffer: true, start, end: this.buffer.length, cb: onDurable });
      this.unsettledPoints += lines.length;
    }
    this.lastAddAt = Date.now();
    // late arrivals during close (messages the runtime had already scheduled) are spooled by close()
    if (this.closing) return true;
    while (this.buffer.length >= this.batchSize) this.enqueue(this.cut(this.batchSize));
    if (this.buffer.length > 0) {
      if (this.bufWaiters.length > 0) {
        // Group commit for lines someone waits on: with nothing in flight, send what this event-loop turn
        // added right after it; while a request is in flight, the pump takes everything that accumulated
        // when it returns (one request, as large as the load makes it). durableFlushMs is the upper bound.
        if (this.send && !this.pumping && !this.immediateScheduled) {
          this.immediateScheduled = true;
          setImmediate(() => {
            this.immediateScheduled = false;
            if (!this.closing && !this.closed && this.bufWaiters.length > 0) this.flush();
          });
        }
        if (!this.durableTimer) {
          this.durableTimer = setTimeout(() => {
            this.durableTimer = null;
            this.flush();
          }, this.durableFlushMs);
        }
      }
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.flush();
        }, this.flushIntervalMs);
      }
    }
    return true;
  }

  /** Takes the first n buffered lines as a batch, with the waiters whose lines it holds. */
  private cut(n: number): Batch {
    const lines = this.buffer.splice(0, n);
    if (this.bufWaiters.length === 0) return { lines, waiters: null, unsettled: 0 };
    const waiters: Waiter[] = [];
    const rest: Waiter[] = [];
    let unsettled = 0;
    for (const w of this.bufWaiters) {
      if (w.start < n) {
        w.pending++;
        waiters.push(w);
        unsettled += Math.min(w.end, n) - w.start;
      }
      w.start = Math.max(0, w.start - n);
      w.end -= n;
      if (w.end > 0) rest.push(w);
      else w.inBuffer = false;
    }
    this.bufWaiters = rest;
    return { lines, waiters: waiters.length ? waiters : null, unsettled };
  }

  /** The batches are durable: tell every add() whose last batch this was. */
  private settle(batches: Batch[]): void {
    for (const b of batches) {
      if (!b.waiters) continue;
      this.unsettledPoints -= b.unsettled;
      for (const w of b.waiters) {
        w.pending--;
        if (w.pending === 0 && !w.inBuffer) {
          try {
            w.cb();
          } catch {
            /* a caller's callback must not break the writer */
          }
        }
      }
      b.waiters = null;
    }
    if (this.unsettledPoints < 0) this.unsettledPoints = 0;
  }

  /** Cuts the partial batch now (it is sent or spooled like any other). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.durableTimer) clearTimeout(this.durableTimer);
    this.durableTimer = null;
    while (this.buffer.length > 0) this.enqueue(this.cut(this.batchSize));
  }

  private enqueue(batch: Batch): void {
    const direct =
      this.send !== null &&
      this.spool.batches === 0 &&
      this.toSpool.length === 0 &&
      this.state !== 'retrying' &&
      this.state !== 'unauthorized';
    if (direct && (this.queue.length < this.maxQueuedBatches || this.closing)) {
      this.queue.push(batch);
    } else if (this.queue.length > 0) {
      // memory queue full behind a slow request: it all goes to disk, in order, as one record
      this.queue.push(batch);
      try {
        this.spillQueue();
      } catch (err) {
        // stays in memory (add() bounds how much) and is retried; nobody is told it is durable meanwhile
        this.reportSpoolError(err as Error);
      }
    } else {
      // spool mode: batches of the same event-loop turn are appended (and fsync'd) together
      this.toSpool.push(batch);
      if (!this.spillScheduled) {
        this.spillScheduled = true;
        setImmediate(() => {
          this.spillScheduled = false;
          this.spillPending();
          this.kick();
        });
      }
    }
    this.kick();
    this.opts.onChange?.();
  }

  private reportSpoolError(err: Error): void {
    const first = this.spoolError === null;
    // Node's fs errors start with their code ("ENOSPC: no space left on device, write"): not said twice. The
    // database's own last error stays in lastError: the spool's took its place, so an outage alert on a full disk
    // named the disk as the database's trouble (operator round 2026-12-06)
    const code = (err as NodeJS.ErrnoException).code;
    this.spoolError = code && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
    this.spoolFailures++;
    if (first) this.opts.onError?.(err); // once per episode, not once per batch: the status carries the rest
    this.scheduleSpoolRetry();
    this.opts.onChange?.();
  }

  /** The spool took a write again: the backpressure episode is over. */
  private spoolRecovered(): void {
    if (this.spoolError === null) return;
    this.spoolError = null;
    this.spoolFailures = 0;
    if (this.spoolRetryTimer) clearTimeout(this.spoolRetryTimer);
    this.spoolRetryTimer = null;
    this.opts.onRecovered?.();
    this.opts.onChange?.();
  }

  /**
   * While the spool fails, what waits for it is retried on a timer (there may be no database and no new
   * input to trigger it): 0.5 s doubling to 5 s. Recovery needs nobody's help.
   */
  private scheduleSpoolRetry(): void {
    if (this.spoolRetryTimer || this.closed) return;
    const delay = Math.min(5000, 500 * Math.pow(2, Math.min(4, this.spoolFailures - 1)));
    this.spoolRetryTimer = setTimeout(() => {
      this.spoolRetryTimer = null;
      if (this.closed) return;
      try {
        if (
          this.queue.length > 0 &&
          (this.send === null || this.spool.batches > 0 || this.state === 'retrying' || this.state === 'unauthorized')
        )
          this.spillQueue();
        this.spillPending();
      } catch (err) {
        this.reportSpoolError(err as Error);
        return;
      }
      if (this.toSpool.length > 0) this.scheduleSpoolRetry();
      this.kick();
    }, delay);
    this.spoolRetryTimer.unref?.();
  }

  /** Appends batches waiting for the spool (newer than anything in it) as one record. */
  private spillPending(): void {
    if (this.toSpool.length === 0) return;
    try {
      const batches = this.toSpool;
      this.appendToSpool(batches);
      this.toSpool = [];
      this.spoolRecovered();
      this.settle(batches);
    } catch (err) {
      // stays in memory (add() bounds how much) and is retried by the timer, the next batch or the pump
      this.reportSpoolError(err as Error);
    }
  }

  /**
   * Moves memory-queued batches to the spool as one record, keeping order (spool non-empty ⇒ queue
   * empty). They leave memory only after the append succeeded.
   */
  private spillQueue(): void {
    if (this.queue.length === 0) return;
    const batches = this.queue;
    this.appendToSpool(batches);
    this.queue = [];
    this.spoolRecovered();
    this.settle(batches);
  }

  /**
   * Appends the batches' lines to the spool as one record; past half its bound, without the lines of devices over
   * their share (spool-share.ts: counted, and settled with the rest, as points the bound drops are). Throws what
   * the spool throws (nothing is then appended or counted).
   */
  private appendToSpool(batches: readonly Batch[]): void {
    const all = batches.length === 1 ? batches[0].lines : ([] as string[]).concat(...batches.map((b) => b.lines));
    // a line without a device_id tag (a flow's own measurement) belongs to no device: never refused, not counted
    const devices = all.map((l) => deviceIdOfLine(l));
    let bytes = 0;
    for (const l of all) bytes += l.length + 1;
    let lines = all;
    let kept = devices;
    let dropped = 0;
    let last: string | undefined;
    // from half the bound: a flooder filling the spool below the bound made every later append at the bound push
    // out whole oldest segments, which hold everyone's points (red-team round 2, 2026-12-06: honest devices kept
    // 10,400 of 24,000 points). Capped from half, it leaves the other half to the rest.
    if (this.spool.bytes + bytes > this.spool.maxBytes / 2 && this.share.devices > 1) {
      lines = [];
      kept = [];
      for (let i = 0; i < all.length; i++) {
        if (devices[i] !== undefined && this.share.overShare(devices[i]!)) {
          dropped++;
          last = devices[i];
        } else {
          lines.push(all[i]);
          kept.push(devices[i]);
        }
      }
    }
    if (lines.length > 0) this.spool.append(lines);
    for (let i = 0; i < lines.length; i++) if (kept[i] !== undefined) this.share.note(kept[i]!, lines[i].length + 1);
    this.share.fit(this.spool.bytes);
    if (dropped > 0) {
      this.overSharePoints += dropped;
      this.overShareDevice = last;
    }
  }

  private kick(): void {
    if (!this.send || this.pumping || this.closed) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      // work may have arrived between the loop's last check and here; while closing, memory batches still
      // go out (close waits for them up to its timeout), the spool stays for the next start
      if (
        (this.queue.length > 0 && !this.closeFailed) ||
        (!this.closing && (this.toSpool.length > 0 || this.spool.batches > 0))
      )
        this.kick();
    });
  }

  private async pump(): Promise<void> {
    const send = this.send!;
    while (!this.closed) {
      try {
        // someone waits on the partial batch and the pipe is free: it goes now, with all that accumulated
        if (
          this.queue.length === 0 &&
          this.bufWaiters.length > 0 &&
          !this.closing &&
          this.spool.batches === 0 &&
          this.toSpool.length === 0
        )
          this.flush();
        const fromSpool = this.queue.length === 0;
        if (fromSpool) this.spillPending();
        if (fromSpool && this.closing) return; // on close the spool stays on disk for the next start
        // a backlog (queued or spooled) goes out as few large requests, whole batches up to maxLinesPerRequest
        let batch: Batch;
        let parts: Batch[] = [];
        let spooledBatches = 0;
        let firstSpooled = 0;
        if (fromSpool) {
          const got = this.spool.peekBatches(this.maxLinesPerRequest);
          if (!got) return;
          batch = { lines: got.lines, waiters: null, unsettled: 0 };
          spooledBatches = got.batches;
          firstSpooled = got.first;
        } else {
          parts = [this.queue.shift()!];
          let n = parts[0].lines.length;
          while (this.queue.length > 0 && n + this.queue[0].lines.length <= this.maxLinesPerRequest) {
            n += this.queue[0].lines.length;
            parts.push(this.queue.shift()!);
          }
          batch = parts.length === 1 ? parts[0] : mergeBatches(parts);
        }
        this.inFlight = batch;
        this.inFlightFromSpool = fromSpool;
        const failure = await this.deliver(send, batch.lines, { left: this.splitBudget(batch.lines.length) });
        this.inFlight = null;
        if (this.closed) return; // close gave up waiting and already spooled this batch
        if (!failure) {
          // by number: appends meanwhile may have dropped some of these batches at the spool's bound
          if (fromSpool) {
            this.spool.ack(spooledBatches, firstSpooled);
            this.share.fit(this.spool.bytes);
          } else this.settle([batch]);
          this.failures = 0;
          this.setState('connected');
          continue;
        }
        this.failures++;
        this.lastError = failure.status ? `${failure.status}: ${failure.reason}` : failure.reason;
        if (fromSpool) this.spool.sendFailed();
        if (!fromSpool) {
          this.queue.unshift(batch); // leaves memory only once it is on disk
          this.spillQueue();
        }
        this.setState(failure.kind === 'config' ? 'unauthorized' : 'retrying');
        if (this.closing) {
          this.closeFailed = true; // no more tries while closing: close() spools what is left
          return;
        }
        await this.backoffSleep(
          failure.kind === 'config' ? { ...this.backoff, initialMs: this.backoff.maxMs } : this.backoff,
          failure.retryAfterMs
        );
      } catch (err) {
        // the disk failed (full, permissions, removed): batches stay in memory, the operator is told
        this.spool.sendFailed(); // a replay request's outcome is unknown: what the bound dropped of it counts as lost
        this.inFlight = null;
        this.failures++;
        this.reportSpoolError(err as Error);
        this.setState('retrying');
        if (this.closing) {
          this.closeFailed = true;
          return;
        }
        await this.backoffSleep(this.backoff);
      }
    }
  }

  private async backoffSleep(opts: RetryPolicy, retryAfterMs?: number): Promise<void> {
    const delay = retryDelay(this.failures, opts, retryAfterMs);
    this.retryAt = Date.now() + delay;
    this.opts.onChange?.();
    await this.sleep(delay);
  }

  /**
   * Writes a batch; returns null when every line is settled (written, or refused and reported), else the
   * failure that makes the whole batch worth retrying later. `budget.left`: further requests this batch may
   * cost while refused lines are isolated.
   */
  private async deliver(send: WriteBodyFn, lines: string[], budget: { left: number }): Promise<Failure | null> {
    if (this.refusals.size > 0) {
      lines = this.divert(lines);
      if (lines.length === 0) return null;
    }
    const t0 = process.hrtime.bigint();
    try {
      await (send.lines ? send.lines(lines) : send(lines.join('\n')));
      this.written += lines.length;
      this.opts.onWritten?.(lines.length, Number(process.hrtime.bigint() - t0) / 1e9);
      return null;
    } catch (err) {
      const f = classifyFailure(err);
      if (f.kind === 'too_large' && bodyBytes(lines) < SMALL_BODY_413_BYTES)
        return {
          kind: 'retry',
          status: 413,
          reason: `${f.reason} (for a ${bodyBytes(lines)}-byte body: the server or a proxy refuses bodies this small; retrying, data kept)`,
        };
      if (f.kind !== 'reject' && f.kind !== 'too_large') return f;
      if (f.kind === 'reject') {
        const { refusal, unparsable } = readRefusal(f.reason);
        if (unparsable.length > 0 || f.lines) {
          // the answer quotes the lines it refused (1.x: unparsable; 3.x: every one): those are refused, the
          // rest is sent again once
          const quoted = new Map<string, string>(f.lines);
          for (const u of unparsable) quoted.set(u, f.reason);
          const rest = lines.filter((l) => !quoted.has(l));
          if (rest.length < lines.length) {
            for (const l of lines) {
              const why = quoted.get(l);
              if (why !== undefined) this.rejectLine(l, `influx_${f.status ?? 400}`, why);
            }
            return rest.length === 0 ? null : this.again(send, rest, budget, f);
          }
        }
        if (refusal) {
          // the answer names what it refused: every line it picks out is refused, no bisection needed. The
          // rest is sent again once: InfluxDB stored it already ("partial write"), a server that refused the
          // whole request did not, and a point written twice is stored once.
          const entry = this.refusals.remember(refusal, f.status ?? 400, f.reason, Date.now());
          const rest = this.divert(lines, entry);
          if (rest.length < lines.length) return rest.length === 0 ? null : this.again(send, rest, budget, f);
        }
      }
      if (lines.length === 1) {
        this.rejectLine(lines[0], f.kind === 'reject' ? `influx_${f.status ?? 400}` : 'influx_too_large', f.reason);
        return null;
      }
      const mid = Math.ceil(lines.length / 2);
      const split = f.kind === 'reject' ? { ...f, partial: readRefusal(f.reason).partial } : f;
      return (
        (await this.again(send, lines.slice(0, mid), budget, split)) ??
        (await this.again(send, lines.slice(mid), budget, split))
      );
    }
  }

  /** One more request for part of a refused batch, if the budget allows; else its lines are rejected unresolved. */
  private again(
    send: WriteBodyFn,
    lines: string[],
    budget: { left: number },
    f: Failure & { partial?: boolean }
  ): Promise<Failure | null> {
    // 413 splits by size (bounded by the line limits), only refusals spend the budget
    if (f.kind === 'reject') {
      if (budget.left <= 0) {
        const reason = `${f.reason} (not isolated: the split budget of this batch is spent; ${
          f.partial
            ? 'the server stored the lines of the request it did not drop (partial write), some of these among them'
            : 'the server did not store these lines'
        })`;
        for (const l of lines) this.rejectLine(l, 'influx_unresolved', reason);
        this.unresolvedCount += lines.length;
        return Promise.resolve(null);
      }
      budget.left--;
    }
    return this.deliver(send, lines, budget);
  }

  /**
   * Hands the lines a refusal picks out to onReject and returns the others: with `current`, the refusal the
   * server's answer to these very lines named; without, every refusal remembered (those lines are not sent).
   */
  private divert(lines: string[], current?: RememberedRefusal): string[] {
    const now = Date.now();
    let rest: string[] | null = null;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const e = current ? (entryMatches(current, l) ? current : undefined) : this.refusals.match(l, now);
      if (!e) {
        rest?.push(l);
        continue;
      }
      rest ??= lines.slice(0, i);
      if (current) this.rejectLine(l, `influx_${e.status}`, e.reason);
      else {
        this.divertedCount++;
        this.rejectLine(
          l,
          'influx_diverted',
          `${e.reason} (not sent: the server refused this ${Math.round((now - e.since) / 1000)} s ago; asked again after ${clockTime(e.until)})`
        );
      }
    }
    return rest ?? lines;
  }

  private rejectLine(line: string, code: string, reason: string): void {
    this.rejectedCount++;
    const r: Reject = { code, reason };
    const device = deviceIdOfLine(line);
    if (device) r.device_id = device;
    this.opts.onReject?.(line, r);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    }).then(() => {
      this.wake = null;
      this.sleepTimer = null;
    });
  }

  /** Ends a backoff wait early (e.g. the operator fixed the database and wants a retry now). */
  retryNow(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
  }

  private setState(s: WriterState): void {
    if (this.state === s) return;
    this.state = s;
    if (s === 'connected') this.lastError = undefined;
    this.opts.onChange?.();
  }

  /**
   * Stops taking lines, writes what is in memory if the database answers within `timeoutMs`, and spools
   * whatever is left (including a batch still in flight: it may land twice, which InfluxDB stores once).
   * The spool is closed; its contents are replayed by the next writer on the same directory.
   */
  async close(timeoutMs = 10000): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.flush();
    this.retryNow();
    // a pump that ends may kick a new one for batches that arrived meanwhile: wait for all, up to the timeout
    const deadline = Date.now() + timeoutMs;
    while (this.pumping && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.pumping,
        new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
    // Messages already handed to us by the runtime (e.g. ones an MQTT client has acknowledged) still arrive
    // while we close: keep taking them until the input has been quiet for quietMs (at most 20×quietMs).
    const quietMs = Math.max(0, this.opts.closeQuietMs ?? 100);
    const until = Date.now() + 20 * quietMs;
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      const quietFor = Date.now() - this.lastAddAt;
      if (quietFor >= quietMs || Date.now() >= until) break;
      await new Promise<void>((r) => setTimeout(r, Math.min(quietMs - quietFor, until - Date.now())));
    }
    this.closed = true;
    // a spooled batch in flight is still the spool's head (not acked), so it is not appended twice
    if (this.inFlight && !this.inFlightFromSpool) this.queue.unshift(this.inFlight);
    this.inFlight = null;
    try {
      this.spillQueue();
      if (this.buffer.length > 0) this.toSpool.push(this.cut(this.buffer.length));
      this.spillPending();
    } finally {
      if (this.spoolRetryTimer) clearTimeout(this.spoolRetryTimer);
      this.spoolRetryTimer = null;
      // what the disk would not take is gone with this process: counted, and its callers were never told
      // it was durable (a source acknowledging on durability leaves those messages with the broker)
      const lost = this.heldPoints();
      if (lost > 0) {
        this.refusedPoints += lost;
        this.queue = [];
        this.toSpool = [];
        this.buffer = [];
      }
      this.spool.close();
      this.state = 'closed';
    }
  }
}
