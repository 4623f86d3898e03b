// Windowed 1-D CNN for remaining useful life (C-MAPSS protocol): standardised informative sensors over a
// 30-cycle window -> three same-padded convolutions along time -> dense -> RUL. Trained on the capped
// piece-wise linear target divided by the cap (outputs near 1 keep Adam's steps well scaled); the cap is
// folded back into the last layer before export, so the ONNX model outputs cycles directly.
import { OnnxGraphBuilder } from './onnx-builder';
import {
  buildNet,
  describeNet,
  fitNet,
  netForward,
  netToGraph,
  type Activation,
  type LayerSpec,
  type TapLayer,
} from './convnet';
import {
  engineWindow,
  informativeSensors,
  rulTargets,
  columnName,
  withBaseline,
  CYCLE_COLUMN,
  type BaselineMode,
  type Engine,
  type EngineBaseline,
} from './cmapss';
import { mulberry32, shuffleInPlace } from '../../prng';
import { RulAverage, liftRul, type RulLift } from '../rul-average';

export const RUL_CNN_INPUT = 'x';
/** the second input of a bundle trained with an own baseline (meta.baseline_input) */
export const RUL_BASELINE_INPUT = 'base';

export interface RulCnnModel {
  window: number;
  features: number;
  /** one network per seed; the model's output is their mean */
  members: TapLayer[][];
  /** exponential smoothing factor applied to each sensor along the window before the nets (1 or absent: none) */
  smoothing?: number;
}

export type RulScaling = 'minmax' | 'zscore';

export interface RulCnnOptions {
  window?: number;
  cap?: number;
  epochs?: number;
  filters?: number;
  kernel?: number;
  dense?: number;
  convLayers?: number;
  activation?: Activation;
  /** dropout on the dense layer's input while training */
  dropout?: number;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
  /** networks trained with seeds seed, seed + 1, …, each early-stopped on its own engines, averaged */
  ensemble?: number;
  /** 'minmax' maps each sensor's training range onto [−1, 1] (Li et al.); 'zscore' standardises */
  scaling?: RulScaling;
  /**
   * each scaled sensor is smoothed along the window, s_t = α·x_t + (1 − α)·s_(t−1) from s_0 = x_0, before the
   * convolutions (1 = off); in the ONNX graph it is one MatMul after Flatten
   */
  smoothing?: number;
  /** every engine's windows start every `stride` cycles (1 = all windows) */
  stride?: number;
  /** share of engines held out to pick the epoch (early stopping); 0 trains on all for `epochs` */
  validation?: number;
  /** stop after this many epochs without a better validation RMSE */
  patience?: number;
  /**
   * training windows end from this many observed cycles on; below a full window the missing steps repeat the
   * engine's first cycle, as on short test engines (default 31; the window or more: full windows only)
   */
  minCycles?: number;
  /**
   * the engine's age (its cycle number, CMAPSS column 2) as one more input column, named `cycle` and scaled
   * like the sensors: tells an engine early in life (RUL at the cap) from a worn one
   */
  age?: boolean;
  /**
   * training windows whose cycles left exceed the cap: 'clip' trains them on the cap (the piece-wise linear
   * target of the literature), 'drop' leaves them out, so the net learns the cycles left of engines within
   * `cap` of failure, the cases the C-MAPSS test protocol asks about (truth uncapped, at most ~150)
   */
  aboveCap?: 'clip' | 'drop';
  /**
   * 'protocol' weights each training window's squared error so that the true cycles left (uncapped) of the
   * windows are spread evenly over 0–VALIDATION_MAX_RUL in 10-cycle bins, as the test protocol's truths are,
   * and all windows beyond it together weigh as much as one bin (the plateau is still learned, but no longer
   * outweighs the range the protocol asks about); weights have mean 1. 'none' (default): every window alike
   */
  truthWeights?: 'none' | 'protocol';
  /**
   * the engine's own baseline: the mean of its first `baselineCycles` rows per sensor, subtracted from the
   * sensors ('relative') or appended as offsets beside them ('both'), so the net sees drift from the engine's
   * own manufacturing offsets (fourth round; 0 = off)
   */
  baselineCycles?: number;
  baselineMode?: BaselineMode;
  /** learning-rate decay over the epochs, to finalLrShare of the initial rate */
  schedule?: 'linear' | 'cosine';
  finalLrShare?: number;
  /**
   * fit meta.rul_lift on the training engines (fitRulLift, seventh round; default false): what the node reports
   * above the cap's reach. `average` is the rul_average the bundle is served with, which the fit scores with
   */
  lift?: boolean;
  average?: number;
  onEpoch?: (epoch: number, loss: number, validationRmse: number, member: number) => void;
}

