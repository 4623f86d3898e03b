// Per-device anomaly detection for the statistical methods: calibrate on the first N points (or a loaded
// fitted state), then score each point, smooth the score, grade its severity and — on points judged
// normal — adapt slowly to drift. Device state is plain JSON so it can be persisted and exported as is.
import { featureValueProblem } from './feature-value';
import type { AnomalyResult, Reject, Severity } from '../contract';
import type { EwmaModel } from './ewma';
import type { L2Model } from './l2';
import type { PcaModel } from './pca';
import { isNumArray, strategyFor, type MethodStrategy } from './methods';
import type { ScalingKind } from './scaling';
import { quantile } from './linalg';
import { severityOf, DEFAULT_CRITICAL_RATIO } from './severity';
import { smooth, SmoothingKind } from './smoothing';
import type { ThresholdLimits } from './threshold';
import {
  DEFAULT_INCIDENT,
  IncidentConfig,
  IncidentState,
  newIncident,
  settling,
  trackRepeats,
  afterSilence,
  updateIncident,
  validateIncident,
} from './incident';

export type StatMethod = 'threshold' | 'l2' | 'ewma' | 'pca';
export const STAT_METHODS: readonly StatMethod[] = ['threshold', 'l2', 'ewma', 'pca'];

export interface DetectorConfig extends IncidentConfig {
  method: StatMethod;
  /** feature (field) names in order; empty = every numeric field of the device's first point, sorted */
  features: string[];
  /** points per device used for calibration before scoring starts */
  trainSize: number;
  /** limits are the (1 − alpha) quantile of the training scores */
  alpha: number;
  /** widens (> 1) or narrows the learned limits */
  limitScale: number;
  /**
   * share of the calibration rows (the latest) held out of the fit (0 = off): the model is fitted on the
   * earlier rows, then the held-out rows stream through it as in service (scored, smoothed, learned) and the
   * limits widen until they cover those scores, times limitScale. Limits then reflect how far this device's
   * data moves beyond what the fit saw, instead of a margin tuned on other equipment.
   */
  calibrationHoldout: number;
  /** pca: share of variance the kept components explain */
  varianceShare: number;
  /** centre/scale estimate for l2 and pca */
  scaling: ScalingKind;
  /** l2/pca: weight with which a point judged normal moves the centre (0 = frozen model) */
  adaptRate: number;
  /**
   * weight with which a point judged anomalous still moves the centre (0 = never). Small values bound how
   * long a permanent change of operating point (after maintenance, a new product) stays flagged.
   */
  anomalyAdaptRate: number;
  /** ewma: weight of a new normal point in the running mean/variance */
  ewmaLambda: number;
  /**
   * rolling mean of each feature over this many points before calibration and scoring (1 = off): averages
   * out sample noise and quantisation so small persistent shifts stand out early
   */
  inputWindow: number;
  /** smoothing window (points) and kind; the verdict uses the smoothed score */
  smoothing: number;
  smoothingKind: SmoothingKind;
  /** severity is critical from criticalRatio × threshold */
  criticalRatio: number;
  /** threshold method: per-field limits */
  limits: ThresholdLimits;
}

/**
 * Defaults, equal to the settings `npm run eval:skab` reports (same on every file, chosen for robustness
 * to drift rather than for one data set). Use defaultsFor(method): some methods differ (METHOD_DEFAULTS).
 */
export const DEFAULT_CONFIG: DetectorConfig = {
  method: 'pca',
  features: [],
  // 15 minutes at 1 Hz: long enough for the calibration to see a machine's load wander through its usual
  // range (400 points flagged healthy simulated machines 4× per 100 device-hours, 900 none; eval:sim)
  trainSize: 900,
  alpha: 0.003,
  limitScale: 1,
  calibrationHoldout: 0,
  varianceShare: 0.85,
  scaling: 'robust',
  adaptRate: 0.01,
  anomalyAdaptRate: 0,
  ewmaLambda: 0.005,
  inputWindow: 3,
  smoothing: 15,
  smoothingKind: 'median',
  criticalRatio: DEFAULT_CRITICAL_RATIO,
  limits: {},
  ...DEFAULT_INCIDENT,
};

