import assert from 'node:assert/strict';
import {
  Normalizer,
  normalize,
  type NormalizeOptions,
  type NormalizeResult,
} from '../../../../nodes/core/normalize/normalize';
import { compileRegistry } from '../../../../nodes/core/normalize/registry';
import { DEFAULT_LINE_LIMITS, pointToLine } from '../../../../nodes/core/influx/line-protocol';
import { PUMP } from '../../../support/payloads';

const NOW = Date.UTC(2025, 10, 17, 10, 31, 0);
const NESTED = PUMP;
const FLAT = {
  device_id: 'sensor_001',
  temperature: 25.3,
  humidity: 60.5,
  vibration: 0.12,
  sound: 45.8,
  timestamp: '2025-11-17T10:30:00+09:00',
};
const REGISTRY = compileRegistry({
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
});

function ok(r: NormalizeResult) {
  if (!r.ok) assert.fail(`rejected: ${JSON.stringify(r.reject)}`);
  // results are prototype-free; copy into plain objects for deepEqual
  return {
    point: { ...r.point, tags: { ...r.point.tags }, fields: { ...r.point.fields } },
    units: { ...r.units },
    flags: r.flags,
  };
}
function rejected(r: NormalizeResult) {
  if (r.ok) assert.fail(`not rejected: ${JSON.stringify(r.point)}`);
  return r.reject;
}
const run = (input: unknown, opts: NormalizeOptions = {}, ctx = {}) => normalize(input, opts, { now: NOW, ...ctx });

