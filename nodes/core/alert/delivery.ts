// Notification delivery: one lane per channel, each sending one job at a time in order, so a slow or down
// channel delays only itself. With `orderKey`, the order is kept per key (an alert's notifications) and a job
// waiting for its retry does not hold up the other keys' jobs behind it. Failures retry with exponential backoff and jitter up to a cap and a number of
// attempts, then the job is reported failed, unless `keepTrying` keeps it (a page that must not be given up). The queue is bounded per lane (oldest dropped and reported)
// and persisted as a JSON-lines journal so a restart resumes pending jobs; the idempotency keys of sent
// jobs are journaled too, so a job enqueued again after a crash or a restart is not sent twice.
import fs from 'node:fs';
import path from 'node:path';
import { replaceFileSync, writeRecordAt } from '../durable-file';
import { retryDelay, type RetryPolicy } from '../retry';

export interface DeliveryJob<P = unknown> {
  /** idempotency key, unique per channel and notification */
  key: string;
  channel: string;
  payload: P;
  attempts: number;
  created_at: number;
  next_at: number;
  last_error?: string;
}

/** Thrown by senders; `retryable: false` fails the job at once (e.g. 400 from the receiver). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable = true,
    readonly retryAfterMs?: number
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

export type Sender<P> = (job: DeliveryJob<P>) => Promise<void>;

export interface Scheduler {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DeliveryOptions<P> {
  senders: Record<string, Sender<P>>;
  /** first retry delay (default 1000 ms), doubling per attempt */
  baseMs?: number;
  /** longest retry delay (default 60000 ms) */
  capMs?: number;
  /** attempts before a job is failed (default 8), unless `keepTrying` keeps it */
  maxAttempts?: number;
  /**
   * Asked when a job has used its attempts, and again before each further attempt: true keeps it queued, its backoff
   * going on up to `capMs`; false gives it up without another attempt (moby-alert: true for a page of an alert still
   * open and unacknowledged). `onOverdue` reports it once, at the attempt that would have given it up (instead of
   * `onRetry`).
   */
  keepTrying?: (job: DeliveryJob<P>) => boolean;
  onOverdue?: (job: DeliveryJob<P>, error: string) => void;
  /**
   * jobs held per channel (default 1000); beyond it the oldest is failed with queue_full (with `shareKey`, the
   * oldest of the share holding the most)
   */
  maxQueued?: number;
  /**
   * Who a job is for, where one channel serves several (moby-alert: the tenant). A full lane drops from the share
   * holding the most jobs, and the lane takes its due jobs from the shares in turn: one tenant's storm of
   * thousands of alerts neither pushes another tenant's page out nor keeps it waiting behind its own (red-team
   * round 2026-12-07: 12,000 of one tenant's TIMEOUT pages dropped the other tenant's page as queue_full within a
   * second). Default: one share, plain oldest-first.
   */
  shareKey?: (job: DeliveryJob<P>) => string;
  /** journal file; omitted = memory only */
  file?: string;
  /** sent keys remembered for idempotency (default 10000) */
  rememberSent?: number;
  scheduler?: Scheduler;
  random?: () => number;
  onDelivered?: (job: DeliveryJob<P>) => void;
  onFailed?: (job: DeliveryJob<P>, reason: string) => void;
  /** an attempt failed and the job is tried again in `delayMs` (its error is job.last_error) */
  onRetry?: (job: DeliveryJob<P>, delayMs: number) => void;
  /**
   * Jobs of one key are sent in the order queued; another key's job may go while one waits for its retry
   * (default: one key for all, strict order per lane)
   */
  orderKey?: (job: DeliveryJob<P>) => string;
  onError?: (err: Error) => void;
}

type JournalLine<P> =
  | { op: 'add'; job: DeliveryJob<P> }
  | { op: 'done'; key: string }
  | { op: 'fail'; key: string }
  | { op: 'try'; key: string; attempts: number; next_at: number; error?: string };

interface Lane<P> {
  jobs: Array<DeliveryJob<P>>;
  /** with shareKey: when each share last had a job started (a counter), to take the shares in turn */
  served: Map<string, number>;
  busy: boolean;
  /** the job being sent (busy) */
  sending: DeliveryJob<P> | null;
  timer: unknown;
  timerAt: number;
}