/**
 * Li et al.'s layers and scaling over a longer window, trained on a fixed schedule: 30 epochs with the rate
 * falling along a cosine to 1 %, no early stopping, no dropout, three seeds averaged. Chosen on engine
 * splits of train_FD001 (eval:cmapss --holdout; the experiments and figures are in docs/onnx-bundles.md):
 * the window mattered most (mean of splits 0 and 1, one net each: 18.6 at 30 cycles, 17.1 at 40, 16.3 at 60,
 * 16.6 at 90), while early stopping on a tenth of the engines picked noisy epochs. The engine's age as an
 * input and training windows from 31 cycles on were added in a second round (splits 0–2, same docs).
 */
export const RUL_DEFAULTS = {
  // the trend over 60 cycles tells wear from an engine's own offsets far better than 30 (a test engine with
  // fewer cycles repeats its first cycle in the missing steps)
  window: 60,
  cap: 125,
  epochs: 30,
  filters: 10,
  kernel: 10,
  convLayers: 4,
  dense: 100,
  dropout: 0,
  activation: 'tanh' as Activation,
  learningRate: 1e-3,
  batchSize: 64,
  // consecutive windows overlap in all but one cycle: every second one halves an epoch and loses little
  stride: 2,
  validation: 0,
  patience: 8,
  ensemble: 3,
  scaling: 'minmax' as RulScaling,
  schedule: 'cosine' as 'linear' | 'cosine',
  finalLrShare: 0.01,
  smoothing: 1,
  // the engine's age (cycle number) as an input: tells an early-life engine from a worn one with the same
  // sensor readings (holdout, one net each: split 1 16.90 → 14.14)
  age: true,
  // also train on windows of short histories (from 31 cycles, the fewest a test engine has), padded with the
  // first cycle as the scorer pads them, instead of only on full 60-cycle windows
  minCycles: 31,
  aboveCap: 'clip' as 'clip' | 'drop',
  truthWeights: 'none' as 'none' | 'protocol',
  // the engine's own baseline (fourth round, adopted in the fifth): each sensor's offset from the mean of the
  // engine's first 20 cycles beside the sensor (holdout, 3 members, K = 3: 15.61 → 12.79, interval of the
  // change clear of zero; +25 % training time, accepted). The node keeps each device's baseline
  // (meta.baseline_cycles) and the graph computes the offsets, so devices send the raw sensors as before
  baselineCycles: 20,
  baselineMode: 'both' as BaselineMode,
  // a lift above the cap's reach, fitted on the training engines' own protocol cuts: screened in the seventh
  // round and not adopted (holdout mean of 6 splits 13.11 → 12.97, worse on 2 of them, PHM08 score +14 %)
  lift: false,
};

/**
 * Cycles a device needs before a C-MAPSS RUL bundle scores it (meta.min_history): the window before the 60-cycle
 * default, so devices get their first RUL as early as they did then; every FD001 test engine (31 cycles or more)
 * is scored by the node exactly as eval:cmapss scores it. Training windows start at 31 cycles
 * (RUL_DEFAULTS.minCycles): a device's first, 30-cycle window is one cycle shorter than any trained on.
 */
export const RUL_MIN_HISTORY = 30;

/** meta.min_history of a C-MAPSS RUL bundle with this window: RUL_MIN_HISTORY, or the window when shorter. */
export function rulMinHistory(window: number): number {
  return Math.min(RUL_MIN_HISTORY, window);
}

/**
 * meta.rul_average of the C-MAPSS bundles: the RUL the node reports is the mean of the predictions of the
 * device's last RUL_AVERAGE cycles, each aged by the cycles since (RulAverage); chosen on the holdout of
 * splits 0–2 (docs/onnx-bundles.md, third round): 3 gave a mean of 15.61 against 15.71 for each prediction
 * alone (15.34 / 14.17 / 17.31 against 15.65 / 14.22 / 17.26, every change within the per-split noise); 5
 * and more lose in the 125–149 band, where the flat predictions of young engines are aged downwards.
 */
export const RUL_AVERAGE = 3;

/** early stopping scores held-out engines with at most this many cycles left (the test files' range: 7–145) */
export const VALIDATION_MAX_RUL = 150;

