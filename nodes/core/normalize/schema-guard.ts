// Schema churn guard (reject `schema_churn`, docs/security.md "Series and field-key churn"): bounds the new
// InfluxDB series (tag sets) and field keys one device can create. A device holding a valid key could
// otherwise send a tag value or field names that change with every message: 1,000 signed messages made
// 1,001 series and 20,004 field keys, and at the device rate bound that is ~360k series an hour, enough to
// reach InfluxDB 1.x's per-database series limit and bloat every TSDB index.
//
// Per device (tenant + device id, only what hmac-verify authenticated or the point's device_id tag) the guard
// remembers the tag sets (measurement + sorted tags) and field names it used recently. Something it has not
// used recently spends from the device's token buckets (core/token-bucket.ts): one token per new tag set
// from one bucket, one token per new field name from another. Per name, not per message: a message may carry
// up to maxKeys (500) names, so "one novelty per message" would let an attacker add 500 field keys per token;
// the name burst (1000) is above maxKeys, so any legitimate first message, and a firmware update adding
// fields, passes in one go. Out of tokens the message is refused as a whole (nothing is spent on it) while
// known tag sets and names keep passing: the device's normal data is never locked out.
//
// Bounded: each device keeps at most maxTagSets tag sets and maxFields names (least recently used forgotten;
// a forgotten one is new again if it comes back, costing a token), at most maxDevices devices and maxEntries
// remembered tag sets + names over all devices (the least recently active device evicted, counted). Evicting
// a device forgets its buckets: it comes back with a fresh burst, as after a restart (no state is kept across
// restarts). Pure: the clock is injected; no timers.
import type { Point, Reject } from '../contract';
import { fullBucket, takeToken, type TokenBucket } from '../token-bucket';
import { IntrusiveList, type Linked } from '../linked-list';
import { preview } from '../names';

export interface SchemaGuardOptions {
  /** new tag sets a device may create at once (default 20: a device moving between a few locations) */
  tagSetBurst?: number;
  /** new tag sets per hour once the burst is spent (default 10) */
  tagSetsPerHour?: number;
  /** new field names a device may create at once (default 1000: above the 500-key message limit) */
  fieldBurst?: number;
  /** new field names per hour once the burst is spent (default 120) */
  fieldsPerHour?: number;
  /** tag sets remembered per device (default 64) */
  maxTagSets?: number;
  /** field names remembered per device (default 2000) */
  maxFields?: number;
  /** devices remembered (default 10,000) */
  maxDevices?: number;
  /** tag sets + field names remembered over all devices (default 500,000) */
  maxEntries?: number;
  /** monotonic clock in milliseconds */
  now?: () => number;
}

export const SCHEMA_GUARD_DEFAULTS = {
  tagSetBurst: 20,
  tagSetsPerHour: 10,
  fieldBurst: 1000,
  fieldsPerHour: 120,
  maxTagSets: 64,
  maxFields: 2000,
  maxDevices: 10_000,
  maxEntries: 500_000,
} as const;

const HOUR_MS = 3_600_000;

/** What check() decided: null passes; a reject names the device and the first new tag or field. */
export interface ChurnRefusal {
  reject: Reject;
  /** the first refusal since this device last passed something new (worth one log line, not one per message) */
  first: boolean;
}

class Device implements Linked<Device> {
  prev: Device | null = null;
  next: Device | null = null;
  /** this device's checks so far: the clock of its recency order */
  ticks = 0;
  /** tag set signature → tick when it last took its place at the end of the Map's order */
  readonly tagSets = new Map<string, number>();
  /** field name → tick, likewise */
  readonly fields = new Map<string, number>();
  /** the last tag set that passed (signature, measurement, tags and their count): the common case's compare */
  lastSig = '';
  lastMeasurement = '';
  lastTags: Record<string, string> | null = null;
  lastTagCount = 0;
  /** the field names of the last message that passed, and the tick they were looked up in `fields` */
  lastNames: string[] | null = null;
  namesAt = 0;
  refusing = false;
  constructor(
    readonly key: string,
    readonly tagBucket: TokenBucket,
    readonly fieldBucket: TokenBucket
  ) {}
}

export class SchemaGuard {
  private readonly devices = new Map<string, Device>();
  /** least recently active device first */
  private readonly order = new IntrusiveList<Device>();
  private readonly tagBurst: number;
  private readonly tagPerMs: number;
  private readonly fieldBurst: number;
  private readonly fieldPerMs: number;
  private readonly maxTagSets: number;
  private readonly maxFields: number;
  private readonly maxDevices: number;
  private readonly maxEntries: number;
  private readonly tagSlack: number;
  private readonly fieldSlack: number;
  private readonly now: () => number;
  /** tag sets + field names remembered over all devices */
  entries = 0;
  /** devices forgotten to stay within maxDevices / maxEntries */
  evictions = 0;
  /** messages refused */
  refused = 0;

