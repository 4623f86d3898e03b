// Windowed 1-D CNN for remaining useful life (C-MAPSS protocol): standardised informative sensors over a
// 30-cycle window -> three same-padded convolutions along time -> dense -> RUL. Trained on the capped
// piece-wise linear target divided by the cap (outputs near 1 keep Adam's steps well scaled); the cap is
// folded back into the last layer before export, so the ONNX model outputs cycles directly.
import { OnnxGraphBuilder } from './onnx-builder';
import { buildNet, describeNet, fitNet, netForward, netToGraph, type Activation, type LayerSpec, type TapLayer } from './convnet';
import { engineWindow, informativeSensors, rulTargets, columnName, type Engine } from './cmapss';
import { mulberry32, shuffleInPlace } from '../../prng';

export const RUL_CNN_INPUT = 'x';

export interface RulCnnModel {
  window: number;
  features: number;
  layers: TapLayer[];
}

export interface RulCnnOptions {
  window?: number;
  cap?: number;
  epochs?: number;
  filters?: number;
  kernel?: number;
  dense?: number;
  convLayers?: number;
  activation?: Activation;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
  /** every engine's windows start every `stride` cycles (1 = all windows) */
  stride?: number;
  /** share of engines held out to pick the epoch (early stopping); 0 trains on all for `epochs` */
  validation?: number;
  /** stop after this many epochs without a better validation RMSE */
  patience?: number;
  onEpoch?: (epoch: number, loss: number, validationRmse: number) => void;
}

export const RUL_DEFAULTS = { window: 30, cap: 125, epochs: 30, filters: 10, kernel: 9, convLayers: 3, dense: 64, activation: 'tanh' as Activation, learningRate: 2e-3, batchSize: 64, validation: 0.1, patience: 5 };

export interface RulCnnBundle {
  model: RulCnnModel;
  /** sensor column indices (into Engine.rows) and their names */
  columns: number[];
  features: string[];
  scaler: { mean: number[]; std: number[] };
  windows: number;
  trainRmse: number;
  /** best validation RMSE (cycles, capped target) and its epoch; Infinity / last epoch without validation */
  validationRmse: number;
  bestEpoch: number;
  validationEngines: number;
}

export function buildRulCnn(window: number, features: number, o: RulCnnOptions = {}): TapLayer[] {
  const f = o.filters ?? RUL_DEFAULTS.filters;
  const k = o.kernel ?? RUL_DEFAULTS.kernel;
  const act = o.activation ?? RUL_DEFAULTS.activation;
  const convs = o.convLayers ?? RUL_DEFAULTS.convLayers;
  // 'same' padding keeps every layer 30 steps long (an odd-sized window is padded one step more at the end)
  const padL = (k - 1) >> 1;
  const specs: LayerSpec[] = [];
  for (let i = 0; i < convs; i++) specs.push({ type: 'conv', out: f, kernel: k, stride: 1, pad: padL, activation: act });
  // one output channel before the dense layer: a 30-value bottleneck (as in Li et al.'s DCNN) instead of
  // 30 × filters values, which let the dense layer memorise individual engines
  specs.push({ type: 'conv', out: 1, kernel: 3, stride: 1, pad: 1, activation: act });
  specs.push({ type: 'dense', out: o.dense ?? RUL_DEFAULTS.dense, activation: act });
  specs.push({ type: 'dense', out: 1, activation: 'linear' });
  return buildNet(window, features, specs, o.seed ?? 42);
}

/** Standardisation and every training window (ending at each cycle ≥ window − 1) of the given engines. */
export function rulTrainingSet(engines: Engine[], columns: number[], window: number, cap: number, stride = 1) {
  const F = columns.length;
  const mean = new Array<number>(F).fill(0);
  const std = new Array<number>(F).fill(0);
  let n = 0;
  for (const e of engines) for (const r of e.rows) {
    n++;
    columns.forEach((c, j) => (mean[j] += r[c]));
  }
  for (let j = 0; j < F; j++) mean[j] /= n;
  for (const e of engines) for (const r of e.rows) columns.forEach((c, j) => (std[j] += (r[c] - mean[j]) ** 2));
  for (let j = 0; j < F; j++) std[j] = Math.sqrt(std[j] / Math.max(1, n - 1)) || 1;
  const ends: Array<[Engine, number, number]> = [];
  for (const e of engines) {
    const y = rulTargets(e, cap);
    for (let end = Math.min(window - 1, e.rows.length - 1); end < e.rows.length; end += stride) ends.push([e, end, y[end]]);
  }
  const D = window * F;
  const data = new Float32Array(ends.length * D);
  const targets = new Float32Array(ends.length);
  ends.forEach(([e, end, y], w) => {
    engineWindow(e.rows, end, window, columns, mean, std, data, w * D);
    targets[w] = y;
  });
  return { data, targets, count: ends.length, scaler: { mean, std } };
}

/**
 * Fits the CNN on run-to-failure engines. A seeded share of the engines (`validation`, default 10 %, at least
 * one) is kept out of training and scored after every epoch; the weights of the epoch with the lowest
 * validation RMSE are kept and training stops after `patience` epochs without improvement. Without it the
 * network keeps lowering its training error by memorising engines (training RMSE 3, held-out 24 cycles).
 */