export interface RulCnnBundle {
  model: RulCnnModel;
  /** sensor column indices (into Engine.rows) and their names */
  columns: number[];
  features: string[];
  /** (x − mean) / std; min-max scaling is written in the same form (mean = mid-range, std = half-range) */
  scaler: { mean: number[]; std: number[] };
  scaling: RulScaling;
  windows: number;
  trainRmse: number;
  /** per member: best validation RMSE (cycles, uncapped truth ≤ VALIDATION_MAX_RUL) and its epoch; Infinity / last epoch without validation */
  validationRmse: number[];
  bestEpoch: number[];
  validationEngines: number;
  /** the own-baseline input the model was trained with (absent: raw sensors) */
  baseline?: EngineBaseline;
  /** meta.rul_lift fitted on the training engines (absent: none fitted, or no lift lowered their error) */
  lift?: RulLift;
}

/**
 * Li, Ding & Sun's DCNN (2018) in tap layers: `convLayers` convolutions of `filters` channels along time, one
 * 3-wide single-channel convolution, dropout, a dense layer, the output. Odd-even padding is symmetric here
 * (an even kernel shortens each layer by one step), so the single channel ends a few steps shorter than the
 * window; the dense layer reads all of it.
 */
export function buildRulCnn(window: number, features: number, o: RulCnnOptions = {}): TapLayer[] {
  const f = o.filters ?? RUL_DEFAULTS.filters;
  const k = o.kernel ?? RUL_DEFAULTS.kernel;
  const act = o.activation ?? RUL_DEFAULTS.activation;
  const convs = o.convLayers ?? RUL_DEFAULTS.convLayers;
  const padL = (k - 1) >> 1;
  const specs: LayerSpec[] = [];
  for (let i = 0; i < convs; i++)
    specs.push({ type: 'conv', out: f, kernel: k, stride: 1, pad: padL, activation: act });
  // one output channel before the dense layer: a bottleneck of about `window` values instead of
  // window × filters, which let the dense layer memorise individual engines
  specs.push({ type: 'conv', out: 1, kernel: 3, stride: 1, pad: 1, activation: act });
  const dropout = o.dropout ?? RUL_DEFAULTS.dropout;
  specs.push({
    type: 'dense',
    out: o.dense ?? RUL_DEFAULTS.dense,
    activation: act,
    ...(dropout > 0 ? { dropout } : {}),
  });
  specs.push({ type: 'dense', out: 1, activation: 'linear' });
  return buildNet(window, features, specs, o.seed ?? 42);
}

/** Per-sensor scaler fitted on the training engines, as (x − mean) / std. */
export function fitRulScaler(
  engines: Engine[],
  columns: number[],
  scaling: RulScaling = RUL_DEFAULTS.scaling
): { mean: number[]; std: number[] } {
  const F = columns.length;
  if (scaling === 'minmax') {
    const lo = new Array<number>(F).fill(Infinity);
    const hi = new Array<number>(F).fill(-Infinity);
    for (const e of engines)
      for (const r of e.rows)
        columns.forEach((c, j) => {
          if (r[c] < lo[j]) lo[j] = r[c];
          if (r[c] > hi[j]) hi[j] = r[c];
        });
    return { mean: lo.map((l, j) => (l + hi[j]) / 2), std: lo.map((l, j) => (hi[j] - l) / 2 || 1) };
  }
  const mean = new Array<number>(F).fill(0);
  const std = new Array<number>(F).fill(0);
  let n = 0;
  for (const e of engines)
    for (const r of e.rows) {
      n++;
      columns.forEach((c, j) => (mean[j] += r[c]));
    }
  for (let j = 0; j < F; j++) mean[j] /= n;
  for (const e of engines) for (const r of e.rows) columns.forEach((c, j) => (std[j] += (r[c] - mean[j]) ** 2));
  for (let j = 0; j < F; j++) std[j] = Math.sqrt(std[j] / Math.max(1, n - 1)) || 1;
  return { mean, std };
}

/**
 * Every training window of the given engines, ending every `stride` cycles from cycle `firstEnd` (0-based;
 * default window − 1, the first full window). Ends before window − 1 repeat the engine's first cycle in the
 * missing steps, as predictions on short test engines do.
 */
export function rulTrainingSet(
  engines: Engine[],
  columns: number[],
  window: number,
  cap: number,
  stride = 1,
  scaler = fitRulScaler(engines, columns),
  firstEnd = window - 1,
  aboveCap: 'clip' | 'drop' = 'clip'
) {
  const F = columns.length;
  const ends: Array<[Engine, number, number]> = [];
  const cyclesLeft: number[] = [];
  for (const e of engines) {
    const y = rulTargets(e, aboveCap === 'drop' ? Infinity : cap);
    for (let end = Math.min(firstEnd, e.rows.length - 1); end < e.rows.length; end += stride)
      if (y[end] <= cap) {
        ends.push([e, end, y[end]]);
        cyclesLeft.push(e.rows.length - 1 - end);
      }
  }
  const D = window * F;
  const data = new Float32Array(ends.length * D);
  const targets = new Float32Array(ends.length);
  ends.forEach(([e, end, y], w) => {
    engineWindow(e.rows, end, window, columns, scaler.mean, scaler.std, data, w * D);
    targets[w] = y;
  });
  return { data, targets, count: ends.length, scaler, cyclesLeft };
}

