// Device health over one of two stores. Memory: the HealthTable decides and events are emitted at once.
// Redis: the table becomes a local mirror; activity is coalesced per device and flushed in batches (one
// script call per batch, several batches pipelined on the connection), and Lua scripts decide transitions
// atomically so several instances emit each one once. When Redis is unreachable the table decides again
// from memory (reported through onStore), and on reconnect the table is pushed back (newer wins).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import type { DeviceState, HealthEvent, HealthReason } from '../contract';
import { parseJsonSafe } from '../safe-json';
import { HealthTable, DEVICE_STATES, TableFullError } from './table';
import { isValidDeviceId } from './extract';
import { ACTIVITY_LUA, CLOCK_STEP_LUA, RESYNC_LUA, STATUS_LUA, SWEEP_LUA } from './redis-scripts';
import { isOneOf } from '../guards';
import { isRedisTimeout } from '../redis-options';
import { ClockStepDetector } from '../clock-step';
import { IngestLag, INGEST_LAG_BUCKET_MS } from './ingest-lag';
import { WillHold } from './will-hold';

/** status messages held while waiting for the first Redis connection */
const MAX_EARLY_STATUS = 10_000;
/** the first probe of the store after an error reply, ms (then doubling up to storeRetryMs) */
const FIRST_PROBE_MS = 500;
/**
 * How much later than its interval a timed sweep may come before the time in between counts as a stall of the
 * event loop, not as the devices' silence: two of IngestLag's buckets, the gap after which it forgets the lag.
 */
export const STALL_SLACK_MS = 2 * INGEST_LAG_BUCKET_MS;

export type HealthEmitFn = (ev: HealthEvent) => void;

export interface HealthRedisKeys {
  lastSeen: string;
  state: string;
  deadline: string;
  lock: string;
  /** the "watched" heartbeat: when someone last swept (Redis time) and watched_since (see redis-scripts.ts) */
  watched: string;
  channel: string;
}

/** Key names; with no prefix the last-seen set is the seeds' `device_last_seen`. */
export function healthRedisKeys(prefix = ''): HealthRedisKeys {
  return {
    lastSeen: `${prefix}device_last_seen`,
    state: `${prefix}device_state`,
    deadline: `${prefix}device_health_deadline`,
    lock: `${prefix}device_health_sweep_lock`,
    watched: `${prefix}device_health_watched`,
    channel: `${prefix}device_health_events`,
  };
}

export interface HealthServiceOptions {
  table: HealthTable;
  emit: HealthEmitFn;
  /** a connected (or connecting) ioredis client; omitted = memory store */
  redis?: Redis | null;
  keyPrefix?: string;
  /** activity is flushed to Redis this often, ms (default 5) */
  flushMs?: number;
  /** devices per script call (default 1000) */
  batchSize?: number;
  /** sweep lock lifetime; one sweep per lifetime across all instances (default 900 ms) */
  lockTtlMs?: number;
  /** devices handled per sweep call (default 10000; the rest on the next sweep) */
  sweepLimit?: number;
  /**
   * Nobody swept for longer than this (Redis time, ms) = every instance was down: silence in the gap is not
   * counted (default 3 × the sweep interval, lockTtlMs + 50, and at least 2000)
   */
  watchGapMs?: number;
  /** before the first connection, activity waits this long for Redis before deciding from memory (default 2000) */
  connectGraceMs?: number;
  /**
   * After a failed command (an error reply such as OOM, a script error, or a resync that failed) the store is
   * probed again — the resync re-run — after 0.5 s, then doubling up to this, ms (default 5000)
   */
  storeRetryMs?: number;
  /** Redis became usable (true) or not (false, with the error); called once per change */
  onStore?: (up: boolean, err?: Error) => void;
  now?: () => number;
  /** a clock that never steps, ms (default performance.now); with `now` it tells a step of the wall clock (core/clock-step.ts) */
  monotonic?: () => number;
  /** the wall clock moving this much more or less than the monotonic one between two looks is a step (default 2000) */
  clockStepMs?: number;
  /**
   * Two sweeps further apart than this (ms) mean the event loop was blocked in between (the sweeps run on a
   * timer): the messages of that time wait unread in the sockets, so the second sweep counts nobody's silence
   * (as `listening` false) and the devices are timed from then; called with the gap (default: off, for callers
   * that sweep at times of their own choosing). moby-device-health: its sweep interval + STALL_SLACK_MS.
   */
  stallGapMs?: number;
  onStall?: (gapMs: number) => void;
  /**
   * A will takes its device OFFLINE this long after it arrived, unless the pipeline stops hearing the broker
   * meanwhile (a sweep with `listening` false): a broker shutting down publishes every client's will
   * (core/health/will-hold.ts). Default 0: at once. moby-device-health: its *Will grace*.
   */
  willGraceMs?: number;
  /** wills dropped because the pipeline stopped hearing the broker while they waited: how many */
  onWillsDropped?: (count: number) => void;
  /**
   * the host's wall clock stepped by deltaMs; `shifted`: the memory table's times were re-expressed in the new
   * clock (memory mode), false with Redis (whose times are shared by instances and are not moved)
   */
  onClockStep?: (deltaMs: number, shifted: boolean) => void;
}

