// One alert view across instances (issue #15), against a real redis-server: two engines, each the owner of
// its own alerts, mirror them through SharedAlertBook; each sees the other's; an action on the other's alert
// is queued for its owner and only the owner's engine applies it (its reminders stop); records the owner
// forgets leave Redis.
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { AlertEngine, filterAlerts } from '../../../../nodes/core/alert/engine';
import { SharedAlertBook, SharedDeviceRows } from '../../../../nodes/core/alert/shared';
import { waitFor } from '../../../support/net';
import { useRedisServer } from '../../../support/redis';

describe('shared alert book (Redis): one view, owner-only writes', function () {
  this.timeout(30000);
  const service = useRedisServer();
  const { clients } = service;

  function instance(owner: string, now: { t: number }, opts: { maxResolved?: number } = {}) {
    const redis = new Redis(service.server.url);
    const sub = redis.duplicate();
    clients.push(redis, sub);
    const engine = new AlertEngine({ repeatIntervalMs: 1000, now: () => now.t, maxResolved: opts.maxResolved });
    const book = new SharedAlertBook(redis, { owner, prefix: 'test:alerts' });
    sub.on('message', (ch: string, text: string) => {
      if (ch === book.changesChannel) book.onChange(text);
    });
    return { engine, book, sub, ready: sub.subscribe(book.changesChannel) };
  }

  it('lists the fleet on every instance; an ack on A is applied by owner B, whose reminders stop', async () => {
    const now = { t: 1_000_000 };
    const a = instance('a', now);
    const b = instance('b', now);
    await Promise.all([a.ready, b.ready]);
    const opened = b.engine.apply({ kind: 'trigger', device_id: 'pump-1', rule: 'anomaly', severity: 'warning' });
    assert.ok(opened.ok);
    const id = opened.events[0].alert.alert_id;
    a.engine.apply({ kind: 'trigger', device_id: 'pump-2', rule: 'anomaly' });
    await b.book.publish([b.engine.get(id)!], (x) => !!b.engine.get(x));
    await a.book.publish(a.engine.list(), (x) => !!a.engine.get(x));
    // A sees B's alert through the change channel (and through a reload), B sees A's
    await waitFor(() => a.book.get(id)?.owner === 'b', 5000, "A sees B's alert");
    await waitFor(() => b.book.others().length === 1, 5000, "B sees A's alert");
    const fresh = new SharedAlertBook(clients[0], { owner: 'c', prefix: 'test:alerts' });
    await fresh.refresh();
    assert.deepEqual(
      filterAlerts(fresh.others(), {}).map((x) => x.device_id),
      filterAlerts([...a.engine.list(), ...b.engine.list()], {}).map((x) => x.device_id),
      'a late instance loads the whole fleet'
    );

    // before the ack B's engine owes a reminder
    now.t += 1500;
    assert.equal(b.engine.tick().repeats.length, 1);
    const sent = a.book.send(a.book.get(id)!, { op: 'ack', alert_id: id, by: 'operator@a', note: 'on it' }, now.t);
    await sent.written;
    assert.equal(sent.alert.acknowledged, true, 'the answer on A shows the expected record');
    assert.equal(b.engine.get(id)!.acknowledged, false, 'nothing changed on B until its engine applies it');
    assert.deepEqual((await a.book.peekCommands()).taken, 0, "A's own command list is empty");
    const { commands, taken } = await b.book.peekCommands();
    assert.equal(taken, 1);
    assert.deepEqual(
      { ...commands[0], at: 0 },
      { op: 'ack', alert_id: id, by: 'operator@a', note: 'on it', from: 'a', at: 0 }
    );
    const r = b.engine.acknowledge(commands[0].alert_id, commands[0].by, commands[0].note);
    assert.ok(r.ok);
    await b.book.dropCommands(taken);
    assert.equal((await b.book.peekCommands()).taken, 0, 'dropped after applying');
    await b.book.publish([b.engine.get(id)!], (x) => !!b.engine.get(x));
    now.t += 5000;
    assert.equal(b.engine.tick().repeats.length, 0, 'acknowledged on A: the owner B sends no more reminders');
    await waitFor(
      () => a.book.get(id)?.alert.acknowledged_by === 'operator@a' && a.book.get(id)?.alert.ack_note === 'on it',
      5000,
      'the ack seen on A from the owner'
    );
    // a command applied twice (crash between apply and drop) is harmless: the engine answers so
    assert.equal(b.engine.acknowledge(id, 'operator@a').error, 'already_acknowledged');
  });

  it('removes the records of alerts the owner forgot (resolved beyond its bound), so Redis stays bounded', async () => {
    const now = { t: 2_000_000 };
    const c = instance('bounded', now, { maxResolved: 1 });
    await c.ready;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const o = c.engine.apply({ kind: 'trigger', device_id: `dev-${i}`, rule: 'anomaly' });
      assert.ok(o.ok);
      ids.push(o.events[0].alert.alert_id);
      await c.book.publish([c.engine.get(ids[i])!], (x) => !!c.engine.get(x));
    }
    for (const id of ids) c.engine.resolve(id, 'operator');
    // the engine keeps 1 resolved alert: the other two records must go
    await c.book.publish(ids.map((id) => c.engine.get(id)).filter((x) => !!x) as never, (x) => !!c.engine.get(x));
    const left = Object.values(await clients[0].hgetall(c.book.recordsKey))
      .map((t) => JSON.parse(t) as { owner: string; alert: { alert_id: string } })
      .filter((r) => r.owner === 'bounded');
    assert.deepEqual(
      left.map((r) => r.alert.alert_id),
      ids.filter((id) => c.engine.get(id))
    );
    assert.equal(left.length, 1);
  });
});