/**
 * Per-method departures from DEFAULT_CONFIG, chosen by the SKAB tuning runs and checked by grouped
 * cross-validation (`eval:skab -- --cv --groups 4`: settings chosen on 12 valve1 files and 6 anomaly-free
 * pieces, scored on the 4 files and 2 pieces held out; docs/anomaly.md):
 * - pca: T² and Q of 400 averaged calibration rows understate the spread of a longer run; every grouped
 *   fold widens the limits to 3×, 2.5× keeps most of the recall and cuts false alarms on the anomaly-free
 *   recording (another day) from 7.9 % to 2.9 %.
 * - l2: no correlation structure to tell drift from faults, so its centre follows drift faster.
 * - ewma: its running variance already tracks the spread, so it can average longer inputs; its limit comes
 *   from the last quarter of the calibration held out (calibrationHoldout), which every grouped fold and
 *   15 of 16 leave-one-file-out folds choose, and with that margin a short smoothing window suffices.
 */
export const METHOD_DEFAULTS: Readonly<Record<StatMethod, Partial<DetectorConfig>>> = {
  pca: { limitScale: 2.5 },
  l2: { adaptRate: 0.02 },
  ewma: { inputWindow: 10, smoothing: 5, calibrationHoldout: 0.25 },
  threshold: { smoothing: 1, inputWindow: 1 },
};

export function defaultsFor(method: StatMethod): DetectorConfig {
  return { ...DEFAULT_CONFIG, ...METHOD_DEFAULTS[method], method };
}

export type FittedModel =
  | { method: 'l2'; l2: L2Model }
  | { method: 'ewma'; ewma: EwmaModel }
  | { method: 'pca'; pca: PcaModel }
  | { method: 'threshold' };

/** Everything learned about one device (or equipment); JSON-serialisable. */
export interface AnomalyDeviceState {
  v: 1;
  method: StatMethod;
  features: string[];
  /** calibration rows collected so far (null once fitted) */
  buffer: number[][] | null;
  model: FittedModel | null;
  window: number[];
  /** last inputWindow raw rows, in ring order (only when inputWindow > 1) */
  recent?: number[][];
  /** ring position the next row overwrites once `recent` is full */
  recentNext?: number;
  /** points scored since fitting */
  scored: number;
  /** the alarm (incident) layer: persistence, drift from calibration, flat lines (incident.ts); made on demand */
  incident?: IncidentState;
}

export type StepResult =
  | { kind: 'warming'; have: number; need: number }
  | { kind: 'reject'; reject: Reject }
  | { kind: 'result'; anomaly: AnomalyResult; fitted: boolean };

export function newState(cfg: DetectorConfig, features: string[]): AnomalyDeviceState {
  const strategy = strategyFor(cfg.method);
  return {
    v: 1,
    method: cfg.method,
    features: features.slice(),
    buffer: strategy.calibrates ? [] : null,
    model: strategy.initialModel(),
    window: [],
    scored: 0,
  };
}

/** The feature names for a point: the configured list, or all finite numeric fields sorted by name. */
export function featuresOf(cfg: DetectorConfig, fields: Record<string, unknown>): string[] {
  if (cfg.features.length) return cfg.features;
  return strategyFor(cfg.method).defaultFeatures(cfg, fields);
}

/** Reads the feature vector out of a point's fields, or says which field is wrong. */
export function extract(
  features: string[],
  fields: Record<string, unknown>,
  out?: Float64Array
): Float64Array | Reject {
  const x = out ?? new Float64Array(features.length);
  for (let j = 0; j < features.length; j++) {
    const f = features[j];
    const v = Object.prototype.hasOwnProperty.call(fields, f) ? fields[f] : undefined;
    if (v === undefined || v === null)
      return { code: 'missing_feature', reason: `feature "${f}" is missing`, field: f };
    if (typeof v !== 'number')
      return { code: 'not_numeric', reason: `feature "${f}" is ${typeof v}, not a number`, field: f };
    const problem = featureValueProblem(v);
    if (problem !== null) return { code: 'bad_number', reason: `feature "${f}" ${problem}`, field: f };
    x[j] = v;
  }
  return x;
}

