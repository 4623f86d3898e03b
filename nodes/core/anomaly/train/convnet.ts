// A small 1-D convolutional network with hand-written gradients and Adam, on plain typed arrays: enough for
// the convolutional autoencoder (SKAB) and the windowed RUL regressor (C-MAPSS) moby-train exports, without
// a deep-learning dependency.
//
// Every layer is one "tap layer": out[to, co] = act(b[co] + Σ_(to,ti,k) Σ_ci W[k, ci, co] · in[ti, ci]), where
// the list of (to, ti, k) taps encodes the layer type:
//   conv    ti = to·stride + k − pad            (strided 1-D convolution, cross-correlation like ONNX Conv)
//   deconv  to = ti·stride + k − pad            (transposed convolution, the decoder's upsampling)
//   dense   to = 0, ti = k for every step       (fully connected over the whole window)
// One forward/backward serves all three, and the ONNX export expands each layer into the equivalent
// (banded) MatMul, so the graph keeps moby-train's plain op subset. Values are step-major, x[t·C + c], the
// same layout the scorer feeds the model.
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

/** One sample through one layer: x (tIn·cIn values from xo) -> y (tOut·cOut values). */
export function layerForward(l: TapLayer, x: ArrayLike<number>, xo: number, y: Vec): void {
  const { cIn, cOut, tOut, weights: W, bias } = l;
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
  const n = tOut * cOut;
  if (l.activation === 'relu') for (let i = 0; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0;
  else if (l.activation === 'tanh') for (let i = 0; i < n; i++) y[i] = Math.tanh(y[i]);
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
  /** the learning rate decays linearly to this share of itself by the last epoch (default 1 = constant) */
  finalLrShare?: number;
  /** called after each epoch with the mean training loss; returning true stops training */
  onEpoch?: (epoch: number, loss: number) => boolean | void;
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
  const rand = mulberry32((opts.seed ?? 42) ^ 0x5bd1e995);
  const acts = layers.map((l) => new Float32Array(l.tOut * l.cOut));
  const deltas = layers.map((l) => new Float32Array(l.tOut * l.cOut));
  const dIn = layers.map((l) => new Float32Array(l.tIn * l.cIn));
  const gW = layers.map((l) => new Float32Array(l.weights.length));
  const gB = layers.map((l) => new Float32Array(l.bias.length));
  const drop = layers.some((l) => l.dropout)
    ? {
        rand: mulberry32((opts.seed ?? 42) ^ 0x2545f491),
        kept: layers.map((l) => (l.dropout ? new Float32Array(l.tIn * l.cIn) : null)),
        mask: layers.map((l) => (l.dropout ? new Float32Array(l.tIn * l.cIn) : null)),
      }
    : undefined;
  const mW = layers.map((l) => new Float32Array(l.weights.length));
  const vW = layers.map((l) => new Float32Array(l.weights.length));
  const mB = layers.map((l) => new Float32Array(l.bias.length));
  const vB = layers.map((l) => new Float32Array(l.bias.length));
  const order = Array.from({ length: count }, (_, i) => i);
  let step = 0;
  let lastLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const lr = lr0 * (1 - (1 - finalShare) * (epochs > 1 ? epoch / (epochs - 1) : 0));
    shuffleInPlace(order, rand);
    let lossSum = 0;
    for (let start = 0; start < count; start += B) {
      const nb = Math.min(B, count - start);
      for (let li = 0; li < L; li++) {
        gW[li].fill(0);
        gB[li].fill(0);
      }
      for (let r = 0; r < nb; r++) {
        const s = order[start + r];
        lossSum += sampleBackprop(
          layers,
          inputs,
          s * inSize,
          targets,
          s * outSize,
          2 / (nb * outSize),
          acts,
          deltas,
          dIn,
          gW,
          gB,
          drop
        );
      }
      step++;
      const c1 = 1 - 0.9 ** step;
      const c2 = 1 - 0.999 ** step;
      for (let li = 0; li < L; li++) {
        if (wd > 0) {
          const w = layers[li].weights;
          const g = gW[li];
          for (let i = 0; i < w.length; i++) g[i] += wd * w[i];
        }
        adam(layers[li].weights, gW[li], mW[li], vW[li], lr, c1, c2);
        adam(layers[li].bias, gB[li], mB[li], vB[li], lr, c1, c2);
      }
    }
    lastLoss = lossSum / (count * outSize);
    if (opts.onEpoch?.(epoch + 1, lastLoss) === true) break;
  }
  return lastLoss;
}

/**
 * Forward and backward pass of one sample: adds dLoss/dW and dLoss/db (loss = scale/2 · squared error summed
 * over the outputs) into gW/gB and returns the sample's squared error. Scratch arrays come from the caller.
 */
