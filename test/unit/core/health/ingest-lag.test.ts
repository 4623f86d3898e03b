// A pipeline that hears the devices late (a broker or flow behind its input, a backlog after a restart) must
// not time out the fleet: the sweep counts silence up to the time it has heard to (core/health/ingest-lag.ts),
// and a sweep that comes late because the event loop was blocked counts no silence (service.ts stallGapMs).
import assert from 'node:assert/strict';
import type { HealthEvent } from '../../../../nodes/core/contract';
import { HealthService, HealthTable, IngestLag, STALL_SLACK_MS } from '../../../../nodes/core/health';

describe('health: how late the pipeline hears the devices (IngestLag)', () => {
  it('is the smallest lag of the last one to two windows; 0 without one, or when a device is ahead', () => {
    const lag = new IngestLag(1000);
    assert.equal(lag.estimate(0), 0);
    lag.note(20_000, 0);
    lag.note(18_000, 100);
    lag.note(25_000, 200); // a device whose clock is behind: late only itself
    lag.note(0, 300); // a message time that was not plausible: stamped with the receive time, no information
    assert.equal(lag.estimate(500), 18_000);
    lag.note(19_000, 1200); // the next window: the previous one still counts
    assert.equal(lag.estimate(1300), 18_000);
    lag.note(19_500, 2300); // two windows on: only the last two
    assert.equal(lag.estimate(2400), 19_000);
    assert.equal(lag.estimate(3400), 19_500, 'the window before the current one still counts');
    assert.equal(lag.estimate(6000), 0, 'nothing heard for two windows: no lag');
    lag.note(5_000, 6100);
    lag.note(-40, 6150); // a device whose clock is ahead: no compensation, the wall clock as before
    assert.equal(lag.estimate(6200), 0);
    lag.note(5_000, 8300);
    lag.note(5_000, 10_400);
    assert.equal(lag.estimate(10_500), 5_000);
    lag.reset();
    assert.equal(lag.estimate(10_600), 0, 'forgotten after a clock step');
  });
});

describe('health: a pipeline behind its input (memory mode)', () => {
  const fleet = Array.from({ length: 20 }, (_, i) => `press-${i}`);
  function service(timeoutMs = 10_000) {
    const c = { t: 1_700_000_000_000 };
    const events: HealthEvent[] = [];
    const svc = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: timeoutMs, now: () => c.t }),
      emit: (ev) => events.push(ev),
      now: () => c.t,
    });
    return { c, events, svc };
  }

  // The lag must stay below half the timeout to matter: a stamp further behind than that counts at its receive
  // time (HealthTable's dated). Within it, a lag matters to a device whose send interval is longer than its timeout
  // less the lag: here 4 s late, a message every 7 s, a 10 s timeout.
  const late = 4_000;
  const sends = (i: number, s: number) => (s + i) % 7 === 0;

  it('messages arriving 4 s late, each device sending every 7 s with a 10 s timeout: no TIMEOUT (before: all 20, then ONLINE again)', async () => {
    const { c, events, svc } = service();
    for (let s = 0; s < 60; s++) {
      // a backlog builds: the lag grows to 4 s and stays there
      const lag = Math.min(late, s * 100);
      fleet.forEach((d, i) => sends(i, s) && svc.activity(d, c.t - lag, undefined, c.t));
      await svc.sweep();
      c.t += 1000;
    }
    assert.deepEqual(
      events.map((e) => e.state),
      fleet.map(() => 'ONLINE')
    );
    assert.equal(svc.ingestLagMs(), late);
  });

  it('a device that dies while the pipeline is behind is reported one timeout after its last message, heard that late', async () => {
    const { c, events, svc } = service();
    let lastStamp = 0; // press-0's last message, in its own time
    for (let s = 0; s < 60; s++) {
      fleet.forEach((d, i) => {
        if (!sends(i, s) || (i === 0 && s > 14)) return;
        svc.activity(d, c.t - late, undefined, c.t);
        if (i === 0) lastStamp = c.t - late;
      });
      await svc.sweep();
      c.t += 1000;
    }
    const timeouts = events.filter((e) => e.state === 'TIMEOUT');
    assert.deepEqual(
      timeouts.map((e) => [e.device_id, e.since]),
      [['press-0', lastStamp + 10_000]]
    );
  });

  it('one device whose clock is 8 s behind does not delay the report of another that dies', async () => {
    const { c, events, svc } = service();
    const send = (devices: string[]) => {
      svc.activity('laggard', c.t - 8_000, undefined, c.t);
      for (const d of devices) svc.activity(d, c.t - 5, undefined, c.t); // delivered within 5 ms
    };
    for (let s = 0; s < 3; s++) {
      send(fleet);
      await svc.sweep();
      c.t += 1000;
    }
    const last = c.t - 1000 - 5; // press-0's last message
    let reportedAt = 0;
    for (let s = 0; s < 15 && !reportedAt; s++) {
      send(fleet.slice(1));
      await svc.sweep();
      if (events.some((e) => e.state === 'TIMEOUT')) reportedAt = c.t;
      c.t += 1000;
    }
    const timeouts = events.filter((e) => e.state === 'TIMEOUT');
    assert.deepEqual(
      timeouts.map((e) => [e.device_id, e.since]),
      [['press-0', last + 10_000]]
    );
    assert.ok(reportedAt - (last + 10_000) <= 1000, `reported ${reportedAt - (last + 10_000)} ms after it was due`);
  });
});

