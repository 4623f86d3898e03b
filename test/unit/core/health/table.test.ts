import assert from 'node:assert/strict';
import { HealthTable, TableFullError } from '../../../../nodes/core/health/table';
import { HealthService } from '../../../../nodes/core/health/service';
import type { HealthEvent } from '../../../../nodes/core/contract';

function clock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('health table (state machine)', () => {
  it('first data makes a device ONLINE, further data changes nothing', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 10_000, now: c.now });
    const ev = t.activity('d1', c.t);
    assert.deepEqual(ev, {
      device_id: 'd1',
      state: 'ONLINE',
      previous: 'UNKNOWN',
      since: c.t,
      last_seen: c.t,
      reason: 'data',
    });
    c.t += 1000;
    assert.equal(t.activity('d1', c.t), null);
    assert.equal(t.get('d1')!.last_seen, c.t);
  });

  it('silence longer than the timeout gives exactly one TIMEOUT, dated at last_seen + timeout', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 10_000, now: c.now });
    const seen = c.t;
    t.activity('d1', seen);
    c.t += 9_999;
    assert.deepEqual(t.sweep(), []);
    c.t += 1;
    const evs = t.sweep();
    assert.deepEqual(evs, [
      {
        device_id: 'd1',
        state: 'TIMEOUT',
        previous: 'ONLINE',
        since: seen + 10_000,
        last_seen: seen,
        reason: 'timeout',
      },
    ]);
    c.t += 60_000;
    assert.deepEqual(t.sweep(), []);
    c.t += 1;
    assert.deepEqual(t.activity('d1', c.t), {
      device_id: 'd1',
      state: 'ONLINE',
      previous: 'TIMEOUT',
      since: c.t,
      last_seen: c.t,
      reason: 'data',
    });
  });

  it('unwatched time (the pipeline held its input back) is not silence: the timeout counts from its end', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 10_000, now: c.now });
    t.activity('d1', c.t);
    t.activity('d2', c.t);
    const start = c.t;
    for (let s = 1; s <= 30; s++) {
      c.t = start + s * 1000;
      t.unwatched(c.t); // what the sweep does while no source can take messages
    }
    const end = c.t;
    assert.deepEqual(t.sweep(end), [], 'nobody timed out while nobody could be heard');
    c.t = end + 5000;
    t.activity('d2', c.t);
    assert.deepEqual(t.sweep(end + 9999), []);
    const evs = t.sweep(end + 10_000);
    assert.deepEqual(
      evs.map((e) => [e.device_id, e.state, e.since]),
      [['d1', 'TIMEOUT', end + 10_000]]
    );
    t.unwatched(end - 1); // never moves back
    assert.deepEqual(
      t.sweep(end + 20_000).map((e) => [e.device_id, e.state, e.since]),
      [['d2', 'TIMEOUT', end + 15_000]],
      'd2 from its own last data'
    );
  });

  it('LWT makes a device OFFLINE (reason lwt), data afterwards makes it ONLINE again', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.activity('d1', c.t);
    c.t += 100;
    assert.deepEqual(t.status('d1', false, c.t, 'lwt'), {
      device_id: 'd1',
      state: 'OFFLINE',
      previous: 'ONLINE',
      since: c.t,
      last_seen: c.t - 100,
      reason: 'lwt',
    });
    assert.equal(t.status('d1', false, c.t + 1, 'lwt'), null, 'a repeated will changes nothing');
    assert.deepEqual(t.sweep(c.t + 3_600_000), [], 'an OFFLINE device does not also time out');
    c.t += 100;
    assert.equal(t.activity('d1', c.t)!.state, 'ONLINE');
  });

  it('a birth message (status ONLINE) revives with reason status', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.status('d1', false, c.t, 'status');
    c.t += 5;
    const ev = t.status('d1', true, c.t, 'status')!;
    assert.equal(ev.state, 'ONLINE');
    assert.equal(ev.previous, 'OFFLINE');
    assert.equal(ev.reason, 'status');
    assert.equal(ev.last_seen, c.t);
  });

  it('a stale OFFLINE (older than the latest data) does not flip a live device', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.activity('d1', c.t);
    assert.equal(t.status('d1', false, c.t - 1, 'lwt'), null);
    assert.equal(t.get('d1')!.state, 'ONLINE');
  });

  it('data older than the OFFLINE in force does not revive, newer data does', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.activity('d1', c.t - 500);
    t.status('d1', false, c.t, 'lwt');
    assert.equal(t.activity('d1', c.t - 200), null);
    assert.equal(t.get('d1')!.state, 'OFFLINE');
    assert.equal(t.get('d1')!.last_seen, c.t - 200, 'last-seen still moves forward');
    assert.equal(t.activity('d1', c.t + 1)!.state, 'ONLINE');
  });

  it('a backlog delivered after the will it preceded does not revive the device: its own stamp, which the reader replaced with the receive time, is older than the OFFLINE (before: the critical OFFLINE resolved within 50 ms)', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 15_000, now: c.now });
    const died = c.t;
    t.activity('d1', died - 1000);
    // Node-RED was away 90 s; on its return the broker hands over the retained will first (dated on receipt)
    c.t += 90_000;
    assert.equal(t.status('d1', false, c.t, 'lwt')!.state, 'OFFLINE');
    // then the backlog: stamped before the death, too old to trust, so dated on receipt (ts = now)
    c.t += 5;
    assert.equal(t.activity('d1', c.t, undefined, c.t, died - 500), null);
    assert.equal(t.get('d1')!.state, 'OFFLINE');
    // a device whose clock is 60 s behind: dated on receipt too, revived once its own stamp passes its will
    c.t += 10_000;
    assert.equal(t.activity('d1', c.t, undefined, c.t, c.t - 60_000), null);
    c.t += 60_000;
    assert.equal(t.activity('d1', c.t, undefined, c.t, c.t - 60_000)!.state, 'ONLINE');
    // without a replaced stamp the rule is the one before: newer data revives
    t.status('d1', false, c.t, 'lwt');
    c.t += 1;
    assert.equal(t.activity('d1', c.t)!.state, 'ONLINE');
    assert.equal(t.offlineSince('d1'), -Infinity);
  });

  it('out-of-order status messages: an older ONLINE after a newer OFFLINE is ignored', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.status('d1', false, c.t, 'status');
    assert.equal(t.status('d1', true, c.t - 10, 'status'), null);
    assert.equal(t.get('d1')!.state, 'OFFLINE');
  });

  it('a late message already past its timeout does not revive a timed-out device', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 1000, now: c.now });
    t.activity('d1', c.t);
    c.t += 5000;
    t.sweep();
    assert.equal(t.activity('d1', c.t - 2000), null);
    assert.equal(t.get('d1')!.state, 'TIMEOUT');
  });

  it('per-device and per-equipment timeouts override the default; device wins over equipment', () => {
    const c = clock();
    const t = new HealthTable({
      defaultTimeoutMs: 10_000,
      deviceTimeouts: new Map([
        ['fast', 1000],
        ['both', 3000],
      ]),
      equipmentTimeouts: new Map([['press', 5000]]),
      now: c.now,
    });
    for (const id of ['fast', 'plain']) t.activity(id, c.t);
    t.activity('p1', c.t, 'press');
    t.activity('both', c.t, 'press');
    assert.equal(t.get('p1')!.timeout_source, 'equipment');
    assert.equal(t.get('both')!.timeout_ms, 3000);
    c.t += 1000;
    assert.deepEqual(
      t.sweep().map((e) => e.device_id),
      ['fast']
    );
    c.t += 2000;
    assert.deepEqual(
      t.sweep().map((e) => e.device_id),
      ['both']
    );
    c.t += 2000;
    const [ev] = t.sweep();
    assert.equal(ev.device_id, 'p1');
    assert.equal(ev.equipment_id, 'press');
    c.t += 5000;
    assert.deepEqual(
      t.sweep().map((e) => e.device_id),
      ['plain']
    );
  });

  it('learns k × median interval when asked, and times out on it', () => {
    const c = clock();
    const t = new HealthTable({
      defaultTimeoutMs: 600_000,
      learnFactor: 3,
      learnMinSamples: 4,
      learnMinTimeoutMs: 100,
      now: c.now,
    });
    for (let k = 0; k < 9; k++) {
      t.activity('d1', c.t);
      c.t += k === 4 ? 5000 : 1000; // one outlier gap; the median ignores it
    }
    const row = t.get('d1')!;
    assert.equal(row.timeout_source, 'learned');
    assert.equal(row.timeout_ms, 3000);
    c.t = row.last_seen! + 2999;
    assert.deepEqual(t.sweep(), []);
    c.t += 1;
    assert.equal(t.sweep()[0].state, 'TIMEOUT');
  });

  it('a clock behind by more than half its own timeout: the message counts at its receive time, for a device, an equipment and a learned timeout (before: TIMEOUT while sending, for good)', () => {
    const c = clock();
    const t = new HealthTable({
      defaultTimeoutMs: 60_000,
      deviceTimeouts: new Map([['short', 2000]]),
      equipmentTimeouts: new Map([['press', 2000]]),
      learnFactor: 2,
      learnMinSamples: 4,
      learnMinTimeoutMs: 100,
      now: c.now,
    });
    const behindMs = 1500; // within the node's skew (half of 60 s), beyond half of each device's 2 s timeout
    for (let k = 0; k < 40; k++) {
      for (const [id, eq] of [['short'], ['on-press', 'press'], ['learner'], ['punctual-short']] as const) {
        const stamp = id === 'punctual-short' ? c.t - 5 : c.t - behindMs;
        t.activity(id, stamp, eq, c.t);
      }
      c.t += 1000;
      t.sweep();
    }
    assert.equal(t.get('learner')!.timeout_source, 'learned');
    assert.equal(t.get('learner')!.timeout_ms, 2000);
    for (const id of ['short', 'on-press', 'learner', 'punctual-short'])
      assert.equal(t.get(id)!.state, 'ONLINE', `${id} stays ONLINE while it sends`);
    // the receive time was used only where the stamp was implausible for the device
    assert.equal(t.get('punctual-short')!.last_seen, c.t - 1000 - 5);
    assert.equal(t.get('short')!.last_seen, c.t - 1000);
    // a stamp behind by less than half the timeout is kept
    t.activity('short', c.t - 900, undefined, c.t);
    assert.equal(t.get('short')!.last_seen, c.t - 900);
    // and a device that stops is still timed out one timeout after its last message
    const last = t.get('short')!.last_seen!;
    c.t = last + 2000;
    const evs = t.sweep().filter((e) => e.device_id === 'short');
    assert.deepEqual(
      evs.map((e) => [e.state, e.since]),
      [['TIMEOUT', last + 2000]]
    );
  });

  it('known devices start UNKNOWN and time out when never heard from', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 1000, now: c.now });
    t.register('silent', 'mill-2');
    t.register('talker');
    assert.deepEqual(t.stateCounts(), { UNKNOWN: 2, ONLINE: 0, OFFLINE: 0, TIMEOUT: 0 });
    t.activity('talker', c.t + 10);
    c.t += 1000;
    const evs = t.sweep();
    assert.deepEqual(evs, [
      {
        device_id: 'silent',
        state: 'TIMEOUT',
        previous: 'UNKNOWN',
        since: c.t,
        last_seen: null,
        reason: 'timeout',
        equipment_id: 'mill-2',
      },
    ]);
  });

  it('hold-down: a recovering device is reported ONLINE only after staying up; a flap in between emits nothing', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 10_000, holdDownMs: 3000, now: c.now });
    t.activity('d1', c.t);
    assert.equal(t.status('d1', false, ++c.t, 'lwt')!.state, 'OFFLINE');
    c.t += 100;
    assert.equal(t.activity('d1', c.t), null, 'held down');
    const back = c.t;
    c.t += 1000;
    assert.equal(t.status('d1', false, c.t, 'lwt'), null, 'flaps down again: still OFFLINE, no event');
    c.t += 100;
    t.activity('d1', c.t);
    const back2 = c.t;
    c.t += 2999;
    t.activity('d1', c.t);
    assert.deepEqual(t.sweep(), []);
    c.t += 1;
    const evs = t.sweep();
    assert.equal(evs.length, 1);
    assert.deepEqual([evs[0].state, evs[0].previous, evs[0].since], ['ONLINE', 'OFFLINE', back2]);
    assert.notEqual(back, back2);
  });

  it('keeps per-state counts in step with transitions', () => {
    const c = clock();
    const t = new HealthTable({ defaultTimeoutMs: 1000, now: c.now });
    for (let k = 0; k < 10; k++) t.activity(`d${k}`, c.t);
    t.status('d0', false, c.t, 'lwt');
    c.t += 1000;
    t.activity('d1', c.t);
    t.sweep();
    assert.deepEqual(t.stateCounts(), { UNKNOWN: 0, ONLINE: 1, OFFLINE: 1, TIMEOUT: 8 });
  });

  it('serialises and restores states, last-seen, equipment and learned timeouts; silence is counted from the restore', () => {
    const c = clock();
    const a = new HealthTable({ defaultTimeoutMs: 5000, now: c.now });
    a.activity('on', c.t, 'lathe');
    a.activity('quiet', c.t);
    a.status('off', false, c.t, 'lwt');
    a.register('unk');
    const saved = JSON.parse(JSON.stringify(a.serialize()));
    c.t += 60_000; // "Node-RED was down for a minute": nobody watched the devices meanwhile
    const restoredAt = c.t;
    const b = new HealthTable({ defaultTimeoutMs: 5000, now: c.now });
    assert.equal(b.restore(saved), 4);
    assert.equal(b.get('on')!.state, 'ONLINE');
    assert.equal(b.get('on')!.equipment_id, 'lathe');
    assert.equal(b.get('on')!.last_seen, restoredAt - 60_000, 'last seen is what was seen, not the restore');
    assert.equal(b.get('off')!.state, 'OFFLINE');
    // the restart itself is no evidence of silence: no device times out at once (each would be a false alarm)
    assert.deepEqual(b.sweep(), []);
    c.t += 1000;
    b.activity('on', c.t);
    c.t += 4000; // one whole timeout watched since the restore
    const evs = b.sweep();
    assert.deepEqual(evs.map((e) => [e.device_id, e.state, e.previous, e.since]).sort(), [
      ['quiet', 'TIMEOUT', 'ONLINE', restoredAt + 5000],
      ['unk', 'TIMEOUT', 'UNKNOWN', restoredAt + 5000],
    ]);
    assert.equal(b.get('on')!.state, 'ONLINE', 'the device that kept sending stays online');
    assert.equal(b.restore({ v: 2 }), 'not a persisted device table');
    assert.equal(b.restore({ ...saved, state: [9] }), 'not a persisted device table');
  });

  it('apply() takes transitions decided elsewhere, newer wins', () => {
    const c = clock();
    const t = new HealthTable({ now: c.now });
    t.activity('d1', c.t);
    assert.equal(
      t.apply({
        device_id: 'd1',
        state: 'TIMEOUT',
        previous: 'ONLINE',
        since: c.t + 10,
        last_seen: c.t,
        reason: 'timeout',
      }),
      true
    );
    assert.equal(
      t.apply({
        device_id: 'd1',
        state: 'ONLINE',
        previous: 'TIMEOUT',
        since: c.t + 5,
        last_seen: c.t,
        reason: 'data',
      }),
      false
    );
    assert.equal(t.get('d1')!.state, 'TIMEOUT');
  });

  it('a full table evicts the least recently active device instead of refusing a new one', () => {
    const t = new HealthTable({ maxDevices: 2 });
    t.activity('a', 1);
    t.activity('b', 1);
    t.activity('a', 2); // a is now more recent than b
    assert.equal(t.activity('c', 3)?.state, 'ONLINE', 'the new device is accepted');
    assert.equal(t.deviceCount, 2);
    assert.equal(t.evictions, 1);
    assert.equal(t.has('b'), false, 'b was the least recently active');
    assert.equal(t.activity('a', 4), null, 'a keeps its row and state');
    assert.deepEqual(t.stateCounts(), { UNKNOWN: 0, ONLINE: 2, OFFLINE: 0, TIMEOUT: 0 });
    // status messages are activity too
    t.status('c', false, 5, 'lwt');
    t.activity('d', 6);
    assert.equal(t.has('a'), false);
    assert.equal(t.get('c')?.state, 'OFFLINE');
    assert.ok(TableFullError, 'still exported for callers that catch it');
  });

  it('a 100k-new-device flood leaves the devices that keep talking in the table, memory bounded', () => {
    const c = clock();
    const t = new HealthTable({ maxDevices: 1000, defaultTimeoutMs: 60_000, learnFactor: 3, now: c.now });
    const real = Array.from({ length: 20 }, (_, k) => `real-${k}`);
    for (const id of real) t.activity(id, c.t);
    t.status('real-eq', true, c.t, 'status', 'press-1');
    for (let k = 0; k < 100_000; k++) {
      c.t += 1;
      t.activity(`flood-${k}`, c.t);
      // the real devices keep sending (every 200 flood ids here), the flood ids send once
      if (k % 200 === 199)
        for (const id of real) assert.equal(t.activity(id, c.t), null, `${id} stays ONLINE, no new transition`);
    }
    assert.equal(t.deviceCount, 1000);
    assert.equal(t.evictions, 100_000 + 21 - 1000);
    for (const id of real) assert.equal(t.get(id)?.state, 'ONLINE');
    assert.equal(t.has('real-eq'), false, 'a device silent for the whole flood was evicted');
    const counts = t.stateCounts();
    assert.equal(
      counts.ONLINE + counts.UNKNOWN + counts.OFFLINE + counts.TIMEOUT,
      1000,
      'state counts follow evictions'
    );
    assert.equal(t.snapshot().length, 1000);
    assert.equal(t.sweep(c.t + 120_000).length, 1000, 'every row is a live row');
  });

  it('a persisted table larger than the bound is trimmed to its most recently active devices on restore', () => {
    const c = clock();
    const big = new HealthTable({ maxDevices: 100, now: c.now });
    for (let k = 0; k < 100; k++) big.activity(`d${k}`, c.t + k);
    big.activity('d0', c.t + 500); // d0 is the most recently active now
    const saved = JSON.parse(JSON.stringify(big.serialize()));
    const small = new HealthTable({ maxDevices: 10, now: c.now });
    small.restore(saved);
    assert.equal(small.deviceCount, 10);
    assert.equal(small.evictions, 90);
    assert.ok(small.has('d0') && small.has('d99') && !small.has('d1'));
    // and a brand-new device is accepted after the restart
    assert.equal(small.activity('new-one', c.t + 600)?.state, 'ONLINE');
    assert.equal(small.deviceCount, 10);
  });
});

