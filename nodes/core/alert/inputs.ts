// Maps the messages the alert node receives onto alert signals: anomaly scores, device-health transitions,
// remaining-useful-life estimates and explicit msg.alert requests. Anything unrecognisable or malformed
// becomes a Reject naming the device and field, never an exception.
import type { AlertReason, AnomalyResult, HealthEvent, Reject } from '../contract';
import { checkValue } from '../safe-json';
import { isSeverity, type AlertSignal } from './engine';
import { copyPlain, isPlainObject } from '../guards';
import { tenantOfMessage } from '../tenant';
import { proseProblem } from '../names';
import { actionTextProblem } from './mute';
import { clockTime } from '../span';

export interface InputOptions {
  /** RUL below this value opens rule "rul"; undefined disables RUL alerts */
  rulThreshold?: number;
  /** RUL below this value makes the alert critical (else warning) */
  rulCritical?: number;
}

export const RULES = { anomaly: 'anomaly', health: 'device_offline', rul: 'rul' } as const;

const MAX_ID = 128;
const MAX_RULE = 64;
const MAX_MESSAGE = 1000;

/** `s` cut to at most `max` UTF-16 units without splitting a surrogate pair (a lone half is not text). */
function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const c = s.charCodeAt(max - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? max - 1 : max);
}
// device ids and rules are labels in URLs, tags and mail subjects: no spaces, slashes or control characters
const ID_PATTERN = /^[\w.:@-]+$/;

export type InputResult = { ok: true; signals: AlertSignal[] } | { ok: false; reject: Reject };

function reject(code: string, reason: string, device_id?: string, field?: string): InputResult {
  const r: Reject = { code, reason };
  if (device_id !== undefined) r.device_id = device_id;
  if (field !== undefined) r.field = field;
  return { ok: false, reject: r };
}

function validId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID && ID_PATTERN.test(v);
}

/** A device id an alert may carry (what the inputs accept); the shared view checks records from Redis with it. */
export const isAlertDeviceId = validId;

/** A rule name an alert may carry (msg.alert.rule's rule, which the built-in rule names follow too). */
export function isRuleName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_RULE && ID_PATTERN.test(v);
}

/** The device a message is about: payload.tags.device_id, payload.device_id or msg.moby.device_id. */
export function deviceOf(msg: Record<string, unknown>): unknown {
  const p = msg.payload;
  if (isPlainObject(p)) {
    if (isPlainObject(p.tags) && p.tags.device_id !== undefined) return p.tags.device_id;
    if (p.device_id !== undefined) return p.device_id;
  }
  if (isPlainObject(msg.moby) && msg.moby.device_id !== undefined) return msg.moby.device_id;
  return undefined;
}

function equipmentOf(msg: Record<string, unknown>): string | undefined {
  const p = msg.payload;
  if (isPlainObject(p) && isPlainObject(p.tags) && typeof p.tags.equipment_id === 'string')
    return p.tags.equipment_id.slice(0, MAX_ID);
  if (isPlainObject(p) && typeof p.equipment_id === 'string') return p.equipment_id.slice(0, MAX_ID);
  return undefined;
}

function fmtNum(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)));
}

/**
 * The names of the (up to) three largest contributions by magnitude, largest first, ties in the object's
 * key order; non-numbers and non-finite values are skipped. One pass over the keys, holding the three in
 * locals: no entries, filtered, sorted or spliced arrays for every anomalous point (issue 16, tenth round:
 * the sort's arrays were ~1.2 KB of garbage per alerting message).
 */
