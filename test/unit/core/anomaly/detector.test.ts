import assert from 'node:assert/strict';
import {
  defaultsFor,
  extract,
  featuresOf,
  fitModel,
  newState,
  step,
  validateState,
  AnomalyDeviceState,
} from '../../../../nodes/core/anomaly/detector';
import { limitScore, validateLimits } from '../../../../nodes/core/anomaly/threshold';
import { smooth } from '../../../../nodes/core/anomaly/smoothing';
import { severityOf } from '../../../../nodes/core/anomaly/severity';
import { fitEwma, learnEwma, scoreEwma } from '../../../../nodes/core/anomaly/ewma';
import { fitScaling } from '../../../../nodes/core/anomaly/scaling';
import { fitL2, scoreL2 } from '../../../../nodes/core/anomaly/l2';
import { quantile } from '../../../../nodes/core/anomaly/linalg';
import { gaussianRows } from '../../../support/anomaly-data';

describe('anomaly core: detector, limits, smoothing, severity', () => {
  it('threshold limits score 1→2 between warning and critical and validate their order', () => {
    const l = { lowCritical: 0, lowWarning: 10, highWarning: 80, highCritical: 90 };
    assert.equal(limitScore(50, l), 0);
    assert.equal(limitScore(85, l), 1.5);
    assert.equal(limitScore(90, l), 2);
    assert.equal(limitScore(5, l), 1.5);
    assert.ok(limitScore(-5, l) > 2);
    assert.ok(limitScore(200, { highWarning: 100 }) < 2, 'warning-only limit never reaches critical');
    assert.ok(limitScore(101, { highCritical: 100 }) >= 2, 'critical-only limit is critical at once');
    assert.equal(validateLimits({ t: { highWarning: 90, highCritical: 80 } })?.includes('ordered'), true);
    assert.equal(validateLimits({ t: { highWarning: 'x' } })?.includes('finite'), true);
    assert.equal(validateLimits({ t: { lowWarning: 1, highCritical: 5 } }), null);
  });

  it('median smoothing ignores one outlier, mean does not; severity grades against the threshold', () => {
    const w: number[] = [];
    const med = [1, 1, 100, 1, 1].map((s) => smooth(w, s, 5, 'median'));
    assert.deepEqual(med, [1, 1, 1, 1, 1]);
    const w2: number[] = [];
    assert.equal([1, 1, 100].map((s) => smooth(w2, s, 5, 'mean'))[2], 34);
    assert.equal(severityOf(0.5, 1), 'normal');
    assert.equal(severityOf(1, 1), 'normal');
    assert.equal(severityOf(1.5, 1), 'warning');
    assert.equal(severityOf(2, 1), 'critical');
  });

  it('robust scaling is not inflated by a few spikes in the training window', () => {
    const rows = gaussianRows(200, 3, 5);
    rows[10][2] = 1e6;
    const robust = fitScaling(rows, 'robust');
    const classic = fitScaling(rows, 'std');
    assert.ok(robust.scale[2] < 2 && classic.scale[2] > 1000);
  });

  it('ewma learns drift from normal points only, and keeps a variance floor', () => {
    const rows = gaussianRows(200, 3, 2);
    const m = fitEwma(rows);
    const mean0 = m.mean[2];
    for (let i = 0; i < 500; i++) learnEwma(m, [rows[i % 200][0], rows[i % 200][1], mean0 + 3], 0.05);
    assert.ok(Math.abs(m.mean[2] - (mean0 + 3)) < 0.1, 'followed the shift');
    assert.ok(m.variance.every((v, j) => v >= m.minVariance[j]));
    assert.ok(scoreEwma(m, [rows[0][0], rows[0][1], mean0 + 3]) < m.limit * 3);
  });

  for (const method of ['l2', 'pca', 'ewma'] as const) {
    it(`${method}: warms up for trainSize points, then fits; anomalous points do not move the model`, () => {
      const cfg = { ...defaultsFor(method), trainSize: 100, smoothing: 1 };
      const rows = gaussianRows(150, 4, 9);
      const state = newState(cfg, ['a', 'b', 'c', 'd']);
      for (let i = 0; i < 99; i++) assert.equal(step(cfg, state, rows[i]).kind, 'warming');
      const first = step(cfg, state, rows[99]);
      assert.ok(first.kind === 'result' && first.fitted);
      assert.equal(state.buffer, null);
      const before = JSON.stringify(state.model);
      const far = rows[100].map((v) => v + 50);
      for (let i = 0; i < 20; i++) {
        const r = step(cfg, state, far);
        assert.ok(r.kind === 'result' && r.anomaly.is_anomaly && r.anomaly.severity === 'critical');
      }
      assert.equal(JSON.stringify(state.model), before, 'nothing learned from anomalies');
      // a state survives JSON and validates
      const copy = JSON.parse(JSON.stringify(state)) as AnomalyDeviceState;
      assert.equal(validateState(copy, cfg), null);
      assert.match(String(validateState({ ...copy, method: 'threshold' }, cfg)), /method/);
    });
  }

  it('inputWindow averages the inputs: the rolling mean is what gets calibrated and scored', () => {
    const cfg = { ...defaultsFor('l2'), trainSize: 50, smoothing: 1, inputWindow: 4, adaptRate: 0 };
    const rows = gaussianRows(60, 3, 4);
    const state = newState(cfg, ['a', 'b', 'c']);
    for (let i = 0; i < 50; i++) step(cfg, state, rows[i]);
    assert.equal(state.recent!.length, 4, 'keeps exactly the window');
    const model = state.model!.method === 'l2' ? state.model!.l2 : null;
    assert.ok(model);
    const spiky = rows[50].slice();
    spiky[2] += 8 * model.limit * model.scale[2];
    const r = step(cfg, state, spiky);
    const mean = [0, 1, 2].map((j) => (rows[47][j] + rows[48][j] + rows[49][j] + spiky[j]) / 4);
    assert.ok(r.kind === 'result');
    assert.ok(Math.abs(r.anomaly.score - scoreL2(model, mean)) < 1e-9, 'scored the 4-point mean');
    assert.ok(r.anomaly.score < scoreL2(model, spiky) / 2, 'the spike is diluted');
  });

  it('anomalyAdaptRate bounds how long a permanent change of operating point stays flagged', () => {
    const run = (anomalyAdaptRate: number) => {
      const cfg = {
        ...defaultsFor('l2'),
        trainSize: 100,
        smoothing: 1,
        inputWindow: 1,
        adaptRate: 0,
        anomalyAdaptRate,
      };
      const rows = gaussianRows(1100, 3, 8);
      const state = newState(cfg, ['a', 'b', 'c']);
      let flagged = 0;
      for (let i = 0; i < rows.length; i++) {
        const x = i < 100 ? rows[i] : [rows[i][0], rows[i][1], rows[i][2] + 10];
        const r = step(cfg, state, x);
        if (r.kind === 'result' && r.anomaly.is_anomaly && i >= 900) flagged++;
      }
      return flagged;
    };
    assert.equal(run(0), 200, 'without it the new level is flagged forever');
    assert.ok(run(0.01) < 20, 'with it the new level becomes normal');
  });

  it('calibrationHoldout: the limit widens to cover the held-out calibration rows, times limitScale', () => {
    const base = { ...defaultsFor('l2'), smoothing: 1, inputWindow: 1, adaptRate: 0, alpha: 0.01 };
    const stationary = gaussianRows(400, 3, 11);
    // the last quarter of the calibration drifts: a fit on the first 300 rows has not seen it
    const drifting = stationary.map((r, i) => (i < 300 ? r : [r[0], r[1], r[2] + 0.05 * (i - 300)]));
    const limitOf = (cfg: typeof base, rows: number[][]) => {
      const m = fitModel(cfg, rows);
      assert.equal(m.method, 'l2');
      return (m as { l2: { limit: number } }).l2.limit;
    };
    // off: exactly the plain fit on every row
    assert.equal(
      limitOf({ ...base, calibrationHoldout: 0 }, drifting),
      fitL2(drifting, { alpha: 0.01, scaling: base.scaling }).limit
    );
    // on: the fit on the first 300 rows, widened to the held-out rows' (1 − alpha) quantile
    const head = fitL2(drifting.slice(0, 300), { alpha: 0.01, scaling: base.scaling });
    const heldOut = quantile(
      drifting.slice(300).map((r) => scoreL2(head, r)),
      0.99
    );
    assert.ok(heldOut > head.limit * 1.5, 'the drift takes the held-out rows well past the head-fit limit');
    const widened = limitOf({ ...base, calibrationHoldout: 0.25 }, drifting);
    assert.ok(Math.abs(widened - heldOut) < 1e-9 * heldOut, `limit ${widened} = held-out quantile ${heldOut}`);
    // limitScale is a margin on top of what was held out
    const scaled = limitOf({ ...base, calibrationHoldout: 0.25, limitScale: 1.5 }, drifting);
    assert.ok(Math.abs(scaled - 1.5 * heldOut) < 1e-9 * heldOut);
    // rows like the fitted ones never narrow the limit: it stays the head fit's
    const calm = limitOf({ ...base, calibrationHoldout: 0.25 }, stationary);
    assert.ok(calm >= fitL2(stationary.slice(0, 300), { alpha: 0.01, scaling: base.scaling }).limit - 1e-12);
    // the detector fits through the same path: a device calibrated on the drifting rows carries the wider limit
    const cfg = { ...base, trainSize: 400, calibrationHoldout: 0.25 };
    const state = newState(cfg, ['a', 'b', 'c']);
    let first: ReturnType<typeof step> | undefined;
    for (const r of drifting) first = step(cfg, state, r);
    assert.ok(first?.kind === 'result' && Math.abs(first.anomaly.threshold - heldOut) < 1e-9 * heldOut);
  });

  it('ewma defaults hold out the last quarter of the calibration for its limit', () => {
    assert.equal(defaultsFor('ewma').calibrationHoldout, 0.25);
    assert.equal(defaultsFor('pca').calibrationHoldout, 0);
    assert.equal(defaultsFor('l2').calibrationHoldout, 0);
  });

  it('validateState refuses wrong dimensions, non-positive scales and foreign versions', () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 50 };
    const state = newState(cfg, ['a', 'b', 'c']);
    for (const r of gaussianRows(50, 3, 1)) step(cfg, state, r);
    const good = JSON.parse(JSON.stringify(state));
    assert.equal(validateState(good, cfg), null);
    const badDim = JSON.parse(JSON.stringify(state));
    badDim.model.pca.mean.push(1);
    assert.match(String(validateState(badDim, cfg)), /mean/);
    const badStd = JSON.parse(JSON.stringify(state));
    badStd.model.pca.std[0] = 0;
    assert.match(String(validateState(badStd, cfg)), /std/);
    assert.match(String(validateState({ ...good, v: 2 }, cfg)), /version/);
    assert.match(String(validateState(good, { ...cfg, features: ['x', 'y', 'z'] })), /differ/);
  });

  it('extract names the field that is missing, not numeric or not finite; features default to numeric fields', () => {
    assert.deepEqual(featuresOf(defaultsFor('pca'), { z: 1, a: 2, s: 'on', b: true }), ['a', 'z']);
    assert.deepEqual(extract(['a', 'b'], { a: 1 }), {
      code: 'missing_feature',
      reason: 'feature "b" is missing',
      field: 'b',
    });
    assert.equal((extract(['a'], { a: '1' }) as { code: string }).code, 'not_numeric');
    assert.equal((extract(['a'], { a: -Infinity }) as { code: string }).code, 'bad_number');
    assert.deepEqual(Array.from(extract(['a', 'b'], { a: 1, b: 2 }) as Float64Array), [1, 2]);
  });

  it('a finite but huge value (1e308) is bad_number, so one such point cannot leave a device unscored for good', () => {
    assert.deepEqual(extract(['a', 'b'], { a: 1, b: 1e308 }), {
      code: 'bad_number',
      reason: 'feature "b" is 1e+308, beyond ±1e+100 (the model\'s sums of squares would overflow)',
      field: 'b',
    });
    assert.equal((extract(['a'], { a: -1e101 }) as { code: string }).code, 'bad_number');
    assert.deepEqual(Array.from(extract(['a'], { a: 1e100 }) as Float64Array), [1e100], 'the bound itself is a value');
    // red-team round 3: a signed device put 1e308 among its calibration points; the PCA model became NaN and
    // every later point was `model_error: score is NaN`. Through extract (as the node calls it) the point is
    // refused, calibration completes on the others and later points are scored.
    for (const method of ['pca', 'ewma', 'l2'] as const) {
      const cfg = { ...defaultsFor(method), trainSize: 100, smoothing: 1 };
      const features = ['a', 'b', 'c'];
      const state = newState(cfg, features);
      const rows = gaussianRows(160, 3, 11);
      const kinds: string[] = [];
      for (let i = 0; i < rows.length; i++) {
        const fields: Record<string, number> = { a: rows[i][0], b: rows[i][1], c: rows[i][2] };
        if (i === 7 || i === 130) fields.b = 1e308;
        const x = extract(features, fields);
        if (!(x instanceof Float64Array)) {
          kinds.push(x.code);
          continue;
        }
        const r = step(cfg, state, x);
        kinds.push(r.kind === 'reject' ? r.reject.code : r.kind);
        if (r.kind === 'result')
          assert.ok(Number.isFinite(r.anomaly.score), `${method}: point ${i} scored ${r.anomaly.score}`);
      }
      assert.deepEqual(
        kinds.filter((k) => k !== 'warming' && k !== 'result'),
        ['bad_number', 'bad_number'],
        method
      );
      assert.equal(kinds.filter((k) => k === 'result').length, 160 - 2 - 99, method);
    }
  });
});
