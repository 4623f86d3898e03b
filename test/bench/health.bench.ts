// Device health: activity updates/s in the core (memory store) against a bare Map<string, number> of
// last-seen times (the least any last-seen store can do), the whole message path (reading + update), sweep
// time and heap bytes per device for 100k devices against an object-per-device Map, and Redis store
// updates/s (coalesced batches through Lua, pipelined) against one awaited ZADD per update.
import { performance } from 'node:perf_hooks';
import {
  HealthService,
  HealthTable,
  compileTopicPattern,
  readHealthMessage,
  type HealthReadOptions,
  type TopicPattern,
} from '../../nodes/core/health';
import { which } from '../support/net';
import { startRedis } from '../support/redis';
import { fmt, measureRate, percentiles, printRates, type Rate } from './lib';

/** Heap plus ArrayBuffer memory (typed-array columns live outside the JS heap), MB, after a full GC. */
function usedMB(): number {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / 1048576;
}

const DEVICES = 10_000;
const BIG = 100_000;
const ids = Array.from({ length: DEVICES }, (_, i) => `dev-${String(i).padStart(6, '0')}`);
const T0 = 1_700_000_000_000;

function coreRates(): void {
  // wall-clock rates on a shared machine swing by 2–5× between runs; CPU time per update, repeated
  // ten times, is the figure to compare across runs. Measured first, before any
  // other table configuration (learned timeouts) has made the class's code paths polymorphic
  // (which would slow them)
  let t = T0;
  const cpuRate = (fn: (i: number) => void, n = 2_000_000): number => {
    for (let i = 0; i < 50_000; i++) fn(i);
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const c = process.cpuUsage(c0);
    return n / ((c.user + c.system) / 1e6);
  };
  const q = new HealthTable({ defaultTimeoutMs: 60_000, now: () => t });
  const qr: number[] = [];
  for (let round = 0; round < 10; round++) {
    qr.push(
      cpuRate((i) => {
        t = T0 + i;
        q.activity(ids[i % DEVICES], t);
      })
    );
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`\nactivity updates per CPU-second over ${fmt(DEVICES)} devices, median of 10 runs (min–max)`);
  console.log(
    `  HealthTable (bounded, CLOCK)                   ${fmt(med(qr)).padStart(12)} /s  (${fmt(Math.min(...qr))}–${fmt(Math.max(...qr))})`
  );
  const base = new Map<string, number>();
  const baseline = measureRate('baseline: Map<string, number>.set', (i) => {
    base.set(ids[i % DEVICES], T0 + i);
  });
  const coreRates: Rate[] = [];
  for (let round = 0; round < 2; round++) {
    const table = new HealthTable({ defaultTimeoutMs: 60_000, now: () => t });
    coreRates.push(
      measureRate('HealthTable.activity (memory, bounded, CLOCK)', (i) => {
        t = T0 + i;
        table.activity(ids[i % DEVICES], t);
      })
    );
  }
  const best = (rs: Rate[]) => rs.reduce((a, b) => (b.perSec > a.perSec ? b : a));
  const core = best(coreRates);
  // the worst case for the bound: every update a new device in a full table, i.e. an eviction each time
  const fullTable = new HealthTable({ defaultTimeoutMs: 60_000, maxDevices: DEVICES, now: () => t });
  const evicting = measureRate('HealthTable.activity, new id each time, full table (evicts)', (i) => {
    t = T0 + i;
    fullTable.activity(`flood-${i}`, t);
  });
  const learning = new HealthTable({ defaultTimeoutMs: 60_000, learnFactor: 3, now: () => t });
  const learned = measureRate('HealthTable.activity, learned timeouts', (i) => {
    t = T0 + i;
    learning.activity(ids[i % DEVICES], t);
  });
  const opts: HealthReadOptions = {
    lwtTopics: [compileTopicPattern('device/lwt/+') as TopicPattern],
    statusTopics: [compileTopicPattern('device/status/+') as TopicPattern],
    activityTopics: [],
    clockSkewMs: 30_000,
    maxIdLength: 128,
  };
  const msgs = ids.map((id) => ({
    topic: 'telemetry',
    payload: { measurement: 'telemetry', tags: { device_id: id }, fields: { t: 1 }, timestamp: T0 },
  }));
  const reader = new HealthTable({ defaultTimeoutMs: 60_000, now: () => t });
  const path = measureRate('read message + activity (node path)', (i) => {
    t = T0 + i;
    const r = readHealthMessage(msgs[i % DEVICES], t, opts);
    if (r.kind === 'activity') reader.activity(r.device_id, r.time);
  });
  const rates: Rate[] = [baseline, core, learned, path, evicting];
  printRates(`activity updates over ${fmt(DEVICES)} devices (target ≥ 500,000/s in the core)`, rates, baseline);
}