/** The key names a script takes before its arguments (KEYS[1..n] in Lua). */
type Keys4 = [string, string, string, string];
type Keys5 = [...Keys4, string];
/** A Lua script defined on the client with defineCommand: its keys, then its arguments. */
type LuaCommand<Keys extends string[], R> = (...keysThenArgs: [...Keys, ...Array<string | number>]) => Promise<R>;

/** The scripts of redis-scripts.ts as commands; numberOfKeys is the length of each one's key list. */
const HEALTH_SCRIPTS = {
  mobyHealthActivity: { numberOfKeys: 4, lua: ACTIVITY_LUA },
  mobyHealthStatus: { numberOfKeys: 4, lua: STATUS_LUA },
  mobyHealthSweep: { numberOfKeys: 5, lua: SWEEP_LUA },
  mobyHealthResync: { numberOfKeys: 5, lua: RESYNC_LUA },
  mobyHealthClockStep: { numberOfKeys: 5, lua: CLOCK_STEP_LUA },
} as const;

interface HealthCommands {
  mobyHealthActivity: LuaCommand<Keys4, string[]>;
  mobyHealthStatus: LuaCommand<Keys4, string[]>;
  mobyHealthSweep: LuaCommand<Keys5, string[] | null>;
  mobyHealthResync: LuaCommand<Keys5, string[]>;
  mobyHealthClockStep: LuaCommand<Keys5, number>;
}

/** Parses an event coming back from a script or the pub/sub channel (anyone with Redis access can publish). */
export function parseRemoteEvent(text: string): HealthEvent | null {
  const r = parseJsonSafe<Record<string, unknown>>(text, { maxBytes: 2048, maxDepth: 2, maxKeys: 20 });
  if (!r.ok || typeof r.value !== 'object' || r.value === null) return null;
  const v = r.value;
  const isState = (s: unknown): s is DeviceState => isOneOf(s, DEVICE_STATES);
  if (
    !isValidDeviceId(v.device_id) ||
    !isState(v.state) ||
    !isState(v.previous) ||
    typeof v.since !== 'number' ||
    typeof v.reason !== 'string'
  )
    return null;
  if (v.last_seen !== null && typeof v.last_seen !== 'number') return null;
  return {
    device_id: v.device_id,
    state: v.state,
    previous: v.previous,
    since: v.since,
    last_seen: v.last_seen as number | null,
    reason: v.reason as HealthReason,
  };
}

export class HealthService {
  readonly table: HealthTable;
  private readonly emitFn: HealthEmitFn;
  private readonly redis: (Redis & HealthCommands) | null;
  private readonly keys: HealthRedisKeys;
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly lockTtlMs: number;
  private readonly sweepLimit: number;
  private readonly watchGapMs: number;
  /** when this instance started watching: its clock (for watched_since) and a monotonic one (for how long) */
  private readonly startedAt: number;
  private readonly startedMono = performance.now();
  private readonly onStore: (up: boolean, err?: Error) => void;
  private readonly now: () => number;
  private readonly lockToken = randomBytes(8).toString('hex');
  private readonly graceUntil: number;
  private readonly storeRetryMs: number;

