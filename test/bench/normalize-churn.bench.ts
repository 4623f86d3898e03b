// normalize's per-message cost with the schema churn guard on vs off, in the same run (`npm run bench --
// normalize-churn`): a steady fleet of 200 devices × 20 fields, each sending its JSON text in turn, through
// Normalizer.normalize alone (baseline) and normalize + SchemaGuard.check (what moby-normalize does with the
// guard on, its default). Rounds are interleaved and each series keeps its median, so a burst of other work on
// the shared machine hits both alike. Also: the guard's memory for 100,000 devices, and its cost while one device
// churns (every message a new tag set, refused once the burst is spent).
import { Normalizer } from '../../nodes/core/normalize/normalize';
import { SchemaGuard } from '../../nodes/core/normalize/schema-guard';
import { FieldTypes } from '../../nodes/core/normalize/field-types';
import { measureRate, printRates, heapUsedMB, fmt, type Rate } from './lib';

const DEVICES = 200;
const FIELDS = 20;
const ROUNDS = 5;
let sink = 0;

function body(d: number, seq: number): string {
  const o: Record<string, unknown> = {
    device_id: `dev-${String(d).padStart(4, '0')}`,
    equipment_id: `eq-${d % 17}`,
    location: `hall-${d % 4}`,
    ts: 1_764_000_000_000 + seq * 1000,
  };
  for (let f = 0; f < FIELDS; f++) o[`sensor_${f}`] = Math.round(((seq * 7 + f * 13) % 1000) * 1.37) / 100;
  return JSON.stringify(o);
}

// 16 messages per device (different values) so the JIT cannot specialise on one string
const TEXTS: string[] = [];
for (let s = 0; s < 16; s++) for (let d = 0; d < DEVICES; d++) TEXTS.push(body(d, s));
const IDS = Array.from({ length: DEVICES }, (_, d) => `dev-${String(d).padStart(4, '0')}`);

const opts = { tagKeys: ['equipment_id', 'location'] };
const now = 1_764_000_000_000 + 20_000;

function interleaved(series: Array<[string, (i: number) => void]>): Rate[] {
  const runs: Rate[][] = series.map(() => []);
  for (let round = 0; round < ROUNDS; round++)
    series.forEach(([name, fn], i) => runs[i].push(measureRate(name, fn, 600)));
  return runs.map((r) => [...r].sort((a, b) => a.perSec - b.perSec)[Math.floor(r.length / 2)]);
}

const off = new Normalizer(opts);
const on = new Normalizer(opts);
const guard = new SchemaGuard();
const typed = new Normalizer(opts);
const typedGuard = new SchemaGuard();
const fieldTypes = new FieldTypes();
const fixed = { now, deviceId: '' };

const rates = interleaved([
  [
    'normalize, guard off (baseline)',
    (i) => {
      const k = i % TEXTS.length;
      fixed.deviceId = IDS[k % DEVICES];
      const r = off.normalize(TEXTS[k], fixed);
      if (r.ok) sink += r.point.timestamp;
    },
  ],
  [
    'normalize + schema guard (default on)',
    (i) => {
      const k = i % TEXTS.length;
      fixed.deviceId = IDS[k % DEVICES];
      const r = on.normalize(TEXTS[k], fixed);
      if (r.ok && guard.check(r.point) === null) sink += r.point.timestamp;
    },
  ],
  [
    // what moby-normalize does since red-team round 4: one type per field across the fleet
    'normalize + schema guard + field types',
    (i) => {
      const k = i % TEXTS.length;
      fixed.deviceId = IDS[k % DEVICES];
      const r = typed.normalize(TEXTS[k], fixed);
      if (r.ok && typedGuard.check(r.point) === null && fieldTypes.check(r.point, '', now) === null)
        sink += r.point.timestamp;
    },
  ],
]);
printRates(`steady fleet: ${DEVICES} devices × ${FIELDS} fields, JSON text in`, rates, rates[0]);
const [base, guarded, withTypes] = rates;
const usTypes = 1e6 / withTypes.perSec;
const usBase = 1e6 / base.perSec;
const usGuard = 1e6 / guarded.perSec;
console.log(
  `\nper message: ${fmt(usBase, 2)} µs off, ${fmt(usGuard, 2)} µs on: +${fmt(usGuard - usBase, 2)} µs ` +
    `(${fmt(((usGuard - usBase) / usBase) * 100, 1)} %), ${guard.refused} refused`
);
console.log(
  `field types: ${fmt(usTypes, 2)} µs with guard and field types: +${fmt(usTypes - 1e6 / guarded.perSec, 2)} µs over ` +
    `the guard alone, ${fieldTypes.size} pins for ${FIELDS} fields`
);
console.log(`guard state for ${DEVICES} devices × ${FIELDS} fields: ${guard.size} devices, ${guard.entries} entries`);

// the guard alone on ready points (no JSON, no walk): its own cost per message
const points = TEXTS.slice(0, DEVICES).map((t, d) => {
  const r = off.normalize(t, { now, deviceId: IDS[d] });
  if (!r.ok) throw new Error(r.reject.reason);
  return r.point;
});
const alone = new SchemaGuard();
const churner = new SchemaGuard();
const churnPoint = { ...points[0], tags: { ...points[0].tags } };
const checkRates = interleaved([
  ['guard.check, steady point', (i) => void (sink += alone.check(points[i % DEVICES]) === null ? 1 : 0)],
  [
    'guard.check, churning device (new tag value each)',
    (i) => {
      churnPoint.tags.location = `l${i}`;
      sink += churner.check(churnPoint) === null ? 1 : 0;
    },
  ],
]);
printRates('the guard alone', checkRates, checkRates[0]);
console.log(`churning device: ${churner.refused} refused, ${churner.entries} entries kept (bounded per device)`);

// memory: 100,000 devices (the default device bound, device health's fleet bound) × 20 fields
global.gc?.();
const heap0 = heapUsedMB();
const big = new SchemaGuard();
const BIG = 100_000;
for (let d = 0; d < BIG; d++) {
  const p = { ...points[d % DEVICES], tags: { ...points[d % DEVICES].tags, device_id: `m-${d}` } };
  big.check(p);
}
global.gc?.();
const grown = heapUsedMB() - heap0;
console.log(
  `${fmt(BIG)} devices × ${FIELDS} fields: ${big.size} devices kept, ${big.evictions} evicted, ${big.entries} entries ` +
    `in ${big.nameSetCount} shared name set(s), heap +${fmt(grown, 1)} MB (${fmt((grown * 1048576) / BIG)} bytes a device) ` +
    `(sink ${sink > 0})`
);
