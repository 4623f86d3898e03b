// Cost of saving one alert change at 100, 1,000 and 10,000 stored alerts, the old way and the new way, in one
// process and one run (docs/benchmarks.md "Fifth round"):
//   old  = what moby-alert did before the journal: ctx.set of the whole state ({...engine.snapshot(), mutes})
//          into Node-RED's own localfilesystem context store with cache: false (the pipeline's `durable`
//          store), which reads, parses, stringifies and writes the node's whole context file per set;
//   new  = AlertStateJournal: the changed alert appended as one line; compaction into a snapshot when the
//          journal outgrows it, in the background as the node does (its serialising in this turn is included,
//          amortised per change, and its longest pause shown apart; the write and fsync run off the loop);
//   new+fsync = the same with a synchronous fdatasync per append (journal sync "append": blocks the loop for
//          the disk's flush; the power-cut guarantee the blocking way);
//   new+group = what the node does with journalSync "fdatasync" (the default): the append as in `new`, then
//          whenDurable() — one asynchronous fdatasync covers every append made before it started, appends
//          made while it runs share the next. Open loop: one change per event-loop turn, the next turn at
//          once (setImmediate), completions counted as they come — the most changes the node could take;
//   group@200/s = the same at the crash test's rate, one change every 5 ms (each fdatasync covers ~1 change:
//          "done" is then the latency one message sees); none@200/s = that paced loop without fdatasync (its
//          baseline: a change after 5 ms idle costs the loop more than one in a busy loop, fdatasync or not).
// Each change is one 'update' of a random stored alert (updateEventMs 0); in old/new/new+fsync saved before
// the next, as the node's write-through does. Columns: the loop time per change (p50/p99/max: what a change
// costs the event loop) and "done" = from the change to its completion (its message's done()): the same as
// the save for old/new/new+fsync, the wait for the covering fdatasync for new+group. Sizes and order are
// rotated (old, new, new+fsync, new+group, then reversed) per round.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AlertEngine } from '../../nodes/core/alert/engine';
import { AlertStateJournal } from '../../nodes/core/alert/state-journal';
import { fmt, percentiles } from './lib';

