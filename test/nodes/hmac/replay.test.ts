// Replay protection of moby-hmac-verify through the real Node-RED runtime: a flooding device cannot evict
// another device's nonces, a kill -9 of the Node-RED process does not reopen replays, and a broker
// redelivery (msg.redelivered, the contract with the MQTT source node) passes, also after a second kill.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveDeviceKey, parseKey, signEnvelope, nowSeconds } from '../../../nodes/core/hmac/scheme';
import { freePort, waitFor } from '../../support/net';
import { type NodeMsg as Msg } from '../../support/node-msg';
import { verifyFlow } from '../../support/hmac-flow';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');

helper.init(require.resolve('node-red'));

const root = path.resolve(__dirname, '../../..');
const KEYS = { victim: { k1: 'victim-device-secret-1' }, flooder: { k1: 'flooder-device-secret' } };
const env = (deviceId: 'victim' | 'flooder', nonce: string, ts = nowSeconds()) =>
  JSON.stringify(
    signEnvelope({ deviceId, key: parseKey(KEYS[deviceId].k1), kid: 'k1', body: `{"n":"${nonce}"}`, nonce, ts })
  );

function load(flow: unknown[], creds: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => helper.load([hmacNode], flow, creds, resolve));
}

describe('moby-hmac-verify replay protection (Node-RED runtime)', function () {
  this.timeout(60000);
  let userDir: string;
  before(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-replay-node-'));
    helper.settings({ userDir });
  });
  after(() => {
    helper.settings({});
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    // every test starts from an empty replay journal: the flood test's floors must not leak into the next
    fs.rmSync(path.join(userDir, 'moby-replay'), { recursive: true, force: true });
  });

  const flow = (opts: Record<string, unknown> = {}) =>
    verifyFlow({ replayCache: 5000, replayPerDevice: 1000, ...opts });

  it("ATTACK: a device flooding 10,500 messages with its own key does not evict the victim's nonce (old code: replay accepted)", async () => {
    // the per-device rate bound off: this test is about the replay cache's per-device budget, which the flood
    // must reach (with the default bound its excess would be refused as device_rate before that matters)
    await load(flow({ deviceRate: 0 }), { kr: { keys: JSON.stringify(KEYS) } });
    const ok: Msg[] = [];
    const bad: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    helper.getNode('bad').on('input', (m: Msg) => bad.push(m));
    const v = helper.getNode('v');
    const captured = env('victim', 'captured-victim-1');
    v.receive({ payload: captured });
    for (let i = 0; i < 10_500; i++) v.receive({ payload: env('flooder', `flood-${i}-xxxx`) });
    await waitFor(() => ok.length + bad.length === 10_501, 30000, 'all flood messages handled');
    // beyond its own budget within one second the flooder only throttles itself: its floor rose
    const flooded = bad.length;
    assert.ok(
      bad.every(
        (m) =>
          m.moby!.reject!.code === 'replay' && m.moby!.reject!.device_id === 'flooder' && m.moby!.reject!.field === 'ts'
      )
    );
    v.receive({ payload: captured }); // the attacker replays the victim's captured message
    await waitFor(() => bad.length === flooded + 1, 3000, 'replay rejected');
    const last = bad[bad.length - 1].moby!.reject!;
    assert.deepEqual([last.code, last.device_id, last.field], ['replay', 'victim', 'nonce']);
    // and the victim is not locked out
    v.receive({ payload: env('victim', 'victim-next-1') });
    await waitFor(
      () => ok.some((m) => (m.payload as { n?: string }).n === 'victim-next-1'),
      3000,
      'victim still passes'
    );
  });

  it('a node restart (redeploy) keeps the replay cache through its journal; every redelivery passes', async () => {
    const creds = { kr: { keys: JSON.stringify(KEYS) } };
    await load(flow(), creds);
    let ok: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    const captured = env('victim', 'before-restart-1');
    helper.getNode('v').receive({ payload: captured });
    await waitFor(() => ok.length === 1, 3000, 'accepted');
    await helper.unload();
    await load(flow(), creds);
    ok = [];
    const bad: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    helper.getNode('bad').on('input', (m: Msg) => bad.push(m));
    const v = helper.getNode('v');
    v.receive({ payload: captured });
    v.receive({ payload: captured, redelivered: true });
    v.receive({ payload: captured, redelivered: true });
    v.receive({ payload: captured, redelivered: 'true' }); // only the boolean set by the source node counts
    await waitFor(() => bad.length === 2 && ok.length === 2, 3000, 'both redeliveries passed');
    assert.deepEqual(
      bad.map((m) => m.moby!.reject!.code),
      ['replay', 'replay']
    );
    assert.deepEqual(
      ok.map((m) => m.moby!.auth!.redelivered),
      [true, true]
    );
    const metrics = await require('../../../dist/nodes/lib/metrics.js').metricsText();
    assert.match(metrics, /moby_events_total\{node_type="moby-hmac-verify",event="redelivered"\} [1-9]/);
  });

  it('a device verified before a restart, whose key was rotated meanwhile, raises the refused warning after it (old code: a restart forgot it, nothing was raised); with tenants too; a made-up id still never', async () => {
    const ACME = 'acme-master-secret-0123456789';
    // a master key, as the shipped keyring: every id has a key, so a made-up id's forgeries are bad_signature too
    const keys = {
      ...KEYS,
      '*': { m1: 'fleet-master-secret-0123456789' },
      '@tenants': { acme: { '*': { m1: ACME } } },
    };
    const creds = { kr: { keys: JSON.stringify(keys) } };
    const withAlerts = () => {
      const f = flow({ refusedAfter: 0.3 });
      (f[1] as { wires: string[][] }).wires = [['ok'], ['bad'], [], ['alerts']];
      return [...f, { id: 'alerts', type: 'helper' }];
    };
    const acme = (key: string, nonce: string) =>
      JSON.stringify(
        signEnvelope({
          deviceId: 'mill-1',
          key: deriveDeviceKey(parseKey(key), 'mill-1'),
          kid: 'm1',
          body: `{"n":"${nonce}"}`,
          tenant: 'acme',
        })
      );
    await load(withAlerts(), creds);
    let ok: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    helper.getNode('v').receive({ payload: env('victim', 'before-restart-2') });
    helper.getNode('v').receive({ payload: acme(ACME, 'acme-before-1') });
    await waitFor(() => ok.length === 2, 3000, 'both verified before the restart');
    await helper.unload();
    // restarted (an upgrade): meanwhile both devices were given new keys on their side only
    await load(withAlerts(), creds);
    ok = [];
    const bad: Msg[] = [];
    const alerts: Msg[] = [];
    helper.getNode('ok').on('input', (m: Msg) => ok.push(m));
    helper.getNode('bad').on('input', (m: Msg) => bad.push(m));
    helper.getNode('alerts').on('input', (m: Msg) => alerts.push(m));
    const v = helper.getNode('v');
    const rotated = (nonce: string) =>
      JSON.stringify(
        signEnvelope({ deviceId: 'victim', key: parseKey('victim-new-secret'), kid: 'k1', body: '{}', nonce })
      );
    const ghost = (nonce: string) =>
      JSON.stringify(
        signEnvelope({ deviceId: 'ghost', key: parseKey('ghost-forger-secret'), kid: 'm1', body: '{}', nonce })
      );
    for (let k = 0; k < 6; k++) {
      for (let i = 0; i < 5; i++) {
        v.receive({ payload: rotated(`rotated-${k}-${i}`) });
        v.receive({ payload: acme('acme-new-master-0123456789', `acme-new-${k}-${i}`) });
        v.receive({ payload: ghost(`ghost-${k}-${i}`) });
      }
      await new Promise((r) => setTimeout(r, 80));
    }
    await waitFor(() => bad.length === 90 && alerts.length === 2, 3000, 'all refused, two warnings');
    assert.equal(ok.length, 0);
    const got = alerts
      .map((m) => {
        const a = m as unknown as { alert: { device_id: string; message: string }; moby?: { tenant?: string } };
        return `${a.moby?.tenant ?? '-'}/${a.alert.device_id}: ${a.alert.message.split(' refused')[0]}`;
      })
      .sort();
    assert.deepEqual(
      got.map((g) => g.replace(/^(\S+: )\d+/, '$1N')),
      ['-/victim: N message(s) in the name of victim', 'acme/mill-1: N message(s) in the name of mill-1 (tenant acme)']
    );
  });
});