describe('normalize (core)', () => {
  it('flattens the nested example: components, {value, unit}, named arrays', () => {
    const out = ok(run(JSON.stringify(NESTED), { arrays: { accel: ['x', 'y', 'z'] } }));
    assert.deepEqual(out.point, {
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
      timestamp: Date.UTC(2025, 10, 17, 10, 30, 0),
    });
    assert.deepEqual(out.units, { motor_temperature: '°C' });
    assert.equal(out.flags, null);
    const raw = run(NESTED);
    assert.ok(raw.ok);
    for (const rec of [raw.point.fields, raw.point.tags, raw.units]) {
      // no Object.prototype in the chain: nothing inherited, no __proto__ accessor
      assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(rec)), null);
      assert.equal('hasOwnProperty' in rec || 'constructor' in rec || '__proto__' in rec, false);
      // the single inherited name, so Node-RED's deep clone does not take lodash's throwing host-object probe
      assert.equal(typeof rec.toString, 'function');
      assert.equal(Object.keys(rec).includes('toString'), false);
    }
    const copy = require('lodash.clonedeep')(raw.point);
    assert.deepEqual(JSON.parse(JSON.stringify(copy)), JSON.parse(JSON.stringify(raw.point)));
  });

  it('lets a field named toString be an own value', () => {
    const r = run('{"device_id":"d","toString":5,"ts":"2025-11-17T10:30:00Z"}');
    assert.ok(r.ok);
    assert.equal(r.point.fields.toString, 5);
    assert.deepEqual(Object.keys(r.point.fields), ['toString']);
  });

  it('flattens the flat seed format from a Buffer, honouring the offset', () => {
    const out = ok(run(Buffer.from(JSON.stringify(FLAT))));
    assert.deepEqual(out.point.fields, { temperature: 25.3, humidity: 60.5, vibration: 0.12, sound: 45.8 });
    assert.deepEqual(out.point.tags, { device_id: 'sensor_001' });
    assert.equal(out.point.timestamp, Date.UTC(2025, 10, 17, 1, 30, 0));
  });

  it('indexes unnamed arrays, uses the configured separator, measurement and tag keys', () => {
    const out = ok(
      run(
        { ...NESTED, equipment_id: 'line-2', tenant: 't1' },
        { separator: '.', measurement: 'pumps', tagKeys: ['equipment_id', 'tenant'] }
      )
    );
    assert.equal(out.point.measurement, 'pumps');
    assert.deepEqual(out.point.tags, { device_id: 'pump-7', equipment_id: 'line-2', tenant: 't1' });
    assert.deepEqual(Object.keys(out.point.fields), [
      'motor.temperature',
      'motor.current',
      'bearing.vibration.rms',
      'accel.0',
      'accel.1',
      'accel.2',
    ]);
  });

  it('keeps booleans, drops strings and nulls unless asked, coerces numeric strings on request', () => {
    const input = { device_id: 'd', running: true, mode: 'auto', rpm: '1450', spare: null, temp: 20 };
    assert.deepEqual(ok(run(input)).point.fields, { running: true, temp: 20 });
    assert.deepEqual(ok(run(input, { keepBooleans: false, keepStrings: true })).point.fields, {
      mode: 'auto',
      rpm: '1450',
      temp: 20,
    });
    assert.deepEqual(ok(run(input, { coerceNumericStrings: true })).point.fields, {
      running: true,
      rpm: 1450,
      temp: 20,
    });
    assert.equal(rejected(run({ device_id: 'd', x: '1e999' }, { coerceNumericStrings: true })).code, 'bad_number');
    // decimal numbers only: hex, binary and octal literals and padded text stay strings (kept or dropped)
    const texts = { device_id: 'd', a: '0x10', b: '0b11', c: '0o7', d: ' 12', e: '12 ', g: '.', h: '-' };
    const nums = { n1: '-3.5', n2: '+.5', n3: '7.', n4: '1e-3', n5: '-0', n6: '00012' };
    assert.deepEqual(ok(run({ ...texts, ...nums }, { coerceNumericStrings: true, keepStrings: true })).point.fields, {
      a: '0x10',
      b: '0b11',
      c: '0o7',
      d: ' 12',
      e: '12 ',
      g: '.',
      h: '-',
      n1: -3.5,
      n2: 0.5,
      n3: 7,
      n4: 0.001,
      n5: -0,
      n6: 12,
    });
  });

  it('flattens other keys next to a collapsed {value, unit}', () => {
    const out = ok(run({ device_id: 'd', t: { value: 5, unit: 'bar', quality: 0.9 }, u: { value: { a: 1 } } }));
    assert.deepEqual(out.point.fields, { t: 5, t_quality: 0.9, u_value_a: 1 });
    assert.deepEqual(out.units, { t: 'bar' });
  });

  describe('device id', () => {
    it('falls back to the authenticated id, then the topic pattern, with topic tags', () => {
      const body = { temperature: 20 };
      assert.equal(ok(run(body, {}, { deviceId: 'pump-9' })).point.tags.device_id, 'pump-9');
      const out = ok(
        run(body, { topicPattern: 'factory/+site/+device_id/telemetry' }, { topic: 'factory/busan/pump-3/telemetry' })
      );
      assert.deepEqual(out.point.tags, { site: 'busan', device_id: 'pump-3' });
      assert.equal(
        rejected(
          run(body, { topicPattern: 'factory/+site/+device_id/telemetry' }, { topic: 'other/busan/pump-3/telemetry' })
        ).code,
        'missing_device'
      );
      assert.equal(
        ok(run(body, { topicPattern: 'factory/+/+device_id/#' }, { topic: 'factory/x/pump-4/a/b' })).point.tags
          .device_id,
        'pump-4'
      );
    });

    it('rejects missing or contradicting device ids', () => {
      assert.equal(rejected(run({ temperature: 20 })).code, 'missing_device');
      assert.equal(rejected(run({ device_id: '', temperature: 20 })).code, 'missing_device');
      const r = rejected(run(NESTED, {}, { deviceId: 'pump-8' }));
      assert.equal(r.code, 'device_mismatch');
      assert.equal(r.device_id, 'pump-8');
      assert.equal(
        rejected(run(NESTED, { topicPattern: '+device_id/t' }, { topic: 'pump-1/t' })).code,
        'device_mismatch'
      );
    });
  });

  describe('timestamps', () => {
    it('uses receive time when the payload has none or when configured', () => {
      assert.equal(ok(run({ device_id: 'd', v: 1 })).point.timestamp, NOW);
      assert.equal(ok(run(NESTED, { timeSource: 'receive' })).point.timestamp, NOW);
      assert.equal(rejected(run({ device_id: 'd', v: 1 }, { requireTimestamp: true })).code, 'bad_timestamp');
    });
    it('accepts epoch numbers and prefers ts over timestamp over time', () => {
      assert.equal(
        ok(run({ device_id: 'd', v: 1, time: 1, timestamp: NOW - 5000, ts: (NOW - 1000) * 1000 })).point.timestamp,
        NOW - 1000
      );
    });
    it('rejects unreadable and future timestamps, naming the field', () => {
      const r = rejected(run({ device_id: 'd', v: 1, timestamp: 'yesterday' }));
      assert.deepEqual([r.code, r.field, r.device_id], ['bad_timestamp', 'timestamp', 'd']);
      assert.equal(rejected(run({ device_id: 'd', v: 1, ts: NOW + 3_600_000 })).code, 'future_timestamp');
      assert.equal(
        ok(run({ device_id: 'd', v: 1, ts: NOW + 3_600_000 }, { timestamp: { maxFutureMs: 7_200_000 } })).point
          .timestamp,
        NOW + 3_600_000
      );
    });
  });

  describe('hostile input', () => {
    const cases: Array<[string, unknown, NormalizeOptions, string]> = [
      ['malformed_json', '{"device_id":', {}, 'malformed_json'],
      ['not an object', '[1,2]', {}, 'malformed_json'],
      [
        'too_large',
        JSON.stringify({ device_id: 'd', pad: 'x'.repeat(200) }),
        { limits: { maxBytes: 100 } },
        'too_large',
      ],
      ['too_deep', { device_id: 'd', a: { b: { c: { d: 1 } } } }, { limits: { maxDepth: 3 } }, 'too_deep'],
      [
        'too_deep in components',
        { device_id: 'd', components: { m: { t: 1 } } },
        { limits: { maxDepth: 2 } },
        'too_deep',
      ],
      ['too_many_keys', { device_id: 'd', a: [1, 2, 3, 4, 5] }, { limits: { maxKeys: 4 } }, 'too_many_keys'],
      ['__proto__', '{"device_id":"d","a":{"__proto__":{"polluted":1}}}', {}, 'forbidden_key'],
      ['constructor', '{"device_id":"d","constructor":{"prototype":{"x":1}}}', {}, 'forbidden_key'],
      ['prototype in a component', '{"device_id":"d","components":{"prototype":{"x":1}}}', {}, 'forbidden_key'],
      ['NaN', { device_id: 'd', v: NaN }, {}, 'bad_number'],
      ['Infinity in an array', { device_id: 'd', v: [1, Infinity] }, {}, 'bad_number'],
      ['object as tag', { device_id: 'd', v: 1, tenant: { a: 1 } }, { tagKeys: ['tenant'] }, 'bad_tag'],
      ['nothing to measure', { device_id: 'd', note: 'hello' }, {}, 'no_fields'],
    ];
    for (const [what, input, opts, expected] of cases) {
      it(`rejects ${what} as ${expected}`, () => assert.equal(rejected(run(input, opts)).code, expected));
    }
    it('names the field of a forbidden key and never pollutes prototypes', () => {
      assert.equal(
        rejected(run('{"device_id":"d","components":{"motor":{"__proto__":{"x":1}}}}')).field,
        'motor___proto__'
      );
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    });
    it('cannot be tricked into a __proto__ field by composing names', () => {
      const r = rejected(run({ device_id: 'd', _: { proto__: 1 } }));
      assert.deepEqual([r.code, r.field], ['forbidden_key', '__proto__']);
    });
  });

  describe('names the database keeps for itself', () => {
    it('rejects a device field starting with "_" or named "time", naming the field (it cost the database requests)', () => {
      for (const [input, field] of [
        [{ device_id: 'd', _start: 1, ok: 2 }, '_start'],
        [{ device_id: 'd', _measurement: 1 }, '_measurement'],
        [{ device_id: 'd', components: { _field: { x: 1 } } }, '_field_x'],
        [{ device_id: 'd', components: { time: 5 } }, 'time'],
      ] as const) {
        const r = rejected(run(input, {}, { deviceId: 'd' }));
        assert.deepEqual([r.code, r.field], ['reserved_name', field]);
        assert.match(r.reason, /is reserved: InfluxDB keeps names starting with "_" and the name "time"/);
      }
      // "_" inside a name, "time" as a part of one, and a top-level "time" (the timestamp) stay fine
      assert.deepEqual(ok(run({ device_id: 'd', a_b: 1, x: { _y: 2 }, time_s: 3, time: NOW })).point.fields, {
        a_b: 1,
        x__y: 2,
        time_s: 3,
      });
    });
    it('refuses reserved tag keys and measurements in the configuration at deploy', () => {
      assert.throws(() => new Normalizer({ tagKeys: ['_field'] }), /tag key "_field" is reserved/);
      assert.throws(() => new Normalizer({ tagKeys: ['time'] }), /tag key "time" is reserved/);
      assert.throws(
        () => new Normalizer({ topicPattern: 'f/+_site/+device_id' }),
        /"\+_site" names a reserved tag key/
      );
      assert.throws(() => new Normalizer({ measurement: '_m' }), /measurement "_m" is reserved/);
    });
  });

  describe('fields named like a tag of the point', () => {
    // a tag and a field of one name in one measurement: a column conflict in InfluxDB 3, and the field shadows
    // the tag in Flux pivots and InfluxQL/Grafana (security test 2026-12-05: device_id=5 and equipment_id=5
    // written as fields next to the tags)
    const expectClash = (r: NormalizeResult, field: string) => {
      const j = rejected(r);
      assert.deepEqual([j.code, j.field], ['tag_field_clash', field]);
      assert.ok(j.reason.includes(`"${field}"`), j.reason);
      assert.match(j.reason, /is a tag key of the point/);
      return j;
    };
    it('refuses the whole message when a joined field name is the device_id tag', () => {
      expectClash(run({ device_id: 'evil', device: { id: 5 }, ok: 1 }, {}, { deviceId: 'evil' }), 'device_id');
      expectClash(run({ device_id: 'd', components: { device: { id: 5 } } }), 'device_id');
      expectClash(run({ device_id: 'd', device: { id: { value: 5, unit: 'V' } } }), 'device_id');
      expectClash(run({ device_id: 'd', device: [5] }, { arrays: { device: ['id'] } }), 'device_id');
      expectClash(run({ device_id: 'd', device: { id: 'x' } }, { keepStrings: true }), 'device_id');
      // with another device id key, a top-level "device_id" is a field like any other: still the tag's name
      expectClash(run({ serial: 'd', device_id: 5 }, { deviceIdKey: 'serial' }), 'device_id');
    });
    it('refuses a field named like a configured tag key, whether or not this message carries the tag', () => {
      const opts: NormalizeOptions = { tagKeys: ['equipment_id', 'location'] };
      expectClash(run({ device_id: 'd', equipment_id: 'x', equipment: { id: 5 } }, opts), 'equipment_id');
      expectClash(run({ device_id: 'd', equipment: { id: 5 } }, opts), 'equipment_id');
      expectClash(run({ device_id: 'd', components: { location: 3 } }, opts), 'location');
    });
    it('refuses a field named like a topic tag or the tenant tag the node adds from verification', () => {
      const opts: NormalizeOptions = { topicPattern: 'f/+site/+device_id' };
      expectClash(run({ site: 3 }, opts, { topic: 'f/busan/d' }), 'site');
      expectClash(run({ device_id: 'd', site: 3 }, opts), 'site'); // a topic that does not match: same measurement
      expectClash(run({ device_id: 'd', tenant: 1 }), 'tenant');
    });
    it('keeps names that only contain a tag key, and tag keys used as tags', () => {
      const out = ok(
        run(
          { device_id: 'd', equipment_id: 'x', equipment_id_x: 1, device: { id_x: 2 }, tenant_count: 3 },
          { tagKeys: ['equipment_id'] }
        )
      );
      assert.deepEqual(out.point.tags, { equipment_id: 'x', device_id: 'd' });
      assert.deepEqual(out.point.fields, { equipment_id_x: 1, device_id_x: 2, tenant_count: 3 });
      // another separator joins to another name
      assert.deepEqual(ok(run({ device_id: 'd', device: { id: 5 } }, { separator: '.' })).point.fields, {
        'device.id': 5,
      });
    });
  });

  describe('blank tag values', () => {
    it('refuses a tag value of only spaces like an empty one, naming the tag', () => {
      const opts: NormalizeOptions = { tagKeys: ['equipment_id'] };
      for (const v of [' ', '   ']) {
        const r = rejected(run({ device_id: 'd', equipment_id: v, t: 1 }, opts));
        assert.deepEqual([r.code, r.field], ['bad_tag_value', 'equipment_id']);
        assert.match(r.reason, /tag "equipment_id" value ".*" is only spaces/);
      }
      const empty = rejected(run({ device_id: 'd', equipment_id: '', t: 1 }, opts));
      assert.deepEqual([empty.code, empty.field], ['bad_tag_value', 'equipment_id']);
      // spaces inside a value stay allowed
      assert.equal(ok(run({ device_id: 'd', equipment_id: 'Hall 3', t: 1 }, opts)).point.tags.equipment_id, 'Hall 3');
    });
    it('refuses a tag, hw or topic value that starts or ends with a space (a second series beside the real one)', () => {
      const opts: NormalizeOptions = { tagKeys: ['equipment_id'] };
      for (const v of [' pump-1', 'pump-1 ', ' pump-1 ']) {
        const r = rejected(run({ device_id: 'd', equipment_id: v, t: 1 }, opts));
        assert.deepEqual([r.code, r.field], ['bad_tag_value', 'equipment_id']);
        assert.match(r.reason, /starts or ends with a space/);
        const h = rejected(run({ device_id: 'd', hw: v, t: 1 }, opts));
        assert.deepEqual([h.code, h.field], ['bad_tag_value', 'hw']);
        const c = rejected(run({ device_id: 'd', t: 1, components: { motor: { hw: v, current: 1 } } }, opts));
        assert.equal(c.code, 'bad_tag_value');
        assert.match(c.reason, /of component .*motor.* starts or ends with a space/);
        const topic = rejected(run({ t: 1 }, { topicPattern: 'f/+site/+device_id' }, { topic: `f/${v}/d` }));
        assert.deepEqual([topic.code, topic.field], ['bad_tag_value', 'topic.site']);
      }
      ok(run({ device_id: 'd', hw: 'rev 2', equipment_id: 'Hall 3', t: 1 }, opts)); // spaces inside stay allowed
    });
    it('refuses a topic tag level of only spaces (an empty level names nothing and is skipped)', () => {
      const opts: NormalizeOptions = { topicPattern: 'f/+site/+device_id' };
      const r = rejected(run({ t: 1 }, opts, { topic: 'f/ /d' }));
      assert.deepEqual([r.code, r.field], ['bad_tag_value', 'topic.site']);
      assert.match(r.reason, /only spaces/);
      assert.deepEqual(ok(run({ t: 1 }, opts, { topic: 'f//d' })).point.tags, { device_id: 'd' });
    });
  });

  describe('fields per point', () => {
    const many = (n: number) => {
      const o: Record<string, unknown> = { device_id: 'd' };
      for (let i = 0; i < n; i++) o[`f${i}`] = i;
      return o;
    };
    it('refuses more fields than the InfluxDB writer takes per point, naming the limit', () => {
      const limit = DEFAULT_LINE_LIMITS.maxFields;
      const okPoint = ok(run(many(limit))).point;
      assert.equal(Object.keys(okPoint.fields).length, limit);
      assert.ok('line' in pointToLine(okPoint), 'the writer takes what normalize passes');
      const r = rejected(run(many(limit + 1), {}, { deviceId: 'd' }));
      assert.equal(r.code, 'too_many_fields');
      assert.match(r.reason, new RegExp(`more than ${limit} fields`));
      assert.match(r.reason, /InfluxDB writer/);
      // 300 fields, under the default 500 keys: passed normalize and was then dropped by the writer
      assert.equal(rejected(run(many(300))).code, 'too_many_fields');
      // nested and array fields count the same
      assert.equal(
        rejected(run({ device_id: 'd', a: Array.from({ length: limit + 1 }, (_, i) => i) })).code,
        'too_many_fields'
      );
    });
    it('refuses two keys that flatten to one field name, naming it (before: the later value replaced the earlier without a trace)', () => {
      const r = rejected(run({ device_id: 'd', a_b: 1, a: { b: 2 } }, {}, { deviceId: 'd' }));
      assert.equal(r.code, 'duplicate_field');
      assert.equal(r.field, 'a_b');
      assert.match(r.reason, /two keys of the payload flatten to the field name "a_b" \(with the separator "_"\)/);
      // a component's field beside a top-level one of the joined name, in either order
      assert.equal(rejected(run({ device_id: 'd', components: { m: { t: 1 } }, m_t: 5 })).code, 'duplicate_field');
      assert.equal(rejected(run({ device_id: 'd', m_t: 5, components: { m: { t: 1 } } })).code, 'duplicate_field');
      // another separator makes them two fields; {value, unit} is one field, as before
      assert.deepEqual(ok(run({ device_id: 'd', a_b: 1, a: { b: 2 } }, { separator: '.' })).point.fields, {
        a_b: 1,
        'a.b': 2,
      });
      assert.deepEqual(ok(run({ device_id: 'd', t: { value: 3, unit: 'C' } })).point.fields, { t: 3 });
    });
    it('takes another bound from maxFields (raised for points that only go to an anomaly node)', () => {
      const r = rejected(run(many(11), { maxFields: 10 }));
      assert.equal(r.code, 'too_many_fields');
      assert.match(r.reason, /more than 10 fields .*at most 256/);
      assert.equal(Object.keys(ok(run(many(490), { maxFields: 500 })).point.fields).length, 490);
    });
  });

  describe('registry', () => {
    const opts: NormalizeOptions = { registry: REGISTRY };
    it('takes units from the registry and accepts known components', () => {
      const out = ok(run(NESTED, opts));
      assert.deepEqual(out.units, { motor_temperature: '°C', motor_current: 'A', bearing_vibration_rms: 'g' });
    });
    it('rejects unknown components, hardware mismatches and out-of-range values', () => {
      const unknown = rejected(run({ ...NESTED, components: { ...NESTED.components, pump: { flow: 3 } } }, opts));
      assert.deepEqual([unknown.code, unknown.field, unknown.device_id], ['unknown_component', 'pump', 'pump-7']);
      assert.equal(rejected(run({ ...NESTED, hw: 'rev1' }, opts)).code, 'hw_mismatch');
      const { hw: _hw, ...noHw } = NESTED;
      assert.equal(rejected(run(noHw, opts)).code, 'hw_mismatch');
      assert.equal(
        ok(run({ ...noHw, components: { ...NESTED.components, motor: { hw: 'rev2', current: 1 } } }, opts)).point.fields
          .motor_current,
        1
      );
      const hot = rejected(run({ ...NESTED, components: { ...NESTED.components, motor: { temperature: 151 } } }, opts));
      assert.deepEqual([hot.code, hot.field], ['out_of_range', 'motor_temperature']);
      assert.equal(
        rejected(run({ ...NESTED, components: { motor: { temperature: { value: 160, unit: '°F' } } } }, opts)).code,
        'unit_mismatch'
      );
    });
    it('flag mode keeps the point and lists every violation', () => {
      const out = ok(
        run(
          { ...NESTED, hw: 'rev1', components: { ...NESTED.components, motor: { current: 99 }, pump: { flow: 3 } } },
          { ...opts, onViolation: 'flag' }
        )
      );
      assert.deepEqual(out.flags!.map((f) => `${f.code}:${f.field}`).sort(), [
        'hw_mismatch:motor',
        'out_of_range:motor_current',
        'unknown_component:pump',
      ]);
      assert.equal(out.point.fields.motor_current, 99);
    });
    it('refuses a registry compiled for another separator', () => {
      assert.throws(() => new Normalizer({ registry: REGISTRY, separator: '.' }), /separator/);
    });
  });

  describe('JSON Schema', () => {
    const schema = { type: 'object', required: ['device_id', 'ts'], properties: { hw: { enum: ['rev2', 'rev3'] } } };
    it('validates the raw payload with a schema compiled once', () => {
      const n = new Normalizer({ schema });
      assert.ok(n.normalize(NESTED, { now: NOW }).ok);
      const r = rejected(n.normalize({ ...NESTED, hw: 'rev9' }, { now: NOW }));
      assert.equal(r.code, 'schema');
      assert.equal(r.field, 'hw');
      assert.match(
        rejected(n.normalize({ device_id: 'd', v: 1 }, { now: NOW })).reason,
        /must have required property 'ts'/
      );
    });
    it('throws at construction when the schema itself is invalid', () => {
      assert.throws(() => new Normalizer({ schema: { type: 'nonsense' } }));
    });
  });

  it('names array items as configured, indexes extra items and flattens arrays of objects', () => {
    const out = ok(
      run(
        { device_id: 'd', accel: [1, 2, 3, 4], wheels: [{ rpm: 10 }, { rpm: 11, ok: true }] },
        { arrays: { accel: ['x', 'y', 'z'] } }
      )
    );
    assert.deepEqual(out.point.fields, {
      accel_x: 1,
      accel_y: 2,
      accel_z: 3,
      accel_3: 4,
      wheels_0_rpm: 10,
      wheels_1_rpm: 11,
      wheels_1_ok: true,
    });
  });

  it('never throws and never pollutes prototypes on random hostile structures', () => {
    // deterministic xorshift PRNG so a failure reproduces
    let seed = 0x9e3779b9;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const KEYS = [
      'device_id',
      'ts',
      'hw',
      'components',
      'value',
      'unit',
      'a',
      'b',
      '__proto__',
      'constructor',
      'prototype',
      '_',
      'proto__',
      'x',
    ];
    const leaf = (): unknown =>
      [
        () => rnd() * 1e6,
        () => NaN,
        () => Infinity,
        () => 'text',
        () => '12.5',
        () => null,
        () => true,
        () => 1.7e12,
        () => '2025-11-17T10:30:00Z',
      ][Math.floor(rnd() * 9)]();
    const build = (depth: number): unknown => {
      if (depth > 10 || rnd() < 0.3) return leaf();
      if (rnd() < 0.3) return Array.from({ length: Math.floor(rnd() * 4) }, () => build(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 5); i > 0; i--)
        Object.defineProperty(o, KEYS[Math.floor(rnd() * KEYS.length)], {
          value: build(depth + 1),
          enumerable: true,
          configurable: true,
          writable: true,
        });
      return o;
    };
    const known = new Set([
      'malformed_json',
      'too_large',
      'too_deep',
      'too_many_keys',
      'forbidden_key',
      'bad_number',
      'bad_tag',
      'bad_timestamp',
      'future_timestamp',
      'missing_device',
      'device_mismatch',
      'no_fields',
      'unknown_component',
      'hw_mismatch',
      'out_of_range',
      'bad_type',
      'unit_mismatch',
      'reserved_name', // a generated key starting with "_": a name the database keeps for itself
    ]);
    const n = new Normalizer({
      registry: REGISTRY,
      coerceNumericStrings: true,
      keepStrings: true,
      arrays: { a: ['x'] },
      limits: { maxKeys: 60 },
    });
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const value = build(0);
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch {
        /* circular cannot happen, but stay safe */
      }
      for (const input of [value, text]) {
        if (input === undefined) continue;
        const r = n.normalize(input, { now: NOW, deviceId: rnd() < 0.5 ? 'd' : undefined });
        if (r.ok) accepted++;
        else assert.ok(known.has(r.reject.code), `unexpected code ${r.reject.code}`);
      }
    }
    assert.ok(accepted > 0, 'some random inputs are valid');
    assert.equal(Object.getOwnPropertyNames(Object.prototype).includes('x'), false);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('a Normalizer instance gives independent results across calls', () => {
    const n = new Normalizer();
    const a = n.normalize({ device_id: 'a', x: 1 }, { now: NOW });
    const b = n.normalize({ device_id: 'b', y: 2 }, { now: NOW });
    assert.ok(a.ok && b.ok);
    assert.deepEqual({ ...a.point.fields }, { x: 1 });
    assert.deepEqual({ ...b.point.fields }, { y: 2 });
  });
});
