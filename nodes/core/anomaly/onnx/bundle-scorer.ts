// Scores telemetry with ONNX model bundles: picks the bundle by equipment, power (given or bucketed from a
// feature) and version (pinned or newest), keeps a sliding window per device key, and micro-batches windows
// of many devices into one session.run per model. load() rescans the root and swaps the bundle index
// atomically; a bundle that fails to load is refused while the previously loaded one keeps serving.
import { featureValueProblem } from '../feature-value';
import fs from 'node:fs';
import path from 'node:path';
import { MicroBatcher, type RowOutputs } from './batcher';
import { compareVersions, loadBundle, readBundleFiles, scanBundleDirs, type LoadedBundle } from './bundles';
import type { BundleMeta } from './meta';
import { SlidingWindow } from './window';
import { FirstEntry } from '../../first-entry';
import { preview } from '../../names';
import { PersistenceFilter } from './persistence';
import {
  decodeRows,
  ONNX_STATE_FORMAT,
  ONNX_STATE_VERSION,
  type OnnxStateDocument,
  type SavedDevice,
} from './saved-state';
import { RulAverage, liftRul, rulHistoryProblem } from '../rul-average';
import { DeviceBaseline } from './baseline';
import { DEFAULT_MAX_STATE_BYTES } from './limits';

export interface PowerBucket {
  name: string;
  /** upper bound (inclusive) of the power feature for this bucket; omit for the last, open bucket */
  max?: number;
}

export interface BundleScorerOptions {
  root: string;
  /** feature whose value picks the power bucket when a request names no power */
  powerField?: string;
  /** buckets in ascending order of max */
  powerBuckets?: PowerBucket[];
  /** pin this model version instead of the newest */
  version?: string;
  /** most windows per session.run (default 256) */
  batchMax?: number;
  /** how long the first queued window waits for others (default 2 ms; 0 = same event-loop turn only) */
  batchWaitMs?: number;
  /** rescan the root when files change (polling, see watchIntervalMs) */
  watch?: boolean;
  /** polling period of the watcher (default 1000 ms) */
  watchIntervalMs?: number;
  /** most device windows kept; the least recently scored is dropped beyond it (default 100000) */
  maxDevices?: number;
  /**
   * most bytes of per-device state (windows, baselines, filters; deviceStateBytes) kept; the least recently
   * scored device is dropped beyond it, as beyond maxDevices (default 256 MiB)
   */
  maxStateBytes?: number;
  /** called after every scan of the root (load() and the watcher), e.g. to log `capped` */
  onLoad?: (report: LoadReport) => void;
  /** a device silent for longer than this (by message timestamps) starts a fresh window (default: never) */
  maxGapMs?: number;
  /** called with a device's state whenever score() changed it (the node's incremental save marks it) */
  changed?: (state: object) => void;
}

export interface ScoreRequest {
  key: string;
  equipmentId: string;
  power?: string;
  fields: Record<string, number>;
  timestamp: number;
}

export interface ModelRef {
  equipment_id: string;
  power: string;
  version: string;
  kind: string;
}

export type ScoreOutcome =
  | { kind: 'warming'; have: number; need: number }
  /** `field`: the feature a missing_feature or bad_number names (the anomaly node's missing-sensor watch reads it) */
  | { kind: 'reject'; code: string; reason: string; field?: string }
  | {
      kind: 'result';
      score: number;
      /** the window's own score when meta.persistence smooths `score` */
      raw_score?: number;
      threshold: number;
      contributions: Record<string, number>;
      model: ModelRef;
      /** raw_value: the window's own prediction when meta.rul_average averages `value` over recent ones or meta.rul_lift lifts it */
      rul?: { value: number; unit: string; raw_value?: number };
    };

export interface LoadReport {
  loaded: string[];
  refused: Array<{ path: string; reason: string }>;
  /**
   * bundles (re)loaded by this scan for which the byte budget, not maxDevices, is the binding cap: at most
   * `devices` states of `bytesPerDevice` each fit into maxStateBytes (at least 1: never a lock-out)
   */
  capped: BudgetCap[];
}

export interface BudgetCap {
  bundle: string;
  bytesPerDevice: number;
  devices: number;
}

export { DEFAULT_MAX_STATE_BYTES } from './limits';

/**
 * What a device state costs besides its arrays: the DeviceState and SlidingWindow objects, the typed arrays'
 * headers, the Map entry and a key of typical length. An estimate on the safe side (V8 shows ~0.4 KiB for a
 * one-value window; test/unit/core/anomaly/onnx/scorer.test.ts does not assert it, docs/onnx-bundles.md says
 * how it was measured).
 */
export const STATE_OVERHEAD_BYTES = 512;

