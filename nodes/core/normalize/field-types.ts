// One type per field name across the fleet (per tenant and measurement): once two devices have used a field
// with one type, a device that sends another type is refused as `bad_type`. Why: InfluxDB 1.x fixes a field's type per shard (one
// per week) by the first point written into it. A signed device that writes `temperature: true` first in a new
// week (it may stamp a point up to *Max future* ahead, so it can be first at every rollover) makes InfluxDB
// refuse every other device's `temperature` for that week ("field type conflict", red-team round 4). Numbers
// are always floats in line protocol (core/influx/line-protocol.ts), so number, boolean and string are the types.
// Why two devices: a pin only one device stands behind gives way to another device's type, so an attacker that is
// first after a restart cannot lock the fleet out (the next two honest devices take the pin back).
import type { Point, Reject } from '../contract';

type FieldType = 'number' | 'boolean' | 'string';

interface Pin {
  type: FieldType;
  /** last time (ms) a point used the field with this type */
  seen: number;
  /** the device that set the pin */
  by: string;
  /** a second device has used the same type: only then does the pin refuse other types */
  confirmed: boolean;
}

export interface FieldTypesOptions {
  /** most (tenant, measurement, field) pins kept; past it the least recently used is forgotten */
  maxEntries?: number;
  /** a pin no point has used for this long gives way to a new type (a firmware that changed a field's type) */
  repinAfterMs?: number;
}

export const FIELD_TYPES_DEFAULTS = {
  // well above a fleet's distinct field names (the churn guard lets one device add 1000 + 120/h); ~100 bytes each
  maxEntries: 100_000,
  // honest traffic keeps a pin fresh, so this only matters for a field the fleet stopped sending: then a
  // firmware that changed its type waits an hour, not forever
  repinAfterMs: 3_600_000,
} as const;

/** a used pin is moved to the back of the eviction order at most this often (approximate LRU, cheap per message) */
const REORDER_AFTER_MS = 60_000;

export class FieldTypes {
  /** tenant + measurement → field name → pin; both Maps in least recently used first order (approximately) */
  private readonly groups = new Map<string, Map<string, Pin | undefined>>();
  private readonly groupSeen = new Map<string, number>();
  private readonly maxEntries: number;
  private readonly repinAfterMs: number;
  /** the point's pins found by the first pass, reused by the second (no second lookup per field) */
  private readonly found: Array<Pin | undefined> = [];
  private entries = 0;
  /** pins forgotten to stay under maxEntries (for the metrics) */
  evictions = 0;

  constructor(opts: FieldTypesOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? FIELD_TYPES_DEFAULTS.maxEntries);
    this.repinAfterMs = opts.repinAfterMs ?? FIELD_TYPES_DEFAULTS.repinAfterMs;
  }

  get size(): number {
    return this.entries;
  }

  /**
   * null when every field of the point has its pinned type (pins new ones); otherwise a `bad_type` reject
   * naming the device and the first field whose type differs. A refused point pins and refreshes nothing.
   */
  check(point: Point, tenant = '', now = Date.now()): Reject | null {
    // measurement names never hold U+0000 (core/names.ts), so the key is unambiguous
    const groupKey = tenant ? `${tenant}\u0000${point.measurement}` : point.measurement;
    let group = this.groups.get(groupKey);
    if (!group) {
      group = new Map();
      this.groups.set(groupKey, group);
      this.groupSeen.set(groupKey, now);
    } else if (now - (this.groupSeen.get(groupKey) ?? 0) >= REORDER_AFTER_MS) {
      this.groups.delete(groupKey); // moved to the back at most once a minute
      this.groups.set(groupKey, group);
      this.groupSeen.set(groupKey, now);
    }
    const found = this.found;
    let n = 0;
    for (const name in point.fields) {
      const pin = group.get(name);
      found[n++] = pin;
      if (!pin || !pin.confirmed || pin.type === typeOf(point.fields[name])) continue;
      if (now - pin.seen <= this.repinAfterMs) {
        found.length = 0;
        return {
          code: 'bad_type',
          reason:
            `field "${name}" of ${point.measurement} is ${typeOf(point.fields[name])} here but ${pin.type} for ` +
            `the fleet (a database shard this point reached first would refuse every other device's ${pin.type})`,
          device_id: point.tags.device_id,
          field: name,
        };
      }
    }
    const device = point.tags.device_id ?? '';
    n = 0;
    for (const name in point.fields) {
      const pin = found[n++];
      const type = typeOf(point.fields[name]);
      if (pin && pin.type === type) {
        if (!pin.confirmed && pin.by !== device) pin.confirmed = true;
        if (now - pin.seen >= REORDER_AFTER_MS) {
          group.delete(name); // moved to the back at most once a minute
          group.set(name, pin);
        }
        pin.seen = now;
        continue;
      }
      // new, unconfirmed or expired: this device's type takes the pin
      if (pin) group.delete(name);
      else this.entries++;
      group.set(name, { type, seen: now, by: device, confirmed: false });
    }
    found.length = 0;
    if (this.entries > this.maxEntries) this.evict();
    return null;
  }

  /** forgets the oldest pins of the least recently used groups until under the bound */
  private evict(): void {
    for (const [key, group] of this.groups) {
      for (const name of group.keys()) {
        if (this.entries <= this.maxEntries) return;
        group.delete(name);
        this.entries--;
        this.evictions++;
      }
      if (group.size === 0) {
        this.groups.delete(key);
        this.groupSeen.delete(key);
      }
      if (this.entries <= this.maxEntries) return;
    }
  }
}

function typeOf(v: number | boolean | string): FieldType {
  return typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string';
}
