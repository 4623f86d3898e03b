// Replay protection for the v1 scheme: which nonces each device has used inside the freshness window, bounded
// per device, in total and in devices, such that no eviction ever makes a used nonce acceptable again.
//
// Why per device: one shared FIFO let a device with its own key push a victim's nonces out by flooding, after
// which the victim's captured message was accepted again. Here a device that overflows its own budget only
// evicts its own nonces, and every eviction raises a floor instead of forgetting:
//   - per device: dropping a still-fresh nonce with ts t raises that device's floor to t + 1, and messages
//     with ts below its floor are refused (their nonce may be one that was dropped);
//   - in total / in devices: the least recently active device is evicted whole, and the global floor (which
//     every device entering the cache starts from) rises to its newest ts + 1.
// Entries whose ts + window has passed are dropped freely (lazily, when room is needed): the stale check
// refuses those messages anyway.
//
// "Least recently active" is kept with a bounded slack (issue 16, eleventh round): a device moves to the end of
// the order only when more than `slack` = capacity / 16 nonces were remembered since it last moved (or at once
// when the cache is full), not on every message — a Map delete + set per message was ~3 % of the pipeline's
// main thread. The guarantee: a device is evicted as the least recently active only while every device kept
// had a nonce remembered no more than `slack` remembered nonces before the evicted device's last one; a device
// idle longer than that before another's last message is always evicted first. (A device's place lags its last
// activity by at most `slack`, and the order is by place.) Eviction only ever raises floors, so the slack
// decides whose nonces go first, never whether a replay can pass. A cache under 16 nonces keeps the exact order.
//
// Every change that must survive a crash is reported as one record line (see ReplayRecord) so a journal
// (replay-journal.ts) can persist it before the message is acted upon, and load() rebuilds the same state.

/**
 * Nonces remembered in total by default. The cache must hold every nonce of its window (tolerance) or a
 * floor rises and authentic messages are refused as `replay`: a fleet sending R messages/s fills R × tolerance
 * (1000 devices once a second, 300 s: 300,000). The bound is memory's ceiling, not an allocation (~76 bytes per
 * nonce held): 1,000,000 covers 3,300 messages/s at the default tolerance; 100,000 (the default until
 * 2026-12-04) covered 333, and npm start's simulator with 1000 devices refused 1.2 % of its warm-up.
 */
export const DEFAULT_REPLAY_CAPACITY = 1_000_000;

export interface NonceCacheOptions {
  /** freshness window in seconds: a nonce is kept until its ts + windowSec (the verifier's tolerance) */
  windowSec: number;
  /** nonces remembered in total (default DEFAULT_REPLAY_CAPACITY) */
  capacity?: number;
  /** nonces remembered per device (default min(10000, capacity)) */
  perDevice?: number;
  /** devices remembered (default min(100000, capacity)) */
  maxDevices?: number;
  /** receives every state change as a record line, for a crash-safe journal */
  onRecord?: (line: string) => void;
}

/** Outcome of check(). */
export enum NonceCheck {
  /** new nonce: remembered, the message may pass */
  Fresh = 0,
  /** nonce already used by this device inside the window */
  Replay = 1,
  /** ts below the device's (or the global) floor: its nonce may have been dropped, so it cannot be proven new */
  BelowFloor = 2,
  /** nonce already used, but the message is a broker redelivery (MQTT DUP): passes (as often as the broker resends it) */
  Redelivered = 3,
}

interface DeviceNonces {
  /**
   * nonce → its ts (Unix seconds: a small integer to V8 until 2038, so no boxed number per nonce; until
   * 2026-12-04 it was ts * 2 plus a redelivery bit no longer consulted, a heap number each); Map order = arrival
   */
  nonces: Map<string, number>;
  /** messages with ts below this are refused */
  minTs: number;
  /** newest ts remembered */
  maxTs: number;
  /** the cache's count of remembered nonces when this device last took its place at the end of the order */
  placed: number;
  /** nonces remembered since its expired ones were last dropped (see SWEEP_EVERY) */
  sinceSweep: number;
}

/**
 * A device's expired nonces are dropped every this many of its messages, not only when a bound is reached:
 * otherwise a cache that ever filled stays full of expired nonces, and its memory is the capacity's (~80 MB
 * at the default) rather than what the window holds. One iterator per 64 messages of a device.
 */