  private subscriber: Redis | null = null;
  private subscribed: Promise<void> = Promise.resolve();
  private up = false;
  private everUp = false;
  private resyncing: Promise<void> | null = null;
  /** the pending probe of the store after a failure (see storeFailed), its next delay, and when it was last up */
  private probeTimer: NodeJS.Timeout | null = null;
  private probeDelay = FIRST_PROBE_MS;
  private upSinceMono = -Infinity;
  /** the latest step of the host's clock that Redis has not taken yet (see clockStepped) */
  private unsentStep: { forward: boolean } | null = null;
  private queue = new Map<string, number>();
  private earlyStatus: Array<[string, boolean, number, 'status' | 'lwt', string | undefined]> = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private readonly listeners: Array<[string, Parameters<Redis['on']>[1]]> = [];
  /** transitions decided from memory because Redis was unreachable */
  memoryDecisions = 0;
  /** times Redis stopped answering with the connection open (a command timed out) */
  hangs = 0;
  private readonly clock: ClockStepDetector;
  private readonly lag = new IngestLag();
  private readonly onClockStep: (deltaMs: number, shifted: boolean) => void;
  private readonly stallGapMs: number;
  private readonly onStall: (gapMs: number) => void;
  private readonly wills: WillHold<{ ts: number; equipmentId?: string }>;
  private readonly onWillsDropped: (count: number) => void;
  /** the time of the previous sweep (NaN: none yet, or the clock stepped since) */
  private lastSweepAt = NaN;
  /** sweeps that found the event loop had been blocked (stallGapMs) and counted no silence */
  stalls = 0;
  lastError: Error | null = null;

  constructor(opts: HealthServiceOptions) {
    this.table = opts.table;
    this.emitFn = opts.emit;
    this.keys = healthRedisKeys(opts.keyPrefix);
    this.flushMs = opts.flushMs ?? 5;
    this.batchSize = opts.batchSize ?? 1000;
    this.lockTtlMs = opts.lockTtlMs ?? 900;
    this.sweepLimit = opts.sweepLimit ?? 10000;
    this.watchGapMs = opts.watchGapMs ?? Math.max(2000, 3 * (this.lockTtlMs + 50));
    this.onStore = opts.onStore ?? (() => undefined);
    this.now = opts.now ?? Date.now;
    this.clock = ClockStepDetector.of(opts.now, opts.monotonic, opts.clockStepMs);
    this.onClockStep = opts.onClockStep ?? (() => undefined);
    this.stallGapMs = opts.stallGapMs ?? Infinity;
    this.onStall = opts.onStall ?? (() => undefined);
    this.wills = new WillHold(opts.willGraceMs ?? 0, opts.table.maxDevices);
    this.onWillsDropped = opts.onWillsDropped ?? (() => undefined);
    this.startedAt = Math.round(this.now());
    this.graceUntil = this.now() + (opts.connectGraceMs ?? 2000);
    this.storeRetryMs = Math.max(FIRST_PROBE_MS, opts.storeRetryMs ?? 5000);
    this.redis = (opts.redis as (Redis & HealthCommands) | undefined) ?? null;
    if (this.redis) this.attach(this.redis);
  }

  /** How late the pipeline hears the devices now, ms (IngestLag): the sweep counts silence up to now minus it. */
  ingestLagMs(now = this.now()): number {
    return this.lag.estimate(now);
  }

  /** steps of the host's wall clock seen (see checkClock) */
  get clockSteps(): number {
    return this.clock.steps;
  }

  get shared(): boolean {
    return this.redis !== null;
  }

  /** Whether Redis has been reachable at least once since start. */
  get storeEverUp(): boolean {
    return this.everUp;
  }

  /** Whether it still waits for Redis's first connection (within the grace time): memory does not decide yet. */
  get connecting(): boolean {
    return this.waitingForFirstConnection();
  }