/** A real Node-RED process with the compiled hmac nodes: POST /v with an envelope → verify → reply. */
async function verifyProcess(keysJson: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-replay-nr-'));
  const port = await freePort();
  const reply = (ok: boolean) =>
    `msg.payload = ${ok ? '{ ok: true, redelivered: !!(msg.moby.auth && msg.moby.auth.redelivered) }' : '{ ok: false, code: msg.moby.reject.code }'}; return msg;`;
  const flow = [
    { id: 't', type: 'tab', label: 't' },
    { id: 'kr', type: 'moby-keyring', keysEnv: 'MOBY_TEST_REPLAY_KEYS' },
    { id: 'in', type: 'http in', z: 't', url: '/v', method: 'post', wires: [['dup']] },
    // stands in for the MQTT source node, which sets msg.redelivered from the broker's DUP flag
    {
      id: 'dup',
      type: 'function',
      z: 't',
      func: "msg.redelivered = msg.req.headers['x-dup'] === '1'; return msg;",
      outputs: 1,
      wires: [['v']],
    },
    {
      id: 'v',
      type: 'moby-hmac-verify',
      z: 't',
      keyring: 'kr',
      tolerance: 300,
      replayCache: 1000,
      wires: [['fok'], ['fbad']],
    },
    { id: 'fok', type: 'function', z: 't', func: reply(true), outputs: 1, wires: [['res']] },
    { id: 'fbad', type: 'function', z: 't', func: reply(false), outputs: 1, wires: [['res']] },
    { id: 'res', type: 'http response', z: 't', statusCode: '', headers: {}, wires: [] },
  ];
  fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(flow));
  fs.writeFileSync(
    path.join(dir, 'settings.js'),
    `module.exports = ${JSON.stringify({ uiPort: port, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false, nodesDir: [path.join(root, 'dist', 'nodes', 'hmac')], logging: { console: { level: 'warn' } }, editorTheme: { tours: false }, diagnostics: { enabled: false }, telemetry: { enabled: false } })};\n`
  );
  let proc: ChildProcess | null = null;
  const output: string[] = [];
  const url = `http://127.0.0.1:${port}/v`;
  const post = async (body: string, dup = false) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...(dup ? { 'x-dup': '1' } : {}) },
      body,
    });
    return (await r.json()) as { ok: boolean; code?: string; redelivered?: boolean };
  };
  return {
    dir,
    output,
    post,
    async start() {
      proc = spawn(
        process.execPath,
        [require.resolve('node-red/red.js'), '--userDir', dir, '--settings', path.join(dir, 'settings.js')],
        {
          cwd: dir,
          env: { ...process.env, MOBY_TEST_REPLAY_KEYS: keysJson },
          stdio: ['ignore', 'pipe', 'pipe'],
        }
      );
      proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
      proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
      await waitFor(
        async () => {
          if (proc && proc.exitCode !== null) throw new Error(`node-red exited: ${output.join('')}`);
          const r = await fetch(url, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }).catch(
            () => null
          );
          return r !== null && r.status === 200;
        },
        30000,
        'Node-RED serving /v',
        100
      );
    },
    async kill() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
  };
}