const SIZES = (process.env.BENCH_ALERT_SIZES ?? '100,1000,10000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BUDGET_MS = Number(process.env.BENCH_ALERT_MS ?? 1500);

type Variant = 'old' | 'new' | 'new+fsync' | 'new+group' | 'group@200/s' | 'none@200/s';
const VARIANTS: Variant[] = ['old', 'new', 'new+fsync', 'new+group', 'group@200/s', 'none@200/s'];

const deviceId = (i: number) => `dev-${String(i).padStart(5, '0')}`;

function filledEngine(n: number): AlertEngine {
  const e = new AlertEngine({ maxOpen: n + 10, maxResolved: 1000, updateEventMs: 0 });
  for (let i = 0; i < n; i++)
    e.apply({
      kind: 'trigger',
      device_id: deviceId(i),
      rule: 'anomaly',
      severity: 'warning',
      value: 0.93,
      message: `anomaly score 0.93 ≥ 0.80 on dev-${i} (vibration 70 %, temperature 20 %)`,
    });
  return e;
}

/** The k-th change: an 'update' of one of the n stored alerts, spread over them. */
function touch(engine: AlertEngine, n: number, k: number): void {
  engine.apply({ kind: 'trigger', device_id: deviceId((k * 7919) % n), rule: 'anomaly' });
}

/** A journal in dir/state holding the engine's snapshot, nothing staged: as the node has it after a restore. */
function openJournal(engine: AlertEngine, dir: string, sync: 'none' | 'append' | 'group'): AlertStateJournal {
  const j = AlertStateJournal.open({ dir: path.join(dir, 'state'), sync });
  j.load();
  engine.takeChanges();
  j.compact({ snapshot: engine.snapshot(), mutes: [] });
  return j;
}

/** What new and new+group do per change, with their counts: append it, and compact as the node does. */
function journalSaver(engine: AlertEngine, j: AlertStateJournal) {
  const stats = { appended: 0, compactions: 0, compactMax: 0 };
  return {
    stats,
    /** the engine's changes appended as one line */
    append(): void {
      j.stage(engine.takeChanges());
      const before = j.sizes.journalBytes;
      j.flush();
      stats.appended += j.sizes.journalBytes - before;
    },
    /** as the node's save timer: a background compaction once the journal has outgrown the snapshot */
    compactIfDue(): void {
      if (!j.needsCompaction) return;
      const c = performance.now();
      engine.discardChanges();
      void j.compactInBackground({ snapshot: engine.snapshot(), mutes: [] });
      stats.compactMax = Math.max(stats.compactMax, performance.now() - c);
      stats.compactions++;
    },
  };
}

interface Result {
  changes: number;
  perChange: number[];
  /** the longest single compaction (new only) */
  compactMax: number;
  compactions: number;
  bytesPerChange: number;
  /** all wall time of the phase per change, background compaction turns included */
  wallPerChange?: number;
  /** from the change to its completion (new+group: to the fdatasync covering it); else = perChange */
  doneMs?: number[];
  /** fdatasyncs (new+group) */
  syncs?: number;
}

async function runOld(n: number, dir: string): Promise<Result> {
  const store = require('@node-red/runtime/lib/nodes/context/localfilesystem')({
    dir,
    base: 'context-durable',
    cache: false,
    settings: {},
  });
  await store.open();
  const engine = filledEngine(n);
  const scope = 'alert:tab';
  const set = (v: unknown) =>
    new Promise<void>((resolve, reject) =>
      store.set(scope, 'moby_alert_state', v, (err?: Error) => (err ? reject(err) : resolve()))
    );
  await set({ ...engine.snapshot(), mutes: [] });
  const perChange: number[] = [];
  let k = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < BUDGET_MS || perChange.length < 20) {
    const s = performance.now();
    touch(engine, n, k++);
    await set({ ...engine.snapshot(), mutes: [] });
    perChange.push(performance.now() - s);
  }
  const file = fs.readdirSync(path.join(dir, 'context-durable', 'tab')).find((f) => f.startsWith('alert'));
  const bytes = file ? fs.statSync(path.join(dir, 'context-durable', 'tab', file)).size : 0;
  await store.close();
  return { changes: perChange.length, perChange, compactMax: 0, compactions: 0, bytesPerChange: bytes };
}

async function runNew(n: number, dir: string, sync: 'none' | 'append'): Promise<Result> {
  const engine = filledEngine(n);
  const j = openJournal(engine, dir, sync);
  const saver = journalSaver(engine, j);
  const { stats } = saver;
  const perChange: number[] = [];
  let k = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < BUDGET_MS || perChange.length < 20) {
    const s = performance.now();
    touch(engine, n, k++);
    saver.append();
    saver.compactIfDue();
    perChange.push(performance.now() - s);
    // the loop turns over now and then, as in the node: the background compaction serialises a chunk and
    // writes it there; the longest such turn is what it makes others wait
    if (perChange.length % 100 === 0) {
      const y = performance.now();
      await new Promise((r) => setImmediate(r));
      if (j.compacting) stats.compactMax = Math.max(stats.compactMax, performance.now() - y);
    }
  }
  while (j.compacting) {
    const y = performance.now();
    await new Promise((r) => setImmediate(r));
    stats.compactMax = Math.max(stats.compactMax, performance.now() - y);
  }
  const wall = performance.now() - t0;
  j.close();
  return {
    changes: perChange.length,
    perChange,
    compactMax: stats.compactMax,
    compactions: stats.compactions,
    bytesPerChange: stats.appended / perChange.length,
    wallPerChange: wall / perChange.length,
  };
}

