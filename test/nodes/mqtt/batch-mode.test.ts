// Batch mode (docs/batch-mode.md) through the real Node-RED runtime against an embedded aedes broker:
// moby-mqtt-in gathers QoS 1 messages into one `{batch: [...]}` message, and the batch is acknowledged only when
// every item is settled — with the InfluxDB writer, only once every point is in the database; rejects inside a
// batch leave the verify and normalize nodes' reject outputs with their codes and are settled on purpose.
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { sleep, waitFor } from '../../support/net';
import { startInfluxSink, InfluxSink } from '../../support/influx-sink';
import { PUMP, SENSOR } from '../../support/payloads';
import { mobyBroker, mobyIn, mqttNodes, useAedesRuntime } from '../../support/mqtt-red';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const influxNode = require('../../../dist/nodes/influx/moby-influx.js');

helper.init(require.resolve('node-red'));

const CLIENT_ID = 'moby-batch-test';
const PUMP_KEY = 'hex:' + '5a'.repeat(32);
const KEYS = { 'pump-7': { k1: PUMP_KEY } };

interface Item {
  payload: any;
  topic: string;
  _msgid: string;
  moby?: { reject?: { code: string; device_id?: string } };
}
interface BatchMsg {
  _msgid: string;
  batch: Item[];
}

const held: Array<{ msg: BatchMsg | Item; done: (err?: Error) => void }> = [];
const collected = new Map<string, BatchMsg[]>();
function holdNode(RED: any) {
  function Hold(this: any, def: any) {
    RED.nodes.createNode(this, def);
    this.on('input', (msg: BatchMsg, _send: unknown, done: (err?: Error) => void) => held.push({ msg, done }));
  }
  RED.nodes.registerType('test-hold', Hold);
  // keeps what it gets and completes it, as a debug node does (the test helper's node never completes)
  function Collect(this: any, def: any) {
    RED.nodes.createNode(this, def);
    const list: BatchMsg[] = [];
    collected.set(def.id, list);
    this.on('input', (msg: BatchMsg, _send: unknown, done: () => void) => {
      list.push(msg);
      done();
    });
  }
  RED.nodes.registerType('test-collect', Collect);
  // records every item it gets and completes each batch after `delayMs`, as a writer does once the points are
  // stored; while `gated.open` is false it keeps the batches (and their done) until the gate opens
  function Gated(this: any, def: any) {
    RED.nodes.createNode(this, def);
    this.on('input', (msg: BatchMsg, _send: unknown, done: () => void) => {
      for (const i of msg.batch) gated.items.push(String(i.payload));
      const finish = () => setTimeout(done, Number(def.delayMs) || 0);
      if (gated.open) finish();
      else gated.waiting.push(finish);
    });
  }
  RED.nodes.registerType('test-gated', Gated);
}
const gated = {
  open: true,
  items: [] as string[],
  waiting: [] as Array<() => void>,
  openNow() {
    gated.open = true;
    for (const f of gated.waiting.splice(0)) f();
  },
};

const pick = (d: { inFlight: number; buffered: number; paused: boolean }) => ({
  inFlight: d.inFlight,
  buffered: d.buffered,
  paused: d.paused,
});

const signed = (body: unknown) =>
  JSON.stringify(signEnvelope({ deviceId: 'pump-7', key: parseKey(PUMP_KEY), kid: 'k1', body: JSON.stringify(body) }));