describe('shared device rows (Redis): every instance lists the fleet, each row from its owner', function () {
  this.timeout(30000);
  const service = useRedisServer();
  const { clients } = service;

  type Row = { device_id: string; state: string; since: number | null; last_seen: number | null };
  it('publishes only changes, removes dropped rows, and the other instance sees both', async () => {
    const ra = new Redis(service.server.url);
    const rb = new Redis(service.server.url);
    const sub = rb.duplicate();
    clients.push(ra, rb, sub);
    const a = new SharedDeviceRows<Row>(ra, 'a', 'test:devices');
    const b = new SharedDeviceRows<Row>(rb, 'b', 'test:devices');
    sub.on('message', (_ch: string, text: string) => b.onChange(text));
    await sub.subscribe(b.changesChannel);
    assert.equal(
      await a.publish([
        { device_id: 'd1', state: 'ONLINE', since: 1, last_seen: 2 },
        { device_id: 'd2', state: 'ONLINE', since: 1, last_seen: 2 },
      ]),
      2
    );
    assert.equal(
      await a.publish([
        { device_id: 'd1', state: 'ONLINE', since: 1, last_seen: 2 },
        { device_id: 'd2', state: 'ONLINE', since: 1, last_seen: 2 },
      ]),
      0,
      'nothing changed, nothing written'
    );
    await waitFor(() => b.others().length === 2, 5000, 'B sees both rows');
    assert.equal(
      await a.publish([{ device_id: 'd1', state: 'OFFLINE', since: 3, last_seen: 2 }]),
      2,
      'one changed, one dropped'
    );
    await waitFor(
      () => b.others().length === 1 && b.others()[0].state === 'OFFLINE',
      5000,
      'B sees the change and the removal'
    );
    assert.deepEqual(Object.keys(await ra.hgetall(a.rowsKey)), ['d1']);
    const late = new SharedDeviceRows<Row>(rb, 'c', 'test:devices');
    await late.refresh();
    assert.deepEqual(late.others(), [{ device_id: 'd1', state: 'OFFLINE', since: 3, last_seen: 2 }]);
    assert.deepEqual(a.others(), [], 'an instance does not list its own rows twice');
  });
});