/** new+group: one change per turn, completion when the journal's group fdatasync covering it returns. */
async function runGroup(n: number, dir: string, paceMs = 0, sync: 'group' | 'none' = 'group'): Promise<Result> {
  const engine = filledEngine(n);
  const j = openJournal(engine, dir, sync);
  const saver = journalSaver(engine, j);
  const { stats } = saver;
  const perChange: number[] = [];
  const doneMs: number[] = [];
  let failed = 0;
  let k = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < BUDGET_MS || perChange.length < 20) {
    const s = performance.now();
    touch(engine, n, k++);
    saver.append();
    j.whenDurable((err) => {
      if (err) failed++;
      doneMs.push(performance.now() - s);
    });
    saver.compactIfDue();
    perChange.push(performance.now() - s);
    const y = performance.now();
    if (paceMs) await new Promise((r) => setTimeout(r, Math.max(0, paceMs - (y - s))));
    else await new Promise((r) => setImmediate(r));
    if (j.compacting) stats.compactMax = Math.max(stats.compactMax, performance.now() - y);
  }
  while (j.compacting || doneMs.length < perChange.length) await new Promise((r) => setImmediate(r));
  const wall = performance.now() - t0;
  if (failed) throw new Error(`${failed} fdatasyncs failed`);
  const syncs = j.counts.syncs;
  j.close();
  return {
    changes: perChange.length,
    perChange,
    compactMax: stats.compactMax,
    compactions: stats.compactions,
    bytesPerChange: stats.appended / perChange.length,
    wallPerChange: wall / perChange.length,
    doneMs,
    syncs: sync === 'group' ? syncs : undefined,
  };
}

async function main(): Promise<void> {
  const results = new Map<string, Result[]>();
  for (let round = 0; round < ROUNDS; round++) {
    const order: Variant[] = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const n of SIZES) {
      for (const v of order) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-state-bench-'));
        const r =
          v === 'old'
            ? await runOld(n, dir)
            : v === 'new+group' || v === 'group@200/s' || v === 'none@200/s'
              ? await runGroup(n, dir, v === 'new+group' ? 0 : 5, v === 'none@200/s' ? 'none' : 'group')
              : await runNew(n, dir, v === 'new+fsync' ? 'append' : 'none');
        fs.rmSync(dir, { recursive: true, force: true });
        const key = `${n}|${v}`;
        results.set(key, [...(results.get(key) ?? []), r]);
      }
    }
  }
  console.log(
    `alert state: cost per saved alert change (wall ms, change applied + saved), ${ROUNDS} rounds of ~${BUDGET_MS} ms each, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
  console.log(
    `${'stored'.padStart(7)} ${'variant'.padEnd(11)} ${'changes'.padStart(8)} ${'mean*'.padStart(8)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)} ${'done p50'.padStart(9)} ${'done p99'.padStart(9)}  written per change; compactions (longest); fdatasyncs`
  );
  console.log(
    '  (* mean = wall time of the phase per change, background compaction included; p50/p99/max = event-loop time per change; done = change → completion)'
  );
  for (const n of SIZES) {
    const old = results.get(`${n}|old`)!;
    for (const v of VARIANTS) {
      for (const r of results.get(`${n}|${v}`)!) {
        const p = percentiles(r.perChange, [50, 99]);
        const d = percentiles(r.doneMs ?? r.perChange, [50, 99]);
        const mean = r.wallPerChange ?? r.perChange.reduce((a, b) => a + b, 0) / r.perChange.length;
        const extra =
          v === 'old'
            ? `${fmt(r.bytesPerChange)} B (the whole file)`
            : `${fmt(r.bytesPerChange)} B; ${r.compactions} (longest turn ${fmt(r.compactMax, 1)} ms)${r.syncs !== undefined ? `; ${fmt(r.syncs)} (${fmt(r.changes / Math.max(1, r.syncs), 1)} changes each)` : ''}`;
        console.log(
          `${fmt(n).padStart(7)} ${v.padEnd(11)} ${fmt(r.changes).padStart(8)} ${fmt(mean, 3).padStart(8)} ${fmt(p.p50, 3).padStart(8)} ${fmt(p.p99, 3).padStart(8)} ${fmt(Math.max(...r.perChange), 2).padStart(8)} ${fmt(d.p50, 3).padStart(9)} ${fmt(d.p99, 3).padStart(9)}  ${extra}`
        );
      }
    }
    const meanOf = (rs: Result[]) =>
      rs.reduce((a, r) => a + (r.wallPerChange ?? r.perChange.reduce((x, y) => x + y, 0) / r.perChange.length), 0) /
      rs.length;
    console.log(
      `${''.padStart(7)} old / new mean per change: ${fmt(meanOf(old) / meanOf(results.get(`${n}|new`)!), 0)}×`
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
