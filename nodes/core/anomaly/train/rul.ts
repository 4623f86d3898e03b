// Remaining-useful-life regression: ridge regression on the standardised, flattened window (closed form,
// Cholesky), exported as an ONNX linear layer taking [batch, window, features].
import { OnnxGraphBuilder } from './onnx-builder';

export interface LinearRulModel {
  window: number;
  features: number;
  /** window*features weights over the standardised window, step-major */
  weights: Float64Array;
  bias: number;
}

export const RUL_INPUT = 'x';

/** Fits y ≈ w·x + b over `count` windows (data from makeWindows); `lambda` is the ridge penalty. */
export function fitLinearRul(
  data: Float32Array,
  count: number,
  targets: ArrayLike<number>,
  window: number,
  features: number,
  lambda = 1e-3
): LinearRulModel {
  const D = window * features;
  if (targets.length !== count) throw new Error(`rul: ${targets.length} targets for ${count} windows`);
  if (count < 2) throw new Error('rul: need at least 2 windows');
  // centre x and y so the (unpenalised) bias drops out of the normal equations
  const mx = new Float64Array(D);
  let my = 0;
  for (let w = 0; w < count; w++) {
    my += targets[w] / count;
    for (let i = 0; i < D; i++) mx[i] += data[w * D + i] / count;
  }
  const A = new Float64Array(D * D);
  const rhs = new Float64Array(D);
  const xc = new Float64Array(D);
  for (let w = 0; w < count; w++) {
    for (let i = 0; i < D; i++) xc[i] = data[w * D + i] - mx[i];
    const yc = targets[w] - my;
    for (let i = 0; i < D; i++) {
      const xi = xc[i];
      if (xi === 0) continue;
      rhs[i] += xi * yc;
      for (let j = 0; j <= i; j++) A[i * D + j] += xi * xc[j];
    }
  }
  for (let i = 0; i < D; i++) {
    A[i * D + i] += lambda * count;
    for (let j = 0; j < i; j++) A[j * D + i] = A[i * D + j];
  }
  const weights = choleskySolve(A, rhs, D);
  let bias = my;
  for (let i = 0; i < D; i++) bias -= weights[i] * mx[i];
  return { window, features, weights, bias };
}

function choleskySolve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const Lm = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= Lm[i * n + k] * Lm[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('rul: normal equations are not positive definite (increase the ridge penalty)');
        Lm[i * n + i] = Math.sqrt(s);
      } else Lm[i * n + j] = s / Lm[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= Lm[i * n + k] * y[k];
    y[i] = s / Lm[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= Lm[k * n + i] * x[k];
    x[i] = s / Lm[i * n + i];
  }
  return x;
}

export function predictRul(model: LinearRulModel, window: ArrayLike<number>): number {
  let s = model.bias;
  for (let i = 0; i < model.weights.length; i++) s += model.weights[i] * window[i];
  return s;
}

/** ONNX graph: x [batch, window, features] -> Flatten -> MatMul(w) + b -> rul [batch]. */
export function linearRulToOnnx(model: LinearRulModel): Uint8Array {
  const g = new OnnxGraphBuilder('moby_rul_linear');
  const x = g.input(RUL_INPUT, ['batch', model.window, model.features]);
  const flat = g.op('Flatten', [x], undefined, { axis: 1 });
  const lin = g.op('MatMul', [flat, g.constant('w', model.weights, [model.weights.length])]);
  g.op('Add', [lin, g.constant('b', [model.bias], [])], 'rul');
  g.output('rul', ['batch']);
  return g.toBytes('linear remaining-useful-life regression exported by moby-train');
}
