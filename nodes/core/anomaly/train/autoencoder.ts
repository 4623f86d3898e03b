// A small dense autoencoder over flattened windows, trained with Adam on plain Float32Arrays, plus its
// float64 reference forward pass and ONNX export. Layers: D -> hidden (tanh) -> bottleneck (tanh) ->
// hidden (tanh) -> D (linear). Score = mean squared reconstruction error of the standardised window.
import { addReconstructionOutputs, OnnxGraphBuilder } from './onnx-builder';
import { mulberry32, shuffleInPlace } from '../../prng';
import { HELD_OUT_DEFAULTS, reconstructionScore, scoreWindows, type ReconstructionScore } from './windows';

export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** inputs × outputs, row-major (ONNX MatMul(x, W)) */
  weights: Float32Array;
  bias: Float32Array;
  activation: 'tanh' | 'linear';
}

export interface AutoencoderModel {
  window: number;
  features: number;
  layers: DenseLayer[];
}

export interface AutoencoderTrainOptions {
  hidden?: number;
  bottleneck?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  /** called after each epoch with the mean training loss */
  onEpoch?: (epoch: number, loss: number) => void;
}

export const AE_INPUT = 'x';

/**
 * moby-train's defaults for --method autoencoder: 30-step windows (the seeds' model server's), its threshold
 * set on held-out windows as the conv autoencoder's (HELD_OUT_DEFAULTS), with a median over 15 window scores:
 * the setting `npm run eval:skab -- --cv --methods onnx-autoencoder` picks on all tuning files and in 16 of 16
 * leave-one-file-out folds and 3 of 4 grouped folds (FAR cap 10 %; docs/onnx-bundles.md, SKAB cross-validation).
 */
export const AE_DEFAULTS = {
  window: 30,
  epochs: 30,
  ...HELD_OUT_DEFAULTS,
  persistence: 15,
};

function layer(inputs: number, outputs: number, activation: DenseLayer['activation'], rand: () => number): DenseLayer {
  // Glorot-uniform keeps tanh units out of saturation at the start
  const limit = Math.sqrt(6 / (inputs + outputs));
  const weights = new Float32Array(inputs * outputs);
  for (let i = 0; i < weights.length; i++) weights[i] = (rand() * 2 - 1) * limit;
  return { inputs, outputs, weights, bias: new Float32Array(outputs), activation };
}

/** Trains on `count` standardised windows of window*features values each (data from makeWindows). */
export function trainAutoencoder(
  data: Float32Array,
  count: number,
  window: number,
  features: number,
  opts: AutoencoderTrainOptions = {}
): AutoencoderModel {
  const D = window * features;
  if (count < 1 || data.length !== count * D)
    throw new Error(`autoencoder: ${data.length} values is not ${count} windows of ${D}`);
  const hidden = opts.hidden ?? Math.min(64, Math.max(8, Math.round(D / 4)));
  const bottleneck = opts.bottleneck ?? Math.max(2, Math.min(hidden, features));
  const epochs = opts.epochs ?? 30;
  const B = Math.max(1, Math.min(opts.batchSize ?? 32, count));
  const lr = opts.learningRate ?? 1e-3;
  const rand = mulberry32(opts.seed ?? 42);
  const layers = [
    layer(D, hidden, 'tanh', rand),
    layer(hidden, bottleneck, 'tanh', rand),
    layer(bottleneck, hidden, 'tanh', rand),
    layer(hidden, D, 'linear', rand),
  ];
  const L = layers.length;
  // Adam moments, gradient accumulators, activations and deltas, allocated once
  const mW = layers.map((l) => new Float32Array(l.weights.length));
  const vW = layers.map((l) => new Float32Array(l.weights.length));
  const mB = layers.map((l) => new Float32Array(l.outputs));
  const vB = layers.map((l) => new Float32Array(l.outputs));
  const gW = layers.map((l) => new Float32Array(l.weights.length));
  const gB = layers.map((l) => new Float32Array(l.outputs));
  const acts = [new Float32Array(B * D), ...layers.map((l) => new Float32Array(B * l.outputs))];
  const deltas = layers.map((l) => new Float32Array(B * l.outputs));
  const order = Array.from({ length: count }, (_, i) => i);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffleInPlace(order, rand);
    let lossSum = 0;
    for (let start = 0; start < count; start += B) {
      const nb = Math.min(B, count - start);
      const x = acts[0];
      for (let r = 0; r < nb; r++) x.set(data.subarray(order[start + r] * D, order[start + r] * D + D), r * D);
      for (let li = 0; li < L; li++) forwardLayer(layers[li], acts[li], acts[li + 1], nb);
      // dLoss/dOut for loss = mean over the batch of the per-window MSE
      const out = acts[L];
      const dOut = deltas[L - 1];
      const scale = 2 / (nb * D);
      for (let i = 0; i < nb * D; i++) {
        const diff = out[i] - x[i];
        lossSum += diff * diff;
        dOut[i] = diff * scale;
      }
      for (let li = L - 1; li >= 0; li--) {
        const l = layers[li];
        const delta = deltas[li];
        if (l.activation === 'tanh') {
          const a = acts[li + 1];
          for (let i = 0; i < nb * l.outputs; i++) delta[i] *= 1 - a[i] * a[i];
        }
        const input = acts[li];
        const gw = gW[li];
        const gb = gB[li];
        gw.fill(0);
        gb.fill(0);
        const O = l.outputs;
        const I = l.inputs;
        for (let r = 0; r < nb; r++) {
          for (let o = 0; o < O; o++) gb[o] += delta[r * O + o];
          for (let i = 0; i < I; i++) {
            const a = input[r * I + i];
            if (a === 0) continue;
            const row = i * O;
            for (let o = 0; o < O; o++) gw[row + o] += a * delta[r * O + o];
          }
        }
        if (li > 0) {
          const prev = deltas[li - 1];
          const w = l.weights;
          for (let r = 0; r < nb; r++) {
            for (let i = 0; i < I; i++) {
              let s = 0;
              const row = i * O;
              for (let o = 0; o < O; o++) s += w[row + o] * delta[r * O + o];
              prev[r * I + i] = s;
            }
          }
        }
      }
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      for (let li = 0; li < L; li++) {
        adam(layers[li].weights, gW[li], mW[li], vW[li], lr, beta1, beta2, eps, c1, c2);
        adam(layers[li].bias, gB[li], mB[li], vB[li], lr, beta1, beta2, eps, c1, c2);
      }
    }
    opts.onEpoch?.(epoch + 1, lossSum / (count * D));
  }
  return { window, features, layers };
}

