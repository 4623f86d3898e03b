// moby-mqtt-broker in partitioned mode (issue #15) through the real Node-RED runtime against an embedded
// aedes broker: partition 1 of 3 subscribes under p/1/ as <client id>-1, hands its in-nodes the topic without
// the prefix (the flow stays as it is), gets nothing of other partitions or of unprefixed topics, and a half
// or impossible partition setting keeps the node from connecting, with the reason logged and shown.
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { sleep, waitFor } from '../../support/net';
import { mobyBroker, mobyIn, mqttNodes, useAedesRuntime } from '../../support/mqtt-red';

const helper = require('node-red-node-test-helper');

helper.init(require.resolve('node-red'));

describe('moby-mqtt-broker: partitioned source (MOBY_PARTITION / MOBY_PARTITIONS)', function () {
  this.timeout(20000);
  const env = useAedesRuntime(helper, 'moby-mqtt-part-');

  const flow = (partition: string, partitions: string) => [
    mobyBroker(env.broker.url, { clientId: 'moby-pipeline', cleanSession: false, partition, partitions }),
    mobyIn('in', 'devices/+/telemetry', [['out']]),
    mobyIn('lwt', 'device/lwt/+', [['out']]),
    { id: 'out', type: 'helper' },
  ];

  it("takes only its partition's topics, under its own client id, and hands the flow the unprefixed topic", async () => {
    await helper.load(mqttNodes, flow('1', '3'));
    const got: Array<{ topic: string; payload: string }> = [];
    helper
      .getNode('out')
      .on('input', (msg: { topic: string; payload: string }) => got.push({ topic: msg.topic, payload: msg.payload }));
    const pub = await mqtt.connectAsync(env.broker.url, { clientId: 'pub', clean: true });
    // the session of moby-pipeline-1 exists once its subscriptions do: poll by publishing until one arrives
    await waitFor(
      async () => {
        await pub.publishAsync('p/1/devices/probe/telemetry', 'probe', { qos: 1 });
        return got.some((g) => g.payload === 'probe');
      },
      10000,
      'the partitioned subscription',
      200
    );
    await pub.publishAsync('p/1/devices/pump-7/telemetry', 'mine', { qos: 1 });
    await pub.publishAsync('p/1/device/lwt/pump-7', 'OFFLINE', { qos: 1 });
    await pub.publishAsync('p/2/devices/fan-1/telemetry', 'other partition', { qos: 1 });
    await pub.publishAsync('devices/fan-2/telemetry', 'unpartitioned', { qos: 1 });
    await pub.publishAsync('p/1/devices/pump-8/telemetry', 'last', { qos: 1 });
    await waitFor(() => got.some((g) => g.payload === 'last'), 5000, 'the last message');
    await sleep(200);
    await pub.endAsync();
    const logged = helper.log().args.map((a: any[]) => String(a[0]?.msg ?? ''));
    assert.ok(
      logged.some((m: string) => / as moby-pipeline-1 \(partition 1 of 3\)/.test(m)),
      `connected as moby-pipeline-1: ${logged.join(' | ')}`
    );
    // (late probes may still trickle in: QoS 1 is acknowledged by the broker before it is delivered)
    assert.deepEqual(
      got.filter((g) => g.payload !== 'probe'),
      [
        { topic: 'devices/pump-7/telemetry', payload: 'mine' },
        { topic: 'device/lwt/pump-7', payload: 'OFFLINE' },
        { topic: 'devices/pump-8/telemetry', payload: 'last' },
      ]
    );
  });

  for (const [partition, partitions, reason] of [
    ['1', '', /set both MOBY_PARTITION and MOBY_PARTITIONS/],
    ['3', '3', /must be 0 … 2/],
  ] as const) {
    it(`refuses partition "${partition}" of "${partitions}": no connection, the reason logged`, async () => {
      await helper.load(mqttNodes, flow(partition, partitions));
      const b = helper.getNode('b');
      const errors = () =>
        helper
          .log()
          .args.filter((a: any[]) => a[0]?.level === helper.log().ERROR && a[0]?.id === 'b')
          .map((a: any[]) => String(a[0].msg));
      await waitFor(() => errors().some((m: string) => reason.test(m)), 5000, 'the configuration error logged');
      await sleep(300);
      assert.equal(b.describe().connected, false);
      assert.match(b.describe().lastError, reason);
    });
  }
});