describe('health: the host clock steps (memory mode)', () => {
  // the wall clock (Date.now) and a monotonic one (performance.now) under test control: time passing moves both,
  // setting the host's clock moves only the wall clock
  function clocks() {
    const c = { wall: 1_700_000_000_000, mono: 5_000, now: () => c.wall, monotonic: () => c.mono };
    return {
      c,
      pass(ms: number) {
        c.wall += ms;
        c.mono += ms;
      },
      step(ms: number) {
        c.wall += ms;
      },
    };
  }
  function memoryService(k: ReturnType<typeof clocks>) {
    const events: HealthEvent[] = [];
    const steps: Array<[number, boolean]> = [];
    const table = new HealthTable({ defaultTimeoutMs: 15_000, now: k.c.now });
    const service = new HealthService({
      table,
      emit: (ev) => events.push(ev),
      now: k.c.now,
      monotonic: k.c.monotonic,
      onClockStep: (d, shifted) => steps.push([d, shifted]),
    });
    return { events, steps, table, service };
  }
  const devices = ['fan-1', 'fan-2', 'pump-3'];

  it('a step forward of an hour times out no device that keeps sending', async () => {
    const k = clocks();
    const { events, steps, service } = memoryService(k);
    for (const d of devices) service.activity(d, k.c.wall);
    await service.sweep();
    k.pass(1000);
    k.step(3_600_000); // NTP corrects a clock that was an hour behind
    await service.sweep();
    for (const d of devices) service.activity(d, k.c.wall);
    k.pass(1000);
    await service.sweep();
    assert.deepEqual(
      events.map((e) => e.state),
      ['ONLINE', 'ONLINE', 'ONLINE'],
      'no TIMEOUT storm (and no ONLINE flap after it)'
    );
    assert.deepEqual(steps, [[3_600_000, true]]);
    assert.equal(service.clockSteps, 1);
  });

  it('a device that really falls silent across a step forward is timed out one timeout after its last message', async () => {
    const k = clocks();
    const { events, service } = memoryService(k);
    service.activity('fan-1', k.c.wall);
    const lastSeenMono = k.c.mono;
    k.pass(5000);
    k.step(3_600_000);
    await service.sweep();
    assert.equal(events.length, 1, 'still ONLINE five seconds after its last message');
    k.pass(10_000);
    await service.sweep();
    assert.equal(events.length, 2);
    assert.equal(events[1].state, 'TIMEOUT');
    assert.equal(k.c.mono - lastSeenMono, 15_000);
    assert.equal(events[1].since, k.c.wall, 'dated in the new clock');
  });

  it('after a step back of an hour a device that dies is still reported one timeout later, not an hour late', async () => {
    const k = clocks();
    const { events, service } = memoryService(k);
    service.activity('fan-1', k.c.wall);
    k.pass(1000);
    k.step(-3_600_000);
    service.activity('fan-1', k.c.wall); // its last message, in the new clock
    k.pass(15_000);
    await service.sweep();
    assert.deepEqual(
      events.map((e) => e.state),
      ['ONLINE', 'TIMEOUT']
    );
    assert.equal(events[1].since, k.c.wall);
  });

  it('clampFuture (Redis mode after a step back): times past now come back to now, a device that dies is timed out on time', () => {
    const k = clocks();
    const table = new HealthTable({ defaultTimeoutMs: 15_000, now: k.c.now });
    table.activity('fan-1', k.c.wall);
    table.activity('fan-2', k.c.wall - 20_000);
    k.step(-3_600_000);
    table.clampFuture();
    assert.equal(table.get('fan-1')!.last_seen, k.c.wall, 'the future last-seen came back to now');
    assert.equal(table.get('fan-2')!.last_seen, k.c.wall, 'so did the one 20 s before the step (still in the future)');
    k.pass(15_000);
    assert.deepEqual(
      table.sweep().map((e) => [e.device_id, e.state, e.since]),
      [
        ['fan-1', 'TIMEOUT', k.c.wall],
        ['fan-2', 'TIMEOUT', k.c.wall],
      ]
    );
  });

  it('event-loop stalls and ordinary time passing are no step', async () => {
    const k = clocks();
    const { steps, service } = memoryService(k);
    service.activity('fan-1', k.c.wall);
    k.pass(60_000);
    await service.sweep();
    k.step(1500); // NTP slews or steps by less than the threshold
    await service.sweep();
    assert.deepEqual(steps, []);
  });
});