function adam(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  b1: number,
  b2: number,
  eps: number,
  c1: number,
  c2: number
): void {
  for (let i = 0; i < p.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
  }
}

function forwardLayer(l: DenseLayer, input: ArrayLike<number>, out: Float32Array | Float64Array, n: number): void {
  const I = l.inputs;
  const O = l.outputs;
  for (let r = 0; r < n; r++) {
    const base = r * O;
    for (let o = 0; o < O; o++) out[base + o] = l.bias[o];
    for (let i = 0; i < I; i++) {
      const a = input[r * I + i];
      if (a === 0) continue;
      const row = i * O;
      for (let o = 0; o < O; o++) out[base + o] += a * l.weights[row + o];
    }
    if (l.activation === 'tanh') for (let o = 0; o < O; o++) out[base + o] = Math.tanh(out[base + o]);
  }
}

/** Reference forward pass in float64: reconstruction, MSE score and per-feature squared error of one window. */
export function autoencoderScore(model: AutoencoderModel, window: ArrayLike<number>): ReconstructionScore {
  let x: Float64Array = Float64Array.from(window as ArrayLike<number>);
  for (const l of model.layers) {
    const out = new Float64Array(l.outputs);
    forwardLayer(l, x, out, 1);
    x = out;
  }
  return reconstructionScore(window, x, model.features);
}

/** The reconstruction error of each of `count` standardised windows (data from makeWindows). */
export function autoencoderErrors(model: AutoencoderModel, data: Float32Array, count: number): Float64Array {
  return scoreWindows((w) => autoencoderScore(model, w).score, data, count, model.window * model.features);
}

/** ONNX graph: input x [batch, window*features] -> reconstruction, score [batch], contributions [batch, features]. */
export function autoencoderToOnnx(model: AutoencoderModel): Uint8Array {
  const D = model.window * model.features;
  const F = model.features;
  const g = new OnnxGraphBuilder('moby_autoencoder');
  const x = g.input(AE_INPUT, ['batch', D]);
  let h = x;
  model.layers.forEach((l, i) => {
    const last = i === model.layers.length - 1;
    const lin = g.op(
      'Add',
      [
        g.op('MatMul', [h, g.constant(`W${i}`, l.weights, [l.inputs, l.outputs])]),
        g.constant(`b${i}`, l.bias, [l.outputs]),
      ],
      last ? 'reconstruction' : undefined
    );
    h = l.activation === 'tanh' ? g.op('Tanh', [lin]) : lin;
  });
  addReconstructionOutputs(g, x, h, D, F);
  return g.toBytes(`dense autoencoder over ${model.window}-step windows of ${F} features, exported by moby-train`);
}
