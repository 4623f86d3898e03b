// Who may do what on the NATS cluster the cluster scripts start (scripts/nats-cluster.js, docs/scale-out.md,
// "Securing the cluster"), against real nats-server processes. Red-team round 2026-12-07: any client without a
// login read every device's telemetry through `#`, listed (and could have purged) the JetStream streams holding
// the queued messages, and replayed captured envelopes straight onto another partition's subject, where that
// instance's replay cache had not seen them (18 false "device offline" alerts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { requireBinary, sleep, waitFor } from '../support/net';

type Login = { username: string; password: string };
const { startNatsCluster } = require('../../scripts/nats-cluster.js') as {
  startNatsCluster(o: { bin: string; size: number; partitions: number; dir: string }): Promise<{
    mqttUrls: string[];
    servers: Array<{ client: number; cluster: number; http: number }>;
    logins: { pipeline: Login; route: Login };
    close(): Promise<void>;
  }>;
};

/** What a raw NATS client (the core protocol, not MQTT) gets back after sending `lines`, within `ms`. */
function natsExchange(port: number, lines: string[], ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.once('connect', () => s.write(lines.map((l) => `${l}\r\n`).join('')));
    s.on('error', () => {});
    setTimeout(() => {
      s.destroy();
      resolve(text);
    }, ms);
  });
}

describe('the cluster scripts’ NATS: logins and permissions', function () {
  this.timeout(120_000);
  let dir: string;
  let nats: Awaited<ReturnType<typeof startNatsCluster>>;
  const clients: MqttClient[] = [];
  const connect = async (url: string, o: mqtt.IClientOptions): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...o });
    clients.push(c);
    return c;
  };

  before(async function () {
    const bin = requireBinary(this, 'nats-server');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-nats-sec-'));
    nats = await startNatsCluster({ bin, size: 3, partitions: 2, dir });
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    await nats?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the pipeline (its login) gets each device’s telemetry, status and will on the device’s partition; a client without a login subscribes to nothing', async () => {
    const url = nats.mqttUrls[0];
    const pipeline = await connect(url, {
      clientId: 'moby-sec-pipeline',
      clean: false,
      username: nats.logins.pipeline.username,
      password: nats.logins.pipeline.password,
    });
    const got: string[] = [];
    pipeline.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    const granted = await pipeline.subscribeAsync(
      ['p/+/devices/+/telemetry', 'p/+/device/lwt/+', 'p/+/device/status/+'],
      {
        qos: 1,
      }
    );
    assert.deepEqual(
      granted.map((g) => g.qos),
      [1, 1, 1]
    );

    const spy = await connect(nats.mqttUrls[1], { clientId: 'moby-sec-spy' });
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    for (const filter of ['#', 'p/0/devices/+/telemetry', '$SYS/#', 'devices/+/telemetry']) {
      const g = await spy.subscribeAsync(filter, { qos: 1 }).catch((err: Error) => err);
      assert.ok(g instanceof Error || g[0]?.qos === 128, `${filter}: refused`);
    }

    const device = await connect(nats.mqttUrls[2], {
      clientId: 'moby-sec-device',
      will: { topic: 'device/lwt/press-7', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await device.publishAsync('device/status/press-7', 'online', { qos: 1 });
    await device.publishAsync('devices/press-7/telemetry', 'signed-envelope', { qos: 1 });
    device.stream.destroy(); // the connection drops: its will
    await waitFor(() => got.length === 3, 20_000, 'status, telemetry and will at the pipeline');
    const partition = /^p\/(\d)\//.exec(got[0])![1];
    assert.deepEqual(got.sort(), [
      `p/${partition}/device/lwt/press-7 gone`,
      `p/${partition}/device/status/press-7 online`,
      `p/${partition}/devices/press-7/telemetry signed-envelope`,
    ]);
    await sleep(500);
    assert.deepEqual(seen, [], 'the client without a login received nothing');
  });

  it('a publish straight to a partition’s subject (a replay onto another partition) reaches no partition', async () => {
    const pipeline = await connect(nats.mqttUrls[0], {
      clientId: 'moby-sec-pipeline-2',
      clean: true,
      username: nats.logins.pipeline.username,
      password: nats.logins.pipeline.password,
    });
    const got: string[] = [];
    pipeline.on('message', (topic) => got.push(topic));
    await pipeline.subscribeAsync(['p/+/devices/+/telemetry', 'unrouted/#'], { qos: 1 });
    const attacker = await connect(nats.mqttUrls[1], { clientId: 'moby-sec-attacker' });
    // a broker may close the connection on a refused publish instead of acknowledging it: either way, not routed
    await Promise.race([
      attacker.publishAsync('p/1/devices/press-8/telemetry', 'replayed', { qos: 1 }),
      sleep(3000),
    ]).catch(() => {});
    await (
      await connect(nats.mqttUrls[1], { clientId: 'moby-sec-device-2' })
    ).publishAsync('devices/press-9/telemetry', 'x', {
      qos: 1,
    });
    await waitFor(() => got.some((t) => t.endsWith('/press-9/telemetry')), 20_000, 'the mapped publish');
    await sleep(500);
    assert.deepEqual(
      got.filter((t) => t.includes('press-8')),
      [],
      'the direct publish reached nobody'
    );
  });

  it('the JetStream API, other subjects and the cluster routes need a login', async () => {
    const port = nats.servers[0].client;
    const anonymous = await natsExchange(port, [
      'CONNECT {"verbose":false,"pedantic":false,"protocol":1}',
      'SUB _INBOX.moby-sec 1',
      'PUB $JS.API.STREAM.NAMES _INBOX.moby-sec 0',
      '',
      'PING',
    ]);
    assert.match(anonymous, /-ERR 'Permissions Violation for Subscription to "_INBOX\.moby-sec"'/);
    assert.match(anonymous, /-ERR 'Permissions Violation for Publish to "\$JS\.API\.STREAM\.NAMES"'/);
    assert.doesNotMatch(anonymous, /\$MQTT_/, 'no stream names');
    // the pipeline's login may (the same exchange answers with the stream names)
    const p = nats.logins.pipeline;
    const pipeline = await natsExchange(port, [
      `CONNECT {"verbose":false,"pedantic":false,"protocol":1,"user":${JSON.stringify(p.username)},"pass":${JSON.stringify(p.password)}}`,
      'SUB _INBOX.moby-sec 1',
      'PUB $JS.API.STREAM.NAMES _INBOX.moby-sec 0',
      '',
      'PING',
    ]);
    assert.match(pipeline, /\$MQTT_sess/);
    // a server that connects as a route without the routes' login is refused
    const route = await natsExchange(nats.servers[0].cluster, [
      'CONNECT {"verbose":false,"pedantic":false,"name":"intruder","cluster":"moby"}',
      'PING',
    ]);
    assert.match(route, /-ERR 'Authorization Violation'/);
  });
});