const SWEEP_EVERY = 64;

const NO_FLOOR = -1;

export class NonceCache {
  readonly capacity: number;
  readonly perDevice: number;
  readonly maxDevices: number;
  readonly windowSec: number;
  /** least recently active device first, within `slack` (Map order; see the header) */
  private readonly devices = new Map<string, DeviceNonces>();
  /** the device at the end of the order (the last one placed there), or null when not known */
  private tail: DeviceNonces | null = null;
  /**
   * The first device of the order, found through `headCursor`, or null when it must be looked up again (it was
   * removed or moved to the end). A fresh `devices.entries().next()` per lookup skips every entry deleted since
   * V8 last rehashed the table, so under churn each lookup cost O(devices): 2–3 / 22–24 / 112–120 µs per new
   * device at a device bound of 1k / 10k / 100k, against 1–3 µs with the cursor (docs/benchmarks.md). Everything
   * the cursor passed was removed or moved behind it, so its next live entry is the first.
   */
  private head: [string, DeviceNonces] | null = null;
  private headCursor: Iterator<[string, DeviceNonces]> | null = null;
  /** nonces remembered so far: the clock of the order */
  private remembered = 0;
  /** how many remembered nonces a device's place may lag its last activity (capacity / 16) */
  readonly slack: number;
  private floor = NO_FLOOR;
  private entries = 0;
  private readonly onRecord: ((line: string) => void) | null;
  /** still-fresh nonces dropped to stay within a bound (each raised a floor) */
  evictions = 0;
  /** devices evicted whole while some of their nonces were still fresh */
  deviceEvictions = 0;

  constructor(o: NonceCacheOptions) {
    this.windowSec = o.windowSec;
    this.capacity = Math.max(1, Math.floor(o.capacity ?? DEFAULT_REPLAY_CAPACITY));
    this.perDevice = Math.max(1, Math.min(this.capacity, Math.floor(o.perDevice ?? 10000)));
    this.maxDevices = Math.max(1, Math.min(this.capacity, Math.floor(o.maxDevices ?? 100000)));
    this.onRecord = o.onRecord ?? null;
    this.slack = Math.floor(this.capacity / 16);
  }

  /** Nonces currently remembered. */
  get size(): number {
    return this.entries;
  }

  get deviceCount(): number {
    return this.devices.size;
  }

  /** The floor every device entering the cache starts from (-1: none). */
  get globalFloor(): number {
    return this.floor;
  }

  /** The devices remembered: each had an authentic message inside the window (or a floor raised by its own). */
  deviceIds(): IterableIterator<string> {
    return this.devices.keys();
  }

