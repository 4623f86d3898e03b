// moby-normalize and moby-registry through the real Node-RED runtime, loading the compiled node from dist/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { PUMP, SENSOR } from '../../support/payloads';
import { collect, warnings, type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

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
};

function load(flow: unknown[]): Promise<void> {
  return new Promise((resolve) => helper.load([normalizeNode, catchNode], flow, resolve));
}

function flow(opts: Record<string, unknown> = {}, registry?: Record<string, unknown>) {
  const nodes: Record<string, unknown>[] = [
    { id: 'n', type: 'moby-normalize', name: 'norm', wires: [['ok'], ['bad']], ...opts },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
    { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
  if (registry) nodes.push({ id: 'reg', type: 'moby-registry', name: 'fleet', ...registry });
  return nodes;
}

/** Sends each payload through a fresh flow and returns what came out of each output. */
async function through(opts: Record<string, unknown>, msgs: Msg[], registry?: Record<string, unknown>) {
  await load(flow(opts, registry));
  const ok = collect('ok');
  const bad = collect('bad');
  const caught = collect('caught');
  for (const m of msgs) helper.getNode('n').receive(m);
  await waitFor(() => ok.length + bad.length + caught.length >= msgs.length, 3000, `${msgs.length} message(s) out`);
  return { ok, bad, caught };
}

describe('moby-normalize node', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('normalizes the nested example from a Buffer, keeping msg.moby and the topic', async () => {
    const { ok, bad } = await through({ arrays: 'accel: x,y,z' }, [
      {
        payload: Buffer.from(JSON.stringify(PUMP)),
        topic: 'devices/pump-7/telemetry',
        moby: { device_id: 'pump-7', auth: { kid: 'k1', verified: true } },
      },
    ]);
    assert.equal(bad.length, 0);
    const m = ok[0];
    assert.deepEqual(JSON.parse(JSON.stringify(m.payload)), {
      measurement: 'telemetry',
      tags: { device_id: 'pump-7' },
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
    assert.deepEqual({ ...m.units }, { motor_temperature: '°C' });
    assert.deepEqual(m.moby, { device_id: 'pump-7', auth: { kid: 'k1', verified: true } });
    assert.equal(m.topic, 'devices/pump-7/telemetry');
  });

  it('normalizes the flat seed format from JSON text, with tag keys and topic tags', async () => {
    const { ok } = await through(
      { measurement: 'env', tagKeys: 'equipment_id', topicPattern: 'factory/+site/+device_id/telemetry' },
      [{ payload: JSON.stringify({ ...SENSOR, equipment_id: 'press-1' }), topic: 'factory/busan/sensor_001/telemetry' }]
    );
    assert.equal(ok[0].payload.measurement, 'env');
    assert.deepEqual({ ...ok[0].payload.tags }, { equipment_id: 'press-1', site: 'busan', device_id: 'sensor_001' });
    assert.deepEqual({ ...ok[0].payload.fields }, { temperature: 25.3, humidity: 60.5, vibration: 0.12, sound: 45.8 });
  });

  const now = Date.now();
  const rejectCases: Array<[string, unknown, Record<string, unknown>, Msg['moby']?]> = [
    ['malformed_json', '{"device_id":"pump-7",', {}],
    ['too_large', JSON.stringify({ ...SENSOR, pad: 'x'.repeat(300) }), { maxBytes: 256 }],
    ['too_deep', { device_id: 'd', a: { b: { c: { d: { e: 1 } } } } }, { maxDepth: 4 }],
    ['too_many_keys', { device_id: 'd', a: Array.from({ length: 20 }, (_, i) => i) }, { maxKeys: 10 }],
    ['forbidden_key', '{"device_id":"d","components":{"motor":{"__proto__":{"isAdmin":true}}}}', {}],
    ['bad_number', { device_id: 'd', v: NaN }, {}],
    ['bad_timestamp', { ...SENSOR, timestamp: '17/11/2025 10:30' }, {}],
    ['future_timestamp', { ...SENSOR, timestamp: now + 3_600_000 }, { maxFuture: 60 }],
    ['schema', PUMP, { schema: JSON.stringify({ type: 'object', required: ['tenant'] }) }],
    [
      'unknown_component',
      { ...PUMP, components: { ...PUMP.components, gearbox: { oil_temp: 60 } } },
      { registry: 'reg' },
    ],
    ['hw_mismatch', { ...PUMP, hw: 'rev1' }, { registry: 'reg' }],
    ['out_of_range', { ...PUMP, components: { motor: { current: 75 } } }, { registry: 'reg' }],
    [
      'unit_mismatch',
      { ...PUMP, components: { motor: { temperature: { value: 160, unit: '°F' } } } },
      { registry: 'reg' },
    ],
    ['bad_type', { ...PUMP, components: { motor: { temperature: true } } }, { registry: 'reg' }],
    ['missing_device', { temperature: 20 }, {}],
    ['device_mismatch', PUMP, {}, { device_id: 'pump-8' }],
    ['no_fields', { device_id: 'd', status: 'idle' }, {}],
    ['bad_tag', { ...SENSOR, tenant: ['a'] }, { tagKeys: 'tenant' }],
    ['reserved_name', { ...SENSOR, _start: 1 }, {}, { device_id: 'sensor_001' }],
  ];
  for (const [code, payload, opts, moby] of rejectCases) {
    it(`sends ${code} to the reject output with the payload untouched`, async () => {
      const usesRegistry = opts.registry !== undefined;
      const { ok, bad, caught } = await through(
        opts,
        [{ payload, moby }],
        usesRegistry ? { source: 'inline', json: JSON.stringify(REGISTRY) } : undefined
      );
      assert.equal(ok.length, 0);
      assert.equal(caught.length, 0);
      assert.equal(bad.length, 1);
      assert.equal(bad[0].moby!.reject!.code, code, bad[0].moby!.reject!.reason);
      assert.ok(bad[0].moby!.reject!.reason.length > 0);
      assert.equal(bad[0].payload, payload);
    });
  }

  it('says in the log when messages are refused: one line at the start of an episode, not one per message (red-team round 2026-12-07: 75 refused future timestamps, no line)', async () => {
    const future = { ...SENSOR, timestamp: Date.now() + 400_000 };
    const msgs: Msg[] = Array.from({ length: 5 }, () => ({ payload: future, moby: { device_id: SENSOR.device_id } }));
    msgs.push({ payload: { device_id: 'pump-7', 'x\u034F': 1 }, moby: { device_id: 'pump-7' } });
    const { bad } = await through({}, msgs);
    assert.equal(bad.length, 6);
    const lines = warnings().filter((w) => /rejected as/.test(w));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /^sensor_001: rejected as future_timestamp \(.+\); rejected messages leave on output 2$/);
  });

  it('output 3: an authenticated device whose messages are all refused for Refused alert after raises one data_refused warning, cleared by its next message that passes; a claimed id that never passed raises none (before: nothing but counters, and device health showed it online)', async () => {
    const nodes = flow({ refusedAfter: 0.4 });
    (nodes[0] as { wires: string[][] }).wires = [['ok'], ['bad'], ['alerts']];
    await load([...nodes, { id: 'alerts', type: 'helper' }]);
    const ok = collect('ok');
    const bad = collect('bad');
    const alerts = collect('alerts');
    const n = helper.getNode('n');
    const future = (id: string) => ({ ...SENSOR, device_id: id, timestamp: Date.now() + 400_000 });
    const auth = (id: string) => ({ device_id: id, auth: { kid: 'k1', ts: 1, verified: true } });
    // sensor_001 is authenticated (moby-hmac-verify upstream); ghost-1 only claims its id in an unsigned payload
    const burst = () => {
      for (let i = 0; i < 12; i++) {
        n.receive({ payload: future(SENSOR.device_id), moby: auth(SENSOR.device_id) });
        n.receive({ payload: future('ghost-1') });
      }
    };
    burst();
    await new Promise((r) => setTimeout(r, 500));
    burst();
    await waitFor(() => bad.length === 48, 3000, '48 refused');
    await waitFor(() => alerts.length === 1, 3000, 'one alert');
    const a = alerts[0] as Msg & { alert: Record<string, unknown> };
    assert.equal(a.alert.rule, 'data_refused');
    assert.equal(a.alert.device_id, SENSOR.device_id);
    assert.equal(a.alert.severity, 'warning');
    assert.match(
      String(a.alert.message),
      /^\d+ message\(s\) of sensor_001 refused by moby-normalize in .+ \(future_timestamp \d+; /
    );
    // its clock is fixed: the next message passes and clears the alert
    n.receive({ payload: { ...SENSOR, timestamp: Date.now() }, moby: auth(SENSOR.device_id) });
    await waitFor(() => alerts.length === 2, 3000, 'the clear');
    assert.deepEqual((alerts[1] as Msg & { alert: unknown }).alert, {
      device_id: SENSOR.device_id,
      rule: 'data_refused',
      clear: true,
    });
    assert.equal(ok.length, 1);
  });

  // red-team round 4: one signed device, one point a week since 2000 = one InfluxDB 1.x shard each (1,404 measured)
  const OLD = { ...SENSOR, timestamp: '2001-03-05T00:00:00Z' };
  it('Past tolerance: a timestamp further behind is bad_timestamp naming device, field and bound', async () => {
    const { ok, bad } = await through({ maxPast: 86_400 }, [{ payload: OLD, moby: { device_id: SENSOR.device_id } }]);
    assert.equal(ok.length, 0);
    assert.equal(bad.length, 1);
    const reject = bad[0].moby!.reject!;
    assert.deepEqual([reject.code, reject.device_id, reject.field], ['bad_timestamp', SENSOR.device_id, 'timestamp']);
    assert.match(reject.reason, /2001-03-05T00:00:00\.000Z is \d+ s behind receive time \(max 86400 s\)/);
  });

  it('Past tolerance: a timestamp inside it passes', async () => {
    const { ok, bad } = await through({ maxPast: 86_400 }, [
      { payload: { ...SENSOR, timestamp: Date.now() - 3_600_000 } },
    ]);
    assert.deepEqual([ok.length, bad.length], [1, 0]);
  });

  it('Past tolerance empty (the default): backfill of any age passes', async () => {
    const { ok, bad } = await through({ maxPast: '' }, [{ payload: OLD }]);
    assert.deepEqual([ok.length, bad.length], [1, 0]);
  });

  it('refuses a device that sends a field with another type than the fleet (InfluxDB shard type poisoning)', async () => {
    // red-team round 4: written first into a new week's shard, `temperature: true` made influxd 1.x refuse every
    // other device's float temperature for that week ("field type conflict")
    const { ok, bad } = await through({}, [
      { payload: { device_id: 'good-1', temperature: 21.5 } },
      { payload: { device_id: 'good-2', temperature: 22.5 } },
      { payload: { device_id: 'attacker', temperature: true, humidity: 50 }, moby: { device_id: 'attacker' } },
      { payload: { device_id: 'good-3', temperature: 20.5, humidity: 40 } },
    ]);
    assert.deepEqual(
      ok.map((m) => (m.payload as { tags: Record<string, string> }).tags.device_id),
      ['good-1', 'good-2', 'good-3']
    );
    assert.equal(bad.length, 1);
    const reject = bad[0].moby!.reject!;
    assert.deepEqual([reject.code, reject.device_id, reject.field], ['bad_type', 'attacker', 'temperature']);
    assert.match(reject.reason, /boolean here but number for the fleet/);
  });

  it('names device and field in registry rejects and keeps upstream msg.moby', async () => {
    const { bad } = await through(
      { registry: 'reg' },
      [
        {
          payload: { ...PUMP, components: { motor: { temperature: 190 } } },
          moby: { device_id: 'pump-7', auth: { kid: 'k1' } },
        },
      ],
      {
        source: 'inline',
        json: JSON.stringify(REGISTRY),
      }
    );
    assert.deepEqual(
      { ...bad[0].moby!.reject, reason: undefined },
      { code: 'out_of_range', device_id: 'pump-7', field: 'motor_temperature', reason: undefined }
    );
    assert.deepEqual(bad[0].moby!.auth, { kid: 'k1' });
  });

  it('flag mode passes the point with msg.moby.flags and registry units', async () => {
    const { ok, bad } = await through(
      { registry: 'reg', onViolation: 'flag' },
      [{ payload: { ...PUMP, hw: 'rev1' } }],
      { source: 'inline', json: JSON.stringify(REGISTRY) }
    );
    assert.equal(bad.length, 0);
    assert.deepEqual(
      ok[0].moby!.flags!.map((f) => [f.code, f.field]),
      [['hw_mismatch', 'motor']]
    );
    assert.deepEqual({ ...ok[0].units }, { motor_temperature: '°C', motor_current: 'A', bearing_vibration_rms: 'g' });
  });

  it('reads the registry from a file relative to the user dir', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-registry-'));
    const file = path.join(dir, 'registry.json');
    fs.writeFileSync(file, JSON.stringify(REGISTRY));
    const { ok, bad } = await through(
      { registry: 'reg' },
      [{ payload: PUMP }, { payload: { ...PUMP, components: { pump: { flow: 1 } } } }],
      { source: 'file', file }
    );
    assert.equal(ok.length, 1);
    assert.equal(bad[0].moby!.reject!.code, 'unknown_component');
  });

  it('reports a broken configuration to Catch nodes instead of passing messages', async () => {
    const { ok, bad, caught } = await through({ registry: 'reg' }, [{ payload: PUMP }], {
      source: 'inline',
      json: '{"components": {"motor": {"hw": "rev3"}}}',
    });
    assert.equal(ok.length + bad.length, 0);
    assert.match(String((caught[0].error as { message: string }).message), /hw must be an array/);
    await helper.unload();
    const schema = await through({ schema: '{"type": ' }, [{ payload: PUMP }]);
    assert.match(String((schema.caught[0].error as { message: string }).message), /JSON Schema is not valid JSON/);
  });

  it('counts messages in the Prometheus metrics by outcome and code', async () => {
    const { metricsText } = require('../../../dist/nodes/lib/metrics.js');
    const before = await metricsText();
    const count = (text: string, re: RegExp) => Number((re.exec(text) || [])[1] || 0);
    const outRe = /moby_messages_total\{node_type="moby-normalize",outcome="out"\} (\d+)/;
    const rejRe = /moby_rejects_total\{node_type="moby-normalize",code="missing_device"\} (\d+)/;
    await through({}, [{ payload: SENSOR }, { payload: { temperature: 1 } }, { payload: SENSOR }]);
    const after = await metricsText();
    assert.equal(count(after, outRe) - count(before, outRe), 2);
    assert.equal(count(after, rejRe) - count(before, rejRe), 1);
  });
});

describe('examples/normalize.json', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('does what its comment says when its inject nodes fire', async () => {
    const injectNode = require('@node-red/nodes/core/common/20-inject.js');
    const example = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../../examples/normalize.json'), 'utf8')
    ) as Array<Record<string, unknown>>;
    // the debug nodes become helper nodes so the test can see what reaches them
    const flowUnderTest = example
      .filter((n) => n.type !== 'comment')
      .map((n) => (n.type === 'debug' ? { id: n.id, z: n.z, type: 'helper' } : n));
    await new Promise<void>((resolve) => helper.load([normalizeNode, injectNode], flowUnderTest, resolve));
    const points = collect('points');
    const rejects = collect('rejects');
    for (const id of ['inj-pump', 'inj-sensor', 'inj-hot', 'inj-hostile']) helper.getNode(id).receive({});
    await waitFor(() => points.length + rejects.length === 4, 3000, 'four example messages out');
    assert.deepEqual(points.map((m) => m.payload.tags.device_id).sort(), ['pump-7', 'sensor_001']);
    assert.equal(points.find((m) => m.payload.tags.device_id === 'pump-7')!.payload.tags.site, 'busan');
    assert.deepEqual(rejects.map((m) => m.moby!.reject!.code).sort(), ['forbidden_key', 'out_of_range']);
  });
});