/**
 * Bytes one device's state takes under a bundle, at most: the window (window × features float32), and what
 * the bundle's options add — the persistence filter (two float64 rings), the drifting centre (float64 per
 * feature), the RUL averaging history (ages and predictions) and the baseline sums (float64 per baselined
 * feature) — plus STATE_OVERHEAD_BYTES. The byte budget divides by this.
 */
export function deviceStateBytes(meta: BundleMeta, baseWidth: number): number {
  const nf = meta.features.length;
  let bytes = STATE_OVERHEAD_BYTES + meta.window * nf * 4;
  const n = meta.persistence ?? 1;
  if (n > 1 && meta.kind !== 'rul') bytes += 2 * n * 8;
  if (meta.scaler && (meta.center_drift ?? 0) > 0 && meta.kind !== 'rul') bytes += nf * 8;
  const k = meta.rul_average ?? 1;
  if (k > 1 && meta.kind === 'rul') bytes += 2 * k * 8;
  if (meta.baseline_cycles !== undefined) bytes += baseWidth * 8;
  return bytes;
}

export interface RestoreReport {
  /** device states now held from the saved ones */
  restored: number;
  /** saved for a bundle that is not loaded now, or whose features, scaler or window changed (dropped) */
  mismatched: number;
  /** not a usable state: wrong shape, non-finite or out-of-range values (dropped) */
  invalid: number;
  /** restored, then pushed out by maxDevices or maxStateBytes (the least recently active first; counted in stats.evicted) */
  evicted: number;
}

/** One device's live state; JSON.stringify gives its saved form (SavedDevice, saved-state.ts). */
class DeviceState {
  /** median of the last meta.persistence scores, when the bundle asks for it */
  persistence?: PersistenceFilter;
  /** per-device standardisation centre (raw units) when the bundle sets center_drift */
  center?: Float64Array;
  /** recent RUL predictions when the bundle sets rul_average (bounded by it; saved and evicted with the window) */
  rulAverage?: RulAverage;
  /** RUL points scored, the age of a device whose bundle names no rul_age_feature */
  rulSteps?: number;
  /** the device's own baseline when the bundle sets baseline_cycles (saved and evicted with the window) */
  baseline?: DeviceBaseline;
  /** what it counts against maxStateBytes (deviceStateBytes of its bundle, set when it enters the map) */
  bytes = 0;

  constructor(
    public win: SlidingWindow,
    /** id of the bundle last scored with (what a restored state must match) */
    public bundle: string,
    /** the feature list the window was built for (identity of the bundle's array) */
    public features: string[],
    public scaler: BundleMeta['scaler'],
    public lastTimestamp: number
  ) {}

  toJSON(): SavedDevice {
    const out: SavedDevice = {
      bundle: this.bundle,
      features: this.features,
      scaler: this.scaler ? { mean: this.scaler.mean, std: this.scaler.std } : null,
      window: this.win.steps,
      rows: this.win.encode(),
      t: this.lastTimestamp,
    };
    if (this.persistence) out.scores = this.persistence.recent();
    if (this.center) out.center = Array.from(this.center);
    if (this.rulAverage?.size) out.rul = { k: this.rulAverage.k, ...this.rulAverage.history() };
    if (this.baseline) out.base = this.baseline.toJSON();
    return out;
  }
}

function sameScaler(a: BundleMeta['scaler'], b: SavedDevice['scaler']): boolean {
  if (!a || !b) return !a && !b;
  return a.mean.length === b.mean.length && a.mean.every((m, i) => m === b.mean[i] && a.std[i] === b.std[i]);
}

/** Power buckets come from node configuration (JSON typed by a user): check the shape, name the bad entry. */
function checkBuckets(buckets: unknown): void {
  if (buckets === undefined) return;
  if (!Array.isArray(buckets)) throw new Error('powerBuckets must be an array of {name, max}');
  let prev = -Infinity;
  buckets.forEach((b: unknown, i) => {
    const o = b as Partial<PowerBucket> | null;
    if (typeof o !== 'object' || o === null || typeof o.name !== 'string' || !o.name)
      throw new Error(`powerBuckets[${i}]: needs a non-empty string "name"`);
    if (o.max === undefined) {
      if (i < buckets.length - 1) throw new Error(`powerBuckets[${i}] (${o.name}): only the last bucket may omit max`);
      return;
    }
    if (typeof o.max !== 'number' || !Number.isFinite(o.max))
      throw new Error(`powerBuckets[${i}] (${o.name}): max must be a finite number`);
    if (o.max <= prev)
      throw new Error(`powerBuckets[${i}] (${o.name}): max must be greater than the previous bucket's`);
    prev = o.max;
  });
}

/**
 * How far from its training mean, in training spreads, a feature value may be before a bundle refuses it: its
 * square (1e12) and sums of such over a window stay far inside float32 (3.4e38), what onnxruntime computes in.
 */
export const MAX_SCALED_MAGNITUDE = 1e6;

