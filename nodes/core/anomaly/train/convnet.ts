// A small 1-D convolutional network with hand-written gradients and Adam, on plain typed arrays: enough for
// the convolutional autoencoder (SKAB) and the windowed RUL regressor (C-MAPSS) moby-train exports, without
// a deep-learning dependency.
//
// Every layer is one "tap layer": out[to, co] = act(b[co] + Σ_(to,ti,k) Σ_ci W[k, ci, co] · in[ti, ci]), where
// the list of (to, ti, k) taps encodes the layer type:
//   conv    ti = to·stride + k − pad            (strided 1-D convolution, cross-correlation like ONNX Conv)
//   deconv  to = ti·stride + k − pad            (transposed convolution, the decoder's upsampling)
//   dense   to = 0, ti = k for every step       (fully connected over the whole window)
// The ONNX export expands each layer into the equivalent (banded) MatMul, so the graph keeps moby-train's
// plain op subset. Values are step-major, x[t·C + c], the same layout the scorer feeds the model. Training
// runs conv and dense layers as contiguous dot products over float64 copies of the weights (see TrainLayer);
// transposed convolutions go through the tap list.
import { gaussian, mulberry32, shuffleInPlace } from '../../prng';
import { OnnxGraphBuilder } from './onnx-builder';

export type Activation = 'relu' | 'tanh' | 'linear';
export type LayerType = 'conv' | 'deconv' | 'dense';

export interface TapLayer {
  type: LayerType;
  tIn: number;
  cIn: number;
  tOut: number;
  cOut: number;
  kernel: number;
  stride: number;
  pad: number;
  activation: Activation;
  /** share of this layer's inputs zeroed at random while training (inverted dropout: identity at inference) */
  dropout?: number;
  /** kernel × cIn × cOut, index (k·cIn + ci)·cOut + co */
  weights: Float32Array;
  bias: Float32Array;
}

export interface LayerSpec {
  type: LayerType;
  /** output channels (dense: units) */
  out: number;
  kernel?: number;
  stride?: number;
  pad?: number;
  activation: Activation;
  /** dropout on the layer's input while training (0–1) */
  dropout?: number;
}

/** Output length of a layer for an input of tIn steps. */
export function outLength(type: LayerType, tIn: number, kernel: number, stride: number, pad: number): number {
  if (type === 'dense') return 1;
  if (type === 'conv') return Math.floor((tIn + 2 * pad - kernel) / stride) + 1;
  return (tIn - 1) * stride + kernel - 2 * pad;
}

/** Builds layers for an input of `steps` × `channels`, He/Glorot-initialised from a seeded PRNG. */
export function buildNet(steps: number, channels: number, specs: LayerSpec[], seed: number): TapLayer[] {
  const rand = mulberry32(seed);
  const layers: TapLayer[] = [];
  let t = steps;
  let c = channels;
  for (const s of specs) {
    const kernel = s.type === 'dense' ? t : (s.kernel ?? 3);
    const stride = s.type === 'dense' ? 1 : (s.stride ?? 1);
    const pad = s.type === 'dense' ? 0 : (s.pad ?? 0);
    const tOut = outLength(s.type, t, kernel, stride, pad);
    if (!(tOut >= 1)) throw new Error(`convnet: layer ${layers.length} (${s.type}) leaves no output steps from ${t}`);
    const fanIn = kernel * c;
    // He for ReLU keeps activations from dying out through the stack; Glorot-like for tanh/linear
    const sd = s.activation === 'relu' ? Math.sqrt(2 / fanIn) : Math.sqrt(2 / (fanIn + s.out));
    const weights = new Float32Array(kernel * c * s.out);
    for (let i = 0; i < weights.length; i++) weights[i] = gaussian(rand) * sd;
    layers.push({
      type: s.type,
      tIn: t,
      cIn: c,
      tOut,
      cOut: s.out,
      kernel,
      stride,
      pad,
      activation: s.activation,
      ...(s.dropout ? { dropout: s.dropout } : {}),
      weights,
      bias: new Float32Array(s.out),
    });
    t = tOut;
    c = s.out;
  }
  return layers;
}

