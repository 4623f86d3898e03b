// AlertEngine with an injected clock: identity and dedup, independent ack/resolve, auto-resolve by points and
// by time, escalation, repeats, coalesced updates, limits, snapshot/restore.
import assert from 'node:assert/strict';
import { AlertEngine, type AlertEngineOptions, type AlertSignal } from '../../nodes/core/alert/engine';
import type { AlertEvent } from '../../nodes/core/contract';

function setup(opts: AlertEngineOptions = {}) {
  const clock = { t: 1_700_000_000_000 };
  let n = 0;
  const engine = new AlertEngine({ now: () => clock.t, newId: () => `id-${++n}`, ...opts });
  const apply = (s: Partial<AlertSignal> & { kind: AlertSignal['kind'] }): AlertEvent[] => {
    const r = engine.apply({ device_id: 'd1', rule: 'anomaly', ...s });
    assert.ok(r.ok);
    return r.events;
  };
  return { engine, clock, apply };
}

describe('alert engine', () => {
  it('opens one alert per device and rule and folds repeats into it', () => {
    const { engine, clock, apply } = setup({ updateEventMs: 0 });
    assert.equal(apply({ kind: 'trigger', value: 1 })[0].event, 'open');
    clock.t += 10;
    const [u] = apply({ kind: 'trigger', value: 2, severity: 'critical' });
    assert.equal(u.event, 'update');
    assert.equal(u.alert.count, 2);
    assert.equal(u.alert.value, 2);
    assert.equal(u.alert.severity, 'critical');
    assert.equal(u.alert.updated_at, clock.t);
    // a lower severity later does not downgrade the incident
    assert.equal(apply({ kind: 'trigger', severity: 'info' })[0].alert.severity, 'critical');
    assert.equal(apply({ kind: 'trigger', device_id: 'd2' })[0].event, 'open');
    assert.equal(apply({ kind: 'trigger', rule: 'rul' })[0].event, 'open');
    assert.equal(engine.openCount(), 3);
  });

  it('coalesces update events to one per interval, raised severity passes at once, tick flushes the rest', () => {
    const { engine, clock, apply } = setup({ updateEventMs: 1000 });
    apply({ kind: 'trigger' });
    for (let i = 0; i < 10; i++) {
      clock.t += 50;
      assert.deepEqual(apply({ kind: 'trigger' }), []);
    }
    assert.equal(apply({ kind: 'trigger', severity: 'critical' })[0].event, 'update');
    clock.t += 50;
    apply({ kind: 'trigger' });
    assert.deepEqual(engine.tick().events, []);
    clock.t += 1000;
    const { events } = engine.tick();
    assert.equal(events.length, 1);
    assert.equal(events[0].alert.count, 13);
  });

  it('acknowledge and resolve are independent, record who/when/note, and refuse repeats', () => {
    const { engine, clock, apply } = setup();
    const id = apply({ kind: 'trigger' })[0].alert.alert_id;
    clock.t += 5;
    const res = engine.resolve(id, 'kim', 'fixed');
    assert.ok(res.ok);
    assert.equal(res.alert!.status, 'resolved');
    assert.equal(res.alert!.acknowledged, false);
    assert.equal(res.alert!.resolved_at, clock.t);
    assert.equal(res.alert!.resolve_note, 'fixed');
    assert.equal(engine.resolve(id, 'kim').error, 'already_resolved');
    const ack = engine.acknowledge(id, 'lee', 'late');
    assert.equal(ack.event!.event, 'ack');
    assert.equal(ack.alert!.acknowledged_by, 'lee');
    assert.equal(ack.alert!.status, 'resolved');
    assert.equal(engine.acknowledge(id, 'lee').error, 'already_acknowledged');
    assert.equal(engine.acknowledge('nope', 'x').error, 'not_found');
    // a new trigger opens a new alert
    assert.equal(apply({ kind: 'trigger' })[0].alert.alert_id, 'id-2');
  });

  it('auto-resolves after N consecutive clear points; a trigger in between starts over', () => {
    const { apply } = setup({ autoResolvePoints: 3 });
    apply({ kind: 'trigger' });
    apply({ kind: 'clear' });
    apply({ kind: 'clear' });
    apply({ kind: 'trigger' });
    assert.deepEqual(apply({ kind: 'clear' }), []);
    assert.deepEqual(apply({ kind: 'clear' }), []);
    const [r] = apply({ kind: 'clear' });
    assert.equal(r.event, 'resolve');
    assert.equal(r.alert.resolved_by, 'auto');
    assert.deepEqual(apply({ kind: 'clear' }), [], 'clear with nothing open is a no-op');
  });

  it('an immediate clear resolves at once even with point counting off', () => {
    const { apply } = setup({ autoResolvePoints: 0 });
    apply({ kind: 'trigger' });
    assert.deepEqual(apply({ kind: 'clear' }), []);
    assert.equal(apply({ kind: 'clear', immediate: true })[0].event, 'resolve');
  });

  it('auto-resolves after the condition stays clear for T ms', () => {
    const { engine, clock, apply } = setup({ autoResolvePoints: 0, autoResolveMs: 60000 });
    apply({ kind: 'trigger' });
    clock.t += 1000;
    apply({ kind: 'clear' });
    clock.t += 59000;
    assert.deepEqual(engine.tick().events, []);
    clock.t += 1000;
    const { events } = engine.tick();
    assert.equal(events[0].event, 'resolve');
    assert.match(events[0].alert.resolve_note!, /clear for 60000 ms/);
  });

  it('escalates once when unacknowledged for T, one severity step up, and not when acknowledged', () => {
    const { engine, clock, apply } = setup({ escalateAfterMs: 300000 });
    const a = apply({ kind: 'trigger', severity: 'info' })[0].alert.alert_id;
    const b = apply({ kind: 'trigger', device_id: 'd2', severity: 'warning' })[0].alert.alert_id;
    engine.acknowledge(b, 'ops');
    clock.t += 299999;
    assert.deepEqual(engine.tick().events, []);
    clock.t += 1;
    const { events } = engine.tick();
    assert.equal(events.length, 1);
    assert.equal(events[0].event, 'escalate');
    assert.equal(events[0].alert.alert_id, a);
    assert.equal(events[0].alert.severity, 'warning');
    clock.t += 600000;
    assert.deepEqual(engine.tick().events, [], 'escalates only once');
  });

  it('produces repeat reminders every interval while open and unacknowledged', () => {
    const { engine, clock, apply } = setup({ repeatIntervalMs: 3600000 });
    const id = apply({ kind: 'trigger' })[0].alert.alert_id;
    clock.t += 3599999;
    assert.equal(engine.tick().repeats.length, 0);
    clock.t += 1;
    assert.deepEqual(engine.tick().repeats.map((r) => r.seq), [1]);
    clock.t += 3600000;
    assert.deepEqual(engine.tick().repeats.map((r) => r.seq), [2]);
    engine.acknowledge(id, 'ops');
    clock.t += 3600000;
    assert.equal(engine.tick().repeats.length, 0);
  });

  it('refuses new alerts beyond maxOpen and forgets the oldest resolved beyond maxResolved', () => {
    const { engine } = setup({ maxOpen: 2, maxResolved: 2 });
    assert.ok(engine.apply({ kind: 'trigger', device_id: 'a', rule: 'r' }).ok);
    assert.ok(engine.apply({ kind: 'trigger', device_id: 'b', rule: 'r' }).ok);
    const over = engine.apply({ kind: 'trigger', device_id: 'c', rule: 'r' });
    assert.equal(over.ok, false);
    assert.equal(!over.ok && over.code, 'too_many_alerts');
    // repeats of existing alerts still work at the limit
    assert.ok(engine.apply({ kind: 'trigger', device_id: 'a', rule: 'r' }).ok);
    for (const d of ['a', 'b']) engine.apply({ kind: 'clear', device_id: d, rule: 'r', immediate: true });
    engine.apply({ kind: 'trigger', device_id: 'c', rule: 'r' });
    engine.apply({ kind: 'clear', device_id: 'c', rule: 'r', immediate: true });
    assert.deepEqual(engine.list().map((a) => a.device_id).sort(), ['b', 'c']);
  });

  it('lists with filters, newest first', () => {
    const { engine, clock, apply } = setup();
    apply({ kind: 'trigger', device_id: 'a', severity: 'info' });
    clock.t += 10;
    apply({ kind: 'trigger', device_id: 'b', severity: 'critical' });
    clock.t += 10;
    const c = apply({ kind: 'trigger', device_id: 'c', severity: 'warning' })[0].alert.alert_id;
    engine.resolve(c, 'x');
    assert.deepEqual(engine.list().map((a) => a.device_id), ['c', 'b', 'a']);
    assert.deepEqual(engine.list({ status: 'open' }).map((a) => a.device_id), ['b', 'a']);
    assert.deepEqual(engine.list({ severity: ['critical', 'info'] }).map((a) => a.device_id), ['b', 'a']);
    assert.deepEqual(engine.list({ device: 'a' }).map((a) => a.device_id), ['a']);
    assert.deepEqual(engine.list({ since: clock.t }).map((a) => a.device_id), ['c']);
    assert.deepEqual(engine.list({ limit: 1 }).map((a) => a.device_id), ['c']);
    assert.deepEqual(engine.list({ acknowledged: false }).length, 3);
    const counts = engine.counts();
    assert.deepEqual(counts.find((s) => s.labels.status === 'resolved'), { labels: { status: 'resolved', severity: 'warning', acknowledged: 'false' }, value: 1 });
  });

  it('survives a JSON snapshot round trip with its tracking, and skips malformed entries', () => {
    const { engine, clock, apply } = setup({ autoResolvePoints: 2, repeatIntervalMs: 1000 });
    const id = apply({ kind: 'trigger' })[0].alert.alert_id;
    apply({ kind: 'clear' });
    const snap = JSON.parse(JSON.stringify(engine.snapshot()));
    snap.alerts.push({ alert_id: 7 }, null, { alert_id: 'x', device_id: 'd', rule: 'r', severity: 'extreme' });
    const other = new AlertEngine({ now: () => clock.t, autoResolvePoints: 2, repeatIntervalMs: 1000 });
    assert.equal(other.restore(snap), 1);
    assert.equal(other.get(id)!.status, 'open');
    // the persisted clear count carries on: one more clear point resolves
    const r = other.apply({ kind: 'clear', device_id: 'd1', rule: 'anomaly' });
    assert.ok(r.ok && r.events[0].event === 'resolve');
    assert.equal(new AlertEngine().restore('garbage'), 0);
  });
});
