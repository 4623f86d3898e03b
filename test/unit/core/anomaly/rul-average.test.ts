// RulAverage: the temporal ensembling of RUL predictions the node and eval:cmapss share.
import assert from 'node:assert/strict';
import { RulAverage } from '../../../../nodes/core/anomaly/rul-average';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

describe('RulAverage', () => {
  it('k = 1 returns each prediction unchanged and keeps no history', () => {
    const a = new RulAverage(1);
    assert.equal(a.push(10, 80), 80);
    assert.equal(a.push(11, 60), 60);
    assert.equal(a.push(3, 99), 99);
    assert.equal(a.size, 0);
  });

  it('averages the last k predictions, each aged by the cycles since it was made', () => {
    const a = new RulAverage(3);
    assert.equal(a.push(100, 50), 50);
    // (50 − 1 + 47) / 2
    close(a.push(101, 47), 48);
    // (50 − 2 + 47 − 1 + 45) / 3
    close(a.push(102, 45), 139 / 3);
    // the prediction of cycle 100 falls out: (47 − 2 + 45 − 1 + 40) / 3
    close(a.push(103, 40), 43);
    assert.equal(a.size, 3);
  });

  it('a consistent model (prediction falls one per cycle) is reported unchanged', () => {
    const a = new RulAverage(5);
    for (let c = 31; c < 60; c++) close(a.push(c, 200 - c), 200 - c);
  });

  it('short histories (fewer than k predictions) average what there is', () => {
    const a = new RulAverage(10);
    assert.equal(a.push(30, 90), 90);
    close(a.push(31, 80), (89 + 80) / 2);
    assert.equal(a.size, 2);
  });

  it('a gap in the cycles ages older predictions by the cycles elapsed; a gap of k or more drops them', () => {
    const a = new RulAverage(5);
    a.push(10, 100);
    // 3 cycles later: 100 − 3 and 90
    close(a.push(13, 90), (97 + 90) / 2);
    // 15 − 10 = 5 ≥ k: the prediction of cycle 10 is out, cycle 13's aged by 2
    close(a.push(15, 80), (88 + 80) / 2);
    // a gap of k: nothing older is left
    assert.equal(a.push(20, 70), 70);
    assert.equal(a.size, 1);
  });

  it('a cycle going backwards starts a new series (overhaul, another engine, a restarted counter)', () => {
    const a = new RulAverage(5);
    a.push(200, 5);
    a.push(201, 4);
    assert.equal(a.push(1, 120), 120);
    assert.equal(a.size, 1);
    close(a.push(2, 118), (119 + 118) / 2);
  });

  it('the same cycle again replaces its prediction (a point sent twice)', () => {
    const a = new RulAverage(5);
    a.push(10, 50);
    close(a.push(11, 40), (49 + 40) / 2);
    close(a.push(11, 44), (49 + 44) / 2);
    assert.equal(a.size, 2);
  });

  it('stays bounded by k over a long series, and reset() forgets it', () => {
    const a = new RulAverage(4);
    for (let c = 0; c < 1000; c++) a.push(c, 500 - c + (c % 2 ? 3 : -3));
    assert.equal(a.size, 4);
    a.reset();
    assert.equal(a.size, 0);
    assert.equal(a.push(5, 7), 7);
  });

  it('history() and restore(): a restored average goes on exactly as the uninterrupted one', () => {
    const a = new RulAverage(4);
    for (const [c, p] of [
      [10, 90],
      [11, 85],
      [13, 84],
    ])
      a.push(c, p);
    const saved = a.history();
    assert.deepEqual(saved, { ages: [10, 11, 13], preds: [90, 85, 84] });
    const b = new RulAverage(4);
    b.restore(saved.ages, saved.preds);
    saved.ages.push(99); // a copy, both ways
    assert.equal(b.size, 3);
    for (const [c, p] of [
      [14, 80],
      [14, 81],
      [16, 75],
      [3, 120],
    ])
      assert.equal(b.push(c, p), a.push(c, p));
  });

  it('restore() refuses a history it could not have held', () => {
    const a = new RulAverage(3);
    assert.throws(() => a.restore([1, 2, 3, 4], [1, 1, 1, 1]), /at most 3/);
    assert.throws(() => a.restore([1, 2], [1]), /one per age/);
    assert.throws(() => a.restore([2, 1], [1, 1]), /strictly increasing/);
    assert.throws(() => a.restore([1, 4], [1, 1]), /span fewer than 3/);
    assert.equal(a.size, 0);
  });

  it('refuses a k that is not a positive integer and an age that is not finite', () => {
    assert.throws(() => new RulAverage(0), /positive integer/);
    assert.throws(() => new RulAverage(2.5), /positive integer/);
    assert.throws(() => new RulAverage(3).push(NaN, 1), /finite/);
  });
});