  /** Whether the shared store is currently deciding (false in memory mode or during an outage). */
  get storeUp(): boolean {
    return this.up;
  }

  /**
   * Whether the host's wall clock stepped since the last look: both clocks advance alike (an event-loop stall
   * delays both), so their difference moves only when the wall clock is set. In memory mode the table's times
   * follow the step (HealthTable.shiftTime), so no device times out, or stays unwatched, because of it. Cheap
   * enough per message: two clock reads. Callers pass message times read from the same wall clock.
   */
  checkClock(): void {
    const delta = this.clock.look();
    if (delta === 0) return;
    this.lag.reset();
    this.lastSweepAt = NaN; // a gap measured across the step is not a stall
    const shift = !this.redis;
    // held wills are this instance's own, in both modes: their grace is time that passed, not the clock's step;
    // in memory mode their times follow the table's, or a will would be older than the data before it
    this.wills.shiftTime(delta, shift ? (w) => ({ ...w, ts: w.ts + delta }) : undefined);
    if (shift) this.table.shiftTime(delta);
    else this.clockStepped(delta);
    this.onClockStep(delta, shift);
  }

  /**
   * Redis mode: the shared times are other instances' too and are not moved, but what this instance wrote
   * in its old clock is (CLOCK_STEP_LUA): forward, watching restarts now (no TIMEOUT storm); back, future
   * last-seen times come back to now. Sent before whatever command follows on the same connection (a sweep
   * right after the look sees it). The memory mirror is adjusted the same way at once. A step Redis has not
   * taken (it came during an outage, or its command failed) is kept and sent by the resync that ends the
   * outage: pushing the mirror alone (newer wins) would leave the future times of a step back in Redis.
   */
  private clockStepped(deltaMs: number): void {
    const now = this.now();
    // the memory mirror follows the same rule: it decides during an outage and is pushed to Redis after one
    if (deltaMs > 0) this.table.unwatched(now);
    else this.table.clampFuture(now);
    // of several steps Redis missed, the latest says which way the clock now stands against what is stored
    const step = { forward: deltaMs > 0 };
    this.unsentStep = step;
    if (!this.redis || !this.up) return;
    this.sendClockStep(step).catch((err) => this.storeFailed(err as Error));
  }

  /** CLOCK_STEP_LUA at the current time, in pages of the sweep limit; forgets the step once Redis took it. */
  private async sendClockStep(step: { forward: boolean }): Promise<void> {
    const redis = this.redis!;
    const now = this.now();
    for (;;) {
      const moved = await redis.mobyHealthClockStep(
        ...this.keyArgs(),
        this.keys.watched,
        now,
        step.forward ? 1 : 0,
        this.sweepLimit,
        this.table.defaultTimeoutMs
      );
      if (Number(moved) < this.sweepLimit) break;
    }
    if (this.unsentStep === step) this.unsentStep = null;
  }

  /**
   * Data from a device, stamped `ts` (its own time when plausible, else the receive time). `receivedAt` (the
   * time the reader compared `ts` with; default now) tells how late the pipeline hears the devices (IngestLag).
   * `stamped`: the device's own stamp when `ts` replaced it (HealthTable.activity says why it matters).
   */
  activity(id: string, ts: number, equipmentId?: string, receivedAt = this.now(), stamped?: number): void {
    if (this.wills.size > 0) this.releaseWill(id, stamped ?? ts);
    ts = Math.round(ts);
    this.checkClock();
    this.lag.note(receivedAt - ts, receivedAt);
    if (!this.redis) {
      const ev = this.table.activity(id, ts, equipmentId, receivedAt, stamped);
      if (ev) this.emitFn(ev);
      return;
    }
    ts = this.table.observe(id, ts, equipmentId, receivedAt);
    // the shared decision (Redis) sees only `ts`: a message the device stamped before the OFFLINE in force (as
    // this instance knows it) is kept out of it, as HealthTable.activity keeps it from reviving the device
    if (stamped !== undefined && this.table.offlineSince(id) > stamped) return;
    if (!this.up && (this.everUp || this.now() >= this.graceUntil)) {
      this.decideLocally(id, ts);
      return;
    }
    const prev = this.queue.get(id);
    if (prev === undefined || ts > prev) this.queue.set(id, ts);
    if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
  }

