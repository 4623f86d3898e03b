// Wills wait a moment before they take a device OFFLINE (core/health/will-hold.ts): a broker that shuts down in
// order publishes every client's will and then closes the pipeline's connection. Operator round 2026-12-07: a
// planned Mosquitto restart opened 8 critical "device offline" alerts, resolved 4 s later.
import assert from 'node:assert/strict';
import type { HealthEvent } from '../../../../nodes/core/contract';
import { HealthService, HealthTable, WillHold } from '../../../../nodes/core/health';

describe('WillHold', () => {
  it('gives the wills that waited their grace, in arrival order, while the pipeline hears the broker', () => {
    const h = new WillHold<string>(3000);
    h.hold('a', 'will-a', 0);
    h.hold('b', 'will-b', 1000);
    assert.deepEqual(h.due(2999, true), []);
    assert.deepEqual(
      h.due(3000, true).map((w) => w.will),
      ['will-a']
    );
    assert.deepEqual(
      h.due(5000, true).map((w) => [w.id, w.heldAt]),
      [['b', 1000]]
    );
    assert.equal(h.size, 0);
  });

  it('drops every held will once the pipeline stops hearing the broker, and counts them', () => {
    const h = new WillHold<string>(3000);
    h.hold('a', 'x', 0);
    h.hold('b', 'x', 10);
    assert.deepEqual(h.due(500, false), []);
    assert.equal(h.dropped, 2);
    assert.equal(h.size, 0);
    assert.deepEqual(h.due(10_000, true), [], 'nothing comes back once the broker is heard again');
  });

  it("a device's newer will replaces its held one and waits from its own arrival; take() hands it out first", () => {
    const h = new WillHold<string>(3000);
    h.hold('a', 'first', 0);
    h.hold('b', 'b', 500);
    h.hold('a', 'second', 1000);
    assert.deepEqual(
      h.due(3500, true).map((w) => w.will),
      ['b'],
      "a's will now waits from 1000, behind b's"
    );
    assert.equal(h.take('a')?.will, 'second');
    assert.equal(h.take('a'), null);
  });

  it('is bounded: beyond its size the oldest held will is handed out at once, not refused', () => {
    const h = new WillHold<number>(3000, 2);
    assert.equal(h.hold('a', 1, 0), null);
    assert.equal(h.hold('b', 2, 0), null);
    assert.equal(h.hold('c', 3, 0)?.id, 'a');
    assert.equal(h.size, 2);
  });

  it('take() with data stamped before the will arrived leaves the will held: that data was sent before it', () => {
    const h = new WillHold<string>(3000);
    h.hold('a', 'x', 10_000);
    assert.equal(h.take('a', 9_400), null, 'a reading from before the will');
    assert.equal(h.size, 1);
    assert.deepEqual(h.take('a', 10_000), { id: 'a', will: 'x', heldAt: 10_000 }, 'data from its arrival on');
    assert.equal(h.size, 0);
  });

  it("moves the held times by a step of the caller's clock, so the grace stays time that passed", () => {
    const h = new WillHold<string>(3000);
    h.hold('a', 'x', 10_000);
    h.hold('b', 'y', 11_000);
    h.shiftTime(-60_000); // the clock was set a minute back
    assert.deepEqual(h.due(-47_001, true), [], 'not yet: 2,999 ms after a');
    assert.deepEqual(
      h.due(-47_000, true).map((w) => [w.id, w.heldAt]),
      [['a', -50_000]]
    );
    h.shiftTime(3_600_000); // and an hour forward
    assert.deepEqual(h.due(3_553_999, true), [], 'b waited 2,999 ms of real time');
    assert.deepEqual(
      h.due(3_554_000, true).map((w) => w.id),
      ['b']
    );
  });
});

