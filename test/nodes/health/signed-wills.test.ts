// Signed, session-bound wills and births (docs/device-health.md, "Signed wills and births") through the real
// Node-RED runtime and a real MQTT broker (aedes): mqtt in → moby-hmac-verify → moby-device-health (statusTrust
// "signed", the shipped flows' setting) ← mqtt in device/lwt/+, device/status/+ → moby-alert. The attacker is
// a broker client without keys. On the code before signed wills, "signed" was not a mode (read as "proven"):
// the forged OFFLINE for the proven device was applied, and a signed will was not a status at all.
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { parseKey, signConnection, signEnvelope, type SignedConnection } from '../../../nodes/core/hmac/scheme';
import { startAedes, type Broker } from '../../support/aedes';
import { sleep, waitFor } from '../../support/net';
import { brokerHealthFlow } from '../../support/health-flow';
import { useFileContextStore } from '../../support/context-store';
import { type NodeMsg as Msg } from '../../support/node-msg';
import { Simulator, DEFAULT_SIM } from '../../../bin/lib/simulator';

const helper = require('node-red-node-test-helper');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const channelsModule = require('../../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../../dist/nodes/alert/moby-alert.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const SECRETS: Record<string, string> = {
  'pump-1': 'pump-1-device-secret-key',
  'pump-2': 'pump-2-device-secret-key',
  'pump-3': 'pump-3-device-secret-key',
};
const KEYS = Object.fromEntries(Object.entries(SECRETS).map(([id, s]) => [id, { k1: s }]));
const keyOf = (id: string) => parseKey(SECRETS[id]);

const metric = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

