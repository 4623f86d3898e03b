// Nested device JSON → one flat Point {measurement, tags, fields, timestamp} plus units.
//
// One pass over the parsed value does everything the safety rules need (depth, key count, forbidden
// keys, finite numbers: the same rules as safe-json's checkValue) while flattening, so the hot path costs
// JSON.parse plus a single walk. Everything configurable (metadata keys, array names, registry lookups,
// topic pattern, JSON Schema) is compiled once in the constructor.
import Ajv, { type ValidateFunction } from 'ajv';
import type { Point, Reject } from '../contract';
import { DEFAULT_LIMITS, FORBIDDEN_KEYS, parseJsonText, type JsonLimits } from '../safe-json';
import { parseTimestamp, type TimestampOptions } from './timestamp';
import { isDecimalText } from '../decimal-text';
import { checkField, type CompiledRegistry, type FieldSpec } from './registry';
import {
  DEFAULT_NAME_LIMITS,
  isReservedKey,
  nameProblem,
  preview,
  RESERVED_KEY_RULE,
  tagValueProblem,
  textProblem,
  type NameLimits,
} from '../names';
import { TopicPattern, levelsProblem } from '../topic';
import { DEFAULT_LINE_LIMITS } from '../influx/line-protocol';

export interface NormalizeOptions {
  /** InfluxDB measurement of the points (default 'telemetry') */
  measurement?: string;
  /** joins path segments into field names (default '_': components.motor.temperature → motor_temperature) */
  separator?: string;
  /** top-level key whose children are components; its own name is not part of field names ('' = none) */
  componentsKey?: string;
  /** payload key holding the device id (default 'device_id') */
  deviceIdKey?: string;
  /** further top-level payload keys that become tags instead of fields, e.g. equipment_id, tenant, location */
  tagKeys?: string[];
  /** topic pattern of the shared syntax (core/topic.ts) naming tag levels, e.g. 'factory/+tenant/+location/+device_id/#' */
  topicPattern?: string;
  /** names for array items by path written with '.', e.g. { accel: ['x','y','z'] }; others are indexed */
  arrays?: Record<string, string[]>;
  /** keep boolean leaves as fields (default true) */
  keepBooleans?: boolean;
  /** keep non-numeric string leaves as fields (default false: dropped) */
  keepStrings?: boolean;
  /** turn numeric strings such as "71.2" into numbers (default false) */
  coerceNumericStrings?: boolean;
  /** 'payload' (default: the payload's ts/timestamp/time, else receive time) or 'receive' (always) */
  timeSource?: 'payload' | 'receive';
  /** reject messages without a timestamp instead of using the receive time */
  requireTimestamp?: boolean;
  timestamp?: TimestampOptions;
  limits?: JsonLimits;
  /**
   * most fields one point may have (default MAX_POINT_FIELDS, what the InfluxDB writer takes per point); more →
   * `too_many_fields`. Raise it only when the points do not go to moby-influx-write (e.g. anomaly scoring alone)
   */
  maxFields?: number;
  registry?: CompiledRegistry | null;
  /** what a registry violation does: reject the message (default) or keep it with msg.moby.flags */
  onViolation?: 'reject' | 'flag';
  /** JSON Schema the raw payload must satisfy (compiled once with ajv) */
  schema?: object | boolean | null;
  /** length caps for device-chosen names and texts (see names.ts for the character rules) */
  nameLimits?: NameLimits;
}

export interface NormalizeContext {
  /** msg.topic, for topicPattern */
  topic?: string;
  /** an authenticated device id (msg.moby.device_id from hmac-verify) */
  deviceId?: string;
  /** receive time, epoch ms (default Date.now()) */
  now?: number;
}

export interface Flag {
  code: string;
  reason: string;
  field?: string;
}

export type NormalizeResult =
  { ok: true; point: Point; units: Record<string, string>; flags: Flag[] | null } | { ok: false; reject: Reject };