/**
 * An age at most this far behind the device's last one, above the baseline's ages, is a late or reordered row
 * (refused, nothing changes); further behind, or back within the baseline's ages, it is a new life (the window,
 * baseline and average start afresh). A redelivery or reordering is a few rows; an overhaul restarts near 1.
 */
export const LATE_AGE_TOLERANCE = 10;

/** The device's last age as its baseline or RUL average saw it, if either did. */
function lastAgeOf(state: DeviceState): number | undefined {
  if (state.baseline && Number.isFinite(state.baseline.lastAge)) return state.baseline.lastAge;
  return state.rulAverage?.lastAge;
}

function reject(code: string, reason: string, field?: string): ScoreOutcome {
  return field === undefined ? { kind: 'reject', code, reason } : { kind: 'reject', code, reason, field };
}

function sameFeatures(a: string[], b: string[]): boolean {
  return a === b || (a.length === b.length && a.every((f, i) => f === b[i]));
}

export class BundleScorer {
  private readonly root: string;
  private readonly batchMax: number;
  private readonly batchWaitMs: number;
  /** equipment -> power -> bundles, newest version first */
  private index = new Map<string, Map<string, LoadedBundle[]>>();
  private byDir = new Map<string, LoadedBundle>();
  private batchers = new Map<LoadedBundle, MicroBatcher>();
  private readonly devices = new Map<string, DeviceState>();
  private loading: Promise<LoadReport> | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private watchSignature = '';
  private closed = false;
  private everLoaded = false;
  /** session.run calls and windows scored, for status and benchmarks */
  readonly stats = { runs: 0, windows: 0, evicted: 0 };
  private readonly oldestDevice = new FirstEntry(this.devices);
  private readonly maxDevices: number;
  private readonly maxStateBytes: number;
  /** sum of the held states' bytes (each counted as its bundle's deviceStateBytes) */
  private heldBytes = 0;
  /** deviceStateBytes per loaded bundle (computed once per load) */
  private readonly bytesOf = new WeakMap<LoadedBundle, number>();
  private readonly maxGapMs: number;

  constructor(private readonly opts: BundleScorerOptions) {
    // an empty root would resolve to the working directory and scan whatever lies there
    if (typeof opts.root !== 'string' || !opts.root.trim()) throw new Error('bundle root is not set');
    this.root = path.resolve(opts.root);
    this.batchMax = Math.max(1, Math.floor(opts.batchMax ?? 256));
    this.batchWaitMs = Math.max(0, opts.batchWaitMs ?? 2);
    this.maxDevices = Math.max(1, Math.floor(opts.maxDevices ?? 100000));
    const budget = opts.maxStateBytes ?? DEFAULT_MAX_STATE_BYTES;
    if (typeof budget !== 'number' || !(budget > 0)) throw new Error('maxStateBytes must be a positive number');
    this.maxStateBytes = budget;
    this.maxGapMs = opts.maxGapMs !== undefined && opts.maxGapMs > 0 ? opts.maxGapMs : Infinity;
    checkBuckets(opts.powerBuckets);
  }

  /** Number of device windows held. */
  get deviceCount(): number {
    return this.devices.size;
  }

  /** Bytes of per-device state held, as counted against maxStateBytes. */
  get stateBytes(): number {
    return this.heldBytes;
  }

  /**
   * How many devices this bundle's states can be at most: min(maxDevices, floor(maxStateBytes / its
   * deviceStateBytes)), at least 1 (a device is never locked out, however large its window).
   */
  deviceCap(bundle: LoadedBundle): number {
    return Math.max(1, Math.min(this.maxDevices, Math.floor(this.maxStateBytes / this.bundleBytes(bundle))));
  }

  /** The bundles (default: every one serving) whose devices the byte budget, not maxDevices, caps. */
  budgetCaps(bundles: Iterable<LoadedBundle> = this.byDir.values()): BudgetCap[] {
    const capped: BudgetCap[] = [];
    for (const b of bundles) {
      const devices = this.deviceCap(b);
      if (devices < this.maxDevices) capped.push({ bundle: b.id, bytesPerDevice: this.bundleBytes(b), devices });
    }
    return capped.sort((x, y) => (x.bundle < y.bundle ? -1 : 1));
  }

  private bundleBytes(bundle: LoadedBundle): number {
    let b = this.bytesOf.get(bundle);
    if (b === undefined) this.bytesOf.set(bundle, (b = deviceStateBytes(bundle.meta, bundle.baseCols.length)));
    return b;
  }

  /** Ids ("equipment/power/version") of the bundles currently serving. */
  bundles(): string[] {
    return [...this.byDir.values()].map((b) => b.id).sort();
  }

