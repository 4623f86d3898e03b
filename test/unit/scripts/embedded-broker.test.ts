// npm start's embedded broker (scripts/lib/embedded-broker.js: real aedes on loopback, as scripts/start.js
// starts it; needs `npm run build`): a packet announcing more than the cap closes its connection as soon as
// its header is read — before aedes buffers the body, which it used to do for 20 MB and then deliver — logged
// once per client and counted; refused logins are logged a few per window and then summarised with a count,
// instead of a line each. The pipeline's own traffic is unchanged.
import assert from 'node:assert/strict';
import net from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { freePort, sleep, waitFor } from '../../support/net';

interface Started {
  url: string;
  port: number;
  maxPacket: number;
  refusals: { totals: Record<string, number> };
  close(): Promise<void>;
}
const { startEmbeddedBroker } = require('../../../scripts/lib/embedded-broker.js') as {
  startEmbeddedBroker(o: {
    login: { clientId: string; username: string; password: string };
    port: number;
    maxPacketBytes?: number;
    log: (line: string) => void;
    summaryIntervalMs?: number;
  }): Promise<Started>;
};

const login = { clientId: 'moby-pipeline', username: 'moby-pipeline', password: 'pipeline-secret-123456' };
const TOPIC = 'devices/fan-001/telemetry';

function connected(url: string, opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('embedded broker (scripts/lib/embedded-broker.js, real aedes)', function () {
  this.timeout(60000);
  let broker: Started;
  let lines: string[];
  let pipeline: mqtt.MqttClient;
  let received: Buffer[];
  const clients: mqtt.MqttClient[] = [];

  beforeEach(async () => {
    lines = [];
    received = [];
    broker = await startEmbeddedBroker({
      login,
      port: await freePort(),
      log: (l) => lines.push(l),
      summaryIntervalMs: 500,
    });
    pipeline = await connected(broker.url, {
      clientId: login.clientId,
      username: login.username,
      password: login.password,
      clean: false,
    });
    await pipeline.subscribeAsync('devices/+/telemetry', { qos: 1 });
    pipeline.on('message', (_t, payload) => received.push(payload));
  });
  afterEach(async () => {
    for (const c of [pipeline, ...clients.splice(0)]) c.end(true);
    await broker.close();
  });

  it('closes a connection whose PUBLISH announces more than the cap as soon as its header arrives, before the body', async () => {
    assert.equal(broker.maxPacket, 2 * 65536 + 1024 + 16384, 'the default cap');
    const sock = net.connect(broker.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.resume(); // read what comes (the CONNACK, the close)
    sock.on('error', () => undefined);
    sock.write(mqttPacket.generate({ cmd: 'connect', clientId: 'fan-big', protocolId: 'MQTT', protocolVersion: 4 }));
    await waitFor(() => sock.bytesRead > 0, 5000, 'CONNACK');
    // a 20 MB PUBLISH: its header and the first 64 KiB of body only; the rest is never sent. Before, aedes
    // waited (buffering) for the other 20 MB; now the connection is closed on the header
    const big = mqttPacket.generate({
      cmd: 'publish',
      topic: TOPIC,
      payload: Buffer.alloc(20 * 1024 * 1024),
      qos: 0,
      dup: false,
      retain: false,
    });
    sock.write(big.subarray(0, 65536));
    await waitFor(() => closed, 5000, 'the broker to close the connection');
    await waitFor(() => lines.some((l) => /packet of/.test(l)), 2000, 'the log line');
    assert.deepEqual(
      lines.filter((l) => /packet of/.test(l)),
      [
        `embedded broker: closed the connection of client "fan-big": a packet of ${20 * 1024 * 1024 + 2 + TOPIC.length} bytes, over the cap of ${broker.maxPacket} (MOBY_BROKER_MAX_PACKET); logged once per client`,
      ]
    );
    assert.equal(broker.refusals.totals.packet_too_large, 1);
  });

  it('a real 20 MB publish never reaches the pipeline, one at the cap does; three tries are one line and a count of 3', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x61);
    for (let k = 0; k < 3; k++) {
      const device = await connected(broker.url, { clientId: 'fan-big' });
      clients.push(device);
      const closed = new Promise<void>((r) => device.once('close', () => r()));
      device.publish(TOPIC, big, { qos: 1 });
      await closed;
    }
    // the largest packet the cap allows: remaining length = 2 + topic + 2 (packet id) + payload
    const atCap = Buffer.alloc(broker.maxPacket - 2 - TOPIC.length - 2, 0x62);
    const device = await connected(broker.url, { clientId: 'fan-ok' });
    clients.push(device);
    await device.publishAsync(TOPIC, atCap, { qos: 1 });
    await waitFor(() => received.length === 1, 10000, 'the message at the cap');
    await sleep(300);
    assert.deepEqual(
      received.map((p) => p.length),
      [atCap.length],
      'the pipeline got the one at the cap and none of the 20 MB ones'
    );
    assert.equal(lines.filter((l) => /packet of/.test(l)).length, 1, lines.join('\n'));
    assert.equal(broker.refusals.totals.packet_too_large, 3);
    await waitFor(() => lines.some((l) => /refused 2 more/.test(l)), 3000, 'the summary');
    assert.match(
      lines.find((l) => /refused 2 more/.test(l))!,
      /packet too large 2\); since start: .*packet too large 3$/
    );
    assert.ok(pipeline.connected, 'the pipeline stayed connected');
  });

  it('a client hammering wrong passwords gets a few lines and then one summary line per window with the count', async () => {
    const attempts = 40;
    for (let i = 0; i < attempts; i++) {
      const c = mqtt.connect(broker.url, {
        clientId: `guess-${i}`,
        username: login.username,
        password: `wrong-${i}`,
        reconnectPeriod: 0,
      });
      const outcome = await new Promise<string>((resolve) => {
        c.once('connect', () => resolve('connected'));
        c.once('error', (e) => resolve(e.message));
      });
      c.end(true);
      assert.notEqual(outcome, 'connected');
    }
    // the pipeline's client id without its login, too
    const thief = mqtt.connect(broker.url, { clientId: 'moby-pipeline', reconnectPeriod: 0 });
    await new Promise((r) => thief.once('error', r));
    thief.end(true);
    await waitFor(() => lines.some((l) => /since start/.test(l)), 3000, 'the summary');
    await sleep(600); // another window: nothing more to say
    const one = lines.filter((l) => /refused a connection/.test(l));
    assert.ok(one.length >= 1 && one.length <= 5 * 2, `${one.length} lines one by one:\n${lines.join('\n')}`);
    const summaries = lines.filter((l) => /since start/.test(l));
    const counted = summaries.reduce((n, l) => n + Number(/refused (\d+) more/.exec(l)![1]), 0);
    assert.equal(one.length + counted, attempts + 1, 'every refusal is either a line or counted in a summary');
    assert.match(
      summaries.at(-1)!,
      /since start: wrong pipeline password 40, pipeline's client id without its login 1, packet too large 0$/
    );
    // the pipeline still works
    const device = await connected(broker.url, { clientId: 'fan-001' });
    clients.push(device);
    await device.publishAsync(TOPIC, '{"ok":1}', { qos: 1 });
    await waitFor(() => received.length === 1, 5000, 'telemetry');
  });
});
