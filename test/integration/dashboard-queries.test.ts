// The provisioned Grafana dashboard (grafana-plugin/provisioning) is proven against a real database: the
// pipeline (moby-normalize → moby-anomaly → moby-alert, moby-device-health, moby-influx-write over the v1 API,
// in the real Node-RED runtime) writes simulator telemetry into Debian's InfluxDB 1.x, then every query of
// every panel — and the device variable — is interpolated the way Grafana does and executed through
// InfluxQL. Each must return the series its panel is meant to show, with the columns the MOBY panel reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MachineModel, telemetryBody } from '../../bin/lib/sim-model';
import { startInfluxDb1, InfluxDb1, InfluxSeries } from '../support/influxdb1';
import { requireBinary, waitFor } from '../support/net';

const helper = require('node-red-node-test-helper');
const nodes = [
  'normalize/moby-normalize',
  'anomaly/moby-anomaly',
  'alert/moby-alert',
  'health/moby-device-health',
  'influx/moby-influx',
].map((f) => require(`../../dist/nodes/${f}.js`));
helper.init(require.resolve('node-red'));

const root = path.resolve(__dirname, '..', '..');
const dashboard = JSON.parse(
  fs.readFileSync(path.join(root, 'grafana-plugin', 'provisioning', 'dashboards', 'moby-operator.json'), 'utf8')
);
const datasources = fs.readFileSync(
  path.join(root, 'grafana-plugin', 'provisioning', 'datasources', 'moby.yaml'),
  'utf8'
);

interface Target {
  refId: string;
  query: string;
  rawQuery?: boolean;
  resultFormat?: string;
}
interface Panel {
  id: number;
  title: string;
  type: string;
  targets: Target[];
}
const panels = dashboard.panels as Panel[];
const panel = (title: string) => panels.find((p) => p.title === title)!;
const target = (title: string, refId: string) => panel(title).targets.find((t) => t.refId === refId)!;

const DEVICES = ['press-1', 'press-2', 'press-3'];
const HOT = 'press-2';
const POINTS = 40;

/** Grafana's interpolation of the variables the dashboard uses. */
function interpolate(q: string, v: { devices: string[] | 'all'; from: number; to: number; interval: string }): string {
  const regex =
    v.devices === 'all' ? '.*' : `(${v.devices.map((d) => d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})`;
  return q
    .split('${device:regex}')
    .join(regex)
    .split('$timeFilter')
    .join(`time >= ${v.from}ms and time <= ${v.to}ms`)
    .split('$__interval')
    .join(v.interval);
}

/** Rows of InfluxQL series as objects, with the series' tags as columns (Grafana's table format does the same). */
function rows(series: InfluxSeries[]): Array<Record<string, unknown>> {
  return series.flatMap((s) =>
    s.values.map((vals) => ({ ...(s.tags ?? {}), ...Object.fromEntries(s.columns.map((c, i) => [c, vals[i]])) }))
  );
}

