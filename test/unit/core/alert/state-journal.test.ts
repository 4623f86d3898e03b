// AlertStateJournal: a restart from snapshot + journal gives the engine's state exactly (through compactions),
// a torn last record is cut off and ignored, a damaged one skipped, a compaction interrupted by a crash leaves
// one consistent generation, a failed write leaves nothing in the file and keeps the changes for the next flush,
// and the engine's change set covers every kind of change (open, update, clear, resolve, forget, ack, summary).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AlertEngine, type AlertSignal } from '../../../../nodes/core/alert/engine';
import { AlertStateJournal, reserveSize } from '../../../../nodes/core/alert/state-journal';
import { mountTmpfs, unmountTmpfs } from '../../../support/net';
import { TenantAlertEngines } from '../../../../nodes/core/alert/tenants';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-journal-'));
}

function setup(maxResolved = 5) {
  const clock = { t: 1_700_000_000_000 };
  let n = 0;
  const engine = new AlertEngine({
    now: () => clock.t,
    newId: () => `id-${++n}`,
    maxResolved,
    maxOpen: 8,
    updateEventMs: 1000,
  });
  return { engine, clock };
}

/** A fresh directory, an engine (setup) and a journal opened on it and loaded (empty). */
function openFresh(opts: Omit<Parameters<typeof AlertStateJournal.open>[0], 'dir'> = {}, maxResolved = 5) {
  const dir = tmpDir();
  const { engine, clock } = setup(maxResolved);
  const j = AlertStateJournal.open({ dir, ...opts });
  j.load();
  return { dir, engine, clock, j };
}

/** One change (device opens an anomaly alert), staged and appended. */
function change(engine: AlertEngine, j: AlertStateJournal, device: string): void {
  engine.apply({ device_id: device, rule: 'anomaly', kind: 'trigger' });
  j.stage(engine.takeChanges());
  j.flush();
}

/** A restart: the directory, opened again, loads the engine's state. */
function assertReloads(dir: string, engine: AlertEngine): void {
  const j2 = AlertStateJournal.open({ dir });
  assert.deepEqual(j2.load().state!.snapshot, engine.snapshot());
  j2.close();
}

/** A deterministic stream of signals over a few devices: opens, folds, clears, resolves, evictions. */
function drive(engine: AlertEngine, clock: { t: number }, steps: number, seed: number, each: () => void): void {
  let x = seed;
  const rand = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
  for (let i = 0; i < steps; i++) {
    clock.t += Math.floor(rand() * 700);
    const s: AlertSignal = {
      device_id: `d${Math.floor(rand() * 12)}`,
      rule: rand() < 0.8 ? 'anomaly' : 'rul',
      kind: rand() < 0.6 ? 'trigger' : 'clear',
      severity: rand() < 0.2 ? 'critical' : 'warning',
      value: Math.round(rand() * 100),
    };
    engine.apply(s);
    if (rand() < 0.05) {
      const open = engine.list({ status: 'open', limit: 1 })[0];
      if (open) engine.acknowledge(open.alert_id, 'op', 'looking');
    }
    if (rand() < 0.03) {
      const any = engine.list({ limit: 1 })[0];
      if (any) engine.setSummary(any.alert_id, `summary ${i}`);
    }
    if (rand() < 0.1) engine.tick();
    each();
  }
}

