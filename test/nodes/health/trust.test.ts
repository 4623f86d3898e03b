// Forgeable last-will/status (issue #10, item 3) through the real Node-RED runtime and a real MQTT broker:
// mqtt in → moby-hmac-verify → moby-device-health ← mqtt in device/lwt/+, device/status/+ → moby-alert, as
// in flows/pipeline.json. The attacker is any unauthenticated client of the broker. Every test is written as
// the attack and fails on the code before the trust model (there, each forged message was applied).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { startAedes, type Broker } from '../../support/aedes';
import { sleep, waitFor } from '../../support/net';
import { coreMqttBroker, coreMqttIn } from '../../support/core-mqtt-flow';
import { brokerHealthFlow } from '../../support/health-flow';
import { type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const channelsModule = require('../../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../../dist/nodes/alert/moby-alert.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const KEY = 'pump-7-device-secret-key';
const KEYS = { 'pump-7': { k1: KEY } };

const metric = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

describe('device health: forged wills and status from an unauthenticated broker client (Node-RED runtime)', function () {
  this.timeout(60000);
  let broker: Broker;
  let userDir: string;
  let device: mqtt.MqttClient;
  let attacker: mqtt.MqttClient;

  before(async () => {
    broker = await startAedes();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-health-trust-'));
    helper.settings({ userDir });
  });
  after(async () => {
    helper.settings({});
    await broker.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    device?.end(true);
    attacker?.end(true);
    await helper.unload();
  });

  async function pipeline(alertOpts: Record<string, unknown> = {}) {
    const flow = brokerHealthFlow(broker.port, {
      verify: { tolerance: 300, replayCache: 1000, topicPattern: 'devices/+/telemetry' },
      health: { timeout: 1 },
      alert: alertOpts,
    });
    await new Promise<void>((resolve) =>
      helper.load(
        [mqttNode, hmacNode, healthNode, channelsModule, alertModule],
        flow,
        { kr: { keys: JSON.stringify(KEYS) } },
        resolve
      )
    );
    const got = { out: [] as Msg[], bad: [] as Msg[], ev: [] as Msg[] };
    helper.getNode('h-out').on('input', (m: Msg) => got.out.push(m));
    helper.getNode('h-bad').on('input', (m: Msg) => got.bad.push(m));
    helper.getNode('ev').on('input', (m: Msg) => got.ev.push(m));
    await waitFor(() => helper.getNode('b').connected, 5000, 'node-red connected to the broker');
    await sleep(200); // subscriptions in place
    device = mqtt.connect(broker.url, { clientId: 'pump-7', keepalive: 30 });
    attacker = mqtt.connect(broker.url, { clientId: 'anyone' });
    await Promise.all(
      [device, attacker].map(
        (c) => new Promise<void>((resolve, reject) => c.once('connect', () => resolve()).once('error', reject))
      )
    );
    return got;
  }

  const sendData = () =>
    device.publishAsync(
      'devices/pump-7/telemetry',
      JSON.stringify(signEnvelope({ deviceId: 'pump-7', key: parseKey(KEY), kid: 'k1', body: '{"temperature":71.2}' })),
      { qos: 1 }
    );
  const states = (out: Msg[]) =>
    out
      .filter((m) => m.topic === 'device-health')
      .map((m) => `${m.payload.device_id}:${m.payload.state}:${m.payload.reason}`);
  const alerts = (ev: Msg[], kind: string) => ev.filter((m) => m.payload.event === kind).map((m) => m.payload.alert);

  async function snapshot(out: Msg[]): Promise<Array<{ device_id: string; state: string }>> {
    const n = out.length;
    helper.getNode('h').receive({ topic: 'snapshot' });
    await waitFor(() => out.slice(n).some((m) => m.topic === 'snapshot'), 2000, 'snapshot');
    return out.slice(n).find((m) => m.topic === 'snapshot')!.payload;
  }

  it('ATTACK: a forged will/status for a never-seen device opens no alert and leaves no state; a payload device_id cannot name another device; all counted', async () => {
    const before = await metricsText();
    const got = await pipeline();
    await sendData();
    await waitFor(() => states(got.out).includes('pump-7:ONLINE:data'), 3000, 'pump-7 online');
    await attacker.publishAsync('device/lwt/pump-001', 'OFFLINE', { qos: 1 });
    await attacker.publishAsync('device/status/pump-001', 'ONLINE', { qos: 1 });
    // the will of a client the attacker controls, claiming to be the real pump-7
    await attacker.publishAsync('device/lwt/anyone', '{"device_id":"pump-7","status":"OFFLINE"}', { qos: 1 });
    await waitFor(() => got.bad.length === 3, 3000, 'three refused');
    assert.deepEqual(
      got.bad.map((m) => [m.moby!.reject!.code, m.moby!.reject!.device_id]),
      [
        ['untrusted_status', 'pump-001'],
        ['untrusted_status', 'pump-001'],
        ['device_mismatch', 'anyone'],
      ]
    );
    await sleep(200);
    assert.deepEqual(states(got.out), ['pump-7:ONLINE:data']);
    assert.equal(alerts(got.ev, 'open').length, 0);
    assert.deepEqual(
      (await snapshot(got.out)).map((r) => `${r.device_id}:${r.state}`),
      ['pump-7:ONLINE']
    );
    const after = await metricsText();
    const diff = (s: string) => metric(after, s) - metric(before, s);
    assert.equal(diff('moby_rejects_total{node_type="moby-device-health",code="untrusted_status"}'), 2);
    assert.equal(diff('moby_rejects_total{node_type="moby-device-health",code="device_mismatch"}'), 1);
  });

  it("ATTACK: a forged ONLINE does not resolve a real TIMEOUT alert; the device's signed data does", async () => {
    const got = await pipeline();
    await sendData();
    await waitFor(() => alerts(got.ev, 'open').length === 1, 5000, 'TIMEOUT alert for the silent pump-7');
    assert.equal(alerts(got.ev, 'open')[0].device_id, 'pump-7');
    for (let i = 0; i < 3; i++)
      await attacker.publishAsync('device/status/pump-7', 'ONLINE', { qos: 1, retain: false });
    await sleep(500);
    assert.equal(alerts(got.ev, 'resolve').length, 0, 'still open');
    assert.deepEqual(states(got.out), ['pump-7:ONLINE:data', 'pump-7:TIMEOUT:timeout']);
    assert.match(
      await metricsText(),
      /moby_events_total\{node_type="moby-device-health",event="online_status_ignored"\} [1-9]/
    );
    await sendData();
    await waitFor(() => alerts(got.ev, 'resolve').length === 1, 3000, 'resolved by signed data');
  });

  it('ATTACK: a flood of forged wills (2,000 ids) cannot fill the alert cap: the real silent device still gets its alert', async () => {
    const got = await pipeline({ maxOpen: 100 });
    await sendData();
    await waitFor(() => states(got.out).includes('pump-7:ONLINE:data'), 3000, 'pump-7 online');
    for (let i = 0; i < 2000; i++) attacker.publish(`device/lwt/junk-${i}`, 'OFFLINE', { qos: 0 });
    await waitFor(() => got.bad.length === 2000, 20000, 'flood refused');
    assert.ok(got.bad.every((m) => m.moby!.reject!.code === 'untrusted_status'));
    await waitFor(() => alerts(got.ev, 'open').length === 1, 5000, 'TIMEOUT alert for pump-7');
    assert.equal(alerts(got.ev, 'open')[0].device_id, 'pump-7');
    assert.deepEqual(
      (await snapshot(got.out)).map((r) => r.device_id),
      ['pump-7'],
      'the junk left no state (and so cannot survive a restart)'
    );
  });

  it("a proven device's own will is applied (OFFLINE alert), and flapping wills are rate-limited per device", async () => {
    const got = await pipeline();
    await sendData();
    await waitFor(() => states(got.out).includes('pump-7:ONLINE:data'), 3000, 'pump-7 online');
    for (let i = 0; i < 16; i++)
      await attacker.publishAsync('device/lwt/pump-7', i % 2 ? 'ONLINE' : 'OFFLINE', { qos: 1 });
    await waitFor(() => got.bad.length === 2, 3000, 'rate limit');
    // the will applies once it has waited its grace (3 s, the default)
    await waitFor(() => states(got.out).includes('pump-7:OFFLINE:lwt'), 8000, 'the will applied');
    await sleep(200);
    // 6 per minute, burst 6: of 8 OFFLINEs 6 pass and 2 are refused; the 8 ONLINEs are ignored without a token
    assert.deepEqual(
      got.bad.map((m) => [m.moby!.reject!.code, m.moby!.reject!.device_id]),
      [
        ['status_rate_limited', 'pump-7'],
        ['status_rate_limited', 'pump-7'],
      ]
    );
    assert.equal(alerts(got.ev, 'open').length, 1);
  });
});

describe('flows/mosquitto example: the broker makes wills trustworthy (Mosquitto)', function () {
  this.timeout(60000);
  let dir: string;
  let proc: import('node:child_process').ChildProcess | null = null;
  let port: number;
  const clients: mqtt.MqttClient[] = [];

  before(async function () {
    const { execFileSync, spawn } = require('node:child_process') as typeof import('node:child_process');
    const { requireBinary, freePort, canConnect } = require('../../support/net') as typeof import('../../support/net');
    const bin = requireBinary(this, 'mosquitto');
    const passwd = requireBinary(this, 'mosquitto_passwd');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mosquitto-auth-'));
    const example = path.join(__dirname, '../../../flows/mosquitto');
    for (const user of ['moby-pipeline', 'pump-7', 'pump-8'])
      execFileSync(passwd, [
        '-b',
        ...(user === 'moby-pipeline' ? ['-c'] : []),
        path.join(dir, 'passwords'),
        user,
        `pw-${user}`,
      ]);
    fs.copyFileSync(path.join(example, 'moby.acl'), path.join(dir, 'moby.acl'));
    // the shipped auth.conf as is, pointed at this test's files, included the way its comment says
    fs.mkdirSync(path.join(dir, 'moby'));
    fs.writeFileSync(
      path.join(dir, 'moby', 'auth.conf'),
      fs.readFileSync(path.join(example, 'auth.conf'), 'utf8').replace(/\/etc\/mosquitto\/moby\//g, `${dir}/`)
    );
    // Mosquitto started as root drops to its own user: let it read this test's files
    for (const f of ['', 'moby', 'moby/auth.conf', 'passwords', 'moby.acl'])
      fs.chmodSync(path.join(dir, f), f === '' || f === 'moby' ? 0o755 : 0o644);
    port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        'use_username_as_clientid true',
        'persistence false',
        process.env.MOBY_TEST_DEBUG ? 'log_dest stdout' : 'log_dest none',
        `include_dir ${dir}/moby`,
        '',
      ].join('\n')
    );
    proc = spawn(bin, ['-c', path.join(dir, 'mosquitto.conf')], {
      stdio: process.env.MOBY_TEST_DEBUG ? 'inherit' : 'ignore',
    });
    await waitFor(() => canConnect(port), 10000, 'mosquitto');
    helper.settings({});
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await helper.unload();
    if (proc && proc.exitCode === null)
      await new Promise<void>((resolve) => proc!.once('exit', () => resolve()).kill('SIGTERM'));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const connect = (o: mqtt.IClientOptions) =>
    new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...o });
      clients.push(c);
      c.once('connect', () => resolve(c)).once('error', reject);
    });

  it("refuses anonymous clients, drops another device's forged will, and delivers the real one (health node in broker-trust mode)", async () => {
    await assert.rejects(connect({}), /Not authorized/);
    const flow = [
      coreMqttBroker(port, { clientid: 'moby-pipeline' }),
      coreMqttIn('in-lwt', 'device/lwt/+', [['h']]),
      {
        id: 'h',
        type: 'moby-device-health',
        timeout: 60,
        sweepInterval: 0.1,
        persist: false,
        statusTrust: 'broker',
        wires: [['h-out'], ['h-bad']],
      },
      { id: 'h-out', type: 'helper' },
      { id: 'h-bad', type: 'helper' },
    ];
    await new Promise<void>((resolve) =>
      helper.load([mqttNode, healthNode], flow, { b: { user: 'moby-pipeline', password: 'pw-moby-pipeline' } }, resolve)
    );
    const out: Msg[] = [];
    helper.getNode('h-out').on('input', (m: Msg) => out.push(m));
    await waitFor(() => helper.getNode('b').connected, 5000, 'node-red connected as moby-pipeline');
    await sleep(200);
    // pump-8 has valid credentials of its own, yet cannot speak for pump-7: neither by publishing nor by a will
    const pump8 = await connect({
      username: 'pump-8',
      password: 'pw-pump-8',
      will: { topic: 'device/lwt/pump-7', payload: Buffer.from('OFFLINE'), qos: 1, retain: false },
    });
    await pump8.publishAsync('device/lwt/pump-7', 'OFFLINE', { qos: 1 });
    (pump8 as any).stream.destroy();
    await sleep(700);
    assert.equal(out.length, 0, 'nothing reached Node-RED');
    const pump7 = await connect({
      username: 'pump-7',
      password: 'pw-pump-7',
      keepalive: 10,
      will: { topic: 'device/lwt/pump-7', payload: Buffer.from('OFFLINE'), qos: 1, retain: false },
    });
    await sleep(100);
    (pump7 as any).stream.destroy();
    // applied once it has waited the will grace (3 s, the default) with the broker still heard
    await waitFor(() => out.length === 1, 8000, "pump-7's own will");
    assert.deepEqual(
      [out[0].payload.device_id, out[0].payload.state, out[0].payload.reason],
      ['pump-7', 'OFFLINE', 'lwt']
    );
  });
});