/**
 * Weights (mean 1) that spread the windows' true cycles left evenly over 10-cycle bins up to `maxRul`, the
 * windows beyond it together weighing one bin (RulCnnOptions.truthWeights 'protocol').
 */
export function protocolWeights(cyclesLeft: number[], maxRul = VALIDATION_MAX_RUL, bin = 10): Float32Array {
  const nBins = Math.ceil(maxRul / bin);
  const key = (r: number) => (r >= maxRul ? nBins : Math.floor(r / bin));
  const counts = new Array<number>(nBins + 1).fill(0);
  for (const r of cyclesLeft) counts[key(r)]++;
  const w = Float32Array.from(cyclesLeft, (r) => 1 / counts[key(r)]);
  let sum = 0;
  for (const v of w) sum += v;
  const k = w.length / (sum || 1);
  for (let i = 0; i < w.length; i++) w[i] *= k;
  return w;
}

/**
 * Fits `ensemble` CNNs on run-to-failure engines and averages them. The scaler is fitted once on every
 * engine; each member keeps a seeded share of the engines (`validation`, default 10 %, at least one) out of
 * its training and scores them after every epoch; the weights of the epoch with the lowest validation RMSE
 * are kept and training stops after `patience` epochs without improvement. Without it the network keeps
 * lowering its training error by memorising engines (training RMSE 3, held-out 24 cycles). Members hold out
 * different engines, so together they learn from all of them.
 */
