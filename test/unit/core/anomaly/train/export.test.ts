// Generated ONNX graphs against their TypeScript references: PCA T²/Q/contributions vs scorePca, the dense
// autoencoder vs its float64 forward pass, the linear RUL model vs predictRul; all within 1e-5.
import assert from 'node:assert/strict';
import { fitPca, scorePca } from '../../../../../nodes/core/anomaly/pca';
import { quantile } from '../../../../../nodes/core/anomaly/linalg';
import { pcaToOnnx } from '../../../../../nodes/core/anomaly/train/pca-export';
import {
  autoencoderScore,
  autoencoderErrors,
  autoencoderToOnnx,
  trainAutoencoder,
} from '../../../../../nodes/core/anomaly/train/autoencoder';
import { fitLinearRul, linearRulToOnnx, predictRul } from '../../../../../nodes/core/anomaly/train/rul';
import { fitScaler, heldOutThreshold, makeWindows } from '../../../../../nodes/core/anomaly/train/windows';
import { trainAutoencoderBundle } from '../../../../../nodes/core/anomaly/train/train';
import { FEATURES, normalRows, assertClose, runOnnx } from '../../../../support/anomaly-onnx-fixtures';

describe('anomaly-onnx export: generated graphs match the TypeScript references', () => {
  it('PCA graph computes T², Q and contributions like scorePca (1e-5), including off-normal rows', async () => {
    const rows = normalRows(400, 3);
    const model = fitPca(rows, { features: FEATURES });
    // normal rows plus rows that break the correlation, so Q and T² are both exercised well above their limits
    const test = [...normalRows(50, 99), [3, 40, 2], [1, 90, 30], [-2, 60, 10]];
    const z = new Float32Array(test.length * 3);
    test.forEach((r, i) => r.forEach((v, j) => (z[i * 3 + j] = (v - model.mean[j]) / model.std[j])));
    const out = await runOnnx(pcaToOnnx(model), z, [test.length, 3]);
    assert.equal(out.t2.length, test.length);
    test.forEach((r, i) => {
      const ref = scorePca(model, r);
      assertClose(out.t2[i], ref.t2, `t2[${i}]`);
      assertClose(out.q[i], ref.q, `q[${i}]`);
      ref.contributions.forEach((c, j) => assertClose(out.contributions[i * 3 + j], c, `contributions[${i}][${j}]`));
    });
    // the off-normal rows really are beyond the limits (the test would be weak otherwise)
    assert.ok(scorePca(model, [1, 90, 30]).q > model.qLimit);
  });

  it('dense autoencoder: training lowers the loss and the ONNX graph matches the TS forward pass (1e-5)', async () => {
    const rows = normalRows(260, 5);
    const scaler = fitScaler(rows);
    const W = 10;
    const win = makeWindows(rows, W, scaler);
    const losses: number[] = [];
    const model = trainAutoencoder(win.data, win.count, W, 3, {
      epochs: 15,
      hidden: 12,
      bottleneck: 3,
      learningRate: 3e-3,
      seed: 7,
      onEpoch: (_e, l) => losses.push(l),
    });
    assert.equal(losses.length, 15);
    assert.ok(losses[14] < losses[0] * 0.7, `loss should fall: ${losses[0]} -> ${losses[14]}`);

    const D = W * 3;
    const n = 40;
    const input = win.data.slice(0, n * D);
    // corrupt a few windows: a spike in feature 1 must dominate those windows' contributions
    for (const w of [3, 17]) input[w * D + 5 * 3 + 1] += 6;
    const out = await runOnnx(autoencoderToOnnx(model), input, [n, D]);
    for (let w = 0; w < n; w++) {
      const ref = autoencoderScore(model, input.subarray(w * D, (w + 1) * D));
      assertClose(out.score[w], ref.score, `score[${w}]`);
      for (let i = 0; i < D; i++)
        assertClose(out.reconstruction[w * D + i], ref.reconstruction[i], `reconstruction[${w}][${i}]`);
      for (let f = 0; f < 3; f++)
        assertClose(out.contributions[w * 3 + f], ref.perFeature[f], `contributions[${w}][${f}]`);
    }
    const errors = autoencoderErrors(model, win.data, win.count);
    errors.forEach((e, w) => assert.equal(e, autoencoderScore(model, win.data.subarray(w * D, (w + 1) * D)).score));
    const threshold = quantile(errors, 0.99);
    assert.ok(out.score[3] > threshold && out.score[17] > threshold, 'spiked windows exceed the threshold');
    assert.ok(
      out.contributions[3 * 3 + 1] > out.contributions[3 * 3] + out.contributions[3 * 3 + 2],
      'the spiked feature dominates'
    );
  });

  it("dense autoencoder: moby-train's threshold comes from held-out windows, not its own training errors (issue #14: that one flagged 76 % of SKAB's normal rows)", () => {
    // the last quarter of the rows drifts: a threshold from the training errors would not see it
    const rows = normalRows(400, 9).map((r, i) => (i >= 300 ? [r[0], r[1] + 3, r[2]] : r));
    const r = trainAutoencoderBundle(rows, {
      window: 6,
      epochs: 5,
      quantile: 0.99,
      margin: 1,
      hidden: 8,
      bottleneck: 2,
    });
    assert.equal(r.trainWindows, 300 - 6 + 1, 'the model trained on the first three quarters only');
    assert.equal(r.heldOutErrors.length, 100, 'one window ending on each held-out row');
    assertClose(r.threshold, heldOutThreshold(r.heldOutErrors, 0.99, 1), 'threshold');
    const train = makeWindows(rows.slice(0, 300), 6, r.scaler);
    assert.ok(
      r.threshold > heldOutThreshold(autoencoderErrors(r.model, train.data, train.count), 0.99, 1),
      'held-out windows carry the drift the training windows lack'
    );
  });

  it('linear RUL: fit recovers a linear target and the ONNX graph ([batch, window, features]) matches predictRul', async () => {
    const rows = normalRows(200, 8);
    const scaler = fitScaler(rows);
    const W = 4;
    const win = makeWindows(rows, W, scaler);
    // the target depends on the last step's standardised features
    const D = W * 3;
    const targets = Array.from(
      { length: win.count },
      (_, w) => 100 + 5 * win.data[w * D + D - 3] - 2 * win.data[w * D + D - 1]
    );
    const model = fitLinearRul(win.data, win.count, targets, W, 3, 1e-6);
    for (let w = 0; w < win.count; w += 17)
      assertClose(predictRul(model, win.data.subarray(w * D, (w + 1) * D)), targets[w], `fit[${w}]`, 1e-3);
    const n = 25;
    const out = await runOnnx(linearRulToOnnx(model), win.data.slice(0, n * D), [n, W, 3]);
    for (let w = 0; w < n; w++)
      assertClose(out.rul[w], predictRul(model, win.data.subarray(w * D, (w + 1) * D)), `rul[${w}]`);
  });
});
