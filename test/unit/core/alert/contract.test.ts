// Contract check between the alert engine's events and the InfluxDB writer's mapping: every lifecycle event
// becomes a moby_alerts point (no reject) that carries the event kind and the alert's state.
import assert from 'node:assert/strict';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import { alertEventToPoint } from '../../../../nodes/core/influx/line-protocol';
import { MEASUREMENTS, type AlertEvent, type Point } from '../../../../nodes/core/contract';

describe('alert events → moby_alerts points', () => {
  it('maps open, update, ack, escalate and resolve without a reject', () => {
    let t = 1_700_000_000_000;
    const engine = new AlertEngine({ now: () => t, updateEventMs: 0, escalateAfterMs: 1000 });
    const events: AlertEvent[] = [];
    const push = (r: ReturnType<AlertEngine['apply']>) => r.ok && events.push(...r.events);
    push(
      engine.apply({
        kind: 'trigger',
        device_id: 'p-1',
        rule: 'anomaly',
        severity: 'info',
        value: 0.9,
        threshold: 0.8,
        equipment_id: 'line-2',
      })
    );
    t += 10;
    push(engine.apply({ kind: 'trigger', device_id: 'p-1', rule: 'anomaly', value: 0.95 }));
    t += 1000;
    events.push(...engine.tick().events);
    const id = events[0].alert.alert_id;
    events.push(engine.acknowledge(id, 'kim', 'on it').event!);
    events.push(engine.resolve(id, 'kim', 'fixed').event!);
    assert.deepEqual(
      events.map((e) => e.event),
      ['open', 'update', 'escalate', 'ack', 'resolve']
    );
    for (const ev of events) {
      const p = alertEventToPoint(ev) as Point;
      assert.equal(p.measurement, MEASUREMENTS.alerts, JSON.stringify(p));
      assert.equal(p.tags.alert_id, id);
      assert.equal(p.tags.device_id, 'p-1');
      assert.equal(p.fields.event, ev.event);
      assert.equal(p.timestamp, ev.time);
    }
    const last = alertEventToPoint(events[4]) as Point;
    assert.equal(last.fields.status, 'resolved');
    assert.equal(last.fields.acknowledged, true);
    assert.equal(last.fields.resolved_by, 'kim');
    assert.equal(last.tags.equipment_id, 'line-2');
  });
});
