// Point → InfluxDB line protocol, and the mapping of every MOBY message kind onto points. Numbers are
// always written as floats (no `i` suffix) so a field never flips between int and float, which InfluxDB
// refuses with a "field type conflict" for the rest of the shard; booleans stay booleans, strings are
// escaped. Timestamps arrive as epoch milliseconds and are rendered in the configured precision.
import type { AlertEvent, AnomalyResult, HealthEvent, Point, Reject } from '../contract';
import { MEASUREMENTS } from '../contract';
import { FORBIDDEN_KEYS } from '../safe-json';

export type Precision = 'ms' | 's' | 'us' | 'ns';
export const PRECISIONS: readonly Precision[] = ['ms', 's', 'us', 'ns'];

export interface LineLimits {
  maxTags: number;
  maxFields: number;
  /** max characters of one string field value or tag value */
  maxStringLength: number;
  /** max points in one array payload */
  maxPoints: number;
  /** max characters of one line of line-protocol text */
  maxLineLength: number;
}

export const DEFAULT_LINE_LIMITS: LineLimits = {
  maxTags: 64,
  maxFields: 256,
  maxStringLength: 65536,
  maxPoints: 10000,
  maxLineLength: 1 << 20,
};

/** Result of mapping one message: the lines to write and a reject per piece that could not be mapped. */
export interface Mapped {
  lines: string[];
  rejects: Reject[];
}

