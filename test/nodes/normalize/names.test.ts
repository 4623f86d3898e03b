// Unchecked names (issue #10, item 8) through the real Node-RED runtime: a device signing with its own key
// is authentic, yet its field names and tag values must not reach storage as sent. moby-hmac-verify →
// moby-normalize, as in flows/pipeline.json; what would go on to the writer arrives at `points`.
import assert from 'node:assert/strict';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { waitFor } from '../../support/net';
import { PUMP_BODY, SENSOR_BODY } from '../../support/payloads';
import { type NodeMsg as Msg } from '../../support/node-msg';

import { verifyFlow } from '../../support/hmac-flow';
const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const KEYS = { 'pump-7': { k1: 'pump-7-device-secret' }, sensor_001: { s1: 'sensor-001-device-secret' } };

/** The keyring and the verifier in front of normalize (the shared verify flow, without its helper nodes). */
const signedInput = (to: string[]) =>
  verifyFlow({ replayStore: 'memory', topicPattern: 'devices/+/telemetry', wires: [to, ['authRejects']] }).slice(0, 2);

describe('moby-normalize: names from a signed device (Node-RED runtime)', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('ATTACK: HTML, NUL, U+202E field names and a 60 KB equipment_id tag from a signed device are rejected with device and field (old code: spooled as sent); real payloads pass', async () => {
    const flow = [
      ...signedInput(['n']),
      {
        id: 'n',
        type: 'moby-normalize',
        tagKeys: 'equipment_id,tenant,location',
        arrays: 'accel: x,y,z',
        wires: [['points'], ['rejects']],
      },
      { id: 'points', type: 'helper' },
      { id: 'rejects', type: 'helper' },
      { id: 'authRejects', type: 'helper' },
    ];
    await new Promise<void>((resolve) =>
      helper.load([hmacNode, normalizeNode], flow, { kr: { keys: JSON.stringify(KEYS) } }, resolve)
    );
    const points: Msg[] = [];
    const rejects: Msg[] = [];
    helper.getNode('points').on('input', (m: Msg) => points.push(m));
    helper.getNode('rejects').on('input', (m: Msg) => rejects.push(m));
    const before = await metricsText();
    const send = (body: object | string, deviceId = 'pump-7', kid = 'k1') =>
      helper.getNode('v').receive({
        topic: `devices/${deviceId}/telemetry`,
        payload: JSON.stringify(
          signEnvelope({
            deviceId,
            key: parseKey((KEYS as any)[deviceId][kid]),
            kid,
            body: typeof body === 'string' ? body : JSON.stringify(body),
          })
        ),
      });
    send({ device_id: 'pump-7', '<script>alert(1)</script>': 1 });
    send({ device_id: 'pump-7', components: { motor: { 'temp\u0000': 71 } } });
    send({ device_id: 'pump-7', ['rpm\u202Etxt']: 1500 });
    send({ device_id: 'pump-7', equipment_id: 'E'.repeat(60 * 1024), temperature: 1 });
    send({ device_id: 'pump-7', location: '<img src=x onerror=alert(1)>', temperature: 1 });
    send(PUMP_BODY);
    send(SENSOR_BODY, 'sensor_001', 's1');
    await waitFor(() => rejects.length === 5 && points.length === 2, 5000, 'five rejects, two points');
    assert.deepEqual(
      rejects.map((m) => [m.moby!.reject!.code, m.moby!.reject!.device_id, m.moby!.reject!.field]),
      [
        ['bad_field_name', 'pump-7', '\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E'],
        ['bad_field_name', 'pump-7', 'motor_temp\\u0000'],
        ['bad_field_name', 'pump-7', 'rpm\\u202Etxt'],
        ['bad_tag_value', 'pump-7', 'equipment_id'],
        ['bad_tag_value', 'pump-7', 'location'],
      ]
    );
    for (const m of rejects)
      assert.ok(
        m.moby!.reject!.reason.length < 200 && /^[\x20-\x7e°…]*$/.test(m.moby!.reject!.reason),
        m.moby!.reject!.reason
      );
    assert.deepEqual(
      points.map((m) => m.payload.tags.device_id),
      ['pump-7', 'sensor_001']
    );
    assert.ok(points.every((m) => Object.keys(m.payload.fields).every((k) => /^[A-Za-z0-9_]+$/.test(k))));
    const after = await metricsText();
    const count = (t: string, code: string) =>
      Number(new RegExp(`moby_rejects_total\\{node_type="moby-normalize",code="${code}"\\} (\\d+)`).exec(t)?.[1] ?? 0);
    assert.equal(count(after, 'bad_field_name') - count(before, 'bad_field_name'), 3);
    assert.equal(count(after, 'bad_tag_value') - count(before, 'bad_tag_value'), 2);
  });

  it('ATTACK: fields named like a tag, a blank tag value and 300 fields from a signed device are rejected at normalize with device and field (old code: written as tag-shadowing fields, equipment_id=\\ , and dropped later by the writer)', async () => {
    const flow = [
      ...signedInput(['n', 'wide']),
      // the editor's defaults; a flow saved before Most fields existed has no maxFields: 256, the writer's limit
      {
        id: 'n',
        type: 'moby-normalize',
        tagKeys: 'equipment_id,tenant,location',
        churnGuard: false,
        wires: [['points'], ['rejects']],
      },
      // Most fields raised, for points scored by an anomaly node only
      {
        id: 'wide',
        type: 'moby-normalize',
        tagKeys: 'equipment_id,tenant,location',
        maxFields: '500',
        churnGuard: false,
        wires: [['widePoints'], ['wideRejects']],
      },
      { id: 'points', type: 'helper' },
      { id: 'rejects', type: 'helper' },
      { id: 'widePoints', type: 'helper' },
      { id: 'wideRejects', type: 'helper' },
      { id: 'authRejects', type: 'helper' },
    ];
    await new Promise<void>((resolve) =>
      helper.load([hmacNode, normalizeNode], flow, { kr: { keys: JSON.stringify(KEYS) } }, resolve)
    );
    const points: Msg[] = [];
    const rejects: Msg[] = [];
    const widePoints: Msg[] = [];
    helper.getNode('points').on('input', (m: Msg) => points.push(m));
    helper.getNode('rejects').on('input', (m: Msg) => rejects.push(m));
    helper.getNode('widePoints').on('input', (m: Msg) => widePoints.push(m));
    const before = await metricsText();
    const send = (body: object) =>
      helper.getNode('v').receive({
        topic: 'devices/pump-7/telemetry',
        payload: JSON.stringify(
          signEnvelope({ deviceId: 'pump-7', key: parseKey(KEYS['pump-7'].k1), kid: 'k1', body: JSON.stringify(body) })
        ),
      });
    const wide: Record<string, unknown> = { device_id: 'pump-7' };
    for (let i = 0; i < 300; i++) wide[`s${i}`] = i;
    send({ device_id: 'pump-7', device: { id: 5 }, temperature: 1 });
    send({ device_id: 'pump-7', equipment_id: 'x', equipment: { id: 5 }, equipment_id_x: 1 });
    send({ device_id: 'pump-7', equipment_id: ' ', temperature: 1 });
    send(wide);
    send({ device_id: 'pump-7', equipment_id: 'Hall 3', equipment_id_x: 1, device: { id_x: 2 } });
    await waitFor(
      () => rejects.length === 4 && points.length === 1 && widePoints.length === 2,
      5000,
      'four rejects and one point; the raised node passes 300 fields'
    );
    assert.deepEqual(
      rejects.map((m) => [m.moby!.reject!.code, m.moby!.reject!.device_id, m.moby!.reject!.field]),
      [
        ['tag_field_clash', 'pump-7', 'device_id'],
        ['tag_field_clash', 'pump-7', 'equipment_id'],
        ['bad_tag_value', 'pump-7', 'equipment_id'],
        ['too_many_fields', 'pump-7', undefined],
      ]
    );
    assert.match(rejects[0].moby!.reject!.reason, /field name "device_id" is a tag key of the point/);
    assert.match(rejects[2].moby!.reject!.reason, /is only spaces/);
    assert.match(rejects[3].moby!.reject!.reason, /more than 256 fields .*InfluxDB writer/);
    assert.deepEqual({ ...points[0].payload.tags }, { equipment_id: 'Hall 3', device_id: 'pump-7' });
    assert.deepEqual({ ...points[0].payload.fields }, { equipment_id_x: 1, device_id_x: 2 });
    assert.equal(Object.keys(widePoints[0].payload.fields).length, 300);
    const after = await metricsText();
    const count = (t: string, code: string) =>
      Number(new RegExp(`moby_rejects_total\\{node_type="moby-normalize",code="${code}"\\} (\\d+)`).exec(t)?.[1] ?? 0);
    // both normalize nodes see each message: the clashes and the blank tag twice, 300 fields once
    assert.equal(count(after, 'tag_field_clash') - count(before, 'tag_field_clash'), 4);
    assert.equal(count(after, 'bad_tag_value') - count(before, 'bad_tag_value'), 2);
    assert.equal(count(after, 'too_many_fields') - count(before, 'too_many_fields'), 1);
  });
});
