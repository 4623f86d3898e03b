// The device-health state machine: one row per device in parallel typed arrays (indexed through a Map of
// device ids), so 100k devices cost a few dozen bytes each plus the id string, and a sweep is a linear scan
// over numbers. No timers and no clock of its own: callers pass times, and `now` is injectable.
//
// The table is bounded (maxDevices) and never refuses a device: when it is full, a new device takes the row
// of a device that has not been active for the longest (any message about a device counts as activity),
// chosen by CLOCK, the second-chance approximation of LRU that page caches use: a touch sets one byte, and
// the eviction hand skips (and clears) rows touched since it last passed. An exact LRU list cost 13 % of the
// activity hot path (measured in CPU time, 37M → 32M updates/s); the byte write is within noise. Guarantee:
// a device heard at least once per maxDevices new ids is never evicted, so a flood of made-up ids churns
// through the idle rows while devices that keep talking stay. Eviction is O(1) amortised (each touch is
// cleared at most once). Down devices (OFFLINE/TIMEOUT) get no protection here on purpose: status and last-will messages are
// unsigned, so protecting them would let anyone who can publish a will for random ids push the live fleet
// out; the open alert for a down device is kept by moby-alert, which does protect it.
//
// Tenants (docs/tenants.md): the bound holds per tenant. A tenant's device has the id `<tenant>~<device>`
// (core/tenant.ts scopeHealthId); a new device of a tenant at its bound takes the row of that tenant's own
// longest-idle device, so one tenant's flood of device ids never evicts another tenant's devices. Without
// tenants every id is in the one '' partition and the table behaves exactly as before.
import type { DeviceState, HealthEvent, HealthReason } from '../contract';
import { healthTenantOf } from './tenant-lru';

export const DEVICE_STATES: readonly DeviceState[] = ['UNKNOWN', 'ONLINE', 'OFFLINE', 'TIMEOUT'];
const UNKNOWN = 0;
const ONLINE = 1;
const OFFLINE = 2;
const TIMEOUT = 3;

/** Where a device's effective timeout comes from; a higher source is never overwritten by a lower one. */
const SRC_DEFAULT = 0;
const SRC_LEARNED = 1;
const SRC_EQUIPMENT = 2;
const SRC_DEVICE = 3;

/** Intervals kept per device for the learned timeout (median of the last LEARN_RING gaps). */
const LEARN_RING = 8;

export interface HealthTableOptions {
  /** timeout for devices without an override, ms (default 60000) */
  defaultTimeoutMs?: number;
  /** per-device timeouts, ms */
  deviceTimeouts?: ReadonlyMap<string, number>;
  /** per-equipment timeouts, ms (applied to devices reporting that equipment_id) */
  equipmentTimeouts?: ReadonlyMap<string, number>;
  /** learn timeout = factor × median interval (0 = off) */
  learnFactor?: number;
  /** intervals needed before a learned timeout replaces the default (default 8) */
  learnMinSamples?: number;
  /** lower bound of a learned timeout, ms (default 1000) */
  learnMinTimeoutMs?: number;
  /** a recovering device must keep sending for this long before it is reported ONLINE again (0 = off) */
  holdDownMs?: number;
  /** device bound, per tenant: beyond it the tenant's device idle for the longest (CLOCK) is evicted (default 1,000,000) */
  maxDevices?: number;
  now?: () => number;
}

export interface DeviceHealthRow {
  device_id: string;
  state: DeviceState;
  since: number | null;
  last_seen: number | null;
  reason: HealthReason | null;
  timeout_ms: number;
  timeout_source: 'default' | 'learned' | 'equipment' | 'device';
  equipment_id?: string;
}

/** What a table serialises to for persistence (Node-RED context); columns keep the JSON small. */
export interface PersistedHealthTable {
  v: 1;
  saved_at: number;
  ids: string[];
  state: number[];
  since: number[];
  last_seen: Array<number | null>;
  status_at: Array<number | null>;
  learned: Array<number | null>;
  equipment: Record<string, string>;
}

