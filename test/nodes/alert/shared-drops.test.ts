// moby-alert with a shared Redis view through the real Node-RED runtime: what the view drops from Redis (records
// and change messages failing validation — written by something that is not a MOBY instance) is counted in
// moby_events_total and said in the log, not only kept as a property of the view.
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { alertFlow, helper } from '../../support/alert-red';
import { waitFor } from '../../support/net';
import { useRedisServer } from '../../support/redis';

const channelsModule = require('../../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../../dist/nodes/alert/moby-alert.js');
const redisModule = require('../../../dist/nodes/health/moby-redis.js');
const metrics = require('../../../dist/nodes/lib/metrics.js') as { metricsText(): Promise<string> };

describe('moby-alert shared view: dropped records are counted and said (Node-RED runtime, real Redis)', function () {
  this.timeout(30000);
  const service = useRedisServer();
  afterEach(async () => {
    await helper.unload();
  });

  it('a change message that fails validation is moby_events_total{event="shared_invalid"} and one warning', async () => {
    const port = Number(new URL(service.server.url).port);
    await new Promise<void>((resolve, reject) =>
      helper.load(
        [channelsModule, alertModule, redisModule],
        [
          { id: 'r', type: 'moby-redis', host: '127.0.0.1', port, db: 0 },
          ...alertFlow({ redis: 'r', instance: 'drops-a' }),
        ],
        { alert: { apiToken: 'test-token-0123456789' } },
        (err?: Error) => (err ? reject(err) : resolve())
      )
    );
    const invalid = async () =>
      Number(
        /moby_events_total\{node_type="moby-alert",event="shared_invalid"\} (\d+)/.exec(
          await metrics.metricsText()
        )?.[1] ?? 0
      );
    const before = await invalid();
    const pub = new Redis(service.server.url);
    service.clients.push(pub);
    // the report's record: a device id that is a number, a severity that is an object
    const hostile = JSON.stringify({
      id: 'evil-2',
      record: { owner: 'b', alert: { alert_id: 'evil-2', device_id: 123, severity: { a: 1 }, updated_at: 'zzz' } },
    });
    // published until the node's subscriber has it (it subscribes once the client is ready)
    await waitFor(
      async () => {
        await pub.publish('moby:alerts:changes', hostile);
        return (await invalid()) > before;
      },
      15000,
      'the dropped record counted',
      500
    );
    const warned = () =>
      helper
        .log()
        .args.map((a: any[]) => String(a[0]?.msg ?? ''))
        .filter((m: string) => m.includes('failed validation and were dropped'));
    assert.equal(warned().length, 1, 'said once');
    await pub.publish('moby:alerts:changes', hostile);
    await waitFor(async () => (await invalid()) - before >= 2, 5000, 'the next one counted too', 200);
    assert.equal(warned().length, 1, 'at most once a minute');
  });
});
