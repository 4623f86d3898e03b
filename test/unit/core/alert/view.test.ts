// alertView (nodes/core/alert/inputs.ts): the small message moby-anomaly sends the alert node on its "for
// alerts" output instead of a fan-out clone of the scored point. The alert node must read it exactly as it
// reads the point, and it must share no object with the point (which goes on to the writer).
import assert from 'node:assert/strict';
import { alertView, signalsFromMessage } from '../../../../nodes/core/alert/inputs';

const anomaly = {
  score: 12.5,
  threshold: 3,
  is_anomaly: true,
  severity: 'critical',
  method: 'pca',
  contributions: { temperature: 0.7, current: -0.2, rms: 0.1, x: 0.05 },
  alarm: true,
  incident: { reason: 'drift', severity: 'critical', points: 4, opened: true, feature: 'temperature' },
};

const POINTS: Array<Record<string, unknown>> = [
  {
    _msgid: 'p1',
    topic: 'devices/pump-7/telemetry',
    payload: {
      measurement: 'telemetry',
      tags: { device_id: 'pump-7', equipment_id: 'line-1' },
      fields: { temperature: 80, current: 3 },
      timestamp: 1,
    },
    moby: { device_id: 'pump-7', auth: { verified: true } },
    anomaly,
  },
  {
    payload: { tags: { device_id: 'pump-8', tenant: 'acme' }, fields: {} },
    anomaly: { ...anomaly, alarm: false, is_anomaly: false },
  },
  { payload: { device_id: 'pump-9', equipment_id: 'eq' }, anomaly: { score: 1, is_anomaly: true, threshold: 2 } },
  { payload: { tags: { device_id: 'p' } }, anomaly: { warming: true, have: 3, need: 20 } },
  { payload: { tags: { device_id: 'p' } }, rul: { value: 3, unit: 'h' } },
  { payload: { tags: { device_id: 'bad id' } }, anomaly },
  { payload: { fields: {} }, moby: { device_id: 'm-1', tenant: 'beta' }, anomaly },
  { payload: 'x' },
  { alert: { rule: 'temp', device_id: 'd', severity: 'info', value: 3 }, payload: { tags: { equipment_id: 'e' } } },
  { topic: 'device-health', payload: { device_id: 'd', state: 'OFFLINE', previous: 'ONLINE', reason: 'lwt', time: 1 } },
];

describe('alert view (anomaly → alert without a fan-out clone)', () => {
  it('gives the same signals (or the same reject) as the point it was taken from', () => {
    for (const opts of [{}, { rulThreshold: 10, rulCritical: 5 }]) {
      for (const p of POINTS) {
        assert.deepEqual(signalsFromMessage(alertView(p), opts), signalsFromMessage(p, opts), JSON.stringify(p));
      }
    }
  });

  it('keeps the message id and shares no object with the point', () => {
    const p = structuredClone(POINTS[0]);
    const view = alertView(p);
    assert.equal(view._msgid, 'p1');
    const before = signalsFromMessage(view);
    (p.anomaly as typeof anomaly).incident.reason = 'flatline';
    (p.anomaly as typeof anomaly).contributions.current = 99;
    ((p.payload as Record<string, unknown>).tags as Record<string, unknown>).device_id = 'other';
    (p.moby as Record<string, unknown>).device_id = 'other';
    assert.deepEqual(signalsFromMessage(view), before);
    assert.equal(before.ok && before.signals[0].device_id, 'pump-7');
  });

  it('carries no telemetry fields', () => {
    const v = alertView(POINTS[0]);
    assert.deepEqual(v.payload, { tags: { device_id: 'pump-7', equipment_id: 'line-1' } });
    assert.equal('fields' in (v.payload as object), false);
  });
});