  status(id: string, online: boolean, ts: number, reason: 'status' | 'lwt', equipmentId?: string): void {
    if (!online && reason === 'lwt' && this.wills.graceMs > 0) {
      this.checkClock(); // a step seen now moves the older holds, not this one's time
      const pushedOut = this.wills.hold(id, { ts, equipmentId }, this.now());
      if (pushedOut) this.applyStatus(pushedOut.id, false, pushedOut.will.ts, 'lwt', pushedOut.will.equipmentId);
      return;
    }
    if (this.wills.size > 0) this.releaseWill(id);
    this.applyStatus(id, online, ts, reason, equipmentId);
  }

  /** Wills held (core/health/will-hold.ts), waiting for their grace. */
  get heldWills(): number {
    return this.wills.size;
  }

  /** Wills dropped so far because the pipeline stopped hearing the broker while they waited. */
  get droppedWills(): number {
    return this.wills.dropped;
  }

  /**
   * The device's held will, applied now: a later status or data of it comes after it, as it did. `sentAt`: the
   * data's stamp (its own when it has one); data sent before the will leaves it held (WillHold.take).
   */
  private releaseWill(id: string, sentAt?: number): void {
    const h = this.wills.take(id, sentAt);
    if (h) this.applyStatus(id, false, h.will.ts, 'lwt', h.will.equipmentId);
  }

  /** The held wills due at `now`, applied; or, while the pipeline does not hear the broker, all dropped. */
  private settleWills(now: number, listening: boolean): void {
    if (this.wills.size === 0) return;
    const before = this.wills.dropped;
    for (const h of this.wills.due(now, listening)) this.applyStatus(h.id, false, h.will.ts, 'lwt', h.will.equipmentId);
    if (this.wills.dropped > before) this.onWillsDropped(this.wills.dropped - before);
  }

  private applyStatus(id: string, online: boolean, ts: number, reason: 'status' | 'lwt', equipmentId?: string): void {
    ts = Math.round(ts);
    this.checkClock();
    if (this.waitingForFirstConnection()) {
      // like activity, status waits (bounded) for Redis to decide rather than deciding twice
      if (this.earlyStatus.length < MAX_EARLY_STATUS) {
        this.earlyStatus.push([id, online, ts, reason, equipmentId]);
        if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
        return;
      }
    }
    if (!this.redis || !this.up) {
      const ev = this.table.status(id, online, ts, reason, equipmentId);
      if (ev) {
        if (this.redis) this.memoryDecisions++;
        this.emitFn(ev);
      }
      return;
    }
    this.flush(); // queued data goes first, on the same connection
    this.table.register(id, equipmentId);
    const call = this.redis
      .mobyHealthStatus(
        ...this.keyArgs(),
        this.now(),
        this.table.holdDownMs,
        this.keys.channel,
        id,
        online ? 1 : 0,
        ts,
        reason,
        this.table.timeoutOf(id)
      )
      .then((evs) => this.applyRemote(evs, true))
      .catch((err: Error) => {
        this.storeFailed(err);
        const ev = this.table.status(id, online, ts, reason, equipmentId);
        if (ev) {
          this.memoryDecisions++;
          this.emitFn(ev);
        }
      });
    this.track(call);
  }