export function trainRulCnn(engines: Engine[], o: RulCnnOptions = {}): RulCnnBundle {
  const window = o.window ?? RUL_DEFAULTS.window;
  const cap = o.cap ?? RUL_DEFAULTS.cap;
  const columns = informativeSensors(engines);
  const share = o.validation ?? RUL_DEFAULTS.validation;
  const rand = mulberry32((o.seed ?? 42) + 17);
  const order = engines.map((_, i) => i);
  shuffleInPlace(order, rand);
  const nVal = share > 0 && engines.length >= 2 ? Math.max(1, Math.round(engines.length * share)) : 0;
  const valEngines = order.slice(0, nVal).map((i) => engines[i]);
  const fitEngines = order.slice(nVal).map((i) => engines[i]);
  const set = rulTrainingSet(fitEngines, columns, window, cap, o.stride ?? 1);
  const scaled = set.targets.map((y) => y / cap);
  const layers = buildRulCnn(window, columns.length, o);
  const D = window * columns.length;
  // validation windows standardised with the training scaler, every cycle of the held-out engines
  const val: Array<{ x: Float32Array; y: number }> = [];
  for (const e of valEngines) {
    const y = rulTargets(e, cap);
    for (let end = Math.min(window - 1, e.rows.length - 1); end < e.rows.length; end++) {
      const x = new Float32Array(D);
      engineWindow(e.rows, end, window, columns, set.scaler.mean, set.scaler.std, x, 0);
      val.push({ x, y: y[end] });
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
    finalLrShare: 0.1,
    seed: o.seed,
    onEpoch: (epoch, loss) => {
      let valRmse = NaN;
      if (val.length) {
        let se = 0;
        for (const v of val) se += (cap * predictRulCnn({ window, features: columns.length, layers }, v.x) - v.y) ** 2;
        valRmse = Math.sqrt(se / val.length);
        if (valRmse < best) {
          best = valRmse;
          bestEpoch = epoch;
          snapshot = layers.map((l) => ({ w: l.weights.slice(), b: l.bias.slice() }));
        }
      } else bestEpoch = epoch;
      o.onEpoch?.(epoch, loss, valRmse);
      return val.length > 0 && epoch - bestEpoch >= patience;
    },
  });
  if (val.length) layers.forEach((l, i) => {
    l.weights.set(snapshot[i].w);
    l.bias.set(snapshot[i].b);
  });
  // fold the cap into the output layer: the model now predicts cycles
  const last = layers[layers.length - 1];
  for (let i = 0; i < last.weights.length; i++) last.weights[i] *= cap;
  for (let i = 0; i < last.bias.length; i++) last.bias[i] *= cap;
  const model = { window, features: columns.length, layers };
  let se = 0;
  for (let w = 0; w < set.count; w++) se += (predictRulCnn(model, set.data.subarray(w * D, (w + 1) * D)) - set.targets[w]) ** 2;
  return { model, columns, features: columns.map(columnName), scaler: set.scaler, windows: set.count, trainRmse: Math.sqrt(se / set.count), validationRmse: best, bestEpoch, validationEngines: valEngines.length };
}

/** Float64 reference of the exported graph for one standardised window. */
export function predictRulCnn(model: RulCnnModel, window: ArrayLike<number>): number {
  const outs = netForward(model.layers, window);
  return outs[outs.length - 1][0];
}

/** RUL at the last cycle of each engine (the test protocol). */
export function predictLastCycle(b: RulCnnBundle, engines: Engine[]): number[] {
  const D = b.model.window * b.model.features;
  const buf = new Float32Array(D);
  return engines.map((e) => {
    engineWindow(e.rows, e.rows.length - 1, b.model.window, b.columns, b.scaler.mean, b.scaler.std, buf, 0);
    return predictRulCnn(b.model, buf);
  });
}

/**
 * Simulates the test set from run-to-failure engines: each engine cut `cuts` times (seeded) so that between
 * `minRul` and `maxRul` cycles remain and at least `minCycles` are kept, as in the official test files (at
 * least 31 cycles observed; true RUL 7–145 in FD001). The truth is the cycles left after the cut, not capped.
 * Uniform cuts over the whole life would instead put most truths far above the cap, which a capped model
 * cannot reach and the test protocol does not ask for.
 */
export function truncateEngines(engines: Engine[], cuts: number, seed: number, o: { minCycles?: number; minRul?: number; maxRul?: number } = {}): Array<{ engine: Engine; truth: number }> {
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

/** ONNX graph: x [batch, window, features] -> Flatten -> conv stack -> rul [batch]. */
export function rulCnnToOnnx(model: RulCnnModel): Uint8Array {
  const g = new OnnxGraphBuilder('moby_rul_cnn');
  const x = g.input(RUL_CNN_INPUT, ['batch', model.window, model.features]);
  const flat = g.op('Flatten', [x], undefined, { axis: 1 });
  const out = netToGraph(g, model.layers, flat);
  // [batch, 1] -> [batch]: a MatMul with a one-element vector drops the axis without Reshape/Squeeze
  g.op('MatMul', [out, g.constant('squeeze', [1], [1])], 'rul');
  g.output('rul', ['batch']);
  return g.toBytes(`windowed 1-D CNN remaining-useful-life regression (${describeNet(model.layers).join('; ')}) exported by moby-train`);
}