const tapCache = new WeakMap<TapLayer, Int32Array>();

/** (to, ti, k) triples of a layer, in a flat Int32Array. */
export function taps(l: TapLayer): Int32Array {
  const hit = tapCache.get(l);
  if (hit) return hit;
  const out: number[] = [];
  if (l.type === 'dense') for (let t = 0; t < l.tIn; t++) out.push(0, t, t);
  else if (l.type === 'conv') {
    for (let to = 0; to < l.tOut; to++)
      for (let k = 0; k < l.kernel; k++) {
        const ti = to * l.stride + k - l.pad;
        if (ti >= 0 && ti < l.tIn) out.push(to, ti, k);
      }
  } else {
    for (let ti = 0; ti < l.tIn; ti++)
      for (let k = 0; k < l.kernel; k++) {
        const to = ti * l.stride + k - l.pad;
        if (to >= 0 && to < l.tOut) out.push(to, ti, k);
      }
  }
  const arr = Int32Array.from(out);
  tapCache.set(l, arr);
  return arr;
}

type Vec = Float32Array | Float64Array;

/**
 * First input step, first kernel tap and number of contiguous input values a conv/dense output step `to`
 * reads. In the step-major layout a conv output step sees one contiguous run of (kHi − kLo)·cIn inputs, the
 * same run the weights hold for taps kLo…kHi−1, so each output is a single dot product (the padding only
 * shortens the run at the edges).
 */
function convSpan(l: TapLayer, to: number): { xs: number; ws: number; len: number } {
  const t0 = to * l.stride - l.pad;
  const kLo = t0 < 0 ? -t0 : 0;
  const kHi = Math.min(l.kernel, l.tIn - t0);
  return { xs: (t0 + kLo) * l.cIn, ws: kLo * l.cIn, len: Math.max(0, kHi - kLo) * l.cIn };
}

/** One sample through one layer: x (tIn·cIn values from xo) -> y (tOut·cOut values). */
export function layerForward(l: TapLayer, x: ArrayLike<number>, xo: number, y: Vec): void {
  const { cOut, tOut, weights: W, bias } = l;
  if (l.type !== 'deconv') {
    for (let to = 0; to < tOut; to++) {
      const { xs, ws, len } = convSpan(l, to);
      for (let co = 0; co < cOut; co++) {
        let s = bias[co];
        for (let j = 0; j < len; j++) s += x[xo + xs + j] * W[(ws + j) * cOut + co];
        y[to * cOut + co] = s;
      }
    }
  } else tapsForward(l, W, bias, x, xo, y);
  activate(l.activation, y, tOut * cOut);
}

/** Pre-activation output of a layer through its tap list (export weight layout). */
function tapsForward(l: TapLayer, W: Vec, bias: Vec, x: ArrayLike<number>, xo: number, y: Vec): void {
  const { cIn, cOut, tOut } = l;
  for (let t = 0; t < tOut; t++) for (let co = 0; co < cOut; co++) y[t * cOut + co] = bias[co];
  const tp = taps(l);
  for (let p = 0; p < tp.length; p += 3) {
    const yb = tp[p] * cOut;
    const xb = xo + tp[p + 1] * cIn;
    const wb = tp[p + 2] * cIn * cOut;
    for (let ci = 0; ci < cIn; ci++) {
      const a = x[xb + ci];
      if (a === 0) continue;
      const wr = wb + ci * cOut;
      for (let co = 0; co < cOut; co++) y[yb + co] += a * W[wr + co];
    }
  }
}

