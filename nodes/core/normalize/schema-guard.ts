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
// Memory is what decides the device bound, and the device bound decides whether the guard holds: a device
// the guard forgot comes back with a fresh burst, so in a fleet larger than the bound an attacker that pauses
// until enough others have sent is new again (with a bound of 10,000 and 100,000 devices sending once a
// second, a pause of 0.1 s). So the bound is the fleet bound of device health (100,000), and a device costs
// little: the names a device knows are one *interned* set shared by every device that knows the same names
// (a fleet of one firmware holds one set of 20 names, not 100,000 copies), and its tag sets a short array
// (one entry for a device that never moves). 100,000 devices × 20 fields: see the bench (normalize-churn).
//
// Bounded: each device keeps at most maxTagSets tag sets (least recently used forgotten) and at most maxFields
// names (when a new name would pass the bound, the device keeps only the names of the message in hand: the
// others are new again if they come back, costing a token); at most maxDevices devices and maxEntries
// remembered tag sets + names of distinct sets over all devices (the least recently active device evicted,
// counted). Evicting a device forgets its buckets: it comes back with a fresh burst, as after a restart (no
// state is kept across restarts). Pure: the clock is injected; no timers.
import type { Point, Reject } from '../contract';
import { fullBucket, takeToken, type TokenBucket } from '../token-bucket';
import { IntrusiveList, type Linked } from '../linked-list';
import { preview } from '../names';
import { scopedKey } from '../tenant';

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
  /** devices remembered (default 100,000, device health's fleet bound) */
  maxDevices?: number;
  /** tag sets of all devices + names of the distinct name sets (default 500,000) */
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
  maxDevices: 100_000,
  maxEntries: 500_000,
} as const;

const HOUR_MS = 3_600_000;

/** What check() decided: null passes; a reject names the device and the first new tag or field. */
export interface ChurnRefusal {
  reject: Reject;
  /** the first refusal since this device last passed something new (worth one log line, not one per message) */
  first: boolean;
}

/**
 * A set of field names some devices know, shared by all of them (interned by its sorted names): a fleet of one
 * firmware holds one. `order` is the names in the order of the message that made the set, which is the order
 * every device of that firmware sends them in: the steady case compares a message's keys with it in place.
 */
interface NameSet {
  readonly sig: string;
  readonly names: ReadonlySet<string>;
  readonly order: readonly string[];
  /** devices holding it */
  refs: number;
}

/** Every device's tag sets before its first passes (never written to: the first is set as a new array). */
const NO_TAG_SETS: string[] = [];

class Device implements Linked<Device> {
  prev: Device | null = null;
  next: Device | null = null;
  /** tag set signatures, least recently used first (a short array: one entry for a device that never moves) */
  tagSets: string[] = NO_TAG_SETS;
  /** the field names it knows (shared), or null before its first message passed */
  known: NameSet | null = null;
  /** the last tag set that passed (signature, measurement, tags and their count): the common case's compare */
  lastSig = '';
  lastMeasurement = '';
  lastTags: Record<string, string> | null = null;
  lastTagCount = 0;
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
  /** the distinct name sets devices hold, by sorted names */
  private readonly nameSets = new Map<string, NameSet>();
  private readonly tagBurst: number;
  private readonly tagPerMs: number;
  private readonly fieldBurst: number;
  private readonly fieldPerMs: number;
  private readonly maxTagSets: number;
  private readonly maxFields: number;
  private readonly maxDevices: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** tag sets of all devices + names of the distinct name sets */
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
    this.now = o.now ?? (() => performance.now());
  }

  /** Devices remembered. */
  get size(): number {
    return this.devices.size;
  }

  /** Distinct name sets held (a fleet of one firmware: one). */
  get nameSetCount(): number {
    return this.nameSets.size;
  }

  /** Tag sets and field names remembered for one device (tests, diagnostics). */
  sizesOf(device: string, tenant = ''): { tagSets: number; fields: number } | null {
    const d = this.devices.get(scopedKey(tenant, device));
    return d ? { tagSets: d.tagSets.length, fields: d.known ? d.known.names.size : 0 } : null;
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
    // the key every per-device table uses (core/tenant.ts): `<tenant>/<device>`, the plain id without a tenant
    const key = scopedKey(tenant, id);
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
    const tags = point.tags;

    // Fast path (bench: normalize-churn): a steady device sends the tag set of its previous message,
    // compared in place; only a change builds the signature.
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
      const at = d.tagSets.indexOf(sig);
      if (at < 0) newSig = true;
      else if (at < d.tagSets.length - 1) {
        // used again: the most recent now
        d.tagSets.splice(at, 1);
        d.tagSets.push(sig);
      }
    }

    // field names: the steady case sends its set's names in the set's order, compared in place
    const current = Object.keys(point.fields);
    const known = d.known;
    let newNames: string[] | null = null;
    if (known === null) newNames = current;
    else if (!sameNames(current, known.order)) {
      for (const name of current) if (!known.names.has(name)) (newNames ??= []).push(name);
    }

    if (newSig || newNames) {
      const now = this.now();
      if (newSig && !takeToken(d.tagBucket, now, this.tagPerMs, this.tagBurst)) {
        return this.refuse(d, this.newTagReason(d, tags, keys!));
      }
      // each device pays for its own names, shared set or not (sharing saves memory, not tokens); a first
      // message always fits: the adapter keeps the burst at or above the most keys a message may hold
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

    if (newSig) {
      if (d.tagSets.length >= this.maxTagSets) {
        d.tagSets.shift();
        this.entries--;
      }
      // the first as a literal of one: a push onto an empty array reserves room for 16 (130 bytes a device)
      if (d.tagSets.length === 0) d.tagSets = [sig];
      else d.tagSets.push(sig);
      this.entries++;
    }
    if (keys) {
      d.lastSig = sig;
      d.lastMeasurement = point.measurement;
      d.lastTags = { ...tags };
      d.lastTagCount = keys.length;
    }
    if (newNames) this.learn(d, current);
    // the device itself is the most recent: what is over the bound goes from the other end
    while (this.entries > this.maxEntries && this.order.head !== d) this.evictOldest();
    return null;
  }

  /** The device now knows the names of `current` too (or only them, when the union would pass maxFields). */
  private learn(d: Device, current: string[]): void {
    const old = d.known;
    let names: string[];
    if (old === null || old.names.size + current.length > this.maxFields) names = current;
    else {
      names = old.order.slice();
      for (const n of current) if (!old.names.has(n)) names.push(n);
      // a message holding every name (a firmware update adding fields) gives the set its order, which the
      // device's next messages then match in place
      if (names.length > this.maxFields || names.length === current.length) names = current;
    }
    const sig = names.slice().sort().join('\u0000');
    let set = this.nameSets.get(sig);
    if (set === undefined) {
      set = { sig, names: new Set(names), order: names, refs: 0 };
      this.nameSets.set(sig, set);
      this.entries += names.length;
    }
    set.refs++;
    d.known = set;
    if (old) this.release(old);
  }

  private release(set: NameSet): void {
    if (--set.refs > 0) return;
    this.nameSets.delete(set.sig);
    this.entries -= set.names.size;
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
    this.entries -= old.tagSets.length;
    if (old.known) this.release(old.known);
    this.evictions++;
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

/** Whether a message's names are exactly `order`, in that order (the steady case: no set look-up). */
function sameNames(current: string[], order: readonly string[]): boolean {
  if (current.length !== order.length) return false;
  for (let i = 0; i < current.length; i++) if (current[i] !== order[i]) return false;
  return true;
}
