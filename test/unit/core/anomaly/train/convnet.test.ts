// The 1-D conv net behind the conv autoencoder and the RUL CNN: hand-written gradients against finite
// differences, the exported ONNX graphs against the float64 forward passes through onnxruntime-node (1e-5),
// training that learns, the held-out threshold, persistence, and the C-MAPSS protocol helpers.
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  buildNet,
  denseMatrix,
  layerForward,
  netForward,
  sampleGradients,
  fitNet,
  type TapLayer,
} from '../../../../../nodes/core/anomaly/train/convnet';
import {
  buildConvAutoencoder,
  convAutoencoderErrors,
  convAutoencoderScore,
  convAutoencoderToOnnx,
} from '../../../../../nodes/core/anomaly/train/conv-autoencoder';
import { trainConvAutoencoderBundle, trainBundle } from '../../../../../nodes/core/anomaly/train/train';
import { heldOutThreshold, makeWindows, streamReconstruction } from '../../../../../nodes/core/anomaly/train/windows';
import {
  baselineOf,
  columnName,
  CYCLE_COLUMN,
  engineWindow,
  informativeSensors,
  looksLikeCmapss,
  parseCmapss,
  parseRulList,
  phm08Score,
  rmse,
  rulTargets,
  withBaseline,
} from '../../../../../nodes/core/anomaly/train/cmapss';
import {
  fitBundleLift,
  fitRulLift,
  fitRulScaler,
  protocolWeights,
  predictLastCycle,
  predictRulCnn,
  rulCnnToOnnx,
  baselineGraphOf,
  expandBaselineWindow,
  scaledBaseline,
  RUL_BASELINE_INPUT,
  rulTrainingSet,
  RUL_DEFAULTS,
  smoothingMatrix,
  smoothWindows,
  trainRulCnn,
  truncateEngines,
} from '../../../../../nodes/core/anomaly/train/rul-cnn';
import { liftRul } from '../../../../../nodes/core/anomaly/rul-average';
import { PersistenceFilter } from '../../../../../nodes/core/anomaly/onnx/persistence';
import { BundleScorer } from '../../../../../nodes/core/anomaly/onnx/bundle-scorer';
import { mulberry32 } from '../../../../../nodes/core/prng';
import {
  FEATURES,
  fieldsOf,
  normalRows,
  syntheticCmapss,
  tmpRoot,
  toCsv,
  assertClose,
  runOnnx,
} from '../../../../support/anomaly-onnx-fixtures';

