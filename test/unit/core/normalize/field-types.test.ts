import assert from 'node:assert/strict';
import type { Point } from '../../../../nodes/core/contract';
import { FieldTypes } from '../../../../nodes/core/normalize/field-types';

const T0 = Date.UTC(2026, 11, 10);
const point = (device: string, fields: Point['fields'], measurement = 'telemetry'): Point => ({
  measurement,
  tags: { device_id: device },
  fields,
  timestamp: T0,
});

describe('field types across the fleet', () => {
  it('refuses a device that sends another type for a field two devices use (the shard-rollover attack)', () => {
    const ft = new FieldTypes();
    assert.equal(ft.check(point('good-1', { temperature: 21.5 }), '', T0), null);
    assert.equal(ft.check(point('good-2', { temperature: 22.5 }), '', T0), null);
    const r = ft.check(point('attacker', { temperature: true, humidity: 50 }), '', T0 + 1);
    assert.deepEqual([r?.code, r?.device_id, r?.field], ['bad_type', 'attacker', 'temperature']);
    assert.match(r!.reason, /is boolean here but number for the fleet/);
    // the refused point pinned nothing, and the fleet keeps passing
    assert.equal(ft.check(point('good-3', { temperature: 20, humidity: 40 }), '', T0 + 2), null);
    assert.equal(ft.check(point('attacker', { temperature: 'x' }), '', T0 + 3)?.code, 'bad_type');
  });

  it('an attacker first after a restart holds the pin only until two honest devices agree', () => {
    const ft = new FieldTypes();
    assert.equal(ft.check(point('attacker', { temperature: true }), '', T0), null);
    assert.equal(ft.check(point('attacker', { temperature: true }), '', T0 + 1), null, 'one device never confirms');
    assert.equal(ft.check(point('good-1', { temperature: 21.5 }), '', T0 + 2), null, 'takes the unconfirmed pin');
    assert.equal(ft.check(point('good-2', { temperature: 22.5 }), '', T0 + 3), null, 'confirms it');
    assert.equal(ft.check(point('attacker', { temperature: true }), '', T0 + 4)?.code, 'bad_type');
  });

  it('is per tenant and measurement; a field unused for repinAfterMs takes a new type', () => {
    const ft = new FieldTypes({ repinAfterMs: 3_600_000 });
    ft.check(point('a', { door: true }), '', T0);
    ft.check(point('b', { door: true }), '', T0);
    assert.equal(ft.check(point('c', { door: 1 }, 'other'), '', T0), null, 'another measurement');
    assert.equal(ft.check(point('c', { door: 1 }), 'acme', T0), null, 'another tenant');
    assert.equal(ft.check(point('c', { door: 1 }), '', T0 + 3_600_000)?.code, 'bad_type');
    assert.equal(ft.check(point('c', { door: 1 }), '', T0 + 3_600_001), null, 'firmware changed the type');
  });

  it('is bounded: past maxEntries the least recently used pin is forgotten and counted', () => {
    const ft = new FieldTypes({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) ft.check(point('d', { [`f${i}`]: 1 }), '', T0 + i);
    assert.equal(ft.size, 3);
    assert.equal(ft.evictions, 2);
  });
});