  /**
   * Times out silent devices: in Redis under the sweep lock, else in memory. `listening` false (the pipeline
   * cannot hear the devices now) skips the sweep and counts nobody's silence up to `now`; with Redis the
   * shared heartbeat then goes stale unless another instance sweeps, which its gap rule treats the same way.
   */
  async sweep(now = this.now(), listening = true): Promise<void> {
    this.checkClock();
    // before the stall check: a blocked event loop is not a lost broker, and wills read after it are real
    this.settleWills(now, listening);
    const gap = now - this.lastSweepAt;
    this.lastSweepAt = now;
    if (gap > this.stallGapMs) {
      // IngestLag cannot cover this: it heard nothing during the stall, so it would say "no lag" while every
      // device's latest message still waits in a socket (red-team 2026-12-06: a whole fleet timed out after
      // stalls of ~20 s, each device resolving as its queued message was read)
      this.stalls++;
      this.onStall(gap);
      listening = false;
    }
    if (!listening) {
      this.table.unwatched(now);
      return;
    }
    // silence counts up to the time the pipeline has heard the devices to, not the wall clock (IngestLag)
    now -= this.lag.estimate(now);
    if (!this.redis || !this.up) {
      if (this.redis && !this.everUp && now < this.graceUntil) return;
      for (const ev of this.table.sweep(now)) {
        if (this.redis) this.memoryDecisions++;
        this.emitFn(ev);
      }
      return;
    }
    try {
      const evs = await this.redis.mobyHealthSweep(
        ...this.keyArgs(),
        this.keys.watched,
        now,
        this.table.holdDownMs,
        this.keys.channel,
        this.lockToken,
        this.lockTtlMs,
        this.sweepLimit,
        this.table.defaultTimeoutMs,
        this.watchGapMs
      );
      if (evs) this.applyRemote(evs, true);
    } catch (err) {
      this.storeFailed(err as Error);
    }
  }

  /**
   * Brings the local table up to date with Redis (every device's state and last-seen, including devices
   * only other instances have seen). Returns false in memory mode or while Redis is unreachable.
   */
  async refresh(): Promise<boolean> {
    if (!this.redis || !this.up) return false;
    await this.drain();
    // raw replies (flat arrays): HGETALL's object conversion would trust hash field names as object keys
    const [states, seen] = (await Promise.all([
      this.redis.call('HGETALL', this.keys.state),
      this.redis.call('ZRANGE', this.keys.lastSeen, 0, -1, 'WITHSCORES'),
    ])) as [string[], string[]];
    const lastSeen = new Map<string, number>();
    for (let i = 0; i + 1 < seen.length; i += 2) {
      // Redis answers 'inf' / '-inf' for an infinite score (written by someone else): no last-seen time
      const t = Number(seen[i + 1]);
      if (Number.isFinite(t)) lastSeen.set(seen[i], t);
    }
    try {
      for (let i = 0; i + 1 < states.length; i += 2) {
        const id = states[i];
        const m = /^(UNKNOWN|ONLINE|OFFLINE|TIMEOUT)\|(\d+)\|/.exec(states[i + 1]);
        if (!m || !isValidDeviceId(id)) continue;
        const state = m[1] as DeviceState;
        this.mirror({
          device_id: id,
          state,
          previous: state,
          since: Number(m[2]),
          last_seen: lastSeen.get(id) ?? null,
          reason: 'restore',
        });
      }
    } catch (err) {
      if (!(err instanceof TableFullError)) throw err;
    }
    return true;
  }