export function fitModel(cfg: DetectorConfig, rows: number[][]): FittedModel {
  const strategy = strategyFor(cfg.method);
  const share = cfg.calibrationHoldout ?? 0;
  const cut = Math.round(rows.length * (1 - share));
  // too few rows on either side: a plain fit (the held-out check needs a model and something to check)
  if (!(share > 0) || !strategy.scaleLimits || cut < 10 || rows.length - cut < 10) return strategy.fit(cfg, rows);
  const model = strategy.fit(cfg, rows.slice(0, cut));
  const window: number[] = [];
  const smoothed: number[] = [];
  const contributions = new Array<number>(rows[0].length).fill(0);
  for (let i = cut; i < rows.length; i++) {
    const { score, threshold } = strategy.score(cfg, [], model, rows[i], contributions);
    // relative to the limit without limitScale, so the margin applies on top of what was held out
    smoothed.push(smooth(window, score / threshold, cfg.smoothing, cfg.smoothingKind) * cfg.limitScale);
    strategy.learn(cfg, model, rows[i]);
  }
  const factor = quantile(smoothed, 1 - cfg.alpha);
  if (factor > 1) strategy.scaleLimits(model, factor);
  return model;
}

/** Raw score, its threshold and per-feature contributions (non-negative, not normalised). */
export function rawScore(
  cfg: DetectorConfig,
  state: AnomalyDeviceState,
  x: ArrayLike<number>,
  contributions: number[]
): { score: number; threshold: number } {
  return strategyFor(cfg.method).score(cfg, state.features, state.model!, x, contributions);
}

/** Moves only the centre (not scale/variance/axes) by `rate`: used for points judged anomalous. */
function nudgeCentre(centre: number[] | null, x: ArrayLike<number>, rate: number): void {
  if (centre) for (let j = 0; j < centre.length; j++) centre[j] += rate * (x[j] - centre[j]);
}

/** Mean of the last `w` rows including `x`; the rows live in a ring in the state (order is irrelevant to a mean). */
function rollingMean(state: AnomalyDeviceState, x: ArrayLike<number>, w: number): number[] {
  const recent = (state.recent ??= []);
  const d = x.length;
  if (recent.length < w) {
    recent.push(Array.from(x));
  } else {
    const pos = (state.recentNext ?? 0) % recent.length;
    const row = recent[pos];
    for (let j = 0; j < d; j++) row[j] = x[j];
    state.recentNext = (pos + 1) % recent.length;
  }
  const out = new Array<number>(d).fill(0);
  for (const r of recent) for (let j = 0; j < d; j++) out[j] += r[j];
  for (let j = 0; j < d; j++) out[j] /= recent.length;
  return out;
}

/** Rounds shares to 4 decimals so msg.anomaly stays compact. */
function shares(features: string[], contributions: number[]): Record<string, number> {
  let total = 0;
  for (const c of contributions) total += c;
  const out: Record<string, number> = {};
  for (let j = 0; j < features.length; j++)
    out[features[j]] = total > 0 ? Math.round((contributions[j] / total) * 1e4) / 1e4 : 0;
  return out;
}

/**
 * Installs a fitted model in a calibrating state (the calibration buffer is dropped). Used by step() and by
 * callers that fit elsewhere (a worker thread) and hand the result back.
 */
export function installModel(state: AnomalyDeviceState, model: FittedModel): void {
  state.model = model;
  state.buffer = null;
  state.window = [];
  state.scored = 0;
}

/**
 * Decides whether a full calibration buffer is fitted somewhere else (returns true: the point stays
 * `warming` until the caller installs the model) instead of synchronously inside step().
 */
export type DeferFit = (state: AnomalyDeviceState, rows: number[][]) => boolean;

/**
 * One point through a device's detector. Mutates `state` (calibration buffer, model, smoothing window).
 * `x` must be in `state.features` order (see extract). With `deferFit`, large fits can be moved off the
 * caller's thread: while the fit runs, later points are not added to the full buffer and stay warming.
 */