const MEASUREMENT_ESCAPE = /[, \\\n\r\t]/g;
const KEY_ESCAPE = /[,= \\\n\r\t]/g;
const STRING_ESCAPE = /["\\\n\r]/g;
const CONTROL_REPLACE: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// Tests without the g flag: almost every name and value needs no escaping, and a test allocates nothing
// where replace() with a callback sets up a global match (profiled on the pipeline's hot path, issue 16).
const NEEDS_MEASUREMENT_ESCAPE = /[, \\\n\r\t]/;
const NEEDS_KEY_ESCAPE = /[,= \\\n\r\t]/;
const NEEDS_STRING_ESCAPE = /["\\\n\r]/;

// Line protocol cannot carry a raw newline anywhere, so control characters become a visible "\n" text.
const escapeName = (s: string, re: RegExp) => s.replace(re, (c) => CONTROL_REPLACE[c] ?? `\\${c}`);
export const escapeMeasurement = (s: string): string =>
  NEEDS_MEASUREMENT_ESCAPE.test(s) ? escapeName(s, MEASUREMENT_ESCAPE) : s;
export const escapeKey = (s: string): string => (NEEDS_KEY_ESCAPE.test(s) ? escapeName(s, KEY_ESCAPE) : s);
export const escapeStringField = (s: string): string =>
  NEEDS_STRING_ESCAPE.test(s) ? `"${s.replace(STRING_ESCAPE, (c) => CONTROL_REPLACE[c] ?? `\\${c}`)}"` : `"${s}"`;

// A key as written, with its separator before and its `=` after: the same few dozen keys come in every point,
// so the escaped text is kept (bounded; cleared when full) instead of testing every key against the escape
// pattern and joining `key=` anew per field of every point (issue 16, seventh round). With the separator in
// it, each field adds two strings to the line instead of three (issue 16, eleventh round: the line's
// intermediate strings were the largest allocation of the pipeline's hot path).
interface KeyText {
  /** ` key=`: the first field, after the series key */
  first: string;
  /** `,key=`: every later field, and every tag */
  next: string;
}
const KEY_TEXT = new Map<string, KeyText>();
const KEY_TEXT_MAX = 4096;
function keyText(k: string): KeyText {
  let t = KEY_TEXT.get(k);
  if (t === undefined) {
    if (KEY_TEXT.size >= KEY_TEXT_MAX) KEY_TEXT.clear();
    const e = escapeKey(k);
    t = { first: ` ${e}=`, next: `,${e}=` };
    KEY_TEXT.set(k, t);
  }
  return t;
}

/** Renders an epoch-ms timestamp in the given precision (`s` truncates: it cannot hold milliseconds). */
export function formatTimestamp(ms: number, precision: Precision): string {
  const whole = Math.round(ms);
  switch (precision) {
    case 'ms':
      return String(whole);
    case 's':
      return String(Math.floor(whole / 1000));
    case 'us':
      return `${whole}000`;
    case 'ns':
      return `${whole}000000`;
  }
}

/** A float as line protocol writes it: JS number text is valid LP float syntax (1, 1.5, 1e+21). */
function formatFloat(n: number): string {
  return Object.is(n, -0) ? '0' : String(n);
}

/**
 * Sorts keys in place as Array.prototype.sort() does (UTF-16 code-unit order). A point has a handful of
 * tags: an insertion sort allocates nothing, where sort() copied the keys into a work array of its own —
 * 4–5 % of the bytes the pipeline allocated in batch mode (issue 16, seventh round).
 */
export function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

function reject(code: string, reason: string, point?: Partial<Point>, field?: string): Reject {
  const r: Reject = { code, reason };
  const device =
    point?.tags && typeof point.tags === 'object' ? (point.tags as Record<string, unknown>).device_id : undefined;
  if (typeof device === 'string') r.device_id = device;
  if (field !== undefined) r.field = field;
  return r;
}

/** Validates and renders one point; returns the line or a reject naming the offending field. */
export function pointToLine(
  p: unknown,
  precision: Precision = 'ms',
  limits: LineLimits = DEFAULT_LINE_LIMITS
): { line: string } | { reject: Reject } {
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    return { reject: reject('bad_point', 'point is not an object') };
  const point = p as Partial<Point>;
  if (typeof point.measurement !== 'string' || point.measurement.length === 0) {
    return { reject: reject('bad_point', 'measurement must be a non-empty string', point, 'measurement') };
  }
  if (point.measurement.length > limits.maxStringLength)
    return { reject: reject('too_large', 'measurement name too long', point, 'measurement') };
  if (typeof point.timestamp !== 'number' || !Number.isFinite(point.timestamp) || point.timestamp < 0) {
    return { reject: reject('bad_timestamp', 'timestamp must be epoch milliseconds', point, 'timestamp') };
  }
  let line = escapeMeasurement(point.measurement);
  const tags = point.tags ?? {};
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags))
    return { reject: reject('bad_point', 'tags must be an object', point, 'tags') };
  // sorted tag keys: the order InfluxDB stores them in, cheaper for it to index
  const tagKeys = sortKeys(Object.keys(tags));
  if (tagKeys.length > limits.maxTags)
    return { reject: reject('too_many_tags', `more than ${limits.maxTags} tags`, point, 'tags') };
  for (const k of tagKeys) {
    if (FORBIDDEN_KEYS.has(k) || k.length === 0)
      return { reject: reject('forbidden_key', `tag key "${k}" not allowed`, point, `tags.${k}`) };
    const v = (tags as Record<string, unknown>)[k];
    if (v === undefined || v === null || v === '') continue; // LP has no empty tag value: omit the tag
    if (typeof v !== 'string') return { reject: reject('bad_tag', `tag ${k} must be a string`, point, `tags.${k}`) };
    if (v.length > limits.maxStringLength)
      return { reject: reject('too_large', `tag ${k} too long`, point, `tags.${k}`) };
    line = line + keyText(k).next + escapeKey(v);
  }
  const fields = point.fields;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    return { reject: reject('bad_point', 'fields must be an object', point, 'fields') };
  let count = 0;
  for (const k in fields) {
    if (!Object.prototype.hasOwnProperty.call(fields, k)) continue;
    if (FORBIDDEN_KEYS.has(k) || k.length === 0)
      return { reject: reject('forbidden_key', `field key "${k}" not allowed`, point, `fields.${k}`) };
    if (++count > limits.maxFields)
      return { reject: reject('too_many_fields', `more than ${limits.maxFields} fields`, point, 'fields') };
    const v = (fields as Record<string, unknown>)[k];
    let text: string;
    if (typeof v === 'number') {
      if (!Number.isFinite(v))
        return { reject: reject('bad_number', `field ${k} is not a finite number`, point, `fields.${k}`) };
      text = formatFloat(v);
    } else if (typeof v === 'boolean') {
      text = v ? 'true' : 'false';
    } else if (typeof v === 'string') {
      if (v.length > limits.maxStringLength)
        return { reject: reject('too_large', `field ${k} too long`, point, `fields.${k}`) };
      text = escapeStringField(v);
    } else if (v === null || v === undefined) {
      count--;
      continue; // absent value: nothing to write for this field
    } else {
      return { reject: reject('bad_field', `field ${k} must be a number, boolean or string`, point, `fields.${k}`) };
    }
    const kt = keyText(k);
    line = line + (count === 1 ? kt.first : kt.next) + text;
  }
  if (count === 0) return { reject: reject('no_fields', 'point has no fields to write', point, 'fields') };
  return { line: `${line} ${formatTimestamp(point.timestamp, precision)}` };
}

function optionalTag(tags: Record<string, string>, key: string, v: unknown): void {
  if (typeof v === 'string' && v !== '') tags[key] = v;
}

/**
 * An alert lifecycle event → moby_alerts. alert_id is a TAG: each alert is its own series, so the panel
 * reduces rows to the latest state per alert with last() per alert_id, and two alerts changing in the
 * same millisecond never overwrite each other. status is a FIELD, not a tag: an alert stays one series
 * through its lifecycle, so last() per alert_id is its current status.
 */
