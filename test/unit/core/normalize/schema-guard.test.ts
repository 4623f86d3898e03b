// The schema churn guard: new tag sets and field names per device spend from token buckets; known ones pass.
import assert from 'node:assert/strict';
import { SchemaGuard, SCHEMA_GUARD_DEFAULTS } from '../../../../nodes/core/normalize/schema-guard';
import { Normalizer } from '../../../../nodes/core/normalize/normalize';
import type { Point } from '../../../../nodes/core/contract';
import { MachineModel, telemetryBody, deviceIdFor } from '../../../../bin/lib/sim-model';
import { DEFAULT_SIM } from '../../../../bin/lib/simulator';

const HOUR = 3_600_000;

function point(device: string, fields: string[], tags: Record<string, string> = {}, measurement = 'telemetry'): Point {
  const f: Record<string, number> = {};
  for (const name of fields) f[name] = 1;
  return { measurement, tags: { device_id: device, ...tags }, fields: f, timestamp: 0 };
}

const names = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

describe('schema churn guard', () => {
  let t = 0;
  const now = () => t;
  beforeEach(() => {
    t = 0;
  });

  it('passes known tag sets and fields without spending; a new location spends one tag-set token', () => {
    const g = new SchemaGuard({ now, tagSetBurst: 2, tagSetsPerHour: 0 });
    assert.equal(g.check(point('d1', ['a', 'b'], { location: 'hall-1' })), null, 'first tag set: 1 of 2');
    for (let i = 0; i < 100; i++) assert.equal(g.check(point('d1', ['a', 'b'], { location: 'hall-1' })), null);
    assert.equal(g.check(point('d1', ['a'], { location: 'hall-2' })), null, 'second tag set: 2 of 2');
    const r = g.check(point('d1', ['a'], { location: 'hall-3' }));
    assert.ok(r, 'third new tag set refused');
    assert.equal(r.reject.code, 'schema_churn');
    assert.equal(r.reject.device_id, 'd1');
    assert.equal(r.reject.field, 'location');
    assert.match(r.reject.reason, /device "d1" sends new tag location="hall-3"/);
    assert.equal(r.first, true);
    assert.equal(g.check(point('d1', ['a'], { location: 'hall-4' }))?.first, false, 'one log line per episode');
    // the device's known data is never locked out
    assert.equal(g.check(point('d1', ['a', 'b'], { location: 'hall-1' })), null);
    assert.equal(g.check(point('d1', ['b'], { location: 'hall-2' })), null);
    assert.equal(g.refused, 2);
  });

  it('charges one token per new field name: a 200-field first message passes, 20 new names a message are stopped', () => {
    const g = new SchemaGuard({ now }); // defaults: 1000 names at once, then 120 per hour
    assert.equal(g.check(point('big', names('f', 200))), null, 'a 200-field first message');
    let passed = 0;
    let refusedAt = -1;
    for (let m = 0; m < 100; m++) {
      const r = g.check(point('attacker', names('x', 20, m * 20)));
      if (r === null) passed++;
      else if (refusedAt < 0) {
        refusedAt = m;
        assert.equal(r.reject.field, `x${m * 20}`);
        assert.match(r.reject.reason, /new field "x\d+" and 19 more, over its budget of 1000 new field names/);
      }
    }
    assert.equal(passed, 50, '1000 names / 20 per message');
    assert.equal(refusedAt, 50);
    assert.equal(g.sizesOf('attacker')!.fields, 1000, 'refused names are not remembered');
    // known names still pass
    assert.equal(g.check(point('attacker', ['x0', 'x999'])), null);
  });

  it('a refused message spends nothing: its new tag set is not charged when its names are over', () => {
    const g = new SchemaGuard({ now, tagSetBurst: 1, fieldBurst: 2, tagSetsPerHour: 0, fieldsPerHour: 0 });
    assert.ok(g.check(point('d', ['a', 'b', 'c'])), '3 new names > 2');
    assert.equal(g.check(point('d', ['a', 'b'])), null, 'the tag-set token was given back');
  });

  it('remembers at least a burst of names per device, so the largest allowed message is never charged twice', () => {
    const g = new SchemaGuard({ now, fieldBurst: 300, maxFields: 100, fieldsPerHour: 0 });
    const wide = names('w', 250);
    assert.equal(g.check(point('d', wide)), null);
    for (let i = 0; i < 10; i++) assert.equal(g.check(point('d', wide)), null, 'the same 250 names are known');
    assert.equal(g.sizesOf('d')!.fields, 250);
  });

  it('refills with time (injected clock)', () => {
    const g = new SchemaGuard({ now, tagSetBurst: 1, tagSetsPerHour: 10, fieldBurst: 10, fieldsPerHour: 60 });
    assert.equal(g.check(point('d', names('f', 10), { loc: 'a' })), null);
    assert.ok(g.check(point('d', ['g0'], { loc: 'a' })), 'names spent');
    assert.ok(g.check(point('d', ['f0'], { loc: 'b' })), 'tag sets spent');
    t += 59_999;
    assert.ok(g.check(point('d', ['g0'], { loc: 'a' })), 'not yet a minute');
    t += 1;
    assert.equal(g.check(point('d', ['g0'], { loc: 'a' })), null, 'one name a minute');
    t += HOUR / 10 - 60_000 - 1;
    assert.ok(g.check(point('d', ['f0'], { loc: 'b' })));
    t += 1;
    assert.equal(g.check(point('d', ['f0'], { loc: 'b' })), null, 'one tag set every 6 minutes');
  });

  it('keeps devices apart: one device churning does not spend another device`s budget', () => {
    const g = new SchemaGuard({ now, tagSetBurst: 3, tagSetsPerHour: 0 });
    for (let i = 0; i < 10; i++) g.check(point('churner', ['a'], { location: `l${i}` }));
    assert.ok(g.check(point('churner', ['a'], { location: 'l99' })));
    for (let i = 0; i < 3; i++) assert.equal(g.check(point('calm', ['a'], { location: `l${i}` })), null);
    // the same device id in another tenant is another device
    assert.equal(g.check(point('churner', ['a'], { location: 'l99' }), 't2'), null);
  });

  it('measurement and sorted tags make the signature; tag order does not matter', () => {
    const g = new SchemaGuard({ now, tagSetBurst: 2, tagSetsPerHour: 0 });
    assert.equal(g.check(point('d', ['a'], { a: '1', b: '2' })), null);
    assert.equal(
      g.check({ measurement: 'telemetry', tags: { b: '2', device_id: 'd', a: '1' }, fields: { a: 1 }, timestamp: 0 }),
      null
    );
    assert.equal(g.check(point('d', ['a'], { a: '1', b: '2' }, 'other')), null, 'another measurement: new');
    const r = g.check(point('d', ['a'], { a: '1' }));
    assert.ok(r, 'dropping a tag is a new series too');
    assert.match(r.reject.reason, /no tag b/);
  });

  it('forgets the least recently used tag sets and names per device, keeping the ones in use', () => {
    const g = new SchemaGuard({ now, maxTagSets: 4, maxFields: 32, fieldBurst: 32, tagSetsPerHour: 0 });
    for (let i = 0; i < 10; i++) {
      assert.equal(g.check(point('d', ['steady', `n${i}`], { loc: `l${i}` })), null);
      assert.equal(g.check(point('d', ['steady'], { loc: 'home' })), null);
    }
    for (let i = 0; i < 100; i++) {
      t += HOUR; // the name bucket is full again: only the memory bound decides what is kept
      assert.equal(g.check(point('d', ['steady', ...names('m', 5, i * 5)])), null);
    }
    const sizes = g.sizesOf('d')!;
    assert.equal(sizes.tagSets, 4);
    // the names grow to the bound, then start over from the message in hand
    assert.ok(sizes.fields <= 32 && sizes.fields >= 6, `fields ${sizes.fields}`);
    const spentBefore = g.refused;
    assert.equal(g.check(point('d', ['steady'], { loc: 'home' })), null, 'the tag set in use is kept');
    assert.equal(g.refused, spentBefore);
  });

  it('bounds devices and entries across 100k churning devices, evicting the least recently active', () => {
    const g = new SchemaGuard({ now, maxDevices: 1000, maxEntries: 20_000 });
    for (let i = 0; i < 100_000; i++) {
      t += 1;
      g.check(point(`dev-${i}`, names('f', 30), { location: `l${i}` }));
      if (i % 7 === 0) g.check(point('steady', ['temperature'], { location: 'hall' }));
    }
    assert.ok(g.size <= 1000, `devices ${g.size}`);
    assert.ok(g.entries <= 20_000, `entries ${g.entries}`);
    assert.ok(g.evictions >= 99_000);
    assert.ok(g.sizesOf('steady'), 'an active device is not the one evicted');
    assert.equal(g.sizesOf('dev-0'), null, 'the least recently active is');
    // entries: every device's tag sets + the names of the distinct name sets: one of 30 names shared by every
    // dev-*, one of 1 for steady (an evicted device's set goes with its last holder)
    assert.equal(g.nameSetCount, 2);
    let held = 0;
    for (let i = 99_000; i < 100_000; i++) held += g.sizesOf(`dev-${i}`)?.tagSets ?? 0;
    held += g.sizesOf('steady')!.tagSets;
    assert.equal(held + 30 + 1, g.entries);
  });

  it('the defaults keep a fleet of 100k devices (none forgotten, so none gets a fresh burst) in one name set per firmware', () => {
    const g = new SchemaGuard({ now });
    assert.equal(SCHEMA_GUARD_DEFAULTS.maxDevices, 100_000, "device health's fleet bound");
    for (let i = 0; i < 100_000; i++) g.check(point(`dev-${i}`, names('f', 20, i % 50), { location: `l${i % 3}` }));
    assert.equal(g.size, 100_000);
    assert.equal(g.evictions, 0);
    // 50 firmwares (name offsets): 50 shared sets of 20 names, not 100,000 copies
    assert.equal(g.nameSetCount, 50);
    assert.equal(g.entries, 100_000 + 50 * 20);
    assert.ok(g.entries <= SCHEMA_GUARD_DEFAULTS.maxEntries);
    // the 100,001st device evicts the least recently active one
    g.check(point('one-more', ['f0']));
    assert.equal(g.size, 100_000);
    assert.equal(g.sizesOf('dev-0'), null);
  });

  it('a device adding names gets a set of its own, shared again with every device that holds the same names', () => {
    const g = new SchemaGuard({ now, fieldsPerHour: 0 });
    for (const id of ['a', 'b', 'c']) assert.equal(g.check(point(id, ['t', 'p'])), null);
    assert.equal(g.nameSetCount, 1);
    assert.equal(g.check(point('a', ['t', 'p', 'v'])), null, 'firmware update: one new name');
    assert.equal(g.nameSetCount, 2);
    assert.deepEqual(g.sizesOf('a'), { tagSets: 1, fields: 3 });
    // every device pays for its own names: b's first v is new to b
    assert.equal(g.check(point('b', ['p', 'v', 't'])), null);
    assert.equal(g.nameSetCount, 2, 'b joins the set a made (same names, another order)');
    assert.equal(g.entries, 3 + 2 + 3, 'tag sets + the two distinct sets');
    // a subset, or another order, of known names is known
    const before = g.refused;
    assert.equal(g.check(point('a', ['v'])), null);
    assert.equal(g.check(point('a', ['v', 't', 'p'])), null);
    assert.equal(g.refused, before);
  });

  it('the simulator`s fleet never trips the defaults over a simulated hour (shipped normalize settings)', () => {
    const norm = new Normalizer({ tagKeys: ['equipment_id', 'tenant', 'location'] });
    const g = new SchemaGuard({ now });
    const fleet = Array.from({ length: DEFAULT_SIM.devices }, (_, i) => ({
      id: deviceIdFor(i),
      model: new MachineModel(i),
    }));
    const start = Date.parse('2026-01-05T08:00:00Z');
    let checked = 0;
    for (let s = 0; s < 3600; s++) {
      t = s * 1000;
      for (const d of fleet) {
        const body = telemetryBody(d.id, d.model.equipmentType, d.model.step(1), start + t);
        const r = norm.normalize(body, { deviceId: d.id, now: start + t });
        assert.ok(r.ok, JSON.stringify(!r.ok && r.reject));
        assert.equal(g.check(r.point), null);
        checked++;
      }
    }
    assert.equal(checked, DEFAULT_SIM.devices * 3600);
    assert.equal(g.refused, 0);
  });
});