export function trainRulCnn(rawEngines: Engine[], o: RulCnnOptions = {}): RulCnnBundle {
  const window = o.window ?? RUL_DEFAULTS.window;
  const cap = o.cap ?? RUL_DEFAULTS.cap;
  const sensors = informativeSensors(rawEngines);
  const columns = sensors.slice();
  if (o.age ?? RUL_DEFAULTS.age) columns.push(CYCLE_COLUMN);
  const baselineCycles = Math.max(0, Math.round(o.baselineCycles ?? RUL_DEFAULTS.baselineCycles));
  const baseline: EngineBaseline | undefined =
    baselineCycles > 0
      ? { cycles: baselineCycles, mode: o.baselineMode ?? RUL_DEFAULTS.baselineMode, sensors }
      : undefined;
  if (baseline?.mode === 'both') columns.push(...sensors.map((_, k) => CYCLE_COLUMN + 1 + k));
  const engines = baseline ? rawEngines.map((e) => withBaseline(e, baseline)) : rawEngines;
  const scaling = o.scaling ?? RUL_DEFAULTS.scaling;
  const scaler = fitRulScaler(engines, columns, scaling);
  const share = o.validation ?? RUL_DEFAULTS.validation;
  const nMembers = Math.max(1, Math.round(o.ensemble ?? RUL_DEFAULTS.ensemble));
  const smoothing = o.smoothing ?? RUL_DEFAULTS.smoothing;
  const stride = o.stride ?? RUL_DEFAULTS.stride;
  const aboveCap = o.aboveCap ?? RUL_DEFAULTS.aboveCap;
  const firstEnd = Math.min(window, Math.max(1, o.minCycles ?? RUL_DEFAULTS.minCycles)) - 1;
  if (!(smoothing > 0 && smoothing <= 1)) throw new Error(`rul: smoothing must be in (0, 1], got ${smoothing}`);
  const seed0 = o.seed ?? 42;
  const D = window * columns.length;
  const members: TapLayer[][] = [];
  const validationRmse: number[] = [];
  const bestEpochs: number[] = [];
  let nVal = 0;
  for (let m = 0; m < nMembers; m++) {
    const seed = seed0 + m;
    const rand = mulberry32(seed + 17);
    const order = engines.map((_, i) => i);
    shuffleInPlace(order, rand);
    nVal = share > 0 && engines.length >= 2 ? Math.max(1, Math.round(engines.length * share)) : 0;
    const valEngines = order.slice(0, nVal).map((i) => engines[i]);
    const fitEngines = order.slice(nVal).map((i) => engines[i]);
    const set = rulTrainingSet(fitEngines, columns, window, cap, stride, scaler, firstEnd, aboveCap);
    if (smoothing < 1) smoothWindows(set.data, set.count, window, columns.length, smoothing);
    const scaled = set.targets.map((y) => y / cap);
    const sampleWeights =
      (o.truthWeights ?? RUL_DEFAULTS.truthWeights) === 'protocol' ? protocolWeights(set.cyclesLeft) : undefined;
    const layers = buildRulCnn(window, columns.length, { ...o, seed });
    const single = { window, features: columns.length, members: [layers], smoothing };
    // validation cases as the test protocol sees them: the held-out engines cut at every cycle that leaves
    // at most VALIDATION_MAX_RUL cycles (with a full window observed), truth = cycles left, not capped. Scoring
    // every cycle instead lets the many early, capped cycles (easy: predict the cap) pick the epoch.
    const val: Array<{ x: Float32Array; y: number }> = [];
    for (const e of valEngines) {
      const n = e.rows.length;
      for (let end = Math.max(Math.min(window - 1, n - 1), n - 1 - VALIDATION_MAX_RUL); end < n; end++) {
        const x = new Float32Array(D);
        engineWindow(e.rows, end, window, columns, scaler.mean, scaler.std, x, 0);
        val.push({ x, y: n - 1 - end });
      }
    }
    let best = Infinity;
    let bestEpoch = 0;
    let snapshot = layers.map((l) => ({ w: l.weights.slice(), b: l.bias.slice() }));
    const patience = o.patience ?? RUL_DEFAULTS.patience;
    fitNet(layers, set.data, scaled, set.count, {
      epochs: o.epochs ?? RUL_DEFAULTS.epochs,
      batchSize: o.batchSize ?? RUL_DEFAULTS.batchSize,
      learningRate: o.learningRate ?? RUL_DEFAULTS.learningRate,
      // decaying the step lets the last epochs settle instead of jittering around the minimum
      finalLrShare: o.finalLrShare ?? RUL_DEFAULTS.finalLrShare,
      schedule: o.schedule ?? RUL_DEFAULTS.schedule,
      sampleWeights,
      seed,
      onEpoch: (epoch, loss) => {
        let valRmse = NaN;
        if (val.length) {
          let se = 0;
          for (const v of val) se += (cap * predictRulCnn(single, v.x) - v.y) ** 2;
          valRmse = Math.sqrt(se / val.length);
          if (valRmse < best) {
            best = valRmse;
            bestEpoch = epoch;
            snapshot = layers.map((l) => ({ w: l.weights.slice(), b: l.bias.slice() }));
          }
        } else bestEpoch = epoch;
        o.onEpoch?.(epoch, loss, valRmse, m);
        return val.length > 0 && epoch - bestEpoch >= patience;
      },
    });
    if (val.length)
      layers.forEach((l, i) => {
        l.weights.set(snapshot[i].w);
        l.bias.set(snapshot[i].b);
      });
    // fold the cap into the output layer: the member now predicts cycles
    const last = layers[layers.length - 1];
    for (let i = 0; i < last.weights.length; i++) last.weights[i] *= cap;
    for (let i = 0; i < last.bias.length; i++) last.bias[i] *= cap;
    members.push(layers);
    validationRmse.push(best);
    bestEpochs.push(bestEpoch);
  }
  const model = { window, features: columns.length, members, smoothing };
  const all = rulTrainingSet(engines, columns, window, cap, stride, scaler, firstEnd, aboveCap);
  let se = 0;
  for (let w = 0; w < all.count; w++)
    se += (predictRulCnn(model, all.data.subarray(w * D, (w + 1) * D)) - all.targets[w]) ** 2;
  const bundle: RulCnnBundle = {
    model,
    columns,
    features: columns.map((c) => columnName(c, baseline)),
    scaler,
    scaling,
    windows: all.count,
    trainRmse: Math.sqrt(se / all.count),
    validationRmse,
    bestEpoch: bestEpochs,
    validationEngines: nVal,
    ...(baseline ? { baseline } : {}),
  };
  if (o.lift ?? RUL_DEFAULTS.lift) fitBundleLift(bundle, rawEngines, o);
  return bundle;
}

/**
 * Sets (or clears) `b.lift`, fitted on `rawEngines` (the engines b was trained on): each cut LIFT_CUTS times as
 * the test protocol cuts them (seeded apart from the evaluation's cuts) and scored as the node reports it at
 * the cut, with `o.average`; the lift is fitted on what the net says there, not on its capped targets.
 */