export function alertEventToPoint(ev: AlertEvent): Point | Reject {
  const a = ev?.alert;
  if (!a || typeof a !== 'object' || typeof a.alert_id !== 'string' || typeof a.device_id !== 'string') {
    return { code: 'bad_alert', reason: 'alert event needs alert.alert_id and alert.device_id' };
  }
  const tags: Record<string, string> = { alert_id: a.alert_id, device_id: a.device_id };
  optionalTag(tags, 'rule', a.rule);
  optionalTag(tags, 'severity', a.severity);
  optionalTag(tags, 'equipment_id', a.equipment_id);
  optionalTag(tags, 'tenant', a.tenant);
  const fields: Record<string, number | boolean | string> = {
    event: String(ev.event ?? ''),
    status: String(a.status ?? ''),
    acknowledged: a.acknowledged === true,
    count: typeof a.count === 'number' ? a.count : 1,
    message: String(a.message ?? ''),
  };
  const copyNum = (k: keyof typeof a) => {
    const v = a[k];
    if (typeof v === 'number' && Number.isFinite(v)) fields[k] = v;
  };
  const copyStr = (k: keyof typeof a) => {
    const v = a[k];
    if (typeof v === 'string' && v !== '') fields[k] = v;
  };
  for (const k of ['value', 'threshold', 'opened_at', 'updated_at', 'acknowledged_at', 'resolved_at'] as const)
    copyNum(k);
  for (const k of [
    'reason',
    'sensor',
    'summary',
    'acknowledged_by',
    'ack_note',
    'resolved_by',
    'resolve_note',
  ] as const)
    copyStr(k);
  if (typeof a.escalated === 'boolean') fields.escalated = a.escalated;
  const time = typeof ev.time === 'number' ? ev.time : typeof a.updated_at === 'number' ? a.updated_at : NaN;
  return { measurement: MEASUREMENTS.alerts, tags, fields, timestamp: time };
}

/** A device-health transition → moby_device_state (state is a field: one series per device, last() = now). */
export function healthEventToPoint(ev: HealthEvent, time: number): Point | Reject {
  if (!ev || typeof ev !== 'object' || typeof ev.device_id !== 'string' || typeof ev.state !== 'string') {
    return { code: 'bad_health', reason: 'device-health event needs device_id and state' };
  }
  const tags: Record<string, string> = { device_id: ev.device_id };
  optionalTag(tags, 'equipment_id', ev.equipment_id);
  optionalTag(tags, 'tenant', ev.tenant);
  const fields: Record<string, number | boolean | string> = {
    state: ev.state,
    previous: String(ev.previous ?? ''),
    reason: String(ev.reason ?? ''),
    online: ev.state === 'ONLINE',
  };
  if (typeof ev.since === 'number') fields.since = ev.since;
  if (typeof ev.last_seen === 'number') fields.last_seen = ev.last_seen;
  const ts = typeof ev.since === 'number' && Number.isFinite(ev.since) ? ev.since : time;
  return { measurement: MEASUREMENTS.deviceState, tags, fields, timestamp: ts };
}

/** An anomaly score → moby_anomaly, tagged like the scored point plus the method. */
export function anomalyToPoint(point: Point, a: AnomalyResult): Point | Reject {
  if (!a || typeof a !== 'object' || typeof a.score !== 'number' || !point || typeof point !== 'object') {
    return { code: 'bad_anomaly', reason: 'msg.anomaly needs a numeric score and msg.payload the scored point' };
  }
  const tags: Record<string, string> = {};
  if (point.tags && typeof point.tags === 'object') {
    for (const k of Object.keys(point.tags)) if (typeof point.tags[k] === 'string') tags[k] = point.tags[k];
  }
  optionalTag(tags, 'method', a.method);
  optionalTag(tags, 'source', point.measurement);
  const fields: Record<string, number | boolean | string> = {
    score: a.score,
    is_anomaly: a.is_anomaly === true,
    severity: String(a.severity ?? 'normal'),
  };
  if (typeof a.threshold === 'number') fields.threshold = a.threshold;
  if (a.model && typeof a.model.version === 'string') fields.model_version = a.model.version;
  return { measurement: MEASUREMENTS.anomaly, tags, fields, timestamp: point.timestamp };
}

const isReject = (x: Point | Reject): x is Reject => typeof (x as Reject).code === 'string' && !('measurement' in x);

/**
 * Line-protocol text: one point per line, blank lines and `#` comments dropped. Only the shape is checked
 * here (a measurement and a field set); the server judges the rest and its 400 comes back as a reject.
 */
