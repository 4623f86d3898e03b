// What the Node-RED process keeps while the alert state cannot be saved (docs/durability.md, "Full disk" and
// "Limits"): moby-alert with persist "journal" in the real runtime (node-red-node-test-helper), its state
// directory on a 64 KiB tmpfs that is full (every journal append fails with ENOSPC, every message that changed
// an alert completes with done(err)), against a baseline whose state directory is on the ordinary disk, in
// the same process and run. Traffic: 50 devices flapping between anomaly and normal (autoResolvePoints 3,
// maxResolved 200), so alerts are opened, resolved and forgotten all the time — the churn a long episode sees.
// Each variant sends N messages, then 10 × N more; after each, with the heap collected (--expose-gc): heap
// used, the journal's staged changes (gauge moby_alert_state_unsaved: alert records and removals waiting for
// the next save), the process's active handles (timers, sockets) and the messages failed; for the 10 × N part
// also the time per message and the process RSS at its end (shown, not judged: RSS keeps what the heap once
// took). What is kept must be bounded by the alerts held, not by the messages or failed saves.
// Then, on the pure journal: what one failed turn costs the event loop with 100 / 1,000 / 10,000 alerts staged
// (each failed append serialises everything staged again), against a successful flush of the same staged set.
// Needs root (mount); BENCH_FULLDISK_N (default 2000) sets N.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const helper = require('node-red-node-test-helper');
const channelsModule = require('../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../dist/nodes/alert/moby-alert.js');
const metrics = require('../../dist/nodes/lib/metrics.js');
import { AlertEngine } from '../../nodes/core/alert/engine';
import { AlertStateJournal } from '../../nodes/core/alert/state-journal';
const hooks = require('@node-red/util').hooks as {
  add(name: string, fn: (ev: { error?: unknown; node?: { id?: string } }) => void): void;
  remove(name: string): void;
};