  /** (Re)scans the root. Concurrent calls share one scan. */
  load(): Promise<LoadReport> {
    if (this.closed)
      return Promise.resolve({ loaded: [], refused: [{ path: this.root, reason: 'scorer is closed' }], capped: [] });
    if (!this.loading) {
      this.loading = this.doLoad().finally(() => {
        this.loading = null;
        this.everLoaded = true;
      });
      if (this.opts.watch && !this.watchTimer) this.startWatch();
    }
    return this.loading;
  }

  private async doLoad(): Promise<LoadReport> {
    const refused: LoadReport['refused'] = [];
    let candidates: ReturnType<typeof scanBundleDirs>;
    try {
      candidates = scanBundleDirs(this.root);
    } catch (err) {
      // an unreadable root (unmounted share, typo) must not unload models that are serving
      const report = {
        loaded: [...this.byDir.values()].map((b) => b.id),
        refused: [{ path: this.root, reason: `bundle root not readable: ${(err as Error).message}` }],
        capped: [],
      };
      // the watcher's scans report through onLoad only: it must hear this too
      this.opts.onLoad?.(report);
      return report;
    }
    this.watchSignature = this.signature();
    const next = new Map<string, LoadedBundle>();
    /** bundles loaded by this scan (new or changed), whose byte cap is reported once */
    const fresh: LoadedBundle[] = [];
    for (const cand of candidates) {
      const old = this.byDir.get(cand.dir);
      try {
        const files = readBundleFiles(cand.dir);
        if (old && old.fingerprint === files.fingerprint) {
          next.set(cand.dir, old);
          continue;
        }
        const loadedNow = await loadBundle(cand, files);
        next.set(cand.dir, loadedNow);
        fresh.push(loadedNow);
      } catch (err) {
        refused.push({
          path: cand.dir,
          reason: (err as Error).message + (old ? ' (the previously loaded version keeps serving)' : ''),
        });
        if (old) next.set(cand.dir, old);
      }
    }
    if (this.closed) {
      for (const b of next.values())
        if (!this.byDir.has(b.dir) || this.byDir.get(b.dir) !== b) void b.session.release().catch(() => undefined);
      return { loaded: [], refused, capped: [] };
    }
    const index = new Map<string, Map<string, LoadedBundle[]>>();
    for (const b of next.values()) {
      let powers = index.get(b.equipmentId);
      if (!powers) index.set(b.equipmentId, (powers = new Map()));
      const list = powers.get(b.power) ?? [];
      list.push(b);
      powers.set(b.power, list);
    }
    for (const powers of index.values())
      for (const list of powers.values()) list.sort((a, b) => compareVersions(b.version, a.version));
    const previous = this.byDir;
    // the swap: from here on requests see only the new index
    this.index = index;
    this.byDir = next;
    for (const b of previous.values()) if (next.get(b.dir) !== b) this.retire(b);
    const report = { loaded: [...next.values()].map((b) => b.id).sort(), refused, capped: this.budgetCaps(fresh) };
    this.opts.onLoad?.(report);
    return report;
  }

  private retire(b: LoadedBundle): void {
    b.retired = true;
    const batcher = this.batchers.get(b);
    this.batchers.delete(b);
    batcher?.flush();
    if (b.inflight === 0) void b.session.release().catch(() => undefined);
  }

  /** Cheap fingerprint of the tree (names, sizes, mtimes) for the polling watcher. */
  private signature(): string {
    const parts: string[] = [];
    try {
      for (const c of scanBundleDirs(this.root)) {
        for (const f of ['meta.json', 'model.onnx']) {
          try {
            const st = fs.statSync(path.join(c.dir, f));
            parts.push(`${c.dir}/${f}:${st.size}:${st.mtimeMs}`);
          } catch {
            parts.push(`${c.dir}/${f}:-`);
          }
        }
      }
    } catch {
      return 'unreadable';
    }
    return parts.join('|');
  }

  private startWatch(): void {
    const every = Math.max(50, this.opts.watchIntervalMs ?? 1000);
    this.watchTimer = setInterval(() => {
      if (this.loading || this.closed) return;
      if (this.signature() !== this.watchSignature) void this.load();
    }, every);
    this.watchTimer.unref();
  }