function randomInput(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

describe('anomaly-onnx conv nets (conv autoencoder, RUL CNN)', () => {
  describe('tap layers', () => {
    it('a conv layer computes the textbook strided, padded cross-correlation', () => {
      const [l] = buildNet(6, 2, [{ type: 'conv', out: 1, kernel: 3, stride: 2, pad: 1, activation: 'linear' }], 1);
      assert.equal(l.tOut, 3);
      const x = randomInput(12, 2);
      const y = new Float64Array(3);
      layerForward(l, x, 0, y);
      for (let to = 0; to < 3; to++) {
        let s = l.bias[0];
        for (let k = 0; k < 3; k++) {
          const ti = to * 2 + k - 1;
          if (ti < 0 || ti >= 6) continue;
          for (let ci = 0; ci < 2; ci++) s += l.weights[k * 2 + ci] * x[ti * 2 + ci];
        }
        assertClose(y[to], s, `y[${to}]`, 1e-6);
      }
    });

    it('kernel 4 / stride 2 / pad 1 halves the window in the encoder and doubles it back in the decoder', () => {
      const layers = buildConvAutoencoder(16, 3);
      assert.deepEqual(
        layers.map((l) => [l.tIn, l.tOut]),
        [
          [16, 8],
          [8, 4],
          [4, 8],
          [8, 16],
        ]
      );
      assert.deepEqual(
        layers.map((l) => l.cOut),
        [16, 8, 16, 3]
      );
      assert.throws(() => buildConvAutoencoder(18, 3), /multiple of 4/);
    });

    it('hand-written gradients match central finite differences for conv, transposed conv and dense layers', () => {
      const layers = buildNet(
        8,
        2,
        [
          { type: 'conv', out: 3, kernel: 4, stride: 2, pad: 1, activation: 'tanh' },
          { type: 'deconv', out: 2, kernel: 4, stride: 2, pad: 1, activation: 'relu' },
          { type: 'dense', out: 3, activation: 'tanh' },
          { type: 'dense', out: 2, activation: 'linear' },
        ],
        7
      );
      // shift biases so no ReLU sits exactly at its kink, where the finite difference is undefined
      layers[1].bias.fill(0.3);
      const x = randomInput(16, 3);
      const target = [0.2, -0.4];
      const g = sampleGradients(layers, x, target);
      const loss = () => {
        const out = netForward(layers, x);
        const y = out[out.length - 1];
        return ((y[0] - target[0]) ** 2 + (y[1] - target[1]) ** 2) / 2;
      };
      let checked = 0;
      for (let li = 0; li < layers.length; li++) {
        for (const [arr, grad] of [
          [layers[li].weights, g.gW[li]],
          [layers[li].bias, g.gB[li]],
        ] as Array<[Float32Array, Float32Array]>) {
          for (let i = 0; i < arr.length; i += 3) {
            const keep = arr[i];
            const h = 1e-2;
            arr[i] = keep + h;
            const up = loss();
            arr[i] = keep - h;
            const down = loss();
            arr[i] = keep;
            const numeric = (up - down) / (2 * h);
            assert.ok(
              Math.abs(numeric - grad[i]) <= 2e-3 + 2e-2 * Math.abs(numeric),
              `layer ${li} param ${i}: analytic ${grad[i]} vs numeric ${numeric}`
            );
            checked++;
          }
        }
      }
      assert.ok(checked > 30);
    });

    it('training lowers the loss on a learnable target and is reproducible for a seed', () => {
      const n = 64;
      const x = randomInput(n * 8, 11);
      const y = new Float32Array(n);
      for (let i = 0; i < n; i++) for (let t = 0; t < 8; t++) y[i] += 0.25 * x[i * 8 + t] * (t < 4 ? 1 : -1);
      const make = () =>
        buildNet(
          8,
          1,
          [
            { type: 'conv', out: 4, kernel: 3, pad: 1, activation: 'relu' },
            { type: 'dense', out: 1, activation: 'linear' },
          ],
          3
        );
      const a = make();
      const before = fitNet(a, x, y, n, { epochs: 1, learningRate: 0 });
      const after = fitNet(a, x, y, n, { epochs: 60, learningRate: 0.01, seed: 1 });
      assert.ok(after < before / 5, `loss ${before} -> ${after}`);
      const b = make();
      fitNet(b, x, y, n, { epochs: 60, learningRate: 0.01, seed: 1 });
      assert.deepEqual([...b[0].weights], [...a[0].weights]);
    });

    it('dropout acts only while training: inference ignores it, training with it is reproducible and differs from training without', () => {
      const n = 32;
      const x = randomInput(n * 8, 12);
      const y = new Float32Array(n).map((_, i) => x[i * 8] - x[i * 8 + 7]);
      const make = (dropout: number) =>
        buildNet(
          8,
          1,
          [
            { type: 'conv', out: 4, kernel: 3, pad: 1, activation: 'tanh' },
            { type: 'dense', out: 6, activation: 'tanh', dropout },
            { type: 'dense', out: 1, activation: 'linear' },
          ],
          5
        );
      const a = make(0.5);
      const plain = make(0);
      // same initial weights: the forward pass (inference) does not see the dropout setting
      assert.deepEqual([...netForward(a, x.subarray(0, 8)).at(-1)!], [...netForward(plain, x.subarray(0, 8)).at(-1)!]);
      fitNet(a, x, y, n, { epochs: 5, learningRate: 0.01, seed: 2 });
      fitNet(plain, x, y, n, { epochs: 5, learningRate: 0.01, seed: 2 });
      const again = make(0.5);
      fitNet(again, x, y, n, { epochs: 5, learningRate: 0.01, seed: 2 });
      assert.deepEqual([...again[1].weights], [...a[1].weights]);
      assert.notDeepEqual([...plain[1].weights], [...a[1].weights]);
    });

    it('sample weights: all ones trains as without them; a weight of 2 counts a sample twice in the loss', () => {
      const n = 16;
      const x = randomInput(n * 8, 13);
      const y = new Float32Array(n).map((_, i) => x[i * 8] + x[i * 8 + 3]);
      const make = () =>
        buildNet(
          8,
          1,
          [
            { type: 'conv', out: 3, kernel: 3, pad: 1, activation: 'tanh' },
            { type: 'dense', out: 1, activation: 'linear' },
          ],
          7
        );
      const a = make();
      const b = make();
      fitNet(a, x, y, n, { epochs: 4, learningRate: 0.01, seed: 3 });
      fitNet(b, x, y, n, { epochs: 4, learningRate: 0.01, seed: 3, sampleWeights: new Float32Array(n).fill(1) });
      assert.deepEqual([...b[0].weights], [...a[0].weights]);
      const plain = fitNet(make(), x, y, n, { epochs: 1, learningRate: 0 });
      const doubled = fitNet(make(), x, y, n, {
        epochs: 1,
        learningRate: 0,
        sampleWeights: new Float32Array(n).fill(2),
      });
      assert.ok(Math.abs(doubled - 2 * plain) < 1e-12 * Math.max(1, plain), `${doubled} vs 2 × ${plain}`);
      assert.throws(() => fitNet(make(), x, y, n, { sampleWeights: [1, 2] }), /2 sample weights for 16 samples/);
    });

    it('protocolWeights: mean 1, equal total weight per 10-cycle bin of cycles left up to 150, one bin for all beyond', () => {
      const left = [
        ...Array.from({ length: 30 }, (_, i) => i % 10), // 30 windows in bin 0
        ...Array.from({ length: 10 }, (_, i) => 10 + i), // 10 in bin 1
        ...Array.from({ length: 60 }, (_, i) => 150 + i), // 60 beyond 150
      ];
      const w = protocolWeights(left);
      const total = (from: number, to: number) => w.slice(from, to).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(total(0, w.length) / w.length - 1) < 1e-6);
      assert.ok(Math.abs(total(0, 30) - total(30, 40)) < 1e-4);
      assert.ok(Math.abs(total(40, 100) - total(30, 40)) < 1e-4);
    });

    it('the dense matrix of a layer reproduces its forward pass', () => {
      const [l] = buildNet(
        8,
        3,
        [{ type: 'deconv', out: 2, kernel: 4, stride: 2, pad: 1, activation: 'linear' }],
        5
      ) as TapLayer[];
      const M = denseMatrix(l);
      const x = randomInput(24, 6);
      const y = new Float64Array(l.tOut * 2);
      layerForward(l, x, 0, y);
      const cols = l.tOut * 2;
      for (let j = 0; j < cols; j++) {
        let s = l.bias[j % 2];
        for (let i = 0; i < 24; i++) s += x[i] * M[i * cols + j];
        assertClose(y[j], s, `col ${j}`, 1e-5);
      }
    });
  });

  describe('conv autoencoder', () => {
    it('ONNX reconstruction, score and contributions match the float64 forward pass within 1e-5', async () => {
      const r = trainConvAutoencoderBundle(normalRows(200, 4), { window: 8, epochs: 3 });
      const D = 8 * 3;
      const test = makeWindows([...normalRows(20, 5), [3, 40, 2], [1, 90, 30], [1, 60, 10]], 8, r.scaler);
      const out = await runOnnx(convAutoencoderToOnnx(r.model), test.data, [test.count, D]);
      for (let w = 0; w < test.count; w++) {
        const ref = convAutoencoderScore(r.model, test.data.subarray(w * D, (w + 1) * D));
        assertClose(out.score[w], ref.score, `score ${w}`);
        for (let i = 0; i < D; i++) assertClose(out.reconstruction[w * D + i], ref.reconstruction[i], `rec ${w}/${i}`);
        for (let f = 0; f < 3; f++) assertClose(out.contributions[w * 3 + f], ref.perFeature[f], `contrib ${w}/${f}`);
      }
    });

    it('learns normal windows: reconstruction errors on new normal data sit far below those of broken correlations', () => {
      const r = trainConvAutoencoderBundle(normalRows(400, 6), { window: 16, epochs: 20 });
      const normal = makeWindows(normalRows(200, 7), 16, r.scaler);
      const broken = makeWindows(
        normalRows(200, 8).map(([v, t, c]) => [v, t, c + 6]),
        16,
        r.scaler
      );
      const med = (a: Float64Array) => [...a].sort((x, y) => x - y)[a.length >> 1];
      const n = med(convAutoencoderErrors(r.model, normal.data, normal.count));
      const b = med(convAutoencoderErrors(r.model, broken.data, broken.count));
      assert.ok(b > 5 * n, `broken ${b} vs normal ${n}`);
      assert.ok(r.threshold > n && r.threshold < b, `threshold ${r.threshold} between ${n} and ${b}`);
    });

    it('the threshold comes from held-out windows, not from the training errors', () => {
      // the last quarter of the rows drifts: a threshold from training errors would not see it
      const rows = normalRows(400, 9).map((r, i) => (i >= 300 ? [r[0], r[1] + 3, r[2]] : r));
      const r = trainConvAutoencoderBundle(rows, { window: 8, epochs: 5, quantile: 0.99, margin: 1 });
      assert.equal(r.heldOutErrors.length, 100);
      assertClose(r.threshold, heldOutThreshold(r.heldOutErrors, 0.99, 1), 'threshold');
      const train = makeWindows(rows.slice(0, 300), 8, r.scaler);
      const trainErrors = convAutoencoderErrors(r.model, train.data, train.count);
      assert.ok(
        r.threshold > heldOutThreshold(trainErrors, 0.99, 1),
        'held-out windows carry the drift the training windows lack'
      );
    });
  });

  describe('persistence', () => {
    it('the median of the last n scores ignores a single spike and follows a sustained rise', () => {
      const p = new PersistenceFilter(5);
      const out = [1, 1, 50, 1, 1, 9, 9, 9, 9].map((s) => p.push(s));
      assert.deepEqual(out, [1, 1, 1, 1, 1, 1, 9, 9, 9]);
      assert.equal(new PersistenceFilter(1).push(42), 42);
      assert.throws(() => new PersistenceFilter(0), /positive integer/);
    });

    it('the scorer applies meta.persistence per device and reports the raw window score beside it', async () => {
      const dir = tmpRoot('moby-persist-');
      const csv = path.join(dir, 'n.csv');
      fs.writeFileSync(csv, toCsv(FEATURES, normalRows(300, 12)));
      await trainBundle({
        method: 'conv-autoencoder',
        csv,
        out: path.join(dir, 'root', 'eq', 'p', 'v1'),
        window: 8,
        epochs: 5,
        persistence: 3,
      });
      const s = new BundleScorer({ root: path.join(dir, 'root'), batchWaitMs: 0 });
      try {
        await s.load();
        const rows = normalRows(12, 13);
        const results = [];
        for (let i = 0; i < rows.length; i++) {
          // one wild sample at step 9 only
          const r = await s.score({
            key: 'd',
            equipmentId: 'eq',
            fields: fieldsOf(i === 9 ? [1, 95, 2] : rows[i]),
            timestamp: i,
          });
          if (r.kind === 'result') results.push(r);
        }
        assert.equal(results.length, 5);
        const spike = results[2];
        assert.ok(spike.raw_score! > spike.threshold, 'the window holding the spike scores high on its own');
        assert.ok(spike.score < spike.threshold, `median of 3 keeps it normal: ${spike.score} vs ${spike.threshold}`);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('C-MAPSS and the RUL CNN', () => {
    const text = syntheticCmapss([60, 80, 70, 90, 75, 65], 3);

    it('parses the file per engine, drops constant sensors and settings, caps the target', () => {
      assert.ok(looksLikeCmapss(text));
      assert.ok(!looksLikeCmapss('a,b\n1,2\n'));
      const engines = parseCmapss(text);
      assert.deepEqual(
        engines.map((e) => e.rows.length),
        [60, 80, 70, 90, 75, 65]
      );
      const cols = informativeSensors(engines);
      // s1 and s5 are constant; the settings are never features
      assert.ok(!cols.includes(3) && !cols.includes(7) && cols.every((c) => c >= 3));
      assert.equal(cols.length, 19);
      assert.deepEqual(rulTargets(engines[0], 50).slice(0, 2), [50, 50]);
      assert.deepEqual(rulTargets(engines[0], 50).slice(-3), [2, 1, 0]);
      assert.throws(() => parseCmapss('1 2 3\n', 'f.txt'), /f\.txt: line 1: 3 columns, expected 26/);
      assert.deepEqual(parseRulList('112\n98 \n\n69\n'), [112, 98, 69]);
    });

    it('PHM08 score punishes late predictions more than early ones', () => {
      assert.equal(phm08Score([10], [10]), 0);
      assertClose(phm08Score([20], [10]), Math.exp(1) - 1, 'late by 10');
      assertClose(phm08Score([0], [10]), Math.exp(10 / 13) - 1, 'early by 10');
      assert.ok(phm08Score([20], [10]) > phm08Score([0], [10]));
      assertClose(rmse([1, 3], [0, 0]), Math.sqrt(5), 'rmse');
    });

    it('truncated engines keep at least 31 cycles, the truth is the cycles cut off, within the RUL range asked', () => {
      const engines = parseCmapss(text);
      const cases = truncateEngines(engines, 4, 1, { maxRul: 40 });
      assert.equal(cases.length, 24);
      for (const c of cases) {
        const full = engines.find((e) => e.unit === c.engine.unit)!;
        assert.equal(c.engine.rows.length + c.truth, full.rows.length);
        assert.ok(c.engine.rows.length >= 31);
        assert.ok(c.truth >= 5 && c.truth <= 40, `truth ${c.truth}`);
      }
      assert.ok(new Set(cases.map((c) => c.truth)).size > 10, 'cuts vary');
    });

    it('liftRul: unchanged up to `from`, `slope` times steeper above it; no lift, no change', () => {
      const lift = { from: 100, slope: 1.4 };
      assert.deepEqual(
        [50, 100, 110, 125].map((v) => liftRul(lift, v)),
        [50, 100, 114, 135]
      );
      assert.equal(liftRul(undefined, 123.5), 123.5);
    });

    it('fitRulLift recovers the lift that explains the truths, and fits none when the predictions are already right', () => {
      const rand = mulberry32(5);
      const preds = Array.from({ length: 600 }, () => 5 + rand() * 120);
      const lifted = preds.map((p) => liftRul({ from: 104, slope: 1.35 }, p));
      assert.deepEqual(fitRulLift(preds, lifted, 125), { from: 104, slope: 1.35 });
      // noise around the truth does not move a grid point that far
      const noisy = lifted.map((t) => t + (rand() - 0.5) * 4);
      const fit = fitRulLift(preds, noisy, 125)!;
      assert.ok(Math.abs(fit.from - 104) <= 3 && Math.abs(fit.slope - 1.35) <= 0.1, JSON.stringify(fit));
      assert.equal(fitRulLift(preds, preds, 125), undefined);
      // predictions too high already: a lift (slope ≥ 1) only makes them worse
      assert.equal(
        fitRulLift(
          preds,
          preds.map((p) => p * 0.9),
          125
        ),
        undefined
      );
      assert.throws(() => fitRulLift([1, 2], [1], 125), /2 predictions for 1 truths/);
    });

    it('trainRulCnn fits the lift on its training engines with lift: true (what the bundle serves), and none by default', () => {
      const engines = parseCmapss(text);
      const opts = { window: 10, epochs: 2, cap: 40, filters: 4, dense: 8, ensemble: 1, baselineCycles: 0 };
      const withLift = trainRulCnn(engines, { ...opts, lift: true });
      const without = trainRulCnn(engines, opts);
      assert.equal(without.lift, undefined);
      // two epochs leave this net far below its targets: a lift lowers the error on the training cuts
      assert.ok(withLift.lift, 'a lift was fitted');
      // the same net (deterministic training); the lift is what fitBundleLift finds for it, with the defaults
      const refit = fitBundleLift({ ...without }, engines, { cap: 40 });
      assert.deepEqual(withLift.lift, refit.lift);
      assert.deepEqual(withLift.model.members[0][0].weights, without.model.members[0][0].weights);
      // and predictLastCycle reports the lifted value, as the node does (engines cut as the protocol cuts them)
      const cut = truncateEngines(engines, 2, 7, { maxRul: 40 }).map((c) => c.engine);
      const last = predictLastCycle(withLift, cut, 3, 10);
      const plain = predictLastCycle(without, cut, 3, 10);
      last.forEach((v, i) => assert.ok(Math.abs(v - liftRul(withLift.lift, plain[i])) < 1e-9));
      assert.ok(
        last.some((v, i) => v !== plain[i]),
        'the lift moves some engines'
      );
    });

    it('early stopping keeps the epoch with the lowest validation RMSE and stops after `patience` epochs without one', () => {
      const engines = parseCmapss(text);
      const seen: number[] = [];
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 40,
        cap: 40,
        filters: 4,
        dense: 8,
        validation: 0.34,
        patience: 3,
        learningRate: 0.02,
        // one member: `seen` is that member's validation curve (the default is an ensemble)
        ensemble: 1,
        onEpoch: (_e, _l, v) => void seen.push(v),
      });
      assert.equal(b.validationEngines, 2);
      const min = Math.min(...seen);
      assert.equal(b.validationRmse[0], min);
      assert.equal(b.bestEpoch[0], seen.indexOf(min) + 1);
      // it ran until patience epochs passed without improvement, or to the last epoch
      assert.ok(
        seen.length === 40 || seen.length === b.bestEpoch[0] + 3,
        `${seen.length} epochs, best ${b.bestEpoch[0]}`
      );
    });

    it('learns wear: predicts a lower RUL late in life than early, and the ONNX graph matches within 1e-5', async () => {
      const engines = parseCmapss(text);
      const b = trainRulCnn(engines, { window: 10, epochs: 15, cap: 40, filters: 4, dense: 8, baselineCycles: 0 });
      const early = predictLastCycle(
        b,
        engines.map((e) => ({ ...e, rows: e.rows.slice(0, 15), cycles: e.cycles.slice(0, 15) }))
      );
      const late = predictLastCycle(b, engines);
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      assert.ok(mean(late) < 15 && mean(early) > 25, `late ${mean(late)} early ${mean(early)}`);
      const D = 10 * b.model.features;
      const windows = makeWindows(
        engines[1].rows.map((r) => b.columns.map((c) => r[c])),
        10,
        b.scaler,
        7
      );
      const out = await runOnnx(rulCnnToOnnx(b.model), windows.data, [windows.count, 10, b.model.features]);
      assert.equal(out.rul.length, windows.count);
      for (let w = 0; w < windows.count; w++)
        assertClose(out.rul[w], predictRulCnn(b.model, windows.data.subarray(w * D, (w + 1) * D)), `rul ${w}`);
    });

    it('an ensemble averages members trained on different seeds and early-stopping engines; the ONNX graph outputs the mean', async () => {
      const engines = parseCmapss(text);
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 6,
        cap: 40,
        filters: 4,
        dense: 8,
        ensemble: 3,
        validation: 0.34,
        // the raw-sensor graph: windows below are cut from the raw rows (the own baseline has its own test)
        baselineCycles: 0,
      });
      assert.equal(b.model.members.length, 3);
      assert.equal(b.validationRmse.length, 3);
      const D = 10 * b.model.features;
      const windows = makeWindows(
        engines[0].rows.map((r) => b.columns.map((c) => r[c])),
        10,
        b.scaler,
        5
      );
      const x = windows.data.subarray(0, D);
      const each = b.model.members.map((m) => predictRulCnn({ ...b.model, members: [m] }, x));
      assert.ok(new Set(each.map((v) => v.toFixed(6))).size === 3, `members differ: ${each}`);
      assertClose(predictRulCnn(b.model, x), each.reduce((a, v) => a + v, 0) / 3, 'mean of members');
      const out = await runOnnx(rulCnnToOnnx(b.model), windows.data, [windows.count, 10, b.model.features]);
      for (let w = 0; w < windows.count; w++)
        assertClose(out.rul[w], predictRulCnn(b.model, windows.data.subarray(w * D, (w + 1) * D)), `rul ${w}`);
    });

    it('short histories: training windows from minCycles on repeat the first cycle in the steps before it', () => {
      const engines = parseCmapss(text);
      const cols = informativeSensors(engines);
      const scaler = fitRulScaler(engines, cols);
      const F = cols.length;
      const full = rulTrainingSet(engines, cols, 10, 40, 1, scaler);
      const short = rulTrainingSet(engines, cols, 10, 40, 1, scaler, 4);
      const n = engines.map((e) => e.rows.length);
      assert.equal(
        full.count,
        n.reduce((a, v) => a + v - 9, 0)
      );
      assert.equal(
        short.count,
        n.reduce((a, v) => a + v - 4, 0)
      );
      // first window of engine 0 ends at cycle 4: steps 0–5 hold cycle 0, steps 5–9 cycles 0–4
      const first = engines[0].rows;
      for (let t = 0; t < 10; t++)
        for (let j = 0; j < F; j++) {
          const row = first[Math.max(0, t - 5)];
          assertClose(short.data[t * F + j], (row[cols[j]] - scaler.mean[j]) / scaler.std[j], `step ${t}`, 1e-5);
        }
      assert.equal(short.targets[0], Math.min(40, first.length - 1 - 4));
    });

    it("windows beyond the cap: 'clip' trains them on the cap, 'drop' leaves them out and keeps the cycles left of the rest", () => {
      const engines = parseCmapss(text);
      const cols = informativeSensors(engines);
      const scaler = fitRulScaler(engines, cols);
      const clip = rulTrainingSet(engines, cols, 10, 40, 1, scaler);
      const drop = rulTrainingSet(engines, cols, 10, 40, 1, scaler, 9, 'drop');
      const n = engines.map((e) => e.rows.length);
      assert.equal(
        clip.count,
        n.reduce((a, v) => a + v - 9, 0)
      );
      // cycles left 0…40 of each engine (all lives exceed 50)
      assert.equal(drop.count, 41 * engines.length);
      assert.equal(Math.max(...drop.targets), 40);
      assert.equal(
        clip.targets.filter((y) => y === 40).length,
        n.reduce((a, v) => a + v - 9 - 40, 0)
      );
      // the same last 41 windows of engine 0, same values, same targets
      const D = 10 * cols.length;
      const first = n[0] - 9;
      assert.deepEqual(drop.data.subarray(0, 41 * D), clip.data.subarray((first - 41) * D, first * D));
      assert.deepEqual([...drop.targets.subarray(0, 41)], [...clip.targets.subarray(first - 41, first)]);
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 1,
        cap: 40,
        filters: 4,
        dense: 8,
        ensemble: 1,
        stride: 1,
        aboveCap: 'drop',
      });
      assert.equal(b.windows, drop.count);
    });

    it('the defaults train every member on all engines for the fixed number of epochs (no early stopping)', () => {
      const engines = parseCmapss(text);
      const seen: number[] = [];
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 3,
        cap: 40,
        filters: 4,
        dense: 8,
        onEpoch: (e, _l, v, m) => void seen.push(e, v, m),
      });
      assert.equal(b.validationEngines, 0);
      assert.equal(b.model.members.length, RUL_DEFAULTS.ensemble);
      assert.deepEqual(b.bestEpoch, new Array(RUL_DEFAULTS.ensemble).fill(3));
      // 3 epochs per member, no validation score
      assert.equal(seen.length, 3 * 3 * RUL_DEFAULTS.ensemble);
      for (let i = 1; i < seen.length; i += 3) assert.ok(Number.isNaN(seen[i]));
    });

    it('sensor smoothing: the matrix the graph carries equals the in-place smoothing, and the ONNX graph matches within 1e-5', async () => {
      const W = 6;
      const F = 2;
      const x = randomInput(W * F, 9);
      const smoothed = Float64Array.from(x);
      smoothWindows(smoothed, 1, W, F, 0.4);
      // by hand: feature 1, step 2 = 0.4·x2 + 0.6·(0.4·x1 + 0.6·x0)
      assertClose(smoothed[2 * F + 1], 0.4 * x[2 * F + 1] + 0.6 * (0.4 * x[F + 1] + 0.6 * x[1]), 'ewma', 1e-6);
      const M = smoothingMatrix(W, F, 0.4);
      for (let j = 0; j < W * F; j++) {
        let v = 0;
        for (let i = 0; i < W * F; i++) v += x[i] * M[i * W * F + j];
        assertClose(v, smoothed[j], `x·M [${j}]`, 1e-6);
      }
      const engines = parseCmapss(text);
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 4,
        cap: 40,
        filters: 4,
        dense: 8,
        smoothing: 0.4,
        baselineCycles: 0,
      });
      assert.equal(b.model.smoothing, 0.4);
      const D = 10 * b.model.features;
      const windows = makeWindows(
        engines[2].rows.map((r) => b.columns.map((c) => r[c])),
        10,
        b.scaler,
        7
      );
      const raw = predictRulCnn({ ...b.model, smoothing: undefined }, windows.data.subarray(0, D));
      assert.notEqual(predictRulCnn(b.model, windows.data.subarray(0, D)), raw, 'smoothing changes the input');
      const out = await runOnnx(rulCnnToOnnx(b.model), windows.data, [windows.count, 10, b.model.features]);
      for (let w = 0; w < windows.count; w++)
        assertClose(out.rul[w], predictRulCnn(b.model, windows.data.subarray(w * D, (w + 1) * D)), `rul ${w}`);
    });

    it('engine age: the cycle number is kept as column "cycle", an input only when asked, scaled like a sensor; the ONNX graph matches within 1e-5', async () => {
      const engines = parseCmapss(text);
      engines.forEach((e) => e.rows.forEach((r, i) => assert.equal(r[CYCLE_COLUMN], e.cycles[i])));
      assert.equal(columnName(CYCLE_COLUMN), 'cycle');
      assert.ok(!informativeSensors(engines).includes(CYCLE_COLUMN), 'never picked as a sensor');
      const opts = { window: 10, epochs: 4, cap: 40, filters: 4, dense: 8, ensemble: 1, baselineCycles: 0 };
      const without = trainRulCnn(engines, { ...opts, age: false });
      const b = trainRulCnn(engines, { ...opts, age: true });
      assert.ok(!without.features.includes('cycle'));
      assert.deepEqual(b.features, [...without.features, 'cycle']);
      assert.equal(b.columns[b.columns.length - 1], CYCLE_COLUMN);
      assert.equal(b.model.features, without.model.features + 1);
      // min-max over the training cycles (1 … longest life, 90): cycle 1 → −1, cycle 90 → 1
      const j = b.features.length - 1;
      assertClose((1 - b.scaler.mean[j]) / b.scaler.std[j], -1, 'first cycle');
      assertClose((90 - b.scaler.mean[j]) / b.scaler.std[j], 1, 'last cycle');
      // the age changes the prediction: the same sensor window read as early or late in life
      const D = 10 * b.model.features;
      const windows = makeWindows(
        engines[3].rows.map((r) => b.columns.map((c) => r[c])),
        10,
        b.scaler,
        7
      );
      const x = Float64Array.from(windows.data.subarray(0, D));
      const older = Float64Array.from(x);
      for (let t = 0; t < 10; t++) older[t * b.model.features + j] += 1;
      assert.notEqual(predictRulCnn(b.model, older), predictRulCnn(b.model, x));
      const out = await runOnnx(rulCnnToOnnx(b.model), windows.data, [windows.count, 10, b.model.features]);
      for (let w = 0; w < windows.count; w++)
        assertClose(out.rul[w], predictRulCnn(b.model, windows.data.subarray(w * D, (w + 1) * D)), `rul ${w}`);
    });

    it("own baseline (experiment option): each sensor's offset from the mean of the engine's first B rows, instead of or beside the sensor; a cut engine keeps the whole engine's baseline", () => {
      const engines = parseCmapss(text);
      const sensors = informativeSensors(engines);
      const e = engines[2];
      const base = baselineOf(e.rows, sensors, 5);
      sensors.forEach((c, k) =>
        assertClose(base[k], e.rows.slice(0, 5).reduce((a, r) => a + r[c], 0) / 5, `base ${k}`)
      );
      assert.deepEqual(baselineOf(e.rows.slice(0, 3), sensors, 5), baselineOf(e.rows, sensors, 3), 'fewer rows: all');
      const rel = withBaseline(e, { cycles: 5, mode: 'relative', sensors });
      const both = withBaseline(e, { cycles: 5, mode: 'both', sensors });
      e.rows.forEach((r, i) => {
        assert.equal(rel.rows[i][CYCLE_COLUMN], r[CYCLE_COLUMN], 'the age is never made relative');
        assert.deepEqual(both.rows[i].slice(0, CYCLE_COLUMN + 1), r, 'both keeps the raw row');
        sensors.forEach((c, k) => {
          assertClose(rel.rows[i][c], r[c] - base[k], `relative ${i} ${k}`);
          assertClose(both.rows[i][CYCLE_COLUMN + 1 + k], r[c] - base[k], `both ${i} ${k}`);
        });
      });
      const cut = { unit: e.unit, rows: e.rows.slice(0, 20), cycles: e.cycles.slice(0, 20) };
      assert.deepEqual(withBaseline(cut, { cycles: 5, mode: 'relative', sensors }).rows, rel.rows.slice(0, 20));
      const opts = { window: 10, epochs: 2, cap: 40, filters: 4, dense: 8, ensemble: 1 };
      const plain = trainRulCnn(engines, { ...opts, baselineCycles: 0 });
      const b = trainRulCnn(engines, { ...opts, baselineCycles: 5, baselineMode: 'both' });
      assert.equal(plain.baseline, undefined, 'off with baselineCycles 0');
      // the default since the fifth round: 'both', B = 20
      assert.deepEqual(trainRulCnn(engines, opts).baseline, { cycles: 20, mode: 'both', sensors });
      assert.deepEqual(b.baseline, { cycles: 5, mode: 'both', sensors });
      assert.deepEqual(b.features, [...plain.features, ...sensors.map((c) => `${columnName(c)}_rel`)]);
      // the scorer rewrites the (cut) engine before windowing, as training did
      const D = 10 * b.model.features;
      const x = new Float32Array(D);
      const t = withBaseline(cut, b.baseline!);
      engineWindow(t.rows, 19, 10, b.columns, b.scaler.mean, b.scaler.std, x, 0);
      assertClose(predictLastCycle(b, [cut])[0], predictRulCnn(b.model, x), 'last cycle');
    });

    it('own baseline exported: the graph takes the scaled window of raw sensors and a second input `base`, computes the offsets itself and matches the float64 reference and eval:cmapss within 1e-5', async () => {
      const engines = parseCmapss(text);
      const b = trainRulCnn(engines, {
        window: 10,
        epochs: 2,
        cap: 40,
        filters: 4,
        dense: 8,
        ensemble: 2,
        baselineCycles: 5,
        baselineMode: 'both',
      });
      const g = baselineGraphOf(b)!;
      const nS = b.baseline!.sensors.length;
      assert.equal(g.inputs + nS, b.model.features);
      const bytes = rulCnnToOnnx(b.model, g);
      const session = await InferenceSession.create(bytes);
      try {
        assert.deepEqual(session.inputNames, ['x', RUL_BASELINE_INPUT]);
        const run = async (x: Float32Array, base: Float32Array, n: number) =>
          (
            await session.run({
              x: new Tensor('float32', x, [n, 10, g.inputs]),
              [RUL_BASELINE_INPUT]: new Tensor('float32', base, [n, nS]),
            })
          ).rul.data as Float32Array;
        // random windows and baselines over the scaled range
        const n = 6;
        const x = randomInput(n * 10 * g.inputs, 11);
        const base = randomInput(n * nS, 12);
        const out = await run(x, base, n);
        for (let w = 0; w < n; w++) {
          const wide = expandBaselineWindow(
            g,
            10,
            x.subarray(w * 10 * g.inputs, (w + 1) * 10 * g.inputs),
            base.subarray(w * nS, (w + 1) * nS)
          );
          assertClose(out[w], predictRulCnn(b.model, wide), `random window ${w}`);
        }
        // an engine cut at 7 cycles and at 25: the node's inputs (raw columns scaled, baseline of the first 5
        // raw rows scaled like them) give what eval:cmapss scores from the rewritten engine
        const e = engines[1];
        const inputCols = b.columns.slice(0, g.inputs);
        for (const keep of [7, 25]) {
          const cut = { unit: e.unit, rows: e.rows.slice(0, keep), cycles: e.cycles.slice(0, keep) };
          const xw = new Float32Array(10 * g.inputs);
          engineWindow(cut.rows, keep - 1, 10, inputCols, b.scaler.mean, b.scaler.std, xw, 0);
          const bw = scaledBaseline(baselineOf(cut.rows, b.baseline!.sensors, 5), g.sensors, b.scaler);
          const [got] = await run(xw, bw, 1);
          assertClose(got, predictLastCycle(b, [cut])[0], `cut at ${keep}`);
        }
      } finally {
        await session.release();
      }
      // relative mode stays an experiment: it has no graph
      const rel = trainRulCnn(engines, {
        window: 10,
        epochs: 1,
        cap: 40,
        filters: 2,
        dense: 4,
        ensemble: 1,
        baselineCycles: 5,
        baselineMode: 'relative',
      });
      assert.throws(() => baselineGraphOf(rel), /only 'both' exports/);
    });

    it("min-max scaling maps each sensor's training range onto [−1, 1]; z-score standardises", () => {
      const engines = parseCmapss(text);
      const cols = informativeSensors(engines);
      const mm = fitRulScaler(engines, cols, 'minmax');
      const z = fitRulScaler(engines, cols, 'zscore');
      cols.forEach((c, j) => {
        const v = engines.flatMap((e) => e.rows.map((r) => (r[c] - mm.mean[j]) / mm.std[j]));
        assertClose(Math.min(...v), -1, `min ${j}`);
        assertClose(Math.max(...v), 1, `max ${j}`);
        const zv = engines.flatMap((e) => e.rows.map((r) => (r[c] - z.mean[j]) / z.std[j]));
        assertClose(zv.reduce((a, x) => a + x, 0) / zv.length, 0, `z mean ${j}`);
      });
    });
  });
});

