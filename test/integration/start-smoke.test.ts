// `npm start` as a newcomer runs it: embedded broker, simulator with the demo faults, Node-RED with the
// pipeline. Within 60 s the alert API must list alerts and the device table must show a TIMEOUT (the silent
// device) and an OFFLINE (the hard-disconnected one, via its last will); within 3 minutes each demo signal
// fault has its anomaly alert and no healthy device has one.
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '../support/net';

const root = path.resolve(__dirname, '..', '..');

describe('npm start (smoke)', function () {
  this.timeout(240000);
  let child: ChildProcess;
  let output = '';
  let port = 0;
  let home = '';
  let spawnedAt = 0;

  before(async () => {
    port = await freePort();
    const brokerPort = await freePort();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-start-'));
    const env: NodeJS.ProcessEnv = { ...process.env, MOBY_PORT: String(port), MOBY_BROKER_PORT: String(brokerPort), MOBY_HOME: home };
    for (const k of ['MOBY_MQTT_URL', 'MOBY_INFLUX_URL', 'MOBY_HMAC_KEYS', 'MOBY_MASTER_KEY', 'MOBY_TRAIN_POINTS', 'MOBY_SIM_ARGS', 'MOBY_SIM']) delete env[k];
    spawnedAt = Date.now();
    child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    fs.rmSync(home, { recursive: true, force: true });
  });

  const get = async (p: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
    return res;
  };

  it('prints where the editor and the API are', async () => {
    await waitFor(() => output.includes('Node-RED editor:') && output.includes('Started flows'), 30000, 'startup banner');
    assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${port}/moby/alerts`));
    assert.match(output, /no MOBY_INFLUX_URL: the writer spools/);
  });

  it('lists every MOBY node type in the editor palette, and the pipeline is deployed', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    const sets = (await res.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = sets.filter((s) => s.module === '@moby-iot/node-red-moby');
    for (const s of ours) assert.ok(s.enabled && !s.err, `${s.types.join(',')}: ${s.err}`);
    const types = new Set(ours.flatMap((s) => s.types));
    for (const t of ['moby-hmac-verify', 'moby-hmac-sign', 'moby-normalize', 'moby-anomaly', 'moby-device-health', 'moby-alert', 'moby-influx-write']) {
      assert.ok(types.has(t), `palette lacks ${t}`);
    }
    const flows = (await (await fetch(`http://127.0.0.1:${port}/flows`, { headers: { accept: 'application/json' } })).json()) as Array<{ type: string }>;
    assert.ok(flows.some((n) => n.type === 'moby-hmac-verify') && flows.some((n) => n.type === 'moby-influx-write'));
  });

  it('within 60 s shows alerts, a TIMEOUT device and an OFFLINE device', async () => {
    const started = Date.now();
    const devices = await waitFor(
      async () => {
        const rows = (await (await get('/moby/devices')).json()) as Array<{ device_id: string; state: string }>;
        const states = new Set(rows.map((r) => r.state));
        return states.has('TIMEOUT') && states.has('OFFLINE') ? rows : null;
      },
      60000,
      'a TIMEOUT and an OFFLINE device',
      1000,
    );
    assert.ok(devices.length >= 20, `${devices.length} devices`);
    assert.ok(devices.filter((d) => d.state === 'ONLINE').length >= 15);
    const alerts = (await (await get('/moby/alerts')).json()) as Array<{ device_id: string; status: string; rule: string }>;
    assert.ok(alerts.length >= 2, `alerts: ${JSON.stringify(alerts)}`);
    const offline = devices.find((d) => d.state === 'OFFLINE')!;
    const timeout = devices.find((d) => d.state === 'TIMEOUT')!;
    assert.ok(alerts.some((a) => a.device_id === offline.device_id && a.status === 'open'));
    assert.ok(alerts.some((a) => a.device_id === timeout.device_id && a.status === 'open'));
    assert.ok(Date.now() - started < 60000);
  });

  it('counts the pipeline in /moby/metrics, including the rejected forgeries and replays', async () => {
    const text = await (await get('/moby/metrics')).text();
    assert.match(text, /moby_messages_total\{node_type="moby-hmac-verify",outcome="in"\} [1-9]/);
    assert.match(text, /moby_rejects_total\{node_type="moby-hmac-verify",code="(bad_signature|replay|malformed)"\} [1-9]/);
  });

  it('within 3 minutes raises one anomaly alert per demo signal fault and none on a healthy device', async () => {
    // the simulator's warm-up sends the 600 calibration points 100 ms apart; the faults begin ~5 s later
    const faulted = ['fan-007', 'pump-009', 'fan-011'];
    const deadline = spawnedAt + 180000;
    let anomaly: Array<{ device_id: string; rule: string; status: string }> = [];
    await waitFor(
      async () => {
        anomaly = ((await (await get('/moby/alerts?limit=1000')).json()) as typeof anomaly).filter((a) => a.rule === 'anomaly');
        return faulted.every((d) => anomaly.some((a) => a.device_id === d)) ? true : null;
      },
      Math.max(1000, deadline - Date.now()),
      `anomaly alerts on ${faulted.join(', ')} (have ${JSON.stringify(anomaly.map((a) => a.device_id))})`,
      2000,
    );
    assert.deepEqual(anomaly.filter((a) => !faulted.includes(a.device_id)), [], 'no anomaly alert on a healthy device');
  });

  it('stops cleanly on Ctrl+C and keeps the unsent points in the spool', async () => {
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0);
    assert.match(output, /point\(s\) kept in/);
  });
});