describe('moby-hmac-verify across a kill -9 of Node-RED', function () {
  this.timeout(90000);
  let nr: Awaited<ReturnType<typeof verifyProcess>>;
  after(async () => {
    await nr?.kill();
    if (nr) fs.rmSync(nr.dir, { recursive: true, force: true });
  });

  it('ATTACK: a message accepted before kill -9 is a replay in the restarted process (old code: accepted twice); its broker redelivery passes, also after a second kill', async () => {
    nr = await verifyProcess(JSON.stringify(KEYS));
    await nr.start();
    const captured = env('victim', 'accepted-before-kill-1');
    assert.deepEqual(await nr.post(captured), { ok: true, redelivered: false });
    assert.deepEqual(await nr.post(captured), { ok: false, code: 'replay' });
    await nr.kill(); // no close handlers run
    await nr.start();
    assert.deepEqual(
      await nr.post(captured),
      { ok: false, code: 'replay' },
      `replay after restart; log: ${nr.output.join('')}`
    );
    assert.deepEqual(await nr.post(captured, true), { ok: true, redelivered: true });
    await nr.kill(); // killed again before that copy became durable: the broker sends it a third time
    await nr.start();
    // old code: { ok: false, code: 'replay' } — and a reject is acknowledged, so the message was lost
    assert.deepEqual(
      await nr.post(captured, true),
      { ok: true, redelivered: true },
      'the redelivery after a second kill passes'
    );
    assert.deepEqual(await nr.post(captured), { ok: false, code: 'replay' }, 'without DUP still a replay');
    assert.deepEqual(await nr.post(env('victim', 'after-restart-2')), { ok: true, redelivered: false });
  });
});