  /** Picks the bundle for a request, or says why none fits. */
  select(equipmentId: string, power: string | undefined, fields: Record<string, unknown>): LoadedBundle | ScoreOutcome {
    const powers = this.index.get(equipmentId);
    if (!powers)
      return reject('no_model', `no model bundle for equipment "${preview(equipmentId)}" under ${this.root}`);
    let p = power;
    if (p === undefined && this.opts.powerField && this.opts.powerBuckets?.length) {
      const v = fields[this.opts.powerField];
      if (v === undefined)
        return reject(
          'missing_feature',
          `power field "${this.opts.powerField}" is missing, so no power bucket can be chosen`,
          this.opts.powerField
        );
      if (typeof v !== 'number' || !Number.isFinite(v))
        return reject(
          'bad_number',
          `power field "${this.opts.powerField}" is not a finite number`,
          this.opts.powerField
        );
      p = (
        this.opts.powerBuckets.find((b) => b.max === undefined || v <= b.max) ??
        this.opts.powerBuckets[this.opts.powerBuckets.length - 1]
      ).name;
    }
    if (p === undefined) {
      if (powers.size !== 1)
        return reject(
          'no_model',
          `equipment "${preview(equipmentId)}" has models for powers ${[...powers.keys()].join(', ')}: give msg power or configure power buckets`
        );
      p = powers.keys().next().value as string;
    }
    const list = powers.get(p);
    if (!list?.length)
      return reject('no_model', `no model bundle for equipment "${preview(equipmentId)}" power "${preview(p)}"`);
    if (this.opts.version === undefined) return list[0];
    const pinned = list.find((b) => b.version === this.opts.version);
    return (
      pinned ??
      reject(
        'no_model',
        `no model version "${this.opts.version}" for equipment "${preview(equipmentId)}" power "${preview(p)}"`
      )
    );
  }