describe('batch mode: moby-mqtt-in → MOBY nodes (aedes, Node-RED runtime)', function () {
  this.timeout(20000);
  const env = useAedesRuntime(helper, 'moby-batch-node-', CLIENT_ID);
  let sink: InfluxSink | null = null;

  beforeEach(() => {
    held.length = 0;
    gated.open = true;
    gated.items.length = 0;
    gated.waiting.length = 0;
  });
  afterEach(async () => {
    await sink?.close();
    sink = null;
  });

  const brokerNode = () =>
    mobyBroker(env.broker.url, { clientId: CLIENT_ID, keepalive: 10, window: 100, settleTimeout: 60 });
  const subscribed = () =>
    waitFor(() => (helper.getNode('b').describe() as { connected: boolean }).connected, 5000, 'connected', 20).then(
      () => sleep(150)
    );

  async function publish(topic: string, payloads: string[]) {
    const pub = await mqtt.connectAsync(env.broker.url, { clientId: `pub-${Date.now()}`, clean: true });
    await Promise.all(payloads.map((p) => pub.publishAsync(topic, p, { qos: 1 })));
    await pub.endAsync();
  }

  it('sends up to N messages as one, and acknowledges none of a batch until every item is complete (a failed item keeps them all)', async () => {
    const flow = [
      brokerNode(),
      mobyIn('in', 't/#', [['h']], { batchSize: 3, batchMs: 5000 }),
      { id: 'h', type: 'test-hold' },
    ];
    await helper.load([mqttNodes, holdNode], flow);
    await subscribed();
    await publish('t/x', ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    await waitFor(() => held.length === 2, 5000, 'two batches of three');
    const [first, second] = held.map((h) => h.msg as BatchMsg);
    assert.deepEqual(
      first.batch.map((i) => i.payload),
      ['m0', 'm1', 'm2']
    );
    assert.deepEqual(
      second.batch.map((i) => i.payload),
      ['m3', 'm4', 'm5']
    );
    assert.equal(first.batch[0].topic, 't/x');
    assert.equal((first as unknown as { payload?: unknown }).payload, undefined, 'a batch has no payload of its own');
    await sleep(100);
    assert.equal(env.broker.acks.length, 0, 'nothing acknowledged while the batches are held');
    held[1].done(new Error('cannot store')); // the second batch failed: none of its messages is acknowledged
    held[0].done();
    await waitFor(() => env.broker.acks.length === 3, 3000, 'the first batch acknowledged');
    await sleep(100);
    assert.deepEqual(env.broker.acks.map((a) => a.payload).sort(), ['m0', 'm1', 'm2']);
  });

  it('sends a partial batch after the batch time', async () => {
    const flow = [
      brokerNode(),
      mobyIn('in', 't/#', [['h']], { batchSize: 100, batchMs: 50 }),
      { id: 'h', type: 'test-hold' },
    ];
    await helper.load([mqttNodes, holdNode], flow);
    await subscribed();
    await publish('t/x', ['a', 'b']);
    await waitFor(() => held.length === 1, 3000, 'one partial batch');
    assert.deepEqual(
      (held[0].msg as BatchMsg).batch.map((i) => i.payload),
      ['a', 'b']
    );
    held[0].done();
    await waitFor(() => env.broker.acks.length === 2, 3000, 'both acknowledged');
  });

  // The source holds the broker's packet pump while more than its window is unacknowledged, counting tracked
  // batches and the partial batch still being gathered. With a window of 10 and batches of 6: the first batch
  // (6 tracked) and five gathered items make 11, so the pump pauses — while the tracker itself was never full.
  // The tracked batch settles, the partial batch goes out on its timer and settles, and the pump must resume
  // (it used to resume only when the tracker had been full: the source stalled with 9 messages never read).
  it('resumes the paused pump when a pause caused by gathered items clears, and stores every message once (window + 1 at most)', async () => {
    const flow = [
      { ...brokerNode(), window: 10 },
      mobyIn('in', 't/#', [['g']], { batchSize: 6, batchMs: 300 }),
      { id: 'g', type: 'test-gated', delayMs: 100 },
    ];
    await helper.load([mqttNodes, holdNode], flow);
    await subscribed();
    const b = helper.getNode('b');
    let maxHeld = 0;
    let paused = false;
    const probe = setInterval(() => {
      const d = b.describe() as { inFlight: number; buffered: number; paused: boolean };
      maxHeld = Math.max(maxHeld, d.inFlight + d.buffered);
      paused ||= d.paused;
    }, 2);
    const payloads = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    try {
      await publish('t/x', payloads);
      await waitFor(() => env.broker.acks.length >= 20, 8000, 'all 20 messages acknowledged (the pump resumed)');
    } finally {
      clearInterval(probe);
    }
    await sleep(200);
    assert.ok(paused, 'the pump did pause (the case under test happened)');
    assert.deepEqual(env.broker.acks.map((a) => a.payload).sort(), payloads, 'each message acknowledged exactly once');
    assert.deepEqual([...gated.items].sort(), payloads, 'each message delivered downstream exactly once');
    assert.ok(maxHeld <= 11, `at most window + 1 messages held unacknowledged (saw ${maxHeld})`);
    assert.deepEqual(pick(b.describe()), { inFlight: 0, buffered: 0, paused: false });
  });

  // A reconnect while the pump is paused with a partial batch gathered: the gathered items can no longer be
  // acknowledged (a PUBACK belongs to the connection that received the message), so they are dropped unsent and
  // the broker redelivers them; the old connection's tracked batch still settles (its PUBACKs skipped, the broker
  // redelivers those too). The window must free, the new connection's pump must run, and everything end settled.
  it('after a reconnect mid-batch while paused, frees the window and settles every message on the new connection', async () => {
    gated.open = false;
    const flow = [
      { ...brokerNode(), window: 10 },
      mobyIn('in', 't/#', [['g']], { batchSize: 6, batchMs: 3000 }),
      { id: 'g', type: 'test-gated', delayMs: 20 },
    ];
    await helper.load([mqttNodes, holdNode], flow);
    await subscribed();
    const b = helper.getNode('b');
    const payloads = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    await publish('t/x', payloads);
    await waitFor(
      () => (b.describe() as { paused: boolean }).paused,
      3000,
      'the pump paused with a partial batch gathered',
      5
    );
    assert.deepEqual(pick(b.describe()), { inFlight: 6, buffered: 5, paused: true });
    assert.equal(gated.items.length, 6, 'only the first batch went downstream');

    env.broker.dropClients();
    await waitFor(() => !(b.describe() as { connected: boolean }).connected, 3000, 'disconnected', 5);
    assert.equal(
      (b.describe() as { buffered: number }).buffered,
      0,
      'the gathered items were dropped with their connection'
    );
    await waitFor(() => (b.describe() as { connected: boolean }).connected, 8000, 'reconnected');
    gated.openNow(); // the old connection's batch settles now: its PUBACKs cannot go out any more
    await waitFor(() => env.broker.acks.length >= 20, 10000, 'all 20 messages acknowledged on the new connection');
    await sleep(300);
    assert.deepEqual(env.broker.acks.map((a) => a.payload).sort(), payloads, 'each message acknowledged exactly once');
    // the first batch went downstream twice (the broker redelivered it), the dropped partial batch never went out
    assert.equal(gated.items.length, 26);
    assert.deepEqual([...new Set(gated.items)].sort(), payloads);
    assert.deepEqual(pick(b.describe()), { inFlight: 0, buffered: 0, paused: false });
  });

  it('verify → normalize → influx write: acked only once every point of the batch is in the database; rejects keep their codes', async () => {
    sink = await startInfluxSink();
    const flow = [
      brokerNode(),
      mobyIn('in', 'devices/+/telemetry', [['v']], { batchSize: 5, batchMs: 5000 }),
      { id: 'kr', type: 'moby-keyring', name: 'fleet', keysEnv: '' },
      {
        id: 'v',
        type: 'moby-hmac-verify',
        keyring: 'kr',
        tolerance: 300,
        replayCache: 1000,
        topicPattern: 'devices/+/telemetry',
        topicLevel: 1,
        wires: [['n'], ['authRejects']],
      },
      { id: 'n', type: 'moby-normalize', wires: [['w'], ['dataRejects']] },
      { id: 'db', type: 'moby-influx', url: sink.url, org: 'moby', bucket: 'plant', precision: 'ms' },
      {
        id: 'w',
        type: 'moby-influx-write',
        influx: 'db',
        batchSize: 100,
        flushInterval: 5,
        durableFlushMs: 10,
        retryMaxDelay: 0.2,
        wires: [[]],
      },
      { id: 'authRejects', type: 'test-collect' },
      { id: 'dataRejects', type: 'test-collect' },
    ];
    await helper.load([mqttNodes, hmacNode, normalizeNode, influxNode, holdNode], flow, {
      kr: { keys: JSON.stringify(KEYS) },
    });
    const authRejects = collected.get('authRejects')!;
    const dataRejects = collected.get('dataRejects')!;
    await subscribed();

    const forged = JSON.parse(signed(PUMP));
    forged.body = forged.body.replace('71.2', '21.2'); // tampered in transit, signature left as it was
    const spoofed = signed({ ...SENSOR, device_id: 'sensor_001' }); // pump-7's key, another device's name
    const t0 = Date.now();
    const good = [0, 1, 2].map((i) => signed({ ...PUMP, ts: new Date(t0 - 1000 * i).toISOString() }));
    await publish('devices/pump-7/telemetry', [good[0], JSON.stringify(forged), good[1], spoofed, good[2]]);

    await waitFor(() => authRejects.length === 1 && dataRejects.length === 1, 5000, 'both rejects out');
    assert.deepEqual(
      authRejects[0].batch.map((i) => i.moby!.reject!.code),
      ['bad_signature'],
      'a forged item leaves as a batch on the reject output, with its code'
    );
    assert.equal(authRejects[0].batch[0].moby!.reject!.device_id, 'pump-7');
    assert.deepEqual(
      dataRejects[0].batch.map((i) => i.moby!.reject!.code),
      ['device_mismatch']
    );
    await waitFor(() => env.broker.acks.length === 5, 5000, 'the whole batch acknowledged after the write');
    assert.equal(sink.accepted.length, 3, 'the three genuine points are in the database');
    const stored = sink.requests.find((r) => r.status < 300 && r.lines.length)!;
    for (const a of env.broker.acks) assert.ok(a.at >= stored.at, 'no acknowledgement before the database answered');
    assert.deepEqual(
      env.broker.acks.map((a) => a.payload).sort(),
      [good[0], JSON.stringify(forged), good[1], spoofed, good[2]].sort(),
      'rejects are acknowledged with the batch'
    );
  });
});
