// moby-influx with the v1 write API (/write?db&rp&precision) through the real Node-RED runtime: the request
// it makes (against the local stand-in), and real InfluxDB 1.x (Debian's influxd) with authentication on —
// points land, a wrong password keeps them in the spool, a refused point comes out with InfluxDB's reason.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startInfluxSink, InfluxSink } from '../../support/influx-sink';
import { startInfluxDb1, InfluxDb1 } from '../../support/influxdb1';
import { requireBinary, waitFor } from '../../support/net';

const helper = require('node-red-node-test-helper');
const influxNode = require('../../../dist/nodes/influx/moby-influx.js');

helper.init(require.resolve('node-red'));

const T = 1795307652874;
const point = (i: number, device = 'press-1') => ({
  measurement: 'telemetry',
  tags: { device_id: device },
  fields: { temperature: 20 + i },
  timestamp: T + i,
});

describe('moby-influx v1 write API', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-influx-v1-'));
    helper.settings({ userDir });
  });
  after(() => helper.settings({}));
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  function flow(url: string, cfg: Record<string, unknown> = {}, writer: Record<string, unknown> = {}) {
    return [
      { id: 'cfg', type: 'moby-influx', url, api: 'v1', database: 'plant', precision: 'ms', ...cfg },
      {
        id: 'w',
        type: 'moby-influx-write',
        influx: 'cfg',
        batchSize: 3,
        flushInterval: 0.1,
        retryMaxDelay: 0.2,
        ...writer,
        wires: [['rej']],
      },
      { id: 'rej', type: 'helper' },
    ];
  }
  function statuses(id: string): Array<{ fill?: string; text?: string }> {
    const got: Array<{ fill?: string; text?: string }> = [];
    const n = helper.getNode(id);
    const orig = n.status.bind(n);
    n.status = (s: { fill?: string; text?: string }) => {
      got.push(s);
      return orig(s);
    };
    return got;
  }

  describe('request', () => {
    let sink: InfluxSink;
    beforeEach(async () => {
      sink = await startInfluxSink();
    });
    afterEach(() => sink.close());

    it('posts /write?db&rp&precision with the user and password as Basic auth, never in the URL', async () => {
      await helper.load(influxNode, flow(sink.url, { retentionPolicy: 'one week', precision: 'us' }), {
        cfg: { username: 'writer', password: 'p@ss:word' },
      });
      helper.getNode('w').receive({ payload: point(1) });
      await waitFor(() => sink.accepted.length === 1, 3000, 'one point');
      const req = sink.requests[0];
      assert.equal(req.path, '/write?db=plant&rp=one%20week&precision=u');
      assert.equal(req.headers.authorization, `Basic ${Buffer.from('writer:p@ss:word').toString('base64')}`);
      assert.equal(
        sink.accepted[0],
        `telemetry,device_id=press-1 temperature=21 ${T + 1}000`,
        'microsecond timestamps for precision u'
      );
    });

    it('without a user name sends the token (InfluxDB 1.8+ / v1 compatibility API); no database spools and says so', async () => {
      await helper.load(influxNode, flow(sink.url), { cfg: { token: 'tok-v1' } });
      helper.getNode('w').receive({ payload: point(1) });
      await waitFor(() => sink.accepted.length === 1, 3000, 'one point');
      assert.equal(sink.requests[0].path, '/write?db=plant&precision=ms');
      assert.equal(sink.requests[0].headers.authorization, 'Token tok-v1');
      await helper.unload();

      await helper.load(influxNode, flow(sink.url, { database: '' }));
      const seen = statuses('w');
      helper.getNode('w').receive({ payload: point(2) });
      await waitFor(
        () =>
          seen.some(
            (s) =>
              s.fill === 'red' &&
              /InfluxDB database not set \(v1 API\): spooling to disk · 0 buffered · 1 spooled/.test(s.text ?? '')
          ),
        3000,
        'database-missing status'
      );
      assert.equal(sink.requests.length, 1, 'nothing sent without a database');
    });
  });

  describe('real InfluxDB 1.x', () => {
    let db: InfluxDb1;
    const admin = { username: 'moby', password: 'secret-1' };
    before(async function () {
      this.timeout(60000);
      db = await startInfluxDb1(requireBinary(this, 'influxd'), { admin });
      await db.query('CREATE DATABASE plant');
    });
    after(async () => {
      await db?.close();
    });

    it('writes with user and password; every point is queryable', async () => {
      await helper.load(influxNode, flow(db.url), { cfg: admin });
      const w = helper.getNode('w');
      for (let i = 0; i < 7; i++) w.receive({ payload: point(i, `press-${i % 2}`) });
      const rows = await waitFor(
        async () => {
          const s = await db.query('SELECT count(temperature) FROM telemetry GROUP BY device_id', 'plant');
          const counts = Object.fromEntries(s.map((x) => [x.tags?.device_id, x.values[0][1]]));
          return counts['press-0'] === 4 && counts['press-1'] === 3 ? counts : null;
        },
        5000,
        'seven points in InfluxDB'
      );
      assert.deepEqual(rows, { 'press-0': 4, 'press-1': 3 });
      const [first] = await db.query(
        `SELECT temperature FROM telemetry WHERE device_id = 'press-0' ORDER BY time ASC LIMIT 1`,
        'plant'
      );
      assert.deepEqual(first.values[0], [T, 20], 'timestamp and value as written');
    });

    it('a wrong password keeps the points in the spool and shows "refused"; a point of the wrong type comes out with InfluxDB\'s reason', async () => {
      await helper.load(influxNode, flow(db.url), { cfg: { username: admin.username, password: 'wrong' } });
      const seen = statuses('w');
      helper.getNode('w').receive({ payload: point(100) });
      await waitFor(
        () =>
          seen.some(
            (s) => s.fill === 'red' && /^refused: .*authorization failed.* · 0 buffered · 1 spooled/.test(s.text ?? '')
          ),
        5000,
        'refused status with the point spooled'
      );
      await helper.unload();

      await helper.load(influxNode, flow(db.url), { cfg: admin });
      const rejected: Array<{ payload: string; moby: { reject: { code: string; reason: string } } }> = [];
      helper.getNode('rej').on('input', (m: (typeof rejected)[number]) => rejected.push(m));
      helper.getNode('w').receive({ payload: `telemetry,device_id=press-9 temperature="hot" ${T}` });
      await waitFor(() => rejected.length === 1, 5000, 'the type conflict rejected');
      assert.equal(rejected[0].moby.reject.code, 'influx_400');
      assert.match(rejected[0].moby.reject.reason, /field type conflict/);
    });

    it("a field type conflict is a partial write: 10 bad lines in 100 cost 2 write requests (were 15 per bad line), the next batch's none", async () => {
      await helper.load(influxNode, flow(db.url, {}, { batchSize: 100 }), { cfg: admin });
      const rejected: Array<{
        payload: string;
        moby: { reject: { code: string; reason: string; device_id?: string } };
      }> = [];
      helper.getNode('rej').on('input', (m: (typeof rejected)[number]) => rejected.push(m));
      const w = helper.getNode('w');
      const count = async () => {
        const s = await db.query('SELECT count(motor_temperature) FROM conflict', 'plant');
        return s.length ? s[0].values[0][1] : 0;
      };
      // InfluxDB counts the write requests it answered and the points it stored and dropped
      const httpd = async () => {
        const [s] = await db.query(`SHOW STATS FOR 'httpd'`);
        return Object.fromEntries(s.columns.map((c, i) => [c, s.values[0][i] as number]));
      };
      // InfluxDB adds to its counters after the points are already visible to a query, so each reading
      // waits until the counters have caught up with what the query shows (a race CI once lost by one point)
      const settled = async (since: Record<string, number>, ok: number, dropped: number, what: string) =>
        waitFor(
          async () => {
            const s = await httpd();
            return s.pointsWrittenOK - since.pointsWrittenOK >= ok &&
              s.pointsWrittenDropped - since.pointsWrittenDropped >= dropped
              ? s
              : null;
          },
          5000,
          what
        );
      const start = await httpd();
      w.receive({ payload: `conflict,device_id=d0 motor_temperature=20 ${T}` }); // the field is a float
      await waitFor(async () => (await count()) === 1, 5000, 'the float field exists');
      const batch = (from: number) =>
        Array.from({ length: 100 }, (_, i) =>
          i % 10 === 5
            ? `conflict,device_id=evil motor_temperature=true ${T + from + i}`
            : `conflict,device_id=d${i % 3} motor_temperature=${20 + i / 10} ${T + from + i}`
        ).join('\n');

      const before = await settled(start, 1, 0, 'the float counted');
      w.receive({ payload: batch(1) });
      await waitFor(async () => rejected.length === 10 && (await count()) === 91, 5000, 'first batch settled');
      const mid = await settled(before, 180, 10, 'the first batch counted');
      assert.equal(mid.writeReq - before.writeReq, 2, 'the refused request, then the rest once');
      assert.equal(mid.pointsWrittenDropped - before.pointsWrittenDropped, 10, 'InfluxDB dropped the 10 booleans');
      assert.equal(
        mid.pointsWrittenOK - before.pointsWrittenOK,
        180,
        'and stored the 90 floats already at the first request (partial write): the second stored them again'
      );
      assert.ok(rejected.every((m) => m.moby.reject.code === 'influx_400' && m.moby.reject.device_id === 'evil'));
      assert.match(
        rejected[0].moby.reject.reason,
        /partial write: field type conflict: input field "motor_temperature"/
      );

      w.receive({ payload: batch(200) });
      await waitFor(async () => rejected.length === 20 && (await count()) === 181, 5000, 'second batch settled');
      const after = await settled(mid, 90, 0, 'the second batch counted');
      assert.equal(after.writeReq - mid.writeReq, 1, 'the known conflict is not sent');
      assert.equal(after.pointsWrittenDropped - mid.pointsWrittenDropped, 0);
      assert.ok(rejected.slice(10).every((m) => m.moby.reject.code === 'influx_diverted'));
      assert.ok(rejected.slice(10).every((m) => /motor_temperature=true/.test(m.payload)));
    });

    it('routes each tenant to its own database (the tenant bucket template names the database)', async () => {
      await db.query('CREATE DATABASE moby_acme');
      await db.query('CREATE DATABASE moby_beta');
      await helper.load(influxNode, flow(db.url, { tenantBucket: 'moby_{tenant}' }), { cfg: admin });
      const w = helper.getNode('w');
      const tenantPoint = (tenant: string, i: number) => ({
        ...point(i, 'pump-001'),
        tags: { device_id: 'pump-001', tenant },
      });
      for (let i = 0; i < 3; i++) w.receive({ payload: tenantPoint('acme', i), moby: { tenant: 'acme' } });
      for (let i = 0; i < 2; i++) w.receive({ payload: tenantPoint('beta', 10 + i), moby: { tenant: 'beta' } });
      const count = async (database: string) => {
        const s = await db.query('SELECT count(temperature) FROM telemetry', database);
        return s.length ? s[0].values[0][1] : 0;
      };
      await waitFor(
        async () => (await count('moby_acme')) === 3 && (await count('moby_beta')) === 2,
        5000,
        'each tenant in its database'
      );
      const [beta] = await db.query('SELECT temperature, tenant FROM telemetry ORDER BY time ASC', 'moby_beta');
      assert.deepEqual(
        beta.values.map((v: unknown[]) => v.slice(1)),
        [
          [30, 'beta'],
          [31, 'beta'],
        ],
        "beta's database holds beta's points only"
      );
      const [acme] = await db.query('SELECT temperature, tenant FROM telemetry ORDER BY time ASC', 'moby_acme');
      assert.ok(acme.values.every((v: unknown[]) => v[2] === 'acme'));
    });
  });
});