describe('provisioned Grafana dashboard against InfluxDB 1.x (data written by the pipeline)', function () {
  this.timeout(180000);
  let db: InfluxDb1;
  let userDir: string;
  const sent = new Map<string, { temperature: number[]; vibration: number[] }>();
  let from = 0;
  let to = 0;

  before(async function () {
    db = await startInfluxDb1(requireBinary(this, 'influxd'));
    await db.query('CREATE DATABASE moby');
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-dashboard-'));
    helper.settings({ userDir });
    const flow = [
      { id: 'db', type: 'moby-influx', url: db.url, api: 'v1', database: 'moby', precision: 'ms' },
      {
        id: 'norm',
        type: 'moby-normalize',
        measurement: 'telemetry',
        separator: '_',
        deviceIdKey: 'device_id',
        tagKeys: 'equipment_id',
        timeSource: 'payload',
        onViolation: 'reject',
        wires: [['anomaly', 'health'], []],
      },
      // fixed limits: no calibration, so a few points decide; the hot device crosses them
      {
        id: 'anomaly',
        type: 'moby-anomaly',
        method: 'threshold',
        limits: JSON.stringify({ motor_temperature: { highWarning: 90, highCritical: 120 } }),
        stateKey: 'device',
        alarmPoints: 3,
        wires: [['alert', 'write'], []],
      },
      {
        id: 'health',
        type: 'moby-device-health',
        store: 'memory',
        timeout: 3600,
        sweepInterval: 1,
        statusTrust: 'broker',
        persist: false,
        wires: [['alert', 'write'], []],
      },
      {
        id: 'alert',
        type: 'moby-alert',
        store: 'memory',
        apiEnabled: false,
        autoResolvePoints: 3,
        wires: [['write'], [], []],
      },
      { id: 'write', type: 'moby-influx-write', influx: 'db', batchSize: 50, flushInterval: 0.2, wires: [[]] },
    ];
    await helper.load(nodes, flow);
    const norm = helper.getNode('norm');
    to = Date.now();
    from = to - 20 * 60_000;
    // the simulator's own payloads, one a second over the last POINTS seconds
    DEVICES.forEach((id, i) => {
      const model = new MachineModel(i);
      const s = { temperature: [] as number[], vibration: [] as number[] };
      sent.set(id, s);
      for (let k = 0; k < POINTS; k++) {
        const r = model.step(1);
        if (id === HOT && k >= POINTS / 2) r.temperature = 130; // overheating: warning, then critical, an alert
        s.temperature.push(r.temperature);
        s.vibration.push(r.vibration);
        norm.receive({ payload: telemetryBody(id, 'line-1', r, to - (POINTS - k) * 1000) });
      }
    });
    const count = async (q: string) => Number((await db.query(q, 'moby'))[0]?.values[0][1] ?? 0);
    await waitFor(
      async () => (await count('SELECT count("motor_temperature") FROM "telemetry"')) === DEVICES.length * POINTS,
      30000,
      'all telemetry in InfluxDB',
      200
    );
    await waitFor(
      async () => (await count('SELECT count("score") FROM "moby_anomaly"')) === DEVICES.length * POINTS,
      30000,
      'all anomaly scores in InfluxDB',
      200
    );
    await waitFor(
      async () => (await count('SELECT count("state") FROM "moby_device_state"')) >= DEVICES.length,
      30000,
      'device states in InfluxDB',
      200
    );
    await waitFor(
      async () => (await count('SELECT count("status") FROM "moby_alerts"')) >= 1,
      30000,
      'an alert in InfluxDB',
      200
    );
  });
  after(async () => {
    await helper.unload();
    helper.settings({});
    await db?.close();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  const run = (t: Target, devices: string[] | 'all' = 'all') =>
    db.query(interpolate(t.query, { devices, from, to, interval: '10s' }), 'moby');

  it('uses InfluxQL only, through the provisioned InfluxQL datasource', () => {
    assert.match(datasources, /uid: moby-influxdb[\s\S]*version: InfluxQL/);
    const all = panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, ...t })));
    assert.ok(all.length >= 6);
    for (const t of all) {
      assert.equal(t.rawQuery, true, `${t.panel}/${t.refId} is a raw InfluxQL query`);
      assert.match(t.query, /^(SELECT|SHOW) /, `${t.panel}/${t.refId}`);
    }
  });

  it('the device variable lists every device that sent telemetry', async () => {
    const v = (dashboard.templating.list as Array<{ name: string; query: string }>).find((x) => x.name === 'device')!;
    const series = await db.query(v.query, 'moby');
    assert.deepEqual(
      rows(series)
        .map((r) => r.value)
        .sort(),
      DEVICES
    );
  });

  for (const [title, field] of [
    ['Bearing vibration (RMS)', 'vibration'],
    ['Motor winding temperature', 'temperature'],
  ] as const) {
    it(`"${title}": one series per device whose means are the values the devices sent`, async () => {
      const series = await run(panel(title).targets[0]);
      assert.deepEqual(series.map((s) => s.tags?.device_id).sort(), DEVICES);
      for (const s of series) {
        const values = sent.get(s.tags!.device_id)![field];
        const means = s.values.map((v) => v[1] as number);
        assert.ok(
          means.length >= 4 && means.every((m) => Number.isFinite(m)),
          `${s.tags!.device_id}: ${means.length} buckets`
        );
        assert.ok(
          Math.min(...means) >= Math.min(...values) - 1e-9 && Math.max(...means) <= Math.max(...values) + 1e-9,
          `${s.tags!.device_id}: means within what was sent`
        );
      }
      const one = await run(panel(title).targets[0], ['press-3']);
      assert.deepEqual(
        one.map((s) => s.tags?.device_id),
        ['press-3'],
        'the device variable filters'
      );
    });
  }

  it('"Anomaly score": one series per device; the overheating device scores above its threshold', async () => {
    const series = await run(panel('Anomaly score').targets[0]);
    assert.deepEqual(series.map((s) => s.tags?.device_id).sort(), DEVICES);
    const max = (d: string) =>
      Math.max(...series.find((s) => s.tags?.device_id === d)!.values.map((v) => v[1] as number));
    const [{ values }] = await db.query(
      `SELECT last("threshold") FROM "moby_anomaly" WHERE "device_id" = '${HOT}'`,
      'moby'
    );
    assert.ok(max(HOT) > (values[0][1] as number), `hot device max score ${max(HOT)} above threshold ${values[0][1]}`);
    for (const d of DEVICES.filter((x) => x !== HOT))
      assert.ok(max(d) < (values[0][1] as number), `${d} stays below the threshold`);
  });

  const equipment = 'Equipment and alerts';
  it("equipment panel, ALERTS: the lifecycle rows of the hot device's alert with the columns the panel reads", async () => {
    const r = rows(await run(target(equipment, 'ALERTS')));
    assert.ok(r.length >= 1);
    for (const row of r) {
      for (const c of ['time', 'alert_id', 'device_id', 'rule', 'severity', 'status', 'acknowledged', 'message'])
        assert.ok(c in row, `column ${c}`);
      assert.equal(row.device_id, HOT);
    }
    assert.ok(r.some((row) => row.status === 'open'));
    assert.deepEqual(rows(await run(target(equipment, 'ALERTS'), ['press-1'])), [], 'filtered by the device variable');
  });

  it('equipment panel, STATE: the latest health state of each device', async () => {
    const r = rows(await run(target(equipment, 'STATE')));
    assert.deepEqual(r.map((x) => x.device_id).sort(), DEVICES, 'one row per device');
    for (const row of r) {
      assert.equal(row.state, 'ONLINE');
      assert.equal(typeof row.last_seen, 'number');
      assert.equal(row.equipment_id, 'line-1');
    }
  });

  it('equipment panel, ANOMALY: the score history of each device (the sparkline), newest first, its latest row the last point sent', async () => {
    const r = rows(await run(target(equipment, 'ANOMALY')));
    assert.deepEqual([...new Set(r.map((x) => x.device_id))].sort(), DEVICES, 'every device');
    for (const id of DEVICES) {
      const mine = r.filter((x) => x.device_id === id);
      assert.equal(mine.length, Math.min(60, POINTS), `${id}: the newest 60 points at most (the panel keeps 60)`);
      const times = mine.map((x) => x.time as number);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => b - a),
        `${id}: newest first`
      );
      const latest = mine[0];
      assert.equal(latest.time, to - 1000, `${id}: the last point sent`);
      assert.equal(typeof latest.score, 'number');
      assert.equal(typeof latest.threshold, 'number');
      assert.equal(latest.is_anomaly, id === HOT, `${id} is_anomaly`);
    }
  });

  it('equipment panel, TELEMETRY: the latest measured values of each device, under the names the unit overrides match', async () => {
    const t = target(equipment, 'TELEMETRY');
    const r = rows(await run(t));
    assert.deepEqual(r.map((x) => x.device_id).sort(), DEVICES, 'one row per device');
    for (const row of r) {
      const s = sent.get(row.device_id as string)!;
      assert.equal(row.motor_temperature, s.temperature[POINTS - 1], `${row.device_id}: last temperature sent`);
      assert.equal(row.bearing_vibration, s.vibration[POINTS - 1], `${row.device_id}: last vibration sent`);
    }
    const overrides = (
      (panel(equipment) as unknown as { fieldConfig?: { overrides?: Array<{ matcher: { options: string } }> } })
        .fieldConfig?.overrides ?? []
    ).map((o) => o.matcher.options);
    for (const column of ['bearing_vibration', 'motor_temperature'])
      assert.ok(overrides.includes(column), `a unit override for ${column}`);
  });
});
