// The ingest path end to end through the real Node-RED runtime: an embedded aedes broker, the core
// `mqtt in` node, moby-hmac-verify and moby-normalize; a real mqtt client publishes signed envelopes, a
// forged one, a replay and spoofed or implausible telemetry.
import assert from 'node:assert/strict';
import mqtt, { MqttClient } from 'mqtt';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { startAedes, Broker } from '../../support/aedes';
import { sleep, waitFor } from '../../support/net';
import { coreMqttBroker, coreMqttIn } from '../../support/core-mqtt-flow';
import { PUMP, SENSOR } from '../../support/payloads';
import { collect } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');

helper.init(require.resolve('node-red'));

const PUMP_KEY = 'hex:' + '5a'.repeat(32);
const SENSOR_KEY = 'sensor-001-shared-secret';
const KEYS = { 'pump-7': { k1: PUMP_KEY }, sensor_001: { s1: SENSOR_KEY } };
const REGISTRY = {
  components: {
    motor: {
      hw: ['rev2', 'rev3'],
      fields: {
        temperature: { unit: '°C', type: 'float', min: -40, max: 150 },
        current: { unit: 'A', min: 0, max: 50 },
      },
    },
    bearing: { fields: { 'vibration.rms': { unit: 'g', min: 0, max: 16 } } },
  },
  fields: { temperature: { unit: '°C', min: -40, max: 125 }, humidity: { unit: '%', min: 0, max: 100 } },
};

function signed(deviceId: 'pump-7' | 'sensor_001', body: unknown, nonce?: string): string {
  const key = parseKey(deviceId === 'pump-7' ? PUMP_KEY : SENSOR_KEY);
  return JSON.stringify(
    signEnvelope({ deviceId, key, kid: deviceId === 'pump-7' ? 'k1' : 's1', body: JSON.stringify(body), nonce })
  );
}

