// What the anomaly node decides about the messages it receives, kept out of the adapter so it is tested
// without Node-RED: which point and state key a message carries, the state a new device starts with, the
// result while a device calibrates, the ONNX result's verdict, and the control messages (topics export,
// load, reset, sync) with the documents they read and write. The adapter only maps these onto send/done.
import type { AnomalyResult, Point, Reject } from '../contract';
import { checkValue, FORBIDDEN_KEYS } from '../safe-json';
import { isOneOf, isPlainObject } from '../guards';
import { isDecimalText } from '../decimal-text';
import { parseStoredStates } from './state-document';
import { ONNX_STATE_FORMAT, parseSavedDevice, type SavedDevice } from './onnx/saved-state';
import { isTenant, scopedKey } from '../tenant';
import {
  deserialiseState,
  featuresOf,
  newState,
  serialiseState,
  STAT_METHODS,
  type AnomalyDeviceState,
  type DetectorConfig,
  type StatMethod,
} from './detector';
import { strategyFor } from './methods';
import { severityOf } from './severity';
import { validateLimits, type ThresholdLimits } from './threshold';

export type AnomalyMethod = StatMethod | 'onnx';
export const ANOMALY_METHODS: readonly AnomalyMethod[] = [...STAT_METHODS, 'onnx'];

/** The node's method setting; anything unknown (or unset) is pca, the default. */
export function methodOf(setting: unknown): AnomalyMethod {
  return isOneOf(setting, ANOMALY_METHODS) ? setting : 'pca';
}

/** `format` of the document topic "export" writes and topic "load" reads. */
export const STATE_FORMAT = 'moby-anomaly-state';

function reject(code: string, reason: string, extra: Partial<Reject> = {}): Reject {
  return { code, reason, ...extra };
}

// ---- configuration ---------------------------------------------------------------------------------