function activate(act: Activation, y: Vec, n: number): void {
  if (act === 'relu') for (let i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
  else if (act === 'tanh') for (let i = 0; i < n; i++) y[i] = Math.tanh(y[i]);
}

/** Reference forward pass in float64 of one sample; returns every layer's output (the last is the net's). */
export function netForward(layers: TapLayer[], x: ArrayLike<number>): Float64Array[] {
  const outs: Float64Array[] = [];
  let cur: ArrayLike<number> = x;
  for (const l of layers) {
    const y = new Float64Array(l.tOut * l.cOut);
    layerForward(l, cur, 0, y);
    outs.push(y);
    cur = y;
  }
  return outs;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** L2 penalty on weights (not biases), added to the gradient */
  weightDecay?: number;
  seed?: number;
  /** the learning rate decays to this share of itself by the last epoch (default 1 = constant) */
  finalLrShare?: number;
  /** shape of that decay: a straight line (default) or half a cosine (slow start, slow end) */
  schedule?: 'linear' | 'cosine';
  /** per-sample weight of the squared error (default 1 each); the loss reported is weighted the same way */
  sampleWeights?: ArrayLike<number>;
  /** called after each epoch with the mean training loss; returning true stops training */
  onEpoch?: (epoch: number, loss: number) => boolean | void;
}

type F64 = Float64Array;

/**
 * Training-time copy of a layer, in float64 (no float32 conversion on every load and store of the inner
 * loops). Conv and dense weights are kept transposed, [co][k·cIn + ci], so an output's dot product, its
 * weight gradient and its input gradient each run over one contiguous row of kernel·cIn values (140 in the
 * RUL net's first layer) rather than the cOut-long inner loops of the export layout. Transposed convolutions
 * (only in the small conv autoencoder) keep the export layout and the tap list. The layers' own Float32
 * arrays get the weights back after every epoch (syncLayers).
 */
interface TrainLayer {
  l: TapLayer;
  w: F64;
  b: F64;
  /** kernel·cIn: length of one transposed row */
  K: number;
  transposed: boolean;
  /** per output step: input start, weight start and run length (see convSpan) */
  spans: Int32Array;
}

function trainLayers(layers: TapLayer[]): TrainLayer[] {
  return layers.map((l) => {
    const transposed = l.type !== 'deconv';
    const spans = new Int32Array(l.tOut * 3);
    if (transposed)
      for (let to = 0; to < l.tOut; to++) {
        const { xs, ws, len } = convSpan(l, to);
        spans.set([xs, ws, len], to * 3);
      }
    const t = {
      l,
      w: new Float64Array(l.weights.length),
      b: Float64Array.from(l.bias),
      K: l.kernel * l.cIn,
      transposed,
      spans,
    };
    if (transposed) toTrainLayout(t, l.weights, t.w);
    else t.w.set(l.weights);
    return t;
  });
}

/** export layout [(k·cIn + ci)·cOut + co] -> training layout [co·K + k·cIn + ci] */
function toTrainLayout(t: TrainLayer, from: Vec, to: Vec): void {
  const { K } = t;
  const cOut = t.l.cOut;
  for (let j = 0; j < K; j++) for (let co = 0; co < cOut; co++) to[co * K + j] = from[j * cOut + co];
}

function toExportLayout(t: TrainLayer, from: Vec, to: Vec): void {
  const { K } = t;
  const cOut = t.l.cOut;
  for (let j = 0; j < K; j++) for (let co = 0; co < cOut; co++) to[j * cOut + co] = from[co * K + j];
}

/** Writes the trained weights back into the layers (their Float32 export layout). */
function syncLayers(tl: TrainLayer[]): void {
  for (const t of tl) {
    if (t.transposed) toExportLayout(t, t.w, t.l.weights);
    else t.l.weights.set(t.w);
    t.l.bias.set(t.b);
  }
}

/**
 * Minimises the mean squared error between the net's output and `targets` (count × outSize; for an
 * autoencoder pass the inputs themselves) with Adam over shuffled mini-batches. Mutates `layers`.
 */
export function fitNet(
  layers: TapLayer[],
  inputs: Float32Array,
  targets: Float32Array,
  count: number,
  opts: FitOptions = {}
): number {
  const L = layers.length;
  const inSize = layers[0].tIn * layers[0].cIn;
  const outSize = layers[L - 1].tOut * layers[L - 1].cOut;
  if (inputs.length !== count * inSize)
    throw new Error(`convnet: ${inputs.length} input values is not ${count} × ${inSize}`);
  if (targets.length !== count * outSize)
    throw new Error(`convnet: ${targets.length} target values is not ${count} × ${outSize}`);
  const epochs = opts.epochs ?? 30;
  const B = Math.max(1, Math.min(opts.batchSize ?? 32, count));
  const lr0 = opts.learningRate ?? 1e-3;
  const wd = opts.weightDecay ?? 0;
  const finalShare = opts.finalLrShare ?? 1;
  const cosine = opts.schedule === 'cosine';
  const rand = mulberry32((opts.seed ?? 42) ^ 0x5bd1e995);
  const tl = trainLayers(layers);
  const s = scratch(layers);
  const drop = layers.some((l) => l.dropout)
    ? {
        rand: mulberry32((opts.seed ?? 42) ^ 0x2545f491),
        mask: layers.map((l) => new Float64Array(l.dropout ? l.tIn * l.cIn : 0)),
      }
    : undefined;
  const mW = layers.map((l) => new Float64Array(l.weights.length));
  const vW = layers.map((l) => new Float64Array(l.weights.length));
  const mB = layers.map((l) => new Float64Array(l.bias.length));
  const vB = layers.map((l) => new Float64Array(l.bias.length));
  const sw = opts.sampleWeights;
  if (sw && sw.length !== count) throw new Error(`convnet: ${sw.length} sample weights for ${count} samples`);
  const order = Array.from({ length: count }, (_, i) => i);
  let step = 0;
  let lastLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const progress = epochs > 1 ? epoch / (epochs - 1) : 0;
    const lr = cosine
      ? lr0 * (finalShare + ((1 - finalShare) * (1 + Math.cos(Math.PI * progress))) / 2)
      : lr0 * (1 - (1 - finalShare) * progress);
    shuffleInPlace(order, rand);
    let lossSum = 0;
    for (let start = 0; start < count; start += B) {
      const nb = Math.min(B, count - start);
      for (let li = 0; li < L; li++) {
        s.gW[li].fill(0);
        s.gB[li].fill(0);
      }
      for (let r = 0; r < nb; r++) {
        const i = order[start + r];
        const wi = sw ? sw[i] : 1;
        lossSum +=
          wi * sampleBackprop(tl, inputs, i * inSize, targets, i * outSize, (2 * wi) / (nb * outSize), s, drop);
      }
      step++;
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (let li = 0; li < L; li++) {
        const w = tl[li].w;
        if (wd > 0) {
          const g = s.gW[li];
          for (let i = 0; i < w.length; i++) g[i] += wd * w[i];
        }
        adam(w, s.gW[li], mW[li], vW[li], lr, c1, c2);
        adam(tl[li].b, s.gB[li], mB[li], vB[li], lr, c1, c2);
      }
    }
    lastLoss = lossSum / (count * outSize);
    // the callback may read the layers (validation): give it this epoch's weights
    syncLayers(tl);
    if (opts.onEpoch?.(epoch + 1, lastLoss) === true) break;
  }
  syncLayers(tl);
  return lastLoss;
}