  /** Whether the device is remembered (not evicted, or back since). */
  has(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  /** The floor of one device (its own, or the global one when it is not remembered). */
  floorOf(deviceId: string): number {
    const d = this.devices.get(deviceId);
    return d ? d.minTs : this.floor;
  }

  /**
   * Checks a nonce of an authenticated message with timestamp `ts` (Unix seconds, already inside the window)
   * at `now`; remembers it when it is new. `redelivered`: the transport says this is a redelivery of a
   * message it delivered before (MQTT DUP set by the broker) — a used nonce then passes, every time.
   */
  check(deviceId: string, nonce: string, ts: number, now: number, redelivered = false): NonceCheck {
    const d = this.devices.get(deviceId);
    if (d !== undefined) {
      const seen = d.nonces.get(nonce);
      if (seen !== undefined && seen + this.windowSec >= now) {
        if (!redelivered) return NonceCheck.Replay;
        // Every broker redelivery passes, not only the first: the broker sends a message again only while it
        // has no acknowledgement for it, i.e. no earlier copy became durable (or was settled). Passing it once
        // only lost it when Node-RED died twice with it in flight (a crash loop, a kill during the redelivery
        // burst): the third copy was rejected as a replay, and a reject is acknowledged. A device cannot set
        // DUP (the broker never forwards it), and a copy passed again writes the same points, stored once.
        return NonceCheck.Redelivered;
      }
      if (ts < d.minTs) return NonceCheck.BelowFloor;
      if (seen !== undefined) {
        // an expired use of the same nonce: forget it, this is a new message
        d.nonces.delete(nonce);
        this.entries--;
      }
    } else if (ts < this.floor) {
      return NonceCheck.BelowFloor;
    }
    this.remember(deviceId, d, nonce, ts, now, false);
    this.record(`n\t${deviceId}\t${nonce}\t${ts}`);
    return NonceCheck.Fresh;
  }

  /** Rebuilds state from record lines (a journal), as if the recorded events had happened; bad lines are skipped. */
  load(lines: Iterable<string>, now: number): number {
    let applied = 0;
    for (const line of lines) {
      const p = line.split('\t');
      if (p[0] === 'n' && p.length === 4) {
        const ts = Number(p[3]);
        if (!Number.isSafeInteger(ts) || ts + this.windowSec < now) continue;
        const d = this.devices.get(p[1]);
        if (d?.nonces.has(p[2])) continue;
        if (ts < (d ? d.minTs : this.floor)) continue; // already covered by a floor
        this.remember(p[1], d, p[2], ts, now, true);
      } else if (p[0] === 'r' && p.length === 3) {
        continue; // journals before 2026-12-04 marked a passed redelivery; every redelivery passes now
      } else if (p[0] === 'm' && p.length === 3) {
        const t = Number(p[2]);
        if (!Number.isSafeInteger(t)) continue;
        let d = this.devices.get(p[1]);
        if (!d) {
          if (t <= this.floor || t + this.windowSec < now) continue; // nothing the global floor does not cover
          d = this.add(p[1], now, true);
        }
        if (t > d.minTs) d.minTs = t;
      } else if (p[0] === 'g' && p.length === 2) {
        const t = Number(p[1]);
        if (Number.isSafeInteger(t) && t > this.floor) this.floor = t;
      } else continue;
      applied++;
    }
    this.tail = null;
    return applied;
  }

  /** The whole state as record lines (what a compacted journal holds); expired entries left out. */
  *snapshot(now: number): Generator<string> {
    if (this.floor !== NO_FLOOR) yield `g\t${this.floor}`;
    // over the devices of this moment, not the live Map: a compaction in slices (replay-journal.ts) resumes this
    // between messages, and a busy device moves to the end of the Map's order; a live iteration met every
    // device that spoke since it was passed again and, with a full cache (every message moves its device),
    // never ended. What the devices do after this line reaches the journal as records anyway.
    const devices = [...this.devices];
    for (const [id, d] of devices) {
      if (d.minTs > this.floor && d.minTs + this.windowSec >= now) yield `m\t${id}\t${d.minTs}`;
      for (const [nonce, ts] of d.nonces) {
        if (ts + this.windowSec < now) continue;
        yield `n\t${id}\t${nonce}\t${ts}`;
      }
    }
  }

  clear(): void {
    this.devices.clear();
    this.tail = null;
    this.head = null;
    this.headCursor = null;
    this.floor = NO_FLOOR;
    this.entries = 0;
  }

  // --- internals -------------------------------------------------------------------------------------

  private record(line: string): void {
    if (this.onRecord) this.onRecord(line);
  }

  private remember(
    deviceId: string,
    d: DeviceNonces | undefined,
    nonce: string,
    ts: number,
    now: number,
    loading: boolean
  ): DeviceNonces {
    if (d === undefined) {
      d = this.add(deviceId, now, loading);
    } else if (d === this.tail) {
      d.placed = this.remembered; // already at the end
    } else if (this.remembered - d.placed > this.slack || this.entries >= this.capacity) {
      // least-recently-active order: move to the end once its place lags by more than the slack, and always
      // when the cache is full (makeRoom below then evicts others, never the device being served)
      if (this.head !== null && this.head[1] === d) this.head = null;
      this.devices.delete(deviceId);
      this.devices.set(deviceId, d);
      d.placed = this.remembered;
      this.tail = d;
    }
    this.remembered++;
    const nonces = d.nonces;
    if (++d.sinceSweep >= SWEEP_EVERY) {
      d.sinceSweep = 0;
      this.dropExpired(nonces, now);
    }
    if (nonces.size >= this.perDevice || this.entries >= this.capacity) {
      // room is needed: the expired nonces at the front go first, for free
      const oldestFresh = this.dropExpired(nonces, now);
      if (nonces.size >= this.perDevice && oldestFresh !== undefined)
        this.dropFresh(deviceId, d, oldestFresh[0], oldestFresh[1], loading);
      else if (this.entries >= this.capacity) this.makeRoom(d, deviceId, now, loading);
    }
    nonces.set(nonce, ts);
    this.entries++;
    if (ts > d.maxTs) d.maxTs = ts;
    return d;
  }

  private add(deviceId: string, now: number, loading: boolean): DeviceNonces {
    // a device that has been silent for a whole window holds nothing fresh: drop it for free
    const first = this.first();
    if (first !== null && first[1].maxTs + this.windowSec < now) this.removeDevice(first[0], first[1], now, loading);
    while (this.devices.size >= this.maxDevices) this.evictLeastActive(now, loading);
    const d: DeviceNonces = {
      nonces: new Map(),
      minTs: this.floor,
      maxTs: NO_FLOOR,
      placed: this.remembered,
      sinceSweep: 0,
    };
    this.devices.set(deviceId, d);
    this.tail = d;
    return d;
  }

  /**
   * Drops a device's expired nonces from the front (arrival order ~ ts order: the stale check refuses those)
   * and returns the first entry still fresh, if any: the one a bound drops next.
   */
  private dropExpired(nonces: Map<string, number>, now: number): [string, number] | undefined {
    for (const entry of nonces) {
      if (entry[1] + this.windowSec >= now) return entry;
      nonces.delete(entry[0]);
      this.entries--;
    }
    return undefined;
  }

  /** Over the total: evict least recently active devices (never the one being served: it drops its own oldest). */
  private makeRoom(current: DeviceNonces, deviceId: string, now: number, loading: boolean): void {
    while (this.entries >= this.capacity) {
      const first = this.first();
      if (first === null || first[1] === current) {
        this.dropOldest(deviceId, current, now, loading);
        return;
      }
      this.evictLeastActive(now, loading);
    }
  }

  private dropOldest(deviceId: string, d: DeviceNonces, now: number, loading: boolean): void {
    const first = d.nonces.entries().next();
    if (first.done) return;
    if (first.value[1] + this.windowSec < now) {
      d.nonces.delete(first.value[0]);
      this.entries--;
      return;
    }
    this.dropFresh(deviceId, d, first.value[0], first.value[1], loading);
  }

  /** Drops a nonce that is still inside its window: the device's floor rises above it. */
  private dropFresh(deviceId: string, d: DeviceNonces, nonce: string, ts: number, loading: boolean): void {
    d.nonces.delete(nonce);
    this.entries--;
    this.evictions++;
    if (ts + 1 > d.minTs) {
      d.minTs = ts + 1;
      if (!loading) this.record(`m\t${deviceId}\t${d.minTs}`);
    }
  }

  private evictLeastActive(now: number, loading: boolean): void {
    const first = this.first();
    if (first === null) return;
    this.removeDevice(first[0], first[1], now, loading);
  }

  /** The least recently active device (the first of the order), or null when there is none. */
  private first(): [string, DeviceNonces] | null {
    if (this.head !== null) return this.head;
    let r = this.headCursor?.next();
    if (r === undefined || r.done) {
      // a cursor that ran off the end stays done: start again at the first live entry
      this.headCursor = this.devices.entries();
      r = this.headCursor.next();
      if (r.done) {
        this.headCursor = null;
        return null;
      }
    }
    this.head = r.value;
    return this.head;
  }

  private removeDevice(deviceId: string, d: DeviceNonces, now: number, loading: boolean): void {
    if (this.head !== null && this.head[1] === d) this.head = null;
    this.devices.delete(deviceId);
    if (this.tail === d) this.tail = null;
    this.entries -= d.nonces.size;
    // its fresh nonces (and its own floor) are forgotten: everyone entering later starts above them
    const top = Math.max(d.maxTs, d.minTs - 1);
    if (top + this.windowSec >= now && top + 1 > this.floor) {
      this.deviceEvictions++;
      this.floor = top + 1;
      if (!loading) this.record(`g\t${this.floor}`);
    }
  }
}