  constructor(o: SchemaGuardOptions = {}) {
    const d = SCHEMA_GUARD_DEFAULTS;
    const whole = (v: number | undefined, fallback: number, min: number) =>
      v !== undefined && Number.isFinite(v) ? Math.max(min, Math.floor(v)) : fallback;
    const rate = (v: number | undefined, fallback: number) =>
      v !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
    this.tagBurst = whole(o.tagSetBurst, d.tagSetBurst, 1);
    this.tagPerMs = rate(o.tagSetsPerHour, d.tagSetsPerHour) / HOUR_MS;
    this.fieldBurst = whole(o.fieldBurst, d.fieldBurst, 1);
    this.fieldPerMs = rate(o.fieldsPerHour, d.fieldsPerHour) / HOUR_MS;
    this.maxTagSets = whole(o.maxTagSets, d.maxTagSets, 1);
    // never below the burst: a message with more new names than a device remembers would forget its own
    // names as it stores them, and pay for them again with every message until it is locked out
    this.maxFields = Math.max(this.fieldBurst, whole(o.maxFields, d.maxFields, 1));
    this.maxDevices = whole(o.maxDevices, d.maxDevices, 1);
    this.maxEntries = whole(o.maxEntries, d.maxEntries, 1);
    // Least recently used with a bounded slack, as core/keyed-rate.ts keeps its buckets: an entry moves to
    // the end of its Map only when more than maxX / 16 of the device's checks passed since it last moved.
    // A steady device then pays one Map lookup per field and message, not a delete + set; the slack decides
    // which entry is forgotten first, never whether a bound holds.
    this.tagSlack = Math.floor(this.maxTagSets / 16);
    this.fieldSlack = Math.floor(this.maxFields / 16);
    this.now = o.now ?? (() => performance.now());
  }

  /** Devices remembered. */
  get size(): number {
    return this.devices.size;
  }

  /** Tag sets and field names remembered for one device (tests, diagnostics). */
  sizesOf(device: string, tenant = ''): { tagSets: number; fields: number } | null {
    const d = this.devices.get(tenant ? `${tenant}\u0000${device}` : device);
    return d ? { tagSets: d.tagSets.size, fields: d.fields.size } : null;
  }

  /** The bounds as text for docs, logs and reasons. */
  describe(): string {
    return (
      `${this.tagBurst} new tag sets then ${this.tagPerMs * HOUR_MS}/h, ` +
      `${this.fieldBurst} new field names then ${this.fieldPerMs * HOUR_MS}/h`
    );
  }

