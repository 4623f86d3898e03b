// Held OFFLINE pages: the alerts come from the real AlertEngine and its inputs (a device-health OFFLINE, ONLINE
// and TIMEOUT as moby-alert gets them), fed through PageHold the way moby-alert's eventMessages() does.
import assert from 'node:assert/strict';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';
import { LATE_PAGE_MS, PageHold, holdsPage } from '../../../../nodes/core/alert/page-hold';
import type { Alert } from '../../../../nodes/core/contract';
import { anomalyMsg } from '../../../support/anomaly-msg';

function setup(holdMs: number) {
  const clock = { t: 1_700_000_000_000 };
  let n = 0;
  const engine = new AlertEngine({ now: () => clock.t, monotonic: () => clock.t, newId: () => `a${++n}` });
  const hold = new PageHold(holdMs);
  /** one input message through the engine: the alert it opened, raised or resolved last, if any */
  const apply = (msg: Parameters<typeof signalsFromMessage>[0]): Alert | undefined => {
    const r = signalsFromMessage(msg);
    assert.ok(r.ok);
    let last: Alert | undefined;
    for (const s of r.signals) {
      const out = engine.apply(s);
      assert.ok(out.ok);
      for (const ev of out.events) last = ev.alert;
    }
    return last;
  };
  /** one device-health state through the engine */
  const health = (device: string, state: string) =>
    apply({ topic: 'device-health', payload: { device_id: device, state } });
  /** a critical anomaly of `device` through the engine */
  const critical = (device: string) => apply(anomalyMsg(device, true, 0.95, 'critical'))!;
  return { clock, engine, hold, health, critical, lookup: (id: string) => engine.get(id) };
}