  /** Sends queued activity now; resolves when every call in flight has settled. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.redis) for (const [ev, fn] of this.listeners) this.redis.off(ev, fn);
    const sub = this.subscriber;
    this.subscriber = null;
    if (sub) await sub.quit().catch(() => sub.disconnect());
  }

  // --- Redis plumbing --------------------------------------------------------------------------------

  private keyArgs(): [string, string, string, string] {
    return [this.keys.lastSeen, this.keys.state, this.keys.deadline, this.keys.lock];
  }

  private attach(redis: Redis & HealthCommands): void {
    // defineCommand handles EVALSHA with a fallback to EVAL, which matters after a Redis restart empties
    // the script cache; defining the same script twice on a shared client is harmless
    if (typeof (redis as Partial<HealthCommands>).mobyHealthActivity !== 'function')
      for (const [name, script] of Object.entries(HEALTH_SCRIPTS)) redis.defineCommand(name, script);
    const onReady = () => void this.connected();
    const onDown = () => this.storeFailed(new Error('connection to Redis lost'));
    const onError = (err: Error) => {
      this.lastError = err;
    };
    this.listeners.push(['ready', onReady], ['close', onDown], ['error', onError]);
    for (const [ev, fn] of this.listeners) redis.on(ev, fn);
    if (redis.status === 'ready') void this.connected();

    const sub = redis.duplicate();
    this.subscriber = sub;
    sub.on('error', () => undefined); // reconnects on its own; the main connection reports outages
    sub.on('message', (_channel: string, text: string) => {
      const ev = parseRemoteEvent(text);
      if (ev) this.mirror(ev);
    });
    // subscribe once connected (no offline queue on a shared client); ioredis resubscribes after reconnects
    this.subscribed = new Promise<void>((resolve) => {
      const subscribe = () =>
        void sub.subscribe(this.keys.channel).then(
          () => resolve(),
          () => resolve()
        );
      if (sub.status === 'ready') subscribe();
      else sub.once('ready', subscribe);
    });
  }

  private async connected(): Promise<void> {
    if (this.closed || this.resyncing) return;
    this.resyncing = this.resync();
    try {
      await this.resyncing;
      // the local mirror follows other instances through pub/sub: be subscribed before deciding in Redis
      // (bounded wait, the mirror is a convenience and must not hold the store back)
      await Promise.race([this.subscribed, new Promise((r) => setTimeout(r, 2000).unref())]);
      if (this.closed) return;
      this.upSinceMono = performance.now();
      this.lastError = null;
      if (!this.up) {
        // once per recovery: a probe and a 'ready' may both resync, only a change is reported
        this.up = true;
        this.everUp = true;
        this.onStore(true);
      }
      this.flush();
    } catch (err) {
      this.storeFailed(err as Error);
    } finally {
      this.resyncing = null;
    }
  }

  /** Pushes the local table to Redis (newer wins) and takes back what Redis knows better. */
  private async resync(): Promise<void> {
    const redis = this.redis!;
    const rows: Array<string | number> = [];
    const calls: Array<Array<string | number>> = [];
    // every call also keeps the watched heartbeat (redis-scripts.ts): this instance has been watching since
    // it started, from memory while Redis was unreachable; there is one call even for an empty table
    let first = true;
    const send = () => {
      if (!rows.length && !first) return;
      first = false;
      const running = Math.round(performance.now() - this.startedMono);
      calls.push([this.startedAt, running, this.watchGapMs, ...rows]);
      rows.length = 0;
    };
    this.table.forEach((id, state, since, seen, statusAt, timeout) => {
      rows.push(
        id,
        state,
        Math.round(since),
        seen === null ? '' : Math.round(seen),
        statusAt === null ? '' : Math.round(statusAt),
        timeout
      );
      if (rows.length >= 6 * this.batchSize) send();
    });
    send();
    // one call after the other: sent at once, a table of a million devices queued a thousand scripts whose
    // last ones waited longer than the command timeout behind the first, which read as a hang
    for (const args of calls)
      this.applyRemote(
        await redis.mobyHealthResync(...this.keyArgs(), this.keys.watched, this.keys.channel, ...args),
        false
      );
    // after the push: a step back clamps what Redis kept from before the step (newer won over the mirror)
    if (this.unsentStep) await this.sendClockStep(this.unsentStep);
  }

  private storeFailed(err: Error): void {
    this.lastError = err;
    if (this.closed) return;
    // an error reply (OOM under noeviction, a script error, READONLY, …) leaves the connection open: no
    // 'close' and no 'ready' follow, so without a probe the node stayed in memory mode for as long as the
    // connection lasted (red-team, 2026-12-05). Also when already down: a resync that failed is retried too.
    // The backoff starts over only after the store stayed up longer than its longest delay, so a store that
    // fails again right after each recovery (a fault the resync does not hit) flaps at most once per
    // storeRetryMs, with one warning each.
    if (this.up && performance.now() - this.upSinceMono > this.storeRetryMs) this.probeDelay = FIRST_PROBE_MS;
    this.scheduleProbe();
    if (!this.up) return;
    this.up = false;
    this.onStore(false, err);
    // a command that timed out: the server (or the way to it) hangs with the connection open, so no 'close'
    // and no 'ready' would ever come; dropping the connection makes the client reconnect, and its 'ready'
    // (the server answers again) resyncs and hands the decisions back to Redis
    if (isRedisTimeout(err)) {
      this.hangs++;
      this.redis?.disconnect(true);
    }
  }

