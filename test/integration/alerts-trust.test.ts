// Alerts an operator trusts, end to end: `npm start` (real Node-RED, the shipped pipeline flow, embedded
// broker) with a simulator run that differs from the demo — another seed, 12 devices, its own fault plan —
// sent faster than real time. Every faulted device must raise an anomaly alert; no healthy device may.
//
// Time mapping: each message advances a device's signal by 1 s. The first 910 messages per device (the
// node's default 900-point calibration plus its 3-point input window and a margin) go out every 40 ms, the
// rest 8× faster than real time (every 125 ms). Faults start at simulated second 1200, about 300 simulated
// seconds after calibration; the test watches until five simulated minutes after the faults began (about
// 40 s of wall time at 8×), so every healthy device is scored for more than ten simulated minutes, and checks
// alerts and mute windows through the HTTP API.
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, waitFor } from '../support/net';
import { deviceIdFor } from '../../bin/lib/sim-model';

const root = path.resolve(__dirname, '..', '..');
const DEVICES = 12;
const FAULTS = '1:step/pressure@1200*5,4:spikes@1200*20,7:stuck/flow@1200,10:drift/current@1200*2';
const FAULTED = new Set([1, 4, 7, 10].map(deviceIdFor));
const MUTED = deviceIdFor(4);

interface AlertRow {
  alert_id: string;
  device_id: string;
  rule: string;
  status: string;
  opened_at: number;
  muted?: boolean;
}

const TOKEN = 'alerts-trust-test-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('alerts an operator trusts: npm start with its own simulator run', function () {
  this.timeout(360000);
  let child: ChildProcess;
  let output = '';
  let port = 0;
  let home = '';

  before(async () => {
    port = await freePort();
    const brokerPort = await freePort();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-trust-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MOBY_PORT: String(port),
      MOBY_BROKER_PORT: String(brokerPort),
      MOBY_HOME: home,
      // the device-health timeout is wall-clock: keep it well above the slowest message gap under load
      MOBY_DEVICE_TIMEOUT: '30',
      // the node's default calibration, not the shorter one npm start's demo uses
      MOBY_TRAIN_POINTS: '900',
      MOBY_SIM_ARGS: `--devices ${DEVICES} --seed 7 --faults ${FAULTS} --warmup 910 --warmup-interval 40 --speed 8`,
      // the API needs a token (issue #10); given here instead of read from the banner
      MOBY_API_TOKEN: TOKEN,
    };
    for (const k of [
      'MOBY_MQTT_URL',
      'MOBY_INFLUX_URL',
      'MOBY_HMAC_KEYS',
      'MOBY_MASTER_KEY',
      'MOBY_CREDENTIAL_SECRET',
      'MOBY_ADMIN_PASSWORD',
      'MOBY_ADMIN_PASSWORD_HASH',
    ])
      delete env[k];
    child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

  const api = async (p: string, init?: RequestInit) => {
    const res = await fetch(`http://127.0.0.1:${port}/moby${p}`, {
      ...init,
      headers: { ...(init?.headers as Record<string, string>), ...AUTH },
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const alerts = async () => (await api('/alerts?limit=1000')).body as AlertRow[];

  it('starts, and a maintenance window can be set before the faults', async () => {
    // start.js prints the editor URL only once Node-RED answers ("Started flows" comes before the listen)
    await waitFor(() => output.includes('Node-RED editor: http'), 150000, 'Node-RED started and answering', 200);
    const r = await api(`/devices/${MUTED}/mute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ minutes: 60, by: 'test', note: 'bearing swap' }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const devices = (await api('/devices')).body as Array<{ device_id: string; muted?: boolean; muted_until?: number }>;
    const row = devices.find((d) => d.device_id === MUTED);
    assert.ok(row?.muted && row.muted_until! > Date.now(), JSON.stringify(row));
  });

  it('raises an anomaly alert for every faulted device and none for a healthy one over five simulated minutes', async () => {
    // the simulator prints nothing per message; wait for the faults' alerts (simulated second ≥ 1200)
    let seen: AlertRow[] = [];
    await waitFor(
      async () => {
        seen = await alerts();
        const open = new Set(seen.filter((a) => a.rule === 'anomaly').map((a) => a.device_id));
        return [...FAULTED].every((d) => open.has(d)) ? true : null;
      },
      220000,
      `anomaly alerts on ${[...FAULTED].join(', ')}`,
      2000
    ).catch(async (err: Error) => {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/moby/metrics`, { headers: AUTH })).text();
      throw new Error(
        `${err.message}; alerts: ${JSON.stringify(seen.map((a) => [a.device_id, a.rule, a.status]))}; ${metrics
          .split('\n')
          .filter((l) => /moby_anomaly|node_type="moby-anomaly"/.test(l) && !l.startsWith('#'))
          .join(' ')}`
      );
    });
    // keep watching until five simulated minutes after the faults began (≈ 40 s at 8×), with margin
    await sleep(60000);
    const all = await alerts();
    const anomaly = all.filter((a) => a.rule === 'anomaly');
    const healthy = anomaly.filter((a) => !FAULTED.has(a.device_id));
    assert.deepEqual(healthy, [], `anomaly alerts on healthy devices: ${JSON.stringify(healthy)}`);
    for (const d of FAULTED) {
      const mine = anomaly.filter((a) => a.device_id === d);
      assert.ok(mine.length >= 1, `no alert for ${d}`);
      // one incident per fault, not a flapping series
      assert.ok(mine.length <= 2, `${d} flapped: ${mine.length} alerts`);
    }
    const muted = anomaly.find((a) => a.device_id === MUTED)!;
    assert.equal(muted.muted, true, 'the muted device’s alert is marked muted');
    assert.ok(!anomaly.some((a) => a.device_id !== MUTED && a.muted), 'only the muted device is marked');
  });

  it('keeps points and incidents apart in /moby/metrics, and unmutes', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/moby/metrics`, { headers: AUTH });
    const text = await res.text();
    const incidents = /moby_anomaly_incidents\{state="opened"\} (\d+)/.exec(text);
    const points = /moby_anomaly_points\{verdict="anomalous"\} (\d+)/.exec(text);
    assert.ok(incidents && Number(incidents[1]) >= FAULTED.size, `incidents: ${incidents?.[0]}`);
    assert.ok(points && Number(points[1]) > Number(incidents![1]), `points: ${points?.[0]}`);
    const r = await api(`/devices/${MUTED}/unmute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 200);
    const devices = (await api('/devices')).body as Array<{ device_id: string; muted?: boolean }>;
    assert.ok(!devices.find((d) => d.device_id === MUTED)?.muted);
  });
});