  async score(req: ScoreRequest): Promise<ScoreOutcome> {
    if (this.closed) return reject('model_error', 'scorer is closed');
    // messages arriving while the very first scan runs wait for it instead of being refused as no_model
    if (!this.everLoaded && this.loading) await this.loading.catch(() => undefined);
    const fields = req.fields ?? {};
    const picked = this.select(req.equipmentId, req.power, fields);
    if (!('session' in picked)) return picked;
    const bundle = picked;
    const meta = bundle.meta;
    const nf = meta.features.length;
    // validate every value before touching the window, so a bad message leaves it unchanged
    const step = new Float64Array(nf);
    for (let i = 0; i < nf; i++) {
      const name = meta.features[i];
      const v = fields[name];
      if (v === undefined)
        return reject('missing_feature', `feature "${name}" required by model ${bundle.id} is missing`, name);
      if (typeof v !== 'number' || !Number.isFinite(v))
        return reject('bad_number', `feature "${name}" is not a finite number`, name);
      const problem = featureValueProblem(v);
      if (problem !== null) return reject('bad_number', `feature "${name}" ${problem}`, name);
      // the graph computes in float32: a value this many spreads from the training mean overflows its squares,
      // and the window it sits in scores non-finite for `window` points (keyed-device red team 2026-12-07: 1e20
      // turned the next 7 real points into model_error, with no field named)
      if (meta.scaler && Math.abs(v - meta.scaler.mean[i]) > MAX_SCALED_MAGNITUDE * meta.scaler.std[i])
        return reject(
          'bad_number',
          `feature "${name}" is ${v}, more than ${MAX_SCALED_MAGNITUDE} of its training spread from its training mean: beyond what model ${bundle.id} can score`,
          name
        );
      step[i] = v;
    }
    // taken out and re-inserted so Map order is least-recently-scored first: device keys come from messages,
    // so the map is bounded (count and bytes) and the stalest window goes first
    let state = this.take(req.key);
    const fresh = () =>
      new DeviceState(new SlidingWindow(meta.window, nf), bundle.id, meta.features, meta.scaler, req.timestamp);
    const stale = state !== undefined && req.timestamp - state.lastTimestamp > this.maxGapMs;
    if (!state || stale || state.win.steps !== meta.window || !sameFeatures(state.features, meta.features)) {
      // a gap breaks the window's continuity, not the device's early life: its own baseline (the mean of its
      // first B rows) stays valid, so a device that was silent past maxGapMs is not refused no_baseline for
      // the rest of its life
      const keptBaseline = stale && sameFeatures(state!.features, meta.features) ? state!.baseline : undefined;
      state = fresh();
      if (keptBaseline) state.baseline = keptBaseline;
    } else if (state.scaler !== meta.scaler) {
      // a reloaded bundle with new scaling: keep the history, re-expressed in the new scale
      state.win.rescale(state.scaler, meta.scaler);
      state.scaler = meta.scaler;
      state.center = undefined;
    }
    // room for it by count and by bytes (the others go, least recently scored first; never this one)
    const bytes = this.bundleBytes(bundle);
    this.makeRoom(bytes);
    this.put(req.key, state, bytes);
    const B = meta.baseline_cycles;
    const ageAt = meta.rul_age_feature === undefined ? -1 : meta.features.indexOf(meta.rul_age_feature);
    if (ageAt >= 0) {
      const age = step[ageAt];
      const last = lastAgeOf(state);
      if (last !== undefined && age < last) {
        // a row a little behind, above the baseline's ages: a late or reordered one. Taken as a new life it
        // wiped a complete baseline for good (no RUL for the rest of the engine's life) and fed a window out
        // of order (keyed-device red team 2026-12-07); it is refused and changes nothing
        if (age > (B ?? 1) && last - age <= LATE_AGE_TOLERANCE)
          return reject(
            'out_of_order',
            `${meta.rul_age_feature} ${age} is behind the device's last ${last}: a late or reordered row is not scored and changes nothing (a new life restarts ${meta.rul_age_feature} at ${B ?? 1} or below)`,
            meta.rul_age_feature
          );
        // a new life (an overhaul, a replacement, a counter restarted): nothing of the old one may feed the new
        // one's RUL. Before, the baseline and average restarted but the window kept the old life's rows: RULs
        // of −32 cycles at cycle 20, before min_history (same round)
        this.take(req.key);
        state = fresh();
        this.put(req.key, state, bytes);
      }
    }
    state.features = meta.features;
    state.bundle = bundle.id;
    state.lastTimestamp = req.timestamp;
    const raw = step.slice();
    const drift = meta.center_drift ?? 0;
    if (meta.scaler) {
      // with centre drift each device standardises around its own centre, which follows slow drift
      if (drift > 0 && (!state.center || state.center.length !== nf))
        state.center = Float64Array.from(meta.scaler.mean);
      const centre = drift > 0 ? state.center! : meta.scaler.mean;
      for (let i = 0; i < nf; i++) step[i] = (step[i] - centre[i]) / meta.scaler.std[i];
    }
    state.win.push(step);
    if (B !== undefined) {
      // a reloaded bundle with another baseline length starts a fresh baseline (the raw sums survive a new scaler)
      if (!state.baseline || state.baseline.cycles !== B || state.baseline.sum.length !== bundle.baseCols.length)
        state.baseline = new DeviceBaseline(B, bundle.baseCols.length);
      state.baseline.push(raw, bundle.baseCols, ageAt >= 0 ? raw[ageAt] : undefined);
    } else state.baseline = undefined;
    this.opts.changed?.(state);
    // a RUL bundle may score a short history padded with its first row (meta.min_history); others need it full
    const need = meta.kind === 'rul' ? Math.min(meta.window, meta.min_history ?? meta.window) : meta.window;
    const baseline = state.baseline;
    // no RUL without the baseline the model was trained with (a later one would give a wrong number); said at
    // once for a device that can no longer collect it, instead of after a warm-up that leads nowhere
    if (baseline?.stuck)
      return reject(
        'no_baseline',
        `model ${bundle.id} needs the mean of the device's first ${B} rows (${meta.rul_age_feature} ≤ ${B}); it has ${baseline.count} of them (first seen mid-life, or rows missing), so this model gives it no RUL until ${meta.rul_age_feature} restarts`
      );
    if (state.win.count < need) return { kind: 'warming', have: state.win.count, need };
    if (baseline && !baseline.complete) return { kind: 'warming', have: baseline.count, need: B! };

    let batcher = this.batchers.get(bundle);
    if (!batcher) {
      batcher = new MicroBatcher(bundle, this.batchMax, this.batchWaitMs, (n) => {
        this.stats.runs++;
        this.stats.windows += n;
      });
      this.batchers.set(bundle, batcher);
    }
    const win = state.win;
    let row: { input: Float32Array; outputs: RowOutputs };
    try {
      row = await batcher.enqueue(
        (buf, offset) => win.copyTo(buf, offset),
        baseline ? (buf, offset) => baseline.writeScaled(bundle.baseCols, meta.scaler, buf, offset) : undefined
      );
    } catch (err) {
      return reject('model_error', (err as Error).message);
    }
    const res = interpret(bundle, row.input, row.outputs);
    const n = meta.persistence ?? 1;
    if (res.kind === 'result' && n > 1 && meta.kind !== 'rul') {
      // per device: a reloaded bundle with another persistence starts a fresh filter
      if (!state.persistence || state.persistence.size !== n) state.persistence = new PersistenceFilter(n);
      res.raw_score = res.score;
      res.score = state.persistence.push(res.score);
    }
    const k = meta.rul_average ?? 1;
    if (res.kind === 'result' && res.rul && (k > 1 || meta.rul_lift)) {
      let value = res.rul.value;
      if (k > 1) {
        // per device: a reloaded bundle with another rul_average starts a fresh history
        if (!state.rulAverage || state.rulAverage.k !== k) state.rulAverage = new RulAverage(k);
        const age = ageAt >= 0 ? raw[ageAt] : (state.rulSteps = (state.rulSteps ?? 0) + 1);
        value = state.rulAverage.push(age, value);
      }
      // the history keeps the predictions as made: the lift applies to what is reported, after averaging
      value = liftRul(meta.rul_lift, value);
      res.rul = { ...res.rul, value, raw_value: res.rul.value };
      res.score = rulScore(meta.threshold, value);
    }
    if (res.kind === 'result' && drift > 0 && state.center && meta.kind !== 'rul') {
      // only a point judged normal on both its own and its smoothed score moves the centre, so a developing
      // fault is not learned as the new normal (the statistical detectors' rule)
      const own = res.raw_score ?? res.score;
      if (res.score <= res.threshold && own <= res.threshold)
        for (let i = 0; i < nf; i++) state.center[i] += drift * (raw[i] - state.center[i]);
    }
    // marked again: these changed after the await, and a save meanwhile may have kept the state's older text
    if (res.kind === 'result' && (state.persistence || state.center || state.rulAverage)) this.opts.changed?.(state);
    return res;
  }