  /**
   * Re-runs the resync (the same check a reconnect does: a script that reads and writes the keys) after a
   * bounded backoff, 0.5 s doubling up to storeRetryMs, until it succeeds; one timer at a time, so a burst of
   * failed batches schedules one probe, not a storm. While the client is not connected the probe only waits:
   * its 'ready' resyncs on its own, and commands would fail at once (no offline queue).
   */
  private scheduleProbe(): void {
    if (this.probeTimer || this.closed || !this.redis) return;
    const delay = this.probeDelay;
    this.probeDelay = Math.min(this.probeDelay * 2, this.storeRetryMs);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      if (this.closed || this.up) return;
      if (this.redis!.status !== 'ready' || this.resyncing) this.scheduleProbe();
      else void this.connected();
    }, delay);
    this.probeTimer.unref();
  }

  private waitingForFirstConnection(): boolean {
    return this.redis !== null && !this.up && !this.everUp && this.now() < this.graceUntil;
  }

  private flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.waitingForFirstConnection()) {
      if (this.queue.size || this.earlyStatus.length)
        this.flushTimer = setTimeout(() => this.flush(), Math.max(this.flushMs, 50));
      return;
    }
    if (this.earlyStatus.length) {
      const early = this.earlyStatus;
      this.earlyStatus = [];
      for (const [id, online, ts, reason, eq] of early) this.applyStatus(id, online, ts, reason, eq); // flushes data first (wills already waited their grace)
    }
    if (this.queue.size === 0) return;
    if (!this.up) {
      const queued = this.queue;
      this.queue = new Map();
      for (const [id, ts] of queued) this.decideLocally(id, ts);
      return;
    }
    const redis = this.redis!;
    const now = this.now();
    let batch: Array<[string, number]> = [];
    const send = () => {
      const items = batch;
      batch = [];
      const args: Array<string | number> = [];
      for (const [id, ts] of items) args.push(id, ts, this.table.timeoutOf(id));
      const call = redis
        .mobyHealthActivity(...this.keyArgs(), now, this.table.holdDownMs, this.keys.channel, ...args)
        .then((evs) => this.applyRemote(evs, true))
        .catch((err: Error) => {
          // the batch may or may not have been applied: decide these devices from memory (an outage
          // boundary can therefore repeat a transition, it never loses one)
          this.storeFailed(err);
          for (const [id, ts] of items) this.decideLocally(id, ts);
        });
      this.track(call);
    };
    for (const entry of this.queue) {
      batch.push(entry);
      if (batch.length >= this.batchSize) send();
    }
    this.queue.clear();
    if (batch.length) send();
  }

  private decideLocally(id: string, ts: number): void {
    const ev = this.table.activity(id, ts);
    if (ev) {
      this.memoryDecisions++;
      this.emitFn(ev);
    }
  }

  private applyRemote(evs: string[], emit: boolean): void {
    if (!Array.isArray(evs)) return;
    for (const text of evs) {
      const ev = parseRemoteEvent(text);
      if (!ev) continue;
      this.mirror(ev);
      if (!emit) continue;
      const eq = this.table.get(ev.device_id)?.equipment_id;
      if (eq !== undefined) ev.equipment_id = eq;
      this.emitFn(ev);
    }
  }

  /**
   * Applies a row read from Redis (a reply, a change message, a refresh) to the memory mirror. A last-seen time
   * past now comes back to now, as clampFuture does at a step: it was written in a clock ahead of ours, or
   * before our clock stepped back and read after (a change message published before the step and delivered
   * late put an hour-old future time back into the mirror, where a device that then died would wait for it).
   */
  private mirror(ev: HealthEvent): boolean {
    if (ev.last_seen !== null) {
      const now = this.now();
      if (ev.last_seen > now) ev.last_seen = now;
    }
    return this.table.apply(ev);
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