export class DeliveryQueue<P = unknown> {
  private readonly lanes = new Map<string, Lane<P>>();
  private readonly sent = new Set<string>();
  private readonly sched: Scheduler;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;
  private readonly maxAttempts: number;
  private readonly maxQueued: number;
  private readonly rememberSent: number;
  private journalLines = 0;
  /** jobs started, as a clock for the shares' turns */
  private starts = 0;
  private closed = false;
  private readonly inflight = new Set<Promise<void>>();
  delivered = 0;
  failed = 0;

  constructor(private readonly opts: DeliveryOptions<P>) {
    this.sched = opts.scheduler ?? realScheduler;
    this.random = opts.random ?? Math.random;
    // ±20 % jitter; a receiver's Retry-After is honoured up to the same cap as the backoff
    const capMs = opts.capMs ?? 60000;
    this.retry = { initialMs: opts.baseMs ?? 1000, maxMs: capMs, factor: 2, jitter: 0.2, maxRetryAfterMs: capMs };
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 8);
    this.maxQueued = Math.max(1, opts.maxQueued ?? 1000);
    this.rememberSent = opts.rememberSent ?? 10000;
    if (opts.file) this.load(opts.file);
  }

  private lane(channel: string): Lane<P> {
    let l = this.lanes.get(channel);
    if (!l) {
      l = { jobs: [], served: new Map(), busy: false, sending: null, timer: null, timerAt: 0 };
      this.lanes.set(channel, l);
    }
    return l;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    const pending = new Map<string, DeliveryJob<P>>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec: JournalLine<P>;
      try {
        rec = JSON.parse(line) as JournalLine<P>;
      } catch {
        continue; // a torn last line after a crash
      }
      if (rec.op === 'add' && rec.job && typeof rec.job.key === 'string') pending.set(rec.job.key, rec.job);
      else if (rec.op === 'done') {
        pending.delete(rec.key);
        this.remember(rec.key);
      } else if (rec.op === 'fail') pending.delete(rec.key);
      else if (rec.op === 'try') {
        const j = pending.get(rec.key);
        if (j) {
          j.attempts = rec.attempts;
          j.next_at = rec.next_at;
          if (rec.error !== undefined) j.last_error = rec.error;
        }
      }
    }
    for (const job of pending.values()) {
      if (!this.opts.senders[job.channel]) continue; // channel no longer configured
      this.lane(job.channel).jobs.push(job);
    }
    this.compact();
  }

  private remember(key: string): void {
    this.sent.add(key);
    if (this.sent.size > this.rememberSent) this.sent.delete(this.sent.values().next().value as string);
  }

  private journal(rec: JournalLine<P>): void {
    if (!this.opts.file) return;
    try {
      // the whole line or nothing: a full disk writes part of it first, and a torn line in the middle would
      // swallow the next record on reload (a lost 'done' resends, a lost 'add' loses the notification)
      const fd = fs.openSync(this.opts.file, 'a');
      try {
        writeRecordAt(fd, Buffer.from(JSON.stringify(rec) + '\n'), fs.fstatSync(fd).size, false, 'notification queue');
      } finally {
        fs.closeSync(fd);
      }
      if (++this.journalLines > 4 * (this.pendingCount() + 1) + 2000) this.compact();
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /** Rewrites the journal as the pending jobs plus the remembered sent keys (write-then-rename). */
  private compact(): void {
    const file = this.opts.file;
    if (!file) return;
    const lines: string[] = [];
    for (const key of this.sent) lines.push(JSON.stringify({ op: 'done', key }));
    for (const l of this.lanes.values()) for (const job of l.jobs) lines.push(JSON.stringify({ op: 'add', job }));
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // a rewrite that does not fit leaves the old journal and removes its temp file (no space held)
      replaceFileSync(file, lines.length ? lines.join('\n') + '\n' : '');
      this.journalLines = lines.length;
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /**
   * Every notification key sent (as far as the queue remembers) or queued, on any channel configured now,
   * without its channel, in one pass (the restart's rebuild of Quiet reopens asks about every restored alert).
   */
  sentOrQueuedKeys(): Set<string> {
    const out = new Set<string>();
    // longest first: a channel name that is a prefix of another's cannot claim the other's keys
    const channels = Object.keys(this.opts.senders).sort((a, b) => b.length - a.length);
    for (const fullKey of this.sent) {
      const channel = channels.find((c) => fullKey.startsWith(`${c}:`));
      if (channel !== undefined) out.add(fullKey.slice(channel.length + 1));
    }
    for (const channel of channels) {
      const lane = this.lanes.get(channel);
      if (lane) for (const j of lane.jobs) out.add(j.key.slice(channel.length + 1));
    }
    return out;
  }

  /** Queues a notification for a channel; a key already sent or queued is ignored (returns false). */
  enqueue(channel: string, key: string, payload: P): boolean {
    if (this.closed || !this.opts.senders[channel]) return false;
    const fullKey = `${channel}:${key}`;
    if (this.sent.has(fullKey)) return false;
    const lane = this.lane(channel);
    if (lane.jobs.some((j) => j.key === fullKey)) return false;
    const now = this.sched.now();
    const job: DeliveryJob<P> = { key: fullKey, channel, payload, attempts: 0, created_at: now, next_at: now };
    if (lane.jobs.length >= this.maxQueued) {
      // drop the oldest that is not in flight, so the newest state of the plant still gets through; with shares,
      // the oldest of the share holding the most (the new job counted in its share)
      const idx = lane.jobs.indexOf(this.victim(lane, job) as DeliveryJob<P>);
      const [dropped] = idx >= 0 ? lane.jobs.splice(idx, 1) : [];
      if (dropped) this.fail(dropped, 'queue_full');
    }
    lane.jobs.push(job);
    this.journal({ op: 'add', job });
    this.pump(channel);
    return true;
  }

  /** The job a full lane drops for `incoming`: see `maxQueued` (undefined: none can go, all are in flight). */
  private victim(lane: Lane<P>, incoming: DeliveryJob<P>): DeliveryJob<P> | undefined {
    const shareOf = this.opts.shareKey;
    if (!shareOf) return lane.jobs.find((j) => j !== lane.sending);
    const counts = new Map<string, number>([[shareOf(incoming), 1]]);
    for (const j of lane.jobs) if (j !== lane.sending) counts.set(shareOf(j), (counts.get(shareOf(j)) ?? 0) + 1);
    let largest = '';
    let most = 0;
    for (const [share, n] of counts) if (n > most) [largest, most] = [share, n];
    return lane.jobs.find((j) => j !== lane.sending && shareOf(j) === largest);
  }

  private fail(job: DeliveryJob<P>, reason: string): void {
    this.failed++;
    this.journal({ op: 'fail', key: job.key });
    this.opts.onFailed?.(job, reason);
  }

  /** Starts resumed jobs (after load) on every lane. */
  start(): void {
    for (const channel of this.lanes.keys()) this.pump(channel);
  }

  private schedule(channel: string, lane: Lane<P>, at: number): void {
    if (lane.timer !== null && lane.timerAt <= at) return;
    if (lane.timer !== null) this.sched.clearTimeout(lane.timer);
    lane.timerAt = at;
    lane.timer = this.sched.setTimeout(
      () => {
        lane.timer = null;
        this.pump(channel);
      },
      Math.max(0, at - this.sched.now())
    );
  }

  /**
   * The job to send next: the first that is due and has no earlier job of its order key queued; or, when none is
   * due, when the next one is (`at`). Without orderKey only the first job counts (strict order). A webhook that
   * failed one alert's page held every other page behind it for its whole backoff (operator round 2026-12-07).
   * With shareKey the shares take turns: of each share's first due job, the one of the share served longest ago.
   */
  private next(lane: Lane<P>, now: number): { job: DeliveryJob<P> } | { at: number } {
    const keyOf = this.opts.orderKey;
    const shareOf = this.opts.shareKey;
    const seen = new Set<string>();
    let at = Infinity;
    // with shares: the first due job of each share, and of those the share served longest ago (never: first)
    let pick: DeliveryJob<P> | null = null;
    let pickServed = Infinity;
    const looked = new Set<string>();
    for (const job of lane.jobs) {
      // the order is kept per order key; with shares and no order key, per share
      const key = keyOf ? keyOf(job) : shareOf ? shareOf(job) : '';
      if (seen.has(key)) continue;
      seen.add(key);
      if (job.next_at <= now) {
        if (!shareOf) return { job };
        const share = shareOf(job);
        if (looked.has(share)) continue;
        looked.add(share);
        const served = lane.served.get(share) ?? -1;
        if (served < pickServed) [pick, pickServed] = [job, served];
        continue;
      }
      at = Math.min(at, job.next_at);
      if (!keyOf && !shareOf) break;
    }
    if (pick) {
      lane.served.set(shareOf!(pick), ++this.starts);
      // forget shares with nothing queued, so the map stays as small as the lane
      if (lane.served.size > lane.jobs.length + 1)
        for (const share of lane.served.keys())
          if (!lane.jobs.some((j) => shareOf!(j) === share)) lane.served.delete(share);
      return { job: pick };
    }
    return { at };
  }

  private unqueue(lane: Lane<P>, job: DeliveryJob<P>): void {
    const i = lane.jobs.indexOf(job);
    if (i >= 0) lane.jobs.splice(i, 1);
  }

  private pump(channel: string): void {
    const lane = this.lanes.get(channel);
    if (!lane || lane.busy || this.closed || lane.jobs.length === 0) return;
    const next = this.next(lane, this.sched.now());
    if (!('job' in next)) {
      this.schedule(channel, lane, next.at);
      return;
    }
    const job = next.job;
    // a kept job no longer wanted (moby-alert: its alert was handled meanwhile) goes without another attempt: one
    // more send could page on-call for an alert already acknowledged (verification round 2026-12-07)
    if (job.attempts >= this.maxAttempts && !(this.opts.keepTrying?.(job) ?? false)) {
      this.unqueue(lane, job);
      this.fail(job, `gave up after ${job.attempts} attempts: ${job.last_error ?? 'no answer'}`);
      this.pump(channel);
      return;
    }
    const send = this.opts.senders[channel];
    lane.busy = true;
    lane.sending = job;
    job.attempts++;
    const p = (async () => {
      try {
        await send(job);
        this.unqueue(lane, job);
        this.remember(job.key);
        this.journal({ op: 'done', key: job.key });
        this.delivered++;
        this.opts.onDelivered?.(job);
      } catch (err) {
        const e = err as Error;
        job.last_error = e.message;
        const retryable = !(e instanceof DeliveryError) || e.retryable;
        const spent = job.attempts >= this.maxAttempts;
        const kept = retryable && spent && (this.opts.keepTrying?.(job) ?? false);
        if (!retryable || (spent && !kept)) {
          this.unqueue(lane, job);
          this.fail(job, retryable ? `gave up after ${job.attempts} attempts: ${e.message}` : e.message);
        } else {
          const hinted = e instanceof DeliveryError ? e.retryAfterMs : undefined;
          const delay = retryDelay(job.attempts, this.retry, hinted, this.random);
          job.next_at = this.sched.now() + delay;
          this.journal({ op: 'try', key: job.key, attempts: job.attempts, next_at: job.next_at, error: e.message });
          // the attempt that would have given the job up is reported as overdue instead of as one more retry
          if (kept && job.attempts === this.maxAttempts) this.opts.onOverdue?.(job, e.message);
          else this.opts.onRetry?.(job, delay);
        }
      } finally {
        lane.busy = false;
        lane.sending = null;
      }
    })();
    this.inflight.add(p);
    void p.then(() => {
      this.inflight.delete(p);
      this.pump(channel);
    });
  }

  pendingCount(channel?: string): number {
    if (channel !== undefined) return this.lanes.get(channel)?.jobs.length ?? 0;
    let n = 0;
    for (const l of this.lanes.values()) n += l.jobs.length;
    return n;
  }

  /** Stops timers, waits (at most `graceMs`) for sends in flight, and compacts the journal for the next start. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const l of this.lanes.values()) {
      if (l.timer !== null) this.sched.clearTimeout(l.timer);
      l.timer = null;
    }
    if (this.inflight.size) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.inflight]), new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
      if (t) clearTimeout(t);
    }
    this.compact();
  }
}