describe('anomaly-onnx conv autoencoder in service: the scorer and eval:skab agree', () => {
  it('the scorer (onnxruntime, centre drift, persistence) flags the same rows as streamReconstruction (the replay of the node eval:skab uses), and drift is followed', async () => {
    const dir = tmpRoot('moby-drift-');
    const csv = path.join(dir, 'n.csv');
    fs.writeFileSync(csv, toCsv(FEATURES, normalRows(300, 21)));
    const out = path.join(dir, 'root', 'eq', 'p', 'v1');
    const rep = await trainBundle({
      method: 'conv-autoencoder',
      csv,
      out,
      window: 8,
      epochs: 10,
      persistence: 3,
      centerDrift: 0.05,
    });
    assert.equal(rep.meta.center_drift, 0.05);
    // slow drift of temp (15 units, about 5 of its standard deviations, over 300 rows) with a fault
    // (current +6) in rows 200–239
    const rows = normalRows(300, 22).map((r, i) => [r[0], r[1] + (15 * i) / 300, r[2] + (i >= 200 && i < 240 ? 6 : 0)]);
    const s = new BundleScorer({ root: path.join(dir, 'root'), batchWaitMs: 0 });
    try {
      await s.load();
      const flagged: number[] = [];
      for (let i = 0; i < rows.length; i++) {
        const r = await s.score({ key: 'd', equipmentId: 'eq', fields: fieldsOf(rows[i]), timestamp: i });
        flagged.push(r.kind === 'result' && r.score > r.threshold ? 1 : 0);
      }
      // the reference needs the trained model: retrain with the same seed and options (training is reproducible)
      const ref = trainConvAutoencoderBundle(normalRows(300, 21), { window: 8, epochs: 10 });
      assertClose(ref.threshold, rep.meta.threshold!, 'same threshold from the same seed');
      const stream = (o: { persistence: number; centerDrift: number }) =>
        streamReconstruction(
          (w) => convAutoencoderScore(ref.model, w).score,
          ref.model.window,
          ref.model.features,
          ref.scaler,
          ref.threshold,
          rows,
          o
        );
      const st = stream({
        persistence: 3,
        centerDrift: 0.05,
      });
      const differ = flagged.filter((f, i) => f !== st.flagged[i]).length;
      // float32 (onnxruntime) vs float64 can only disagree on scores within a hair of the threshold
      assert.ok(differ <= 2, `${differ} rows differ`);
      const inFault = flagged.slice(205, 240).filter(Boolean).length;
      const beforeFault = flagged.slice(100, 200).filter(Boolean).length;
      assert.ok(inFault > 25, `fault flagged on ${inFault}/35 rows`);
      assert.ok(beforeFault < 10, `drift before the fault flagged on ${beforeFault}/100 rows`);
      const frozen = stream({
        persistence: 3,
        centerDrift: 0,
      });
      assert.ok(
        frozen.flagged.slice(100, 200).reduce((a, b) => a + b, 0) > beforeFault,
        'a fixed scaler flags more of the drift'
      );
    } finally {
      await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