describe('alert state journal', () => {
  it('a restart from snapshot + journal equals the engine, through compactions and in either order of flushes', () => {
    const dir = tmpDir();
    const { engine, clock } = setup();
    let j = AlertStateJournal.open({ dir, compactMinBytes: 4096 });
    assert.equal(j.load().state, null, 'an empty directory is a first start');
    let compactions = 0;
    let mutes: unknown[] = [];
    drive(engine, clock, 3000, 7, () => {
      if (clock.t % 17 === 0) mutes = [{ device_id: 'd1', until: clock.t + 60000 }];
      j.stage(engine.takeChanges(), clock.t % 17 === 0 ? mutes : undefined);
      if (clock.t % 3 !== 0) j.flush(); // sometimes two turns share one line
      if (j.needsCompaction) {
        j.compact({ snapshot: engine.snapshot(), mutes });
        compactions++;
      }
    });
    j.stage(engine.takeChanges());
    j.flush();
    assert.ok(compactions >= 2, `compacted ${compactions} times`);
    assert.ok(j.appended > 0, 'the last generation has journal lines');
    j.close();

    j = AlertStateJournal.open({ dir, compactMinBytes: 4096 });
    const loaded = j.load();
    assert.equal(loaded.corrupt, 0);
    assert.deepEqual(loaded.state!.snapshot, engine.snapshot());
    assert.deepEqual(loaded.state!.mutes, mutes);
    // and an engine restored from it is the same as one restored from the live snapshot
    const a = setup().engine;
    const b = setup().engine;
    a.restore(loaded.state!.snapshot);
    b.restore(engine.snapshot());
    assert.deepEqual(a.snapshot(), b.snapshot());
    j.close();
  });

  it('forgotten alerts (resolved beyond maxResolved) are removed on replay, not resurrected', () => {
    const { dir, engine, clock, j } = openFresh({}, 1);
    for (const d of ['a', 'b', 'c']) {
      engine.apply({ device_id: d, rule: 'anomaly', kind: 'trigger' });
      clock.t += 10;
      engine.apply({ device_id: d, rule: 'anomaly', kind: 'clear', immediate: true });
      j.stage(engine.takeChanges());
      j.flush();
    }
    j.close();
    const again = AlertStateJournal.open({ dir });
    const st = again.load().state!;
    assert.deepEqual(
      st.snapshot.alerts.map((x) => x.device_id),
      ['c']
    );
    assert.deepEqual(st.snapshot, engine.snapshot());
    again.close();
  });

  it('a torn last record is cut off and ignored; a damaged one in the middle is skipped; appends go on', () => {
    const { dir, engine, clock, j } = openFresh();
    change(engine, j, 'x');
    const expected = engine.snapshot();
    j.close();
    const file = path.join(dir, 'journal-0.jsonl');
    const good = fs.readFileSync(file, 'utf8');
    // a damaged line, then a line a kill -9 tore in the middle of its write()
    const line = good.trimEnd();
    const damaged = line.slice(0, 20) + (line[20] === 'X' ? 'Y' : 'X') + line.slice(21);
    fs.writeFileSync(file, good + damaged + '\n' + good + line.slice(0, 30));
    const j2 = AlertStateJournal.open({ dir });
    const r = j2.load();
    assert.equal(r.corrupt, 2);
    assert.equal(r.records, 2);
    assert.deepEqual(r.state!.snapshot, expected);
    assert.ok(fs.readFileSync(file, 'utf8').endsWith('\n'), 'the torn tail was cut off');
    clock.t += 5000;
    change(engine, j2, 'y');
    j2.close();
    const j3 = AlertStateJournal.open({ dir });
    const r3 = j3.load();
    assert.equal(r3.corrupt, 1, 'only the damaged middle line is left');
    assert.deepEqual(r3.state!.snapshot, engine.snapshot());
    j3.close();
  });

  it("a compaction interrupted by a crash: the journals from the snapshot's generation on replay, older ones are removed", () => {
    const { dir, engine, j } = openFresh();
    change(engine, j, 'x');
    j.compact({ snapshot: engine.snapshot(), mutes: [] });
    assert.equal(j.sizes.generation, 1);
    change(engine, j, 'y');
    j.close();
    // a crash after the next generation's journal was created, before its snapshot was renamed in place
    fs.writeFileSync(path.join(dir, 'journal-2.jsonl'), '');
    fs.writeFileSync(path.join(dir, 'snapshot.json.tmp'), '{"v":1,"gen":2,"alerts":[');
    // and a journal of the generation before, which that compaction had not removed yet
    fs.writeFileSync(path.join(dir, 'journal-0.jsonl'), 'garbage\n');
    const j2 = AlertStateJournal.open({ dir });
    const r = j2.load();
    assert.equal(r.corrupt, 0);
    assert.deepEqual(r.state!.snapshot, engine.snapshot());
    assert.deepEqual(
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith('journal-'))
        .sort(),
      ['journal-1.jsonl', 'journal-2.jsonl'],
      "journals from the snapshot's generation on are kept (and replayed), older ones removed"
    );
    j2.close();
  });

  it('a background compaction: appends made while it writes survive, whether it finishes, fails or is cut off', async () => {
    for (const outcome of ['finishes', 'fails', 'cut off'] as const) {
      const { dir, engine, clock, j } = openFresh();
      for (const d of ['a', 'b']) engine.apply({ device_id: d, rule: 'anomaly', kind: 'trigger' });
      j.stage(engine.takeChanges());
      j.flush();
      engine.takeChanges();
      if (outcome === 'fails') fs.mkdirSync(path.join(dir, 'snapshot.json.1.tmp')); // open() fails: EISDIR
      const running = j.compactInBackground({ snapshot: engine.snapshot(), mutes: [] });
      assert.ok(j.compacting);
      // changes while the snapshot is being written go to the next generation's journal
      clock.t += 2000;
      engine.apply({ device_id: 'a', rule: 'anomaly', kind: 'trigger' });
      engine.apply({ device_id: 'c', rule: 'anomaly', kind: 'trigger' });
      j.stage(engine.takeChanges());
      j.flush();
      if (outcome === 'cut off') j.close(); // a crash before the rename: the old snapshot stays
      if (outcome === 'fails') await assert.rejects(running, /EISDIR|illegal operation/);
      else await running;
      if (outcome === 'finishes') {
        assert.equal(j.sizes.generation, 1);
        assert.deepEqual(
          fs.readdirSync(dir).filter((f) => f.startsWith('journal-')),
          ['journal-1.jsonl']
        );
      }
      j.close();
      const j2 = AlertStateJournal.open({ dir });
      const r = j2.load();
      assert.equal(r.corrupt, 0, outcome);
      assert.deepEqual(r.state!.snapshot, engine.snapshot(), outcome);
      j2.close();
    }
  });

  it('a compact() that overtakes a background compaction wins: the older snapshot is not installed', async () => {
    const { dir, engine, j } = openFresh();
    engine.apply({ device_id: 'a', rule: 'anomaly', kind: 'trigger' });
    engine.takeChanges();
    const running = j.compactInBackground({ snapshot: engine.snapshot(), mutes: [] });
    engine.apply({ device_id: 'b', rule: 'anomaly', kind: 'trigger' });
    engine.takeChanges();
    j.compact({ snapshot: engine.snapshot(), mutes: [] });
    await running;
    assert.equal(j.sizes.generation, 2);
    j.close();
    assertReloads(dir, engine);
  });

  it('a failed write (a full disk) leaves nothing in the file and keeps the changes for the next flush', () => {
    const { dir, engine, j } = openFresh();
    engine.apply({ device_id: 'x', rule: 'anomaly', kind: 'trigger' });
    j.stage(engine.takeChanges());
    const realWrite = fs.writeSync;
    let calls = 0;
    // a short write followed by ENOSPC, as a full disk does
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
      calls++;
      if (calls === 1) return realWrite(fd, buf, off, Math.min(len, 10), pos);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    try {
      assert.throws(() => j.flush(), /ENOSPC/);
    } finally {
      (fs as { writeSync: unknown }).writeSync = realWrite;
    }
    assert.equal(fs.statSync(path.join(dir, 'journal-0.jsonl')).size, 0, 'the partial record was cut off');
    assert.ok(j.hasStaged);
    change(engine, j, 'y');
    j.close();
    assertReloads(dir, engine);
  });

  it('keeps a reserve on its disk and gives it up, a piece at a time, to appends that find the disk full (verification round 2026-12-07: other writers took the room the spool left, an alert paged unsaved was lost at a crash)', function () {
    assert.equal(reserveSize(3 << 20), 64 << 10);
    assert.equal(reserveSize(1e12), 256 << 10);
    const disk = tmpDir();
    mountTmpfs(this, disk, '1m');
    const opened: AlertStateJournal[] = [];
    const open = (dir: string) => {
      const j = AlertStateJournal.open({ dir });
      opened.push(j);
      return j;
    };
    try {
      const dir = path.join(disk, 'state');
      let n = 0;
      const engine = new AlertEngine({ now: () => 1_700_000_000_000, newId: () => `id-${++n}`, maxOpen: 100_000 });
      const j = open(dir);
      j.load();
      assert.equal(fs.statSync(path.join(dir, 'reserve')).size, 64 << 10, 'made at open');
      change(engine, j, 'before');
      // something else fills the disk to the last byte
      try {
        fs.writeFileSync(path.join(disk, 'filler'), Buffer.alloc(2 << 20));
      } catch {
        /* ENOSPC once full: what we want */
      }
      assert.throws(() => fs.writeFileSync(path.join(disk, 'more'), Buffer.alloc(8192)), /ENOSPC/);
      // the next changes are saved all the same (the journal's last page may still have room; then the reserve's)
      let saved = 0;
      while (j.reserveReleases === 0 && saved < 500) change(engine, j, `full-${saved++}`);
      assert.equal(j.reserveReleases, 1, `after ${saved} changes`);
      change(engine, j, `full-${saved++}`);
      assert.ok(fs.statSync(path.join(dir, 'reserve')).size < 64 << 10, 'the reserve shrank');
      assert.ok(fs.statSync(path.join(dir, 'reserve')).size > 0, 'a piece at a time, not all at once');
      // until it is used up: then a change fails as on any full disk, and stays staged
      let more = 0;
      assert.throws(() => {
        for (; more < 10_000; more++) change(engine, j, `more-${more}`);
      }, /ENOSPC/);
      assert.ok(j.hasStaged, `more-${more} waits for the next flush`);
      j.close();
      // a restart finds every change saved before the failure
      const j2 = open(dir);
      const restored = j2.load().state!.snapshot.alerts.map((a) => a.device_id);
      for (const d of ['before', 'full-0', `full-${saved - 1}`, `more-${more - 1}`]) assert.ok(restored.includes(d), d);
      assert.ok(!restored.includes(`more-${more}`));
      j2.close();
      // room again: the reserve is made again (at most every 10 s, and only with room for it several times over)
      fs.rmSync(path.join(disk, 'filler'));
      const j3 = open(dir);
      j3.load();
      assert.equal(fs.statSync(path.join(dir, 'reserve')).size, 64 << 10);
      j3.close();
    } finally {
      for (const j of opened) j.close(); // a failed assertion must not leave the tmpfs busy (and hide itself)
      unmountTmpfs(disk);
      fs.rmSync(disk, { recursive: true, force: true });
    }
  });

  it('while every write fails, what stays staged is bounded by the alerts: 10× more failed flushes keep the same, and the next write holds the whole state', () => {
    // three devices flapping (open, resolve at once) with maxResolved 2: each cycle opens an alert and forgets
    // an older one, the churn of a long full-disk episode. Ids and times have fixed widths, so equal bytes
    // mean equal content.
    function episode(cycles: number) {
      const dir = tmpDir();
      const clock = { t: 1_700_000_000_000 };
      let n = 0;
      const engine = new AlertEngine({
        now: () => clock.t,
        newId: () => `id-${String(++n).padStart(6, '0')}`,
        maxResolved: 2,
        maxOpen: 8,
      });
      const j = AlertStateJournal.open({ dir });
      j.load();
      // on disk before the episode: three open alerts, whose removal must still be written later
      for (const d of ['d0', 'd1', 'd2']) change(engine, j, d);
      const realWrite = fs.writeSync;
      (fs as { writeSync: unknown }).writeSync = () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      };
      let failed = 0;
      const turn = () => {
        j.stage(engine.takeChanges());
        try {
          j.flush();
        } catch {
          failed++;
        }
      };
      let staged: { records: number; removals: number };
      try {
        for (let i = 0; i < cycles; i++) {
          const d = `d${i % 3}`;
          clock.t += 10;
          engine.apply({ device_id: d, rule: 'anomaly', kind: 'clear', immediate: true });
          turn();
          clock.t += 10;
          engine.apply({ device_id: d, rule: 'anomaly', kind: 'trigger' });
          turn();
        }
        staged = j.stagedCounts;
      } finally {
        (fs as { writeSync: unknown }).writeSync = realWrite;
      }
      assert.equal(failed, 2 * cycles, 'every write failed');
      const held = engine.snapshot().alerts.length;
      const before = fs.statSync(path.join(dir, 'journal-0.jsonl')).size;
      j.flush(); // room again
      const lineBytes = fs.statSync(path.join(dir, 'journal-0.jsonl')).size - before;
      assert.equal(j.stagedCounts.records + j.stagedCounts.removals, 0);
      j.close();
      assertReloads(dir, engine); // the one write after the episode holds the whole current state
      return { staged, held, lineBytes, neverWritten: j.counts.neverWritten };
    }
    const short = episode(30);
    const long = episode(300);
    assert.deepEqual(long.staged, short.staged, 'staged after 600 failed flushes = after 60');
    assert.equal(long.lineBytes, short.lineBytes, 'and the write that follows is as large');
    // the alerts held (3 open + 2 resolved) and the removals of the three that were on disk, nothing more
    assert.deepEqual(short.staged, { records: 5, removals: 3 });
    assert.equal(short.held, 5);
    assert.equal(long.neverWritten, 300 - 3 - 2, 'the alerts opened and forgotten meanwhile are counted');
  });

  it('with tenants too: an alert opened and forgotten before any write leaves nothing staged, in every tenant', () => {
    const { dir } = openFresh();
    const engines = new TenantAlertEngines({ maxResolved: 0 });
    const j = AlertStateJournal.open({ dir: path.join(dir, 'tenants') });
    j.load();
    for (const tenant of ['acme', 'beta', undefined]) {
      engines.apply({ device_id: 'p1', rule: 'anomaly', kind: 'trigger', tenant });
      j.stage(engines.takeChanges()); // not written (as when the write fails)
      engines.apply({ device_id: 'p1', rule: 'anomaly', kind: 'clear', immediate: true, tenant });
      j.stage(engines.takeChanges());
    }
    assert.deepEqual(j.stagedCounts, { records: 0, removals: 0 });
    assert.equal(j.counts.neverWritten, 3);
    j.close();
  });

  it('takes the directory lock: another live process cannot open it', () => {
    const dir = tmpDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'lock'), String(process.ppid));
    assert.throws(() => AlertStateJournal.open({ dir }), /in use by process/);
  });
});