const N = Number(process.env.BENCH_FULLDISK_N ?? 2000);
const gc = (global as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (npm run bench does)');

helper.init(require.resolve('node-red'), { userDir: fs.mkdtempSync(path.join(os.tmpdir(), 'moby-fulldisk-')) });

function load(flow: unknown[]): Promise<void> {
  const creds: Record<string, unknown> = { alert: { apiToken: 'bench-token-0123456789' } };
  return new Promise((resolve, reject) =>
    helper.load([channelsModule, alertModule], flow, creds, (err?: Error) => (err ? reject(err) : resolve()))
  );
}

let completed = 0;
let failed = 0;
hooks.add('onComplete.fulldiskbench', (ev) => {
  if (ev.node?.id !== 'alert') return;
  completed++;
  if (ev.error) failed++;
});

let seed = 11;
function rand(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

function message(): unknown {
  const anomaly = rand() < 0.5;
  return {
    payload: {
      measurement: 'telemetry',
      tags: { device_id: `pump-${Math.floor(rand() * 50)}` },
      fields: { vibration: 0.4 },
      timestamp: Date.now(),
    },
    anomaly: {
      score: anomaly ? 0.93 : 0.1,
      threshold: 0.8,
      is_anomaly: anomaly,
      severity: anomaly ? 'warning' : 'normal',
    },
  };
}

async function drive(count: number): Promise<void> {
  const node = helper.getNode('alert');
  const target = completed + count;
  for (let sent = 0; sent < count; sent += 50) {
    for (let i = 0; i < Math.min(50, count - sent); i++) node.receive(message());
    // the helper's spies record every node.error/log call: forget them, they are the harness's, not the node's
    helper._sandbox.resetHistory();
    await new Promise((r) => setImmediate(r));
  }
  const until = Date.now() + 60000;
  while (completed < target && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  helper._sandbox.resetHistory();
}

interface Probe {
  heapKB: number;
  staged: number;
  stagedRemovals: number;
  handles: number;
  failed: number;
  alertsHeld: number;
}

/** a gauge's value from the package's metrics (the same module instance the node registers with) */
function gauge(text: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function probe(): Promise<Probe> {
  gc!();
  gc!();
  const text: string = await metrics.metricsText();
  return {
    heapKB: Math.round(process.memoryUsage().heapUsed / 1024),
    staged: gauge(text, 'moby_alert_state_unsaved', 'kind="records"'),
    stagedRemovals: gauge(text, 'moby_alert_state_unsaved', 'kind="removals"'),
    handles: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length,
    failed,
    alertsHeld: gauge(text, 'moby_alerts', ''),
  };
}

async function variant(name: string, fullDisk: boolean): Promise<void> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-fulldisk-'));
  helper.settings({ userDir });
  const stateRoot = path.join(userDir, 'moby-alert');
  fs.mkdirSync(stateRoot, { recursive: true });
  if (fullDisk) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', stateRoot]);
  try {
    await load([
      {
        id: 'alert',
        type: 'moby-alert',
        name: 'alerts',
        persist: 'journal',
        apiPrefix: '/moby',
        updateEventSec: 0,
        autoResolvePoints: 3,
        maxResolved: 200,
        wires: [[], [], []],
      },
    ]);
    await drive(200); // warm-up: alerts exist, the journal has its snapshot
    if (fullDisk) {
      try {
        fs.writeFileSync(path.join(stateRoot, 'filler'), Buffer.alloc(1 << 20));
      } catch {
        /* ENOSPC once full: what we want */
      }
    }
    failed = 0;
    const start = await probe();
    await drive(N);
    const afterN = await probe();
    const t0 = process.hrtime.bigint();
    await drive(10 * N);
    const usPerMsg = Number(process.hrtime.bigint() - t0) / 1000 / (10 * N);
    const after11N = await probe();
    const perMsg = (a: Probe, b: Probe, msgs: number) => (((b.heapKB - a.heapKB) * 1024) / msgs).toFixed(1);
    console.log(
      `${name.padEnd(10)} start: heap ${start.heapKB} kB, staged ${start.staged} (${start.stagedRemovals} removals), handles ${start.handles}\n` +
        `${''.padEnd(10)} +${N}: heap ${afterN.heapKB} kB (${perMsg(start, afterN, N)} B/msg), staged ${afterN.staged} ` +
        `(${afterN.stagedRemovals} removals), alerts held ${afterN.alertsHeld}, handles ${afterN.handles}, failed ${afterN.failed}\n` +
        `${''.padEnd(10)} +${11 * N}: heap ${after11N.heapKB} kB (${perMsg(afterN, after11N, 10 * N)} B/msg after +${N}), ` +
        `staged ${after11N.staged} (${after11N.stagedRemovals} removals), alerts held ${after11N.alertsHeld}, ` +
        `handles ${after11N.handles}, failed ${after11N.failed}, ${usPerMsg.toFixed(0)} µs/msg, ` +
        `rss ${Math.round(process.memoryUsage().rss / 1048576)} MB`
    );
    await helper.unload();
  } finally {
    if (fullDisk) execFileSync('umount', [stateRoot]);
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

/** ms per flush of `held` staged alerts, failing (ENOSPC) or written, one changed alert staged per turn */
function flushCost(held: number, fail: boolean): number {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-fulldisk-j-'));
  const engine = new AlertEngine({ maxOpen: held * 2 });
  const j = AlertStateJournal.open({ dir });
  j.load();
  for (let i = 0; i < held; i++) engine.apply({ device_id: `dev-${i}`, rule: 'anomaly', kind: 'trigger' });
  const realWrite = fs.writeSync;
  const turns = 50;
  let ms = 0;
  try {
    if (fail)
      (fs as { writeSync: unknown }).writeSync = () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
    for (let k = 0; k < turns; k++) {
      engine.apply({ device_id: `dev-${k % held}`, rule: 'anomaly', kind: 'trigger' });
      // written: stage everything again, so each flush writes as much as a failing one tries to
      j.stage(
        fail ? engine.takeChanges() : { upserts: engine.snapshot().alerts.map((alert) => ({ alert })), removed: [] }
      );
      const t0 = process.hrtime.bigint();
      try {
        j.flush();
      } catch {
        /* the failing variant */
      }
      ms += Number(process.hrtime.bigint() - t0) / 1e6;
    }
  } finally {
    (fs as { writeSync: unknown }).writeSync = realWrite;
    j.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return ms / turns;
}

async function main(): Promise<void> {
  console.log(`moby-alert, journal, ${N} then ${10 * N} more messages (50 devices flapping, maxResolved 200)`);
  await variant('disk ok', false);
  await variant('disk full', true);
  await variant('disk ok', false);
  hooks.remove('*.fulldiskbench');
  console.log('one flush of everything staged (pure journal, sync "none"): written vs failing (ENOSPC)');
  for (const held of [100, 1000, 10000])
    console.log(
      `${String(held).padStart(6)} alerts staged: written ${flushCost(held, false).toFixed(2)} ms, ` +
        `failing ${flushCost(held, true).toFixed(2)} ms per turn`
    );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