export function step(
  cfg: DetectorConfig,
  state: AnomalyDeviceState,
  raw: ArrayLike<number>,
  deferFit?: DeferFit,
  /** the point's time (epoch ms): tells a restart after a silence (IncidentConfig.restartGapMs) */
  at?: number
): StepResult {
  const strategy: MethodStrategy = strategyFor(cfg.method);
  let fitted = false;
  const inc = (state.incident ??= newIncident(raw.length));
  trackRepeats(inc, raw, !state.model, afterSilence(inc, at));
  const x = cfg.inputWindow > 1 ? rollingMean(state, raw, cfg.inputWindow) : raw;
  if (!state.model) {
    const buffer = (state.buffer ??= []);
    if (buffer.length < cfg.trainSize) buffer.push(Array.from(x));
    if (buffer.length < cfg.trainSize) return { kind: 'warming', have: buffer.length, need: cfg.trainSize };
    if (deferFit && deferFit(state, buffer)) return { kind: 'warming', have: buffer.length, need: cfg.trainSize };
    let model: FittedModel;
    try {
      model = fitModel(cfg, buffer);
    } catch (err) {
      state.buffer = [];
      return {
        kind: 'reject',
        reject: { code: 'model_error', reason: `calibration failed: ${(err as Error).message}` },
      };
    }
    state.model = model;
    state.buffer = null;
    state.window = [];
    state.scored = 0;
    const centre = strategy.centre(state.model);
    inc.origin = centre ? centre.slice() : null;
    inc.open = null;
    fitted = true;
  }
  const model = state.model;
  if (!fitted && inc.origin === null) {
    // a model loaded or restored without alarm state: its centre now is the best reference for drift
    const centre = strategy.centre(model);
    inc.origin = centre ? centre.slice() : null;
  }
  const contributions = new Array<number>(state.features.length).fill(0);
  const { score: pointScore, threshold } = strategy.score(cfg, state.features, model, x, contributions);
  if (!Number.isFinite(pointScore))
    return { kind: 'reject', reject: { code: 'model_error', reason: `score is ${pointScore}` } };
  const score = smooth(state.window, pointScore, cfg.smoothing, cfg.smoothingKind);
  const isAnomaly = score > threshold;
  // learn only from points that are normal both raw and smoothed, so the onset of a fault is not absorbed
  if (!isAnomaly && pointScore <= threshold) strategy.learn(cfg, model, x);
  else if (cfg.anomalyAdaptRate > 0) nudgeCentre(strategy.centre(model), x, cfg.anomalyAdaptRate);
  state.scored++;
  // how far the learned centre has moved from calibration, in the model's own score units
  const drift =
    inc.origin && cfg.driftRatio > 0
      ? strategy.score(cfg, state.features, model, inc.origin, scratchContributions(state.features.length)).score /
        threshold
      : NaN;
  const hold = settling(inc, cfg, at);
  const verdict = updateIncident(inc, cfg, pointScore > threshold, drift, score, threshold, cfg.criticalRatio, hold);
  const anomaly: AnomalyResult = {
    score,
    threshold,
    is_anomaly: isAnomaly,
    severity: severityOf(score, threshold, cfg.criticalRatio),
    method: cfg.method,
    contributions: shares(state.features, contributions),
    alarm: verdict.alarm,
  };
  if (hold) anomaly.settling = true;
  if (verdict.alarm) {
    anomaly.incident = {
      reason: verdict.reason!,
      severity: verdict.severity as Severity,
      points: inc.open!.points,
      opened: verdict.opened,
      peak: Math.round(inc.open!.peak * 1000) / 1000,
    };
    if (verdict.feature !== undefined) anomaly.incident.feature = state.features[verdict.feature];
    if (verdict.pattern) anomaly.incident.pattern = verdict.pattern;
    if (verdict.jitter !== undefined) anomaly.incident.jitter = Math.round(verdict.jitter * 10) / 10;
  }
  return { kind: 'result', fitted, anomaly };
}

let contributionScratch: number[] = [];
function scratchContributions(d: number): number[] {
  if (contributionScratch.length < d) contributionScratch = new Array<number>(d).fill(0);
  return contributionScratch;
}

/**
 * Default per-device feature cap. A PCA fit grows about cubically with the feature count (100 features
 * 0.16 s, 400 → 9.9 s, 490 → over a minute), and real machines send a few dozen sensors; the node rejects a
 * device above its cap (`too_many_features`) before any state is kept for it.
 */
export const DEFAULT_MAX_FEATURES = 64;

/**
 * Checks a device state from outside (context store, msg.topic "load") before it is trusted: shapes,
 * dimensions and finite numbers. Returns the reason it is unusable, or null.
 */