/** The threshold limits setting (JSON text; empty = none); throws naming what is wrong. */
export function parseLimitsSetting(text: string | undefined): ThresholdLimits {
  if (!text || !text.trim()) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`limits are not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const bad = checkValue(parsed) ?? null;
  if (bad) throw new Error(`limits: ${bad.reason}`);
  const msg = validateLimits(parsed);
  if (msg) throw new Error(msg);
  return parsed as ThresholdLimits;
}

/** The features setting (comma-separated names; empty = every numeric field); throws on a forbidden name. */
export function parseFeatureList(text: string | undefined): string[] {
  const features = (text ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  for (const f of features) if (FORBIDDEN_KEYS.has(f)) throw new Error(`feature name "${f}" is not allowed`);
  return features;
}

/** Why a detector configuration cannot run (its method's own check, then the feature cap), or null. */
export function configProblem(cfg: DetectorConfig, maxFeatures: number): string | null {
  const methodProblem = strategyFor(cfg.method).validateConfig(cfg);
  if (methodProblem) return methodProblem;
  if (cfg.features.length > maxFeatures)
    return `${cfg.features.length} features configured, more than max features (${maxFeatures})`;
  return null;
}

// ---- points ----------------------------------------------------------------------------------------

export interface KeyedPoint {
  point: Point;
  /** the state key: device (or equipment) id, scoped by tenant when the point has one */
  key: string;
}

/** Validates msg.payload as a point and returns it with its state key, or a reject. */
export function pointOf(payload: unknown, byEquipment: boolean, now = Date.now()): KeyedPoint | Reject {
  const p = payload;
  if (!isPlainObject(p))
    return reject('bad_payload', 'msg.payload must be a point {measurement, tags, fields, timestamp}');
  const bad = checkValue(p, { maxDepth: 4, maxKeys: 2000 });
  if (bad) return bad;
  const tags = isPlainObject(p.tags) ? (p.tags as Record<string, unknown>) : {};
  const fields = p.fields;
  const deviceId = typeof tags.device_id === 'string' && tags.device_id ? tags.device_id : undefined;
  if (!isPlainObject(fields))
    return reject('bad_payload', 'msg.payload.fields must be an object', { device_id: deviceId, field: 'fields' });
  const equipment = typeof tags.equipment_id === 'string' && tags.equipment_id ? tags.equipment_id : undefined;
  const plain = byEquipment ? equipment : deviceId;
  // a tenant's device (or equipment) has its own state even when another tenant uses the same id, and
  // the per-device bound holds per tenant (docs/tenants.md)
  const key = plain && isTenant(tags.tenant) ? scopedKey(tags.tenant, plain) : plain;
  if (!key) {
    return byEquipment
      ? reject('missing_equipment', 'tags.equipment_id is missing', { device_id: deviceId, field: 'tags.equipment_id' })
      : reject('missing_device', 'tags.device_id is missing', { field: 'tags.device_id' });
  }
  const timestamp = typeof p.timestamp === 'number' ? p.timestamp : now;
  return {
    point: {
      measurement: String(p.measurement ?? ''),
      tags: tags as Record<string, string>,
      fields: fields as Point['fields'],
      timestamp,
    },
    key,
  };
}

/**
 * The state a device's first point starts, or why none is kept: no numeric field to score, or more than
 * the feature cap — refused before any state exists, since a device with hundreds of fields would cost
 * memory per calibration row and a fit that grows cubically with the count.
 */
export function newStateFor(cfg: DetectorConfig, point: Point, maxFeatures: number): AnomalyDeviceState | Reject {
  const deviceId = point.tags.device_id;
  const features = featuresOf(cfg, point.fields);
  if (!features.length)
    return reject('no_features', 'the point has no numeric fields to score', { device_id: deviceId });
  if (features.length > maxFeatures)
    return reject('too_many_features', `${features.length} numeric fields, more than max features (${maxFeatures})`, {
      device_id: deviceId,
    });
  return newState(cfg, features);
}

/**
 * Fields of a device's first point left out of its automatic feature list although they look like numbers
 * (decimal text such as "1.5", the text moby-normalize's coerce converts: decimal-text.ts): they are never scored
 * for that device, even when later points send numbers.
 * At most `max` names, for a warning. Empty when the features are configured.
 */
export function textNumberFields(cfg: DetectorConfig, point: Point, features: readonly string[], max = 5): string[] {
  if (cfg.features.length) return [];
  const out: string[] = [];
  for (const k in point.fields) {
    const v = point.fields[k];
    if (typeof v === 'string' && isDecimalText(v) && Number.isFinite(Number(v)) && !features.includes(k)) {
      out.push(k);
      if (out.length >= max) break;
    }
  }
  return out;
}

// ---- results ---------------------------------------------------------------------------------------

export interface WarmingResult extends AnomalyResult {
  warming: true;
  warmup: { have: number; need: number };
}

/** msg.anomaly while a device (or an ONNX window) is still calibrating: normal, score 0, with its progress. */
export function warmingResult(method: AnomalyMethod, have: number, need: number): WarmingResult {
  return {
    score: 0,
    threshold: 0,
    is_anomaly: false,
    severity: 'normal',
    method,
    contributions: {},
    warming: true,
    warmup: { have, need },
  };
}

/** msg.anomaly from an ONNX bundle's score, graded like every statistical method (severity.ts). */
export function onnxResult(
  r: { score: number; threshold: number; contributions: Record<string, number>; model?: AnomalyResult['model'] },
  criticalRatio: number
): AnomalyResult {
  return {
    score: r.score,
    threshold: r.threshold,
    is_anomaly: r.score > r.threshold,
    severity: severityOf(r.score, r.threshold, criticalRatio),
    method: 'onnx',
    contributions: r.contributions,
    model: r.model,
  };
}

// ---- control messages and state documents ----------------------------------------------------------

export type ControlRequest =
  | { kind: 'export' }
  | { kind: 'load'; devices: Array<[string, AnomalyDeviceState]> }
  /** method onnx: the bundle scorer's device states, checked for shape (the scorer checks them against its bundles) */
  | { kind: 'onnx-load'; devices: Array<[string, SavedDevice]> }
  | { kind: 'reset'; device: string | null }
  | { kind: 'sync' }
  | { kind: 'reject'; reject: Reject };

/**
 * A control message (msg.topic export, load or reset; sync for onnx), checked; null when the message is not
 * one (it is then a point). For onnx, export, load and reset act on the bundle scorer's per-device state
 * (windows, persistence, centres) in its own document format. A load is all or nothing: the first unusable
 * device state rejects the whole document, naming the device.
 */
export function controlOf(
  topic: unknown,
  payload: unknown,
  method: AnomalyMethod,
  cfg: DetectorConfig,
  maxFeatures: number
): ControlRequest | null {
  if (method === 'onnx') return onnxControlOf(topic, payload);
  switch (topic) {
    case 'export':
      return { kind: 'export' };
    case 'reset':
      return resetOf(payload);
    case 'load': {
      const devices = loadedDevices(payload, STATE_FORMAT, '', (s) => deserialiseState(s, cfg, maxFeatures));
      return Array.isArray(devices) ? { kind: 'load', devices } : { kind: 'reject', reject: devices };
    }
    default:
      return null;
  }
}

/**
 * reset: one device by `msg.payload.device_id` or a device id as the payload; every device only with no payload
 * (or "all"). Anything else is refused: an inject node's timestamp or `{deviceId: …}` recalibrated the whole
 * fleet (15 minutes of calibration each) when one device was meant (integrator review, 2026-12-06).
 */
function resetOf(payload: unknown): ControlRequest {
  if (payload === undefined || payload === null || payload === '' || payload === 'all')
    return { kind: 'reset', device: null };
  if (typeof payload === 'string') return { kind: 'reset', device: payload };
  if (isPlainObject(payload) && typeof payload.device_id === 'string' && payload.device_id !== '')
    return { kind: 'reset', device: payload.device_id };
  return {
    kind: 'reject',
    reject: {
      code: 'bad_reset',
      reason:
        'reset takes msg.payload.device_id (a string), a device id as msg.payload, or no payload (or "all") for every device; nothing was reset',
      field: isPlainObject(payload) ? 'payload.device_id' : 'payload',
    },
  };
}

function onnxControlOf(topic: unknown, payload: unknown): ControlRequest | null {
  switch (topic) {
    case 'sync':
      return { kind: 'sync' };
    case 'export':
      return { kind: 'export' };
    case 'reset':
      return resetOf(payload);
    case 'load': {
      const devices = loadedDevices(payload, ONNX_STATE_FORMAT, ' (method onnx)', parseSavedDevice);
      return Array.isArray(devices) ? { kind: 'onnx-load', devices } : { kind: 'reject', reject: devices };
    }
    default:
      return null;
  }
}

/**
 * The device states of a topic "load" document, for both formats (the statistical methods' and onnx's): the
 * hostile-JSON caps first, then `format` and a `devices` object, then each state through `parse` (a string
 * says why it is unusable). All or nothing: the first unusable state rejects the whole document, naming the
 * device. `which` follows the format in the reject (" (method onnx)").
 */
function loadedDevices<S>(
  payload: unknown,
  format: string,
  which: string,
  parse: (state: unknown) => S | string
): Array<[string, S]> | Reject {
  const bad = checkValue(payload, { maxDepth: 8, maxKeys: 5_000_000 });
  if (bad) return bad;
  if (!isPlainObject(payload) || payload.format !== format || !isPlainObject(payload.devices))
    return reject('bad_state', `msg.payload must be a ${format} document as produced by topic "export"${which}`);
  const devices: Array<[string, S]> = [];
  for (const [k, s] of Object.entries(payload.devices)) {
    // checkValue has refused these already; kept so the loop is safe on its own
    if (FORBIDDEN_KEYS.has(k)) continue;
    const state = parse(s);
    if (typeof state === 'string') return reject('bad_state', `state for ${k}: ${state}`, { device_id: k });
    devices.push([k, state]);
  }
  return devices;
}

export interface StateDocument {
  format: typeof STATE_FORMAT;
  v: 1;
  method: StatMethod;
  exported_at: number;
  devices: Record<string, AnomalyDeviceState>;
}

/** The document topic "export" sends: every device's state as plain JSON (copies). */
export function exportDocument(
  method: StatMethod,
  states: Iterable<[string, AnomalyDeviceState]>,
  now = Date.now()
): StateDocument {
  const devices: Record<string, AnomalyDeviceState> = {};
  for (const [k, s] of states) devices[k] = serialiseState(s);
  return { format: STATE_FORMAT, v: 1, method, exported_at: now, devices };
}

export interface RestoredStates {
  accepted: Array<[string, AnomalyDeviceState]>;
  /** states that do not match this node's configuration (ignored) */
  refused: number;
  /** states wider than the feature cap (dropped: the device calibrates again, held to the cap) */
  tooWide: number;
  /** the stored document was a string that is not JSON (nothing restored) */
  unreadable?: boolean;
}

/**
 * The learned states read back from the context store. A state wider than the feature cap is dropped, not
 * kept forever: the device calibrates anew instead of being refused at every restart.
 */
export function restoreStates(stored: unknown, cfg: DetectorConfig, maxFeatures: number): RestoredStates {
  const out: RestoredStates = { accepted: [], refused: 0, tooWide: 0 };
  // the document string saved since the fourth round of issue 16, or the object saved before (state-document.ts)
  const value = parseStoredStates(stored);
  if (value === null) out.unreadable = true;
  if (!isPlainObject(value)) return out;
  for (const [key, s] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    if (isPlainObject(s) && Array.isArray(s.features) && s.features.length > maxFeatures) {
      out.tooWide++;
      continue;
    }
    const state = deserialiseState(s, cfg, maxFeatures);
    if (typeof state === 'string') out.refused++;
    else out.accepted.push([key, state]);
  }
  return out;
}