describe('ingest flow: mqtt in → moby-hmac-verify → moby-normalize (aedes)', function () {
  let broker: Broker;
  let client: MqttClient;

  before(async () => {
    broker = await startAedes();
  });
  after(async () => {
    await broker.close();
  });
  afterEach(async () => {
    if (client) await client.endAsync();
    await helper.unload();
  });

  it('turns signed telemetry into points and sends forged, replayed, spoofed and implausible messages to the right reject outputs', async () => {
    const flow = [
      coreMqttBroker(broker.port),
      coreMqttIn('in', 'factory/+/+/telemetry', [['v']], { datatype: 'buffer', rap: true, rh: 0 }),
      { id: 'kr', type: 'moby-keyring', name: 'fleet', keysEnv: '' },
      {
        id: 'v',
        type: 'moby-hmac-verify',
        keyring: 'kr',
        tolerance: 300,
        replayCache: 1000,
        topicPattern: 'factory/+/+/telemetry',
        topicLevel: 2,
        wires: [['n'], ['authRejects']],
      },
      { id: 'reg', type: 'moby-registry', name: 'fleet', source: 'inline', json: JSON.stringify(REGISTRY) },
      {
        id: 'n',
        type: 'moby-normalize',
        registry: 'reg',
        tagKeys: 'equipment_id',
        topicPattern: 'factory/+site/+device_id/telemetry',
        arrays: 'accel: x,y,z',
        wires: [['points'], ['dataRejects']],
      },
      { id: 'points', type: 'helper' },
      { id: 'dataRejects', type: 'helper' },
      { id: 'authRejects', type: 'helper' },
    ];
    await new Promise<void>((resolve) =>
      helper.load([mqttNode, hmacNode, normalizeNode], flow, { kr: { keys: JSON.stringify(KEYS) } }, resolve)
    );
    const points = collect('points');
    const dataRejects = collect('dataRejects');
    const authRejects = collect('authRejects');
    await waitFor(() => (helper.getNode('b') as { connected?: boolean }).connected, 5000, 'mqtt in connected');

    client = mqtt.connect(broker.url);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    // the mqtt in node's subscription may land just after it connects: publish until the first point arrives
    await waitFor(
      async () => {
        await client.publishAsync('factory/busan/sensor_001/telemetry', signed('sensor_001', SENSOR), { qos: 1 });
        return points.length > 0;
      },
      5000,
      'first point through the flow',
      200
    );
    await sleep(300); // let any extra warm-up copies (published while subscribing) arrive before counting
    points.length = 0;

    const pumpEnvelope = signed('pump-7', { ...PUMP, equipment_id: 'line-2' });
    const forged = JSON.parse(signed('pump-7', PUMP));
    forged.body = forged.body.replace('71.2', '21.2'); // tampered in transit, signature left as it was
    const spoofed = signed('pump-7', { ...SENSOR, device_id: 'sensor_001' }); // pump-7's key, sensor_001's name
    const scalding = signed('pump-7', {
      ...PUMP,
      components: { ...PUMP.components, motor: { temperature: { value: 480, unit: '°C' } } },
    });
    const sends: Array<[string, string]> = [
      ['factory/busan/pump-7/telemetry', pumpEnvelope],
      ['factory/busan/pump-7/telemetry', JSON.stringify(forged)],
      ['factory/busan/pump-7/telemetry', pumpEnvelope], // replay of the first
      ['factory/busan/pump-7/telemetry', spoofed],
      ['factory/busan/pump-7/telemetry', scalding],
      ['factory/busan/sensor_001/telemetry', signed('sensor_001', { ...SENSOR, humidity: 60.7 })],
    ];
    for (const [topic, payload] of sends) await client.publishAsync(topic, payload, { qos: 1 });
    await waitFor(
      () => points.length + dataRejects.length + authRejects.length >= sends.length,
      5000,
      'every message out of the flow'
    );

    assert.equal(points.length, 2, 'the two genuine messages become points');
    const pump = points.find((p) => p.payload.tags.device_id === 'pump-7')!;
    assert.deepEqual(JSON.parse(JSON.stringify(pump.payload)), {
      measurement: 'telemetry',
      tags: { equipment_id: 'line-2', site: 'busan', device_id: 'pump-7' },
      fields: {
        motor_temperature: 71.2,
        motor_current: 3.4,
        bearing_vibration_rms: 0.12,
        accel_x: 0.01,
        accel_y: 0.02,
        accel_z: 9.81,
      },
      timestamp: Date.parse('2025-11-17T10:30:00Z'),
    });
    assert.deepEqual({ ...pump.units }, { motor_temperature: '°C', motor_current: 'A', bearing_vibration_rms: 'g' });
    assert.equal(pump.moby!.device_id, 'pump-7');
    assert.equal(pump.moby!.auth!.verified, true, 'normalize keeps what hmac-verify put in msg.moby');
    assert.equal(pump.moby!.auth!.kid, 'k1');
    const sensor = points.find((p) => p.payload.tags.device_id === 'sensor_001')!;
    assert.equal(sensor.payload.fields.humidity, 60.7);
    assert.equal(sensor.units!.humidity, '%');

    assert.deepEqual(authRejects.map((m) => m.moby!.reject!.code).sort(), ['bad_signature', 'replay']);
    for (const m of authRejects) assert.equal(m.moby!.reject!.device_id, 'pump-7');

    const byCode = new Map(dataRejects.map((m) => [m.moby!.reject!.code, m]));
    assert.deepEqual([...byCode.keys()].sort(), ['device_mismatch', 'out_of_range']);
    assert.equal(byCode.get('device_mismatch')!.moby!.reject!.device_id, 'pump-7');
    const hot = byCode.get('out_of_range')!.moby!;
    assert.deepEqual(
      [hot.reject!.field, hot.reject!.device_id, hot.auth!.verified],
      ['motor_temperature', 'pump-7', true]
    );
  });

  it("bounds a flooding device with a valid key (tenant-less): the other devices' messages all become points, the flooder gets its burst and rate", async () => {
    const RATE = 20;
    const BURST = 50;
    const PRESS_KEY = 'press-3-shared-secret-0123';
    const flow = [
      coreMqttBroker(broker.port),
      coreMqttIn('in', 'devices/+/telemetry', [['v']], { datatype: 'buffer', rap: true, rh: 0 }),
      { id: 'kr', type: 'moby-keyring', name: 'fleet', keysEnv: '' },
      {
        id: 'v',
        type: 'moby-hmac-verify',
        keyring: 'kr',
        tolerance: 300,
        topicPattern: 'devices/+device_id/telemetry',
        deviceRate: RATE,
        deviceBurst: BURST,
        wires: [['n'], ['authRejects']],
      },
      { id: 'reg', type: 'moby-registry', name: 'fleet', source: 'inline', json: JSON.stringify(REGISTRY) },
      {
        id: 'n',
        type: 'moby-normalize',
        registry: 'reg',
        topicPattern: 'devices/+device_id/telemetry',
        arrays: 'accel: x,y,z',
        wires: [['points'], ['dataRejects']],
      },
      { id: 'points', type: 'helper' },
      { id: 'dataRejects', type: 'helper' },
      { id: 'authRejects', type: 'helper' },
    ];
    const keys = { ...KEYS, 'press-3': { p1: PRESS_KEY } };
    await new Promise<void>((resolve) =>
      helper.load([mqttNode, hmacNode, normalizeNode], flow, { kr: { keys: JSON.stringify(keys) } }, resolve)
    );
    helper._sandbox.restore(); // the helper's spies on every send cost more than the flow itself
    let pumpPoints = 0;
    const others: Array<{ payload: { tags: Record<string, string> } }> = [];
    helper.getNode('points').on('input', (m: { payload: { tags: Record<string, string> } }) => {
      if (m.payload.tags.device_id === 'pump-7') pumpPoints++;
      else others.push(m);
    });
    const authRejects: Array<{ moby?: { reject?: { code: string; device_id?: string; field?: string } } }> = [];
    helper.getNode('authRejects').on('input', (m: (typeof authRejects)[number]) => authRejects.push(m));
    const dataRejects = collect('dataRejects');
    await waitFor(() => (helper.getNode('b') as { connected?: boolean }).connected, 5000, 'mqtt in connected');
    client = await mqtt.connectAsync(broker.url);
    // the mqtt in node's subscription may land just after it connects: publish until the first point arrives
    await waitFor(
      async () => {
        await client.publishAsync('devices/sensor_001/telemetry', signed('sensor_001', SENSOR), { qos: 1 });
        return others.length > 0;
      },
      5000,
      'first point through the flow',
      200
    );
    await sleep(300);
    others.length = 0;

    const press = () =>
      JSON.stringify(
        signEnvelope({ deviceId: 'press-3', key: parseKey(PRESS_KEY), kid: 'p1', body: '{"temperature":33.5}' })
      );
    const normal = () => [
      client.publishAsync('devices/sensor_001/telemetry', signed('sensor_001', SENSOR), { qos: 1 }),
      client.publishAsync('devices/press-3/telemetry', press(), { qos: 1 }),
    ];
    const FLOOD = 3000;
    const flood = Array.from({ length: FLOOD }, () => signed('pump-7', PUMP));
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < FLOOD; i++) {
      sends.push(client.publishAsync('devices/pump-7/telemetry', flood[i], { qos: 0 }));
      if (i === FLOOD / 2) sends.push(...normal());
      if (sends.length >= 500) await Promise.all(sends.splice(0));
    }
    sends.push(...normal());
    await Promise.all(sends);
    await waitFor(
      () => others.length === 4 && pumpPoints + authRejects.length >= FLOOD,
      60000,
      'flood and the other devices through',
      50
    );
    const elapsedSec = (performance.now() - started) / 1000;

    assert.deepEqual(others.map((m) => m.payload.tags.device_id).sort(), [
      'press-3',
      'press-3',
      'sensor_001',
      'sensor_001',
    ]);
    assert.ok(
      pumpPoints >= BURST && pumpPoints <= BURST + Math.ceil(RATE * elapsedSec),
      `pump-7 passed ${pumpPoints}, bound ${BURST + Math.ceil(RATE * elapsedSec)} after ${elapsedSec.toFixed(1)} s`
    );
    assert.equal(authRejects.length, FLOOD - pumpPoints);
    assert.ok(
      authRejects.every((m) => {
        const r = m.moby?.reject;
        return r?.code === 'device_rate' && r.device_id === 'pump-7' && r.field === 'device_id';
      })
    );
    assert.equal(dataRejects.length, 0);
  });
});
