// PCA faults that only one of the two statistics sees, and how the limits follow alpha and limitScale.
// These pin down that the detector really uses both T² and Q (a T²-only scorer misses a broken
// correlation inside the normal range) and that the limits are the training scores' own quantiles.
import assert from 'node:assert/strict';
import { fitPca, scorePca } from '../../../../nodes/core/anomaly/pca';
import { defaultsFor, newState, step, type DetectorConfig } from '../../../../nodes/core/anomaly/detector';
import { seededRandom } from '../../../support/anomaly-data';

/** 400 rows: features 0 and 1 move together (x1 = 2·x0 + small noise), feature 2 is independent. */
function correlatedRows(n: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = rand.normal();
    rows.push([10 + a, 20 + 2 * a + 0.05 * rand.normal(), 5 + rand.normal()]);
  }
  return rows;
}

/** Same as above with the latent factor confined to ±1.5 σ: no calibration row is far along the main axis. */
function boundedRows(n: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.max(-1.5, Math.min(1.5, rand.normal()));
    rows.push([10 + a, 20 + 2 * a + 0.05 * rand.normal(), 5 + Math.max(-1.5, Math.min(1.5, rand.normal()))]);
  }
  return rows;
}

describe('anomaly core: PCA faults seen by only one statistic', () => {
  const rows = correlatedRows(400, 11);
  const model = fitPca(rows, { varianceShare: 0.85, alpha: 0.01 });

  it('a broken correlation inside the normal range: Q above its limit, T² below its own', () => {
    // x0 one σ up, x1 one σ down: each value is ordinary on its own, the pair is not
    const s = scorePca(model, [11, 18, 5]);
    assert.ok(s.q > 10 * model.qLimit, `Q ${s.q} vs limit ${model.qLimit}`);
    assert.ok(s.t2 < model.t2Limit, `T² ${s.t2} vs limit ${model.t2Limit}`);
  });

  it('a move far along the correlation: T² above its limit, Q below its own', () => {
    // six σ along the shared factor keeps the correlation exactly: only T² can see it
    const s = scorePca(model, [16, 32, 5]);
    assert.ok(s.t2 > 3 * model.t2Limit, `T² ${s.t2} vs limit ${model.t2Limit}`);
    assert.ok(s.q < model.qLimit, `Q ${s.q} vs limit ${model.qLimit}`);
  });

  function detectorVerdicts(cfg: DetectorConfig, calibration: number[][], probe: number[], n: number): boolean[] {
    const state = newState(cfg, ['a', 'b', 'c']);
    for (const r of calibration) step(cfg, state, r);
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const r = step(cfg, state, probe);
      if (r.kind !== 'result') assert.fail(`expected a result, got ${r.kind}`);
      out.push(r.anomaly.is_anomaly);
    }
    return out;
  }

  it('the pca detector (node defaults) flags the Q-only fault and the T²-only fault, not normal points', () => {
    const cfg: DetectorConfig = { ...defaultsFor('pca'), trainSize: 400, adaptRate: 0 };
    const calibration = boundedRows(cfg.trainSize + cfg.inputWindow - 1, 5);
    // the smoothing window needs to fill with the fault before the median moves: look at the last verdict
    const qOnly = detectorVerdicts(cfg, calibration, [11, 18, 5], cfg.smoothing * 2);
    assert.equal(qOnly[qOnly.length - 1], true, 'Q-only fault flagged');
    const t2Only = detectorVerdicts(cfg, calibration, [18, 36, 5], cfg.smoothing * 2);
    assert.equal(t2Only[t2Only.length - 1], true, 'T²-only fault flagged');
    const normal = detectorVerdicts(cfg, calibration, [10, 20, 5], cfg.smoothing * 2);
    assert.equal(normal.some(Boolean), false, 'the calibration centre is never flagged');
  });
});

describe('anomaly core: PCA limits follow alpha and limitScale', () => {
  const rows = correlatedRows(1000, 23);

  it('each limit is the (1 − alpha) quantile of the training scores', () => {
    for (const alpha of [0.01, 0.05, 0.2]) {
      const m = fitPca(rows, { alpha, varianceShare: 0.85 });
      const scores = rows.map((r) => scorePca(m, r));
      const overT2 = scores.filter((s) => s.t2 > m.t2Limit).length / rows.length;
      const overQ = scores.filter((s) => s.q > m.qLimit).length / rows.length;
      // a quantile of 1000 scores: at most alpha above it, and not much less
      assert.ok(overT2 <= alpha + 1e-9 && overT2 >= alpha - 0.01, `alpha ${alpha}: ${overT2} of rows above T² limit`);
      assert.ok(overQ <= alpha + 1e-9 && overQ >= alpha - 0.01, `alpha ${alpha}: ${overQ} of rows above Q limit`);
    }
  });

  it('a smaller alpha gives strictly wider limits', () => {
    const wide = fitPca(rows, { alpha: 0.005 });
    const narrow = fitPca(rows, { alpha: 0.1 });
    assert.ok(wide.t2Limit > narrow.t2Limit && wide.qLimit > narrow.qLimit);
  });

  it('limitScale multiplies both limits and nothing else', () => {
    const one = fitPca(rows, { alpha: 0.01 });
    const two = fitPca(rows, { alpha: 0.01, limitScale: 2.5 });
    assert.ok(Math.abs(two.t2Limit - 2.5 * one.t2Limit) < 1e-9 * one.t2Limit);
    assert.ok(Math.abs(two.qLimit - 2.5 * one.qLimit) < 1e-9 * one.qLimit);
    assert.deepEqual(two.eigenvalues, one.eigenvalues);
    assert.deepEqual(two.mean, one.mean);
  });
});