/** Top-level keys that describe the message rather than measure something. */
export const TIME_KEYS: readonly string[] = ['ts', 'timestamp', 'time'];
export const HW_KEYS: readonly string[] = ['hw', 'hardware'];
/**
 * Tags every point may carry whatever the configuration: `device_id` (always) and `tenant` (moby-normalize
 * adds it from the verified tenant, docs/tenants.md). With the *Tag keys* and the names of the *Topic pattern*
 * they are the names no field may have (`tag_field_clash`).
 */
export const POINT_TAG_KEYS: readonly string[] = ['device_id', 'tenant'];
/**
 * The most fields a point may have: what the InfluxDB writer takes per point (core/influx/line-protocol.ts);
 * a point with more passed normalize and was then dropped whole as `too_many_fields` by the writer.
 */
export const MAX_POINT_FIELDS = DEFAULT_LINE_LIMITS.maxFields;

const enum Meta {
  DeviceId = 1,
  Time,
  Hw,
  Tag,
  Components,
}

/**
 * Result records (fields, tags, units) have no Object.prototype in their chain: no __proto__ accessor and no
 * inherited names but toString (below), so any key is an own data property. Built from a constructor whose prototype has a null
 * prototype rather than with Object.create(null): V8 keeps these in fast mode, about 3× cheaper per message.
 */
const hasOwn = Object.prototype.hasOwnProperty;
function BareRecord(this: unknown): void {}
BareRecord.prototype = Object.create(null);
// The one inherited name: lodash.cloneDeep (Node-RED's cloneMessage, run for every extra wire) probes objects
// without a toString by `value + ''` inside try/catch, and that throw cost ~15 µs per record per clone.
// Writable, so a field named "toString" still becomes an own data property.
Object.defineProperty(BareRecord.prototype, 'toString', {
  value: () => '[object Object]',
  writable: true,
  enumerable: false,
  configurable: true,
});
function bareRecord<T>(): Record<string, T> {
  return new (BareRecord as unknown as new () => Record<string, T>)();
}

function isForbidden(k: string): boolean {
  // the forbidden names are 9 or 11 characters long: skip the Set lookup for every other key
  return (k.length === 9 || k.length === 11) && FORBIDDEN_KEYS.has(k);
}

/** A tag value's problem: the text rule (names.ts), or only spaces (stored as a tag that reads as nothing). */
function tagTextProblem(s: string, max: number): string | null {
  const bad = tagValueProblem(s, max);
  if (bad !== null) return bad;
  // the text rule leaves U+0020 as the only whitespace. A space at either end makes "pump-1 " a series (and a
  // Grafana legend) of its own beside "pump-1" that nobody can tell apart on screen; only spaces reads as nothing
  if (s.charCodeAt(0) !== 0x20 && s.charCodeAt(s.length - 1) !== 0x20) return null;
  return s.trim() === '' ? 'is only spaces' : 'starts or ends with a space';
}

function tagValue(v: unknown): string | null | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null || v === undefined) return undefined;
  return null; // objects and arrays cannot be tags
}

export class Normalizer {
  readonly measurement: string;
  private readonly sep: string;
  private readonly maxDepth: number;
  private readonly maxKeys: number;
  private readonly maxFields: number;
  private readonly maxBytes: number;
  private readonly meta: Map<string, Meta>;
  /** every tag key a point of this node can carry: no field may have one of these names */
  private readonly tagNames: Set<string>;
  private readonly tagNameList: string;
  private readonly arrayNames: Map<string, string[]> | null;
  private readonly topicPattern: TopicPattern | null;
  private readonly keepBooleans: boolean;
  private readonly keepStrings: boolean;
  private readonly coerce: boolean;
  private readonly receiveTime: boolean;
  private readonly requireTimestamp: boolean;
  private readonly timestampOpts: TimestampOptions;
  private readonly registry: CompiledRegistry | null;
  private readonly regFields: ReadonlyMap<string, Readonly<FieldSpec>> | null;
  private readonly flagMode: boolean;
  private readonly validate: ValidateFunction | null;
  private readonly ajv: Ajv | null;
  private readonly maxName: number;
  private readonly deviceIdKey: string;
  private readonly maxTagValue: number;
  private readonly maxUnit: number;
  private readonly maxString: number;

