// The shared Redis store of the device-health core, against a real redis-server on a free port. Two
// HealthService instances stand for two Node-RED processes; a shared fake clock drives timeouts.
import assert from 'node:assert/strict';
import Redis, { type RedisOptions } from 'ioredis';
import type { HealthEvent } from '../../../../nodes/core/contract';
import {
  HealthService,
  HealthTable,
  type HealthServiceOptions,
  type HealthTableOptions,
} from '../../../../nodes/core/health';
import { requireBinary, sleep, waitFor } from '../../../support/net';
import { startRedis, type RedisServer } from '../../../support/redis';
import { fakeClock, startInstance, stopInstance, type Instance } from '../../../support/health-redis';
import { parseRemoteEvent } from '../../../../nodes/core/health';
import { execSync } from 'node:child_process';
import { mobyRedisOptions, REDIS_COMMAND_TIMEOUT_MS } from '../../../../nodes/core/redis-options';

describe('health events from Redis (parseRemoteEvent)', () => {
  it('accepts well-formed events and refuses anything else', () => {
    const ok = { device_id: 'd1', state: 'TIMEOUT', previous: 'ONLINE', since: 5, last_seen: 1, reason: 'timeout' };
    assert.deepEqual(parseRemoteEvent(JSON.stringify(ok)), ok);
    assert.deepEqual(parseRemoteEvent(JSON.stringify({ ...ok, last_seen: null })), { ...ok, last_seen: null });
    for (const bad of [
      { ...ok, state: 'ASLEEP' },
      { ...ok, device_id: '__proto__' },
      { ...ok, since: '5' },
      { ...ok, last_seen: 'x' },
      { ...ok, device_id: 'a b' },
    ]) {
      assert.equal(parseRemoteEvent(JSON.stringify(bad)), null, JSON.stringify(bad));
    }
    assert.equal(parseRemoteEvent('{"device_id":"d1","__proto__":{}}'), null);
    assert.equal(parseRemoteEvent('not json'), null);
    assert.equal(parseRemoteEvent('x'.repeat(5000)), null);
  });
});