function bigTable(): void {
  const bigIds = (): string[] => Array.from({ length: BIG }, (_, i) => `device-${String(i).padStart(7, '0')}`);
  let h0: number;
  // baseline: the obvious object-per-device Map
  h0 = usedMB();
  const naive = new Map<
    string,
    { state: string; since: number; lastSeen: number; statusAt: number; timeout: number }
  >();
  for (const id of bigIds())
    naive.set(id, { state: 'ONLINE', since: T0, lastSeen: T0, statusAt: NaN, timeout: 60_000 });
  const naiveBytes = ((usedMB() - h0) * 1048576) / BIG;

  naive.clear();

  h0 = usedMB();
  const t = T0;
  const table = new HealthTable({ defaultTimeoutMs: 60_000, maxDevices: BIG, now: () => t });
  for (const id of bigIds()) table.activity(id, T0 + (id.charCodeAt(id.length - 1) % 7) * 1000);
  const bytes = ((usedMB() - h0) * 1048576) / BIG;
  console.log(`\nmemory for ${fmt(BIG)} devices (target < 400 bytes/device, ids included)`);
  console.log(`  baseline: Map of one object per device         ${fmt(naiveBytes).padStart(8)} bytes/device`);
  console.log(
    `  HealthTable (typed-array columns, bounded)     ${fmt(bytes).padStart(8)} bytes/device  (${fmt((100 * bytes) / naiveBytes, 1)} % of baseline)`
  );
  // the bound holds under a flood: 10× the bound in new ids leaves the table at the bound
  const flooded = new HealthTable({ defaultTimeoutMs: 60_000, maxDevices: BIG / 10, now: () => t });
  h0 = usedMB();
  for (const id of bigIds()) flooded.activity(id, T0);
  console.log(
    `  flood of ${fmt(BIG)} new ids into a bound of ${fmt(BIG / 10)}: ${fmt(flooded.deviceCount)} rows, ${fmt(flooded.evictions)} evicted, ${fmt(((usedMB() - h0) * 1048576) / (BIG / 10))} bytes/row held`
  );

  const quiet: number[] = [];
  for (let k = 0; k < 30; k++) {
    const s = performance.now();
    table.sweep(T0 + 10_000);
    quiet.push(performance.now() - s);
  }
  const q = percentiles(quiet);
  const s = performance.now();
  const evs = table.sweep(T0 + 120_000); // every device times out at once
  const all = performance.now() - s;
  console.log(`\nsweep of ${fmt(BIG)} devices`);
  console.log(`  nothing due                                    p50 ${fmt(q.p50, 2)} ms  p99 ${fmt(q.p99, 2)} ms`);
  console.log(`  all ${fmt(evs.length)} due (events built)               ${fmt(all, 1)} ms`);

  // persistence to node context: what a save and a restart cost at this size
  let st = performance.now();
  const text = JSON.stringify(table.serialize());
  const saveMs = performance.now() - st;
  st = performance.now();
  const restored = new HealthTable({ defaultTimeoutMs: 60_000, maxDevices: BIG });
  restored.restore(JSON.parse(text));
  const loadMs = performance.now() - st;
  console.log(
    `\npersistence of ${fmt(BIG)} devices: serialise + JSON ${fmt(saveMs, 1)} ms (${fmt(text.length / 1048576, 1)} MB), parse + restore ${fmt(loadMs, 1)} ms`
  );
}