  // per-message scratch state (single-threaded: reset at the start of every call)
  private keys = 0;
  private failure: Reject | null = null;
  private violation: Reject | null = null;
  private flags: Flag[] | null = null;
  private fields: Record<string, number | boolean | string> = bareRecord();
  private units: Record<string, string> = bareRecord();
  private fieldCount = 0;
  private components: string[] = [];
  private componentHw: Array<string | undefined> = [];

  constructor(opts: NormalizeOptions = {}) {
    this.measurement = opts.measurement || 'telemetry';
    this.sep = opts.separator ?? '_';
    const limits = opts.limits ?? {};
    this.maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
    this.maxKeys = limits.maxKeys ?? DEFAULT_LIMITS.maxKeys;
    this.maxBytes = limits.maxBytes ?? DEFAULT_LIMITS.maxBytes;
    this.maxFields = opts.maxFields ?? MAX_POINT_FIELDS;
    const nl = { ...DEFAULT_NAME_LIMITS, ...opts.nameLimits };
    this.maxName = nl.name;
    this.maxTagValue = nl.tagValue;
    this.maxUnit = nl.unit;
    this.maxString = nl.string;
    this.keepBooleans = opts.keepBooleans ?? true;
    this.keepStrings = opts.keepStrings ?? false;
    this.coerce = opts.coerceNumericStrings ?? false;
    this.receiveTime = opts.timeSource === 'receive';
    this.requireTimestamp = opts.requireTimestamp ?? false;
    this.timestampOpts = opts.timestamp ?? {};
    this.registry = opts.registry ?? null;
    this.regFields = this.registry && this.registry.fields.size > 0 ? this.registry.fields : null;
    if (this.registry && this.registry.separator !== this.sep) {
      throw new Error(`registry was compiled for separator "${this.registry.separator}", normalize uses "${this.sep}"`);
    }
    this.flagMode = opts.onViolation === 'flag';

    this.meta = new Map();
    for (const k of TIME_KEYS) this.meta.set(k, Meta.Time);
    for (const k of HW_KEYS) this.meta.set(k, Meta.Hw);
    for (const k of opts.tagKeys ?? []) if (k) this.meta.set(k, Meta.Tag);
    const componentsKey = opts.componentsKey ?? 'components';
    if (componentsKey) this.meta.set(componentsKey, Meta.Components);
    this.deviceIdKey = opts.deviceIdKey || 'device_id';
    this.meta.set(this.deviceIdKey, Meta.DeviceId);
    for (const k of this.meta.keys()) if (FORBIDDEN_KEYS.has(k)) throw new Error(`"${k}" cannot be a metadata key`);
    for (const k of opts.tagKeys ?? [])
      if (k && isReservedKey(k)) throw new Error(`tag key "${k}" is reserved: ${RESERVED_KEY_RULE}`);
    if (this.measurement.charCodeAt(0) === 0x5f)
      throw new Error(`measurement "${this.measurement}" is reserved: InfluxDB 2.x/3.x keep names starting with "_"`);

    const arrays = opts.arrays ?? {};
    const names = Object.keys(arrays);
    this.arrayNames = names.length ? new Map(names.map((p) => [p.split('.').join(this.sep), arrays[p]])) : null;

    this.topicPattern = opts.topicPattern ? TopicPattern.compile(opts.topicPattern) : null;
    for (const k of this.topicPattern?.names ?? [])
      if (isReservedKey(k)) throw new Error(`topic level "+${k}" names a reserved tag key: ${RESERVED_KEY_RULE}`);
    this.tagNames = new Set([...POINT_TAG_KEYS, ...(opts.tagKeys ?? []), ...(this.topicPattern?.names ?? [])]);
    this.tagNames.delete('');
    this.tagNameList = [...this.tagNames].join(', ');

    if (opts.schema !== undefined && opts.schema !== null) {
      this.ajv = new Ajv({ allErrors: false, strict: false });
      this.validate = this.ajv.compile(opts.schema);
    } else {
      this.ajv = null;
      this.validate = null;
    }
  }