export function fitBundleLift(
  b: RulCnnBundle,
  rawEngines: Engine[],
  o: Pick<RulCnnOptions, 'average' | 'cap' | 'seed'> = {}
): RulCnnBundle {
  const average = o.average ?? RUL_AVERAGE;
  const cases = truncateEngines(rawEngines, LIFT_CUTS, (o.seed ?? 42) + 7919);
  const minHistory = rulMinHistory(b.model.window);
  const preds = cases.map((c) => averagedRul(recentPredictions(b, c.engine, average, minHistory), average));
  const lift = fitRulLift(
    preds,
    cases.map((c) => c.truth),
    o.cap ?? RUL_DEFAULTS.cap
  );
  if (lift) b.lift = lift;
  else delete b.lift;
  return b;
}

/** Protocol cuts per training engine the lift is fitted on (80 engines: 800 cases). */
const LIFT_CUTS = 10;

/**
 * The lift (liftRul) that minimises the squared error of `preds` against `truth`, from a grid: `from` in whole
 * cycles from cap − 40 to cap, `slope` from 1 to 2 in steps of 0.05; undefined when no lift lowers the error
 * (slope 1). Two numbers fitted on hundreds of cases, and only where the predictions are highest: little to
 * overfit, which the holdout checks (docs/onnx-bundles.md, seventh round).
 */
export function fitRulLift(preds: readonly number[], truth: readonly number[], cap: number): RulLift | undefined {
  if (preds.length !== truth.length)
    throw new Error(`rul lift: ${preds.length} predictions for ${truth.length} truths`);
  const sse = (lift: RulLift | undefined) => {
    let e = 0;
    for (let i = 0; i < preds.length; i++) e += (liftRul(lift, preds[i]) - truth[i]) ** 2;
    return e;
  };
  let best: RulLift | undefined;
  let bestErr = sse(undefined);
  for (let from = Math.max(0, Math.round(cap) - 40); from <= Math.round(cap); from++)
    for (let step = 1; step <= 20; step++) {
      const lift = { from, slope: 1 + step * 0.05 };
      const e = sse(lift);
      if (e < bestErr - 1e-9) {
        bestErr = e;
        best = lift;
      }
    }
  return best && { from: best.from, slope: Math.round(best.slope * 100) / 100 };
}

/** The RUL the node reports for an engine's recent predictions: averaged over `average`, then lifted. */
export function reportedRul(b: RulCnnBundle, recent: { cycles: number[]; preds: number[] }, average: number): number {
  return liftRul(b.lift, averagedRul(recent, average));
}

/** Float64 reference of the exported graph for one standardised window. */
export function predictRulCnn(model: RulCnnModel, window: ArrayLike<number>): number {
  let x = window;
  if (model.smoothing !== undefined && model.smoothing < 1) {
    const s = Float64Array.from({ length: model.window * model.features }, (_, i) => window[i]);
    smoothWindows(s, 1, model.window, model.features, model.smoothing);
    x = s;
  }
  let sum = 0;
  for (const layers of model.members) {
    const outs = netForward(layers, x);
    sum += outs[outs.length - 1][0];
  }
  return sum / model.members.length;
}

/**
 * Exponential smoothing of each feature along each of `count` step-major windows, in place. Within the window
 * only (the scorer sends one window at a time), starting from its first step; a linear map of the window, so
 * the ONNX graph carries it as a MatMul (smoothingMatrix).
 */
export function smoothWindows(
  data: Float32Array | Float64Array,
  count: number,
  window: number,
  features: number,
  alpha: number
): void {
  const D = window * features;
  for (let w = 0; w < count; w++)
    for (let f = 0; f < features; f++) {
      let s = data[w * D + f];
      for (let t = 1; t < window; t++) {
        const i = w * D + t * features + f;
        s = alpha * data[i] + (1 - alpha) * s;
        data[i] = s;
      }
    }
}

/** [D, D] matrix M with smoothed = x · M for one flattened window (what smoothWindows computes). */
export function smoothingMatrix(window: number, features: number, alpha: number): Float32Array {
  const D = window * features;
  const M = new Float32Array(D * D);
  for (let t = 0; t < window; t++)
    for (let u = 0; u <= t; u++) {
      // weight of step u in s_t: α(1 − α)^(t − u), except the first step, which carries the rest
      const wgt = u === 0 ? (1 - alpha) ** t : alpha * (1 - alpha) ** (t - u);
      for (let f = 0; f < features; f++) M[(u * features + f) * D + t * features + f] = wgt;
    }
  return M;
}

/**
 * The model's own predictions at the last `count` cycles of an engine, oldest first, with the cycle each was
 * made at; only at cycles where the node scores a device (at least `minHistory` cycles observed, and the whole
 * baseline when the bundle has one; shorter windows padded with the first cycle).
 */
