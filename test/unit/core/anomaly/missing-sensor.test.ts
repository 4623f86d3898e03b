import assert from 'node:assert/strict';
import {
  MissingSensorWatch,
  missingSensorResult,
  MISSING_ALARM_POINTS,
} from '../../../../nodes/core/anomaly/missing-sensor';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';

describe('missing sensor watch (core/anomaly/missing-sensor.ts)', () => {
  it('gives the gap from the alarm point on, names the latest feature, and a usable point ends it', () => {
    const w = new MissingSensorWatch<object>(new WeakMap(), 3);
    const a = {};
    const b = {};
    assert.equal(w.rejected(a, 'pressure'), null);
    assert.equal(w.rejected(b, 'flow'), null, 'per device');
    assert.equal(w.rejected(a, 'pressure'), null);
    assert.deepEqual(w.rejected(a, 'temperature'), { feature: 'temperature', points: 3, opened: true });
    assert.deepEqual(w.rejected(a, 'temperature'), { feature: 'temperature', points: 4, opened: false });
    w.usable(a);
    assert.equal(w.rejected(a, 'pressure'), null, 'counted again from the start');
    assert.equal(MISSING_ALARM_POINTS, 30);
  });

  it('the alarm reaches the alert node as a warning that names the sensor and says nothing was scored', () => {
    const anomaly = missingSensorResult('pca', { feature: 'pressure', points: 30, opened: true });
    assert.equal(anomaly.incident!.opened, true);
    const r = signalsFromMessage({
      payload: { measurement: 'telemetry', tags: { device_id: 'pump-3' }, fields: {} },
      anomaly,
    });
    assert.ok(r.ok);
    assert.equal(r.signals[0].kind, 'trigger');
    assert.equal(r.signals[0].severity, 'warning');
    assert.equal(
      r.signals[0].message,
      'Anomaly on pump-3: sensor pressure gives no usable value (missing, null or not a number) for 30 points in a row'
    );
    assert.equal(
      missingSensorResult('pca', { feature: 'pressure', points: 31, opened: false }).incident!.opened,
      false
    );
  });
});