  /** Normalizes a message payload (object, JSON text or Buffer). Never throws for bad input. */
  normalize(input: unknown, ctx: NormalizeContext = {}): NormalizeResult {
    let root: unknown = input;
    if (typeof input === 'string' || input instanceof Uint8Array) {
      const parsed = parseJsonText(input, this.maxBytes);
      if (!parsed.ok) return parsed;
      root = parsed.value;
    }
    if (typeof root !== 'object' || root === null || Array.isArray(root)) {
      return {
        ok: false,
        reject: {
          code: 'malformed_json',
          reason: `payload must be a JSON object, got ${Array.isArray(root) ? 'an array' : root === null ? 'null' : typeof root}`,
        },
      };
    }
    const result = this.normalizeObject(root as Record<string, unknown>, ctx);
    if (!result.ok && result.reject.device_id === undefined) {
      // a reject found before the device id key was read (a forbidden key, a wide message) still names the
      // device its payload claims, when that is a valid name: "which device" is what an operator asks first
      // (newcomer round 2026-12-07: forbidden_key with no device_id beside a payload naming pump-7)
      const claimed = tagValue((root as Record<string, unknown>)[this.deviceIdKey]);
      if (typeof claimed === 'string' && claimed !== '' && !nameProblem(claimed, this.maxName))
        result.reject.device_id = claimed;
    }
    return result;
  }