export function textToLines(text: string, limits: LineLimits = DEFAULT_LINE_LIMITS): Mapped {
  const out: Mapped = { lines: [], rejects: [] };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (line.length > limits.maxLineLength)
      out.rejects.push({ code: 'too_large', reason: `line longer than ${limits.maxLineLength} characters` });
    else if (!LINE_SHAPE.test(line))
      out.rejects.push({ code: 'bad_line', reason: `not line protocol: ${line.slice(0, 80)}` });
    else out.lines.push(line);
    if (out.lines.length > limits.maxPoints) {
      out.rejects.push({ code: 'too_many_points', reason: `more than ${limits.maxPoints} lines in one message` });
      out.lines.length = limits.maxPoints;
      break;
    }
  }
  return out;
}

// series key (measurement[,tag=value…]), one space, a field set of key=value pairs (quoted strings may hold
// spaces and commas), optionally a space and an integer timestamp
const LINE_SHAPE =
  /^[^\s,#\\](?:[^ \\]|\\.)* (?:[^ =,\\]|\\.)+=(?:"(?:[^"\\]|\\.)*"|[^ ,"]+)(?:,(?:[^ =,\\]|\\.)+=(?:"(?:[^"\\]|\\.)*"|[^ ,"]+))*(?: -?\d+)?$/;

export interface MessageLike {
  topic?: unknown;
  payload?: unknown;
  anomaly?: unknown;
}

/**
 * Maps a message of any accepted kind to lines: a Point or array of Points, an alert event
 * (topic "alert"), a device-health event (topic "device-health") or snapshot (topic "snapshot", rows of
 * the device-health node), a scored point (msg.anomaly: its
 * moby_anomaly point and, unless writeScoredPoint is false, the point itself), or line-protocol text.
 */
export interface MapOptions {
  precision?: Precision;
  /** time for events that carry none (default now) */
  now?: number;
  limits?: LineLimits;
  /** with msg.anomaly: also write the scored point itself (default true; false when the flow writes points separately) */
  writeScoredPoint?: boolean;
}

/** One point (or a reject an event mapping returned) into `out`: a function, not a closure made per message
 * (issue 16, eleventh round: garbage per item). */
function addLine(out: Mapped, p: unknown, precision: Precision, limits: LineLimits): void {
  if (p && typeof p === 'object' && isReject(p as Point | Reject)) {
    out.rejects.push(p as Reject);
    return;
  }
  const r = pointToLine(p, precision, limits);
  if ('line' in r) out.lines.push(r.line);
  else out.rejects.push(r.reject);
}

export function messageToLines(msg: MessageLike, opts: MapOptions = {}): Mapped {
  const precision = opts.precision ?? 'ms';
  const limits = opts.limits ?? DEFAULT_LINE_LIMITS;
  const now = opts.now ?? Date.now();
  const out: Mapped = { lines: [], rejects: [] };
  const payload = msg.payload;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) return textToLines(payload.toString(), limits);
  if (msg.topic === 'alert') {
    addLine(out, alertEventToPoint(payload as AlertEvent), precision, limits);
    return out;
  }
  if (msg.topic === 'device-health') {
    addLine(out, healthEventToPoint(payload as HealthEvent, now), precision, limits);
    return out;
  }
  if (msg.topic === 'snapshot' && Array.isArray(payload)) {
    // the device-health node's snapshot: one row per device, stored like a transition into its state
    if (payload.length > limits.maxPoints) {
      out.rejects.push({
        code: 'too_many_points',
        reason: `${payload.length} rows in one snapshot, limit ${limits.maxPoints}`,
      });
      return out;
    }
    for (const row of payload) addLine(out, healthEventToPoint(row as HealthEvent, now), precision, limits);
    return out;
  }
  if (Array.isArray(payload)) {
    if (payload.length > limits.maxPoints) {
      out.rejects.push({
        code: 'too_many_points',
        reason: `${payload.length} points in one message, limit ${limits.maxPoints}`,
      });
      return out;
    }
    for (const p of payload) addLine(out, p, precision, limits);
    return out;
  }
  if (msg.anomaly !== undefined && msg.anomaly !== null) {
    if (opts.writeScoredPoint !== false) addLine(out, payload, precision, limits);
    addLine(out, anomalyToPoint(payload as Point, msg.anomaly as AnomalyResult), precision, limits);
    return out;
  }
  if (payload === undefined || payload === null) {
    out.rejects.push({ code: 'no_payload', reason: 'msg.payload is empty' });
    return out;
  }
  addLine(out, payload, precision, limits);
  return out;
}

/** The device_id tag of a line, for reject messages about a line the server refused. */
export function deviceIdOfLine(line: string): string | undefined {
  const seriesKey = /^(?:[^ \\]|\\.)*/.exec(line)?.[0] ?? '';
  const m = /,device_id=((?:[^,= \\]|\\.)+)/.exec(seriesKey);
  return m ? m[1].replace(/\\(.)/g, '$1') : undefined;
}