export function topContributions(contributions: Record<string, unknown>): string[] {
  let k0 = '';
  let k1 = '';
  let k2 = '';
  // -1: empty slot (every magnitude kept is >= 0)
  let m0 = -1;
  let m1 = -1;
  let m2 = -1;
  for (const k in contributions) {
    if (!Object.prototype.hasOwnProperty.call(contributions, k)) continue;
    const v = contributions[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const m = Math.abs(v);
    // strictly larger to move ahead: an equal one stays behind those before it, as a stable sort keeps it
    if (m > m0) {
      k2 = k1;
      m2 = m1;
      k1 = k0;
      m1 = m0;
      k0 = k;
      m0 = m;
    } else if (m > m1) {
      k2 = k1;
      m2 = m1;
      k1 = k;
      m1 = m;
    } else if (m > m2) {
      k2 = k;
      m2 = m;
    }
  }
  if (m0 < 0) return [];
  if (m1 < 0) return [k0.slice(0, 40)];
  if (m2 < 0) return [k0.slice(0, 40), k1.slice(0, 40)];
  return [k0.slice(0, 40), k1.slice(0, 40), k2.slice(0, 40)];
}

function withEquipment(s: AlertSignal, equipment: string | undefined): AlertSignal {
  if (equipment !== undefined) s.equipment_id = equipment;
  return s;
}

/** Alert.reason of an anomaly trigger: the incident's reason, a noise alarm's pattern; `score` without an incident. */
function anomalyReason(inc: AnomalyResult['incident']): AlertReason {
  switch (inc?.reason) {
    case 'drift':
    case 'flatline':
    case 'missing':
      return inc.reason;
    case 'noise':
      return inc.pattern === 'spikes' || inc.pattern === 'jump' ? inc.pattern : 'noise';
    default:
      return inc ? 'persistent' : 'score';
  }
}

function fromAnomaly(a: unknown, device: string, equipment: string | undefined): InputResult {
  if (!isPlainObject(a)) return reject('bad_anomaly', 'msg.anomaly is not an object', device, 'anomaly');
  const r = a as unknown as AnomalyResult;
  if (typeof r.is_anomaly !== 'boolean')
    return reject('bad_anomaly', 'msg.anomaly.is_anomaly is not a boolean', device, 'anomaly.is_anomaly');
  // A model still calibrating (a new device, a reset, or a restart that lost the device's saved model) has no
  // verdict: its "normal, score 0" is not evidence that an incident ended. Counted as clears, it resolved every
  // alert opened in the seconds before a kill -9 three points into the recalibration, and the next verdict
  // opened each again as a second incident (power-cut round 2026-12-07).
  if (r.warming === true) return { ok: true, signals: [] };
  // An anomaly node that tracks incidents (msg.anomaly.alarm) has already applied persistence and hysteresis:
  // the alert follows the alarm and resolves at once when it closes. Without it, each point's verdict counts.
  const tracked = typeof r.alarm === 'boolean';
  const firing = tracked ? r.alarm === true : r.is_anomaly;
  if (!firing)
    return {
      ok: true,
      signals: [
        tracked
          ? { kind: 'clear', device_id: device, rule: RULES.anomaly, immediate: true }
          : { kind: 'clear', device_id: device, rule: RULES.anomaly },
      ],
    };
  if (typeof r.score !== 'number' || !Number.isFinite(r.score))
    return reject('bad_anomaly', 'msg.anomaly.score is not a finite number', device, 'anomaly.score');
  const threshold = typeof r.threshold === 'number' && Number.isFinite(r.threshold) ? r.threshold : undefined;
  const inc = tracked && isPlainObject(r.incident) ? r.incident : undefined;
  const severity = inc && isSeverity(inc.severity) ? inc.severity : isSeverity(r.severity) ? r.severity : 'warning';
  const method = typeof r.method === 'string' ? r.method.slice(0, 32) : 'model';
  const top = isPlainObject(r.contributions) ? topContributions(r.contributions) : [];
  const sensorName = typeof inc?.feature === 'string' ? inc.feature.slice(0, 40) : undefined;
  const sensor = sensorName !== undefined ? `${sensorName} ` : '';
  // a sensor that gives no usable value has no score to show: nothing was scored
  if (inc?.reason === 'missing') {
    const points = typeof inc.points === 'number' && Number.isFinite(inc.points) ? ` for ${inc.points} points` : '';
    const s: AlertSignal = {
      kind: 'trigger',
      device_id: device,
      rule: RULES.anomaly,
      severity,
      message: `Anomaly on ${device}: sensor ${sensor}gives no usable value (missing, null or not a number)${points} in a row`,
      value: r.score,
      reason: 'missing',
    };
    if (sensorName !== undefined) s.sensor = sensorName;
    return { ok: true, signals: [withEquipment(s, equipment)] };
  }
  // a noise alarm's own measure (the sensor moving N× as much as in calibration): the model's score beside it may
  // sit far below its threshold, and "spikes on sensor x (pca score 0.049, threshold 1)" read as a false alarm
  const jitter =
    inc?.reason === 'noise' && typeof inc.jitter === 'number' && Number.isFinite(inc.jitter) && inc.jitter >= 1
      ? `, moving ${fmtNum(inc.jitter)}× as much as in calibration`
      : '';
  const why =
    inc?.reason === 'drift'
      ? ': slow drift away from calibration'
      : inc?.reason === 'flatline'
        ? `: sensor ${sensor}flat-lined`
        : inc?.reason === 'noise'
          ? (inc.pattern === 'spikes'
              ? `: intermittent spikes on sensor ${sensor}`.trimEnd()
              : inc.pattern === 'jump'
                ? `: sudden jump on sensor ${sensor}`.trimEnd()
                : `: sensor ${sensor}noisy`) + jitter
          : '';
  // A persistent alarm is the score itself crossing its threshold, so the score leads. Drift, flat-line and
  // noise alarms come from their own checks while the score may sit well below the threshold: the reason leads
  // and the score follows as context, never as "score 0.07 vs threshold 1", which reads as a false alarm.
  // severity is sticky (critical once the smoothed score reached the critical ratio), the score is the latest
  // point's: a critical alert reading "score 0.036, threshold 1" looked like a false alarm to an operator. The
  // peak is shown whenever the alarm went above its threshold, not only while this point's own verdict is
  // critical: the alert stays critical in the engine while a spike alarm's later points are warnings, and its
  // message lost the peak then (red-team round 2026-12-06: every demo spikes alert read "0.03, threshold 1")
  const hasPeak = typeof inc?.peak === 'number' && Number.isFinite(inc.peak) && inc.peak > 0;
  // (not when the latest score is the peak: "score 29.19 above threshold 1 (peak 29.19 × threshold)" says it twice)
  const atPeak = threshold !== undefined && threshold > 0 && (inc?.peak as number) <= (1.05 * r.score) / threshold;
  const peak =
    hasPeak && !atPeak && (severity === 'critical' || (inc!.peak as number) > 1)
      ? `, peak ${fmtNum(inc!.peak as number)} × threshold`
      : '';
  const score = `${method} score ${fmtNum(r.score)}`;
  const sensorCheck = inc?.reason === 'flatline' || inc?.reason === 'noise';
  // "top" was the model's word; an operator reads which sensors to look at first (operator round 2026-12-06 called
  // "pca score 2.161 above threshold 1 (top: …)" jargon)
  const topText = top.length && !sensorCheck ? ` (most unusual: ${top.join(', ')})` : '';
  // A persistent alarm opens on the points' own scores crossing the threshold again and again; the score sent is
  // the smoothed one, often still below it then: "pca score 0.87 vs threshold 1" read as a false alarm
  const persistentBelow = !why && threshold !== undefined && inc !== undefined && !(r.score > threshold);
  // A reason-led alarm whose latest score is not above its threshold: the score is left out (it stays in `value`),
  // and only how high it went, when above: "sudden jump on sensor x … (pca score 0.068, threshold 1)" still read
  // as "not an anomaly" at 3 a.m. (operator round of 2026-12-07)
  const reasonContext =
    threshold === undefined
      ? ` (${score}${peak})`
      : r.score > threshold
        ? ` (${score} above threshold ${fmtNum(threshold)}${peak})`
        : hasPeak && (inc!.peak as number) > 1
          ? ` (up to ${fmtNum(inc!.peak as number)} × the ${method} threshold)`
          : '';
  const message = why
    ? `Anomaly on ${device}${why}${reasonContext}${topText}`
    : persistentBelow
      ? // without the smoothed score (in `value`): "above threshold 1 (smoothed score 0.6147)" read as a
        // contradiction to the operator of round 2026-12-06; how high the alarm went says more
        `Anomaly on ${device}: readings repeatedly unlike calibration, ${method} point scores above threshold ${fmtNum(threshold!)}${
          hasPeak && (inc!.peak as number) > 1 ? `, at most ${fmtNum(inc!.peak as number)} × threshold` : ''
        }${topText}`
      : `Anomaly on ${device}: readings unlike calibration, ${score}` +
        (threshold !== undefined ? ` ${r.score > threshold ? 'above' : 'vs'} threshold ${fmtNum(threshold)}` : '') +
        (peak ? ` (${peak.slice(2)})` : '') +
        topText;
  const s: AlertSignal = {
    kind: 'trigger',
    device_id: device,
    rule: RULES.anomaly,
    severity,
    message,
    value: r.score,
    reason: anomalyReason(inc),
  };
  if (threshold !== undefined) s.threshold = threshold;
  if (sensorCheck && sensorName !== undefined) s.sensor = sensorName;
  return { ok: true, signals: [withEquipment(s, equipment)] };
}

function fromHealth(p: unknown): InputResult {
  if (!isPlainObject(p)) return reject('bad_health', 'device-health payload is not an object', undefined, 'payload');
  const h = p as unknown as HealthEvent;
  if (!validId(h.device_id))
    return reject(
      'bad_device_id',
      'device-health payload.device_id missing or invalid',
      undefined,
      'payload.device_id'
    );
  const eq = typeof h.equipment_id === 'string' ? h.equipment_id.slice(0, MAX_ID) : undefined;
  switch (h.state) {
    case 'OFFLINE':
    case 'TIMEOUT': {
      const why = h.state === 'OFFLINE' ? 'is offline' : 'stopped sending data';
      const seen = typeof h.last_seen === 'number' ? ` (last seen ${clockTime(h.last_seen)})` : '';
      const s: AlertSignal = {
        kind: 'trigger',
        device_id: h.device_id,
        rule: RULES.health,
        severity: h.state === 'OFFLINE' ? 'critical' : 'warning',
        message: `Device ${h.device_id} ${why}${seen}`,
        reason: h.state === 'OFFLINE' ? 'offline' : 'timeout',
      };
      return { ok: true, signals: [withEquipment(s, eq)] };
    }
    case 'ONLINE':
      return { ok: true, signals: [{ kind: 'clear', device_id: h.device_id, rule: RULES.health, immediate: true }] };
    case 'UNKNOWN':
      return { ok: true, signals: [] };
    default:
      return reject(
        'bad_health',
        `unknown device state ${JSON.stringify(String(h.state)).slice(0, 40)}`,
        h.device_id,
        'payload.state'
      );
  }
}

function fromRul(r: unknown, device: string, equipment: string | undefined, opts: InputOptions): InputResult {
  if (!isPlainObject(r) || typeof r.value !== 'number' || !Number.isFinite(r.value))
    return reject('bad_rul', 'msg.rul.value is not a finite number', device, 'rul.value');
  if (opts.rulThreshold === undefined) return { ok: true, signals: [] };
  const unit = typeof r.unit === 'string' ? ` ${r.unit.slice(0, 16)}` : '';
  if (r.value >= opts.rulThreshold)
    return { ok: true, signals: [{ kind: 'clear', device_id: device, rule: RULES.rul }] };
  const critical = opts.rulCritical !== undefined && r.value < opts.rulCritical;
  const s: AlertSignal = {
    kind: 'trigger',
    device_id: device,
    rule: RULES.rul,
    severity: critical ? 'critical' : 'warning',
    message: `Remaining useful life of ${device} is ${fmtNum(r.value)}${unit}, below ${fmtNum(opts.rulThreshold)}${unit}`,
    value: r.value,
    threshold: opts.rulThreshold,
    reason: 'rul',
  };
  return { ok: true, signals: [withEquipment(s, equipment)] };
}

function fromExplicit(a: unknown, msg: Record<string, unknown>): InputResult {
  if (!isPlainObject(a)) return reject('bad_alert', 'msg.alert is not an object', undefined, 'alert');
  const bad = checkValue(a, { maxDepth: 4, maxKeys: 50 });
  if (bad) return { ok: false, reject: { ...bad, field: bad.field ? `alert.${bad.field}` : 'alert' } };
  const device = a.device_id !== undefined ? a.device_id : deviceOf(msg);
  if (!validId(device))
    return reject(
      'bad_device_id',
      'no valid device id in msg.alert.device_id, msg.payload.tags.device_id or msg.moby.device_id',
      undefined,
      'alert.device_id'
    );
  if (!isRuleName(a.rule)) return reject('bad_rule', 'msg.alert.rule missing or invalid', device, 'alert.rule');
  if (a.clear === true) {
    const clear: AlertSignal = { kind: 'clear', device_id: device, rule: a.rule, immediate: true };
    // the resolve note people read in the API, the panel and the resolve's page: the API's rules for a note
    const noteBad = actionTextProblem({ note: a.note });
    if (noteBad) return reject('bad_note', `msg.alert.${noteBad.message}`, device, 'alert.note');
    if (typeof a.note === 'string' && a.note) clear.note = a.note;
    return { ok: true, signals: [clear] };
  }
  const severity = a.severity === undefined ? 'warning' : a.severity;
  if (!isSeverity(severity))
    return reject('bad_severity', 'msg.alert.severity must be info, warning or critical', device, 'alert.severity');
  if (a.message !== undefined && typeof a.message !== 'string')
    return reject('bad_message', 'msg.alert.message is not a string', device, 'alert.message');
  // the only free text a flow puts into an alert: the rules of a person's note (names.ts), so a line break, a
  // U+202E or a NUL cannot reach the summary, e-mail, panel and database (red-team round 2026-12-05)
  const messageBad =
    typeof a.message === 'string' && a.message ? proseProblem(a.message, Number.MAX_SAFE_INTEGER) : null;
  if (messageBad) return reject('bad_message', `msg.alert.message ${messageBad}`, device, 'alert.message');
  for (const f of ['value', 'threshold'] as const) {
    if (a[f] !== undefined && (typeof a[f] !== 'number' || !Number.isFinite(a[f])))
      return reject('bad_number', `msg.alert.${f} is not a finite number`, device, `alert.${f}`);
  }
  const s: AlertSignal = { kind: 'trigger', device_id: device, rule: a.rule, severity };
  s.message = typeof a.message === 'string' && a.message ? cutText(a.message, MAX_MESSAGE) : `${a.rule} on ${device}`;
  if (typeof a.value === 'number') s.value = a.value;
  if (typeof a.threshold === 'number') s.threshold = a.threshold;
  return { ok: true, signals: [withEquipment(s, equipmentOf(msg))] };
}

/**
 * Turns one message into alert signals (several when it carries e.g. both anomaly and RUL), each with the
 * message's tenant when it has one (msg.moby.tenant, the point's tags.tenant or the health event's tenant).
 */
export function signalsFromMessage(msg: Record<string, unknown>, opts: InputOptions = {}): InputResult {
  const r = signalsOf(msg, opts);
  if (r.ok && r.signals.length) {
    const tenant = tenantOfMessage(msg);
    if (tenant !== undefined) for (const s of r.signals) s.tenant = tenant;
  }
  return r;
}

function signalsOf(msg: Record<string, unknown>, opts: InputOptions): InputResult {
  if (msg.alert !== undefined) return fromExplicit(msg.alert, msg);
  if (msg.topic === 'device-health') return fromHealth(msg.payload);
  if (msg.anomaly === undefined && msg.rul === undefined) {
    return reject('no_signal', 'message has no msg.anomaly, msg.rul, msg.alert or device-health payload');
  }
  const device = deviceOf(msg);
  if (!validId(device))
    return reject(
      'bad_device_id',
      'no valid device id in msg.payload.tags.device_id or msg.moby.device_id',
      undefined,
      'payload.tags.device_id'
    );
  const equipment = equipmentOf(msg);
  const signals: AlertSignal[] = [];
  if (msg.anomaly !== undefined) {
    const r = fromAnomaly(msg.anomaly, device, equipment);
    if (!r.ok) return r;
    signals.push(...r.signals);
  }
  if (msg.rul !== undefined) {
    const r = fromRul(msg.rul, device, equipment, opts);
    if (!r.ok) return r;
    signals.push(...r.signals);
  }
  return { ok: true, signals };
}

const VIEW_PAYLOAD_KEYS = ['device_id', 'equipment_id', 'tenant'];
const VIEW_TAG_KEYS = ['device_id', 'equipment_id', 'tenant'];

/**
 * The part of a scored point that signalsFromMessage reads (msg.anomaly, msg.rul, msg.alert, the device,
 * equipment and tenant fields), as a new message that shares no object with the point: moby-anomaly sends it
 * on its "for alerts" output so that the alert node gets its own small message while the point itself goes
 * to the writer on a single wire, without the deep clone of a fan-out (docs/benchmarks.md). `_msgid` is
 * kept, so a source that acknowledges on completion still waits for the alert node. A device-health
 * message (topic device-health) is copied whole. signalsFromMessage reads the view as it reads the point
 * (test/unit/core/alert/inputs.test.ts).
 */
export function alertView(msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (msg._msgid !== undefined) out._msgid = msg._msgid;
  if (msg.topic !== undefined) out.topic = msg.topic;
  if (msg.anomaly !== undefined) out.anomaly = copyPlain(msg.anomaly);
  if (msg.rul !== undefined) out.rul = copyPlain(msg.rul);
  if (msg.alert !== undefined) out.alert = copyPlain(msg.alert);
  if (isPlainObject(msg.moby)) {
    const m: Record<string, unknown> = {};
    if (msg.moby.device_id !== undefined) m.device_id = msg.moby.device_id;
    if (msg.moby.tenant !== undefined) m.tenant = msg.moby.tenant;
    out.moby = m;
  }
  const p = msg.payload;
  if (msg.topic === 'device-health') out.payload = copyPlain(p);
  else if (isPlainObject(p)) {
    const v: Record<string, unknown> = {};
    for (const k of VIEW_PAYLOAD_KEYS) if (p[k] !== undefined) v[k] = copyPlain(p[k], 1);
    if (isPlainObject(p.alert) && p.alert.tenant !== undefined) v.alert = { tenant: p.alert.tenant };
    if (isPlainObject(p.tags)) {
      const t: Record<string, unknown> = {};
      for (const k of VIEW_TAG_KEYS) if (p.tags[k] !== undefined) t[k] = copyPlain(p.tags[k], 1);
      v.tags = t;
    }
    out.payload = v;
  } else if (p !== undefined) out.payload = copyPlain(p);
  return out;
}
