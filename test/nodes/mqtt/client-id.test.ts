// Two moby-mqtt-broker config nodes with the same client id on one broker (e.g. flows/pipeline.json and
// flows/tenants.json imported into one Node-RED) would take each other's session over in a loop; the second is
// refused with the first named, the first stays connected, and a closed node gives its id back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePort, sleep, waitFor } from '../../support/net';
import { mqttNodes } from '../../support/mqtt-red';

const helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

describe('moby-mqtt-broker: one client id per broker (aedes, Node-RED runtime)', function () {
  this.timeout(20000);
  let aedes: any;
  let server: net.Server;
  let url: string;
  let userDir: string;
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();

  beforeEach(async () => {
    connects.length = 0;
    const { Aedes } = require('aedes');
    aedes = await Aedes.createBroker();
    aedes.on('client', (c: { id: string }) => connects.push(c.id));
    const port = await freePort();
    server = net.createServer(aedes.handle);
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    url = `mqtt://127.0.0.1:${port}`;
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mqtt-id-'));
    helper.settings({ userDir });
  });
  after(() => helper.settings({}));
  afterEach(async () => {
    await helper.unload();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => aedes.close(() => r())));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  const broker = (id: string, clientId: string) => ({
    id,
    type: 'moby-mqtt-broker',
    name: 'MOBY broker',
    urls: url,
    clientId,
    keepalive: 10,
  });
  const input = (id: string, b: string, topic: string) => ({
    id,
    type: 'moby-mqtt-in',
    broker: b,
    topic,
    qos: '1',
    datatype: 'utf8',
    wires: [[]],
  });

  it('refuses the second config node with the same id on the same broker: one session, no takeover loop', async () => {
    await helper.load(mqttNodes, [
      broker('b1', 'moby-pipeline'),
      broker('b2', 'moby-pipeline'),
      input('in1', 'b1', 'a/#'),
      input('in2', 'b2', 'b/#'),
    ]);
    await waitFor(() => connects.length >= 1, 5000, 'the first config node connects');
    await sleep(4500); // two reconnect periods: a takeover loop would have connected again by now
    assert.deepEqual(connects, ['moby-pipeline'], 'exactly one connection with that id');
    const b2 = helper.getNode('b2');
    assert.match(b2.describe().lastError, /client id "moby-pipeline" is already used by moby-mqtt-broker b1/);
    assert.equal(helper.getNode('b1').describe().connected, true);
    assert.equal(b2.describe().connected, false);
  });

  it('another id, or the id given back by a closed node, connects', async () => {
    await helper.load(mqttNodes, [
      broker('b1', 'moby-pipeline'),
      broker('b2', 'moby-tenants'),
      input('in1', 'b1', 'a/#'),
      input('in2', 'b2', 'b/#'),
    ]);
    await waitFor(() => connects.length >= 2, 5000, 'both connect');
    assert.deepEqual([...connects].sort(), ['moby-pipeline', 'moby-tenants']);
    await helper.unload();
    await helper.load(mqttNodes, [broker('b3', 'moby-pipeline'), input('in3', 'b3', 'a/#')]);
    await waitFor(() => connects.length >= 3, 5000, 'the id released on close is usable again');
    assert.equal(helper.getNode('b3').describe().lastError, undefined);
  });
});