describe('health service with a shared Redis', function () {
  let server: RedisServer;
  let admin: Redis;
  const open: Instance[] = [];
  let prefix = 0;

  before(async function () {
    const bin = requireBinary(this, 'redis-server');
    server = await startRedis(bin);
    admin = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  after(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map(stopInstance));
  });

  /** A key space of its own for the test; start() starts one more instance on it (another Node-RED process). */
  function plant(now: () => number, opts: HealthTableOptions = {}, serviceOpts: Partial<HealthServiceOptions> = {}) {
    const keyPrefix = `t${++prefix}:`;
    return { keyPrefix, start: () => startInstance(server.port, now, opts, keyPrefix, serviceOpts) };
  }
  async function two(now: () => number, opts: HealthTableOptions = {}) {
    const { keyPrefix, start } = plant(now, opts);
    const a = await start();
    const b = await start();
    open.push(a, b);
    return { a, b, keyPrefix };
  }
  /**
   * A service on a client of its own, before its first connection: it waits up to 2 s for Redis
   * (connectGraceMs) before deciding from memory.
   */
  function waitingService(
    c: { now: () => number },
    redisOpts: RedisOptions,
    serviceOpts: Partial<HealthServiceOptions> = {}
  ) {
    const client = new Redis({
      host: '127.0.0.1',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
      ...redisOpts,
    });
    client.on('error', () => undefined);
    const events: HealthEvent[] = [];
    const service = new HealthService({
      table: new HealthTable({ now: c.now }),
      emit: (ev) => events.push(ev),
      redis: client,
      now: c.now,
      connectGraceMs: 2000,
      ...serviceOpts,
    });
    return { client, events, service };
  }

  it('two instances seeing the same data emit one ONLINE and, after silence, one TIMEOUT in total', async () => {
    const c = fakeClock();
    const { a, b, keyPrefix } = await two(c.now);
    a.service.activity('d1', c.t);
    b.service.activity('d1', c.t);
    await Promise.all([a.service.drain(), b.service.drain()]);
    const online = [...a.events, ...b.events];
    assert.deepEqual(
      online.map((e) => [e.device_id, e.state, e.previous, e.reason]),
      [['d1', 'ONLINE', 'UNKNOWN', 'data']]
    );
    assert.equal(await admin.zscore(`${keyPrefix}device_last_seen`, 'd1'), String(c.t));

    c.t += 10_000;
    for (let round = 0; round < 5; round++) {
      await Promise.all([a.service.sweep(), b.service.sweep(), admin.del(`${keyPrefix}device_health_sweep_lock`)]);
    }
    const timeouts = [...a.events, ...b.events].filter((e) => e.state === 'TIMEOUT');
    assert.equal(timeouts.length, 1);
    assert.deepEqual(timeouts[0], {
      device_id: 'd1',
      state: 'TIMEOUT',
      previous: 'ONLINE',
      since: c.t,
      last_seen: c.t - 10_000,
      reason: 'timeout',
    });
    // the other instance's mirror learns it through pub/sub
    await waitFor(
      () => a.service.table.get('d1')!.state === 'TIMEOUT' && b.service.table.get('d1')!.state === 'TIMEOUT',
      2000,
      'mirrors updated'
    );
  });

  it('refresh() brings a mirror up to date with devices only the other instance has seen', async () => {
    const c = fakeClock();
    const { a, b, keyPrefix } = await two(c.now);
    a.service.activity('only-a', c.t);
    await a.service.drain();
    c.t += 500;
    a.service.activity('only-a', c.t);
    await a.service.drain();
    await admin.hset(`${keyPrefix}device_state`, '__proto__', 'ONLINE|1|||1000'); // hostile field: ignored
    assert.equal(await b.service.refresh(), true);
    const row = b.service.table.get('only-a')!;
    assert.deepEqual([row.state, row.last_seen], ['ONLINE', c.t]);
    assert.equal(b.service.table.has('__proto__'), false);
  });

  it('last-seen is newer-wins across instances: the older update never moves it back', async () => {
    const c = fakeClock();
    const { a, b, keyPrefix } = await two(c.now);
    a.service.activity('d1', c.t);
    await a.service.drain();
    b.service.activity('d1', c.t - 5000);
    await b.service.drain();
    assert.equal(await admin.zscore(`${keyPrefix}device_last_seen`, 'd1'), String(c.t));
  });

  it('the sweep lock lets only one instance sweep per lock lifetime', async () => {
    const c = fakeClock();
    const { a, b, keyPrefix } = await two(c.now);
    a.service.activity('d1', c.t);
    await a.service.drain();
    await a.service.sweep(); // takes the lock, nothing due
    c.t += 10_000;
    await b.service.sweep(); // lock still held (real-time ttl): no sweep
    assert.equal([...a.events, ...b.events].filter((e) => e.state === 'TIMEOUT').length, 0);
    await admin.del(`${keyPrefix}device_health_sweep_lock`);
    await b.service.sweep();
    assert.deepEqual(
      b.events.filter((e) => e.state === 'TIMEOUT').map((e) => e.device_id),
      ['d1']
    );
  });

  it('LWT and stale-LWT ordering are decided in Redis too', async () => {
    const c = fakeClock();
    const { a, b } = await two(c.now);
    a.service.activity('d1', c.t);
    await a.service.drain();
    b.service.status('d1', false, c.t - 1, 'lwt'); // older than the data: ignored
    await b.service.drain();
    assert.equal(b.events.length, 0);
    c.t += 10;
    a.service.status('d1', false, c.t, 'lwt');
    b.service.status('d1', false, c.t, 'lwt');
    await Promise.all([a.service.drain(), b.service.drain()]);
    const offline = [...a.events, ...b.events].filter((e) => e.state === 'OFFLINE');
    assert.deepEqual(
      offline.map((e) => [e.previous, e.reason]),
      [['ONLINE', 'lwt']]
    );
    b.service.activity('d1', c.t - 5); // data older than the will: stays OFFLINE
    await b.service.drain();
    assert.equal([...a.events, ...b.events].filter((e) => e.state === 'ONLINE' && e.previous === 'OFFLINE').length, 0);
    c.t += 10;
    b.service.activity('d1', c.t);
    await b.service.drain();
    assert.deepEqual(b.events.map((e) => [e.state, e.previous]).pop(), ['ONLINE', 'OFFLINE']);
  });

  it('hold-down and per-device timeouts work through Redis', async () => {
    const c = fakeClock();
    const { a, keyPrefix } = await two(c.now, { holdDownMs: 1500, deviceTimeouts: new Map([['fast', 1000]]) });
    a.service.activity('fast', c.t);
    a.service.activity('slow', c.t);
    await a.service.drain();
    c.t += 1000;
    await a.service.sweep();
    assert.deepEqual(
      a.events.filter((e) => e.state === 'TIMEOUT').map((e) => e.device_id),
      ['fast']
    );
    c.t += 10;
    a.service.activity('fast', c.t);
    await a.service.drain();
    assert.equal(a.events.filter((e) => e.previous === 'TIMEOUT').length, 0, 'held down');
    const back = c.t;
    c.t += 900;
    a.service.activity('fast', c.t);
    await a.service.drain();
    c.t += 600;
    await admin.del(`${keyPrefix}device_health_sweep_lock`);
    await a.service.sweep();
    const revived = a.events.filter((e) => e.previous === 'TIMEOUT');
    assert.deepEqual(
      revived.map((e) => [e.device_id, e.state, e.since]),
      [['fast', 'ONLINE', back]]
    );
  });

  it('a per-device timeout shorter than twice the clock lag: messages count at their receive time in Redis too (before: TIMEOUT while sending)', async () => {
    const c = fakeClock();
    const { a, keyPrefix } = await two(c.now, { deviceTimeouts: new Map([['fast', 2000]]) });
    for (let k = 0; k < 6; k++) {
      a.service.activity('fast', c.t - 1500, undefined, c.t); // its clock is 1.5 s behind
      a.service.activity('punctual', c.t - 5, undefined, c.t); // the pipeline is not behind
      await a.service.drain();
      c.t += 1000;
      await admin.del(`${keyPrefix}device_health_sweep_lock`);
      await a.service.sweep();
    }
    assert.deepEqual(
      a.events.map((e) => [e.device_id, e.state]),
      [
        ['fast', 'ONLINE'],
        ['punctual', 'ONLINE'],
      ]
    );
  });

  it('before the first connection, data and status wait for Redis (within the grace time), then are decided there once', async function () {
    const late = await startRedis(requireBinary(this, 'redis-server'));
    await late.stop();
    const c = fakeClock();
    const { client, events, service } = waitingService(c, { port: late.port }, { keyPrefix: 'late:' });
    try {
      service.activity('d1', c.t);
      service.status('d2', false, c.t, 'lwt');
      await sleep(200);
      assert.equal(events.length, 0, 'nothing decided while waiting');
      await late.start();
      await waitFor(() => service.storeUp, 5000, 'connected');
      await service.drain();
      assert.deepEqual(events.map((e) => `${e.device_id}:${e.state}:${e.reason}`).sort(), [
        'd1:ONLINE:data',
        'd2:OFFLINE:lwt',
      ]);
      assert.equal(service.memoryDecisions, 0);
    } finally {
      await service.close();
      client.disconnect();
      await late.stop();
    }
  });

  it('without Redis, waiting ends with the grace time and memory decides', async () => {
    const c = fakeClock();
    const { client, events, service } = waitingService(c, { port: 1, lazyConnect: true });
    try {
      service.activity('d1', c.t);
      service.status('d2', false, c.t, 'lwt');
      await sleep(120);
      assert.equal(events.length, 0);
      c.t += 2000;
      await waitFor(() => events.length === 2, 2000, 'decided from memory');
      assert.equal(service.memoryDecisions, 2);
    } finally {
      await service.close();
      client.disconnect();
    }
  });

  it('a Redis that hangs with the connection open (SIGSTOP): memory decides within the command timeout, counted, and Redis takes over again when it answers', async function () {
    // the client the moby-redis node builds (same options), on a server that stops answering without closing
    const c = fakeClock();
    const client = new Redis({ host: '127.0.0.1', port: server.port, ...mobyRedisOptions() });
    client.on('error', () => undefined);
    const events: HealthEvent[] = [];
    const stores: boolean[] = [];
    const service = new HealthService({
      table: new HealthTable({ defaultTimeoutMs: 10_000, now: c.now }),
      emit: (ev) => events.push(ev),
      redis: client,
      keyPrefix: `hang${++prefix}:`,
      now: c.now,
      connectGraceMs: 0,
      onStore: (up) => stores.push(up),
    });
    const pid = Number(
      execSync(`pgrep -f '^[^ ]*redis-server 127.0.0.1:${server.port}'`).toString().trim().split('\n')[0]
    );
    assert.ok(pid > 0, 'the test redis-server process');
    let stopped = false;
    try {
      await waitFor(() => service.storeUp, 5000, 'connected');
      service.activity('alive', c.t);
      service.activity('dies', c.t);
      await service.drain();
      await service.sweep();
      assert.deepEqual(
        events.map((e) => `${e.device_id}:${e.state}`),
        ['alive:ONLINE', 'dies:ONLINE']
      );

      process.kill(pid, 'SIGSTOP');
      stopped = true;
      c.t += 5000;
      const t0 = Date.now();
      service.activity('alive', c.t);
      await service.drain(); // its flush to Redis times out: decided from memory (before: pending forever)
      await waitFor(() => !service.storeUp, 5000, 'the hang noticed (before: never)');
      assert.ok(Date.now() - t0 < REDIS_COMMAND_TIMEOUT_MS + 2000, `noticed after ${Date.now() - t0} ms`);
      assert.equal(service.hangs, 1);
      assert.match(service.lastError?.message ?? '', /timed out/i);
      c.t += 6000; // 'dies' has been silent for 11 s, beyond its 10 s timeout
      service.activity('alive', c.t);
      await service.sweep();
      assert.deepEqual(
        events.slice(2).map((e) => `${e.device_id}:${e.state}`),
        ['dies:TIMEOUT'],
        'the dead device reported from memory, the live one not'
      );
      assert.ok(service.memoryDecisions >= 1);

      process.kill(pid, 'SIGCONT');
      stopped = false;
      await waitFor(() => service.storeUp, 15_000, 'Redis decides again without a redeploy');
      assert.deepEqual(stores, [true, false, true]);
      c.t += 1000;
      service.activity('alive', c.t);
      await service.drain();
      await service.sweep();
      assert.deepEqual(
        events.slice(3).map((e) => `${e.device_id}:${e.state}`),
        [],
        `no false transition after the recovery: ${JSON.stringify(events.slice(3))}`
      );
    } finally {
      if (stopped) process.kill(pid, 'SIGCONT');
      await service.close();
      client.disconnect();
    }
  });

  it('keeps working from memory while Redis is down and resyncs when it is back, losing no transition', async () => {
    const c = fakeClock();
    const { keyPrefix, start } = plant(c.now);
    const a = await start();
    open.push(a);
    a.service.activity('quiet', c.t);
    a.service.activity('back', c.t);
    await a.service.drain();
    c.t += 10_000;
    await a.service.sweep();
    assert.equal(a.events.filter((e) => e.state === 'TIMEOUT').length, 2);

    await server.stop(); // Redis (without persistence) is gone, data and script cache with it
    await waitFor(() => !a.service.storeUp, 5000, 'outage noticed');
    c.t += 1000;
    a.service.activity('back', c.t); // TIMEOUT -> ONLINE decided from memory
    a.service.activity('newbie', c.t);
    await a.service.drain();
    assert.deepEqual(
      a.events.slice(4).map((e) => [e.device_id, e.state]),
      [
        ['back', 'ONLINE'],
        ['newbie', 'ONLINE'],
      ]
    );
    assert.ok(a.service.memoryDecisions >= 2);

    await server.start();
    await waitFor(() => a.service.storeUp, 10_000, 'reconnected and resynced');
    assert.equal((await admin.hget(`${keyPrefix}device_state`, 'back'))!.split('|')[0], 'ONLINE');
    assert.equal((await admin.hget(`${keyPrefix}device_state`, 'quiet'))!.split('|')[0], 'TIMEOUT');
    // a second instance joining now sees the same table and adds no duplicate events
    const b = await start();
    open.push(b);
    c.t += 10_000;
    await admin.del(`${keyPrefix}device_health_sweep_lock`);
    await b.service.sweep();
    await a.service.sweep();
    const late = [...a.events.slice(6), ...b.events];
    assert.deepEqual(late.map((e) => [e.device_id, e.state, e.previous]).sort(), [
      ['back', 'TIMEOUT', 'ONLINE'],
      ['newbie', 'TIMEOUT', 'ONLINE'],
    ]);
  });

  it('messages arriving 4 s late, each device sending every 7 s with a 10 s timeout: the sweep in Redis times out none (before: all 20), and one that dies is reported one timeout after its last message', async () => {
    const c = fakeClock();
    const { keyPrefix, start } = plant(c.now);
    const a = await start();
    open.push(a);
    const fleet = Array.from({ length: 20 }, (_, i) => `press-${i}`);
    // below half the timeout (a stamp further behind counts at its receive time), longer than 10 s less 7 s
    const late = 4_000;
    let stamp = 0; // press-0's last message, in its own time
    for (let s = 0; s < 60; s++) {
      fleet.forEach((d, i) => {
        if ((s + i) % 7 !== 0 || (i === 0 && s > 30)) return;
        a.service.activity(d, c.t - late, undefined, c.t);
        if (i === 0) stamp = c.t - late;
      });
      await a.service.drain();
      await admin.del(`${keyPrefix}device_health_sweep_lock`);
      await a.service.sweep();
      c.t += 1000;
    }
    assert.equal(a.events.filter((e) => e.state === 'ONLINE').length, fleet.length, 'no ONLINE flap');
    assert.deepEqual(
      a.events.filter((e) => e.state === 'TIMEOUT').map((e) => [e.device_id, e.since]),
      [['press-0', stamp + 10_000]]
    );
  });

  // An unwatched gap (every instance down) is measured in Redis's clock: these tests let real time pass
  // beyond a short gap threshold while the shared fake clock jumps over the devices' timeouts.
  describe('after every instance was down (the watched heartbeat)', () => {
    // 2.5 s: long enough that a stall of a loaded CI machine between two sweeps of one test is not a gap
    const gap = { watchGapMs: 2500 };
    const timeouts = (evs: HealthEvent[]) => evs.filter((e) => e.state === 'TIMEOUT');
    async function sweepBy(i: Instance, keyPrefix: string) {
      await admin.del(`${keyPrefix}device_health_sweep_lock`);
      await i.service.sweep();
    }

    it('all instances down longer than the timeout: no TIMEOUT at the first sweeps; a device still silent one timeout after the restart is reported, since = restart + timeout', async () => {
      const c = fakeClock();
      const { keyPrefix, start } = plant(c.now, {}, gap);
      const a = await start();
      const b = await start();
      a.service.activity('talks', c.t);
      a.service.activity('silent', c.t - 2000);
      b.service.activity('talks', c.t);
      await Promise.all([a.service.drain(), b.service.drain()]);
      for (let k = 0; k < 3; k++) {
        c.t += 1000;
        await sweepBy(k % 2 ? a : b, keyPrefix);
      }
      const lastSeen = c.t - 3000;
      await Promise.all([stopInstance(a), stopInstance(b)]);

      // a plant-wide restart: nobody sweeps for longer than the gap (Redis time), 10 minutes pass on the
      // devices' clock (60 timeouts)
      await sleep(2800);
      c.t += 600_000;
      const restart = c.t;
      const a2 = await start();
      const b2 = await start();
      open.push(a2, b2);
      for (let k = 0; k < 9; k++) {
        await sweepBy(k % 2 ? a2 : b2, keyPrefix);
        if (k === 2) {
          a2.service.activity('talks', c.t); // the live device's next message, 2 s after the restart
          await a2.service.drain();
        }
        c.t += 1000;
      }
      assert.equal(c.t, restart + 9000);
      assert.deepEqual(timeouts([...a2.events, ...b2.events]), [], 'no TIMEOUT in the first timeout after the restart');
      assert.equal(await admin.hget(`${keyPrefix}device_health_watched`, 'since'), String(restart));

      c.t = restart + 10_000;
      await sweepBy(b2, keyPrefix);
      await sweepBy(a2, keyPrefix);
      assert.deepEqual(timeouts([...a2.events, ...b2.events]), [
        {
          device_id: 'silent',
          state: 'TIMEOUT',
          previous: 'ONLINE',
          since: restart + 10_000,
          last_seen: lastSeen - 2000,
          reason: 'timeout',
        },
      ]);
      // the device that spoke after the restart times out one timeout after that message, as always
      c.t = restart + 12_000;
      await sweepBy(a2, keyPrefix);
      assert.deepEqual(
        timeouts([...a2.events, ...b2.events])
          .map((e) => [e.device_id, e.since])
          .sort(),
        [
          ['silent', restart + 10_000],
          ['talks', restart + 12_000],
        ]
      );
    });

    it('one instance keeps running while the other restarts: a silent device is reported at last_seen + timeout, as before', async () => {
      const c = fakeClock();
      const { keyPrefix, start } = plant(c.now, {}, gap);
      const a = await start();
      const b = await start();
      open.push(b);
      const silentAt = c.t;
      a.service.activity('silent', silentAt);
      await a.service.drain();
      await stopInstance(a);
      // a is down for longer than the gap and the device's deadline falls meanwhile; b keeps sweeping
      for (let k = 0; k < 10; k++) {
        await sleep(300);
        c.t += 1000;
        b.service.activity('talks', c.t);
        await b.service.drain();
        await sweepBy(b, keyPrefix);
      }
      assert.deepEqual(
        timeouts(b.events).map((e) => [e.device_id, e.since, e.last_seen]),
        [['silent', silentAt + 10_000, silentAt]]
      );
      const a2 = await start();
      open.push(a2);
      c.t += 1000;
      await sweepBy(a2, keyPrefix);
      await sweepBy(b, keyPrefix);
      assert.deepEqual(timeouts([...a2.events, ...b.events]).length, 1, 'reported once');
      assert.equal(await admin.hget(`${keyPrefix}device_health_watched`, 'since'), String(silentAt));
    });

    it('a rolling restart (each instance restarted while the other runs) is no gap: a silent device is reported at last_seen + timeout', async () => {
      const c = fakeClock();
      const { keyPrefix, start } = plant(c.now, {}, gap);
      const a = await start();
      const b = await start();
      open.push(b);
      await stopInstance(a);
      c.t += 1000;
      const seen = c.t;
      b.service.activity('d1', seen);
      await b.service.drain();
      await sweepBy(b, keyPrefix);
      // a comes back, then b restarts: one of them was always running
      const a2 = await start();
      open.push(a2);
      open.splice(open.indexOf(b), 1);
      await stopInstance(b);
      c.t += 4000;
      await sweepBy(a2, keyPrefix);
      c.t = seen + 10_000;
      await sweepBy(a2, keyPrefix);
      assert.deepEqual(
        timeouts(a2.events).map((e) => [e.device_id, e.since, e.last_seen]),
        [['d1', seen + 10_000, seen]]
      );
    });
  });
  describe('the host clock steps (Redis mode)', () => {
    // the wall clock and a monotonic one under test control: time passing moves both, setting the host's clock
    // moves only the wall clock (the service tells a step by their difference, core/clock-step.ts)
    function clocks() {
      const c = { wall: 1_700_000_000_000, mono: 5_000 };
      return {
        c,
        now: () => c.wall,
        monotonic: () => c.mono,
        pass(ms: number) {
          c.wall += ms;
          c.mono += ms;
        },
      };
    }
    async function stepping(k: ReturnType<typeof clocks>, sweepLimit?: number) {
      const steps: Array<[number, boolean]> = [];
      const { keyPrefix, start } = plant(
        k.now,
        {},
        {
          monotonic: k.monotonic,
          onClockStep: (d: number, shifted: boolean) => steps.push([d, shifted]),
          ...(sweepLimit ? { sweepLimit } : {}),
        }
      );
      const a = await start();
      open.push(a);
      return { a, keyPrefix, steps };
    }
    const fleet = Array.from({ length: 20 }, (_, i) => `press-${i}`);

    it('a step forward of an hour on the sweeping instance times out no device that keeps sending (old code: all 20 TIMEOUT, then ONLINE again: a false alarm each)', async () => {
      const k = clocks();
      const { a, keyPrefix, steps } = await stepping(k);
      for (const d of fleet) a.service.activity(d, k.c.wall);
      a.service.activity('dies', k.c.wall);
      await a.service.drain();
      await a.service.sweep();
      k.pass(1000);
      k.c.wall += 3_600_000; // NTP corrects a clock that was an hour behind
      const stepped = k.c.wall;
      // the next sweep comes before the devices' next messages (the lock is held in Redis's time, which barely moved)
      await admin.del(`${keyPrefix}device_health_sweep_lock`);
      await a.service.sweep();
      for (let s = 0; s < 12; s++) {
        for (const d of fleet) a.service.activity(d, k.c.wall);
        await a.service.drain();
        k.pass(1000);
        await admin.del(`${keyPrefix}device_health_sweep_lock`);
        await a.service.sweep();
      }
      assert.deepEqual(steps, [[3_600_000, false]]);
      const timeouts = a.events.filter((e) => e.state === 'TIMEOUT');
      assert.deepEqual(
        timeouts.map((e) => [e.device_id, e.since]),
        [['dies', stepped + 10_000]],
        'only the device that fell silent, one timeout after the step'
      );
      assert.equal(a.events.filter((e) => e.state === 'ONLINE').length, fleet.length + 1, 'no ONLINE flap');
      assert.equal(await admin.hget(`${keyPrefix}device_health_watched`, 'since'), String(stepped));
    });

    it('after a step back of an hour a device that dies is reported one timeout after its last message, not an hour late', async () => {
      const k = clocks();
      const { a, keyPrefix, steps } = await stepping(k, 7); // 20 devices moved back in pages of 7
      for (const d of fleet) a.service.activity(d, k.c.wall);
      await a.service.drain();
      await a.service.sweep();
      k.pass(1000);
      k.c.wall -= 3_600_000; // the clock was an hour ahead
      const last = k.c.wall;
      for (const d of fleet) a.service.activity(d, last); // their last messages, in the new clock
      await a.service.drain();
      k.pass(10_000);
      for (let i = 0; i < 3; i++) {
        await admin.del(`${keyPrefix}device_health_sweep_lock`); // held in Redis's time, which barely moved
        await a.service.sweep(); // 7 devices per sweep
      }
      assert.deepEqual(steps, [[-3_600_000, false]]);
      const timeouts = a.events.filter((e) => e.state === 'TIMEOUT');
      assert.equal(timeouts.length, fleet.length, 'every device that stopped, on time');
      for (const e of timeouts) assert.equal(e.since, last + 10_000, e.device_id);
      // the memory mirror (which decides during an outage and is pushed to Redis by the resync after one) too
      for (const d of fleet) assert.equal(a.service.table.get(d)!.last_seen, last, d);
    });

    it('a change message published before a step back and delivered after it does not put the old time back in the mirror', async () => {
      const k = clocks();
      const { a, keyPrefix } = await stepping(k);
      a.service.activity('press-0', k.c.wall);
      await a.service.drain();
      const before = k.c.wall;
      k.pass(1000);
      k.c.wall -= 3_600_000; // the clock was an hour ahead
      a.service.activity('press-0', k.c.wall);
      await a.service.drain();
      assert.equal(a.service.table.get('press-0')!.last_seen, k.c.wall);
      // a change message of before the step, late (another instance's, or ours delayed on the subscriber link)
      await admin.publish(
        `${keyPrefix}device_health_events`,
        JSON.stringify({
          device_id: 'press-0',
          state: 'ONLINE',
          previous: 'UNKNOWN',
          since: before,
          last_seen: before,
          reason: 'data',
        })
      );
      await sleep(200);
      assert.equal(a.service.table.get('press-0')!.last_seen, k.c.wall, 'not an hour in the future');
    });

    it('a step back during an outage reaches Redis with the resync: a device that dies is reported on time (old code: never within the hour)', async () => {
      const k = clocks();
      const { a, keyPrefix, steps } = await stepping(k, 7);
      for (const d of fleet) a.service.activity(d, k.c.wall);
      await a.service.drain();
      await a.service.sweep();
      // this instance alone loses Redis, which keeps its data (a network partition, not a restart)
      a.client.disconnect();
      await waitFor(() => !a.service.storeUp, 5000, 'outage noticed');
      k.pass(1000);
      k.c.wall -= 3_600_000; // the clock was an hour ahead; NTP sets it while Redis is out of reach
      const last = k.c.wall;
      for (const d of fleet) a.service.activity(d, last); // their last messages, decided from memory
      await a.service.drain();
      assert.deepEqual(steps, [[-3_600_000, false]]);
      await a.client.connect();
      await waitFor(() => a.service.storeUp, 10_000, 'reconnected and resynced');
      const seen = await admin.zscore(`${keyPrefix}device_last_seen`, fleet[0]);
      assert.ok(Number(seen) <= last, `Redis keeps no future last-seen time (${Number(seen) - last} ms ahead)`);
      k.pass(10_000);
      for (let i = 0; i < 3; i++) {
        await admin.del(`${keyPrefix}device_health_sweep_lock`);
        await a.service.sweep();
      }
      const timeouts = a.events.filter((e) => e.state === 'TIMEOUT');
      assert.equal(timeouts.length, fleet.length, 'every device that stopped, on time');
      for (const e of timeouts) assert.equal(e.since, last + 10_000, e.device_id);
    });
  });

  describe('error replies and corrupt values (red-team 2026-12-05: one error reply left the node in memory mode for good)', () => {
    const state = (keyPrefix: string, id: string) => admin.hget(`${keyPrefix}device_state`, id);

    it('+inf / -inf scores in the shared sets break no batch and no sweep: the local truth overwrites them (old code: the batch failed, "Cannot serialise number", memory mode for good)', async () => {
      const c = fakeClock();
      const { a, b, keyPrefix } = await two(c.now);
      a.service.activity('stuck', c.t);
      a.service.activity('early', c.t);
      await a.service.drain();
      await admin.zadd(`${keyPrefix}device_last_seen`, '+inf', 'victim');
      await admin.zadd(`${keyPrefix}device_health_deadline`, '+inf', 'stuck'); // would never come due
      await admin.zadd(`${keyPrefix}device_health_deadline`, '-inf', 'early'); // due at once, since -inf
      await admin.del(`${keyPrefix}device_health_watched`); // no watched_since to hide the -inf deadline behind

      a.service.activity('victim', c.t);
      b.service.activity('victim', c.t);
      await Promise.all([a.service.drain(), b.service.drain()]);
      assert.equal(a.service.storeUp && b.service.storeUp, true, `still shared: ${a.service.lastError?.message}`);
      assert.equal(await admin.zscore(`${keyPrefix}device_last_seen`, 'victim'), String(c.t), 'overwritten');
      assert.deepEqual(
        [...a.events, ...b.events].filter((e) => e.device_id === 'victim').map((e) => [e.state, e.last_seen]),
        [['ONLINE', c.t]],
        'decided once, in Redis'
      );

      c.t += 1000;
      await a.service.sweep(); // 'early' gets the deadline its last-seen time gives, no TIMEOUT at -inf
      assert.equal(a.service.storeUp, true, `sweep: ${a.service.lastError?.message}`);
      assert.equal(a.events.filter((e) => e.state === 'TIMEOUT').length, 0);
      c.t += 10_000;
      await admin.del(`${keyPrefix}device_health_sweep_lock`);
      await a.service.sweep();
      assert.deepEqual(
        a.events
          .filter((e) => e.state === 'TIMEOUT')
          .map((e) => [e.device_id, e.since])
          .sort(),
        [
          ['early', c.t - 11_000 + 10_000],
          ['stuck', c.t - 11_000 + 10_000],
          ['victim', c.t - 11_000 + 10_000],
        ],
        'a +inf deadline does not hide a dead device'
      );
      assert.deepEqual(a.storeStates, [true]);
      assert.equal(a.service.memoryDecisions + b.service.memoryDecisions, 0);
    });

    it('OOM (maxmemory, noeviction): memory decides meanwhile, and once Redis accepts writes again the node is back in shared mode within seconds, reported once (old code: memory mode for as long as the connection lasted)', async function () {
      this.timeout(30_000);
      const c = fakeClock();
      const { keyPrefix, start } = plant(c.now);
      const a = await start();
      open.push(a);
      a.service.activity('d0', c.t);
      await a.service.drain();
      const [, policy] = (await admin.config('GET', 'maxmemory-policy')) as string[];
      try {
        await admin.config('SET', 'maxmemory-policy', 'noeviction');
        // a limit below what is used: every write is refused (Redis momentarily full)
        // in small pieces: a 1 MB argument would sit in the query buffer, counted, and be freed a moment later
        const fill = admin.pipeline();
        for (let i = 0; i < 100; i++) fill.append(`${keyPrefix}filler`, 'x'.repeat(10_000));
        await fill.exec();
        const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
        await admin.config('SET', 'maxmemory', String(used - 500_000));
        c.t += 100;
        a.service.activity('d1', c.t);
        await a.service.drain();
        await waitFor(() => !a.service.storeUp, 2000, 'the error reply noticed');
        assert.match(a.service.lastError?.message ?? '', /OOM/);
        assert.deepEqual(
          a.events.map((e) => `${e.device_id}:${e.state}`),
          ['d0:ONLINE', 'd1:ONLINE'],
          'd1 decided from memory'
        );
        assert.ok(a.service.memoryDecisions >= 1);
        await sleep(1500); // probes during the OOM fail quietly: no second warning
        assert.deepEqual(a.storeStates, [true, false]);
      } finally {
        await admin.del(`${keyPrefix}filler`);
        await admin.config('SET', 'maxmemory', '0');
        await admin.config('SET', 'maxmemory-policy', policy);
      }
      const healthy = Date.now();
      await waitFor(() => a.service.storeUp, 8000, 'back to shared mode without a reconnect (before: never)');
      // the probe backs off to storeRetryMs (5 s by default): Redis is taken back at most that long after
      assert.ok(Date.now() - healthy <= 6500, `recovered ${Date.now() - healthy} ms after Redis was healthy`);
      assert.equal(a.service.lastError, null);
      // the decision made from memory was pushed by the probe's resync
      assert.equal((await state(keyPrefix, 'd1'))!.split('|')[0], 'ONLINE');
      // shared again: a second instance seeing the same new device adds no duplicate
      const b = await start();
      open.push(b);
      c.t += 100;
      a.service.activity('d2', c.t);
      b.service.activity('d2', c.t);
      await Promise.all([a.service.drain(), b.service.drain()]);
      assert.equal([...a.events, ...b.events].filter((e) => e.device_id === 'd2').length, 1);
      await sleep(1200);
      assert.deepEqual(a.storeStates, [true, false, true], 'the recovery reported once');
    });

    it('a corrupt state in the hash is overwritten with the local truth: resync and activity do not fail (old code: every reconnect\'s resync failed, "attempt to compare nil with number")', async () => {
      const c = fakeClock();
      const { keyPrefix, start } = plant(c.now);
      const a = await start();
      open.push(a);
      for (let i = 0; i < 5; i++) a.service.activity(`dev-${i}`, c.t);
      await a.service.drain();
      await admin.hset(`${keyPrefix}device_state`, 'dev-1', 'garbage');
      await admin.hset(`${keyPrefix}device_state`, 'dev-2', 'ONLINE|inf|||');
      await admin.hset(`${keyPrefix}device_state`, 'dev-3', 'ONLINE|nan|nan|nan|nan');
      // a reconnect (a Redis restart, a network blip): the resync pushes the table
      const id = (await a.client.client('ID')) as number;
      await admin.client('KILL', 'ID', String(id));
      await waitFor(() => a.storeStates.length >= 3, 5000, 'back in shared mode after the reconnect (before: never)');
      assert.deepEqual(a.storeStates, [true, false, true]);
      for (const d of ['dev-1', 'dev-2', 'dev-3'])
        assert.equal(await state(keyPrefix, d), `ONLINE|${c.t}|||10000`, `${d} holds the local truth`);

      // a state Redis does not know (an unknown word) is no state: the next activity decides from scratch,
      // in Redis, and the event is one every instance accepts (old code: previous "ASLEEP", dropped)
      await admin.hset(`${keyPrefix}device_state`, 'dev-4', 'ASLEEP|5|||');
      await admin.hset(`${keyPrefix}device_state`, 'dev-5', 'garbage');
      c.t += 100;
      a.service.activity('dev-4', c.t);
      a.service.activity('dev-5', c.t);
      await a.service.drain();
      assert.equal(a.service.storeUp, true, `${a.service.lastError?.message}`);
      assert.deepEqual(
        a.events.slice(5).map((e) => `${e.device_id}:${e.state}:${e.previous}`),
        ['dev-4:ONLINE:UNKNOWN', 'dev-5:ONLINE:UNKNOWN']
      );
      assert.equal(a.service.memoryDecisions, 0);
    });
  });
});
