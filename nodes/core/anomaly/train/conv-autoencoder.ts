// Convolutional autoencoder over windows (the "Conv-AE" of the SKAB leaderboard, written from its
// description): two strided 1-D convolutions halve the window twice, two transposed convolutions restore
// it. Score = mean squared reconstruction error of the standardised window.
//
// Its threshold is set on held-out windows (HELD_OUT_DEFAULTS in windows.ts), as the dense autoencoder's:
// the training rows are split in time, the model learns on the earlier part and the threshold is a quantile
// of the errors on the later windows, times a margin; that later part also carries some of the slow drift
// the model will meet in service.
import { addReconstructionOutputs, OnnxGraphBuilder } from './onnx-builder';
import { buildNet, describeNet, fitNet, netForward, netToGraph, type TapLayer } from './convnet';
import { HELD_OUT_DEFAULTS, reconstructionScore, scoreWindows, type ReconstructionScore } from './windows';

export const CAE_INPUT = 'x';

export interface ConvAutoencoderModel {
  window: number;
  features: number;
  layers: TapLayer[];
}

export interface ConvAutoencoderOptions {
  /** channels of the two encoder convolutions (default [16, 8]) */
  filters?: [number, number];
  kernel?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  seed?: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

/**
 * moby-train's defaults. window, margin, persistence and centerDrift are the setting `npm run eval:skab -- --cv
 * --max-far 15` picks on all tuning files (valve1 + anomaly-free) and in 14 of its 16 leave-one-file-out folds
 * (window 32 is also what 12 of 16 folds pick under a 10 % cap); figures in docs/onnx-bundles.md.
 */
export const CAE_DEFAULTS = {
  window: 32,
  filters: [16, 8] as [number, number],
  kernel: 4,
  epochs: 30,
  learningRate: 3e-3,
  ...HELD_OUT_DEFAULTS,
};

/** Layers for windows of `window` steps (a multiple of 4: two stride-2 stages) and `features` channels. */
export function buildConvAutoencoder(window: number, features: number, opts: ConvAutoencoderOptions = {}): TapLayer[] {
  if (!Number.isInteger(window) || window < 4 || window % 4 !== 0)
    throw new Error(`conv-autoencoder: --window must be a multiple of 4 (two stride-2 stages), got ${window}`);
  const [f1, f2] = opts.filters ?? CAE_DEFAULTS.filters;
  // kernel 4, stride 2, pad 1: a convolution halves an even length and the transposed one doubles it back
  const k = opts.kernel ?? CAE_DEFAULTS.kernel;
  const pad = (k - 2) / 2;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`conv-autoencoder: kernel must be even and ≥ 2, got ${k}`);
  return buildNet(
    window,
    features,
    [
      { type: 'conv', out: f1, kernel: k, stride: 2, pad, activation: 'relu' },
      { type: 'conv', out: f2, kernel: k, stride: 2, pad, activation: 'relu' },
      { type: 'deconv', out: f1, kernel: k, stride: 2, pad, activation: 'relu' },
      { type: 'deconv', out: features, kernel: k, stride: 2, pad, activation: 'linear' },
    ],
    opts.seed ?? 42
  );
}

/** Trains on `count` standardised windows (window·features values each, from makeWindows). */
export function trainConvAutoencoder(
  data: Float32Array,
  count: number,
  window: number,
  features: number,
  opts: ConvAutoencoderOptions = {}
): ConvAutoencoderModel {
  const layers = buildConvAutoencoder(window, features, opts);
  fitNet(layers, data, data, count, {
    epochs: opts.epochs ?? CAE_DEFAULTS.epochs,
    batchSize: opts.batchSize ?? 16,
    learningRate: opts.learningRate ?? CAE_DEFAULTS.learningRate,
    seed: opts.seed,
    onEpoch: opts.onEpoch,
  });
  return { window, features, layers };
}

/** Float64 reference of the exported graph: reconstruction, MSE score and per-feature squared error. */
export function convAutoencoderScore(model: ConvAutoencoderModel, window: ArrayLike<number>): ReconstructionScore {
  const outs = netForward(model.layers, window);
  const rec = outs[outs.length - 1];
  return reconstructionScore(window, rec, model.features);
}

export function convAutoencoderErrors(model: ConvAutoencoderModel, data: Float32Array, count: number): Float64Array {
  return scoreWindows((w) => convAutoencoderScore(model, w).score, data, count, model.window * model.features);
}

/** ONNX graph: x [batch, window·features] -> reconstruction, score [batch], contributions [batch, features]. */
export function convAutoencoderToOnnx(model: ConvAutoencoderModel): Uint8Array {
  const D = model.window * model.features;
  const F = model.features;
  const g = new OnnxGraphBuilder('moby_conv_autoencoder');
  const x = g.input(CAE_INPUT, ['batch', D]);
  const rec = netToGraph(g, model.layers, x, 'reconstruction');
  addReconstructionOutputs(g, x, rec, D, F);
  return g.toBytes(`1-D convolutional autoencoder (${describeNet(model.layers).join('; ')}) exported by moby-train`);
}
