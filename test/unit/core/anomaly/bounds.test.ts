// The anomaly core's bounded device table and the worker that fits large calibrations (issue #10).
import assert from 'node:assert/strict';
import { DeviceStates } from '../../../../nodes/core/anomaly/device-states';
import {
  defaultsFor,
  fitModel,
  newState,
  step,
  validateState,
  type AnomalyDeviceState,
} from '../../../../nodes/core/anomaly/detector';
import { FitPool } from '../../../../nodes/core/anomaly/fit-pool';
import { gaussianRows } from '../../../support/anomaly-data';

describe('anomaly device states (bounded)', () => {
  it('evicts the least recently active idle state first, alerting ones only when no idle one is left', () => {
    const evicted: string[] = [];
    const t = new DeviceStates<number>(3, (k) => evicted.push(k));
    t.set('a', 1);
    t.set('b', 2, true); // alerting
    t.set('c', 3);
    t.set('a', 1); // a touched: c is now the least recently active idle one
    t.set('d', 4);
    assert.deepEqual(evicted, ['c']);
    t.set('e', 5);
    assert.deepEqual(evicted, ['c', 'a'], 'idle ones go before the alerting b, although b is older');
    t.set('d', 4, true);
    t.set('e', 5, true);
    t.set('f', 6);
    assert.deepEqual(
      evicted,
      ['c', 'a', 'b'],
      'with no other idle one, the least recently active alerting one goes, never the new one'
    );
    assert.deepEqual(
      [...t.entries()].map(([k]) => k),
      ['f', 'd', 'e'],
      'eviction order: idle first, then alerting, oldest first'
    );
    assert.equal(t.evictions, 3);
    assert.equal(t.delete('d'), true);
    assert.equal(t.get('d'), undefined);
    assert.equal(t.size, 2);
  });

  it('a 100k-new-device flood leaves known active devices (and an alerting silent one) in place, within the bound', () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 50 };
    const rows = gaussianRows(200, 4, 7);
    const features = ['f0', 'f1', 'f2', 'f3'];
    const t = new DeviceStates<AnomalyDeviceState>(10_000);
    const real = Array.from({ length: 20 }, (_, k) => `real-${k}`);
    for (const d of real) {
      const s = newState(cfg, features);
      for (let i = 0; i < 50; i++) step(cfg, s, rows[i]);
      t.set(d, s);
    }
    t.set('alerting-silent', newState(cfg, features), true);
    for (let k = 0; k < 100_000; k++) {
      const s = newState(cfg, features);
      step(cfg, s, rows[k % 200]);
      t.set(`flood-${k}`, s);
      if (k % 5000 === 4999) for (const d of real) t.set(d, t.get(d)!);
    }
    assert.equal(t.size, 10_000);
    assert.equal(t.evictions, 100_000 + 21 - 10_000);
    for (const d of real) assert.ok(t.get(d)?.model, `${d} keeps its fitted model`);
    assert.ok(t.get('alerting-silent'), 'the alerting device outlives 90k idle ones');
  });

  it('a burst of new one-message ids evicts calibrating states before trained models, even of devices quiet through the burst (red-team 2026-12-06)', () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 50 };
    const rows = gaussianRows(200, 4, 7);
    const features = ['f0', 'f1', 'f2', 'f3'];
    // as the anomaly node builds it: a state with no model yet is junior
    const t = new DeviceStates<AnomalyDeviceState>(1_000, undefined, (s) => s.model === null);
    const trained = Array.from({ length: 20 }, (_, k) => `trained-${k}`);
    for (const d of trained) {
      const s = newState(cfg, features);
      for (let i = 0; i < 50; i++) step(cfg, s, rows[i]);
      assert.ok(s.model, 'fitted');
      t.set(d, s);
    }
    const learning = newState(cfg, features);
    step(cfg, learning, rows[0]);
    t.set('learning', learning);
    // 5,000 new ids in one burst, none of the real devices sending meanwhile (before: every trained one went)
    for (let k = 0; k < 5_000; k++) {
      const s = newState(cfg, features);
      step(cfg, s, rows[k % 200]);
      t.set(`burst-${k}`, s);
    }
    assert.equal(t.size, 1_000);
    for (const d of trained) assert.ok(t.get(d)?.model, `${d} keeps its fitted model`);
    assert.equal(t.get('learning'), undefined, 'a calibrating state goes with the others, least recently active first');
    // a junior state that finishes calibrating becomes idle: it then outlives the junior ones
    const d = 'burst-4999';
    const s = t.get(d)!;
    for (let i = 1; i < 50; i++) step(cfg, s, rows[i]);
    t.set(d, s);
    for (let k = 0; k < 2_000; k++) t.set(`late-${k}`, newState(cfg, features));
    assert.ok(t.get(d)?.model);
  });

  it('validateState takes the feature cap: wider states are refused with the count', () => {
    const cfg = { ...defaultsFor('l2'), trainSize: 10 };
    const features = Array.from({ length: 70 }, (_, j) => `f${j}`);
    const s = newState(cfg, features);
    for (const r of gaussianRows(5, 70, 1)) step(cfg, s, r);
    assert.match(String(validateState(JSON.parse(JSON.stringify(s)), cfg)), /70 features, more than the cap of 64/);
    assert.equal(validateState(JSON.parse(JSON.stringify(s)), cfg, 100), null);
  });
});

describe('fit worker', function () {
  this.timeout(30_000);
  it('fits in a worker thread with the same result as inline, and close() terminates it, failing what is pending', async () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 60 };
    const rows = gaussianRows(60, 20, 3);
    const pool = new FitPool();
    const model = await pool.fit(cfg, rows);
    assert.deepEqual(model, JSON.parse(JSON.stringify(fitModel(cfg, rows))), 'the same math as an inline fit');
    assert.equal(model.method, 'pca');
    // a waiting fit whose device is gone by the time it would start is dropped without running
    let gone = false;
    const first = pool.fit(cfg, rows);
    const second = assert.rejects(
      pool.fit(cfg, rows, () => !gone),
      /discarded/
    );
    gone = true;
    await first;
    await second;
    // a big fit in flight when the pool closes is abandoned with `closed`
    const big = assert.rejects(pool.fit(cfg, gaussianRows(30, 300, 4)), /closed/);
    await pool.close();
    await big;
    await assert.rejects(pool.fit(cfg, rows), /closed/);
  });
});