/** Per-layer float64 buffers of one forward/backward pass, allocated once per fit (none per sample). */
interface Scratch {
  /** xIn[li]: layer li's input (xIn[0] a copy of the sample, xIn[li + 1] layer li's output, after dropout) */
  xIn: F64[];
  /** layer outputs before dropout (the next layer reads xIn, which equals it without dropout) */
  acts: F64[];
  deltas: F64[];
  dIn: F64[];
  /** gradients in the training layout */
  gW: F64[];
  gB: F64[];
}

function scratch(layers: TapLayer[]): Scratch {
  const acts = layers.map((l) => new Float64Array(l.tOut * l.cOut));
  return {
    xIn: layers.map((l, i) => (i > 0 && !l.dropout ? acts[i - 1] : new Float64Array(l.tIn * l.cIn))),
    acts,
    deltas: layers.map((l) => new Float64Array(l.tOut * l.cOut)),
    dIn: layers.map((l) => new Float64Array(l.tIn * l.cIn)),
    gW: layers.map((l) => new Float64Array(l.weights.length)),
    gB: layers.map((l) => new Float64Array(l.bias.length)),
  };
}

interface Dropout {
  rand: () => number;
  /** per layer: the mask of its input (0 or 1 / (1 − p)); empty without dropout */
  mask: F64[];
}