  /**
   * Frees room for one more device of `bytes` when a bound is reached: the least recently scored go until
   * the count is below maxDevices and the bytes fit maxStateBytes, or none is left (a state larger than the
   * whole budget is still kept, alone: never a lock-out).
   */
  private makeRoom(bytes: number): void {
    while (
      this.devices.size > 0 &&
      (this.devices.size >= this.maxDevices || this.heldBytes + bytes > this.maxStateBytes)
    ) {
      // through a long-lived iterator: keys().next() would skip every deleted slot at the front each time
      const [key, state] = this.oldestDevice.take()!;
      this.devices.delete(key);
      this.heldBytes -= state.bytes;
      this.stats.evicted++;
    }
  }

  /** Removes a device's state (to re-insert it at the end, or for good), keeping the byte count. */
  private take(key: string): DeviceState | undefined {
    const state = this.devices.get(key);
    if (state) {
      this.devices.delete(key);
      this.heldBytes -= state.bytes;
    }
    return state;
  }

  private put(key: string, state: DeviceState, bytes: number): void {
    state.bytes = bytes;
    this.devices.set(key, state);
    this.heldBytes += bytes;
  }

  /**
   * Every device's state, least recently scored first. Each value's JSON is its saved form; pass the values
   * to StateDocument (the `changed` option marks the ones score() changed).
   */
  entries(): IterableIterator<[string, object]> {
    return this.devices.entries();
  }

  /** The document topic "export" sends: every device's saved state (plain JSON copies). */
  exportDocument(now = Date.now()): OnnxStateDocument {
    const devices: Record<string, SavedDevice> = {};
    for (const [k, s] of this.devices) devices[k] = s.toJSON();
    return { format: ONNX_STATE_FORMAT, v: ONNX_STATE_VERSION, method: 'onnx', exported_at: now, devices };
  }

  /**
   * Takes saved device states back (after a restart, or topic "load"), in the given order (least recently
   * active first, as saved). Waits for the first load() when it is still running: a state is kept only if
   * the bundle it was built for is loaded now with the same features, scaler and window; the others are
   * dropped and counted, as are entries that are not states (parse them with parseSavedDevice first). A
   * device that already has a state gets the saved one. Beyond maxDevices or maxStateBytes the least
   * recently active go.
   */
  async restore(entries: Iterable<[string, SavedDevice | string]>): Promise<RestoreReport> {
    if (!this.everLoaded && this.loading) await this.loading.catch(() => undefined);
    const report: RestoreReport = { restored: 0, mismatched: 0, invalid: 0, evicted: 0 };
    if (this.closed) return report;
    const byId = new Map<string, LoadedBundle>();
    for (const b of this.byDir.values()) byId.set(b.id, b);
    const evictedBefore = this.stats.evicted;
    const keys = new Set<string>();
    for (const [key, saved] of entries) {
      if (typeof saved === 'string') {
        report.invalid++;
        continue;
      }
      const bundle = byId.get(saved.bundle);
      const meta = bundle?.meta;
      if (
        !bundle ||
        !meta ||
        saved.window !== meta.window ||
        !sameFeatures(saved.features, meta.features) ||
        !sameScaler(meta.scaler, saved.scaler)
      ) {
        report.mismatched++;
        continue;
      }
      const nf = meta.features.length;
      const rows = decodeRows(saved.rows, nf, meta.window);
      // re-checked here too (as the rows are): the entries may not come through parseSavedDevice
      if (typeof rows === 'string' || (saved.rul && rulHistoryProblem(saved.rul.k, saved.rul.ages, saved.rul.preds))) {
        report.invalid++;
        continue;
      }
      const state = new DeviceState(new SlidingWindow(meta.window, nf), bundle.id, meta.features, meta.scaler, saved.t);
      for (let off = 0; off < rows.length; off += nf) state.win.push(rows.subarray(off, off + nf));
      const n = meta.persistence ?? 1;
      if (saved.scores?.length && n > 1 && meta.kind !== 'rul') {
        state.persistence = new PersistenceFilter(n);
        for (const sc of saved.scores.slice(-n)) state.persistence.push(sc);
      }
      if (saved.center && meta.scaler && (meta.center_drift ?? 0) > 0 && meta.kind !== 'rul')
        state.center = Float64Array.from(saved.center);
      // the RUL averaging history, unless the bundle now averages over another k (as on a live reload)
      const k = meta.rul_average ?? 1;
      if (saved.rul?.ages.length && meta.kind === 'rul' && k > 1 && saved.rul.k === k) {
        state.rulAverage = new RulAverage(k);
        state.rulAverage.restore(saved.rul.ages, saved.rul.preds);
        // without an age feature the age is the count of RUL points: it goes on from the last one
        if (meta.rul_age_feature === undefined) state.rulSteps = saved.rul.ages[saved.rul.ages.length - 1];
      }
      // the device's own baseline, if it was kept for this baseline length; else (older states) none, and
      // the device gets its RUL only if it can still collect one
      if (meta.baseline_cycles !== undefined && saved.base) {
        const base = DeviceBaseline.restore(saved.base, meta.baseline_cycles, bundle.baseCols.length);
        if (base) state.baseline = base;
      }
      this.take(key);
      const bytes = this.bundleBytes(bundle);
      this.makeRoom(bytes);
      this.put(key, state, bytes);
      keys.add(key);
    }
    report.evicted = this.stats.evicted - evictedBefore;
    for (const k of keys) if (this.devices.has(k)) report.restored++;
    return report;
  }