describe('alert state journal: group commit (sync "group")', () => {
  const realFdatasync = fs.fdatasync;
  /** fdatasyncs started and held: the real one runs when the test releases it (nothing else changes) */
  let held: Array<() => void> = [];
  let failNext = 0;
  function holdSyncs(): void {
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (failNext > 0) {
        failNext--;
        held.push(() => cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
      } else held.push(() => realFdatasync(fd, cb));
    };
  }
  async function release(): Promise<void> {
    const h = held;
    held = [];
    for (const f of h) f();
    await settle();
  }
  /** lets the thread pool's fdatasyncs and their promise chains finish */
  const settle = () => new Promise((r) => setTimeout(r, 30));
  afterEach(() => {
    (fs as { fdatasync: unknown }).fdatasync = realFdatasync;
    held = [];
    failNext = 0;
  });

  const open = () => openFresh({ sync: 'group' });
  type Waits = Record<string, Error | undefined | 'pending'>;
  /** change(), then waits for it to be durable: waits[device] is 'pending' until then, then its error or undefined. */
  function changeAndWait(engine: AlertEngine, j: AlertStateJournal, waits: Waits, device: string): void {
    waits[device] = 'pending';
    change(engine, j, device);
    j.whenDurable((err) => (waits[device] = err));
  }

  it('a completion waits for the fdatasync that covers its append, which runs off the event loop', async () => {
    const { engine, j } = open();
    change(engine, j, 'a');
    const seen: Array<{ err?: Error; syncs: number; durable: number }> = [];
    j.whenDurable((err) => seen.push({ err, syncs: j.counts.syncs, durable: j.counts.durable }));
    assert.equal(seen.length, 0, 'not completed in the turn of the append');
    await waitUntil(() => seen.length === 1);
    assert.equal(seen[0].err, undefined);
    assert.equal(seen[0].syncs, 1, 'completed by the fdatasync');
    assert.ok(seen[0].durable >= 1, 'which covered the append');
    // nothing appended since: the next caller completes at once
    let again = false;
    j.whenDurable(() => (again = true));
    assert.ok(again);
    j.close();
  });

  it('appends made while an fdatasync is in flight are covered by the next one, all of them by one', async () => {
    holdSyncs();
    const { engine, j } = open();
    const order: string[] = [];
    change(engine, j, 'a');
    j.whenDurable((err) => order.push(`a:${err ? 'err' : 'ok'}:${j.counts.syncs}`));
    assert.equal(held.length, 1, 'one fdatasync in flight');
    change(engine, j, 'b');
    j.whenDurable((err) => order.push(`b:${err ? 'err' : 'ok'}:${j.counts.syncs}`));
    change(engine, j, 'c');
    j.whenDurable((err) => order.push(`c:${err ? 'err' : 'ok'}:${j.counts.syncs}`));
    assert.equal(held.length, 1, 'one at a time: b and c wait');
    await settle();
    assert.deepEqual(order, [], 'nobody completes before the fdatasync returns');
    await release();
    assert.deepEqual(order, ['a:ok:1'], 'a completes with the first; b and c wait for the second');
    assert.equal(held.length, 1, 'the second started when the first returned');
    await release();
    assert.deepEqual(order, ['a:ok:1', 'b:ok:2', 'c:ok:2']);
    assert.equal(j.counts.syncs, 2, 'three appends, two fdatasyncs');
    j.close();
  });

  it('a failed fdatasync yields its error to exactly the waiters it covered, and asks for a compaction', async () => {
    holdSyncs();
    const { dir, engine, j } = open();
    const got: Waits = {};
    changeAndWait(engine, j, got, 'a');
    changeAndWait(engine, j, got, 'b');
    // the first (covering a) is in flight with the real fdatasync; make the second fail
    failNext = 1;
    await release();
    assert.equal(got.a, undefined);
    assert.equal(got.b, 'pending');
    changeAndWait(engine, j, got, 'c'); // appended while the failing one is in flight: not covered by it
    await release();
    assert.match(String(got.b), /EIO/, 'b, which the failed fdatasync covered, gets its error');
    assert.equal(got.c, 'pending', 'c waits for the next one');
    assert.ok(j.needsCompaction, 'the state is rewritten by the next compaction');
    await release();
    assert.equal(got.c, undefined, 'c completes with the next fdatasync');
    assert.deepEqual(j.counts, { flushes: 3, durable: 3, syncs: 2, syncFailures: 1, neverWritten: 0 });
    engine.discardChanges();
    await j.compactInBackground({ snapshot: engine.snapshot(), mutes: [] });
    await release();
    assert.ok(!j.needsCompaction, 'rewritten: no longer asks');
    j.close();
    assertReloads(dir, engine);
  });

  it('close with an fdatasync in flight: its fd stays open until it returns, the later appends are synced by close', async () => {
    holdSyncs();
    const { dir, engine, j } = open();
    const got: Waits = {};
    changeAndWait(engine, j, got, 'a');
    changeAndWait(engine, j, got, 'b');
    j.close();
    assert.equal(got.b, undefined, 'b was fdatasync’d by close (blocking, once) and completed');
    assert.equal(got.a, 'pending', 'a still waits for the fdatasync in flight');
    assert.ok(!fs.existsSync(path.join(dir, 'lock')), 'the lock is released');
    await release(); // the real fdatasync on the fd close() kept open: EBADF if it had been closed
    assert.equal(got.a, undefined);
    let late: Error | undefined | 'pending' = 'pending';
    j.whenDurable((err) => (late = err));
    assert.equal(late, undefined, 'nothing left to wait for after close');
    const j2 = AlertStateJournal.open({ dir });
    assert.deepEqual(j2.load().state!.snapshot, engine.snapshot());
    j2.close();
  });

  it('a compaction with an fdatasync in flight: the old journal is removed, its fd closed only after the fdatasync', async () => {
    holdSyncs();
    const { dir, engine, j } = open();
    const got: Waits = {};
    changeAndWait(engine, j, got, 'a');
    changeAndWait(engine, j, got, 'b');
    // a synchronous compaction (as on close or after a restore): the snapshot is fsync'd, so b, which
    // waited for the next fdatasync, is durable at once; a still waits for its own, in flight on the old fd
    engine.discardChanges();
    j.compact({ snapshot: engine.snapshot(), mutes: [] });
    assert.equal(got.b, undefined);
    assert.equal(got.a, 'pending');
    assert.ok(!fs.existsSync(path.join(dir, 'journal-0.jsonl')), 'the old journal is gone');
    await release();
    assert.equal(got.a, undefined, 'its fdatasync ran on an fd still open');
    // appends to the new generation with a background compaction in between
    changeAndWait(engine, j, got, 'c');
    engine.discardChanges();
    const compaction = j.compactInBackground({ snapshot: engine.snapshot(), mutes: [] });
    changeAndWait(engine, j, got, 'd');
    while (held.length || j.compacting) await release();
    await compaction;
    assert.equal(got.c, undefined);
    assert.equal(got.d, undefined);
    j.close();
    assertReloads(dir, engine);
  });

  it('without group commit ("none", the default) a completion does not wait', () => {
    const { engine, j } = openFresh();
    change(engine, j, 'a');
    let done = false;
    j.whenDurable(() => (done = true));
    assert.ok(done);
    assert.equal(j.counts.syncs, 0);
    j.close();
  });
});

describe('AlertEngine.discardChanges', () => {
  it('forgets the changed set, as takeChanges does, without returning copies', () => {
    const { engine } = setup();
    engine.apply({ device_id: 'a', rule: 'anomaly', kind: 'trigger' });
    assert.ok(engine.hasChanges);
    engine.discardChanges();
    assert.ok(!engine.hasChanges);
    assert.deepEqual(engine.takeChanges(), { upserts: [], removed: [] });
    engine.apply({ device_id: 'a', rule: 'anomaly', kind: 'trigger' });
    assert.equal(engine.takeChanges().upserts.length, 1, 'later changes are tracked again');
  });
});

async function waitUntil(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