export function recentPredictions(
  b: RulCnnBundle,
  e: Engine,
  count: number,
  minHistory = 1
): { cycles: number[]; preds: number[] } {
  const D = b.model.window * b.model.features;
  const buf = new Float32Array(D);
  if (b.baseline) {
    e = withBaseline(e, b.baseline);
    // the node gives no RUL before a device has its whole baseline (BundleScorer, DeviceBaseline)
    minHistory = Math.max(minHistory, b.baseline.cycles);
  }
  const n = e.rows.length;
  const cycles: number[] = [];
  const preds: number[] = [];
  for (let end = Math.max(0, n - count, Math.min(minHistory, n) - 1); end < n; end++) {
    engineWindow(e.rows, end, b.model.window, b.columns, b.scaler.mean, b.scaler.std, buf, 0);
    cycles.push(e.cycles[end]);
    preds.push(predictRulCnn(b.model, buf));
  }
  return { cycles, preds };
}

/**
 * What the node reports after the last of these predictions with meta.rul_average = k: each pushed in order
 * into the per-device RulAverage the scorer keeps, the last answer.
 */
export function averagedRul(recent: { cycles: number[]; preds: number[] }, k: number): number {
  const avg = new RulAverage(k);
  let out = NaN;
  recent.cycles.forEach((c, i) => (out = avg.push(c, recent.preds[i])));
  return out;
}

/**
 * RUL at the last cycle of each engine (the test protocol), as the node reports it: with `average` k > 1 the
 * temporal mean of the predictions of the engine's last k cycles (those with at least `minHistory` cycles
 * observed), each aged by the cycles since (RulAverage), then lifted by the bundle's lift (liftRul).
 */
export function predictLastCycle(b: RulCnnBundle, engines: Engine[], average = 1, minHistory = 1): number[] {
  return engines.map((e) => reportedRul(b, recentPredictions(b, e, Math.max(1, average), minHistory), average));
}

/**
 * Simulates the test set from run-to-failure engines: each engine cut `cuts` times (seeded) so that between
 * `minRul` and `maxRul` cycles remain and at least `minCycles` are kept, as in the official test files (at
 * least 31 cycles observed; true RUL 7–145 in FD001). The truth is the cycles left after the cut, not capped.
 * Uniform cuts over the whole life would instead put most truths far above the cap, which a capped model
 * cannot reach and the test protocol does not ask for.
 */
export function truncateEngines(
  engines: Engine[],
  cuts: number,
  seed: number,
  o: { minCycles?: number; minRul?: number; maxRul?: number } = {}
): Array<{ engine: Engine; truth: number }> {
  const minCycles = o.minCycles ?? 31;
  const minRul = o.minRul ?? 5;
  const maxRul = o.maxRul ?? 150;
  const rand = mulberry32(seed);
  const out: Array<{ engine: Engine; truth: number }> = [];
  for (const e of engines) {
    const n = e.rows.length;
    const hi = Math.min(maxRul, n - minCycles);
    const lo = Math.min(minRul, Math.max(0, hi));
    for (let c = 0; c < cuts; c++) {
      const truth = hi <= lo ? Math.max(0, hi) : lo + Math.floor(rand() * (hi - lo + 1));
      const keep = n - truth;
      out.push({ engine: { unit: e.unit, rows: e.rows.slice(0, keep), cycles: e.cycles.slice(0, keep) }, truth });
    }
  }
  return out;
}

/**
 * How the exported graph of a bundle trained with an own baseline ('both') computes the offsets itself, so
 * the device sends only its raw sensors and the node keeps the window as without one. The graph's window
 * input x holds the first `inputs` columns (sensors and age, scaled); its second input `base` holds the
 * device's baseline of the `sensors` in the same scaled units as x, (mean of the first B raw rows − scaler
 * mean) / scaler std: values near 0, exact enough in float32, unlike raw readings of ~1500. Each offset
 * column is then (x_s − base_k)·scale_k + shift_k: the raw offset x_raw − base_raw rescaled by the offset
 * column's own scaler, as withBaseline() + the scaler compute it for the trainer and eval:cmapss.
 */
export interface BaselineGraph {
  /** columns of the window input x (the model's columns less the offsets) */
  inputs: number;
  /** positions in x of the baselined sensors, in the order of `base` (the age column is not one) */
  sensors: number[];
  /** x's scaler std of the sensor over the offset column's std */
  scale: number[];
  /** −(offset column's scaler mean) / its std */
  shift: number[];
}