describe('device health: signed, session-bound wills and births (Node-RED runtime, aedes)', function () {
  this.timeout(60000);
  let broker: Broker;
  const clients: mqtt.MqttClient[] = [];
  /** device ids (besides SECRETS') whose retained births and wills a test left on the broker */
  const retained: string[] = [];

  before(async () => {
    broker = await startAedes();
  });
  after(async () => {
    await broker.close();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await helper.unload();
    // each test starts without the retained births and wills of the one before (ending a client without
    // DISCONNECT publishes its will): a zero-length retained message deletes them
    await sleep(200);
    const cleaner = mqtt.connect(broker.url, { clientId: 'cleaner' });
    await new Promise<void>((resolve) => cleaner.once('connect', () => resolve()));
    for (const id of [...Object.keys(SECRETS), ...retained.splice(0)])
      for (const topic of [`device/lwt/${id}`, `device/status/${id}`])
        await cleaner.publishAsync(topic, '', { qos: 1, retain: true });
    await cleaner.endAsync();
  });
  const store = useFileContextStore(helper, 'moby-signwill-ctx-', 0.05);

  function flow(health: Record<string, unknown> = {}) {
    return brokerHealthFlow(broker.port, {
      verify: { topicPattern: 'devices/+device_id/telemetry' },
      health: { timeout: 30, statusTrust: 'signed', keyring: 'kr', ...health },
    });
  }

  const got = { out: [] as Msg[], bad: [] as Msg[], ev: [] as Msg[] };
  function listen(): void {
    helper.getNode('h-out').on('input', (m: Msg) => got.out.push(m));
    helper.getNode('h-bad').on('input', (m: Msg) => got.bad.push(m));
    helper.getNode('ev').on('input', (m: Msg) => got.ev.push(m));
  }
  async function connected(): Promise<void> {
    await waitFor(() => helper.getNode('b')?.connected, 5000, 'node-red connected to the broker');
    await sleep(200); // subscriptions in place
  }
  async function load(health: Record<string, unknown> = {}, creds: Record<string, string> = {}): Promise<void> {
    got.out = [];
    got.bad = [];
    got.ev = [];
    await new Promise<void>((resolve) =>
      helper.load(
        [mqttNode, hmacNode, healthNode, channelsModule, alertModule],
        flow(health),
        { kr: { keys: JSON.stringify(KEYS), ...creds } },
        resolve
      )
    );
    listen();
    await connected();
  }

  async function client(id: string, will?: SignedConnection): Promise<mqtt.MqttClient> {
    const c = mqtt.connect(broker.url, {
      clientId: id,
      keepalive: 30,
      reconnectPeriod: 0,
      ...(will
        ? {
            will: {
              topic: `device/lwt/${id}`,
              payload: Buffer.from(JSON.stringify(will.will)),
              qos: 1 as const,
              retain: true,
            },
          }
        : {}),
    });
    clients.push(c);
    await new Promise<void>((resolve, reject) => c.once('connect', () => resolve()).once('error', reject));
    return c;
  }

  /** A device's connection: a new session, its will set at CONNECT, its signed birth published retained. */
  async function connectDevice(id: string): Promise<{ c: mqtt.MqttClient; conn: SignedConnection }> {
    const conn = signConnection({ deviceId: id, key: keyOf(id), kid: 'k1' });
    const c = await client(id, conn);
    await c.publishAsync(`device/status/${id}`, JSON.stringify(conn.birth), { qos: 1, retain: true });
    return { c, conn };
  }
  const sendData = (c: mqtt.MqttClient, id: string) =>
    c.publishAsync(
      `devices/${id}/telemetry`,
      JSON.stringify(signEnvelope({ deviceId: id, key: keyOf(id), kid: 'k1', body: '{"temperature":71.2}' })),
      { qos: 1 }
    );
  /** power loss: no DISCONNECT packet, so the broker publishes the will */
  const cut = (c: mqtt.MqttClient) => {
    (c as unknown as { stream: { destroy(): void } }).stream.destroy();
    c.end(true);
  };
  const states = () =>
    got.out
      .filter((m) => m.topic === 'device-health')
      .map((m) => `${m.payload.device_id}:${m.payload.state}:${m.payload.reason}`);
  const opened = () => got.ev.filter((m) => m.payload.event === 'open').map((m) => m.payload.alert);
  const codes = () => got.bad.map((m) => `${m.moby!.reject!.code}:${m.moby!.reject!.device_id}`);

  it('ATTACK: a broker client without keys cannot take a proven device OFFLINE (plain, JSON or forged-signature will)', async () => {
    const before = await metricsText();
    await load();
    const dev = await connectDevice('pump-1');
    await sendData(dev.c, 'pump-1');
    // ONLINE by its signed birth (or by its data, whichever is first): pump-1 is a proven device
    await waitFor(() => states().some((x) => x.startsWith('pump-1:ONLINE')), 3000, 'pump-1 online');
    const attacker = await client('anyone');
    await attacker.publishAsync('device/lwt/pump-1', 'OFFLINE', { qos: 1 });
    await attacker.publishAsync('device/status/pump-1', '{"device_id":"pump-1","status":"OFFLINE"}', { qos: 1 });
    // a will in the signed format, with the device's current session (a retained birth tells anyone) but no key
    const forged = signConnection({ deviceId: 'pump-1', key: parseKey('the-attacker-has-no-key-1'), kid: 'k1' });
    const sessionForged = { ...forged.will, body: JSON.stringify({ status: 'OFFLINE', session: dev.conn.session }) };
    await attacker.publishAsync('device/lwt/pump-1', JSON.stringify(sessionForged), { qos: 1 });
    await waitFor(() => got.bad.length === 3, 3000, 'three refused');
    assert.deepEqual(codes(), ['unsigned_status:pump-1', 'unsigned_status:pump-1', 'bad_signature:pump-1']);
    await sleep(300);
    assert.deepEqual(
      states().map((x) => x.split(':')[1]),
      ['ONLINE'],
      'no OFFLINE'
    );
    assert.equal(opened().length, 0, 'no OFFLINE alert');
    const after = await metricsText();
    const diff = (s: string) => metric(after, s) - metric(before, s);
    assert.equal(diff('moby_rejects_total{node_type="moby-device-health",code="unsigned_status"}'), 2);
    assert.equal(diff('moby_rejects_total{node_type="moby-device-health",code="bad_signature"}'), 1);
  });

  it('the real will after an unclean disconnect gives one OFFLINE; a replayed will (and birth) of that older session changes nothing', async () => {
    await load();
    const first = await connectDevice('pump-2');
    await sendData(first.c, 'pump-2');
    await waitFor(() => states().includes('pump-2:ONLINE:status'), 3000, 'pump-2 online');
    cut(first.c);
    await waitFor(() => states().includes('pump-2:OFFLINE:lwt'), 5000, 'the real will: OFFLINE');
    await waitFor(() => opened().length === 1, 3000, 'one OFFLINE alert');
    assert.equal(opened()[0].device_id, 'pump-2');
    // the device comes back (a later second than its first connect: sessions are ordered by connect time), a
    // new session, and its data resolves the OFFLINE
    await sleep(1100);
    const second = await connectDevice('pump-2');
    await sendData(second.c, 'pump-2');
    await waitFor(() => states().filter((s) => s === 'pump-2:ONLINE:data').length === 1, 3000, 'back online');
    // the attacker recorded the first session's will and birth and plays them back
    const attacker = await client('anyone');
    await attacker.publishAsync('device/lwt/pump-2', JSON.stringify(first.conn.will), { qos: 1 });
    await attacker.publishAsync('device/status/pump-2', JSON.stringify(first.conn.birth), { qos: 1 });
    await attacker.publishAsync('device/lwt/pump-2', JSON.stringify(first.conn.will), { qos: 1 });
    await waitFor(() => got.bad.length === 3, 3000, 'replays refused');
    assert.deepEqual(codes(), ['stale_session:pump-2', 'stale_session:pump-2', 'stale_session:pump-2']);
    await sleep(300);
    assert.deepEqual(states(), ['pump-2:ONLINE:status', 'pump-2:OFFLINE:lwt', 'pump-2:ONLINE:data']);
    assert.equal(opened().length, 1, 'still exactly one OFFLINE alert');
    assert.match(
      await metricsText(),
      /moby_rejects_total\{node_type="moby-device-health",code="stale_session"\} [3-9]/
    );
  });

  it('after a Node-RED restart, the retained will of the current session (the device died while it was down) still counts, once', async () => {
    await load({ persist: true, persistInterval: 1 });
    await store.startFlowsOnStore();
    listen();
    await connected();
    const dev = await connectDevice('pump-3');
    await sendData(dev.c, 'pump-3');
    await waitFor(() => states().includes('pump-3:ONLINE:status'), 3000, 'pump-3 online');
    const red = helper._redNodes;
    await red.stopFlows(); // persists the table and the sessions
    await red.closeContextsPlugin();
    cut(dev.c); // dies while nobody listens: the broker keeps its will retained
    await sleep(300);
    await red.loadContextsPlugin();
    got.out = [];
    got.bad = [];
    got.ev = [];
    await red.startFlows();
    listen();
    await connected();
    // retained on the broker: the birth (known session: no change) and the will of that session
    await waitFor(() => states().includes('pump-3:OFFLINE:lwt'), 5000, 'OFFLINE from the retained will');
    await waitFor(() => opened().length === 1, 3000, 'one OFFLINE alert');
    await sleep(300);
    assert.deepEqual(states(), ['pump-3:OFFLINE:lwt']);
    assert.deepEqual(codes(), [], 'nothing refused');
    // and once more after another restart: the session is spent, the retained will changes nothing
    await red.stopFlows();
    await red.closeContextsPlugin();
    await red.loadContextsPlugin();
    got.out = [];
    got.bad = [];
    await red.startFlows();
    listen();
    await connected();
    await waitFor(() => got.bad.length === 1, 3000, 'the spent will refused');
    assert.deepEqual(codes(), ['stale_session:pump-3']);
    assert.deepEqual(states(), []);
  });
  it("the simulator's signed births and wills: its disconnect fault (pump-005 in the demo) gives exactly one OFFLINE alert, nothing refused", async () => {
    const master = 'hex:' + '5a'.repeat(32);
    await load({}, { master });
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 6,
      intervalMs: 100,
      master,
      faults: 'demo',
      log: () => {},
    });
    // the demo plan cuts device 5 (index 4) at 12 s; the same fault, sooner
    const victim = sim.deviceIds[4];
    const fast = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 6,
      intervalMs: 100,
      master,
      faults: `${victim}:disconnect@1.5`,
      log: () => {},
    });
    assert.deepEqual(
      sim
        .faultPlan()
        .filter((f) => f.kind === 'disconnect')
        .map((f) => f.device),
      [victim],
      'the demo disconnects this device'
    );
    retained.push(...fast.deviceIds);
    await fast.start();
    try {
      await waitFor(() => states().includes(`${victim}:OFFLINE:lwt`), 10000, `${victim} OFFLINE by its signed will`);
      await sleep(1000);
      const offline = opened().filter((a) => a.rule === 'device_offline');
      assert.deepEqual(
        offline.map((a) => a.device_id),
        [victim],
        'exactly one OFFLINE alert'
      );
      // the will counted only because the device's signed birth had made its session current
      assert.deepEqual(codes(), [], 'every birth and will verified');
    } finally {
      await fast.stop();
    }
    // the clean stop: each device's signed OFFLINE of its own session; the cut device's session is spent
    await waitFor(() => states().filter((x) => x.endsWith(':OFFLINE:status')).length === 5, 5000, 'clean stops');
    assert.deepEqual(codes(), []);
  });
});