describe('health: an event loop blocked longer than the timeout (memory mode)', () => {
  const fleet = Array.from({ length: 20 }, (_, i) => `press-${i}`);

  it('a 20 s stall with a 10 s timeout times out no device that kept sending, and one that died is reported a timeout after the stall (before: all 20 TIMEOUT, then ONLINE)', async () => {
    const c = { t: 1_700_000_000_000 };
    const events: HealthEvent[] = [];
    const gaps: number[] = [];
    const svc = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: 10_000, now: () => c.t }),
      emit: (ev) => events.push(ev),
      now: () => c.t,
      stallGapMs: 1000 + STALL_SLACK_MS,
      onStall: (gap) => gaps.push(gap),
    });
    const tick = async (senders: string[]) => {
      for (const d of senders) svc.activity(d, c.t - 5, undefined, c.t);
      await svc.sweep();
      c.t += 1000;
    };
    for (let s = 0; s < 5; s++) await tick(fleet);
    const live = fleet.slice(1); // press-0 dies now
    // the loop is blocked for 20 s: the sweep timer fires late, and what the devices sent meanwhile waits in
    // the socket, read after the sweep that comes first
    const stallStart = c.t;
    c.t += 20_000;
    await svc.sweep();
    assert.deepEqual(gaps, [21_000]);
    assert.equal(svc.stalls, 1);
    for (let ago = 20_000; ago > 0; ago -= 1000) for (const d of live) svc.activity(d, c.t - ago, undefined, c.t);
    const stallEnd = c.t;
    c.t += 1000;
    for (let s = 0; s < 15; s++) await tick(live);
    const timeouts = events.filter((e) => e.state === 'TIMEOUT');
    assert.deepEqual(
      timeouts.map((e) => e.device_id),
      ['press-0'],
      'only the device that died'
    );
    assert.ok(timeouts[0].since >= stallEnd + 10_000, 'press-0 is timed from the end of the stall');
    assert.ok(stallStart < stallEnd);
    assert.equal(svc.stalls, 1, 'timed sweeps after it are no stall');
  });

  it('is off unless asked for: a caller sweeping at times of its own choosing keeps its timeouts', async () => {
    const c = { t: 1_700_000_000_000 };
    const events: HealthEvent[] = [];
    const svc = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: 10_000, now: () => c.t }),
      emit: (ev) => events.push(ev),
      now: () => c.t,
    });
    svc.activity('press-0', c.t, undefined, c.t);
    await svc.sweep();
    c.t += 60_000;
    await svc.sweep();
    assert.deepEqual(
      events.map((e) => e.state),
      ['ONLINE', 'TIMEOUT']
    );
    assert.equal(svc.stalls, 0);
  });
});