/** Kept for callers that still catch it; the table evicts instead of throwing since issue #10. */
export class TableFullError extends Error {
  constructor(readonly max: number) {
    super(`device table is full (${max} devices)`);
  }
}

const REASONS: readonly HealthReason[] = ['data', 'status', 'lwt', 'timeout', 'restore', 'registered'];
const TIMEOUT_SOURCES = ['default', 'learned', 'equipment', 'device'] as const;

export class HealthTable {
  readonly defaultTimeoutMs: number;
  readonly holdDownMs: number;
  readonly learnFactor: number;
  readonly maxDevices: number;
  private readonly learnMinSamples: number;
  private readonly learnMinTimeoutMs: number;
  private readonly deviceTimeouts: ReadonlyMap<string, number>;
  private readonly equipmentTimeouts: ReadonlyMap<string, number>;
  private readonly now: () => number;

  private readonly index = new Map<string, number>();
  private ids: string[] = [];
  private size = 0;
  private cap = 0;
  private state = new Uint8Array(0);
  private reason = new Uint8Array(0);
  private timeoutSource = new Uint8Array(0);
  private since = new Float64Array(0);
  private lastSeen = new Float64Array(0); // NaN = never seen
  private statusAt = new Float64Array(0); // time of the newest status/LWT message, NaN = none
  private pending = new Float64Array(0); // hold-down: time recovery started, NaN = none
  private timeout = new Float64Array(0);
  private learnRing: Float32Array | null = null;
  private learnCount: Uint8Array | null = null;
  // CLOCK: 1 = touched since the hand last passed the row; `hand` is the next row the eviction looks at
  private touched = new Uint8Array(0);
  private hand = 0;
  private evictedCount = 0;
  /**
   * When a persisted table was restored (-Infinity: never). Nobody watched the devices while the node was
   * down, so a restored device's silence is counted from here, not from its last message before the restart:
   * a restart (or an outage of the pipeline) longer than the timeout does not report every device as timed
   * out — a device that stays silent for a whole timeout after the restart is.
   */
  private watchedSince = -Infinity;
  // the tenant partition of each row (index into partNames) and the rows per partition ('' = no tenant)
  private rowPart: number[] = [];
  private readonly partIds = new Map<string, number>();
  private readonly partRows: number[] = [];
  private readonly equipment = new Map<number, string>();
  private readonly counts = [0, 0, 0, 0];
  private readonly scratch = new Float64Array(LEARN_RING);

  constructor(opts: HealthTableOptions = {}) {
    this.defaultTimeoutMs = positive(opts.defaultTimeoutMs, 60000);
    this.holdDownMs = Math.max(0, opts.holdDownMs ?? 0);
    this.learnFactor = Math.max(0, opts.learnFactor ?? 0);
    this.learnMinSamples = Math.min(LEARN_RING, Math.max(1, opts.learnMinSamples ?? LEARN_RING));
    this.learnMinTimeoutMs = positive(opts.learnMinTimeoutMs, 1000);
    this.maxDevices = positive(opts.maxDevices, 1_000_000);
    this.deviceTimeouts = opts.deviceTimeouts ?? new Map();
    this.equipmentTimeouts = opts.equipmentTimeouts ?? new Map();
    this.now = opts.now ?? Date.now;
    this.grow(64);
  }

  get deviceCount(): number {
    return this.size;
  }

  /** Devices dropped so far to stay within maxDevices (including rows trimmed when restoring). */
  get evictions(): number {
    return this.evictedCount;
  }

