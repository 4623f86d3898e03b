// examples/hmac-signing.json runs as shipped (only the broker port and the keyring credential supplied, and
// the debug nodes swapped for helper nodes): inject → sign → mqtt out → broker → mqtt in → verify.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { startAedes, Broker } from '../../support/aedes';
import { type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const nodes = [
  require('../../../dist/nodes/hmac/moby-hmac.js'),
  require('@node-red/nodes/core/network/10-mqtt.js'),
  require('@node-red/nodes/core/common/20-inject.js'),
  require('@node-red/nodes/core/common/90-comment.js'),
  require('@node-red/nodes/core/function/15-change.js'),
];

helper.init(require.resolve('node-red'));

describe('examples/hmac-signing.json', function () {
  let broker: Broker;
  before(async () => {
    broker = await startAedes();
  });
  after(async () => {
    await broker.close();
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('signs, carries over MQTT and verifies; the forged envelope is rejected', async () => {
    const flow = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../../examples/hmac-signing.json'), 'utf8')
    ) as Array<Record<string, unknown>>;
    const types = new Set(flow.map((n) => n.type));
    for (const t of ['moby-hmac-sign', 'moby-hmac-verify', 'moby-keyring'])
      assert.ok(types.has(t), `example uses ${t}`);
    for (const n of flow) {
      // the broker address is the tab's MOBY_MQTT_URL, as a user would set it
      if (n.type === 'tab') n.env = [{ name: 'MOBY_MQTT_URL', value: `mqtt://127.0.0.1:${broker.port}`, type: 'str' }];
      if (n.type === 'debug') {
        n.type = 'helper';
        n.wires = [];
      }
    }
    const keyring = flow.find((n) => n.type === 'moby-keyring')!;
    const keys = { 'pump-7': { k1: 'hex:' + '3c'.repeat(32) }, sensor_001: { s1: 'sensor-001-secret-key' } };
    await new Promise<void>((resolve) =>
      helper.load(nodes, flow, { [keyring.id as string]: { keys: JSON.stringify(keys) } }, resolve)
    );
    const verified: Msg[] = [];
    const rejected: Msg[] = [];
    helper.getNode('hmac_debug_ok').on('input', (m: Msg) => verified.push(m));
    helper.getNode('hmac_debug_rej').on('input', (m: Msg) => rejected.push(m));
    await waitFor(
      () => (helper.getNode('hmac_broker') as { connected?: boolean }).connected,
      5000,
      'broker connection'
    );
    // the pump inject fires once after 1 s; also press the sensor inject, repeatedly until the subscription is live
    await waitFor(
      () => {
        helper.getNode('hmac_inject_sensor').receive({});
        return verified.some((m) => m.moby?.device_id === 'sensor_001');
      },
      8000,
      'sensor_001 verified',
      300
    );
    await waitFor(() => verified.some((m) => m.moby?.device_id === 'pump-7'), 8000, 'pump-7 verified');
    const pump = verified.find((m) => m.moby?.device_id === 'pump-7')!;
    assert.equal(pump.moby!.auth!.kid, 'k1');
    assert.equal((pump.payload as { hw: string }).hw, 'rev3');
    // its own topics and the current time: under npm start a deployed example fed the pipeline a pump-7 whose
    // fixed 2025 stamp normalize refused every 10 s, and device health counted it (newcomer round 2026-12-07)
    assert.match(String(pump.topic), /^moby-example\/devices\/pump-7\/telemetry$/);
    const stamped = Date.parse((pump.payload as { ts: string }).ts);
    assert.ok(Math.abs(Date.now() - stamped) < 60_000, `stamped now, not ${(pump.payload as { ts: string }).ts}`);
    const sensor = verified.find((m) => m.moby?.device_id === 'sensor_001')!;
    assert.ok(Math.abs(Date.now() - Date.parse((sensor.payload as { timestamp: string }).timestamp)) < 60_000);
    helper.getNode('hmac_inject_forged').receive({});
    await waitFor(() => rejected.length === 1, 3000, 'forged envelope rejected');
    assert.ok(['bad_signature', 'stale'].includes(rejected[0].moby!.reject!.code));
  });
});