  /** Drops a device's window (e.g. when the device is removed). */
  forget(key: string): void {
    this.take(key);
  }

  /** Drops every device's window, centre and persistence (topic "reset" without a device). */
  forgetAll(): void {
    this.devices.clear();
    this.heldBytes = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.watchTimer = null;
    await this.loading?.catch(() => undefined);
    for (const b of this.byDir.values()) this.retire(b);
    this.byDir = new Map();
    this.index = new Map();
    this.devices.clear();
    this.heldBytes = 0;
  }
}

/**
 * Low remaining life is the alarm: the score is how far the RUL has eaten into the threshold (threshold / RUL,
 * anomalous above 1 = RUL below the threshold); without a threshold it never alarms.
 */
function rulScore(threshold: number | undefined, rul: number): number {
  return threshold !== undefined && Number.isFinite(threshold) && threshold > 0 ? threshold / Math.max(rul, 1e-9) : 0;
}

/** Turns one row of model outputs into a result per the bundle's output kind. */
export function interpret(bundle: LoadedBundle, input: Float32Array, out: RowOutputs): ScoreOutcome {
  const meta = bundle.meta;
  const o = meta.outputs;
  const nf = meta.features.length;
  const model: ModelRef = {
    equipment_id: bundle.equipmentId,
    power: bundle.power,
    version: bundle.version,
    kind: meta.kind,
  };
  let score: number;
  let threshold = meta.threshold ?? NaN;
  let contrib: ArrayLike<number> | null = o.contributions ? out[o.contributions] : null;
  let rul: { value: number; unit: string } | undefined;
  switch (meta.kind) {
    case 'reconstruction': {
      if (o.score) score = out[o.score][0];
      else {
        const rec = out[o.reconstruction!];
        let sum = 0;
        for (let i = 0; i < rec.length; i++) sum += (input[i] - rec[i]) ** 2;
        score = sum / rec.length;
      }
      if (!contrib && o.reconstruction) {
        const rec = out[o.reconstruction];
        const c = new Float64Array(nf);
        for (let i = 0; i < rec.length; i++) c[i % nf] += (input[i] - rec[i]) ** 2;
        contrib = c;
      }
      break;
    }
    case 'score':
      score = out[o.score!][0];
      break;
    case 'probability': {
      const p = out[o.probability!];
      // a [batch, 2] classifier output holds (normal, anomalous)
      score = p.length === 2 ? p[1] : p[0];
      if (!Number.isFinite(threshold)) threshold = 0.5;
      break;
    }
    case 'pca': {
      // T² and Q on one scale: each against its control limit, anomalous when either exceeds it
      score = Math.max(out[o.t2!][0] / meta.t2_limit!, out[o.q!][0] / meta.q_limit!);
      threshold = 1;
      break;
    }
    case 'rul': {
      const value = out[o.rul!][0];
      if (!Number.isFinite(value)) return reject('model_error', `model ${bundle.id} produced a non-finite RUL`);
      rul = { value, unit: meta.rul_unit ?? 'steps' };
      score = rulScore(threshold, value);
      threshold = 1;
      break;
    }
  }
  if (!Number.isFinite(score)) return reject('model_error', `model ${bundle.id} produced a non-finite score`);
  const contributions: Record<string, number> = {};
  if (contrib && contrib.length === nf) {
    let total = 0;
    for (let i = 0; i < nf; i++) total += Math.abs(contrib[i]);
    for (let i = 0; i < nf; i++)
      contributions[meta.features[i]] = total > 0 && Number.isFinite(total) ? Math.abs(contrib[i]) / total : 0;
  }
  const res: ScoreOutcome = { kind: 'result', score, threshold, contributions, model };
  if (rul) res.rul = rul;
  return res;
}
