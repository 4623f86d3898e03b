import assert from 'node:assert/strict';
import { checkField, compileRegistry, parseRegistry, RegistryError } from '../../../../nodes/core/normalize/registry';

const DOC = {
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
  fields: { temperature: { unit: '°C', min: -40, max: 125 }, running: { type: 'bool' } },
};

describe('component registry', () => {
  it('compiles field specs under flat names for the separator in use', () => {
    const r = compileRegistry(DOC, '_');
    assert.equal(r.hasComponents, true);
    assert.deepEqual([...r.fields.keys()].sort(), [
      'bearing_vibration_rms',
      'motor_current',
      'motor_temperature',
      'running',
      'temperature',
    ]);
    assert.deepEqual([...r.components.get('motor')!.hw!], ['rev2', 'rev3']);
    assert.equal(r.components.get('bearing')!.hw, null);
    assert.ok(compileRegistry(DOC, '.').fields.has('bearing.vibration.rms'));
  });

  it('refuses malformed registries with a message that says where', () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /JSON object/],
      [{ componets: {} }, /unknown top-level property "componets"/],
      [{ components: { motor: { hw: 'rev3' } } }, /motor.*hw must be an array/],
      [{ components: { motor: { fields: { t: { min: 10, max: 1 } } } } }, /min > max/],
      [{ components: { motor: { fields: { t: { type: 'double' } } } } }, /type must be one of/],
      [{ components: { motor: { fields: { t: { mni: 1 } } } } }, /unknown property "mni"/],
      [JSON.parse('{"components":{"__proto__":{}}}'), /invalid name "__proto__"/],
      [{ fields: { 'a.constructor': {} } }, /invalid name "constructor"/],
      [{ components: { a: { fields: { b: {} } } }, fields: { a_b: {} } }, /defined twice/],
    ];
    for (const [doc, re] of bad)
      assert.throws(
        () => compileRegistry(doc),
        (e: Error) => e instanceof RegistryError && re.test(e.message),
        JSON.stringify(doc)
      );
    assert.throws(() => parseRegistry('{"components":'), /not valid JSON/);
  });

  it('checks values against type and physical range', () => {
    const spec = { unit: '°C', type: 'float' as const, min: -40, max: 150 };
    assert.equal(checkField(spec, 71.2), null);
    assert.equal(checkField(spec, -40), null);
    assert.equal(checkField(spec, 150.5)?.[0], 'out_of_range');
    assert.match(checkField(spec, -41)![1], /below the physical minimum -40 °C/);
    assert.equal(checkField(spec, 'hot')?.[0], 'bad_type');
    assert.equal(checkField({ type: 'int' }, 3.5)?.[0], 'bad_type');
    assert.equal(checkField({ type: 'int', max: 3 }, 4)?.[0], 'out_of_range');
    assert.equal(checkField({ type: 'bool' }, 1)?.[0], 'bad_type');
    assert.equal(checkField({ type: 'bool' }, true), null);
    assert.equal(checkField({ min: 0 }, 'text'), null, 'untyped specs only range-check numbers');
  });
});
