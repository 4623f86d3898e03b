// What the verify node's rate bounds cost per message (docs/security-devices.md "A device that floods"): the
// keyed limiter's take() for the per-device bound against the tenant-only path of before, in ONE process,
// interleaved: each round runs every case for a time budget, the table gives the median ns per message.
// Only the limiter is timed (the verify node's signature check, ~µs per message, is not part of it), and the
// heap a device bucket holds.
//
//   npm run bench -- rate      BENCH_ROUNDS (7), BENCH_MS (300 per case and round)
import { KeyedRateLimiter, DEFAULT_DEVICE_BURST, DEFAULT_DEVICE_RATE } from '../../nodes/core/keyed-rate';
import { measureRate, fmt } from './lib';

const ROUNDS = Number(process.env.BENCH_ROUNDS || 7);
const MS = Number(process.env.BENCH_MS || 300);
// a bound that never refuses: the pass path, as every message of a device within its rate takes it
const OPEN = { ratePerSec: 1e12, burst: 1e12 };
const ids = (n: number, p = 'pump-') => Array.from({ length: n }, (_, i) => `${p}${String(i).padStart(6, '0')}`);
const D200 = ids(200);
const D100K = ids(100_000);
const TENANTS = ['acme', 'beta'];

interface Case {
  name: string;
  setup: () => (i: number) => unknown;
}

const cases: Case[] = [
  // before this bound: a tenant-less message took no bucket at all; a tenant's message one take() of its tenant
  { name: 'tenant-less, no bound (as before)', setup: () => (i) => D200[i % 200] },
  {
    name: 'tenant-less, device bound',
    setup: () => {
      const dev = new KeyedRateLimiter({ ...OPEN, maxKeys: 100_000 });
      return (i) => dev.take(D200[i % 200]);
    },
  },
  {
    name: 'tenants, tenant bound only',
    setup: () => {
      const ten = new KeyedRateLimiter(OPEN);
      return (i) => ten.take(TENANTS[i & 1]);
    },
  },
  {
    name: 'tenants, device + tenant bound',
    setup: () => {
      const dev = new KeyedRateLimiter({ ...OPEN, maxKeys: 100_000 });
      const ten = new KeyedRateLimiter(OPEN);
      return (i) => dev.take(D200[i % 200], TENANTS[i & 1]) + ten.take(TENANTS[i & 1]);
    },
  },
  {
    name: 'one device flooding (refused)',
    setup: () => {
      const dev = new KeyedRateLimiter({
        ratePerSec: DEFAULT_DEVICE_RATE,
        burst: DEFAULT_DEVICE_BURST,
        maxKeys: 100_000,
      });
      return () => dev.take('pump-000001');
    },
  },
  {
    name: '100k devices round robin',
    setup: () => {
      const dev = new KeyedRateLimiter({ ...OPEN, maxKeys: 100_000 });
      // steady state: every device already has its bucket (creating them is the case below)
      for (const id of D100K) dev.take(id);
      return (i) => dev.take(D100K[i % 100_000]);
    },
  },
  {
    name: 'new id every message (evicts)',
    setup: () => {
      // a device-id flood: each message a device the bound has to make room for
      const dev = new KeyedRateLimiter({ ...OPEN, maxKeys: 10_000 });
      return (i) => dev.take(D100K[i % 100_000]);
    },
  },
];

const ns: Record<string, number[]> = {};
let sink = 0;
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) {
    global.gc?.();
    const fn = c.setup();
    const rate = measureRate(
      c.name,
      (i) => {
        if (fn(i)) sink++;
      },
      MS
    );
    (ns[c.name] ??= []).push(1e9 / rate.perSec);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`rate bench: ${ROUNDS} rounds × ${MS} ms per case, order alternating; ns per message, median (min–max)`);
for (const c of cases) {
  const a = ns[c.name];
  console.log(
    `${c.name.padEnd(34)} ${fmt(median(a), 1).padStart(7)} (${fmt(Math.min(...a), 1)}–${fmt(Math.max(...a), 1)})`
  );
}

// heap per device bucket: 100k buckets of ids like the fleet's, minus the ids themselves (the caller holds them)
if (global.gc) {
  const keep: KeyedRateLimiter[] = [];
  const heap = () => {
    global.gc!();
    global.gc!();
    return process.memoryUsage().heapUsed;
  };
  for (let k = 0; k < 3; k++) {
    const before = heap();
    const dev = new KeyedRateLimiter({ ...OPEN, maxKeys: 100_000 });
    for (const id of D100K) dev.take(id, 'acme');
    keep.push(dev);
    console.log(`heap: ${fmt((heap() - before) / 100_000, 0)} bytes per device bucket (100,000 buckets, run ${k + 1})`);
  }
  if (keep.length < 0) console.log(keep);
}
if (sink < 0) console.log(sink);