/**
 * Forward and backward pass of one sample: adds dLoss/dW and dLoss/db (loss = scale/2 · squared error summed
 * over the outputs) into s.gW/s.gB and returns the sample's squared error.
 */
function sampleBackprop(
  tl: TrainLayer[],
  inputs: ArrayLike<number>,
  xo: number,
  targets: ArrayLike<number>,
  to: number,
  scale: number,
  s: Scratch,
  drop?: Dropout
): number {
  const L = tl.length;
  const { acts, deltas, dIn, xIn } = s;
  const x0 = xIn[0];
  for (let i = 0; i < x0.length; i++) x0[i] = inputs[xo + i];
  for (let li = 0; li < L; li++) {
    const t = tl[li];
    const x = xIn[li];
    const p = t.l.dropout;
    if (p) {
      const prev = li === 0 ? x0 : acts[li - 1];
      const mask = drop?.mask[li];
      // inverted dropout while training; without a Dropout (gradient checks) the layer passes its input through
      for (let i = 0; i < x.length; i++) {
        const m = mask ? (mask[i] = drop!.rand() < p ? 0 : 1 / (1 - p)) : 1;
        x[i] = prev[i] * m;
      }
    }
    if (t.transposed) forwardTransposed(t, x, acts[li]);
    else {
      tapsForward(t.l, t.w, t.b, x, 0, acts[li]);
      activate(t.l.activation, acts[li], acts[li].length);
    }
  }
  const out = acts[L - 1];
  const d = deltas[L - 1];
  let se = 0;
  for (let i = 0; i < out.length; i++) {
    const diff = out[i] - targets[to + i];
    se += diff * diff;
    d[i] = diff * scale;
  }
  for (let li = L - 1; li >= 0; li--) {
    const t = tl[li];
    const l = t.l;
    const delta = deltas[li];
    const a = acts[li];
    const n = delta.length;
    if (l.activation === 'relu') for (let i = 0; i < n; i++) delta[i] = a[i] > 0 ? delta[i] : 0;
    else if (l.activation === 'tanh') for (let i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i];
    // the first layer's input gradient is never used: skipping it saves a third of its work
    const dX = li > 0 ? dIn[li] : null;
    if (t.transposed) backwardTransposed(t, xIn[li], delta, s.gW[li], s.gB[li], dX);
    else backwardTaps(t, xIn[li], delta, s.gW[li], s.gB[li], dX);
    if (dX) {
      const mask = drop?.mask[li];
      const prev = deltas[li - 1];
      if (l.dropout && mask) for (let i = 0; i < prev.length; i++) prev[i] = dX[i] * mask[i];
      else prev.set(dX);
    }
  }
  return se;
}

