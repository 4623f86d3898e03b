// moby-alert with shared alerts in Redis (real Redis, Node-RED runtime): another instance whose beat stops is told.
// Its devices turn UNKNOWN in the fleet view, and the live instance with the smallest name raises one
// instance_silent alert, resolved when the beat moves again. Before (cluster round 2026-12-07: a SIGSTOP of 45 s)
// nobody was told, and the hung instance's devices stayed ONLINE everywhere.
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { alertFlow, api, collect, helper, loadAlertFlow } from '../../support/alert-red';
import { waitFor } from '../../support/net';
import { useRedisServer } from '../../support/redis';
import { SharedAlertBook, SharedDeviceRows } from '../../../nodes/core/alert/shared';
import { AlertEngine } from '../../../nodes/core/alert/engine';

const redisModule = require('../../../dist/nodes/health/moby-redis.js');

const metrics = require('../../../dist/nodes/lib/metrics.js') as { metricsText(): Promise<string> };
const warned = (): string[] =>
  (helper.getNode('alert').warn as { getCalls(): Array<{ args: unknown[] }> }).getCalls().map((c) => String(c.args[0]));

describe('moby-alert shared view: a silent instance (Node-RED runtime, real Redis)', function () {
  this.timeout(60000);
  const service = useRedisServer();
  afterEach(async () => {
    await helper.unload();
  });

  async function load(instance: string): Promise<Redis> {
    const port = Number(new URL(service.server.url).port);
    await loadAlertFlow(
      [
        { id: 'r', type: 'moby-redis', host: '127.0.0.1', port, db: 0 },
        ...alertFlow({ redis: 'r', instance, instanceSilentSec: 3 }),
      ],
      {},
      [redisModule]
    );
    const other = new Redis(service.server.url);
    other.on('error', () => undefined); // the outage test stops the server under it
    service.clients.push(other);
    await other.flushall();
    return other;
  }

  /** Another instance, `owner`, owning device `id`: its row in the shared view (as an instance writes it) and a beat. */
  async function otherInstance(redis: Redis, owner: string, id: string): Promise<void> {
    const rows = new SharedDeviceRows(redis, owner);
    const row = { device_id: id, state: 'ONLINE', since: Date.now(), last_seen: Date.now() };
    await redis.hincrby('moby:instances:alive', owner, 1);
    await waitFor(
      async () => {
        rows.resync(); // written again each time: the node's subscriber may not have been listening yet
        await rows.publish([row]);
        const listed = (await api().get('/moby/devices')).body as Array<{ device_id: string }>;
        return listed.some((r) => r.device_id === id);
      },
      15000,
      `${owner}'s row in the view`,
      300
    );
  }

  const listedAlert = (listed: unknown, id: string) => {
    const found = (listed as Array<{ alert_id: string; instance?: string }>).find((x) => x.alert_id === id);
    assert.ok(found, `alert ${id} listed`);
    return found;
  };

  const stateOf = async (id: string) =>
    ((await api().get('/moby/devices')).body as Array<{ device_id: string; state: string; source: string }>).find(
      (r) => r.device_id === id
    );

  it("another instance's beat stops: its devices turn UNKNOWN, one instance_silent alert opens and resolves when it beats again", async () => {
    const redis = await load('moby-0');
    const ev = collect('ev');
    await otherInstance(redis, 'moby-9', 'far-1');
    assert.deepEqual(
      { ...(await stateOf('far-1')) },
      { ...(await stateOf('far-1')), state: 'ONLINE', source: 'redis:moby-9' }
    );
    // moby-9 beats no more: after 3 s of silence (instanceSilentSec) and the 2 s tick
    const opened = () => ev.filter((m) => m.payload.event === 'open' && m.payload.alert.rule === 'instance_silent');
    await waitFor(() => opened().length === 1, 15000, 'instance_silent opened');
    const a = opened()[0].payload.alert;
    assert.equal(a.device_id, 'instance@moby-9');
    assert.equal(a.severity, 'critical');
    assert.match(
      a.message,
      /^MOBY instance moby-9 has not been heard since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d .*its 1 device\(s\) are not watched/
    );
    assert.equal((await stateOf('far-1'))!.state, 'UNKNOWN', 'not the ONLINE it last published');
    assert.equal(
      listedAlert((await api().get('/moby/alerts')).body, a.alert_id).instance,
      'moby-0',
      'the instance_silent alert is owned by the instance that raised it'
    );
    // it runs again
    const resolved = () =>
      ev.filter((m) => m.payload.event === 'resolve' && m.payload.alert.rule === 'instance_silent');
    const beating = setInterval(() => void redis.hincrby('moby:instances:alive', 'moby-9', 1), 500);
    try {
      await waitFor(() => resolved().length === 1, 15000, 'resolved');
      assert.equal(resolved()[0].payload.alert.resolve_note, 'instance moby-9 is heard again');
      assert.equal((await stateOf('far-1'))!.state, 'ONLINE');
      assert.equal(opened().length, 1, 'opened once');
    } finally {
      clearInterval(beating);
    }
  });

  it("while Redis is down, an ack of another instance's alert answers 503 naming its owner, not 404 (cluster round 2026-12-07)", async () => {
    const redis = await load('moby-0');
    const engine = new AlertEngine({ newId: () => 'remote-alert-1' });
    engine.apply({ kind: 'trigger', device_id: 'far-3', rule: 'anomaly' });
    const book = new SharedAlertBook(redis, { owner: 'moby-9' });
    await waitFor(
      async () => {
        await book.publish([engine.get('remote-alert-1')!], () => true);
        const listed = (await api().get('/moby/alerts')).body as Array<{ alert_id: string }>;
        return listed.some((a) => a.alert_id === 'remote-alert-1');
      },
      15000,
      "moby-9's alert in the view",
      300
    );
    // each alert names the instance that owns it (before: only the 503 below did)
    assert.equal((await api().get('/moby/alerts/remote-alert-1')).body.instance, 'moby-9');
    const own = listedAlert((await api().get('/moby/alerts')).body, 'remote-alert-1');
    assert.equal(own.instance, 'moby-9', 'in the list too');
    await service.server.stop();
    try {
      await waitFor(
        async () => (await api().post('/moby/alerts/remote-alert-1/ack').send({ by: 'kim' })).status === 503,
        10000,
        'the 503 once the connection is seen down',
        300
      );
      const r = await api().post('/moby/alerts/remote-alert-1/ack').send({ by: 'kim' });
      assert.equal(r.body.error.code, 'owner_unreachable');
      assert.match(r.body.error.message, /belongs to instance moby-9, and Redis, .* is down/);
      // and what the outage means is said once, and is a gauge (before: moby-redis's connect error only)
      assert.match(await metrics.metricsText(), /^moby_alert_shared_up\{instance="moby-0"\} 0$/m);
      await waitFor(
        () => warned().some((m) => /^shared alerts: Redis is down: the other instances' alerts/.test(m)),
        5000,
        'the warning'
      );
      await new Promise((r) => setTimeout(r, 4500));
      assert.equal(warned().filter((m) => /Redis is down/.test(m)).length, 1, 'once per outage');
    } finally {
      await service.server.start();
    }
  });

  it('an instance with a smaller name still beating reports it, not this one: one alert fleet-wide', async () => {
    const redis = await load('moby-5');
    const ev = collect('ev');
    await otherInstance(redis, 'moby-9', 'far-2');
    const beating = setInterval(() => void redis.hincrby('moby:instances:alive', 'moby-1', 1), 500);
    try {
      await waitFor(async () => (await stateOf('far-2'))?.state === 'UNKNOWN', 15000, 'moby-9 silent');
      await new Promise((r) => setTimeout(r, 2500));
      assert.deepEqual(
        ev.filter((m) => m.payload.alert?.rule === 'instance_silent'),
        [],
        'moby-1 reports it'
      );
    } finally {
      clearInterval(beating);
    }
  });
});