  /** Devices per state. */
  stateCounts(): Record<DeviceState, number> {
    return { UNKNOWN: this.counts[0], ONLINE: this.counts[1], OFFLINE: this.counts[2], TIMEOUT: this.counts[3] };
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Makes a known device visible as UNKNOWN (no event: nothing changed yet). */
  register(id: string, equipmentId?: string, at = this.now()): void {
    this.slot(id, at);
    if (equipmentId) this.setEquipment(this.index.get(id)!, equipmentId);
  }

  /**
   * Records only that the device was seen at `ts` (newer wins) and learns its interval, without deciding a
   * transition (used while a shared store decides). Returns the time the message counts at (`dated`).
   */
  observe(id: string, ts: number, equipmentId?: string, receivedAt = ts): number {
    const i = this.rowFor(id, ts, equipmentId);
    const at = this.dated(i, ts, receivedAt);
    this.seen(i, at);
    return at;
  }

  private rowFor(id: string, ts: number, equipmentId: string | undefined): number {
    const i = this.slot(id, ts);
    if (equipmentId !== undefined && this.equipment.get(i) !== equipmentId) this.setEquipment(i, equipmentId);
    return i;
  }

  /**
   * The time a message received at `receivedAt` counts at: its own stamp `ts`, unless that is more than half
   * the device's own timeout behind. The node caps the clock skew at half its default timeout; a device with a
   * shorter timeout (a per-device or per-equipment override, a learned one) and a clock behind by more than its
   * timeout less its send interval would otherwise have every message dated past its timeout: timed out while
   * sending, and kept TIMEOUT, since late data does not revive a device.
   */
  private dated(i: number, ts: number, receivedAt: number): number {
    return receivedAt - ts > this.timeout[i] / 2 ? receivedAt : ts;
  }

  /** last-seen (newer wins) and the learned interval of row i; no lookup, so no second touch per message */
  private seen(i: number, ts: number): void {
    const prev = this.lastSeen[i];
    if (!(ts <= prev)) {
      // NaN-safe: true when never seen or newer
      if (this.learnRing && prev === prev) this.learn(i, ts - prev);
      this.lastSeen[i] = ts;
    }
  }

  /**
   * Data from a device at `ts`: updates last-seen and returns the transition it causes, if any. `stamped` is the
   * device's own stamp when the reader replaced it with the receive time (too far from it: a clock behind, or a
   * backlog delivered late). Such a message still counts as heard now, but it cannot revive an OFFLINE device
   * whose OFFLINE came after its stamp: after a Node-RED crash or stall the broker hands over a dead device's
   * retained will first and its backlog after, and that backlog, dated on receipt, resolved the critical OFFLINE
   * within 50 ms and left a TIMEOUT warning 66 s late (red-team round 2026-12-06). A device whose clock is
   * behind by d comes back from OFFLINE d after its will (or at its birth).
   */
  activity(id: string, ts: number, equipmentId?: string, receivedAt = ts, stamped?: number): HealthEvent | null {
    const i = this.rowFor(id, ts, equipmentId);
    ts = this.dated(i, ts, receivedAt);
    this.seen(i, ts);
    const st = this.state[i];
    if (st === ONLINE) return null;
    // data older than the OFFLINE status that is in force cannot revive the device
    if (st === OFFLINE && (ts < this.statusAt[i] || (stamped !== undefined && stamped < this.statusAt[i]))) return null;
    // a late message that is itself already past the timeout does not revive a timed-out device
    if (st === TIMEOUT && this.lastSeen[i] + this.timeout[i] <= this.now()) return null;
    if (this.holdDownMs > 0 && st !== UNKNOWN) {
      if (this.pending[i] !== this.pending[i]) this.pending[i] = ts;
      return null;
    }
    return this.transition(i, ONLINE, ts, 'data');
  }

  /** When the OFFLINE in force for `id` was stated (its will's time); -Infinity when it is not OFFLINE or unknown. */
  offlineSince(id: string): number {
    const i = this.index.get(id);
    return i !== undefined && this.state[i] === OFFLINE ? this.statusAt[i] : -Infinity;
  }

  /** A status/LWT message: online (birth) or offline (will). Stale or out-of-order messages change nothing. */
  status(id: string, online: boolean, ts: number, reason: 'status' | 'lwt', equipmentId?: string): HealthEvent | null {
    const i = this.slot(id, ts);
    if (equipmentId !== undefined && this.equipment.get(i) !== equipmentId) this.setEquipment(i, equipmentId);
    if (ts < this.statusAt[i]) return null; // older than the status we already applied
    if (!online) {
      if (ts < this.lastSeen[i]) return null; // stale will: the device has sent data since
      this.statusAt[i] = ts;
      this.pending[i] = NaN;
      if (this.state[i] === OFFLINE) return null;
      return this.transition(i, OFFLINE, ts, reason);
    }
    this.statusAt[i] = ts;
    // not observe(): a second lookup would mark a brand-new row as touched, and CLOCK would then treat a
    // device heard once (a flood of birth messages) like one that keeps talking
    this.seen(i, ts);
    const st = this.state[i];
    if (st === ONLINE) return null;
    if (this.holdDownMs > 0 && st !== UNKNOWN) {
      if (this.pending[i] !== this.pending[i]) this.pending[i] = ts;
      return null;
    }
    return this.transition(i, ONLINE, ts, reason);
  }

  /**
   * Nobody could hear the devices up to `now` (the pipeline held its input back: a full in-flight window, no
   * broker connection): like a restart, their silence is counted from here, so a device silent for a whole
   * timeout after the pipeline listens again is reported — not every device at once while it could not.
   */
  unwatched(now = this.now()): void {
    if (now > this.watchedSince) this.watchedSince = now;
  }

  /**
   * The host's wall clock stepped by `deltaMs` (NTP correcting it, an operator setting it, a VM resumed with its
   * old time): every time the table holds is re-expressed in the new clock, so a device's silence is what it
   * was before the step. Without this a step forward of an hour timed out every device at once, and a step
   * back left every device's last-seen an hour in the future (a device dying then was reported an hour late).
   */
  shiftTime(deltaMs: number): void {
    if (!Number.isFinite(deltaMs) || deltaMs === 0) return;
    for (let i = 0; i < this.size; i++) {
      this.since[i] += deltaMs;
      this.lastSeen[i] += deltaMs; // NaN (never seen) stays NaN
      this.statusAt[i] += deltaMs;
      this.pending[i] += deltaMs;
    }
    if (this.watchedSince !== -Infinity) this.watchedSince += deltaMs;
  }

  /**
   * The host's clock stepped back to `now` while these times are shared with other instances (Redis mode), so
   * they are not moved by the step: times past `now` — written in the clock before it — come back to `now`, as
   * the shared store's CLOCK_STEP_LUA does. Otherwise a resync after a later outage pushed them back into Redis
   * (newer wins), and a device that died stayed unreported for up to the step.
   */
  clampFuture(now = this.now()): void {
    for (let i = 0; i < this.size; i++) {
      if (this.lastSeen[i] > now) this.lastSeen[i] = now;
      if (this.since[i] > now) this.since[i] = now;
      if (this.statusAt[i] > now) this.statusAt[i] = now;
      if (this.pending[i] > now) this.pending[i] = now;
    }
    if (this.watchedSince > now) this.watchedSince = now;
  }

  /** Times out silent devices and completes hold-downs; returns the transitions in table order. */
  sweep(now = this.now()): HealthEvent[] {
    const out: HealthEvent[] = [];
    const { state, lastSeen, timeout, pending, since, watchedSince } = this;
    for (let i = 0; i < this.size; i++) {
      const st = state[i];
      if (st === ONLINE) {
        const due = Math.max(lastSeen[i], watchedSince) + timeout[i];
        if (due <= now) out.push(this.transition(i, TIMEOUT, due, 'timeout'));
      } else if (st === UNKNOWN) {
        // registered but never seen: silent from registration on
        const due = Math.max(since[i], watchedSince) + timeout[i];
        if (lastSeen[i] !== lastSeen[i] && due <= now) out.push(this.transition(i, TIMEOUT, due, 'timeout'));
      } else if (pending[i] === pending[i]) {
        if (Math.max(lastSeen[i], watchedSince) + timeout[i] <= now)
          pending[i] = NaN; // fell silent again during the hold-down
        else if (now - pending[i] >= this.holdDownMs) out.push(this.transition(i, ONLINE, pending[i], 'data'));
      }
    }
    return out;
  }

  /**
   * Applies a transition decided elsewhere (the shared Redis store, another instance). Newer wins by
   * `since`; returns whether the row changed.
   */
  apply(ev: HealthEvent): boolean {
    const i = this.slot(ev.device_id, ev.since);
    if (ev.last_seen !== null && !(ev.last_seen <= this.lastSeen[i])) this.lastSeen[i] = ev.last_seen;
    if (ev.equipment_id && this.equipment.get(i) !== ev.equipment_id) this.setEquipment(i, ev.equipment_id);
    const st = DEVICE_STATES.indexOf(ev.state);
    if (st < 0 || (ev.since < this.since[i] && this.state[i] !== UNKNOWN)) return false;
    if (ev.state === 'OFFLINE' && !(ev.since <= this.statusAt[i])) this.statusAt[i] = ev.since;
    this.pending[i] = NaN;
    if (this.state[i] === st) return false;
    this.transition(i, st, ev.since, ev.reason);
    return true;
  }

  /** The effective timeout of a device (ms), or the default for an unknown id. */
  timeoutOf(id: string): number {
    const i = this.index.get(id);
    return i === undefined ? this.defaultTimeoutMs : this.timeout[i];
  }

  get(id: string): DeviceHealthRow | null {
    const i = this.index.get(id);
    return i === undefined ? null : this.row(i);
  }

  /** The whole table, sorted by device id. */
  snapshot(): DeviceHealthRow[] {
    const rows: DeviceHealthRow[] = new Array(this.size);
    for (let i = 0; i < this.size; i++) rows[i] = this.row(i);
    return rows.sort((a, b) => (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0));
  }

  /** Every device as it would be reported on snapshot, one event-shaped row per device, in table order. */
  forEach(
    fn: (
      id: string,
      state: DeviceState,
      since: number,
      lastSeen: number | null,
      statusAt: number | null,
      timeoutMs: number
    ) => void
  ): void {
    for (let i = 0; i < this.size; i++) {
      const seen = this.lastSeen[i];
      const sat = this.statusAt[i];
      fn(
        this.ids[i],
        DEVICE_STATES[this.state[i]],
        this.since[i],
        seen === seen ? seen : null,
        sat === sat ? sat : null,
        this.timeout[i]
      );
    }
  }

  serialize(): PersistedHealthTable {
    // in eviction order, from the hand on (idle rows first, touched ones last): restore() appends in this
    // order, so the order survives a restart and a table restored into a smaller bound keeps the active ones
    const out: PersistedHealthTable = {
      v: 1,
      saved_at: this.now(),
      ids: [],
      state: [],
      since: [],
      last_seen: [],
      status_at: [],
      learned: [],
      equipment: {},
    };
    const order: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < this.size; k++) {
        const i = (this.hand + k) % this.size;
        if (this.touched[i] === pass) order.push(i);
      }
    }
    for (const i of order) {
      out.ids.push(this.ids[i]);
      out.state.push(this.state[i]);
      out.since.push(this.since[i]);
      out.last_seen.push(finiteOrNull(this.lastSeen[i]));
      out.status_at.push(finiteOrNull(this.statusAt[i]));
      out.learned.push(this.timeoutSource[i] === SRC_LEARNED ? this.timeout[i] : null);
    }
    for (const [i, eq] of this.equipment) out.equipment[this.ids[i]] = eq;
    return out;
  }

  /**
   * Loads persisted rows (replacing nothing already present). Returns the number of rows restored, or a
   * reason when the data is not a table we wrote. Rows beyond maxDevices are not refused: the oldest are
   * evicted as later ones arrive (counted in `evictions`), so a table saved during a flood cannot lock new
   * devices out after a restart.
   */
  restore(data: unknown): number | string {
    if (!isPersisted(data)) return 'not a persisted device table';
    const n = data.ids.length;
    let restored = 0;
    for (let k = 0; k < n; k++) {
      const id = data.ids[k];
      const st = data.state[k];
      if (typeof id !== 'string' || this.index.has(id) || !(st >= 0 && st <= 3)) continue;
      const i = this.slot(id, finiteOr(data.since[k], this.now()));
      this.counts[this.state[i]]--;
      this.state[i] = st;
      this.counts[st]++;
      this.reason[i] = REASONS.indexOf('restore');
      this.lastSeen[i] = finiteOr(data.last_seen[k], NaN);
      this.statusAt[i] = finiteOr(data.status_at[k], NaN);
      const learned = finiteOr(data.learned[k], NaN);
      if (learned > 0 && this.timeoutSource[i] <= SRC_LEARNED) {
        this.timeout[i] = learned;
        this.timeoutSource[i] = SRC_LEARNED;
      }
      const eq = data.equipment[id];
      if (typeof eq === 'string') this.setEquipment(i, eq);
      restored++;
    }
    if (restored) this.watchedSince = this.now();
    return Math.min(restored, this.size);
  }

  // --- internals -------------------------------------------------------------------------------------

  private row(i: number): DeviceHealthRow {
    const seen = this.lastSeen[i];
    const r = this.reason[i];
    const row: DeviceHealthRow = {
      device_id: this.ids[i],
      state: DEVICE_STATES[this.state[i]],
      since: this.since[i],
      last_seen: seen === seen ? seen : null,
      reason: r === 255 ? null : REASONS[r],
      timeout_ms: this.timeout[i],
      timeout_source: TIMEOUT_SOURCES[this.timeoutSource[i]],
    };
    const eq = this.equipment.get(i);
    if (eq !== undefined) row.equipment_id = eq;
    return row;
  }

  private transition(i: number, to: number, at: number, reason: HealthReason): HealthEvent {
    const from = this.state[i];
    this.counts[from]--;
    this.counts[to]++;
    this.state[i] = to;
    this.since[i] = at;
    this.reason[i] = REASONS.indexOf(reason);
    this.pending[i] = NaN;
    const seen = this.lastSeen[i];
    const ev: HealthEvent = {
      device_id: this.ids[i],
      state: DEVICE_STATES[to],
      previous: DEVICE_STATES[from],
      since: at,
      last_seen: seen === seen ? seen : null,
      reason,
    };
    const eq = this.equipment.get(i);
    if (eq !== undefined) ev.equipment_id = eq;
    return ev;
  }

  /**
   * Row index of a device, created as UNKNOWN (since `at`) when new, and marks it as touched (active).
   * A new device in a full table takes over the row the CLOCK hand picks.
   */
  private slot(id: string, at: number): number {
    const found = this.index.get(id);
    if (found !== undefined) {
      this.touched[found] = 1;
      return found;
    }
    let i: number;
    const part = this.partitionOf(id);
    if (this.partRows[part] >= this.maxDevices) {
      // the tenant is at its bound: its own longest-idle device makes room
      i = this.victim(part);
      this.index.delete(this.ids[i]);
      this.equipment.delete(i);
      this.counts[this.state[i]]--;
      this.evictedCount++;
      this.ids[i] = id;
    } else {
      // the bound is per tenant, the arrays are shared: with P tenants they may hold up to P × maxDevices rows.
      // This partition is under its bound, so size < P × maxDevices and the arrays can always grow here.
      if (this.size === this.cap)
        this.grow(Math.max(64, Math.min(this.cap * 2, this.maxDevices * this.partRows.length)));
      i = this.size++;
      this.ids.push(id);
      this.rowPart.push(part);
      this.partRows[part]++;
    }
    this.index.set(id, i);
    // a new row starts untouched: behind the hand, it still gets a full revolution before it can go
    this.touched[i] = 0;
    this.state[i] = UNKNOWN;
    this.counts[UNKNOWN]++;
    this.reason[i] = 255;
    this.since[i] = at;
    this.lastSeen[i] = NaN;
    this.statusAt[i] = NaN;
    this.pending[i] = NaN;
    const own = this.deviceTimeouts.get(id);
    this.timeout[i] = own ?? this.defaultTimeoutMs;
    this.timeoutSource[i] = own !== undefined ? SRC_DEVICE : SRC_DEFAULT;
    if (this.learnCount) this.learnCount[i] = 0;
    return i;
  }

  /** The tenant partition number of a device id ('' = no tenant = 0). */
  private partitionOf(id: string): number {
    const tenant = healthTenantOf(id);
    let p = this.partIds.get(tenant);
    if (p === undefined) {
      p = this.partRows.length;
      this.partIds.set(tenant, p);
      this.partRows.push(0);
    }
    return p;
  }

  /**
   * The CLOCK hand: the first row of the partition not touched since the hand last passed it (clearing
   * those it skips). Rows of other partitions are passed over untouched: one tenant's flood does not age
   * another tenant's devices.
   */
  private victim(part: number): number {
    for (;;) {
      const i = this.hand;
      this.hand = i + 1 >= this.size ? 0 : i + 1;
      if (this.rowPart[i] !== part) continue;
      if (this.touched[i] === 0) return i;
      this.touched[i] = 0;
    }
  }

  private setEquipment(i: number, equipmentId: string): void {
    this.equipment.set(i, equipmentId);
    const t = this.equipmentTimeouts.get(equipmentId);
    if (t !== undefined && this.timeoutSource[i] <= SRC_EQUIPMENT) {
      this.timeout[i] = t;
      this.timeoutSource[i] = SRC_EQUIPMENT;
    }
  }

  private learn(i: number, interval: number): void {
    const ring = this.learnRing!;
    const count = this.learnCount!;
    const c = count[i];
    ring[i * LEARN_RING + (c % LEARN_RING)] = interval;
    count[i] = c >= 2 * LEARN_RING - 1 ? LEARN_RING : c + 1; // keeps c % RING cycling without overflow
    const n = Math.min(count[i], LEARN_RING);
    // recompute only every few samples: the median moves slowly and the hot path stays cheap
    if (n < this.learnMinSamples || (c & 3) !== 3 || this.timeoutSource[i] > SRC_LEARNED) return;
    // insertion sort of at most 8 values into a reused scratch array: no allocation on the hot path
    const w = this.scratch;
    for (let k = 0; k < n; k++) {
      const v = ring[i * LEARN_RING + k];
      let j = k - 1;
      while (j >= 0 && w[j] > v) {
        w[j + 1] = w[j];
        j--;
      }
      w[j + 1] = v;
    }
    const median = n % 2 ? w[(n - 1) >> 1] : (w[n / 2 - 1] + w[n / 2]) / 2;
    this.timeout[i] = Math.max(this.learnMinTimeoutMs, Math.round(this.learnFactor * median));
    this.timeoutSource[i] = SRC_LEARNED;
  }

  private grow(cap: number): void {
    const copy = <T extends Uint8Array | Float64Array | Float32Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(cap * per);
      b.set(a);
      return b;
    };
    this.state = copy(this.state, (n) => new Uint8Array(n));
    this.reason = copy(this.reason, (n) => new Uint8Array(n));
    this.timeoutSource = copy(this.timeoutSource, (n) => new Uint8Array(n));
    this.since = copy(this.since, (n) => new Float64Array(n));
    this.lastSeen = copy(this.lastSeen, (n) => new Float64Array(n));
    this.statusAt = copy(this.statusAt, (n) => new Float64Array(n));
    this.pending = copy(this.pending, (n) => new Float64Array(n));
    this.timeout = copy(this.timeout, (n) => new Float64Array(n));
    this.touched = copy(this.touched, (n) => new Uint8Array(n));
    if (this.learnFactor > 0) {
      this.learnRing = copy(this.learnRing ?? new Float32Array(0), (n) => new Float32Array(n), LEARN_RING);
      this.learnCount = copy(this.learnCount ?? new Uint8Array(0), (n) => new Uint8Array(n));
    }
    this.cap = cap;
  }
}

function positive(v: number | undefined, fallback: number): number {
  return typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : fallback;
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function finiteOr(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function isPersisted(d: unknown): d is PersistedHealthTable {
  if (typeof d !== 'object' || d === null) return false;
  const p = d as Partial<PersistedHealthTable>;
  const n = Array.isArray(p.ids) ? p.ids.length : -1;
  return (
    p.v === 1 &&
    n >= 0 &&
    [p.state, p.since, p.last_seen, p.status_at, p.learned].every((c) => Array.isArray(c) && c.length === n) &&
    typeof p.equipment === 'object' &&
    p.equipment !== null
  );
}
