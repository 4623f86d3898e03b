// The ONNX bundle scorer's per-device state as plain JSON: what moby-anomaly (method onnx) saves in its
// context store and sends/takes with the export/load control messages. Pure (no onnxruntime), so the
// control-message parser can use it without loading the runtime.
//
// Saved state is input like any message (a hand-edited context file, a document from another node): every
// entry is checked here for shape and finite values; whether it still fits the bundle it was built for is
// the scorer's check (BundleScorer.restore), which knows the loaded bundles.
import { isPlainObject } from '../../guards';
import { FORBIDDEN_KEYS } from '../../safe-json';
import { parseStoredStates } from '../state-document';
import { MAX_RUL_AVERAGE, rulHistoryProblem } from '../rul-average';
import type { SavedBaseline } from './baseline';

export const ONNX_STATE_FORMAT = 'moby-onnx-state';
/**
 * Version of the export document. 2 added each device's RUL averaging history (`rul`); documents of
 * version 1 and entries saved before it have none and load with an empty history. Older versions ignore
 * the field, so a version-2 document loads there too (without the history). 3 added each device's own
 * baseline (`base`, RUL bundles with baseline_cycles); older entries load without one (the device then gets
 * its RUL only if it can still collect its baseline).
 */
export const ONNX_STATE_VERSION = 3;

/** A device's recent RUL predictions when its bundle sets rul_average > 1 (RulAverage.history()). */
export interface SavedRulHistory {
  /** the bundle's rul_average the history was kept for (dropped on restore when the bundle's differs) */
  k: number;
  /** the ages the predictions were made at, oldest first (the age feature, or the count of RUL points) */
  ages: number[];
  /** the model's own predictions at those ages */
  preds: number[];
}

/** One device's state as saved (see BundleScorer's DeviceState). */
export interface SavedDevice {
  /** id ("equipment/power/version") of the bundle the state was built for */
  bundle: string;
  /** that bundle's feature list */
  features: string[];
  /** that bundle's scaler; null when the model scales itself */
  scaler: { mean: number[]; std: number[] } | null;
  /** that bundle's window length (steps) */
  window: number;
  /** the window's standardised rows, oldest first: base64 of little-endian float32 (steps held × features) */
  rows: string;
  /** timestamp (ms) of the device's last point */
  t: number;
  /** the persistence filter's recent raw scores, oldest first */
  scores?: number[];
  /** the device's standardisation centre (raw units), when the bundle sets center_drift */
  center?: number[];
  /** the RUL averaging history, when the bundle sets rul_average > 1 (since version 2) */
  rul?: SavedRulHistory;
  /** the device's own baseline, when the bundle sets baseline_cycles (since version 3) */
  base?: SavedBaseline;
}

export interface OnnxStateDocument {
  format: typeof ONNX_STATE_FORMAT;
  v: typeof ONNX_STATE_VERSION;
  method: 'onnx';
  exported_at: number;
  devices: Record<string, SavedDevice>;
}

const MAX_WINDOW = 100000; // meta.json's bound on window
const MAX_FEATURES = 100000;
const MAX_SCORES = 100000;

/**
 * The window rows of a saved state (base64 of little-endian float32, SlidingWindow.encode), or why not: at
 * most `maxSteps` rows of `width` finite values.
 */
export function decodeRows(text: unknown, width: number, maxSteps: number): Float32Array | string {
  const why = `rows must be base64 of at most ${maxSteps} rows of ${width} finite float32 values`;
  // base64 is 4 characters per 3 bytes: refuse an oversized string before decoding it
  if (typeof text !== 'string' || text.length > Math.ceil((maxSteps * width * 4) / 3) * 4) return why;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return why;
  const buf = Buffer.from(text, 'base64');
  if (buf.length % (width * 4) !== 0 || buf.length > maxSteps * width * 4) return why;
  const out = new Float32Array(buf.length / 4);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = view.getFloat32(i * 4, true);
    if (!Number.isFinite(out[i])) return why;
  }
  return out;
}