/** The offsets' graph of a bundle trained with an own baseline, or undefined without one. */
export function baselineGraphOf(b: RulCnnBundle): BaselineGraph | undefined {
  if (!b.baseline) return undefined;
  if (b.baseline.mode !== 'both')
    throw new Error(`rul: baseline mode '${b.baseline.mode}' is an eval:cmapss experiment; only 'both' exports`);
  const nS = b.baseline.sensors.length;
  const inputs = b.columns.length - nS;
  const sensors = b.baseline.sensors.map((c) => b.columns.indexOf(c));
  if (sensors.some((j) => j < 0 || j >= inputs)) throw new Error('rul: baseline sensors are not model inputs');
  return {
    inputs,
    sensors,
    scale: sensors.map((j, k) => b.scaler.std[j] / b.scaler.std[inputs + k]),
    shift: sensors.map((_, k) => -b.scaler.mean[inputs + k] / b.scaler.std[inputs + k]),
  };
}

/**
 * Float64 reference of the graph's first step: the model's window (x's columns, then the offsets) from one
 * window x [window × inputs] and the baseline `base` [sensors], both scaled as the node sends them.
 */
export function expandBaselineWindow(
  g: BaselineGraph,
  window: number,
  x: ArrayLike<number>,
  base: ArrayLike<number>
): Float64Array {
  const nI = g.inputs;
  const F = nI + g.sensors.length;
  const out = new Float64Array(window * F);
  for (let t = 0; t < window; t++) {
    for (let j = 0; j < nI; j++) out[t * F + j] = x[t * nI + j];
    g.sensors.forEach((j, k) => (out[t * F + nI + k] = (x[t * nI + j] - base[k]) * g.scale[k] + g.shift[k]));
  }
  return out;
}

/** The device baseline the graph's `base` input takes: raw means of the sensors, scaled like the window. */
export function scaledBaseline(
  rawMeans: ArrayLike<number>,
  sensorColumns: number[],
  scaler: { mean: number[]; std: number[] }
): Float32Array {
  return Float32Array.from(sensorColumns, (j, k) => (rawMeans[k] - scaler.mean[j]) / scaler.std[j]);
}

/**
 * ONNX graph: x [batch, window, features] -> Flatten -> conv stack -> rul [batch]. With `baseline` (a bundle
 * trained with an own baseline) x holds the raw sensors' columns only and a second input `base` [batch,
 * sensors] the device's baseline; the graph appends the offsets (Gather, Sub, Mul, Add, Concat) first.
 */
export function rulCnnToOnnx(model: RulCnnModel, baseline?: BaselineGraph): Uint8Array {
  const g = new OnnxGraphBuilder('moby_rul_cnn');
  let x: string;
  if (baseline) {
    const nS = baseline.sensors.length;
    if (baseline.inputs + nS !== model.features)
      throw new Error(`rul: ${baseline.inputs} inputs + ${nS} offsets for a model of ${model.features} features`);
    const xin = g.input(RUL_CNN_INPUT, ['batch', model.window, baseline.inputs]);
    const base = g.input(RUL_BASELINE_INPUT, ['batch', nS]);
    const sensors = g.op('Gather', [xin, g.int64Constant('sensors', baseline.sensors)], undefined, { axis: 2 });
    // [batch, sensors] -> [batch, 1, sensors], broadcast over the window's steps
    const base3 = g.op('Reshape', [base, g.int64Constant('base_shape', [0, 1, nS])]);
    const off = g.op('Mul', [g.op('Sub', [sensors, base3]), g.constant('off_scale', baseline.scale, [nS])]);
    const offScaled = g.op('Add', [off, g.constant('off_shift', baseline.shift, [nS])]);
    x = g.op('Concat', [xin, offScaled], undefined, { axis: 2 });
  } else x = g.input(RUL_CNN_INPUT, ['batch', model.window, model.features]);
  let flat = g.op('Flatten', [x], undefined, { axis: 1 });
  if (model.smoothing !== undefined && model.smoothing < 1) {
    const D = model.window * model.features;
    flat = g.op('MatMul', [
      flat,
      g.constant('smooth', smoothingMatrix(model.window, model.features, model.smoothing), [D, D]),
    ]);
  }
  // members side by side, [batch, 1] each; their mean folds into the last MatMul, which also drops the axis
  // ([batch, 1] -> [batch]) without Reshape/Squeeze
  const outs = model.members.map((layers) => netToGraph(g, layers, flat));
  const n = outs.length;
  const joined = n === 1 ? outs[0] : g.op('Concat', outs, undefined, { axis: 1 });
  g.op('MatMul', [joined, g.constant('mean', new Array(n).fill(1 / n), [n])], 'rul');
  g.output('rul', ['batch']);
  return g.toBytes(
    `windowed 1-D CNN remaining-useful-life regression, mean of ${n} (${describeNet(model.members[0]).join('; ')}) exported by moby-train`
  );
}