function sampleBackprop(
  layers: TapLayer[],
  inputs: ArrayLike<number>,
  xo: number,
  targets: ArrayLike<number>,
  to: number,
  scale: number,
  acts: Float32Array[],
  deltas: Float32Array[],
  dIn: Float32Array[],
  gW: Float32Array[],
  gB: Float32Array[],
  drop?: Dropout
): number {
  const L = layers.length;
  // each layer's effective input: the previous output, or its dropped-out copy while training
  const xIn: Array<ArrayLike<number>> = [];
  const xOff: number[] = [];
  for (let li = 0; li < L; li++) {
    let x: ArrayLike<number> = li === 0 ? inputs : acts[li - 1];
    let off = li === 0 ? xo : 0;
    const p = layers[li].dropout;
    const kept = drop?.kept[li];
    const mask = drop?.mask[li];
    if (drop && p && kept && mask) {
      for (let i = 0; i < kept.length; i++) {
        mask[i] = drop.rand() < p ? 0 : 1 / (1 - p);
        kept[i] = x[off + i] * mask[i];
      }
      x = kept;
      off = 0;
    }
    xIn.push(x);
    xOff.push(off);
    layerForward(layers[li], x, off, acts[li]);
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
    const l = layers[li];
    const delta = deltas[li];
    const a = acts[li];
    const n = l.tOut * l.cOut;
    if (l.activation === 'relu') for (let i = 0; i < n; i++) delta[i] = a[i] > 0 ? delta[i] : 0;
    else if (l.activation === 'tanh') for (let i = 0; i < n; i++) delta[i] *= 1 - a[i] * a[i];
    backwardLayer(l, xIn[li], xOff[li], delta, gW[li], gB[li], li > 0 ? dIn[li] : null);
    if (li > 0) {
      const mask = drop?.mask[li];
      if (mask && l.dropout) for (let i = 0; i < mask.length; i++) dIn[li][i] *= mask[i];
      deltas[li - 1].set(dIn[li]);
    }
  }
  return se;
}

interface Dropout {
  rand: () => number;
  /** per layer: the dropped-out input and the mask applied (0 or 1 / (1 − p)); null without dropout */
  kept: Array<Float32Array | null>;
  mask: Array<Float32Array | null>;
}

/** Gradients of the mean squared error of one sample (for tests: checked against finite differences). */
export function sampleGradients(
  layers: TapLayer[],
  x: ArrayLike<number>,
  target: ArrayLike<number>
): { loss: number; gW: Float32Array[]; gB: Float32Array[] } {
  const acts = layers.map((l) => new Float32Array(l.tOut * l.cOut));
  const deltas = layers.map((l) => new Float32Array(l.tOut * l.cOut));
  const dIn = layers.map((l) => new Float32Array(l.tIn * l.cIn));
  const gW = layers.map((l) => new Float32Array(l.weights.length));
  const gB = layers.map((l) => new Float32Array(l.bias.length));
  const n = target.length;
  const se = sampleBackprop(layers, x, 0, target, 0, 2 / n, acts, deltas, dIn, gW, gB);
  return { loss: se / n, gW, gB };
}

/** Accumulates weight/bias gradients of one sample; writes dLoss/dInput into dX when given. */
function backwardLayer(
  l: TapLayer,
  x: ArrayLike<number>,
  xo: number,
  dY: Float32Array,
  gW: Float32Array,
  gB: Float32Array,
  dX: Float32Array | null
): void {
  const { cIn, cOut, tOut, weights: W } = l;
  for (let t = 0; t < tOut; t++) for (let co = 0; co < cOut; co++) gB[co] += dY[t * cOut + co];
  if (dX) dX.fill(0);
  const tp = taps(l);
  for (let p = 0; p < tp.length; p += 3) {
    const yb = tp[p] * cOut;
    const ti = tp[p + 1];
    const xb = xo + ti * cIn;
    const wb = tp[p + 2] * cIn * cOut;
    if (!dX) {
      // first layer: no input gradient needed, a third less work in the most expensive layer
      for (let ci = 0; ci < cIn; ci++) {
        const a = x[xb + ci];
        if (a === 0) continue;
        const wr = wb + ci * cOut;
        for (let co = 0; co < cOut; co++) gW[wr + co] += a * dY[yb + co];
      }
      continue;
    }
    for (let ci = 0; ci < cIn; ci++) {
      const a = x[xb + ci];
      const wr = wb + ci * cOut;
      let s = 0;
      for (let co = 0; co < cOut; co++) {
        const d = dY[yb + co];
        gW[wr + co] += a * d;
        s += W[wr + co] * d;
      }
      dX[ti * cIn + ci] += s;
    }
  }
}

function adam(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  c1: number,
  c2: number
): void {
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