function finiteArray(v: unknown, max: number): v is number[] {
  return Array.isArray(v) && v.length <= max && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** The entry checked for shape and finite values, or why it is not usable. */
export function parseSavedDevice(v: unknown): SavedDevice | string {
  if (!isPlainObject(v)) return 'not an object';
  const { bundle, features, scaler, window, rows, t, scores, center, rul, base } = v;
  if (typeof bundle !== 'string' || !bundle) return 'bundle must be a non-empty string';
  if (
    !Array.isArray(features) ||
    !features.length ||
    features.length > MAX_FEATURES ||
    !features.every((f) => typeof f === 'string' && f)
  )
    return 'features must be a non-empty list of names';
  const nf = features.length;
  if (typeof window !== 'number' || !Number.isInteger(window) || window < 1 || window > MAX_WINDOW)
    return `window must be an integer from 1 to ${MAX_WINDOW}`;
  let sc: SavedDevice['scaler'] = null;
  if (scaler !== null) {
    if (!isPlainObject(scaler) || !finiteArray(scaler.mean, nf) || !finiteArray(scaler.std, nf))
      return 'scaler must be null or {mean, std} of finite numbers';
    if (scaler.mean.length !== nf || scaler.std.length !== nf) return `scaler needs ${nf} means and stds`;
    sc = { mean: scaler.mean, std: scaler.std };
  }
  const decoded = decodeRows(rows, nf, window);
  if (typeof decoded === 'string') return decoded;
  if (typeof t !== 'number' || !Number.isFinite(t)) return 't must be a finite timestamp';
  const out: SavedDevice = { bundle, features: features as string[], scaler: sc, window, rows: rows as string, t };
  if (scores !== undefined) {
    if (!finiteArray(scores, MAX_SCORES)) return 'scores must be finite numbers';
    out.scores = scores;
  }
  if (center !== undefined) {
    if (!finiteArray(center, nf) || center.length !== nf) return `center must hold ${nf} finite numbers`;
    out.center = center;
  }
  if (rul !== undefined) {
    const history = parseRulHistory(rul);
    if (typeof history === 'string') return history;
    out.rul = history;
  }
  if (base !== undefined) {
    if (
      !isPlainObject(base) ||
      typeof base.cycles !== 'number' ||
      !Number.isInteger(base.cycles) ||
      base.cycles < 1 ||
      base.cycles > MAX_WINDOW ||
      typeof base.count !== 'number' ||
      !Number.isInteger(base.count) ||
      base.count < 0 ||
      base.count > base.cycles ||
      !finiteArray(base.sum, nf) ||
      (base.age !== undefined && (typeof base.age !== 'number' || !Number.isFinite(base.age)))
    )
      return `base must be {cycles, count ≤ cycles, sum of at most ${nf} finite numbers, age?}`;
    out.base = {
      cycles: base.cycles,
      count: base.count,
      sum: base.sum,
      ...(base.age !== undefined ? { age: base.age } : {}),
    };
  }
  return out;
}

/** A saved RUL averaging history checked (RulAverage's own rules), or why not, naming the field. */
function parseRulHistory(v: unknown): SavedRulHistory | string {
  if (!isPlainObject(v)) return 'rul must be {k, ages, preds}';
  const { k, ages, preds } = v;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_RUL_AVERAGE)
    return `rul.k must be an integer from 1 to ${MAX_RUL_AVERAGE}`;
  const problem = rulHistoryProblem(k, ages, preds);
  if (problem) return `rul.${problem}`;
  return { k, ages: ages as number[], preds: preds as number[] };
}

export interface ParsedSavedStates {
  /** entries in document order (least recently active first), each checked or with the reason it is not */
  entries: Array<[string, SavedDevice | string]>;
  /** the stored value was a string that is not JSON */
  unreadable?: boolean;
}

/** What the context store returned (a document string, or an object), as checked entries. */
export function parseSavedStates(stored: unknown): ParsedSavedStates {
  const value = parseStoredStates(stored);
  const out: ParsedSavedStates = { entries: [] };
  if (value === null) out.unreadable = true;
  if (!isPlainObject(value)) return out;
  for (const [key, s] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    out.entries.push([key, parseSavedDevice(s)]);
  }
  return out;
}