describe('HealthService with a will grace (memory mode)', () => {
  function service(willGraceMs = 3000) {
    const c = { t: 1_700_000_000_000 };
    const events: HealthEvent[] = [];
    const dropped: number[] = [];
    const svc = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: 60_000, now: () => c.t }),
      emit: (ev) => events.push(ev),
      now: () => c.t,
      willGraceMs,
      onWillsDropped: (n) => dropped.push(n),
    });
    return { c, events, svc, dropped };
  }
  const fleet = ['press-1', 'press-2', 'press-3'];
  const offline = (events: HealthEvent[]) => events.filter((e) => e.state === 'OFFLINE');

  it('wills just before the pipeline loses the broker (a broker shutting down) take nobody OFFLINE', async () => {
    const { c, events, svc, dropped } = service();
    for (const d of fleet) svc.activity(d, c.t, undefined, c.t);
    await svc.sweep();
    for (const d of fleet) svc.status(d, false, c.t, 'lwt');
    c.t += 100;
    await svc.sweep(c.t, true); // a sweep before the connection closes: the wills wait
    c.t += 900;
    await svc.sweep(c.t, false); // the broker closed the pipeline's connection
    c.t += 5000;
    await svc.sweep(c.t, true); // back: the devices reconnect and send
    for (const d of fleet) svc.activity(d, c.t, undefined, c.t);
    assert.deepEqual(offline(events), []);
    assert.deepEqual(dropped, [3]);
    assert.equal(svc.droppedWills, 3);
    assert.ok(fleet.every((d) => svc.table.get(d)?.state === 'ONLINE'));
  });

  it('a reading sent before the will and heard after it (the telemetry path is slower) does not apply it: a broker shutting down takes nobody OFFLINE (operator round 2026-12-07: 1 of 19 devices)', async () => {
    const { c, events, svc, dropped } = service();
    for (const d of fleet) svc.activity(d, c.t, undefined, c.t);
    await svc.sweep();
    const willsAt = c.t + 1000;
    c.t = willsAt;
    for (const d of fleet) svc.status(d, false, c.t, 'lwt');
    c.t += 400;
    // press-1's reading, stamped 600 ms before the wills, reaches the health node now
    svc.activity('press-1', willsAt - 600, undefined, c.t);
    assert.deepEqual(offline(events), [], 'its will still waits');
    assert.equal(svc.heldWills, 3);
    c.t += 500;
    await svc.sweep(c.t, false); // the broker closed the pipeline's connection
    assert.deepEqual(dropped, [3]);
    assert.deepEqual(offline(events), []);
    // and a reading stamped after a will comes after it, as before
    svc.status('press-2', false, c.t, 'lwt');
    c.t += 200;
    svc.activity('press-2', c.t, undefined, c.t);
    assert.deepEqual(
      events.filter((e) => e.device_id === 'press-2').map((e) => e.state),
      ['ONLINE', 'OFFLINE', 'ONLINE']
    );
  });

  it("a will with the broker heard takes its device OFFLINE after the grace, with the will's own time", async () => {
    const { c, events, svc } = service();
    svc.activity('press-1', c.t, undefined, c.t);
    const willAt = c.t + 500;
    c.t = willAt;
    svc.status('press-1', false, willAt, 'lwt');
    assert.deepEqual(offline(events), [], 'not at once');
    c.t += 2000;
    await svc.sweep(c.t, true);
    assert.deepEqual(offline(events), []);
    c.t += 1000;
    await svc.sweep(c.t, true);
    const [ev] = offline(events);
    assert.equal(ev?.device_id, 'press-1');
    assert.equal(ev?.reason, 'lwt');
    assert.equal(ev?.since, willAt);
  });

  it("the device's next status or data comes after its held will, as before the grace", async () => {
    const { c, events, svc } = service();
    svc.activity('press-1', c.t, undefined, c.t);
    svc.status('press-1', false, c.t + 100, 'lwt');
    c.t += 1000;
    svc.status('press-1', true, c.t, 'status'); // its birth, back within the grace
    // as with no grace: the will, then the birth
    assert.deepEqual(
      events.map((e) => [e.state, e.reason]),
      [
        ['ONLINE', 'data'],
        ['OFFLINE', 'lwt'],
        ['ONLINE', 'status'],
      ]
    );
    assert.equal(svc.heldWills, 0);
  });

  it('grace 0 (the core default): a will applies at once', () => {
    const { c, events, svc } = service(0);
    svc.activity('press-1', c.t, undefined, c.t);
    svc.status('press-1', false, c.t, 'lwt');
    assert.equal(offline(events).length, 1);
  });

  it('a blocked event loop is not a lost broker: the sweep after a stall applies the wills read before it', async () => {
    const c = { t: 1_700_000_000_000 };
    const events: HealthEvent[] = [];
    const svc = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: 60_000, now: () => c.t }),
      emit: (ev) => events.push(ev),
      now: () => c.t,
      willGraceMs: 3000,
      stallGapMs: 2000,
    });
    svc.activity('press-1', c.t, undefined, c.t);
    await svc.sweep(c.t, true);
    svc.status('press-1', false, c.t, 'lwt');
    c.t += 10_000; // the next sweep comes 10 s late
    await svc.sweep(c.t, true);
    assert.equal(offline(events).length, 1);
    assert.equal(svc.stalls, 1);
  });

  // the host's wall clock set while a will waits: the grace is real time (the monotonic clock), as the table's
  // timeouts are (core/clock-step.ts)
  for (const [label, stepMs] of [
    ['back a minute', -60_000],
    ['forward an hour', 3_600_000],
  ] as const) {
    it(`a step of the host's clock ${label} neither delays a held will nor makes it due at once`, async () => {
      const c = { wall: 1_700_000_000_000, mono: 5_000 };
      const events: HealthEvent[] = [];
      const svc = new HealthService({
        table: new HealthTable({ defaultTimeoutMs: 600_000, now: () => c.wall }),
        emit: (ev) => events.push(ev),
        now: () => c.wall,
        monotonic: () => c.mono,
        willGraceMs: 3000,
      });
      const pass = (ms: number) => {
        c.wall += ms;
        c.mono += ms;
      };
      svc.activity('press-1', c.wall, undefined, c.wall);
      await svc.sweep();
      svc.status('press-1', false, c.wall, 'lwt');
      pass(1000);
      c.wall += stepMs;
      await svc.sweep();
      pass(1000);
      await svc.sweep();
      assert.deepEqual(offline(events), [], '2 s after the will: still held');
      pass(1000);
      await svc.sweep();
      assert.equal(offline(events).length, 1, '3 s after the will: OFFLINE');
      assert.equal(svc.clockSteps, 1);
    });
  }
});