  private normalizeObject(obj: Record<string, unknown>, ctx: NormalizeContext): NormalizeResult {
    this.keys = 0;
    this.failure = null;
    this.violation = null;
    this.flags = null;
    this.fields = bareRecord();
    this.units = bareRecord();
    this.fieldCount = 0;
    this.components.length = 0;
    this.componentHw.length = 0;
    const tags: Record<string, string> = bareRecord();
    let payloadDevice: string | undefined;
    let rawTime: unknown;
    let timeKeyRank = TIME_KEYS.length;
    let hw: string | undefined;

    for (const k in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
      if (++this.keys > this.maxKeys) return this.rejectTooMany('');
      if (isForbidden(k)) return this.reject('forbidden_key', `forbidden key "${k}"`, k);
      const v = obj[k];
      const kind = this.meta.get(k);
      if (kind === undefined) {
        if (!this.checkKey(k, '') || !this.walkValue(v, k, 1)) return { ok: false, reject: this.failure! };
        continue;
      }
      switch (kind) {
        case Meta.DeviceId: {
          const id = tagValue(v);
          if (typeof id !== 'string' || id === '')
            return this.reject('missing_device', `"${k}" must be a non-empty string`, k);
          const bad = nameProblem(id, this.maxName);
          if (bad) return this.reject('bad_tag_value', `device id "${preview(id)}" ${bad}`, k);
          payloadDevice = id;
          break;
        }
        case Meta.Time: {
          // ts beats timestamp beats time when a payload carries several
          const rank = TIME_KEYS.indexOf(k);
          if (rank < timeKeyRank) {
            timeKeyRank = rank;
            rawTime = v;
          }
          break;
        }
        case Meta.Hw:
          if (typeof v === 'string') hw = v;
          else if (typeof v === 'number' && Number.isFinite(v)) hw = String(v);
          else if (v !== null) return this.reject('bad_tag', `"${k}" must be a string`, k);
          if (hw !== undefined) {
            const bad = tagTextProblem(hw, this.maxTagValue);
            if (bad) return this.reject('bad_tag_value', `"${k}" value "${preview(hw)}" ${bad}`, k);
          }
          break;
        case Meta.Tag: {
          const t = tagValue(v);
          if (t === null) return this.reject('bad_tag', `tag "${k}" must be a string, number or boolean`, k);
          if (t !== undefined) {
            const bad = tagTextProblem(t, this.maxTagValue);
            if (bad) return this.reject('bad_tag_value', `tag "${k}" value "${preview(t)}" ${bad}`, k);
            tags[k] = t;
          }
          break;
        }
        case Meta.Components:
          if (typeof v !== 'object' || v === null || Array.isArray(v))
            return this.reject('malformed_json', `"${k}" must be an object of components`, k);
          if (!this.walkComponents(v as Record<string, unknown>)) return { ok: false, reject: this.failure! };
          break;
      }
    }

    if (this.validate && !this.validate(obj)) {
      const err = this.validate.errors?.[0];
      const field = err?.instancePath ? err.instancePath.slice(1).replace(/\//g, '.') : undefined;
      return this.reject(
        'schema',
        `schema: ${this.ajv!.errorsText(this.validate.errors, { dataVar: 'payload' })}`,
        field
      );
    }

    // device id: payload, authenticated id and topic must agree; at least one must be there
    let deviceId = payloadDevice;
    if (ctx.deviceId !== undefined && ctx.deviceId !== '') {
      if (deviceId !== undefined && deviceId !== ctx.deviceId) {
        return this.reject(
          'device_mismatch',
          `payload device_id "${deviceId}" differs from authenticated device "${ctx.deviceId}"`,
          'device_id',
          ctx.deviceId
        );
      }
      deviceId = ctx.deviceId;
    }
    if (this.topicPattern && typeof ctx.topic === 'string') {
      const topicDevice = this.topicTags(ctx.topic, tags);
      if (this.failure) return { ok: false, reject: this.failure };
      if (topicDevice !== undefined) {
        if (deviceId !== undefined && deviceId !== topicDevice) {
          return this.reject(
            'device_mismatch',
            `device_id "${deviceId}" differs from topic device "${topicDevice}"`,
            'device_id',
            deviceId
          );
        }
        deviceId = topicDevice;
      }
    }
    if (deviceId === undefined) {
      return this.reject('missing_device', 'no device id in the payload, msg.moby.device_id or the topic');
    }
    tags.device_id = deviceId;

    const now = ctx.now ?? Date.now();
    let timestamp = now;
    if (!this.receiveTime) {
      if (rawTime !== undefined && rawTime !== null) {
        const t = parseTimestamp(rawTime, now, this.timestampOpts);
        if (!t.ok) return this.reject(t.reject.code, t.reject.reason, TIME_KEYS[timeKeyRank], deviceId);
        timestamp = t.ms;
      } else if (this.requireTimestamp) {
        return this.reject('bad_timestamp', 'no ts/timestamp/time in the payload', undefined, deviceId);
      }
    }

    if (this.registry && this.registry.hasComponents) this.checkComponents(hw);
    // set by leaf()/checkComponents() during the walk, which TypeScript's narrowing cannot see
    const violation = this.violation as Reject | null;
    if (violation) {
      violation.device_id = deviceId;
      return { ok: false, reject: violation };
    }
    if (this.fieldCount === 0)
      return this.reject('no_fields', 'no numeric, boolean or kept string values in the payload', undefined, deviceId);

    return {
      ok: true,
      point: { measurement: this.measurement, tags, fields: this.fields, timestamp },
      units: this.units,
      flags: this.flags,
    };
  }

  private reject(code: string, reason: string, field?: string, deviceId?: string): { ok: false; reject: Reject } {
    const reject: Reject = { code, reason };
    if (deviceId !== undefined) reject.device_id = deviceId;
    if (field !== undefined && field !== '') reject.field = field;
    return { ok: false, reject };
  }

  private rejectTooMany(field: string): { ok: false; reject: Reject } {
    return this.reject('too_many_keys', `more than ${this.maxKeys} keys/items`, field);
  }

  /** Records a structural failure; returns false so callers can `return this.fail(...)`. */
  private fail(code: string, reason: string, field: string): false {
    this.failure = { code, reason };
    if (field) this.failure.field = field;
    return false;
  }

  /** A registry violation: the first one becomes the reject, or every one a flag. */
  private violate(code: string, reason: string, field: string): void {
    if (this.flagMode) {
      (this.flags ??= []).push({ code, reason, field });
    } else if (!this.violation) {
      this.violation = { code, reason, field };
    }
  }

  private walkComponents(comps: Record<string, unknown>): boolean {
    if (2 > this.maxDepth) return this.fail('too_deep', `nesting deeper than ${this.maxDepth}`, '');
    for (const name in comps) {
      if (!Object.prototype.hasOwnProperty.call(comps, name)) continue;
      if (++this.keys > this.maxKeys) return this.fail('too_many_keys', `more than ${this.maxKeys} keys/items`, name);
      if (isForbidden(name)) return this.fail('forbidden_key', `forbidden key "${name}"`, name);
      if (!this.checkKey(name, '')) return false;
      const v = comps[name];
      let compHw: string | undefined;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        if (3 > this.maxDepth) return this.fail('too_deep', `nesting deeper than ${this.maxDepth} at ${name}`, name);
        // a component object may carry its own hardware revision next to its measurements
        const c = v as Record<string, unknown>;
        for (const k in c) {
          if (!Object.prototype.hasOwnProperty.call(c, k)) continue;
          if (++this.keys > this.maxKeys)
            return this.fail('too_many_keys', `more than ${this.maxKeys} keys/items`, name);
          if (isForbidden(k)) return this.fail('forbidden_key', `forbidden key "${k}"`, name + this.sep + k);
          const cv = c[k];
          if ((k === 'hw' || k === 'hardware') && (typeof cv === 'string' || typeof cv === 'number')) {
            compHw = String(cv);
            const bad = tagTextProblem(compHw, this.maxTagValue);
            if (bad)
              return this.fail(
                'bad_tag_value',
                `"${k}" of component ${name} "${preview(compHw)}" ${bad}`,
                name + this.sep + k
              );
            continue;
          }
          if (!this.checkKey(k, name)) return false;
          if (!this.walkValue(cv, name + this.sep + k, 3)) return false;
        }
      } else if (!this.walkValue(v, name, 2)) {
        return false;
      }
      this.components.push(name);
      this.componentHw.push(compHw);
    }
    return true;
  }