describe('PageHold (held OFFLINE pages)', () => {
  it('holds only the opening of an OFFLINE alert, not a TIMEOUT, an anomaly or anything with a hold of 0', () => {
    const { hold, health } = setup(60_000);
    const offline = health('gw-1', 'OFFLINE')!;
    assert.equal(offline.rule, 'device_offline');
    assert.equal(hold.hold(offline), true);
    assert.equal(hold.hold(health('gw-2', 'TIMEOUT')!), false, 'a TIMEOUT already waited for its timeout');
    assert.equal(holdsPage({ ...offline, rule: 'anomaly', reason: 'persistent' }), false);
    assert.equal(new PageHold(0).hold(offline), false);
    assert.equal(hold.size, 1);
  });

  it('a device back within the hold: its resolve is dropped and nothing comes due', () => {
    const { clock, hold, health, lookup } = setup(60_000);
    assert.equal(hold.hold(health('gw-1', 'OFFLINE')!), true);
    clock.t += 9_000;
    const resolved = health('gw-1', 'ONLINE')!;
    assert.equal(resolved.status, 'resolved');
    assert.equal(hold.follow('resolve', resolved), 'dropped');
    clock.t += 120_000;
    assert.deepEqual(hold.due(clock.t, lookup), []);
    assert.equal(hold.size, 0);
  });

  it('a device still down when the hold ends comes due once, at opened_at + hold; its resolve is then news', () => {
    const { clock, hold, health, lookup } = setup(60_000);
    const a = health('gw-1', 'OFFLINE')!;
    hold.hold(a);
    clock.t += 59_999;
    assert.deepEqual(hold.due(clock.t, lookup), []);
    clock.t += 1;
    assert.deepEqual(
      hold.due(clock.t, lookup).map((x) => x.alert.alert_id),
      [a.alert_id]
    );
    assert.deepEqual(hold.due(clock.t + 60_000, lookup), [], 'due once');
    assert.equal(hold.follow('resolve', health('gw-1', 'ONLINE')!), 'not_held');
  });

  it('while MOBY cannot hear, nothing is due; each held page waits a full hold after it hears again (a broker outage sends every will: operator round 2026-12-06)', () => {
    const { clock, engine, hold, health, lookup } = setup(60_000);
    const t0 = clock.t;
    // a stopping broker hands over the wills of the devices connected to it, then the pipeline loses it
    const wills = ['gw-1', 'gw-2', 'gw-3'].map((d) => health(d, 'OFFLINE')!);
    for (const a of wills) hold.hold(a);
    hold.noteHearing(false, t0 + 100);
    for (let t = t0; t <= t0 + 300_000; t += 10_000) assert.deepEqual(hold.due(t, lookup), [], 'nothing while deaf');
    // the broker is back at +300 s; gw-1 and gw-2 reconnect and send data, gw-3 really died
    hold.noteHearing(true, t0 + 300_000);
    clock.t = t0 + 305_000;
    for (const d of ['gw-1', 'gw-2']) {
      const resolved = health(d, 'ONLINE')!;
      assert.equal(hold.follow('resolve', resolved), 'dropped');
    }
    assert.deepEqual(hold.due(t0 + 359_999, lookup), [], 'a full hold after hearing again');
    assert.deepEqual(
      hold.due(t0 + 360_000, lookup).map((p) => p.alert.device_id),
      ['gw-3']
    );
    assert.equal(engine.get(wills[2].alert_id)?.status, 'open');
    // without a blind stretch the hold counts from opened_at, as before
    hold.noteHearing(true, t0 + 400_000);
    clock.t = t0 + 400_000;
    const later = health('gw-9', 'OFFLINE')!;
    hold.hold(later);
    assert.deepEqual(
      hold.due(t0 + 460_000, lookup).map((p) => p.alert.device_id),
      ['gw-9']
    );
  });

  it('an acknowledgement drops the page; an escalation or a reminder pages the opening now, a raise pages the opening instead of itself', () => {
    const { hold, health } = setup(60_000);
    const a = health('gw-1', 'OFFLINE')!;
    for (const [kind, expected] of [
      ['ack', 'dropped'],
      ['escalate', 'page_now'],
      ['repeat', 'page_now'],
      ['raise', 'page_open_instead'],
    ] as const) {
      hold.hold(a);
      assert.equal(hold.follow(kind, a), expected, kind);
      assert.equal(hold.follow(kind, a), 'not_held', `${kind}: the hold ended`);
    }
  });

  it('an alert pushed out by the open-alert bound during its hold pages its opening now', () => {
    // the device never came back: after the eviction the hold's later check no longer finds the alert open,
    // so without this its opening would never be paged (and the eviction itself is not paged)
    const clock = { t: 1_700_000_000_000 };
    let n = 0;
    const engine = new AlertEngine({
      now: () => clock.t,
      monotonic: () => clock.t,
      newId: () => `a${++n}`,
      maxOpen: 1,
    });
    const hold = new PageHold(60_000);
    const offline = (device: string) => {
      const r = signalsFromMessage({ topic: 'device-health', payload: { device_id: device, state: 'OFFLINE' } });
      assert.ok(r.ok);
      const out = engine.apply(r.signals[0]);
      assert.ok(out.ok);
      return out.events;
    };
    const [first] = offline('gw-1');
    assert.equal(hold.hold(first.alert), true);
    clock.t += 1_000;
    const [evicted, opened] = offline('gw-2');
    assert.equal(evicted.event, 'resolve');
    assert.equal(evicted.alert.resolved_by, 'evicted');
    assert.equal(evicted.alert.alert_id, first.alert.alert_id);
    assert.equal(hold.follow('resolve', evicted.alert), 'page_now');
    assert.equal(opened.event, 'open');
    assert.equal(hold.hold(opened.alert), true);
    assert.equal(hold.size, 1, 'the evicted alert is no longer held');
  });

  it('follows a step of the wall clock through the alert times the engine moves', () => {
    const { clock, engine, hold, health, lookup } = setup(60_000);
    hold.hold(health('gw-1', 'OFFLINE')!);
    // the host clock steps forward an hour: the engine moves the open alerts' times with it (shiftTime)
    engine.shiftTime(3_600_000);
    clock.t += 3_600_000 + 30_000;
    assert.deepEqual(hold.due(clock.t, lookup), [], 'the hour of the step is not counted as held time');
    clock.t += 30_000;
    assert.equal(hold.due(clock.t, lookup).length, 1);
  });

  it('lets go of an alert the engine no longer holds', () => {
    const { hold } = setup(60_000);
    hold.hold({
      alert_id: 'gone',
      device_id: 'gw-1',
      rule: 'device_offline',
      reason: 'offline',
      severity: 'critical',
      status: 'open',
      acknowledged: false,
      message: '',
      count: 1,
      opened_at: 0,
      updated_at: 0,
    });
    assert.deepEqual(
      hold.due(Date.now(), () => undefined),
      []
    );
    assert.equal(hold.size, 0);
  });

  it('seed after a restart: holds again an open, unacknowledged OFFLINE alert whose opening was not notified', () => {
    const { clock, engine, health } = setup(60_000);
    const held = health('gw-1', 'OFFLINE')!; // opening never notified: held again
    const paged = health('gw-2', 'OFFLINE')!; // its opening was sent before the restart
    const acked = health('gw-3', 'OFFLINE')!;
    engine.acknowledge(acked.alert_id, 'ops');
    health('gw-4', 'TIMEOUT'); // not a held kind
    clock.t += 10_000;
    const restarted = new PageHold(60_000);
    restarted.seed(engine.list(), (a) => (a.alert_id === paged.alert_id ? new Set(['open']) : undefined), clock.t);
    assert.equal(restarted.size, 1);
    assert.ok(restarted.has(held.alert_id));
    assert.deepEqual(
      restarted.due(clock.t + 59_999, (id) => engine.get(id)),
      [],
      'a whole hold after the restart, not the rest of it (opened_at + hold is 10 s earlier)'
    );
    clock.t += 60_000;
    assert.equal(restarted.due(clock.t, (id) => engine.get(id))[0].alert.alert_id, held.alert_id);
  });

  it('seed: a hold that ended while Node-RED was down waits one hold after the restart; a device back meanwhile pages nothing (before: paged at the first tick, then its resolve; operator round 2026-12-06)', () => {
    const { clock, engine, health } = setup(60_000);
    const back = health('gw-1', 'OFFLINE')!;
    const down = health('gw-2', 'OFFLINE')!;
    clock.t += 120_000; // the holds ended a minute before the restart
    const restarted = new PageHold(60_000);
    restarted.seed(engine.list(), () => undefined, clock.t);
    assert.deepEqual(
      restarted.due(clock.t, (id) => engine.get(id)),
      [],
      'nothing at the first tick'
    );
    clock.t += 3_000; // gw-1's birth after the restart
    const resolved = health('gw-1', 'ONLINE')!;
    assert.equal(resolved.alert_id, back.alert_id);
    assert.equal(restarted.follow('resolve', resolved), 'dropped', 'neither its opening nor its resolve is paged');
    assert.deepEqual(
      restarted.due(clock.t + 56_999, (id) => engine.get(id)),
      []
    );
    assert.deepEqual(
      restarted.due(clock.t + 57_000, (id) => engine.get(id)).map((d) => d.alert.alert_id),
      [down.alert_id],
      'the device that stayed down is paged one hold after the restart'
    );
  });

  it('seed does not page late an opening whose hold ended long before the restart', () => {
    const { clock, engine, health } = setup(60_000);
    const a = health('gw-1', 'OFFLINE')!;
    const restarted = new PageHold(60_000);
    clock.t += 60_000 + LATE_PAGE_MS; // ended exactly LATE_PAGE_MS ago: still paged
    restarted.seed(engine.list(), () => undefined, clock.t);
    assert.ok(restarted.has(a.alert_id));
    const later = new PageHold(60_000);
    later.seed(engine.list(), () => undefined, clock.t + 1);
    assert.equal(later.size, 0, 'history, not news');
    const off = new PageHold(0);
    off.seed(engine.list(), () => undefined, clock.t - LATE_PAGE_MS);
    assert.equal(off.size, 0, 'a hold of 0 seeds nothing');
  });

  it('seedUnpaged after a restart with a channel: holds the opening of each open, unacknowledged alert never notified and without a hold of its own, recent and not quiet, for one OFFLINE hold (operator round 2026-12-07: of five open alerts only the held OFFLINE page went out once a webhook was added)', () => {
    const { clock, engine, health, critical } = setup(60_000);
    const old = critical('pump-0'); // opened more than LATE_PAGE_MS before the restart: history
    clock.t += LATE_PAGE_MS - 30_000;
    const anomaly = critical('pump-1'); // never notified: paged
    const timeout = health('fan-2', 'TIMEOUT')!; // never notified: paged
    const notified = critical('pump-3'); // its opening was sent
    const acked = critical('pump-4');
    engine.acknowledge(acked.alert_id, 'ops');
    const quiet = critical('pump-5'); // a quiet reopen: ReopenQuiet pages it if it stays open
    const escalated = critical('pump-8'); // a quiet opening whose escalation was sent: known, its resolve is paged
    const offline = health('gw-6', 'OFFLINE')!; // has a hold of its own: seed() rebuilds it
    const resolved = health('fan-7', 'TIMEOUT')!;
    health('fan-7', 'ONLINE');
    clock.t += 60_000; // the restart, a minute later: the oldest opened LATE_PAGE_MS + 30 s ago
    const restarted = new PageHold(60_000);
    const sent = (a: Alert) =>
      a.alert_id === notified.alert_id
        ? new Set(['open'])
        : a.alert_id === escalated.alert_id
          ? new Set(['escalate'])
          : undefined;
    restarted.seed(engine.list(), sent, clock.t);
    assert.ok(restarted.has(offline.alert_id));
    const n = restarted.seedUnpaged(engine.list(), sent, clock.t, (a) => a.alert_id === quiet.alert_id);
    assert.equal(n, 2);
    for (const a of [old, notified, acked, quiet, resolved, escalated])
      assert.ok(!restarted.has(a.alert_id), a.device_id);
    assert.deepEqual(
      restarted.due(clock.t + 59_999, (id) => engine.get(id)),
      [],
      'one hold after the restart'
    );
    assert.deepEqual(
      restarted
        .due(clock.t + 60_000, (id) => engine.get(id))
        .map((d) => `${d.kind}:${d.alert.device_id}`)
        .sort(),
      [`open:${anomaly.device_id}`, `open:${offline.device_id}`, `open:${timeout.device_id}`].sort()
    );
    // a hold of 0 (pages at once): due at the first check after the restart
    const atOnce = new PageHold(0);
    assert.equal(
      atOnce.seedUnpaged(engine.list(), sent, clock.t, () => false),
      4,
      'the OFFLINE one too: no hold of its own'
    );
    assert.equal(atOnce.due(clock.t, (id) => engine.get(id)).length, 4);
  });

  describe('a will that raises an open alert (end-to-end round 2026-12-06: a device that timed out and rebooted was paged critical at once)', () => {
    /** device-health TIMEOUT (opens the warning, paged at once), then its will: the raise event */
    function timeoutThenWill(hold: PageHold, health: (d: string, s: string) => Alert | undefined, device: string) {
      const warning = health(device, 'TIMEOUT')!;
      assert.equal(warning.severity, 'warning');
      assert.equal(hold.hold(warning), false, 'a TIMEOUT opening is not held');
      const raised = health(device, 'OFFLINE')!;
      assert.equal(raised.alert_id, warning.alert_id, 'the same alert, raised');
      assert.equal(raised.severity, 'critical');
      return raised;
    }

    it('the raise waits the hold from the raise; back within it: the raise is dropped and the resolve is news', () => {
      const { clock, hold, health, lookup } = setup(60_000);
      const raised = timeoutThenWill(hold, health, 'gw-1');
      assert.equal(hold.holdRaise(raised, clock.t), true);
      clock.t += 59_999;
      assert.deepEqual(hold.due(clock.t, lookup), []);
      const resolved = health('gw-1', 'ONLINE')!;
      assert.equal(resolved.status, 'resolved');
      assert.equal(hold.follow('resolve', resolved), 'raise_dropped');
      assert.deepEqual(hold.due(clock.t + 120_000, lookup), []);
      assert.equal(hold.size, 0);
    });

    it('still down when the hold ends: the raise comes due once, as a raise', () => {
      const { clock, hold, health, lookup } = setup(60_000);
      clock.t += 5_000;
      const raised = timeoutThenWill(hold, health, 'gw-1');
      const raisedAt = clock.t;
      hold.holdRaise(raised, raisedAt);
      clock.t = raisedAt + 60_000;
      const due = hold.due(clock.t, lookup);
      assert.deepEqual(
        due.map((p) => [p.kind, p.alert.alert_id, p.alert.severity]),
        [['raise', raised.alert_id, 'critical']]
      );
      assert.deepEqual(hold.due(clock.t + 60_000, lookup), [], 'due once');
      assert.equal(hold.follow('resolve', health('gw-1', 'ONLINE')!), 'not_held');
    });

    it('an acknowledgement drops the raise; an escalation, a reminder or an eviction pages it now', () => {
      const { clock, hold, health } = setup(60_000);
      const raised = timeoutThenWill(hold, health, 'gw-1');
      for (const [kind, alert, expected] of [
        ['ack', raised, 'raise_dropped'],
        ['escalate', raised, 'page_raise_now'],
        ['repeat', raised, 'page_raise_now'],
        ['resolve', { ...raised, status: 'resolved', resolved_by: 'evicted' } as Alert, 'page_raise_now'],
      ] as const) {
        assert.equal(hold.holdRaise(raised, clock.t), true);
        assert.equal(hold.follow(kind, alert), expected, kind);
        assert.equal(hold.follow(kind, alert), 'not_held', `${kind}: the hold ended`);
      }
    });

    it('only a raise by a will waits: not a raise of an anomaly alarm, nor with a hold of 0', () => {
      const { hold, health } = setup(60_000);
      const raised = timeoutThenWill(hold, health, 'gw-1');
      assert.equal(hold.holdRaise({ ...raised, rule: 'anomaly', reason: 'persistent' }, 0), false);
      assert.equal(hold.holdRaise({ ...raised, reason: 'timeout' }, 0), false);
      assert.equal(new PageHold(0).holdRaise(raised, 0), false);
      assert.equal(hold.size, 0);
    });

    it('while MOBY cannot hear, a held raise is not due; it waits a full hold after hearing again', () => {
      const { clock, hold, health, lookup } = setup(60_000);
      const t0 = clock.t;
      const raised = timeoutThenWill(hold, health, 'gw-1');
      hold.holdRaise(raised, t0);
      hold.noteHearing(false, t0 + 1_000);
      assert.deepEqual(hold.due(t0 + 200_000, lookup), []);
      hold.noteHearing(true, t0 + 200_000);
      assert.deepEqual(hold.due(t0 + 259_999, lookup), []);
      assert.deepEqual(
        hold.due(t0 + 260_000, lookup).map((p) => p.kind),
        ['raise']
      );
    });
  });

  describe('Hold warnings (operator round 2026-12-06: each demo fault paged its warning and, seconds later, its raise to critical)', () => {
    function anomalySetup(warningHoldMs: number) {
      const clock = { t: 1_700_000_000_000 };
      let n = 0;
      const engine = new AlertEngine({ now: () => clock.t, monotonic: () => clock.t, newId: () => `w${++n}` });
      const hold = new PageHold(60_000, warningHoldMs);
      const anomaly = (device: string, severity: 'warning' | 'critical' | 'normal') => {
        const r = signalsFromMessage(
          severity === 'normal' ? anomalyMsg(device, false) : anomalyMsg(device, true, 0.95, severity)
        );
        assert.ok(r.ok, JSON.stringify(r));
        const events = [];
        for (const sig of r.signals) {
          const out = engine.apply(sig);
          assert.ok(out.ok);
          events.push(...out.events);
        }
        return events;
      };
      return { clock, engine, hold, anomaly, lookup: (id: string) => engine.get(id) };
    }

    it('a warning raised within the hold is paged once, as its opening at the raised severity', () => {
      const { clock, hold, anomaly, lookup } = anomalySetup(60_000);
      const [opened] = anomaly('fan-7', 'warning');
      assert.equal(opened.event, 'open');
      assert.equal(opened.alert.severity, 'warning');
      assert.equal(hold.hold(opened.alert), true);
      clock.t += 11_000;
      const [raised] = anomaly('fan-7', 'critical');
      assert.equal(raised.raised_from, 'warning');
      assert.equal(hold.follow('raise', raised.alert), 'page_open_instead');
      assert.equal(raised.alert.severity, 'critical', 'the opening is paged as it is now');
      assert.deepEqual(hold.due(clock.t + 120_000, lookup), [], 'nothing more comes due');
    });

    it('a warning still open at the end of the hold comes due then; one that clears first is dropped; a critical opening is not held', () => {
      const { clock, hold, anomaly, lookup } = anomalySetup(60_000);
      const [a] = anomaly('fan-7', 'warning');
      hold.hold(a.alert);
      assert.deepEqual(hold.due(clock.t + 59_999, lookup), []);
      assert.deepEqual(
        hold.due(clock.t + 60_000, lookup).map((p) => [p.kind, p.alert.alert_id]),
        [['open', a.alert.alert_id]]
      );
      const [b] = anomaly('pump-9', 'warning');
      hold.hold(b.alert);
      clock.t += 5_000;
      const cleared = anomaly('pump-9', 'normal').concat(anomaly('pump-9', 'normal'), anomaly('pump-9', 'normal'));
      const resolve = cleared.find((e) => e.event === 'resolve');
      assert.ok(resolve, 'auto-resolved');
      assert.equal(hold.follow('resolve', resolve.alert), 'dropped');
      const [c] = anomaly('fan-11', 'critical');
      assert.equal(hold.hold(c.alert), false, 'critical: at once');
      assert.equal(anomalySetup(0).hold.hold(a.alert), false, '0: at once, as before');
    });

    it('seed after a restart holds a warning whose opening was not notified, one hold after the restart', () => {
      const { clock, engine, anomaly } = anomalySetup(60_000);
      const [a] = anomaly('fan-7', 'warning');
      clock.t += 20_000;
      const restarted = new PageHold(60_000, 60_000);
      restarted.seed(engine.list(), () => undefined, clock.t);
      assert.ok(restarted.has(a.alert.alert_id));
      assert.deepEqual(
        restarted.due(clock.t + 59_999, (id) => engine.get(id)),
        []
      );
      assert.equal(restarted.due(clock.t + 60_000, (id) => engine.get(id)).length, 1);
    });
  });
});
