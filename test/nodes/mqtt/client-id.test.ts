// Two moby-mqtt-broker config nodes with the same client id on one broker (e.g. flows/pipeline.json and
// flows/tenants.json imported into one Node-RED) would take each other's session over in a loop; the second is
// refused with the first named, the first stays connected, and a closed node gives its id back.
import assert from 'node:assert/strict';
import { sleep, waitFor } from '../../support/net';
import { mobyBroker, mobyIn, mqttNodes, useAedesRuntime } from '../../support/mqtt-red';

const helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

describe('moby-mqtt-broker: one client id per broker (aedes, Node-RED runtime)', function () {
  this.timeout(20000);
  const env = useAedesRuntime(helper, 'moby-mqtt-id-');
  /** the client id of every connection the broker accepted */
  const connects = () => env.broker.clients;

  const broker = (id: string, clientId: string) =>
    mobyBroker(env.broker.url, { id, name: 'MOBY broker', clientId, keepalive: 10 });
  const input = (id: string, b: string, topic: string) => mobyIn(id, topic, [[]], { broker: b });

  it('refuses the second config node with the same id on the same broker: one session, no takeover loop', async () => {
    await helper.load(mqttNodes, [
      broker('b1', 'moby-pipeline'),
      broker('b2', 'moby-pipeline'),
      input('in1', 'b1', 'a/#'),
      input('in2', 'b2', 'b/#'),
    ]);
    await waitFor(() => connects().length >= 1, 5000, 'the first config node connects');
    await sleep(4500); // two reconnect periods: a takeover loop would have connected again by now
    assert.deepEqual(connects(), ['moby-pipeline'], 'exactly one connection with that id');
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
    await waitFor(() => connects().length >= 2, 5000, 'both connect');
    assert.deepEqual([...connects()].sort(), ['moby-pipeline', 'moby-tenants']);
    await helper.unload();
    await helper.load(mqttNodes, [broker('b3', 'moby-pipeline'), input('in3', 'b3', 'a/#')]);
    await waitFor(() => connects().length >= 3, 5000, 'the id released on close is usable again');
    assert.equal(helper.getNode('b3').describe().lastError, undefined);
  });
});
