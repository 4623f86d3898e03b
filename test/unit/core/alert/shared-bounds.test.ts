// The shared alert / device view under load and abuse, against a real redis-server: a big device table is
// published one publish at a time in bounded chunks (not one MULTI of the whole table and a PUBLISH per row,
// which piled up every 2 s and crashed Node-RED at 100k devices); what an instance published comes back after
// Redis lost its data; records and messages read from Redis are validated and the caches are bounded.
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { SharedAlertBook, SharedDeviceRows } from '../../../../nodes/core/alert/shared';
import type { Alert } from '../../../../nodes/core/contract';
import { waitFor } from '../../../support/net';
import { useRedisServer } from '../../../support/redis';

type Row = { device_id: string; state: string; since: number | null; last_seen: number | null; tenant?: string };

const rowsOf = (n: number, seen: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({ device_id: `dev-${i}`, state: 'ONLINE', since: 1, last_seen: seen }));

function alertOf(id: string, device = 'pump-1'): Alert {
  return {
    alert_id: id,
    device_id: device,
    rule: 'anomaly',
    severity: 'warning',
    status: 'open',
    acknowledged: false,
    message: 'anomaly on pump-1',
    count: 1,
    opened_at: 1000,
    updated_at: 1000,
  };
}

/** calls of one Redis command since the last CONFIG RESETSTAT */
async function calls(redis: Redis, cmd: string): Promise<number> {
  const info = await redis.info('commandstats');
  const m = new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

describe('shared view (Redis): bounded publishes, republish after a flush, validated and bounded caches', function () {
  this.timeout(30000);
  const service = useRedisServer();
  const { clients } = service;
  beforeEach(async () => {
    const r = client();
    await r.flushall();
  });
  function client(): Redis {
    const r = new Redis(service.server.url);
    clients.push(r);
    return r;
  }

  it('publishes a big table in chunks: a few HSETs and change messages, not one per row, and the others see it all', async () => {
    const ra = client();
    const sub = client();
    const a = new SharedDeviceRows<Row>(ra, 'a', 'bounds:devices');
    const b = new SharedDeviceRows<Row>(client(), 'b', 'bounds:devices');
    let messages = 0;
    sub.on('message', (_ch: string, text: string) => {
      messages++;
      b.onChange(text);
    });
    await sub.subscribe(b.changesChannel);
    await ra.config('RESETSTAT');
    assert.equal(await a.publish(rowsOf(5000, 10)), 5000);
    assert.equal(await calls(ra, 'multi'), 0, 'no transaction of the whole table');
    assert.ok((await calls(ra, 'hset')) <= 5, `chunks of 1000 rows: ${await calls(ra, 'hset')} HSETs`);
    assert.ok((await calls(ra, 'publish')) <= 5, `one change message per chunk: ${await calls(ra, 'publish')}`);
    assert.equal(await ra.hlen(a.rowsKey), 5000);
    await waitFor(() => b.others().length === 5000, 5000, 'B sees all 5000 rows');
    assert.ok(messages <= 5);
    // last_seen moves on 10 rows: only those go out
    const next = rowsOf(5000, 10);
    for (let i = 0; i < 10; i++) next[i].last_seen = 20;
    assert.equal(await a.publish(next), 10);
    await waitFor(() => b.others().filter((r) => r.last_seen === 20).length === 10, 5000, 'B sees the 10 changes');
  });

  it('has one publish out at a time: a call while one is out writes nothing', async () => {
    const ra = client();
    const a = new SharedDeviceRows<Row>(ra, 'a', 'bounds:devices');
    await ra.config('RESETSTAT');
    const rows = rowsOf(20000, 10);
    const [first, second, third] = await Promise.all([a.publish(rows), a.publish(rows), a.publish(rows)]);
    assert.equal(first, 20000);
    assert.equal(second + third, 0, 'the overlapping calls wrote nothing (the old code wrote the table 3 times)');
    assert.ok((await calls(ra, 'hset')) <= 20, `${await calls(ra, 'hset')} HSETs for 20000 rows`);
    assert.equal(await a.publish(rows), 0, 'and the table is known as published');
  });

  it('puts its device rows back after Redis lost them (FLUSHALL), and all of them after a reconnect', async () => {
    const ra = client();
    const a = new SharedDeviceRows<Row>(ra, 'a', 'bounds:devices');
    const rows = rowsOf(2500, 10);
    assert.equal(await a.publish(rows), 2500);
    await ra.flushall();
    assert.equal(await a.publish(rows), 2500, 'the marker is gone: everything is written again');
    assert.equal(await ra.hlen(a.rowsKey), 2500);
    assert.equal(await a.publish(rows), 0);
    // a reconnect (Redis may be an older dump): resync() makes the next publish write every row
    await ra.hdel(a.rowsKey, 'dev-1', 'dev-2');
    a.resync();
    assert.equal(await a.publish(rows), 2500);
    assert.equal(await ra.hlen(a.rowsKey), 2500);
  });

  it('tells the alert owner when Redis lost its records, so it republishes them', async () => {
    const ra = client();
    const book = new SharedAlertBook(ra, { owner: 'a', prefix: 'bounds:alerts' });
    assert.equal(await book.claimMarker(), true, 'first start: publish everything');
    await book.publish([alertOf('al-1')], () => true);
    assert.equal(await book.claimMarker(), false, 'nothing lost');
    await ra.flushall();
    assert.equal(await book.claimMarker(), true, 'flushed: republish everything');
    assert.equal(await book.claimMarker(), false);
  });

  it('drops invalid alert records and change messages (and counts them)', async () => {
    const ra = client();
    const book = new SharedAlertBook(ra, { owner: 'a', prefix: 'bounds:alerts' });
    const good = alertOf('ok-1');
    await ra.hset(book.recordsKey, {
      'ok-1': JSON.stringify({ owner: 'b', alert: good }),
      'evil-2': JSON.stringify({
        owner: 'b',
        alert: { alert_id: 'evil-2', device_id: 123, severity: { a: 1 }, updated_at: 'zzz' },
      }),
      'evil-3': JSON.stringify({ owner: 'b', alert: { ...good, alert_id: 'evil-3', severity: 'urgent' } }),
      'evil-4': JSON.stringify({ owner: 'b', alert: { ...good, alert_id: 'other-id' } }),
      'evil-5': JSON.stringify({ owner: 'b', alert: { ...good, alert_id: 'evil-5', message: 'x'.repeat(100000) } }),
      'evil-6': 'not json',
    });
    await book.refresh();
    assert.deepEqual(
      book.others().map((x) => x.alert_id),
      ['ok-1']
    );
    assert.equal(book.get('evil-2'), undefined);
    assert.equal(book.invalid, 5);
    book.onChange(
      JSON.stringify({ id: 'evil-7', record: { owner: 'b', alert: { ...good, alert_id: 'evil-7', status: 1 } } })
    );
    book.onChange(
      JSON.stringify({ id: 'evil-8', record: { owner: 'b', alert: { ...good, alert_id: 'evil-8', count: 'x' } } })
    );
    assert.equal(book.get('evil-7'), undefined);
    assert.equal(book.get('evil-8'), undefined);
    assert.equal(book.invalid, 7);
    // a queued command whose note is not text would land in the owner's alert: skipped (and dropped with the rest)
    await ra.rpush(
      book.commandsKey(),
      JSON.stringify({ op: 'ack', alert_id: 'ok-1', by: 'x', note: { a: 1 }, from: 'b', at: 1 }),
      JSON.stringify({ op: 'ack', alert_id: 'ok-1', by: 'y'.repeat(5000), from: 'b', at: 1 }),
      JSON.stringify({ op: 'ack', alert_id: 'ok-1', by: 'han', note: 'on it', from: 'b', at: 1 })
    );
    const { commands, taken } = await book.peekCommands();
    assert.equal(taken, 3);
    assert.deepEqual(commands, [{ op: 'ack', alert_id: 'ok-1', by: 'han', note: 'on it', from: 'b', at: 1 }]);
    // unknown fields are not carried into the API's answer
    book.onChange(JSON.stringify({ id: 'ok-9', record: { owner: 'b', alert: { ...alertOf('ok-9'), extra: 'x' } } }));
    assert.deepEqual(book.get('ok-9')?.alert, alertOf('ok-9'));
    // what the inputs accept is accepted here too: an @ in a msg.alert device id, an equipment id with spaces
    // at the tag value bound, a rule of a flow's own
    const legit = {
      ...alertOf('ok-10', 'line@plant-2'),
      rule: 'oil.pressure:low',
      equipment_id: `Hall 3 ${'x'.repeat(249)}`,
      reason: 'flatline' as const,
      sensor: 'oil pressure',
    };
    book.onChange(JSON.stringify({ id: 'ok-10', record: { owner: 'b', alert: legit } }));
    assert.deepEqual(book.get('ok-10')?.alert, legit);
    // a reason the engine never writes, a sensor name that is not a tag value
    book.onChange(
      JSON.stringify({
        id: 'evil-11',
        record: { owner: 'b', alert: { ...legit, alert_id: 'evil-11', reason: 'hacked' } },
      })
    );
    book.onChange(
      JSON.stringify({
        id: 'evil-12',
        record: { owner: 'b', alert: { ...legit, alert_id: 'evil-12', sensor: 'x\n'.repeat(200) } },
      })
    );
    assert.equal(book.get('evil-11'), undefined);
    assert.equal(book.get('evil-12'), undefined);
  });

  it('drops invalid device rows (refresh and change messages) and counts them', async () => {
    const ra = client();
    const rows = new SharedDeviceRows<Row>(ra, 'a', 'bounds:devices');
    const good: Row = { device_id: 'd1', state: 'ONLINE', since: 1, last_seen: 2 };
    await ra.hset(rows.rowsKey, {
      d1: JSON.stringify({ owner: 'b', row: good }),
      d2: JSON.stringify({ owner: 'b', row: { device_id: ['a'], tenant: { t: 1 } } }),
      d3: JSON.stringify({ owner: 'b', row: { ...good, device_id: 'd3', state: 'BROKEN' } }),
      d4: JSON.stringify({ owner: 'b', row: { ...good, device_id: 'not-d4' } }),
      d5: JSON.stringify({ owner: 'b', row: { ...good, device_id: 'd5', last_seen: 'zzz' } }),
    });
    await rows.refresh();
    assert.deepEqual(rows.others(), [good]);
    assert.equal(rows.invalid, 4);
    // the injected change message of the report, a row under another id, a wrong type: none is taken
    rows.onChange(JSON.stringify({ id: 'x1', owner: 'b', row: { device_id: ['a'], tenant: { t: 1 } } }));
    rows.onChange(JSON.stringify({ id: 'x2', owner: 'b', row: { ...good, device_id: 'x3' } }));
    rows.onChange(JSON.stringify({ id: 'x4', owner: 'b', row: { ...good, device_id: 'x4', since: {} } }));
    rows.onChange(JSON.stringify({ v: 2, owner: 'b', rows: [{ device_id: 'x5', state: 'ON' }, 7] }));
    assert.deepEqual(rows.others(), [good]);
    assert.equal(rows.invalid, 9);
    // the form of the earlier versions still works
    rows.onChange(JSON.stringify({ id: 'd6', owner: 'b', row: { ...good, device_id: 'd6' } }));
    assert.equal(rows.others().length, 2);
    // an equipment id is a tag value ("Hall 3"), not a device id
    const hall = { ...good, device_id: 'd7', equipment_id: 'Hall 3 / press' };
    rows.onChange(JSON.stringify({ id: 'd7', owner: 'b', row: hall }));
    assert.deepEqual(
      rows.others().find((r) => r.device_id === 'd7'),
      hall
    );
  });

  it("bounds the cache of other instances' rows: new rows evict the oldest, never refused", async () => {
    const rows = new SharedDeviceRows<Row>(client(), 'a', 'bounds:devices', { maxRows: 100 });
    for (let i = 0; i < 300; i++)
      rows.onChange(
        JSON.stringify({ v: 2, owner: 'b', rows: [{ device_id: `dev-${i}`, state: 'ONLINE', since: 1, last_seen: i }] })
      );
    const ids = rows.others().map((r) => r.device_id);
    assert.equal(ids.length, 100);
    assert.ok(ids.includes('dev-299'), 'the newest row is there');
    assert.ok(!ids.includes('dev-0'), 'the oldest went');
    assert.equal(rows.evicted, 200);
    // the reload too keeps at most maxRows
    const ra = client();
    const many: Record<string, string> = {};
    for (let i = 0; i < 250; i++)
      many[`r-${i}`] = JSON.stringify({
        owner: 'b',
        row: { device_id: `r-${i}`, state: 'ONLINE', since: 1, last_seen: 1 },
      });
    await ra.hset(rows.rowsKey, many);
    await rows.refresh();
    assert.equal(rows.others().length, 100);
  });
});