/** Conv/dense forward over the transposed weights: one contiguous dot product per output. */
function forwardTransposed(t: TrainLayer, x: F64, y: F64): void {
  const { l, w, b, K, spans } = t;
  const { cOut, tOut } = l;
  for (let to = 0; to < tOut; to++) {
    const xs = spans[to * 3];
    const ws = spans[to * 3 + 1];
    const len = spans[to * 3 + 2];
    let co = 0;
    // two output channels at a time share each input load; two partial sums each, as one running sum would
    // wait on every add's latency
    for (; co + 1 < cOut; co += 2) {
      const w0 = co * K + ws;
      const w1 = w0 + K;
      let a0 = 0;
      let a1 = 0;
      let b0 = 0;
      let b1 = 0;
      let j = 0;
      for (; j + 1 < len; j += 2) {
        const x0 = x[xs + j];
        const x1 = x[xs + j + 1];
        a0 += x0 * w[w0 + j];
        a1 += x1 * w[w0 + j + 1];
        b0 += x0 * w[w1 + j];
        b1 += x1 * w[w1 + j + 1];
      }
      if (j < len) {
        a0 += x[xs + j] * w[w0 + j];
        b0 += x[xs + j] * w[w1 + j];
      }
      y[to * cOut + co] = b[co] + (a0 + a1);
      y[to * cOut + co + 1] = b[co + 1] + (b0 + b1);
    }
    if (co < cOut) {
      const wb = co * K + ws;
      let s0 = 0;
      let s1 = 0;
      let j = 0;
      for (; j + 1 < len; j += 2) {
        s0 += x[xs + j] * w[wb + j];
        s1 += x[xs + j + 1] * w[wb + j + 1];
      }
      if (j < len) s0 += x[xs + j] * w[wb + j];
      y[to * cOut + co] = b[co] + (s0 + s1);
    }
  }
  activate(l.activation, y, tOut * cOut);
}

/**
 * Gradients of a conv/dense layer in the transposed layout; dX (when given) gets dLoss/dInput. Output
 * channels go in pairs, so each input value and input-gradient slot is loaded once for two weight rows.
 */
function backwardTransposed(t: TrainLayer, x: F64, dY: F64, gW: F64, gB: F64, dX: F64 | null): void {
  const { l, w, K, spans } = t;
  const { cOut, tOut } = l;
  if (dX) dX.fill(0);
  for (let to = 0; to < tOut; to++) {
    const xs = spans[to * 3];
    const ws = spans[to * 3 + 1];
    const len = spans[to * 3 + 2];
    const yb = to * cOut;
    let co = 0;
    for (; co + 1 < cOut; co += 2) {
      const d0 = dY[yb + co];
      const d1 = dY[yb + co + 1];
      gB[co] += d0;
      gB[co + 1] += d1;
      const w0 = co * K + ws;
      const w1 = w0 + K;
      if (dX)
        for (let j = 0; j < len; j++) {
          const xv = x[xs + j];
          gW[w0 + j] += d0 * xv;
          gW[w1 + j] += d1 * xv;
          dX[xs + j] += d0 * w[w0 + j] + d1 * w[w1 + j];
        }
      else
        for (let j = 0; j < len; j++) {
          const xv = x[xs + j];
          gW[w0 + j] += d0 * xv;
          gW[w1 + j] += d1 * xv;
        }
    }
    if (co < cOut) {
      const d = dY[yb + co];
      gB[co] += d;
      const wb = co * K + ws;
      if (dX)
        for (let j = 0; j < len; j++) {
          gW[wb + j] += d * x[xs + j];
          dX[xs + j] += d * w[wb + j];
        }
      else for (let j = 0; j < len; j++) gW[wb + j] += d * x[xs + j];
    }
  }
}