  /**
   * Checks a point about to leave normalize: null when it passes (its tag set and names are then known),
   * else the refusal. `tenant` is the authenticated tenant ('' without one), never a payload's claim: a
   * device-chosen key would give every message a fresh burst.
   */
  check(point: Point, tenant = ''): ChurnRefusal | null {
    const id = point.tags.device_id;
    const key = tenant ? `${tenant}\u0000${id}` : id;
    let d = this.devices.get(key);
    if (!d) {
      if (this.devices.size >= this.maxDevices) this.evictOldest();
      const now = this.now();
      d = new Device(key, fullBucket(this.tagBurst, now), fullBucket(this.fieldBurst, now));
      this.devices.set(key, d);
      this.order.push(d);
    } else {
      this.order.moveToTail(d);
    }
    const tick = ++d.ticks;
    const tags = point.tags;

    // Fast path (bench: normalize-churn): a steady device sends the tag set and the field names of its
    // previous message, compared in place; only a change builds the signature or looks names up.
    let keys: string[] | null = Object.keys(tags);
    let sig = d.lastSig;
    let newSig = false;
    if (point.measurement === d.lastMeasurement && sameTags(tags, keys, d.lastTags, d.lastTagCount)) {
      keys = null;
    } else {
      // tag set: measurement + sorted tags; device_id is the same in every signature of a device, left out
      if (keys.length > 1) keys.sort();
      sig = point.measurement;
      for (const k of keys) if (k !== 'device_id') sig += `\u0000${k}\u0001${tags[k]}`;
      if (sig !== d.lastSig) {
        const at = d.tagSets.get(sig);
        if (at === undefined) newSig = true;
        else if (tick - at > this.tagSlack) touch(d.tagSets, sig, tick);
        // the one being left was in use up to now, though the fast path never refreshed its place
        if (d.lastSig !== '' && d.tagSets.has(d.lastSig)) touch(d.tagSets, d.lastSig, tick);
      }
    }

    // field names: the previous message's names in the same order are known, unless it is time (every
    // fieldSlack checks) to refresh their places in the recency order with a full look-up
    const fields = d.fields;
    const slack = this.fieldSlack;
    let names: string[] | null = null;
    let newNames: string[] | null = null;
    const last = d.lastNames;
    let same = last !== null && tick - d.namesAt <= slack;
    const current = Object.keys(point.fields);
    if (same) {
      if (current.length !== last!.length) same = false;
      else
        for (let i = 0; i < current.length; i++)
          if (last![i] !== current[i]) {
            same = false;
            break;
          }
    }
    if (!same) {
      names = current;
      for (const name of names) {
        const at = fields.get(name);
        if (at === undefined) (newNames ??= []).push(name);
        else if (tick - at > slack) touch(fields, name, tick);
      }
    }

    if (newSig || newNames) {
      const now = this.now();
      if (newSig && !takeToken(d.tagBucket, now, this.tagPerMs, this.tagBurst)) {
        return this.refuse(d, this.newTagReason(d, tags, keys!));
      }
      if (newNames && !takeToken(d.fieldBucket, now, this.fieldPerMs, this.fieldBurst, newNames.length)) {
        if (newSig) d.tagBucket.tokens += 1; // all or nothing: the message is refused, its tag set not created
        const first = newNames[0];
        const more = newNames.length > 1 ? ` and ${newNames.length - 1} more` : '';
        return this.refuse(d, {
          code: 'schema_churn',
          reason:
            `device "${preview(id)}" sends new field "${preview(first)}"${more}, over its budget of ` +
            `${this.fieldBurst} new field names then ${this.fieldPerMs * HOUR_MS} per hour`,
          field: preview(first, 60),
          device_id: id,
        });
      }
      d.refusing = false;
    }

    if (newSig) add(d.tagSets, sig, tick, this.maxTagSets, this);
    if (keys) {
      d.lastSig = sig;
      d.lastMeasurement = point.measurement;
      d.lastTags = { ...tags };
      d.lastTagCount = keys.length;
    }
    if (newNames) for (const name of newNames) add(fields, name, tick, this.maxFields, this);
    if (names) {
      d.lastNames = names;
      d.namesAt = tick;
    }
    // the device itself is the most recent: what is over the bound goes from the other end
    while (this.entries > this.maxEntries && this.order.head !== d) this.evictOldest();
    return null;
  }

  private refuse(d: Device, reject: Reject): ChurnRefusal {
    this.refused++;
    const first = !d.refusing;
    d.refusing = true;
    return { reject, first };
  }

  /** The first tag (sorted) whose value differs from the device's last tag set that passed. */
  private newTagReason(d: Device, tags: Record<string, string>, keys: string[]): Reject {
    const id = tags.device_id;
    const last = d.lastTags;
    let field = keys.find((k) => k !== 'device_id' && (!last || last[k] !== tags[k]));
    if (field === undefined && last) field = Object.keys(last).find((k) => !(k in tags));
    const what =
      field === undefined
        ? 'a new tag set'
        : field in tags
          ? `new tag ${field}="${preview(tags[field])}"`
          : `no tag ${field}`;
    const reject: Reject = {
      code: 'schema_churn',
      reason:
        `device "${preview(id)}" sends ${what} (a new series), over its budget of ` +
        `${this.tagBurst} new tag sets then ${this.tagPerMs * HOUR_MS} per hour`,
      device_id: id,
    };
    if (field !== undefined) reject.field = field;
    return reject;
  }

  private evictOldest(): void {
    const old = this.order.head;
    if (!old) return;
    this.order.remove(old);
    this.devices.delete(old.key);
    this.entries -= old.tagSets.size + old.fields.size;
    this.evictions++;
  }

  /** Called by add(): one entry more (and maybe one forgotten) in some device's Map. */
  adjust(n: number): void {
    this.entries += n;
  }
}

/** Whether `tags` (own keys `keys`) holds exactly the `count` tags of `last` (a plain object: own properties only). */
function sameTags(
  tags: Record<string, string>,
  keys: string[],
  last: Record<string, string> | null,
  count: number
): boolean {
  if (last === null || keys.length !== count) return false;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (tags[k] !== last[k] || !hasOwn.call(last, k)) return false;
  }
  return true;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Moves `k` to the end of the Map's order (most recent). */
function touch(m: Map<string, number>, k: string, tick: number): void {
  m.delete(k);
  m.set(k, tick);
}

/** Remembers `k`, forgetting the least recently used entry first when the Map is full. */
function add(m: Map<string, number>, k: string, tick: number, max: number, guard: SchemaGuard): void {
  if (m.size >= max) {
    m.delete(m.keys().next().value as string);
    guard.adjust(-1);
  }
  m.set(k, tick);
  guard.adjust(1);
}