export function validateState(s: unknown, cfg: DetectorConfig, maxFeatures = DEFAULT_MAX_FEATURES): string | null {
  if (typeof s !== 'object' || s === null) return 'state is not an object';
  const st = s as Partial<AnomalyDeviceState>;
  if (st.v !== 1) return `unsupported state version ${String(st.v)}`;
  if (st.method !== cfg.method) return `state is for method ${String(st.method)}, node uses ${cfg.method}`;
  if (!Array.isArray(st.features) || st.features.length === 0 || !st.features.every((f) => typeof f === 'string'))
    return 'features must be a non-empty list of names';
  if (st.features.length > maxFeatures) return `${st.features.length} features, more than the cap of ${maxFeatures}`;
  if (cfg.features.length && cfg.features.join('\u0000') !== st.features.join('\u0000'))
    return `state features [${st.features.join(', ')}] differ from the configured ones`;
  const d = st.features.length;
  if (!isNumArray(st.window ?? [])) return 'window must be numbers';
  if (
    st.buffer !== null &&
    st.buffer !== undefined &&
    (!Array.isArray(st.buffer) || st.buffer.length > cfg.trainSize || !st.buffer.every((r) => isNumArray(r, d)))
  )
    return 'buffer rows must be numbers, one per feature';
  if (
    st.recentNext !== undefined &&
    !(Number.isInteger(st.recentNext) && st.recentNext >= 0 && st.recentNext < Math.max(1, cfg.inputWindow))
  )
    return 'recentNext must be a ring position below inputWindow';
  if (
    st.recent !== undefined &&
    (!Array.isArray(st.recent) ||
      st.recent.length > Math.max(1, cfg.inputWindow) ||
      !st.recent.every((r) => isNumArray(r, d)))
  )
    return 'recent rows must be numbers, one per feature, at most inputWindow of them';
  const m = st.model as FittedModel | null | undefined;
  if (m === null || m === undefined) return st.buffer ? null : 'state has neither a model nor a calibration buffer';
  if (m.method !== cfg.method) return 'model method differs from state method';
  const badModel = strategyFor(cfg.method).validateModel(m, d);
  if (badModel) return badModel;
  if (st.incident !== undefined) {
    const why = validateIncident(st.incident, d, cfg.alarmWindow);
    if (why) return why;
  }
  return null;
}

/** A device state as plain JSON, for the context store and topic "export" (a copy: scoring goes on). */
export function serialiseState(s: AnomalyDeviceState): AnomalyDeviceState {
  const copy = JSON.parse(JSON.stringify({ ...s, model: null })) as AnomalyDeviceState;
  copy.model = s.model ? strategyFor(s.method).serialise(s.model) : null;
  return copy;
}

/** A device state from plain JSON (context store, topic "load"), checked by validateState; or why not. */
export function deserialiseState(
  raw: unknown,
  cfg: DetectorConfig,
  maxFeatures = DEFAULT_MAX_FEATURES
): AnomalyDeviceState | string {
  const why = validateState(raw, cfg, maxFeatures);
  if (why) return why;
  const st = raw as AnomalyDeviceState;
  // read back from storage: the first gap is judged with the save interval's margin (incident.ts RESUMED_GAP_MS);
  // not enumerable, so it is never saved or exported, and a state read back equals the one saved
  if (st.incident)
    Object.defineProperty(st.incident, 'resumed', {
      value: true,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  if (!st.model) return st;
  const model = strategyFor(cfg.method).deserialise(st.model, st.features.length);
  return typeof model === 'string' ? model : { ...st, model };
}

/** A state holding a model fitted elsewhere (e.g. moby-train or fitPca in a notebook). */
export function stateFromModel(cfg: DetectorConfig, features: string[], model: FittedModel): AnomalyDeviceState {
  const s = newState(cfg, features);
  s.model = model;
  s.buffer = null;
  return s;
}

/** Approximate retained bytes of a state (for the memory gauge/bench; counts numbers as 8 bytes). */
export function stateSize(s: AnomalyDeviceState): number {
  const n =
    s.window.length +
    (s.buffer ? s.buffer.length * s.features.length : 0) +
    (s.recent ? s.recent.length * s.features.length : 0);
  return (n + (s.model ? strategyFor(s.method).size(s.model) : 0)) * 8;
}