/** Gradients of a layer through its tap list (transposed convolutions, export layout). */
function backwardTaps(t: TrainLayer, x: F64, dY: F64, gW: F64, gB: F64, dX: F64 | null): void {
  const { l, w: W } = t;
  const { cIn, cOut, tOut } = l;
  for (let i = 0; i < tOut; i++) for (let co = 0; co < cOut; co++) gB[co] += dY[i * cOut + co];
  if (dX) dX.fill(0);
  const tp = taps(l);
  for (let p = 0; p < tp.length; p += 3) {
    const yb = tp[p] * cOut;
    const ti = tp[p + 1];
    const xb = ti * cIn;
    const wb = tp[p + 2] * cIn * cOut;
    for (let ci = 0; ci < cIn; ci++) {
      const a = x[xb + ci];
      const wr = wb + ci * cOut;
      let s = 0;
      for (let co = 0; co < cOut; co++) {
        const d = dY[yb + co];
        gW[wr + co] += a * d;
        s += W[wr + co] * d;
      }
      if (dX) dX[xb + ci] += s;
    }
  }
}

/**
 * Gradients of the mean squared error of one sample, in the layers' export layout (for tests: checked
 * against finite differences through the code path training uses; dropout layers pass their input through).
 */
export function sampleGradients(
  layers: TapLayer[],
  x: ArrayLike<number>,
  target: ArrayLike<number>
): { loss: number; gW: Float32Array[]; gB: Float32Array[] } {
  const tl = trainLayers(layers);
  const s = scratch(layers);
  const n = target.length;
  const se = sampleBackprop(tl, x, 0, target, 0, 2 / n, s);
  const gW = tl.map((t, i) => {
    const g = new Float32Array(t.l.weights.length);
    if (t.transposed) toExportLayout(t, s.gW[i], g);
    else g.set(s.gW[i]);
    return g;
  });
  return { loss: se / n, gW, gB: s.gB.map((g) => Float32Array.from(g)) };
}

function adam(p: F64, g: F64, m: F64, v: F64, lr: number, c1: number, c2: number): void {
  for (let i = 0; i < p.length; i++) {
    m[i] = 0.9 * m[i] + 0.1 * g[i];
    v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
    p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + 1e-8);
  }
}

/** Dense [tIn·cIn, tOut·cOut] matrix equivalent to a tap layer (what the ONNX MatMul carries). */
export function denseMatrix(l: TapLayer): Float32Array {
  const M = new Float32Array(l.tIn * l.cIn * l.tOut * l.cOut);
  const cols = l.tOut * l.cOut;
  const tp = taps(l);
  for (let p = 0; p < tp.length; p += 3) {
    const [to, ti, k] = [tp[p], tp[p + 1], tp[p + 2]];
    for (let ci = 0; ci < l.cIn; ci++)
      for (let co = 0; co < l.cOut; co++)
        M[(ti * l.cIn + ci) * cols + to * l.cOut + co] += l.weights[(k * l.cIn + ci) * l.cOut + co];
  }
  return M;
}

/** Appends the net to a graph: `x` is a [batch, tIn·cIn] tensor; returns the [batch, tOut·cOut] output name. */
export function netToGraph(g: OnnxGraphBuilder, layers: TapLayer[], x: string, lastName?: string): string {
  let h = x;
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    const bias = new Float32Array(l.tOut * l.cOut);
    for (let t = 0; t < l.tOut; t++) bias.set(l.bias, t * l.cOut);
    const lin = g.op(
      'Add',
      [
        g.op('MatMul', [h, g.constant(`W${i}`, denseMatrix(l), [l.tIn * l.cIn, l.tOut * l.cOut])]),
        g.constant(`b${i}`, bias, [l.tOut * l.cOut]),
      ],
      last && l.activation === 'linear' ? lastName : undefined
    );
    if (l.activation === 'linear') h = lin;
    else h = g.op(l.activation === 'relu' ? 'Relu' : 'Tanh', [lin], last ? lastName : undefined);
  });
  return h;
}

/** Plain-JSON form of the layers (for meta.json provenance and tests). */
export function describeNet(layers: TapLayer[]): string[] {
  return layers.map(
    (l) =>
      `${l.type} ${l.tIn}x${l.cIn} -> ${l.tOut}x${l.cOut}${l.type === 'dense' ? '' : ` k${l.kernel} s${l.stride} p${l.pad}`} ${l.activation}`
  );
}