  private checkComponents(deviceHw: string | undefined): void {
    const known = this.registry!.components;
    for (let i = 0; i < this.components.length; i++) {
      const name = this.components[i];
      const spec = known.get(name);
      if (!spec) {
        this.violate('unknown_component', `component "${name}" is not in the registry`, name);
        continue;
      }
      if (spec.hw) {
        const hw = this.componentHw[i] ?? deviceHw;
        if (hw === undefined)
          this.violate(
            'hw_mismatch',
            `component "${name}" needs hardware ${[...spec.hw].join('/')}, payload names none`,
            name
          );
        else if (!spec.hw.has(hw))
          this.violate(
            'hw_mismatch',
            `component "${name}" does not support hardware "${hw}" (allowed: ${[...spec.hw].join(', ')})`,
            name
          );
      }
    }
  }

  /** Walks a value at `name` whose parent is at `depth`. */
  private walkValue(v: unknown, name: string, depth: number): boolean {
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) return this.fail('bad_number', `non-finite number at ${name}`, name);
        return this.leaf(name, v, undefined);
      case 'boolean':
        return this.keepBooleans ? this.leaf(name, v, undefined) : true;
      case 'string':
        return this.stringLeaf(name, v, undefined);
      case 'object':
        if (v === null) return true; // nulls carry no measurement
        if (depth + 1 > this.maxDepth)
          return this.fail('too_deep', `nesting deeper than ${this.maxDepth} at ${name}`, name);
        return Array.isArray(v)
          ? this.walkArray(v, name, depth + 1)
          : this.walkObject(v as Record<string, unknown>, name, depth + 1);
      default:
        return true; // undefined/functions only occur in objects built in code; nothing to measure
    }
  }

  private stringLeaf(name: string, s: string, unit: string | undefined): boolean {
    if (this.coerce && isDecimalText(s)) {
      const n = Number(s);
      if (!Number.isNaN(n)) {
        if (!Number.isFinite(n)) return this.fail('bad_number', `"${s}" at ${name} is not a finite number`, name);
        return this.leaf(name, n, unit);
      }
    }
    if (!this.keepStrings) return true;
    const bad = textProblem(s, this.maxString);
    if (bad) return this.fail('bad_string', `string value of ${name} "${preview(s)}" ${bad}`, name);
    return this.leaf(name, s, unit);
  }

  /** A device-chosen key must be a usable name (names.ts); `parent` is the path it hangs from ('' at the top). */
  private checkKey(k: string, parent: string): boolean {
    const bad = nameProblem(k, this.maxName);
    if (bad === null) return true;
    const where = parent ? `${parent}${this.sep}${preview(k)}` : preview(k);
    return this.fail('bad_field_name', `field name "${preview(k)}"${parent ? ` under ${parent}` : ''} ${bad}`, where);
  }

  private walkObject(o: Record<string, unknown>, name: string, depth: number): boolean {
    const sep = this.sep;
    // {value, unit[, …]} collapses to the value at this path; other keys flatten beside it as usual
    const hasValue = Object.prototype.hasOwnProperty.call(o, 'value');
    const value = hasValue ? o.value : undefined;
    const collapse = hasValue && (typeof value !== 'object' || value === null);
    let unit: string | undefined;
    if (collapse && typeof o.unit === 'string') {
      unit = o.unit;
      const bad = textProblem(unit, this.maxUnit);
      if (bad) return this.fail('bad_unit', `unit of ${name} "${preview(unit)}" ${bad}`, name);
    }
    for (const k in o) {
      if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
      if (++this.keys > this.maxKeys) return this.fail('too_many_keys', `more than ${this.maxKeys} keys/items`, name);
      if (isForbidden(k)) return this.fail('forbidden_key', `forbidden key "${k}" at ${name}`, name + sep + k);
      if (!this.checkKey(k, name)) return false;
      if (collapse) {
        if (k === 'value') {
          if (typeof value === 'number') {
            if (!Number.isFinite(value)) return this.fail('bad_number', `non-finite number at ${name}`, name);
            if (!this.leaf(name, value, unit)) return false;
          } else if (typeof value === 'boolean') {
            if (this.keepBooleans && !this.leaf(name, value, unit)) return false;
          } else if (typeof value === 'string' && !this.stringLeaf(name, value, unit)) {
            return false;
          }
          continue;
        }
        if (k === 'unit' && unit !== undefined) continue;
      }
      if (!this.walkValue(o[k], name + sep + k, depth)) return false;
    }
    return true;
  }

  private walkArray(a: unknown[], name: string, depth: number): boolean {
    this.keys += a.length;
    if (this.keys > this.maxKeys) return this.fail('too_many_keys', `more than ${this.maxKeys} keys/items`, name);
    const names = this.arrayNames ? this.arrayNames.get(name) : undefined;
    const prefix = name + this.sep;
    for (let i = 0; i < a.length; i++) {
      const item = names && i < names.length ? names[i] : String(i);
      if (!this.walkValue(a[i], prefix + item, depth)) return false;
    }
    return true;
  }

  private leaf(name: string, v: number | boolean | string, unit: string | undefined): boolean {
    // segments are checked one by one, but joined ones can spell a forbidden name ("_" + "_" + "proto__")
    if (isForbidden(name)) return this.fail('forbidden_key', `field name "${name}" is forbidden`, name);
    // refused here rather than by the database, where each such line cost requests (docs/influxdb.md)
    if (isReservedKey(name))
      return this.fail(
        'reserved_name',
        `field name "${preview(name)}" is reserved: ${RESERVED_KEY_RULE}`,
        preview(name, 60)
      );
    // a tag and a field of one name in one measurement: a column conflict in InfluxDB 3, and the field shadows
    // the tag in Flux pivots and InfluxQL; any tag key of the node counts, carried by this point or not
    if (this.tagNames.has(name))
      return this.fail(
        'tag_field_clash',
        `field name "${preview(name)}" is a tag key of the point (${this.tagNameList}): a field and a tag of one name conflict in the database`,
        preview(name, 60)
      );
    // each key was checked on the way down; the joined path is what storage sees, so its length counts
    if (name.length > this.maxName)
      return this.fail(
        'bad_field_name',
        `field name ${preview(name)} is ${name.length} characters long, limit ${this.maxName}`,
        preview(name, 60)
      );
    if (this.regFields) {
      const spec = this.regFields.get(name);
      if (spec) {
        if (spec.unit !== undefined) {
          if (unit !== undefined && unit !== spec.unit) {
            this.violate('unit_mismatch', `${name} is in "${unit}", the registry expects "${spec.unit}"`, name);
          }
          unit = spec.unit;
        }
        const bad = checkField(spec, v);
        if (bad) this.violate(bad[0], `${name}: ${bad[1]}`, name);
      }
    }
    // two paths of one message flattened to this name ({"a_b":1,"a":{"b":2}}, a component's motor.t beside a
    // top-level motor_t): the later replaced the earlier without a trace (verification round 2026-12-07). As for
    // a key given twice (duplicate_key): one message must not mean two things
    if (hasOwn.call(this.fields, name))
      return this.fail(
        'duplicate_field',
        `two keys of the payload flatten to the field name "${preview(name)}" (with the separator "${this.sep}")`,
        preview(name, 60)
      );
    // counted here, at the first node, rather than by the writer, which dropped the whole point
    if (++this.fieldCount > this.maxFields)
      return this.fail(
        'too_many_fields',
        `more than ${this.maxFields} fields in one point (the InfluxDB writer takes at most ${MAX_POINT_FIELDS})`,
        ''
      );
    this.fields[name] = v;
    if (unit !== undefined) this.units[name] = unit;
    return true;
  }

  /** Copies the named levels of a matching topic into `tags`; returns the topic's device_id level if any. */
  private topicTags(topic: string, tags: Record<string, string>): string | undefined {
    const pattern = this.topicPattern!;
    const levels = pattern.levels(topic);
    if (levels === null) return undefined;
    // MQTT topics may carry any UTF-8 (a device may publish to a topic of its own making); an empty level
    // names nothing and is skipped
    const bad = levelsProblem(pattern, levels, { name: this.maxName, tagValue: this.maxTagValue });
    if (bad) {
      this.fail(
        'bad_tag_value',
        `topic level for ${bad.name} "${preview(levels[pattern.levelOf(bad.name)])}" ${bad.problem}`,
        `topic.${bad.name}`
      );
      return undefined;
    }
    let device: string | undefined;
    const { names, nameLevels } = pattern;
    for (let i = 0; i < names.length; i++) {
      const value = levels[nameLevels[i]];
      if (value === '') continue;
      const blank = tagTextProblem(value, this.maxTagValue);
      if (blank) {
        this.fail('bad_tag_value', `topic level for ${names[i]} "${preview(value)}" ${blank}`, `topic.${names[i]}`);
        return undefined;
      }
      if (names[i] === 'device_id') device = value;
      else tags[names[i]] = value; // the broker's topic ACL outranks what the payload claims
    }
    return device;
  }
}

/** Convenience for one-off calls (scripts, tests); nodes keep one Normalizer per configuration. */
export function normalize(input: unknown, opts: NormalizeOptions = {}, ctx: NormalizeContext = {}): NormalizeResult {
  return new Normalizer(opts).normalize(input, ctx);
}
