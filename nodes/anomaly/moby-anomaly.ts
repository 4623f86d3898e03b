// Node-RED adapter for anomaly scoring. Statistical methods run nodes/core/anomaly/detector.ts per device
// (or per equipment); method "onnx" delegates to the ONNX bundle scorer, loaded lazily so the statistical
// methods never depend on onnxruntime. Learned state lives in the node's context (survives restarts with a
// persistent context store) and can be exported and loaded with control messages.
import type { AnomalyResult, Reject } from '../core/contract';
import {
  DEFAULT_CONFIG,
  DEFAULT_MAX_FEATURES,
  defaultsFor,
  DetectorConfig,
  AnomalyDeviceState,
  extract,
  installModel,
  step,
} from '../core/anomaly/detector';
import { DeviceStates } from '../core/anomaly/device-states';
import { FitPool } from '../core/anomaly/fit-pool';
import { SAVED_STATE_MAX_CHARS, StateDocument } from '../core/anomaly/state-document';
import { parseSavedStates } from '../core/anomaly/onnx/saved-state';
import {
  AnomalyMethod,
  configProblem,
  controlOf,
  exportDocument,
  methodOf,
  newStateFor,
  textNumberFields,
  onnxResult,
  parseFeatureList,
  parseLimitsSetting,
  pointOf,
  restoreStates,
  warmingResult,
  type WarmingResult,
} from '../core/anomaly/messages';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus, SendFn, DoneFn } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import type { BundleScorer, PowerBucket, RestoreReport } from '../core/anomaly/onnx/bundle-scorer';
import { DEFAULT_MAX_STATE_MIB } from '../core/anomaly/onnx/limits';
import { countEvicted, countIn, countOut, countRejected, provideGauge } from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { EarlyQueue } from '../lib/early-queue';
import { withReject } from '../lib/reject';
import { choiceSetting, numberSetting as num } from '../lib/settings';
import { eachInBatch } from '../core/batch';
import { alertView } from '../core/alert/inputs';
import { MISSING_CODES, MissingSensorWatch, missingSensorResult, type Gap } from '../core/anomaly/missing-sensor';
import { BoundedMap } from '../core/bounded-map';
import { isOutputWired } from '../lib/wires';

const TYPE = 'moby-anomaly';
const CONTEXT_KEY = 'anomaly_state';
/** method onnx: the bundle scorer's per-device windows, persistence and centres (its own format, own key) */
const ONNX_CONTEXT_KEY = 'anomaly_onnx_state';
/**
 * Calibrations of up to this many features are fitted inline (well under a millisecond at 400 rows, so the
 * point that completes calibration is already scored); larger ones run in the node's worker thread, because a
 * fit grows about cubically with the feature count and would stall the event loop (issue #10).
 */
const SYNC_FIT_MAX_FEATURES = 16;

interface AnomalyDef extends NodeDef {
  method?: AnomalyMethod;
  features?: string;
  stateKey?: 'device' | 'equipment';
  trainSize?: string | number;
  alpha?: string | number;
  limitScale?: string | number;
  calibrationHoldout?: string | number;
  varianceShare?: string | number;
  scaling?: 'std' | 'robust';
  adaptRate?: string | number;
  anomalyAdaptRate?: string | number;
  ewmaLambda?: string | number;
  inputWindow?: string | number;
  smoothing?: string | number;
  smoothingKind?: 'none' | 'median' | 'mean';
  criticalRatio?: string | number;
  limits?: string;
  alarmPoints?: string | number;
  alarmWindow?: string | number;
  clearPoints?: string | number;
  flatlinePoints?: string | number;
  driftRatio?: string | number;
  criticalPoints?: string | number;
  noiseRatio?: string | number;
  /** seconds */
  restartGap?: string | number;
  restartGrace?: string | number;
  store?: string;
  maxDevices?: string | number;
  /** method onnx: byte budget of the per-device state (windows and the rest), in MiB */
  maxStateMiB?: string | number;
  maxFeatures?: string | number;
  persistSeconds?: string | number;
  bundleRoot?: string;
  powerField?: string;
  powerBuckets?: string;
  modelVersion?: string;
  equipmentId?: string;
  batchMax?: string | number;
  batchWaitMs?: string | number;
  watch?: boolean;
}

function fmtBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`;
}

/** Node config → detector config; throws with a message naming the bad setting. */
function detectorConfig(
  def: AnomalyDef,
  method: AnomalyMethod,
  onIgnored: (problem: string) => void = () => undefined
): DetectorConfig {
  // a setting outside its range falls back to its default, and the node says so (integrator review 2026-12-06:
  // trainSize 5 calibrated on 900 points without a word)
  const n = (key: keyof AnomalyDef, fallback: number, min: number, max = Infinity): number =>
    num(def[key], fallback, min, max, (v) =>
      onIgnored(`${key} ${JSON.stringify(v)} is not a number from ${min} to ${max}: using ${fallback}`)
    );
  const limits = parseLimitsSetting(def.limits);
  const features = parseFeatureList(def.features);
  const d = defaultsFor(method === 'onnx' ? 'pca' : method);
  return {
    method: d.method,
    features,
    trainSize: Math.round(n('trainSize', d.trainSize, 10, 100000)),
    alpha: n('alpha', d.alpha, 0.0001, 0.5),
    limitScale: n('limitScale', d.limitScale, 0.01, 1000),
    calibrationHoldout: n('calibrationHoldout', d.calibrationHoldout, 0, 0.9),
    varianceShare: n('varianceShare', d.varianceShare, 0.01, 1),
    scaling: choiceSetting(def.scaling, ['std', 'robust'], d.scaling),
    adaptRate: n('adaptRate', d.adaptRate, 0, 1),
    anomalyAdaptRate: n('anomalyAdaptRate', d.anomalyAdaptRate, 0, 1),
    ewmaLambda: n('ewmaLambda', d.ewmaLambda, 0.0001, 1),
    inputWindow: Math.round(n('inputWindow', d.inputWindow, 1, 1000)),
    smoothing: Math.round(n('smoothing', d.smoothing, 1, 1000)),
    smoothingKind: choiceSetting(def.smoothingKind, ['none', 'mean', 'median'], d.smoothingKind),
    criticalRatio: n('criticalRatio', d.criticalRatio, 1, 1000),
    limits,
    alarmPoints: Math.round(n('alarmPoints', d.alarmPoints, 0, 100000)),
    alarmWindow: Math.round(n('alarmWindow', d.alarmWindow, 1, 100000)),
    clearPoints: Math.round(n('clearPoints', d.clearPoints, 1, 1000000)),
    flatlinePoints: Math.round(n('flatlinePoints', d.flatlinePoints, 0, 1000000)),
    driftRatio: n('driftRatio', d.driftRatio, 0, 1000),
    criticalPoints: Math.round(n('criticalPoints', d.criticalPoints, 0, 10000000)),
    noiseRatio: n('noiseRatio', d.noiseRatio, 0, 1e6),
    restartGapMs: n('restartGap', d.restartGapMs / 1000, 0, 1e7) * 1000,
    restartGraceMs: n('restartGrace', d.restartGraceMs / 1000, 0, 1e7) * 1000,
  };
}

const reject = (code: string, reason: string, extra: Partial<Reject> = {}): Reject => ({ code, reason, ...extra });

export = function (RED: NodeAPI) {
  // a batch's alert views leave in a send() of their own (core/batch.ts), so they are not cloned either
  const ALERT_VIEWS_ALONE = { ownSend: [2] };

  function MobyAnomaly(this: Node, def: AnomalyDef) {
    RED.nodes.createNode(this, def);
    const alertsWired = isOutputWired(def, 2);
    const node = this;
    const method = methodOf(def.method);
    if (def.method !== undefined && (def.method as unknown) !== '' && def.method !== method)
      node.warn(
        `moby-anomaly: method ${JSON.stringify(def.method)} is not one of pca, l2, ewma, threshold, onnx: using pca`
      );
    const status = new ThrottledStatus(node);
    const storeName = def.store && def.store.trim() ? def.store.trim() : undefined;
    const maxDevices = Math.round(num(def.maxDevices, 10000, 1));
    // onnx only: the scorer's byte budget for per-device state (node setting in MiB)
    const maxStateBytes = num(def.maxStateMiB, DEFAULT_MAX_STATE_MIB, 0.001) * 1024 * 1024;
    const maxFeatures = Math.round(num(def.maxFeatures, DEFAULT_MAX_FEATURES, 1, 100000));
    const persistMs = num(def.persistSeconds, 10, 0) * 1000;
    const byEquipment = def.stateKey === 'equipment';
    let cfg: DetectorConfig;
    let configError: string | null = null;
    try {
      cfg = detectorConfig(def, method, (problem) => node.warn(`moby-anomaly: setting ${problem}`));
      configError = configProblem(cfg, maxFeatures);
    } catch (err) {
      configError = (err as Error).message;
      cfg = { ...DEFAULT_CONFIG };
    }
    if (configError) {
      node.error(`moby-anomaly: ${configError}`);
      node.status({ fill: 'red', shape: 'ring', text: configError.slice(0, 60) });
    }

    // bounded: a new device beyond maxDevices evicts the least recently active one, those still calibrating
    // first and anomalous ones last
    const states = new DeviceStates<AnomalyDeviceState>(maxDevices, undefined, (s) => s.model === null);
    let evictionsCounted = 0;
    // method onnx: the bundle scorer keeps its own windows, bounded by the same maxDevices
    let onnxEvicted = () => 0;
    const evictions = () => states.evictions + onnxEvicted();
    function countEvictions(): void {
      const n = evictions();
      if (n !== evictionsCounted) {
        countEvicted(TYPE, n - evictionsCounted);
        evictionsCounted = n;
      }
    }
    // large calibrations run in a worker thread; a state in `fitting` waits (warming) for its model
    let pool: FitPool | null = null;
    const fitting = new WeakSet<AnomalyDeviceState>();
    let fitsRunning = 0;
    let closing = false;
    let dirty = false;
    // anomalies are points; incidents are alarms opened (what becomes an alert), shown apart on purpose
    let counts = { ok: 0, anomalies: 0, rejected: 0, warming: 0, incidents: 0 };
    let loaded = false; // learned state (statistical, or the onnx scorer's) is read before the first message
    const early = new EarlyQueue();

    // ---- persistence in the node context -------------------------------------------------------------
    // The state is saved as one JSON document string whose per-device entries are kept between saves: a save
    // serialises only the devices changed since the last one (every mutation below calls doc.changed), in
    // slices of a few ms with the event loop free between them, and the context store writes one string
    // instead of walking the whole fleet in one turn (state-document.ts, docs/benchmarks.md, fourth round).
    // Method onnx saves the bundle scorer's device states the same way, under their own key: the scorer marks
    // the states it changed (its `changed` option) and each state's JSON is its saved form.
    const ctx = node.context();
    // bounded in characters (core/anomaly/state-document.ts): a fleet calibrating at once cannot outgrow one string
    // and its calibration rows serialised once each, not at every save of a calibrating device
    const doc = new StateDocument<object>(SAVED_STATE_MAX_CHARS, method === 'onnx' ? undefined : 'buffer');
    const contextKey = method === 'onnx' ? ONNX_CONTEXT_KEY : CONTEXT_KEY;
    /** the states to save, least recently active first */
    const deviceEntries = (): Iterable<[string, object]> =>
      method === 'onnx' ? (bundles ? bundles.entries() : []) : states.entries();
    /** bumped by every save started: a sliced save overtaken by a later one (or by close) is not stored */
    let saveGeneration = 0;
    let slicedSave: Promise<void> | null = null;
    /** devices the last save left out (the document's bound), as last reported */
    let leftOutSaid = 0;
    function store(text: string, cb?: () => void): void {
      // said when it starts, when it grows by half, and when every device fits again: not at every save
      const leftOut = doc.leftOut;
      if (leftOut > 0 && (leftOutSaid === 0 || leftOut >= leftOutSaid * 1.5)) {
        leftOutSaid = leftOut;
        node.warn(
          `moby-anomaly: saved the state of ${doc.saved} device(s) and left out the ${leftOut} less recently active: all of them would pass ${fmtBytes(SAVED_STATE_MAX_CHARS)} of text (calibration rows and windows are most of it). Their state stays in memory; after a restart they calibrate or fill their windows again`
        );
      } else if (leftOut === 0 && leftOutSaid > 0) {
        leftOutSaid = 0;
        node.log('moby-anomaly: the saved state holds every device again');
      }
      ctx.set(contextKey, text, storeName, (err) => {
        if (err) node.warn(`moby-anomaly: could not persist learned state: ${err.message}`);
        cb?.();
      });
    }
    /** A save that could not build its document: said; the state stays in memory and a later save tries again. */
    const unsaved = (err: Error) => node.warn(`moby-anomaly: could not build the saved state: ${err.message}`);
    /** Saves now, in this turn (close, load, reset: the save must hold everything at once). */
    function persist(cb?: () => void): void {
      if (!loaded) {
        cb?.();
        return;
      }
      dirty = false;
      saveGeneration++;
      // least recently active first, so a reload into a smaller bound keeps the most recent devices
      let text: string;
      try {
        text = doc.document(deviceEntries());
      } catch (err) {
        // never let a save take the runtime down
        unsaved(err as Error);
        cb?.();
        return;
      }
      store(text, cb);
    }
    /** The periodic save: changed devices only, in slices; one at a time (a request meanwhile runs after it). */
    function persistInSlices(): void {
      if (!loaded || closing) return;
      if (slicedSave) return; // `dirty` stays set: the next tick of the timer saves what changed meanwhile
      dirty = false;
      const generation = ++saveGeneration;
      slicedSave = doc.documentInSlices(deviceEntries()).then(
        (text) => {
          slicedSave = null;
          if (generation === saveGeneration && !closing) store(text);
        },
        (err: Error) => {
          // a rejection nothing caught would end the Node-RED process: said, and saved again at the next tick
          slicedSave = null;
          dirty = true;
          unsaved(err);
        }
      );
    }
    if (method !== 'onnx') {
      ctx.get(CONTEXT_KEY, storeName, (err, value) => {
        if (err) node.warn(`moby-anomaly: could not read learned state: ${err.message}`);
        const { accepted, refused, tooWide, unreadable } = restoreStates(value, cfg, maxFeatures);
        if (unreadable) node.warn('moby-anomaly: the stored learned state is not valid JSON; devices calibrate again');
        for (const [key, s] of accepted) states.set(key, s);
        let restored = accepted.length;
        if (refused)
          node.warn(
            `moby-anomaly: ignored ${refused} stored device state(s) that do not match this node's configuration`
          );
        if (tooWide)
          node.warn(
            `moby-anomaly: dropped ${tooWide} stored device state(s) with more than ${maxFeatures} features (max features); they calibrate again`
          );
        if (states.evictions)
          node.warn(
            `moby-anomaly: stored state holds more than ${maxDevices} devices (max devices): kept the ${states.size} most recently active`
          );
        countEvictions();
        restored = Math.min(restored, states.size);
        if (tooWide || states.evictions) dirty = true;
        loaded = true;
        if (!configError)
          status.set({
            fill: 'grey',
            shape: 'ring',
            text: restored ? `restored ${restored} device(s)` : 'calibrating',
          });
        early.drain(handle);
      });
    }
    const persistTimer = persistMs > 0 ? setInterval(() => dirty && persistInSlices(), persistMs) : null;
    persistTimer?.unref?.();
    // A fitted model is worth saving soon, but a save writes every device's state: when a fleet finishes
    // calibrating together, one save per fit is quadratic in the fleet (200 fits × 200 states in the bench,
    // 100k × 100k at 100k devices). Fits within a second share one save.
    let persistSoonTimer: NodeJS.Timeout | null = null;
    function persistSoon(): void {
      dirty = true;
      if (persistSoonTimer) return;
      persistSoonTimer = setTimeout(() => {
        persistSoonTimer = null;
        if (dirty && !closing) persistInSlices();
      }, 1000);
    }

    // gauges of this node, unregistered on close
    const unregisterGauges = [
      provideGauge('moby_anomaly_devices', 'Devices (or equipment) with anomaly state, by phase', ['phase'], () => {
        let calibrating = 0;
        let scoring = 0;
        for (const s of states.values()) {
          if (s.model) scoring++;
          else calibrating++;
        }
        return [
          { labels: { phase: 'calibrating' }, value: Math.max(0, calibrating - fitsRunning) },
          { labels: { phase: 'fitting' }, value: fitsRunning },
          { labels: { phase: 'scoring' }, value: scoring },
        ];
      }),
      provideGauge(
        'moby_anomaly_points',
        'Points scored by moby-anomaly nodes since start, by point verdict',
        ['verdict'],
        () => [
          { labels: { verdict: 'normal' }, value: counts.ok - counts.anomalies },
          { labels: { verdict: 'anomalous' }, value: counts.anomalies },
        ]
      ),
      provideGauge(
        'moby_anomaly_incidents',
        'Alarms (incidents) of moby-anomaly nodes: opened since start, and open now',
        ['state'],
        () => {
          let open = 0;
          for (const s of states.values()) if (s.incident?.open) open++;
          return [
            { labels: { state: 'opened' }, value: counts.incidents },
            { labels: { state: 'open' }, value: open },
          ];
        }
      ),
    ];

    // ---- onnx --------------------------------------------------------------------------------------
    let bundles: BundleScorer | null = null;
    /** the refused bundles last warned about, by path: each refusal is said once while it lasts */
    let refusedSaid = new Map<string, string>();
    if (method === 'onnx' && !configError) {
      try {
        // required here, not imported: onnxruntime-node loads only when a node actually uses method onnx
        type ScorerModule = typeof import('../core/anomaly/onnx/bundle-scorer');
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the lazy load is the point
        const { BundleScorer: Scorer } = require('../core/anomaly/onnx/bundle-scorer') as ScorerModule;
        // shape checked by the scorer's constructor, which throws naming the bad bucket
        let powerBuckets: PowerBucket[] | undefined;
        if (def.powerBuckets && def.powerBuckets.trim()) powerBuckets = JSON.parse(def.powerBuckets) as PowerBucket[];
        bundles = new Scorer({
          root: def.bundleRoot || '',
          powerField: def.powerField || undefined,
          powerBuckets,
          version: def.modelVersion || undefined,
          batchMax: num(def.batchMax, 256, 1),
          batchWaitMs: num(def.batchWaitMs, 2, 0),
          watch: def.watch === true,
          // the same device bound as the statistical methods (the scorer evicts its stalest window)
          maxDevices,
          // and a bound in bytes: a bundle's window decides what a device costs, so maxDevices alone could
          // let a 4 MiB window × 10,000 devices take 40 GiB
          maxStateBytes,
          // once per bundle scan, the watcher's included (before, a bundle the watcher refused was said nowhere
          // until the next restart: keyed-device red team 2026-12-07): each refusal once while it lasts, the
          // status, and when the byte budget, not maxDevices, binds
          onLoad: (r) => {
            const now = new Map(r.refused.map((f) => [f.path, f.reason]));
            for (const [path, reason] of now)
              if (refusedSaid.get(path) !== reason) node.warn(`moby-anomaly: model bundle ${path} refused: ${reason}`);
            refusedSaid = now;
            for (const c of r.capped)
              node.log(
                `moby-anomaly: bundle ${c.bundle} holds ${fmtBytes(c.bytesPerDevice)} per device, so the state budget (${fmtBytes(maxStateBytes)}) keeps at most ${c.devices} of its devices, fewer than max devices (${maxDevices}); the least recently scored are evicted beyond it`
              );
            // every serving bundle the budget caps, not only the ones this scan loaded
            const caps = bundles ? bundles.budgetCaps() : [];
            const cap = caps.length ? Math.min(...caps.map((c) => c.devices)) : 0;
            status.set({
              fill: r.loaded.length ? 'green' : 'yellow',
              shape: 'ring',
              text: `${r.loaded.length} model(s)${r.refused.length ? `, ${r.refused.length} refused` : ''}${cap ? `, state budget: ≤ ${cap} devices` : ''}`,
            });
          },
          // the incremental save re-serialises only the devices scored since the previous save
          changed: (state) => doc.changed(state),
        });
        const scorer = bundles;
        onnxEvicted = () => scorer.stats.evicted;
        syncBundles();
      } catch (err) {
        configError = `onnx: ${(err as Error).message}`;
        node.error(`moby-anomaly: ${configError}`);
        node.status({ fill: 'red', shape: 'ring', text: configError.slice(0, 60) });
      }
    }
    if (method === 'onnx') {
      const scorer = bundles;
      // misconfigured: every message is rejected with the configuration error, nothing to read
      if (!scorer) loaded = true;
      else
        ctx.get(ONNX_CONTEXT_KEY, storeName, (err, value) => {
          if (err) node.warn(`moby-anomaly: could not read saved device windows: ${err.message}`);
          const { entries, unreadable } = parseSavedStates(value);
          if (unreadable)
            node.warn('moby-anomaly: the stored device windows are not valid JSON; devices warm up again');
          // waits for the first bundle scan: a saved state is kept only if its bundle is still the same
          void scorer.restore(entries).then((r) => {
            warnDropped(r, 'stored');
            countEvictions();
            if (r.mismatched || r.invalid || r.evicted) dirty = true;
            loaded = true;
            if (r.restored) node.log(`moby-anomaly: restored ${r.restored} device window(s)`);
            early.drain(handle);
          });
        });
    }
    /** Says which saved onnx device states were not taken back, and why (none of it is fatal). */
    function warnDropped(r: RestoreReport, what: string): void {
      if (r.mismatched)
        node.warn(
          `moby-anomaly: dropped ${r.mismatched} ${what} device state(s) whose model bundle is no longer loaded or changed (features, scaler or window); they warm up again`
        );
      if (r.invalid) node.warn(`moby-anomaly: dropped ${r.invalid} ${what} device state(s) that are not valid`);
      if (r.evicted)
        node.warn(
          `moby-anomaly: ${what} state holds more than ${maxDevices} devices (max devices) or more than the state budget (${fmtBytes(maxStateBytes)}): kept the most recently active`
        );
    }
    function syncBundles(): Promise<void> {
      if (!bundles) return Promise.resolve();
      // what the scan found is said by onLoad, for this scan as for the watcher's
      return bundles.load().then(
        () => undefined,
        (err: Error) => {
          node.warn(`moby-anomaly: loading model bundles failed: ${err.message}`);
          status.set({ fill: 'red', shape: 'ring', text: 'no models' });
        }
      );
    }

    // ---- message handling ----------------------------------------------------------------------------
    /** the counters' status, built when the dot is refreshed (≤ 2/s), not for every item */
    const countsStatus = (): NodeStatus => {
      const { ok, anomalies, rejected, warming, incidents } = counts;
      const fill = incidents ? 'yellow' : 'green';
      const inc = method === 'onnx' ? '' : `, ${incidents} incident${incidents === 1 ? '' : 's'}`;
      const extra = `${fitsRunning ? `, ${fitsRunning} fitting` : ''}${evictions() ? `, ${evictions()} evicted` : ''}`;
      return {
        fill: rejected && !ok ? 'red' : fill,
        shape: 'dot',
        text: `${ok} scored, ${anomalies} anomalous point${anomalies === 1 ? '' : 's'}${inc}${warming ? `, ${warming} warming` : ''}${rejected ? `, ${rejected} rejected` : ''}${extra}`,
      };
    };
    function showCounts(): void {
      status.set(countsStatus);
    }

    function sendReject(msg: NodeMessage, send: SendFn, done: DoneFn, r: Reject): void {
      withReject(msg, r);
      countRejected(TYPE, r.code);
      counts.rejected++;
      showCounts();
      send([null, msg]);
      done();
    }

    function sendResult(msg: NodeMessage, send: SendFn, done: DoneFn, anomaly: AnomalyResult | WarmingResult): void {
      msg.anomaly = anomaly;
      if (bundles) countEvictions();
      if ('warming' in anomaly) counts.warming++;
      else {
        counts.ok++;
        if (anomaly.is_anomaly) counts.anomalies++;
        if (anomaly.incident?.opened) counts.incidents++;
      }
      countOut(TYPE);
      showCounts();
      // output 3 ("for alerts"): the alert node's view of the point, so the point reaches the writer on
      // output 1 without the deep copy of the whole point a fan-out would make (docs/benchmarks.md). The view
      // leaves in a send() of its own, as the first message of its call, which the runtime does not copy (a
      // second call costs less than that copy); in batch mode a batch of views does the same (ALERT_VIEWS_ALONE).
      send([msg, null]);
      if (alertsWired) send([null, null, alertView(msg)]);
      done();
    }

    const missing = new MissingSensorWatch<AnomalyDeviceState>(new WeakMap());
    // method onnx: the scorer keeps the device windows, so the gaps are kept by device key, bounded alike
    const onnxGaps = new BoundedMap<string, Gap>(maxDevices);
    const missingOnnx = new MissingSensorWatch<string>(onnxGaps);
    let textFieldsWarned = false;

    function handleStat(msg: NodeMessage, send: SendFn, done: DoneFn): void {
      const pk = pointOf(msg.payload, byEquipment);
      if (!('point' in pk)) return sendReject(msg, send, done, pk);
      const { point, key } = pk;
      const deviceId = point.tags.device_id;
      let state = states.get(key);
      if (!state) {
        const fresh = newStateFor(cfg, point, maxFeatures);
        if (!('features' in fresh)) return sendReject(msg, send, done, fresh);
        // numbers sent as text in the first point are left out for good: said once per node (integrator
        // review 2026-12-06: a later a: 1000000 scored "normal" without a word)
        if (!textFieldsWarned) {
          const text = textNumberFields(cfg, point, fresh.features);
          if (text.length) {
            textFieldsWarned = true;
            node.warn(
              `${deviceId}: field(s) ${text.join(', ')} hold numbers as text in its first point and are not scored for it; send numbers (moby-normalize's coerce numbers) or list the features`
            );
          }
        }
        state = fresh;
        states.set(key, state);
        countEvictions();
      }
      const x = extract(state.features, point.fields);
      if (!(x instanceof Float64Array)) {
        // a sensor without usable values for MISSING_ALARM_POINTS points in a row: an alarm for the alert node
        const gap = MISSING_CODES.has(x.code) && x.field ? missing.rejected(state, x.field) : null;
        if (gap && alertsWired) send([null, null, alertView({ ...msg, anomaly: missingSensorResult(method, gap) })]);
        return sendReject(msg, send, done, { ...x, device_id: deviceId });
      }
      missing.usable(state);
      const r = step(cfg, state, x, (st, rows) => deferFit(key, st, rows), point.timestamp);
      doc.changed(state);
      dirty = true;
      if (r.kind === 'reject') return sendReject(msg, send, done, { ...r.reject, device_id: deviceId });
      // most recently active now; a device whose verdict is anomalous is evicted only after every idle one
      states.set(key, state, r.kind === 'result' && r.anomaly.is_anomaly);
      if (r.kind === 'warming') return sendResult(msg, send, done, warmingResult(method, r.have, r.need));
      if (r.fitted) persistSoon();
      sendResult(msg, send, done, r.anomaly);
    }

    /**
     * step()'s hook for a full calibration buffer: small fits run inline (returns false), large ones go to
     * the worker once (the device stays warming until the model is installed). A result for a state that
     * was evicted, reset or replaced meanwhile is discarded.
     */
    function deferFit(key: string, state: AnomalyDeviceState, rows: number[][]): boolean {
      if (state.features.length <= SYNC_FIT_MAX_FEATURES) return false;
      if (fitting.has(state)) return true;
      fitting.add(state);
      fitsRunning++;
      pool ??= new FitPool();
      const started = Date.now();
      pool
        // a device evicted, reset or replaced while its fit waits is dropped before it costs CPU
        .fit(cfg, rows, () => !closing && states.get(key) === state)
        .then(
          (model) => {
            if (closing || states.get(key) !== state || state.model) {
              node.debug(`moby-anomaly: fit for ${key} discarded (device evicted, reset or replaced meanwhile)`);
              return;
            }
            installModel(state, model);
            doc.changed(state);
            dirty = true;
            node.debug(
              `moby-anomaly: ${key} calibrated on ${state.features.length} features in ${Date.now() - started} ms (worker)`
            );
            persistSoon();
          },
          (err: Error) => {
            if (closing || states.get(key) !== state || err.message === 'discarded') return;
            // start calibrating again rather than stay warming forever
            state.buffer = [];
            doc.changed(state);
            dirty = true;
            node.warn(`moby-anomaly: calibration of ${key} failed: ${err.message}`);
          }
        )
        .finally(() => {
          fitting.delete(state);
          fitsRunning--;
          if (!closing) showCounts();
        });
      return true;
    }

    function handleOnnx(msg: NodeMessage, send: SendFn, done: DoneFn): void {
      const pk = pointOf(msg.payload, byEquipment);
      if (!('point' in pk)) return sendReject(msg, send, done, pk);
      const { point, key } = pk;
      const deviceId = point.tags.device_id;
      const numeric: Record<string, number> = {};
      for (const [f, v] of Object.entries(point.fields)) if (typeof v === 'number') numeric[f] = v;
      const equipmentId = point.tags.equipment_id || def.equipmentId;
      if (!equipmentId)
        return sendReject(
          msg,
          send,
          done,
          reject('missing_equipment', 'tags.equipment_id is missing and no default equipment is configured', {
            device_id: deviceId,
            field: 'tags.equipment_id',
          })
        );
      // a power tag names the bucket directly; otherwise the scorer buckets the numeric power field
      const powerTag = def.powerField ? point.tags[def.powerField] : undefined;
      bundles!
        .score({
          key,
          equipmentId,
          power: typeof powerTag === 'string' && powerTag ? powerTag : undefined,
          fields: numeric,
          timestamp: point.timestamp,
        })
        .then((r) => {
          dirty = true;
          if (r.kind === 'reject') {
            // a sensor without usable values for MISSING_ALARM_POINTS points in a row: an alarm, as handleStat
            const gap = MISSING_CODES.has(r.code) && r.field ? missingOnnx.rejected(key, r.field) : null;
            if (gap && alertsWired)
              send([null, null, alertView({ ...msg, anomaly: missingSensorResult('onnx', gap) })]);
            const where = r.field === undefined ? { device_id: deviceId } : { device_id: deviceId, field: r.field };
            return sendReject(msg, send, done, reject(r.code, r.reason, where));
          }
          missingOnnx.usable(key);
          if (r.kind === 'warming') return sendResult(msg, send, done, warmingResult('onnx', r.have, r.need));
          if (r.rul) msg.rul = r.rul;
          sendResult(msg, send, done, onnxResult(r, cfg.criticalRatio));
        })
        .catch((err: Error) =>
          sendReject(msg, send, done, reject('model_error', err.message, { device_id: deviceId }))
        );
    }

    /** msg.topic control messages (messages.ts decides which and checks them). Returns true when handled. */
    function control(msg: NodeMessage, send: SendFn, done: DoneFn): boolean {
      const request = controlOf(msg.topic, msg.payload, method, cfg, maxFeatures);
      switch (request?.kind) {
        case undefined:
          return false;
        case 'reject':
          sendReject(msg, send, done, request.reject);
          return true;
        case 'export':
          send([
            {
              topic: 'anomaly-state',
              payload: bundles ? bundles.exportDocument() : exportDocument(cfg.method, states.entries()),
            },
            null,
          ]);
          done();
          return true;
        case 'onnx-load':
          bundles!.restore(request.devices).then((r) => {
            warnDropped(r, 'loaded');
            countEvictions();
            persist();
            status.set({
              fill: r.mismatched ? 'yellow' : 'green',
              shape: 'ring',
              text: `loaded ${r.restored} device state(s)${r.mismatched ? `, ${r.mismatched} dropped (bundle changed)` : ''}`,
            });
            done();
          }, done);
          return true;
        case 'load':
          // beyond the bound the least recently active devices make room (counted), nothing is refused
          for (const [k, s] of request.devices) states.set(k, s);
          countEvictions();
          persist();
          status.set({ fill: 'green', shape: 'ring', text: `loaded ${request.devices.length} device state(s)` });
          done();
          return true;
        case 'reset':
          if (request.device) {
            states.delete(request.device);
            bundles?.forget(request.device);
            missingOnnx.usable(request.device);
          } else {
            states.clear();
            bundles?.forgetAll();
            onnxGaps.clear();
          }
          counts = { ok: 0, anomalies: 0, rejected: 0, warming: 0, incidents: 0 };
          persist();
          status.set({
            fill: 'grey',
            shape: 'ring',
            text: request.device ? `recalibrating ${request.device}` : 'recalibrating all',
          });
          done();
          return true;
        case 'sync':
          syncBundles().then(() => done(), done);
          return true;
      }
    }

    // a function declaration (hoisted): the context store may answer the state read above synchronously
    function handle(msg: NodeMessage, send: SendFn, done: DoneFn): void {
      if (control(msg, send, done)) return;
      if (method === 'onnx') handleOnnx(msg, send, done);
      else handleStat(msg, send, done);
    }

    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: DoneFn) => {
        countIn(TYPE);
        if (configError) {
          sendReject(msg, send, done, reject('no_model', `node is misconfigured: ${configError}`));
          return;
        }
        if (loaded) return handle(msg, send, done);
        // learned state is still being read from a persistent store: keep order, bounded
        if (!early.offer(msg, send, done))
          sendReject(msg, send, done, reject('busy', 'learned state is still loading; queue full'));
      }, ALERT_VIEWS_ALONE)
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      // messages still waiting for the learned state end here instead of never completing
      early.failAll('node closed before its learned state was loaded');
      if (persistTimer) clearInterval(persistTimer);
      if (persistSoonTimer) clearTimeout(persistSoonTimer);
      status.stop();
      for (const off of unregisterGauges) off();
      // a running fit is abandoned: its device's buffer is persisted and it fits again after the restart
      const stopPool = pool ? pool.close().catch(() => undefined) : Promise.resolve();
      const finish = () => void stopPool.then(() => (bundles ? bundles.close().then(done, done) : done()));
      // a sliced save still under way is overtaken by this one (it holds what that one would have)
      if ((dirty || slicedSave) && loaded) persist(finish);
      else finish();
    });
  }

  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(TYPE, MobyAnomaly);
};
