// AlertEngine with an injected clock: identity and dedup, independent ack/resolve, auto-resolve by points and
// by time, escalation, repeats, coalesced updates, limits, snapshot/restore.
import assert from 'node:assert/strict';
import {
  AlertEngine,
  REOPENED_AFTER_HAND_MS,
  resolvedByHandBefore,
  type AlertEngineOptions,
  type AlertSignal,
} from '../../../../nodes/core/alert/engine';
import type { Alert } from '../../../../nodes/core/contract';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';
import { warmingResult } from '../../../../nodes/core/anomaly/messages';
import type { AlertEvent } from '../../../../nodes/core/contract';

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

  it("keeps its latest trigger's reason, with that trigger's sensor only; a trigger without a reason leaves them", () => {
    const { engine, apply } = setup({ updateEventMs: 0 });
    const [o] = apply({ kind: 'trigger', reason: 'flatline', sensor: 'temp' });
    assert.deepEqual([o.alert.reason, o.alert.sensor], ['flatline', 'temp']);
    const [u] = apply({ kind: 'trigger', reason: 'persistent' });
    assert.equal(u.alert.reason, 'persistent');
    assert.ok(!('sensor' in u.alert), 'the flat-lined sensor is not the reason any more');
    apply({ kind: 'trigger', reason: 'jump', sensor: 'pressure' });
    const [plain] = apply({ kind: 'trigger', value: 3 });
    assert.deepEqual([plain.alert.reason, plain.alert.sensor], ['jump', 'pressure']);
    const copy = new AlertEngine();
    copy.restore(JSON.parse(JSON.stringify(engine.snapshot())));
    assert.deepEqual(
      copy.list({}).map((a) => [a.reason, a.sensor]),
      [['jump', 'pressure']]
    );
  });

  it('coalesces update events to one per interval, raised severity passes at once, tick flushes the rest', () => {
    const { engine, clock, apply } = setup({ updateEventMs: 1000 });
    apply({ kind: 'trigger' });
    for (let i = 0; i < 10; i++) {
      clock.t += 50;
      assert.deepEqual(apply({ kind: 'trigger' }), []);
    }
    const raised = apply({ kind: 'trigger', severity: 'critical' })[0];
    assert.equal(raised.event, 'update');
    assert.equal(raised.raised_from, 'warning', 'a rise says from what (the alert node pages it)');
    clock.t += 50;
    apply({ kind: 'trigger' });
    assert.deepEqual(engine.tick().events, []);
    clock.t += 1000;
    const { events } = engine.tick();
    assert.equal(events.length, 1);
    assert.equal(events[0].alert.count, 13);
    assert.equal(events[0].raised_from, undefined, 'a coalesced repeat is no rise');
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

  it("a model still calibrating neither opens nor clears: an incident open before a restart that lost the model stays one incident (power-cut round 2026-12-07: resolved 'clear for 3 points' during the recalibration, opened again)", () => {
    const { engine } = setup({ autoResolvePoints: 3 });
    const feed = (anomaly: Record<string, unknown>) => {
      const r = signalsFromMessage({ payload: { tags: { device_id: 'd1' } }, anomaly });
      assert.ok(r.ok);
      return r.signals.flatMap((sig) => (engine.apply(sig) as { events: AlertEvent[] }).events);
    };
    const firing = { score: 9, threshold: 1, is_anomaly: true, severity: 'critical', method: 'pca', contributions: {} };
    assert.equal(
      feed({
        ...firing,
        alarm: true,
        incident: { reason: 'persistent', severity: 'critical', points: 5, opened: true },
      })[0].event,
      'open'
    );
    // the restart lost the device's model: it calibrates again, and every point says "normal, score 0"
    for (let i = 0; i < 50; i++) assert.deepEqual(feed({ ...warmingResult('pca', i, 900) }), [], `warming point ${i}`);
    assert.equal(engine.list({ status: 'open' }).length, 1, 'still open, the same incident');
    // its first verdict after calibration decides
    const events = feed({ ...firing, score: 0.2, is_anomaly: false, severity: 'normal', alarm: false });
    assert.equal(events[0]?.event, 'resolve');
    assert.equal(events[0].alert.alert_id, 'id-1');
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
    assert.deepEqual(
      engine.tick().repeats.map((r) => r.seq),
      [1]
    );
    clock.t += 3600000;
    assert.deepEqual(
      engine.tick().repeats.map((r) => r.seq),
      [2]
    );
    engine.acknowledge(id, 'ops');
    clock.t += 3600000;
    assert.equal(engine.tick().repeats.length, 0);
  });

  it('beyond maxOpen evicts the least recently active open alert instead of refusing; forgets the oldest resolved beyond maxResolved', () => {
    const { engine, clock } = setup({ maxOpen: 2, maxResolved: 2 });
    assert.ok(engine.apply({ kind: 'trigger', device_id: 'a', rule: 'r' }).ok);
    clock.t += 1;
    assert.ok(engine.apply({ kind: 'trigger', device_id: 'b', rule: 'r' }).ok);
    clock.t += 1;
    assert.ok(
      engine.apply({ kind: 'trigger', device_id: 'a', rule: 'r' }).ok,
      'a repeats: now b is the least recently active'
    );
    const over = engine.apply({ kind: 'trigger', device_id: 'c', rule: 'r' });
    assert.ok(over.ok, 'a new device is never refused (no too_many_alerts)');
    assert.deepEqual(over.ok && over.events.map((e) => [e.event, e.alert.device_id, e.alert.resolved_by ?? null]), [
      ['resolve', 'b', 'evicted'],
      ['open', 'c', null],
    ]);
    assert.equal(engine.evictions, 1);
    assert.equal(engine.openCount(), 2);
    assert.match(engine.list({ device: 'b' })[0].resolve_note ?? '', /evicted: more than 2 open alerts/);
    for (const d of ['a', 'c']) engine.apply({ kind: 'clear', device_id: d, rule: 'r', immediate: true });
    assert.deepEqual(
      engine
        .list()
        .map((a) => a.device_id)
        .sort(),
      ['b', 'c'],
      'resolved ones beyond maxResolved are forgotten, oldest opened first'
    );
  });

  it('an alert whose condition still fires is evicted only after every one whose condition has cleared', () => {
    const { engine, clock } = setup({ maxOpen: 3, autoResolvePoints: 100 });
    for (const d of ['firing', 'clearing-1', 'clearing-2']) {
      engine.apply({ kind: 'trigger', device_id: d, rule: 'r' });
      clock.t += 1;
    }
    engine.apply({ kind: 'clear', device_id: 'clearing-1', rule: 'r' });
    engine.apply({ kind: 'clear', device_id: 'clearing-2', rule: 'r' });
    // 'firing' is the least recently active, but it is still firing: the clearing ones go first
    const ev1 = engine.apply({ kind: 'trigger', device_id: 'new-1', rule: 'r' });
    const ev2 = engine.apply({ kind: 'trigger', device_id: 'new-2', rule: 'r' });
    assert.deepEqual(
      [ev1, ev2].map((r) => r.ok && r.events[0].alert.device_id),
      ['clearing-1', 'clearing-2']
    );
    // a clearing alert that fires again is protected again
    const ev3 = engine.apply({ kind: 'trigger', device_id: 'new-3', rule: 'r' });
    assert.equal(
      ev3.ok && ev3.events[0].alert.device_id,
      'firing',
      'with nothing clearing, the least recently active goes'
    );
    assert.equal(engine.evictions, 3);
  });

  it('severity before recency: a firing warning is evicted before a critical alert, however quiet (red-team 2026-12-05)', () => {
    const { engine, clock } = setup({ maxOpen: 3, escalateAfterMs: 1000 });
    const trigger = (d: string, severity: 'info' | 'warning' | 'critical') => {
      clock.t += 1;
      return engine.apply({ kind: 'trigger', device_id: d, rule: 'r', severity });
    };
    const victim = (r: ReturnType<typeof trigger>) =>
      r.ok ? r.events.filter((e) => e.event === 'resolve').map((e) => e.alert.device_id) : ['refused'];
    trigger('offline-pump', 'critical'); // a device that went OFFLINE once and says nothing more
    trigger('w1', 'warning');
    trigger('i1', 'info');
    // before: the least recently active (the critical one) went first
    assert.deepEqual(victim(trigger('flood-1', 'warning')), ['w1']);
    assert.deepEqual(victim(trigger('flood-2', 'warning')), ['i1']);
    assert.deepEqual(victim(trigger('flood-3', 'warning')), ['flood-1']);
    assert.equal(engine.list({ device: 'offline-pump', status: 'open' }).length, 1);
    // a warning raised to critical is protected from then on; its old place among the warnings is gone
    trigger('flood-2', 'critical');
    assert.deepEqual(victim(trigger('flood-4', 'warning')), ['flood-3']);
    // with only critical ones besides the newest, the least recently active critical goes
    trigger('flood-4', 'critical');
    assert.deepEqual(victim(trigger('flood-5', 'critical')), ['offline-pump']);
    // escalation (warning → critical) files the alert under its new severity too
    trigger('flood-6', 'warning'); // evicts flood-2 (the least recently active critical: none lower)
    clock.t += 2000;
    assert.ok(engine.tick().events.some((e) => e.event === 'escalate' && e.alert.device_id === 'flood-6'));
    assert.deepEqual(victim(trigger('flood-7', 'info')), ['flood-4']);
    assert.equal(engine.openCount(), 3);
  });

  it('a critical alert whose condition is clearing for the moment (an intermittent fault) outlasts firing warnings (red-team 2026-12-06)', () => {
    const { engine, clock } = setup({ maxOpen: 3, autoResolvePoints: 100 });
    const apply = (d: string, kind: 'trigger' | 'clear', severity: 'warning' | 'critical' = 'warning') => {
      clock.t += 1;
      return engine.apply({ kind, device_id: d, rule: 'r', severity });
    };
    const victim = (r: ReturnType<typeof apply>) =>
      r.ok ? r.events.filter((e) => e.event === 'resolve').map((e) => e.alert.device_id) : ['refused'];
    apply('spiky-pump', 'trigger', 'critical');
    apply('spiky-pump', 'clear'); // between two spikes: its condition is clear
    apply('w1', 'trigger');
    apply('w2', 'trigger');
    apply('w2', 'clear');
    // before: every clearing alert went first, the critical one among them
    assert.deepEqual(victim(apply('flood-1', 'trigger')), ['w2'], 'a clearing warning first');
    assert.deepEqual(victim(apply('flood-2', 'trigger')), ['w1'], 'then a firing warning');
    assert.deepEqual(victim(apply('flood-3', 'trigger')), ['flood-1']);
    assert.equal(engine.list({ device: 'spiky-pump', status: 'open' }).length, 1);
    apply('flood-2', 'trigger', 'critical');
    apply('flood-3', 'trigger', 'critical');
    // only critical ones are left: the clearing one goes before the firing ones
    assert.deepEqual(victim(apply('flood-4', 'trigger', 'critical')), ['spiky-pump']);
  });

  it('a 100k-new-device flood: real devices that keep alerting keep their open alerts, memory stays bounded', () => {
    const { engine, clock } = setup({ maxOpen: 10_000, maxResolved: 1000 });
    const real = Array.from({ length: 20 }, (_, k) => `real-${k}`);
    const ids = new Map<string, string>();
    for (const d of real) {
      const r = engine.apply({ kind: 'trigger', device_id: d, rule: 'anomaly' });
      ids.set(d, r.ok ? r.events[0].alert.alert_id : '');
    }
    for (let k = 0; k < 100_000; k++) {
      clock.t += 1;
      assert.ok(engine.apply({ kind: 'trigger', device_id: `flood-${k}`, rule: 'device_offline' }).ok);
      if (k % 2000 === 1999) for (const d of real) engine.apply({ kind: 'trigger', device_id: d, rule: 'anomaly' });
    }
    assert.equal(engine.openCount(), 10_000);
    assert.equal(engine.evictions, 100_000 + 20 - 10_000);
    for (const d of real) {
      const open = engine.list({ device: d, status: 'open' });
      assert.equal(open.length, 1, `${d} still has its open alert`);
      assert.equal(open[0].alert_id, ids.get(d), 'the same alert, not a new one');
    }
    assert.equal(engine.snapshot().alerts.length, 10_000 + 1000, 'open bound + resolved bound');
    // and a brand-new real device alerts
    const fresh = engine.apply({ kind: 'trigger', device_id: 'brand-new', rule: 'anomaly' });
    assert.ok(fresh.ok && fresh.events.some((e) => e.event === 'open' && e.alert.device_id === 'brand-new'));
  });

  it('a saved state over the bound is trimmed on restore (resolve events at the next tick), and new alerts open', () => {
    const big = setup({ maxOpen: 100 });
    for (let k = 0; k < 100; k++) {
      big.clock.t += 1;
      big.engine.apply({ kind: 'trigger', device_id: `d${k}`, rule: 'r' });
    }
    const snap = JSON.parse(JSON.stringify(big.engine.snapshot()));
    const small = setup({ maxOpen: 10 });
    small.clock.t = big.clock.t + 1;
    small.engine.restore(snap);
    assert.equal(small.engine.openCount(), 10);
    assert.equal(small.engine.evictions, 90);
    const trimmed = small.engine.tick().events;
    assert.equal(trimmed.length, 90);
    assert.ok(trimmed.every((e) => e.event === 'resolve' && e.alert.resolved_by === 'evicted'));
    assert.deepEqual(
      small.engine
        .list({ status: 'open', limit: 100 })
        .map((a) => a.device_id)
        .sort(),
      ['d90', 'd91', 'd92', 'd93', 'd94', 'd95', 'd96', 'd97', 'd98', 'd99'],
      'the most recently active are kept'
    );
    const r = small.engine.apply({ kind: 'trigger', device_id: 'brand-new', rule: 'r' });
    assert.ok(r.ok && r.events.some((e) => e.event === 'open'));
  });

  it('lists with filters, newest first', () => {
    const { engine, clock, apply } = setup();
    apply({ kind: 'trigger', device_id: 'a', severity: 'info' });
    clock.t += 10;
    apply({ kind: 'trigger', device_id: 'b', severity: 'critical' });
    clock.t += 10;
    const c = apply({ kind: 'trigger', device_id: 'c', severity: 'warning' })[0].alert.alert_id;
    engine.resolve(c, 'x');
    assert.deepEqual(
      engine.list().map((a) => a.device_id),
      ['c', 'b', 'a']
    );
    assert.deepEqual(
      engine.list({ status: 'open' }).map((a) => a.device_id),
      ['b', 'a']
    );
    assert.deepEqual(
      engine.list({ severity: ['critical', 'info'] }).map((a) => a.device_id),
      ['b', 'a']
    );
    assert.deepEqual(
      engine.list({ device: 'a' }).map((a) => a.device_id),
      ['a']
    );
    assert.deepEqual(
      engine.list({ since: clock.t }).map((a) => a.device_id),
      ['c']
    );
    assert.deepEqual(
      engine.list({ limit: 1 }).map((a) => a.device_id),
      ['c']
    );
    assert.deepEqual(engine.list({ acknowledged: false }).length, 3);
    const counts = engine.counts();
    assert.deepEqual(
      counts.find((s) => s.labels.status === 'resolved'),
      { labels: { status: 'resolved', severity: 'warning', acknowledged: 'false' }, value: 1 }
    );
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

describe('alert engine: the host clock steps', () => {
  // wall and monotonic clocks under test control: time passing moves both, setting the clock only the wall
  function stepping(opts: AlertEngineOptions = {}) {
    const c = { wall: 1_700_000_000_000, mono: 1000 };
    let n = 0;
    const engine = new AlertEngine({
      now: () => c.wall,
      monotonic: () => c.mono,
      newId: () => `id-${++n}`,
      escalateAfterMs: 15 * 60_000,
      repeatIntervalMs: 3_600_000,
      ...opts,
    });
    const pass = (ms: number) => {
      c.wall += ms;
      c.mono += ms;
    };
    const step = (ms: number) => {
      c.wall += ms;
    };
    return { engine, c, pass, step };
  }
  const trigger = { kind: 'trigger' as const, device_id: 'd1', rule: 'anomaly', severity: 'warning' as const };

  it('a step forward of an hour neither escalates nor reminds; the alert escalates 15 min after it opened', () => {
    const { engine, pass, step, c } = stepping();
    engine.apply(trigger);
    engine.tick();
    pass(60_000);
    step(3_600_000);
    const now = engine.tick();
    assert.deepEqual(now.events, [], 'no escalation for an hour that did not pass');
    assert.deepEqual(now.repeats, [], 'no reminder either');
    assert.equal(engine.clockSteps, 1);
    const [open] = engine.list({});
    assert.equal(c.wall - open.opened_at, 60_000, 'opened a minute ago, in the new clock');
    pass(14 * 60_000);
    assert.deepEqual(
      engine.tick().events.map((e) => e.event),
      ['escalate']
    );
  });

  it('after a step back of an hour the alert still escalates 15 min after it opened, not 75', () => {
    const { engine, pass, step } = stepping();
    engine.apply(trigger);
    pass(60_000);
    step(-3_600_000);
    engine.tick();
    pass(14 * 60_000);
    assert.deepEqual(
      engine.tick().events.map((e) => e.event),
      ['escalate']
    );
  });

  it('time-based auto-resolve counts clear time across a step, not the step', () => {
    const { engine, pass, step } = stepping({ autoResolveMs: 600_000, autoResolvePoints: 0, escalateAfterMs: 0 });
    engine.apply(trigger);
    engine.apply({ ...trigger, kind: 'clear' });
    pass(1000);
    step(3_600_000);
    assert.deepEqual(engine.tick().events, [], 'clear for a second, not an hour');
    pass(599_000);
    assert.deepEqual(
      engine.tick().events.map((e) => e.event),
      ['resolve']
    );
  });

  it('tells onClockStep the step, after the open alerts moved (for the node to count and warn)', () => {
    const seen: Array<[number, number]> = [];
    const { engine, pass, step, c } = stepping({
      onClockStep: (delta) => seen.push([delta, c.wall - engine.list({})[0].opened_at]),
    });
    engine.apply(trigger);
    pass(60_000);
    engine.tick();
    assert.deepEqual(seen, [], 'time passing is no step');
    step(-3_600_000);
    engine.tick();
    assert.deepEqual(seen, [[-3_600_000, 60_000]], 'the step, with the alert still opened a minute ago');
  });

  it('a wall clock injected without a monotonic one is never taken for a step (tests that move time by hand)', () => {
    const { engine, clock, apply } = setup({ escalateAfterMs: 300_000 });
    apply({ kind: 'trigger' });
    clock.t += 300_000;
    assert.equal(engine.tick().events[0].event, 'escalate');
    assert.equal(engine.clockSteps, 0);
  });
});

describe('resolvedByHandBefore: an opening that followed a resolve by hand', () => {
  const base: Alert = {
    alert_id: 'new',
    device_id: 'pump-1',
    rule: 'anomaly',
    severity: 'critical',
    status: 'open',
    acknowledged: false,
    message: '',
    count: 1,
    opened_at: 1_000_000,
    updated_at: 1_000_000,
  };
  const resolved = (id: string, by: string, at: number, o: Partial<Alert> = {}): Alert => ({
    ...base,
    alert_id: id,
    status: 'resolved',
    opened_at: at - 5000,
    resolved_at: at,
    resolved_by: by,
    ...o,
  });

  it('names the previous alert of the same device, rule and tenant when a person resolved it within the window', () => {
    assert.deepEqual(resolvedByHandBefore([resolved('a', 'op1', 999_000)], base), {
      alert_id: 'a',
      by: 'op1',
      at: 999_000,
    });
  });

  it('only the previous alert counts: one resolved automatically after a resolve by hand says nothing', () => {
    const alerts = [resolved('a', 'op1', 900_000), resolved('b', 'auto', 990_000)];
    assert.equal(resolvedByHandBefore(alerts, base), null);
    assert.equal(resolvedByHandBefore([resolved('c', 'evicted', 990_000)], base), null);
  });

  it('not another device, rule or tenant, not a resolve after the opening, not one older than the window', () => {
    assert.equal(resolvedByHandBefore([resolved('a', 'op1', 999_000, { device_id: 'pump-2' })], base), null);
    assert.equal(resolvedByHandBefore([resolved('a', 'op1', 999_000, { rule: 'device_offline' })], base), null);
    assert.equal(resolvedByHandBefore([resolved('a', 'op1', 999_000, { tenant: 'acme' })], base), null);
    assert.equal(resolvedByHandBefore([resolved('a', 'op1', 1_000_001)], base), null);
    const old = 1_000_000 - REOPENED_AFTER_HAND_MS - 1;
    assert.equal(resolvedByHandBefore([resolved('a', 'op1', old)], base), null);
    assert.notEqual(resolvedByHandBefore([resolved('a', 'op1', old + 1)], base), null);
  });
});
