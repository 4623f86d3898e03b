import assert from 'node:assert/strict';
import { fitL2, scoreL2 } from '../../../../nodes/core/anomaly/l2';
import { fitEwma, scoreEwma } from '../../../../nodes/core/anomaly/ewma';
import { fitPca, scorePca } from '../../../../nodes/core/anomaly/pca';
import { symmetricEigen } from '../../../../nodes/core/anomaly/linalg';
import { gaussianRows, seededRandom } from '../../../support/anomaly-data';

describe('anomaly core: PCA T²/Q', () => {
  it('recovers the eigen-decomposition of a known symmetric matrix', () => {
    const { values, vectors } = symmetricEigen([
      [2, 1],
      [1, 2],
    ]);
    assert.ok(Math.abs(values[0] - 3) < 1e-12 && Math.abs(values[1] - 1) < 1e-12);
    assert.ok(Math.abs(Math.abs(vectors[0][0]) - Math.SQRT1_2) < 1e-12);
  });

  it('keeps the components that explain the variance share and follows the plain T²/Q math', () => {
    // 3 features: two strongly correlated, one independent noise
    const rand = seededRandom(7);
    const rows: number[][] = [];
    for (let i = 0; i < 500; i++) {
      const a = rand.normal();
      rows.push([10 + a, 20 + 2 * a + 0.05 * rand.normal(), 5 + 0.5 * rand.normal()]);
    }
    const m = fitPca(rows, { varianceShare: 0.6 });
    assert.equal(m.components.length, 1);
    const m2 = fitPca(rows, { varianceShare: 0.9 });
    assert.equal(m2.components.length, 2);
    // hand-computed T² and Q for one point
    const x = [12, 23, 6];
    const z = x.map((v, j) => (v - m2.mean[j]) / m2.std[j]);
    const t = m2.components.map((p) => p.reduce((s, pj, j) => s + pj * z[j], 0));
    const t2 = t.reduce((s, ti, i) => s + (ti * ti) / m2.eigenvalues[i], 0);
    const recon = z.map((_, j) => m2.components.reduce((s, p, c) => s + p[j] * t[c], 0));
    const q = z.reduce((s, zj, j) => s + (zj - recon[j]) ** 2, 0);
    const got = scorePca(m2, x);
    assert.ok(Math.abs(got.t2 - t2) < 1e-9 && Math.abs(got.q - q) < 1e-9);
  });

  it('flags a broken correlation through Q and names the features that broke it', () => {
    const rows = gaussianRows(400, 4, 3);
    const m = fitPca(rows, { varianceShare: 0.85, alpha: 0.01 });
    const normal = scorePca(m, rows[10]);
    assert.ok(normal.q <= m.qLimit * 2);
    // the generator makes feature 1 ≈ 2 × feature 0: break that
    const bad = rows[10].slice();
    bad[1] = bad[1] + 8;
    const s = scorePca(m, bad);
    assert.ok(s.q > m.qLimit || s.t2 > m.t2Limit, 'broken correlation exceeds a limit');
    const top = s.contributions.indexOf(Math.max(...s.contributions));
    assert.ok(top === 0 || top === 1, `top contributor ${top}`);
  });

  it('all columns constant: the score is the squared change in the sensors’ units, not a division by ~0 (red-team round 2026-12-07)', () => {
    const rows = Array.from({ length: 650 }, () => [40, 2]);
    const m = fitPca(rows);
    const score = (x: number[]) => {
      const s = scorePca(m, x);
      return Math.max(s.t2 / m.t2Limit, s.q / m.qLimit);
    };
    assert.equal(score([40, 2]), 0);
    assert.ok(Math.abs(score([40.5, 2]) - 0.25) < 1e-9, `${score([40.5, 2])}`);
    assert.ok(Math.abs(score([40, 7]) - 25) < 1e-9, `${score([40, 7])}`);
  });

  it('survives a constant training column', () => {
    const rows = gaussianRows(100, 3, 1).map((r) => [...r, 42]);
    const m = fitPca(rows);
    assert.equal(m.std[3], 1);
    const s = scorePca(m, [...rows[0].slice(0, 3), 50]);
    assert.ok(Number.isFinite(s.t2) && Number.isFinite(s.q));
    assert.ok(s.q > m.qLimit || s.t2 > m.t2Limit);
  });
});

describe('l2 and ewma on calibration without spread', () => {
  it('score a change in units of the sensors, not divided by a 1e-9 floor (red-team round 2026-12-07)', () => {
    const rows = Array.from({ length: 650 }, () => [40, 2]);
    const l2 = fitL2(rows);
    assert.equal(l2.limit, 1);
    assert.ok(Math.abs(scoreL2(l2, [40.5, 2]) / l2.limit - 0.5) < 1e-9);
    const ewma = fitEwma(rows);
    assert.equal(ewma.limit, 1);
    const s = scoreEwma(ewma, [45, 2]) / ewma.limit;
    assert.ok(Number.isFinite(s) && s > 1 && s < 100, `${s}`);
  });
});
