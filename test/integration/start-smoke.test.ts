// `npm start` as a newcomer runs it: simulator with the demo faults, Node-RED with the pipeline. Within 60 s
// the alert API must list alerts and the device table must show a TIMEOUT (the silent device) and an
// OFFLINE (the hard-disconnected one, via its last will); within 3 minutes each demo signal fault has its
// anomaly alert and no healthy device has one. Secure by default (issue #10): the editor needs
// the login printed once, every /moby route the token printed once, the broker login given in the URL
// reaches the broker as the broker node's credentials and is never logged, and the credential file is
// encrypted with a per-MOBY_HOME secret, not a public default.
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, waitFor } from '../support/net';
import { startAedes, type Broker } from '../support/aedes';
import { decryptCredentials } from '../support/secure-nodered';
import { startReceiver, type Receiver } from '../support/alert-servers';

const root = path.resolve(__dirname, '..', '..');
const BROKER_LOGIN = { username: 'moby-pipeline-user', password: 'br0ker-s3cret-pass' };

function startMoby(env: NodeJS.ProcessEnv, sink: (s: string) => void): ChildProcess {
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => sink(String(d)));
  child.stderr!.on('data', (d) => sink(String(d)));
  return child;
}

async function stopMoby(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGINT');
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

describe('npm start (smoke)', function () {
  this.timeout(240000);
  let child: ChildProcess;
  let output = '';
  let port = 0;
  let home = '';
  let broker: Broker;
  let env: NodeJS.ProcessEnv;
  let token = '';
  let password = '';
  let spawnedAt = 0;
  let pager: Receiver;
  // time this test process was frozen (a paused VM, a stalled host): the 3 minutes are of the machine running
  let stalledMs = 0;
  let stallWatch: NodeJS.Timeout | undefined;

  before(async () => {
    port = await freePort();
    broker = await startAedes(BROKER_LOGIN);
    pager = await startReceiver();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-start-'));
    env = {
      ...process.env,
      MOBY_PORT: String(port),
      MOBY_HOME: home,
      MOBY_MQTT_URL: `mqtt://${BROKER_LOGIN.username}:${BROKER_LOGIN.password}@127.0.0.1:${broker.port}`,
      // a notification channel from the environment (the shipped flow has none)
      MOBY_WEBHOOK_URL: `${pager.url}/moby-hook`,
    };
    for (const k of [
      'MOBY_INFLUX_URL',
      'MOBY_HMAC_KEYS',
      'MOBY_MASTER_KEY',
      'MOBY_API_TOKEN',
      'MOBY_ADMIN_PASSWORD',
      'MOBY_ADMIN_PASSWORD_HASH',
      'MOBY_CREDENTIAL_SECRET',
      'MOBY_CORS_ORIGINS',
      'MOBY_TRAIN_POINTS',
      'MOBY_SIM_ARGS',
      'MOBY_SIM',
    ])
      delete env[k];
    spawnedAt = Date.now();
    child = startMoby(env, (s) => (output += s));
    let tick = Date.now();
    stallWatch = setInterval(() => {
      const now = Date.now();
      if (now - tick > 2000) stalledMs += now - tick - 500;
      tick = now;
    }, 500);
  });

  after(async () => {
    clearInterval(stallWatch);
    if (child) await stopMoby(child);
    await broker?.close();
    await pager?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const get = async (p: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
    return res;
  };
  const login = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'node-red-admin',
        grant_type: 'password',
        scope: '*',
        username: 'admin',
        password,
      }),
    });
    assert.equal(r.status, 200, 'login with the printed password');
    return ((await r.json()) as { access_token: string }).access_token;
  };

  it('prints where the editor and the API are, with the generated login and token, once', async () => {
    // the banner's last line: its lines can reach us in several pipe reads, so waiting for the first one
    // raced the password and token lines on a loaded machine
    await waitFor(
      () => output.includes('press Ctrl+C to stop') && output.includes('Started flows'),
      30000,
      'startup banner'
    );
    assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${port}/moby/alerts`));
    assert.match(output, /no MOBY_INFLUX_URL: the writer spools/);
    password = /password \(shown only now[^)]*\): (\S+)/.exec(output)?.[1] ?? '';
    token = /API token \(shown only now[^)]*\): (\S+)/.exec(output)?.[1] ?? '';
    assert.ok(password.length >= 20, 'a strong generated password');
    assert.ok(token.length >= 40, 'a strong generated token');
    const secrets = path.join(home, 'secrets');
    // the devices' master key too: generated per MOBY_HOME, not a development key from the repository
    assert.match(output, /generated the devices' master key in /);
    assert.match(fs.readFileSync(path.join(secrets, 'device-master-key'), 'utf8'), /^hex:[0-9a-f]{64}\n$/);
    for (const f of ['admin-password.bcrypt', 'api-token.sha256', 'credential-secret', 'device-master-key']) {
      assert.equal(fs.statSync(path.join(secrets, f)).mode & 0o777, 0o600, f);
      const text = fs.readFileSync(path.join(secrets, f), 'utf8');
      assert.ok(!text.includes(password) && !text.includes(token), `${f} holds no plain password or token`);
    }
  });

  it('requires the login for the editor API; lists every MOBY node type in the palette, and the pipeline is deployed', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${port}/flows`)).status, 401, 'no login, no flows');
    const admin = { accept: 'application/json', authorization: `Bearer ${await login()}` };
    const res = await fetch(`http://127.0.0.1:${port}/nodes`, { headers: admin });
    assert.equal(res.status, 200);
    const sets = (await res.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const ours = sets.filter((s) => s.module === '@moby-iot/node-red-moby');
    for (const s of ours) assert.ok(s.enabled && !s.err, `${s.types.join(',')}: ${s.err}`);
    const types = new Set(ours.flatMap((s) => s.types));
    for (const t of [
      'moby-hmac-verify',
      'moby-hmac-sign',
      'moby-normalize',
      'moby-anomaly',
      'moby-device-health',
      'moby-alert',
      'moby-influx-write',
      'moby-mqtt-in',
      'moby-mqtt-broker',
    ]) {
      assert.ok(types.has(t), `palette lacks ${t}`);
    }
    const flows = (await (await fetch(`http://127.0.0.1:${port}/flows`, { headers: admin })).json()) as Array<{
      type: string;
    }>;
    assert.ok(flows.some((n) => n.type === 'moby-hmac-verify') && flows.some((n) => n.type === 'moby-influx-write'));
  });

  it("keeps Node-RED's login from being locked or bloated by anyone: wrong logins from another address leave the admin's login working, and a 1 MB user name is refused unread", async () => {
    // from 127.0.0.2 (another local address): before, Node-RED locked the user name out everywhere for 10
    // minutes after 5 failures, the right password included
    // `sent` bytes of the body go out (all of it unless told): the server may answer before the rest is read
    const from2 = (body: string, sent = Buffer.byteLength(body)) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/auth/token',
            localAddress: '127.0.0.2',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              resolve(res.statusCode ?? 0);
              req.destroy();
            });
          }
        );
        req.on('error', reject);
        if (sent >= Buffer.byteLength(body)) req.end(body);
        else req.write(body.slice(0, sent));
      });
    const attempt = (username: string, pw: string) =>
      JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username, password: pw });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push(await from2(attempt('admin', `wrong-${i}`)));
    assert.deepEqual(codes, [403, 403, 403, 403, 403, 429, 429]);
    assert.ok((await login()).length > 10, 'the right password still logs in from 127.0.0.1');
    // only its first 1 KB is sent: the answer comes without the rest (before, the whole 1 MB was written and
    // the server's early answer and close could reach the test as EPIPE instead of the 413)
    assert.equal(await from2(attempt('x'.repeat(1_000_000), 'wrong'), 1024), 413);
  });

  it('within 60 s shows alerts, a TIMEOUT device and an OFFLINE device (through the broker login)', async () => {
    for (const p of ['/moby/alerts', '/moby/devices', '/moby/metrics'])
      assert.equal((await fetch(`http://127.0.0.1:${port}${p}`)).status, 401, `${p} without the token`);
    const started = Date.now();
    let seen = '';
    const devices = await waitFor(
      async () => {
        const rows = (await (await get('/moby/devices')).json()) as Array<{ device_id: string; state: string }>;
        seen = rows
          .filter((r) => r.state !== 'ONLINE')
          .map((r) => `${r.device_id}=${r.state}`)
          .join(' ');
        const states = new Set(rows.map((r) => r.state));
        return states.has('TIMEOUT') && states.has('OFFLINE') ? rows : null;
      },
      60000,
      'a TIMEOUT and an OFFLINE device',
      1000
    ).catch((err: Error) => {
      // say what was seen, so a failure under load can be told from a broken pipeline
      throw new Error(
        `${err.message}; last non-ONLINE devices: ${seen || 'none'}; output tail:\n${output
          .split('\n')
          .filter((l) => /fault|broker|health|error/i.test(l))
          .slice(-20)
          .join('\n')}`
      );
    });
    assert.ok(devices.length >= 20, `${devices.length} devices`);
    assert.ok(devices.filter((d) => d.state === 'ONLINE').length >= 15);
    const alerts = (await (await get('/moby/alerts')).json()) as Array<{
      device_id: string;
      status: string;
      rule: string;
    }>;
    assert.ok(alerts.length >= 2, `alerts: ${JSON.stringify(alerts)}`);
    const offline = devices.find((d) => d.state === 'OFFLINE')!;
    const timeout = devices.find((d) => d.state === 'TIMEOUT')!;
    assert.ok(alerts.some((a) => a.device_id === offline.device_id && a.status === 'open'));
    assert.ok(alerts.some((a) => a.device_id === timeout.device_id && a.status === 'open'));
    assert.ok(Date.now() - started < 60000);
  });

  it('pages through the webhook MOBY_WEBHOOK_URL names (before: the shipped flow paged nobody, and nothing said so)', async () => {
    assert.match(output, /notifications: webhook \(MOBY_WEBHOOK_URL\)/);
    const page = await waitFor(
      () => pager.delivered().find((r) => r.path === '/moby-hook' && /"alert_id"/.test(r.body)),
      60000,
      'a notification at the webhook',
      500
    );
    const body = JSON.parse(page.body) as { type?: string; data?: { alert?: { device_id?: string; rule?: string } } };
    assert.match(String(body.type), /^alert\./);
    assert.ok(body.data?.alert?.device_id && body.data.alert.rule, page.body.slice(0, 300));
    assert.ok(!output.includes(pager.url), 'the URL is not logged');
  });

  it('counts the pipeline in /moby/metrics (with the token), including the rejected forgeries and replays', async () => {
    const text = await (await get('/moby/metrics')).text();
    assert.match(text, /moby_messages_total\{node_type="moby-hmac-verify",outcome="in"\} [1-9]/);
    assert.match(
      text,
      /moby_rejects_total\{node_type="moby-hmac-verify",code="(bad_signature|replay|malformed)"\} [1-9]/
    );
  });

  it('never logs the broker password, and keeps no secret in a file the old public default opens', () => {
    assert.match(
      output,
      new RegExp(`connected to mqtt://127\\.0\\.0\\.1:${broker.port} as moby-pipeline`),
      'the broker node logs the URL without the login'
    );
    assert.ok(!output.includes(BROKER_LOGIN.password), 'the broker password appears nowhere in the output');
    assert.match(output, /using MQTT broker mqtt:\/\/moby-pipeline-user:\*\*\*@127/);
    const file = JSON.parse(fs.readFileSync(path.join(home, 'userdir', 'flows_cred.json'), 'utf8'));
    assert.throws(() => decryptCredentials('moby-dev-only-change-me', file));
    const secret = fs.readFileSync(path.join(home, 'secrets', 'credential-secret'), 'utf8').trim();
    const creds = JSON.stringify(decryptCredentials(secret, file));
    assert.ok(!creds.includes(BROKER_LOGIN.password) && !creds.includes(token), `references only: ${creds}`);
  });

  it('within 3 minutes raises one anomaly alert per demo signal fault and none on a healthy device', async () => {
    // the simulator's warm-up sends the 600 calibration points 50 ms apart; the faults begin ~5 s later
    const faulted = ['fan-007', 'pump-009', 'fan-011'];
    let anomaly: Array<{ device_id: string; rule: string; status: string }> = [];
    const seenAt = new Map<string, number>();
    const all = () => faulted.every((d) => seenAt.has(d));
    // the deadline moves with stalledMs while this waits
    while (!all() && Date.now() < spawnedAt + 180000 + stalledMs) {
      anomaly = ((await (await get('/moby/alerts?limit=1000')).json()) as typeof anomaly).filter(
        (a) => a.rule === 'anomaly'
      );
      for (const a of anomaly) if (!seenAt.has(a.device_id)) seenAt.set(a.device_id, Date.now() - spawnedAt);
      if (!all()) await sleep(2000);
    }
    if (!all()) {
      // a miss once in CI (2026-12-07, none of the three within 3 minutes) could not be explained afterwards:
      // the failure now says how far the pipeline and the simulator had got
      const metrics = await (await get('/moby/metrics')).text();
      const progress = metrics
        .split('\n')
        .filter((l) =>
          /^moby_(anomaly_|messages_total\{node_type="moby-(anomaly|normalize|hmac-verify)"|rejects_total)/.test(l)
        );
      const lines = output.split('\n').filter((l) => /^\[sim\]|\[(warn|error)\]/.test(l));
      assert.fail(
        `no anomaly alert within 3 minutes on each of ${faulted.join(', ')}: have ${JSON.stringify([...seenAt])} (ms ` +
          `after the spawn); this process stalled ${stalledMs} ms\npipeline:\n  ${progress.join('\n  ')}\n` +
          `output:\n  ${lines.slice(-40).join('\n  ')}`
      );
    }
    assert.deepEqual(
      anomaly.filter((a) => !faulted.includes(a.device_id)),
      [],
      'no anomaly alert on a healthy device'
    );
  });

  it('stops cleanly on Ctrl+C and keeps the unsent points in the spool', async () => {
    const code = await stopMoby(child);
    assert.equal(code, 0);
    assert.match(output, /point\(s\) kept in/);
  });

  it('a second start keeps the login and token, prints neither, and says where to reset them', async () => {
    let again = '';
    // an unchanged user directory is not written again: a restart on a full disk died rewriting an identical
    // flows.json (red-team 2026-12-06)
    const files = ['flows.json', 'flows_cred.json', 'package.json'].map((f) => path.join(home, 'userdir', f));
    const stamp = () => files.map((f) => `${f} ${fs.statSync(f).ino} ${fs.statSync(f).mtimeMs}`);
    const before = stamp();
    child = startMoby({ ...env, MOBY_SIM: '0' }, (s) => (again += s));
    // the banner is printed once the flow has started and its broker node is connected (scripts/start.js)
    await waitFor(() => again.includes('press Ctrl+C to stop'), 30000, 'second start banner');
    assert.deepEqual(stamp(), before, 'flows, credentials and package.json left as they were');
    assert.ok(!again.includes(password) && !again.includes(token));
    assert.match(again, /to reset it delete .*admin-password\.bcrypt/);
    assert.match(again, /to reset it delete .*api-token\.sha256/);
    assert.equal((await get('/moby/alerts')).status, 200, 'the first token still works');
    await login();
    assert.equal(await stopMoby(child), 0);
  });
});
