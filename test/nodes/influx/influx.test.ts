// moby-influx + moby-influx-write through the real Node-RED runtime (compiled node from dist/), writing to a
// local HTTP stand-in for InfluxDB's v2 write API (test/support/influx-sink.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startInfluxSink, InfluxSink } from '../../support/influx-sink';
import { sleep, waitFor } from '../../support/net';
import { collect } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const influxNode = require('../../../dist/nodes/influx/moby-influx.js');
const supertest = require('supertest');
const apiAuth = require('../../../dist/nodes/lib/api-auth.js');
const metrics = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const T = 1795307652874;

describe('moby-influx-write node', function () {
  let sink: InfluxSink;
  let userDir: string;
  let red: { httpNode: unknown } | null = null;
  // wraps the module so the test can reach the runtime's httpNode app the node registered its route on
  const capture = (RED: { httpNode: unknown }) => {
    red = RED;
    return influxNode(RED);
  };

  beforeEach(async () => {
    sink = await startInfluxSink();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-influx-node-'));
    helper.settings({ userDir });
  });
  after(() => helper.settings({})); // do not leave our (deleted) userDir to later suites
  afterEach(async () => {
    await helper.unload();
    await sink.close();
    fs.rmSync(userDir, { recursive: true, force: true });
    delete process.env.MOBY_TEST_INFLUX_URL;
    delete process.env.MOBY_TEST_INFLUX_TOKEN;
  });

  function flow(cfg: Record<string, unknown> = {}, writer: Record<string, unknown> = {}) {
    return [
      {
        id: 'cfg',
        type: 'moby-influx',
        name: 'db',
        url: sink.url,
        org: 'moby',
        bucket: 'plant',
        precision: 'ms',
        ...cfg,
      },
      {
        id: 'w',
        type: 'moby-influx-write',
        influx: 'cfg',
        batchSize: 5,
        flushInterval: 0.2,
        retryMaxDelay: 0.2,
        wires: [['rej']],
        ...writer,
      },
      { id: 'rej', type: 'helper' },
    ];
  }
  const load = (f: unknown[], creds: Record<string, unknown> = {}) => helper.load(capture, f, creds);
  const statuses = (id: string): Array<{ fill?: string; text?: string }> => {
    const got: Array<{ fill?: string; text?: string }> = [];
    const n = helper.getNode(id);
    const orig = n.status.bind(n);
    n.status = (s: { fill?: string; text?: string }) => {
      got.push(s);
      return orig(s);
    };
    return got;
  };
  const point = (i: number, device = 'press-1') => ({
    measurement: 'telemetry',
    tags: { device_id: device },
    fields: { temperature: 20 + i, running: true },
    timestamp: T + i,
  });

  it('writes normalize output (single points and arrays) in batches with the token credential', async () => {
    await load(flow(), { cfg: { token: 'tok-123' } });
    const w = helper.getNode('w');
    const seen = statuses('w');
    for (let i = 0; i < 3; i++) w.receive({ payload: point(i) });
    w.receive({ payload: [point(3), point(4), point(5)] });
    await waitFor(() => sink.accepted.length === 6, 3000, 'six points');
    assert.equal(sink.requests[0].lines.length, 5, 'first request is a full batch of 5');
    assert.equal(sink.requests[0].headers.authorization, 'Token tok-123');
    assert.equal(sink.accepted[0], `telemetry,device_id=press-1 temperature=20,running=true ${T}`);
    await waitFor(
      () => seen.some((s) => s.fill === 'green' && /^connected · 0 buffered · 0 spooled/.test(s.text ?? '')),
      3000,
      'connected status'
    );
  });

  it('writes alert, device-health, anomaly and line-protocol messages to their measurements', async () => {
    await load(flow());
    const w = helper.getNode('w');
    w.receive({
      topic: 'alert',
      payload: {
        event: 'open',
        time: T,
        alert: {
          alert_id: 'a1',
          device_id: 'press-1',
          rule: 'temp',
          severity: 'warning',
          status: 'open',
          acknowledged: false,
          message: 'hot',
          count: 1,
          opened_at: T,
          updated_at: T,
        },
      },
    });
    w.receive({
      topic: 'device-health',
      payload: { device_id: 'press-1', state: 'ONLINE', previous: 'UNKNOWN', since: T, last_seen: T, reason: 'data' },
    });
    w.receive({
      payload: point(1),
      anomaly: { score: 2.5, threshold: 2, is_anomaly: true, severity: 'warning', method: 'ewma', contributions: {} },
    });
    w.receive({ payload: `external,device_id=x v=1 ${T}` });
    await waitFor(() => sink.accepted.length === 5, 3000, 'five lines');
    const byMeasurement = sink.accepted.map((l) => l.split(',')[0]).sort();
    assert.deepEqual(byMeasurement, ['external', 'moby_alerts', 'moby_anomaly', 'moby_device_state', 'telemetry']);
  });

  it('sends unmappable messages to the reject output naming code, device and field', async () => {
    await load(flow());
    const w = helper.getNode('w');
    const rej = collect('rej');
    w.receive({
      payload: { measurement: 'telemetry', tags: { device_id: 'press-9' }, fields: { temperature: NaN }, timestamp: T },
    });
    w.receive({ payload: { measurement: 'telemetry', tags: { device_id: 'press-9' }, fields: { v: 1 } } });
    w.receive({ payload: 'this is not line protocol' });
    await waitFor(() => rej.length === 3, 2000, 'three rejects');
    assert.deepEqual(rej[0].moby?.reject, {
      code: 'bad_number',
      reason: 'field temperature is not a finite number',
      device_id: 'press-9',
      field: 'fields.temperature',
    });
    assert.equal(rej[1].moby?.reject?.code, 'bad_timestamp');
    assert.equal(rej[2].moby?.reject?.code, 'bad_line');
    assert.equal(rej[0].payload.tags.device_id, 'press-9', 'the original payload comes out');
  });

  it('a point the server refuses with 400 comes out of the reject output with the server reason', async () => {
    sink.refuseLine = (l) =>
      l.includes('press-bad')
        ? 'partial write: field type conflict: input field "temperature" on measurement "telemetry" is type boolean, already exists as type float dropped=1'
        : null;
    await load(flow());
    const w = helper.getNode('w');
    const rej = collect('rej');
    for (let i = 0; i < 5; i++) w.receive({ payload: point(i, i === 2 ? 'press-bad' : 'press-1') });
    await waitFor(() => rej.length === 1 && sink.accepted.length === 4, 3000, 'one reject, four written');
    assert.equal(rej[0].moby?.reject?.code, 'influx_400');
    assert.equal(rej[0].moby?.reject?.device_id, 'press-bad');
    assert.match(rej[0].moby?.reject?.reason ?? '', /field type conflict/);
    assert.match(rej[0].payload, /^telemetry,device_id=press-bad /);
  });

  for (const refusalMemory of [undefined, 0]) {
    it(`a refusal the server named is remembered: later such lines leave unsent as influx_diverted (refusalMemory ${refusalMemory ?? 'default'}; 0 sends them)`, async () => {
      sink.refuseLine = (l) =>
        l.includes('temperature=true')
          ? 'field type conflict: input field "temperature" on measurement "telemetry" is type boolean, already exists as type float'
          : null;
      await load(flow({}, refusalMemory === undefined ? {} : { refusalMemory }));
      const w = helper.getNode('w');
      const rej = collect('rej');
      const bad = (i: number) => ({ ...point(i, 'press-bad'), fields: { temperature: true } });
      for (let i = 0; i < 5; i++) w.receive({ payload: i === 2 ? bad(i) : point(i) });
      await waitFor(() => rej.length === 1 && sink.accepted.length === 4, 3000, 'first batch');
      assert.equal(sink.requests.length, 2, 'the refused request and the rest once');
      for (let i = 5; i < 10; i++) w.receive({ payload: i === 7 ? bad(i) : point(i) });
      await waitFor(() => rej.length === 2 && sink.accepted.length === 8, 3000, 'second batch');
      assert.equal(sink.requests.length, refusalMemory === 0 ? 4 : 3);
      assert.equal(rej[1].moby?.reject?.code, refusalMemory === 0 ? 'influx_400' : 'influx_diverted');
      assert.equal(rej[1].moby?.reject?.device_id, 'press-bad');
      assert.match(rej[1].payload, /^telemetry,device_id=press-bad temperature=true /);
    });
  }

  it('with an unset ${ENV} URL spools to <userDir>/moby-spool and says so; a later deploy with a URL replays', async () => {
    await load(flow({ url: '${MOBY_TEST_INFLUX_URL}' }));
    const seen = statuses('w');
    const w = helper.getNode('w');
    for (let i = 0; i < 12; i++) w.receive({ payload: point(i) });
    await waitFor(
      () =>
        seen.some(
          (s) =>
            s.fill === 'blue' && /no database URL: spooling to disk · \d+ buffered · (10|12) spooled/.test(s.text ?? '')
        ),
      3000,
      'spooling status'
    );
    await helper.unload(); // close spools the 2 buffered points
    const dir = path.join(userDir, 'moby-spool', 'cfg', 'w');
    assert.ok(
      fs.readdirSync(dir).some((f) => f.startsWith('seg-')),
      'segment file in the default spool dir'
    );
    assert.equal(sink.requests.length, 0);
    process.env.MOBY_TEST_INFLUX_URL = sink.url;
    process.env.MOBY_TEST_INFLUX_TOKEN = 'from-env';
    await load(flow({ url: '${MOBY_TEST_INFLUX_URL}', tokenEnv: 'MOBY_TEST_INFLUX_TOKEN' }));
    await waitFor(() => sink.accepted.length === 12, 3000, 'replayed after restart');
    assert.deepEqual(
      sink.accepted,
      Array.from({ length: 12 }, (_, i) => `telemetry,device_id=press-1 temperature=${20 + i},running=true ${T + i}`)
    );
    assert.equal(
      sink.requests[0].headers.authorization,
      'Token from-env',
      'token from the environment variable named on the node'
    );
  });

  it('points dropped at the spool bound are said in the log when they start, then at most once a minute (before: a counter only)', async () => {
    const droppedTotal = async () =>
      Number(/^moby_influx_spool_dropped_points_total (\d+)/m.exec(await metrics.metricsText())?.[1] ?? 0);
    const before = await droppedTotal();
    await load(flow({ url: '${MOBY_TEST_INFLUX_URL}' }, { spoolMaxMB: 1, batchSize: 1000 }));
    const w = helper.getNode('w');
    const warnings: string[] = [];
    w.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
    const feed = async (from: number, n: number) => {
      for (let i = from; i < from + n; i += 1000)
        w.receive({ payload: Array.from({ length: 1000 }, (_, k) => point(i + k, `press-${(i + k) % 50}`)) });
      await sleep(500);
    };
    await feed(0, 40_000); // ~3 MB of lines into a 1 MiB spool
    const dropped = await waitFor(() => warnings.find((x) => /^dropped \d+ point/.test(x)), 5000, 'the warning');
    const n = Number(/^dropped (\d+)/.exec(dropped)![1]);
    assert.ok(n > 0, dropped);
    assert.match(dropped, /bound of 1 MiB/);
    await feed(40_000, 20_000); // more drops within the minute: counted, not said again
    assert.equal(warnings.filter((x) => /^dropped/.test(x)).length, 1, warnings.join('\n'));
    assert.ok((await droppedTotal()) - before >= n, 'and counted');
  });

  it('a URL without a bucket keeps the data in the spool and shows the mistake', async () => {
    await load(flow({ bucket: '' }));
    const seen = statuses('w');
    helper.getNode('w').receive({ payload: point(1) });
    await waitFor(
      () =>
        seen.some(
          (s) =>
            s.fill === 'red' && /^InfluxDB bucket not set: spooling to disk · 0 buffered · 1 spooled/.test(s.text ?? '')
        ),
      3000,
      'red status'
    );
    assert.equal(sink.requests.length, 0);
  });

  it('writes only the moby_anomaly point of a scored message when scoredPoint is "anomaly"', async () => {
    await load(flow({}, { scoredPoint: 'anomaly' }));
    helper.getNode('w').receive({
      payload: point(1),
      anomaly: { score: 0.1, threshold: 2, is_anomaly: false, severity: 'normal', method: 'ewma', contributions: {} },
    });
    await waitFor(() => sink.accepted.length === 1, 3000, 'one line');
    assert.match(
      sink.accepted[0],
      /^moby_anomaly,device_id=press-1,method=ewma,source=telemetry score=0.1,is_anomaly=false/
    );
  });

  it('shows retrying with spooled counts while the database fails, and flushes on close', async () => {
    sink.script.push({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    await load(flow({}, { retryMaxDelay: 0.5 }));
    const seen = statuses('w');
    const w = helper.getNode('w');
    for (let i = 0; i < 5; i++) w.receive({ payload: point(i) });
    await waitFor(
      () => seen.some((s) => s.fill === 'yellow' && /retry in \d+s · 0 buffered · 5 spooled · 503/.test(s.text ?? '')),
      3000,
      'retrying status'
    );
    await waitFor(() => sink.accepted.length === 5, 5000, 'written after the outage');
    // the spool's replay is acknowledged and the writer is back to connected before the last point arrives, so
    // what close() does with it is decided by close alone (under load the replay could still be settling)
    await waitFor(
      () => seen.some((s) => s.fill === 'green' && /^connected · 0 buffered · 0 spooled/.test(s.text ?? '')),
      5000,
      'spool drained'
    );
    w.receive({ payload: point(99) });
    await helper.unload();
    assert.equal(sink.accepted.length, 6, 'close flushed the partial batch');
  });

  it("the status shows the database's refusal escaped and cut: a bidi override or a line break from the server is not rendered (before: its first 60 characters as they came)", async () => {
    const message = `token \u202Eexpired\nsee ${'x'.repeat(200)}`;
    sink.script.push(...Array.from({ length: 50 }, () => ({ status: 401, body: { code: 'unauthorized', message } })));
    await load(flow({}));
    const seen = statuses('w');
    helper.getNode('w').receive({ payload: point(1) });
    const refused = await waitFor(
      () => seen.find((s) => s.fill === 'red' && /^refused: /.test(s.text ?? '')),
      3000,
      'refused status'
    );
    const text = refused.text ?? '';
    assert.ok(!/[\u202E\n]/.test(text), text);
    assert.match(text, /token \\u202Eexpired\\u000Asee x+…\(\d+ chars\) · 0 buffered · 1 spooled$/);
  });

  it('a database outage is said in the log once it lasts 5 s, and its end with the points to replay (before: status and metrics only)', async function () {
    this.timeout(20_000);
    sink.script.push(...Array.from({ length: 200 }, () => ({ status: 503 })));
    await load(flow({}, { retryMaxDelay: 0.3 }));
    const w = helper.getNode('w');
    const lines: Array<{ level: string; text: string; at: number }> = [];
    for (const level of ['warn', 'log'])
      w.on(`call:${level}`, (call: { args: unknown[] }) =>
        lines.push({ level, text: String(call.args[0]), at: Date.now() })
      );
    const start = Date.now();
    for (let i = 0; i < 5; i++) w.receive({ payload: point(i) });
    const warned = await waitFor(() => lines.find((l) => /^database not writable/.test(l.text)), 10_000, 'the warning');
    assert.equal(warned.level, 'warn');
    assert.match(
      warned.text,
      /^database not writable \(.*503.*\): points wait in the disk spool .*\(5 spooled, 0 in memory\)$/
    );
    assert.ok(warned.at - start >= 4500, `said after ${warned.at - start} ms, not before the grace`);
    assert.ok(sink.requests.length > 5, 'the writer kept retrying meanwhile');
    sink.script.length = 0; // the database answers again
    const back = await waitFor(() => lines.find((l) => /^database writable again/.test(l.text)), 5000, 'the end');
    assert.equal(back.level, 'log');
    // never writable since this start: its length here is a lower bound, and said so
    assert.match(back.text, /^database writable again after at least \d+ s \(not writable since Node-RED started\)/);
    await waitFor(() => sink.accepted.length === 5, 5000, 'the spooled points written');
    assert.equal(lines.filter((l) => /^database/.test(l.text)).length, 2, lines.map((l) => l.text).join('\n'));
  });

  it('a database that does not take points opens a warning on output 2 once it lasts, and its first write clears it (before: nobody was woken)', async function () {
    this.timeout(20_000);
    sink.script.push(...Array.from({ length: 200 }, () => ({ status: 503 })));
    await load([
      ...flow({}, { retryMaxDelay: 0.2, alertAfter: 1, wires: [['rej'], ['al']] }),
      { id: 'al', type: 'helper' },
    ]);
    const alerts: Array<{ topic?: string; alert: Record<string, unknown> }> = [];
    helper.getNode('al').on('input', (m: { alert: Record<string, unknown> }) => alerts.push(m));
    const w = helper.getNode('w');
    const start = Date.now();
    for (let i = 0; i < 5; i++) w.receive({ payload: point(i) });
    const opened = await waitFor(() => alerts.find((m) => m.alert.severity), 8000, 'the alert');
    assert.ok(Date.now() - start >= 900, 'not before Alert after');
    assert.equal(opened.topic, 'database-outage');
    assert.deepEqual(
      { ...opened.alert, message: undefined },
      {
        device_id: `database@127.0.0.1:${sink.port}`,
        rule: 'database_unwritable',
        severity: 'warning',
        message: undefined,
      }
    );
    assert.match(
      String(opened.alert.message),
      /^The database has not taken points since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(.*503.*\)\. Nothing is lost yet: the points wait in the disk spool \(5 when this was raised\)/
    );
    sink.script.length = 0; // the database answers again
    await waitFor(() => alerts.some((m) => m.alert.clear === true), 5000, 'the clear');
    const { note, ...clear } = alerts[alerts.length - 1].alert;
    assert.deepEqual(clear, {
      device_id: `database@127.0.0.1:${sink.port}`,
      rule: 'database_unwritable',
      clear: true,
    });
    assert.match(String(note), /^The database took no points for \d+ s$/, 'how long, as the resolve note');
    assert.equal(alerts.filter((m) => m.alert.severity).length, 1, 'one alert for the outage');
    await waitFor(() => sink.accepted.length === 5, 5000, 'the spooled points written');
  });

  it('a restart during a database outage does not start its clock again: the warning comes at Alert after of the outage (operator round 2026-12-06: one kill -9 in a 6 min outage, never paged)', async function () {
    this.timeout(30_000);
    sink.script.push(...Array.from({ length: 1000 }, () => ({ status: 503 })));
    const alerting = async () => {
      await load([
        ...flow({}, { retryMaxDelay: 0.2, alertAfter: 4, wires: [['rej'], ['al']] }),
        { id: 'al', type: 'helper' },
      ]);
      const alerts: Array<{ alert: Record<string, unknown> }> = [];
      helper.getNode('al').on('input', (m: { alert: Record<string, unknown> }) => alerts.push(m));
      return alerts;
    };
    let alerts = await alerting();
    const outageBegan = Date.now();
    for (let i = 0; i < 3; i++) helper.getNode('w').receive({ payload: point(i) });
    await sleep(2500);
    assert.deepEqual(alerts, [], 'not yet');
    await helper.unload(); // Node-RED stops (a deploy, a crash) with the database still down
    alerts = await alerting();
    const restarted = Date.now();
    const opened = await waitFor(() => alerts.find((m) => m.alert.severity), 8000, 'the warning');
    assert.equal(opened.alert.severity, 'warning');
    assert.ok(
      Date.now() - restarted < 3500,
      `${Date.now() - restarted} ms after the restart, ${Date.now() - outageBegan} ms into the outage (before: Alert after counted from the restart)`
    );
    assert.ok(Date.now() - outageBegan >= 3900, 'not before Alert after of the outage');
    // the database answers again: cleared, and the mark is gone, so the next outage counts from its own start
    sink.script.length = 0;
    await waitFor(() => alerts.some((m) => m.alert.clear === true), 8000, 'the clear');
    await waitFor(
      () => !fs.readdirSync(path.join(userDir, 'moby-spool', 'cfg', 'w')).includes('outage-since.json'),
      3000,
      'the mark removed'
    );
  });

  it('a writer without a database is alerted on too: no URL when it loses points (critical), no bucket once it lasts (newcomer round 2026-12-06: neither was)', async function () {
    this.timeout(20_000);
    await load([
      ...flow({ url: '' }, { spoolMaxMB: 1, batchSize: 1000, alertAfter: 1, wires: [['rej'], ['al']] }),
      { id: 'al', type: 'helper' },
    ]);
    let alerts: Array<{ alert: Record<string, unknown> }> = [];
    helper.getNode('al').on('input', (m: { alert: Record<string, unknown> }) => alerts.push(m));
    const w = helper.getNode('w');
    w.receive({ payload: point(1) });
    await sleep(2500);
    assert.deepEqual(alerts, [], 'spool only on purpose: nothing while nothing is lost');
    for (let i = 0; i < 40_000; i += 1000)
      w.receive({ payload: Array.from({ length: 1000 }, (_, k) => point(i + k, `press-${(i + k) % 50}`)) });
    const lost = await waitFor(() => alerts.find((m) => m.alert.severity), 8000, 'the critical alert');
    assert.deepEqual(
      [lost.alert.device_id, lost.alert.rule, lost.alert.severity],
      ['database@not-configured', 'database_unwritable', 'critical']
    );
    assert.match(String(lost.alert.message), /^The database is not configured \(no URL.*\d+ lost so far\.$/);
    await helper.unload();

    await load([...flow({ bucket: '' }, { alertAfter: 1, wires: [['rej'], ['al']] }), { id: 'al', type: 'helper' }]);
    alerts = [];
    helper.getNode('al').on('input', (m: { alert: Record<string, unknown> }) => alerts.push(m));
    helper.getNode('w').receive({ payload: point(1) });
    const warned = await waitFor(() => alerts.find((m) => m.alert.severity), 8000, 'the warning');
    assert.equal(warned.alert.severity, 'warning');
    assert.match(String(warned.alert.message), /^The database is not set up correctly \(InfluxDB bucket not set\)/);
  });

  it('the example flow writes every message kind and rejects the bad point', async () => {
    const example = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../../examples/influx-write.json'), 'utf8')
    ) as Array<Record<string, unknown>>;
    const nodes = example
      .filter(
        (n) => !['comment', 'http request', 'debug'].includes(n.type as string) || n.id === 'moby-influx-ex-rejected'
      )
      .map((n) => (n.type === 'moby-influx' ? { ...n, url: sink.url, org: 'moby', bucket: 'plant' } : n))
      .map((n) => (n.type === 'inject' && n.id === 'moby-influx-ex-metrics' ? { ...n, wires: [[]] } : n))
      .map((n) => (n.id === 'moby-influx-ex-rejected' ? { id: n.id, z: n.z, type: 'helper' } : n));
    const injectNode = require('@node-red/nodes/core/common/20-inject.js');
    await new Promise<void>((resolve, reject) =>
      helper.load([capture, injectNode], nodes, {}, (err: Error | null) => (err ? reject(err) : resolve()))
    );
    const rej = collect('moby-influx-ex-rejected');
    const injects = nodes.filter((n) => n.type === 'inject' && n.id !== 'moby-influx-ex-metrics');
    for (const n of injects) helper.getNode(n.id).receive({});
    await waitFor(() => rej.length === 1, 3000, 'bad point rejected');
    assert.equal(rej[0].moby?.reject?.code, 'bad_field');
    assert.equal(rej[0].moby?.reject?.field, 'fields.vibration');
    await helper.unload(); // close flushes the partial batch
    const measurements = new Set(sink.accepted.map((l) => l.split(/[, ]/)[0]));
    assert.deepEqual([...measurements].sort(), [
      'external',
      'moby_alerts',
      'moby_anomaly',
      'moby_device_state',
      'telemetry',
    ]);
    // point, 2 array points, alert, health, scored point + its anomaly point, line protocol
    assert.equal(sink.accepted.length, 8);
    const stamped = sink.accepted
      .filter((l) => !l.startsWith('external'))
      .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    for (const ts of stamped) assert.ok(Math.abs(ts - Date.now()) < 60000, `current timestamp, got ${ts}`);
  });

  it('serves /moby/metrics once with writer counters and buffered/spooled gauges, only with the API token', async () => {
    const f = flow();
    f.push({
      id: 'w2',
      type: 'moby-influx-write',
      influx: 'cfg',
      batchSize: 100,
      flushInterval: 60,
      wires: [[]],
    } as never);
    await load(f);
    helper.getNode('w2').receive({ payload: point(1) });
    helper.getNode('w2').receive({ payload: point(2) });
    const app = red!.httpNode as { _router: { stack: Array<{ route?: { path: string } }> } };
    assert.equal(app._router.stack.filter((l) => l.route?.path === '/moby/metrics').length, 1, 'registered once');
    // no token configured anywhere: refused (secure by default), as JSON
    const refused = await supertest(app).get('/moby/metrics').expect(401).expect('content-type', /json/);
    assert.equal(refused.body.error.code, 'unauthorized');
    // the token of a moby-alert node (registered the way the node does it) opens it
    const off = apiAuth.registerApiToken('alert-x', 'metrics-token-0123456789');
    // a message someone waits on (done) is written at once (group commit, docs/durability.md), so read the
    // gauges once both points are stored: nothing may be left buffered or spooled then
    await waitFor(() => sink.accepted.length >= 2, 5000, 'both points stored');
    let res;
    try {
      await supertest(app).get('/moby/metrics').set('authorization', 'Bearer wrong').expect(401);
      res = await supertest(app)
        .get('/moby/metrics')
        .set('authorization', 'Bearer metrics-token-0123456789')
        .expect(200);
    } finally {
      off();
    }
    assert.match(res.headers['content-type'], /text\/plain/);
    assert.match(res.text, /moby_influx_buffered_points 0\n/);
    assert.match(res.text, /moby_influx_spooled_points 0/);
    assert.match(res.text, /moby_messages_total\{node_type="moby-influx-write",outcome="in"\} \d+/);
    assert.match(res.text, /moby_influx_write_seconds_bucket/);
  });
});
