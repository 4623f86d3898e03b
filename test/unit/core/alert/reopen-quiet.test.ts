// Quiet reopens: a flapping (device, rule) pages once per window. The alerts come from the real AlertEngine
// (auto-resolve after 3 clear points, as the node's default), fed through ReopenQuiet the way moby-alert's
// notify() does: open → open(), everything else → follow().
import assert from 'node:assert/strict';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import { ReopenQuiet, type QuietOpening } from '../../../../nodes/core/alert/reopen-quiet';
import { notificationKey, notificationKindsByAlert } from '../../../../nodes/core/alert/channels';
import type { Alert, AlertEvent, Severity } from '../../../../nodes/core/contract';

function setup(windowMs: number, maxKeys?: number) {
  const clock = { t: 1_700_000_000_000 };
  let n = 0;
  const engine = new AlertEngine({ now: () => clock.t, newId: () => `id-${++n}`, autoResolvePoints: 3 });
  const quiet = new ReopenQuiet(windowMs, maxKeys);
  /** what would be notified: [kind, alert id, quieted count before it] */
  const sent: Array<[string, string, number?]> = [];
  const pass = (events: AlertEvent[]) => {
    for (const ev of events) {
      if (ev.event === 'open') {
        const q: QuietOpening | null = quiet.open(ev.alert, clock.t);
        if (q) sent.push(['open', ev.alert.alert_id, q.quieted]);
      } else if (quiet.follow(ev.event, ev.alert)) sent.push([ev.event, ev.alert.alert_id]);
    }
  };
  const trigger = (device = 'd1', severity: Severity = 'warning', tenant?: string) => {
    const r = engine.apply({ kind: 'trigger', device_id: device, rule: 'anomaly', severity, tenant });
    assert.ok(r.ok);
    pass(r.events);
  };
  const clear = (device = 'd1', points = 3, tenant?: string) => {
    for (let i = 0; i < points; i++) {
      const r = engine.apply({ kind: 'clear', device_id: device, rule: 'anomaly', tenant });
      assert.ok(r.ok);
      pass(r.events);
    }
  };
  return { clock, engine, quiet, sent, trigger, clear, pass };
}