async function redisRates(): Promise<void> {
  const bin = which('redis-server');
  if (!bin) {
    console.log('\nredis store: skipped (redis-server not installed)');
    return;
  }
  const server = await startRedis(bin);
  const { default: Redis } = await import('ioredis');
  const client = new Redis({ port: server.port, host: '127.0.0.1' });
  try {
    // baseline: one awaited round trip per update, the naive way to keep device_last_seen
    const N0 = 20_000;
    let s = performance.now();
    for (let i = 0; i < N0; i++) await client.zadd('bench:naive_last_seen', T0 + i, ids[i % DEVICES]);
    const baseline: Rate = {
      name: 'baseline: awaited ZADD per update',
      ops: N0,
      seconds: (performance.now() - s) / 1000,
      perSec: 0,
    };
    baseline.perSec = baseline.ops / baseline.seconds;

    let t = T0;
    const table = new HealthTable({ defaultTimeoutMs: 3_600_000, now: () => t });
    const service = new HealthService({
      table,
      emit: () => undefined,
      redis: client,
      keyPrefix: 'bench:',
      now: () => t,
    });
    while (!service.storeUp) await new Promise((r) => setTimeout(r, 10));
    // warm-up: every device ONLINE once, so the run measures steady-state updates
    for (const id of ids) service.activity(id, t);
    await service.drain();
    const N = 1_000_000;
    const latency: number[] = [];
    s = performance.now();
    for (let i = 0; i < N; i++) {
      t = T0 + 1000 + i;
      service.activity(ids[i % DEVICES], t);
      if (i % 20_000 === 19_999) {
        // yield to the event loop like a stream of arriving messages would, so timed flushes happen
        const f = performance.now();
        await new Promise((r) => setImmediate(r));
        latency.push(performance.now() - f);
      }
    }
    await service.drain();
    const batched: Rate = {
      name: 'HealthService (Redis): coalesced Lua batches',
      ops: N,
      seconds: (performance.now() - s) / 1000,
      perSec: 0,
    };
    batched.perSec = batched.ops / batched.seconds;

    // the worst cases for coalescing: every update for a different device, first as new devices (each
    // one an UNKNOWN → ONLINE transition, published), then the same devices again (steady state)
    const many = Array.from({ length: 200_000 }, (_, i) => `m-${i}`);
    const pass = async (name: string, ts: number): Promise<Rate> => {
      const start = performance.now();
      for (let i = 0; i < many.length; i++) {
        service.activity(many[i], ts);
        if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
      }
      await service.drain();
      const seconds = (performance.now() - start) / 1000;
      return { name, ops: many.length, seconds, perSec: many.length / seconds };
    };
    const fresh = await pass('HealthService (Redis): distinct, new devices', T0 + 2000);
    const steady = await pass('HealthService (Redis): distinct, already ONLINE', T0 + 3000);
    const distinct = [fresh, steady];
    printRates(
      'Redis store updates (pipelined batches of ≤ 1000 devices per script call)',
      [baseline, batched, ...distinct],
      baseline
    );
    const lat = percentiles(latency);
    console.log(`  event-loop turn while feeding 20k updates: p50 ${fmt(lat.p50, 2)} ms  p99 ${fmt(lat.p99, 2)} ms`);
    const zcard = await client.zcard('bench:device_last_seen');
    console.log(
      `  device_last_seen holds ${fmt(zcard)} devices; ${fmt(service.memoryDecisions)} decisions from memory`
    );
    await service.close();
  } finally {
    client.disconnect();
    await server.stop();
  }
}

async function main(): Promise<void> {
  coreRates();
  bigTable();
  await redisRates();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