describe('alert: quiet reopens (ReopenQuiet)', () => {
  it('a condition flapping every 4 points for 10 minutes pages once, then says how often it flapped', () => {
    const { clock, engine, sent, trigger, clear } = setup(600_000);
    // one point a second: anomalous, then 3 clear (auto-resolve), again and again
    for (let i = 0; i < 150; i++) {
      trigger();
      clock.t += 1000;
      clear();
      clock.t += 3000;
    }
    // every episode is its own alert, as before: the record is untouched
    assert.equal(engine.list({ limit: 1000 }).length, 150);
    assert.deepEqual(sent, [
      ['open', 'id-1', 0],
      ['resolve', 'id-1'],
    ]);
    // ten minutes after the notified opening the next one is sent, telling of the 149 quiet ones
    clock.t = 1_700_000_000_000 + 600_000;
    trigger();
    assert.deepEqual(sent.slice(2), [['open', 'id-151', 149]]);
    clear();
    assert.deepEqual(sent.slice(3), [['resolve', 'id-151']], 'the resolve of a notified opening is sent');
  });

  it('a higher severity is always news; the same or lower within the window is not', () => {
    const { clock, sent, trigger, clear } = setup(600_000);
    trigger('d1', 'warning');
    clear();
    clock.t += 5000;
    trigger('d1', 'info');
    clear();
    clock.t += 5000;
    trigger('d1', 'critical');
    clear();
    clock.t += 5000;
    trigger('d1', 'warning');
    assert.deepEqual(
      sent.map(([k, id]) => `${k}:${id}`),
      ['open:id-1', 'resolve:id-1', 'open:id-3', 'resolve:id-3']
    );
    assert.equal(sent[2][2], 1, 'the critical opening tells of the quiet info one');
  });

  it('an escalation or reminder of a quiet alert is sent, and then its resolve too', () => {
    const { clock, sent, trigger, clear, pass, engine } = setup(600_000);
    trigger();
    clear();
    clock.t += 1000;
    trigger(); // quiet
    const open = engine.list({ status: 'open' })[0] as Alert;
    pass([{ event: 'escalate', time: clock.t, alert: open }]);
    clear();
    assert.deepEqual(
      sent.map(([k, id]) => `${k}:${id}`),
      ['open:id-1', 'resolve:id-1', 'escalate:id-2', 'resolve:id-2']
    );
  });

  it('a quiet reopen still open 2 minutes after it opened is paged then, once; its resolve follows (operator round 2026-12-06)', () => {
    // a machine paged, resolved and paged "resolved", then down again for good within the window: before, nothing
    // until the one-hour reminder, and the last page people had was "resolved"
    const { clock, engine, quiet, sent, trigger, clear } = setup(600_000);
    const lookup = (id: string) => engine.get(id);
    trigger();
    clear();
    clock.t += 5_000;
    trigger(); // a short flap: quiet
    clear();
    clock.t += 5_000;
    trigger(); // down again, for good: quiet at first
    const down = engine.list({ status: 'open' })[0] as Alert;
    assert.deepEqual(quiet.due(clock.t + 119_999, lookup), [], 'not yet');
    clock.t += 120_000;
    const due = quiet.due(clock.t, lookup);
    assert.deepEqual(
      due.map((d) => [d.alert.alert_id, d.quiet.quieted, d.quiet.since]),
      [[down.alert_id, 1, 1_700_000_000_000]],
      'paged, telling of the one quiet before it'
    );
    assert.deepEqual(quiet.due(clock.t + 600_000, lookup), [], 'once');
    for (const d of due) sent.push(['open', d.alert.alert_id, d.quiet.quieted]);
    clear();
    assert.deepEqual(
      sent.map(([k, id]) => `${k}:${id}`),
      ['open:id-1', 'resolve:id-1', `open:${down.alert_id}`, `resolve:${down.alert_id}`],
      'its resolve is news now'
    );
    // it is the last notified opening: the next reopen within the window is quiet again
    clock.t += 1_000;
    trigger();
    assert.equal(sent.length, 4);
  });

  it('the raise of a quiet reopen is paged as its opening, with the quiet count; its resolve then follows (red-team round 2026-12-06: a raise came alone)', () => {
    const { clock, engine, quiet, sent, trigger, clear } = setup(600_000);
    trigger('d1', 'critical'); // paged critical
    clear();
    clock.t += 5_000;
    trigger('d1', 'warning'); // a lower severity within the window: quiet
    const q = engine.list({ status: 'open' })[0] as Alert;
    assert.equal(sent.length, 2, 'quiet');
    // the same alert raised (moby-alert asks raised() before anything else of a raise)
    const r = engine.apply({ kind: 'trigger', device_id: 'd1', rule: 'anomaly', severity: 'critical' });
    assert.ok(r.ok);
    assert.equal(r.events[0].raised_from, 'warning');
    const raised = engine.get(q.alert_id)!;
    assert.equal(raised.severity, 'critical');
    assert.deepEqual(quiet.raised(raised), { quieted: 0, since: 1_700_000_000_000 });
    assert.equal(quiet.raised(raised), null, 'once');
    assert.deepEqual(
      quiet.due(clock.t + 600_000, (id) => engine.get(id)),
      [],
      'no longer quiet: not paged again'
    );
    assert.equal(quiet.follow('resolve', raised), true, 'its resolve is news now');
    // a raise of an alert whose opening was paged stays a raise
    const { engine: e2, quiet: q2, trigger: t2 } = setup(600_000);
    t2('d2', 'warning');
    assert.ok(e2.apply({ kind: 'trigger', device_id: 'd2', rule: 'anomaly', severity: 'critical' }).ok);
    assert.equal(q2.raised(e2.list({ status: 'open' })[0] as Alert), null);
  });

  it('a quiet reopen resolved or acknowledged within the 2 minutes is never paged', () => {
    const { clock, engine, quiet, trigger, clear, pass } = setup(600_000);
    const lookup = (id: string) => engine.get(id);
    trigger('d1');
    clear('d1');
    trigger('d2');
    clear('d2');
    clock.t += 5_000;
    trigger('d1'); // quiet, then resolved
    clear('d1');
    trigger('d2'); // quiet, then acknowledged
    const open = engine.list({ status: 'open' })[0] as Alert;
    const acked = engine.acknowledge(open.alert_id, 'kim');
    assert.ok(acked.ok && acked.event);
    pass([acked.event]);
    clock.t += 600_000;
    assert.deepEqual(quiet.due(clock.t, lookup), []);
  });

  it('keeps devices, rules and tenants apart', () => {
    const { sent, trigger, clear } = setup(600_000);
    trigger('d1');
    clear('d1');
    trigger('d2');
    trigger('d1', 'warning', 'acme');
    trigger('d1'); // the tenant-less d1 again: quiet
    assert.deepEqual(
      sent.map(([k, id]) => `${k}:${id}`),
      ['open:id-1', 'resolve:id-1', 'open:id-2', 'open:id-3']
    );
  });

  it("MOBY's own alerts (pipeline blind, database unwritable) page every opening and resolve, never quieted (operator round 2026-12-06)", () => {
    const { clock, engine, sent, pass } = setup(600_000);
    const id = 'pipeline@vm:1880';
    for (let k = 0; k < 3; k++) {
      for (const rule of ['monitoring_blind', 'database_unwritable', 'anomaly']) {
        for (const r of [
          engine.apply({ kind: 'trigger', device_id: id, rule, severity: 'critical' }),
          engine.apply({ kind: 'clear', device_id: id, rule, immediate: true }),
        ]) {
          assert.ok(r.ok);
          pass(r.events);
        }
      }
      clock.t += 60_000;
    }
    const kinds = (rule: string) =>
      sent.filter(([, alertId]) => engine.get(alertId)?.rule === rule).map(([kind]) => kind);
    assert.deepEqual(kinds('monitoring_blind'), ['open', 'resolve', 'open', 'resolve', 'open', 'resolve']);
    assert.deepEqual(kinds('database_unwritable'), ['open', 'resolve', 'open', 'resolve', 'open', 'resolve']);
    assert.deepEqual(kinds('anomaly'), ['open', 'resolve'], 'any other rule is still quieted');
  });

  it('window 0 notifies every opening; the key bound forgets the least recently used first', () => {
    const off = setup(0);
    for (let i = 0; i < 3; i++) {
      off.trigger();
      off.clear();
    }
    assert.equal(off.sent.length, 6);
    assert.equal(off.quiet.size, 0, 'nothing is remembered when off');

    const small = setup(600_000, 2);
    small.trigger('d1');
    small.clear('d1');
    small.trigger('d2');
    small.trigger('d3'); // d1 forgotten
    small.trigger('d1'); // notified again: its entry was evicted, never a lockout
    assert.equal(small.quiet.size, 2);
    assert.deepEqual(
      small.sent.filter(([k]) => k === 'open').map(([, id]) => id),
      ['id-1', 'id-2', 'id-3', 'id-4']
    );
  });

  it('a clock stepped back does not quiet for longer than the window', () => {
    const { clock, sent, trigger, clear } = setup(600_000);
    trigger();
    clear();
    clock.t -= 3_600_000; // NTP stepped the clock back an hour
    trigger();
    assert.deepEqual(
      sent.map(([k, id]) => `${k}:${id}`),
      ['open:id-1', 'resolve:id-1', 'open:id-2']
    );
  });
  it('seed (after a restart): rebuilt from the alerts and which openings were notified, the same as if the node had not restarted', () => {
    // one run without a restart, recording what was notified
    const a = setup(600_000);
    a.trigger('d1'); // paged
    a.clear('d1');
    a.clock.t += 60_000;
    a.trigger('d1'); // quiet
    a.clear('d1');
    a.clock.t += 60_000;
    a.trigger('d1'); // quiet, still open
    a.trigger('d2'); // paged, long ago by the time of the restart below
    a.trigger('d3'); // never notified (muted, or no channel then): not an entry
    const notified = new Set(a.sent.filter(([k]) => k === 'open').map(([, id]) => id));
    notified.delete('id-5');
    const alerts = a.engine.snapshot().alerts;

    // the restart: a fresh ReopenQuiet seeded from the restored alerts, 2 minutes later; d2's page is outside
    // a window of 100 s from the restart and is not seeded
    const now = a.clock.t + 120_000;
    const seeded = new ReopenQuiet(600_000);
    const kinds = (al: Alert) => (notified.has(al.alert_id) ? new Set(['open']) : undefined);
    seeded.seed(alerts, kinds, now);
    assert.equal(seeded.size, 2, 'd1 and d2 (d3 never notified)');
    const short = new ReopenQuiet(100_000);
    short.seed(alerts, kinds, now);
    assert.equal(short.size, 0, 'every notified opening is older than the window');

    // the quiet alert still open: its resolve is not news; the next opening is quiet, counted
    const quietOpen = alerts.find((al) => al.alert_id === 'id-3')!;
    assert.equal(seeded.follow('resolve', { ...quietOpen, status: 'resolved' }), false);
    assert.equal(seeded.open({ ...quietOpen, alert_id: 'id-9', opened_at: now }, now), null);
    // past the window from the paged opening (id-1), the next one is paged with every quiet one since
    const paged = alerts.find((al) => al.alert_id === 'id-1')!;
    const later = paged.opened_at + 600_000;
    assert.deepEqual(seeded.open({ ...quietOpen, alert_id: 'id-10', opened_at: later }, later), {
      quieted: 3,
      since: paged.opened_at,
    });
    // d3, never notified, pages at its next opening
    const d3 = alerts.find((al) => al.device_id === 'd3')!;
    assert.deepEqual(seeded.open({ ...d3, alert_id: 'id-11', opened_at: now }, now), { quieted: 0 });
  });

  it('seed: a quiet alert that an escalation or a reminder made known before the restart has its resolve sent after it', () => {
    const a = setup(600_000);
    a.trigger('d1'); // paged
    a.clear('d1');
    a.clock.t += 60_000;
    a.trigger('d1'); // quiet, left open, and then escalated: the escalation is sent (news)
    const quietAlert = a.engine.snapshot().alerts.find((al) => al.alert_id === 'id-2')!;
    assert.equal(a.quiet.follow('escalate', quietAlert), true);
    assert.equal(a.quiet.follow('resolve', { ...quietAlert, status: 'resolved' }), true, 'without a restart');

    const sentKinds = new Map<string, Set<string>>([
      ['id-1', new Set(['open', 'resolve'])],
      ['id-2', new Set(['escalate'])],
    ]);
    for (const kind of ['escalate', 'repeat', 'ack', 'update']) {
      const seeded = new ReopenQuiet(600_000);
      sentKinds.set('id-2', new Set([kind]));
      seeded.seed(a.engine.snapshot().alerts, (al: Alert) => sentKinds.get(al.alert_id), a.clock.t + 1000);
      assert.equal(seeded.follow('resolve', { ...quietAlert, status: 'resolved' }), true, `after ${kind}`);
      // the window still holds: the next opening is quiet, counting both
      assert.equal(seeded.open({ ...quietAlert, alert_id: 'id-9' }, a.clock.t + 2000), null, `after ${kind}`);
    }
    // nothing sent about it: its resolve stays quiet
    const seeded = new ReopenQuiet(600_000);
    seeded.seed(
      a.engine.snapshot().alerts,
      (al: Alert) => (al.alert_id === 'id-1' ? new Set(['open']) : undefined),
      a.clock.t
    );
    assert.equal(seeded.follow('resolve', { ...quietAlert, status: 'resolved' }), false);
  });

  it('notification keys read back as the kinds notified per alert (what seed is given after a restart)', () => {
    const keys = [
      notificationKey('0b6f-1', 'open'),
      notificationKey('0b6f-1', 'repeat', 2),
      notificationKey('0b6f-1', 'resolve'),
      notificationKey('a:b', 'escalate'), // an id with a colon in it still reads back whole
      'not-a-notification-key',
      'x:unknownkind',
    ];
    assert.deepEqual(keys.slice(0, 2), ['0b6f-1:open', '0b6f-1:repeat:2']);
    const byAlert = notificationKindsByAlert(keys);
    assert.deepEqual(
      [...byAlert].map(([id, kinds]) => [id, [...kinds].sort()]),
      [
        ['0b6f-1', ['open', 'repeat', 'resolve']],
        ['a:b', ['escalate']],
      ]
    );
  });
});
