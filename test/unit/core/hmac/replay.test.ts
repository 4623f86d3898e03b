// Replay cache (nodes/core/hmac/replay.ts) and its journal (replay-journal.ts): per-device bounds that never
// reopen a replay, eviction floors, broker redeliveries, and rebuilding the state after a crash.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_REPLAY_CAPACITY, NonceCache, NonceCheck } from '../../../../nodes/core/hmac/replay';
import { ReplayJournal } from '../../../../nodes/core/hmac/replay-journal';
import { Verifier } from '../../../../nodes/core/hmac/verify';
import { Keyring } from '../../../../nodes/core/hmac/keyring';
import { parseKey, signEnvelope } from '../../../../nodes/core/hmac/scheme';

const W = 300;
const T = 1_763_375_400;

describe('replay cache (per device, bounded, floors)', () => {
  it('refuses a used nonce, per device, until it expires', () => {
    const c = new NonceCache({ windowSec: W });
    assert.equal(c.check('a', 'n-1', T, T), NonceCheck.Fresh);
    assert.equal(c.check('a', 'n-1', T, T + 1), NonceCheck.Replay);
    assert.equal(c.check('b', 'n-1', T, T + 1), NonceCheck.Fresh, 'nonces are per device');
    assert.equal(c.size, 2);
    // after ts + window the entry is gone (the verifier's stale check refuses such a message anyway)
    assert.equal(c.check('a', 'n-1', T + W + 5, T + W + 5), NonceCheck.Fresh);
    assert.equal(c.size, 2);
  });

  it("ATTACK: a device flooding its own nonces cannot evict another device's (old code: one shared FIFO)", () => {
    const c = new NonceCache({ windowSec: W, capacity: 1000, perDevice: 100 });
    assert.equal(c.check('victim', 'captured-1', T, T), NonceCheck.Fresh);
    for (let i = 0; i < 100_500; i++) c.check('flooder', `f-${i}`, T + Math.floor(i / 1000), T + Math.floor(i / 1000));
    assert.ok(c.size <= 1000);
    assert.equal(c.check('victim', 'captured-1', T, T + 39), NonceCheck.Replay);
    // the flooder's own dropped nonces are not reopened either: its floor rose past them
    assert.equal(c.check('flooder', 'f-0', T, T + 100), NonceCheck.BelowFloor);
    assert.ok(c.floorOf('flooder') > T);
    assert.equal(c.floorOf('victim'), -1, 'the victim keeps no floor');
    assert.equal(
      c.check('flooder', 'new-one', T + 101, T + 101),
      NonceCheck.Fresh,
      'never a lockout: newer messages pass'
    );
  });

  it('evicts the least recently active device whole and raises the global floor above its nonces', () => {
    const c = new NonceCache({ windowSec: W, capacity: 10, maxDevices: 3 });
    c.check('d1', 'x-000001', T, T);
    c.check('d2', 'x-000002', T + 1, T + 1);
    c.check('d3', 'x-000003', T + 2, T + 2);
    c.check('d1', 'x-000004', T + 3, T + 3); // d1 active again: d2 is now the least recently active
    c.check('d4', 'x-000005', T + 4, T + 4);
    assert.equal(c.deviceCount, 3);
    assert.equal(c.deviceEvictions, 1);
    assert.equal(c.globalFloor, T + 2, 'newest ts of d2 + 1');
    // d2's captured message cannot come back, while d1's nonces are still remembered
    assert.equal(c.check('d2', 'x-000002', T + 1, T + 5), NonceCheck.BelowFloor);
    assert.equal(c.check('d1', 'x-000001', T, T + 5), NonceCheck.Replay);
    // a device entering later with a current clock passes
    assert.equal(c.check('d2', 'x-000006', T + 5, T + 5), NonceCheck.Fresh);
  });

  it('bounds the total by evicting other devices, never dropping the victim of a busier one first', () => {
    const c = new NonceCache({ windowSec: W, capacity: 5, perDevice: 5 });
    c.check('quiet', 'q-000001', T, T);
    for (let i = 0; i < 4; i++) c.check('busy', `b-00000${i}`, T + 1, T + 1);
    c.check('busy', 'b-000009', T + 2, T + 2); // total full: the least recently active (quiet) goes, floor rises
    assert.equal(c.size, 5);
    assert.equal(c.check('quiet', 'q-000001', T, T + 3), NonceCheck.BelowFloor);
  });

  it('drops a device silent for a whole window without raising any floor', () => {
    const c = new NonceCache({ windowSec: W, capacity: 10, maxDevices: 1 });
    c.check('old', 'o-000001', T, T);
    c.check('new', 'n-000001', T + W + 1, T + W + 1);
    assert.equal(c.globalFloor, -1);
    assert.equal(c.deviceEvictions, 0);
  });

  it('lets every broker redelivery of a used nonce pass; without the flag it is a replay', () => {
    const c = new NonceCache({ windowSec: W });
    c.check('a', 'n-000001', T, T);
    assert.equal(c.check('a', 'n-000001', T, T + 1), NonceCheck.Replay);
    assert.equal(c.check('a', 'n-000001', T, T + 1, true), NonceCheck.Redelivered);
    // the broker resends only what nobody acknowledged: a second redelivery is the message's last chance
    // (old code: Replay, which is acknowledged, so the message was lost)
    assert.equal(c.check('a', 'n-000001', T, T + 2, true), NonceCheck.Redelivered);
    assert.equal(c.check('a', 'n-000001', T, T + 2), NonceCheck.Replay);
    // a redelivery of a nonce never seen is simply new
    assert.equal(c.check('a', 'n-000002', T, T + 2, true), NonceCheck.Fresh);
  });

  it('keeps the least-recently-active order within capacity / 16 remembered nonces, and moves a device only past that', () => {
    const c = new NonceCache({ windowSec: W, capacity: 1600, maxDevices: 3 });
    assert.equal(c.slack, 100);
    c.check('d1', 'x-0', T, T);
    c.check('d2', 'x-1', T, T);
    c.check('d3', 'x-2', T, T);
    // d1 active again, 3 nonces after its place: within the slack it keeps its place at the front
    c.check('d1', 'x-3', T, T);
    c.check('d4', 'x-4', T, T);
    assert.ok(
      c.has('d4') && !c.has('d1') && c.has('d2'),
      'd2 was active 2 nonces before d1: within the slack, d1 may go first'
    );
    // d2 goes quiet; d3 stays active past the slack and moves behind d4
    for (let i = 0; i < 101; i++) c.check('d3', `y-${i}`, T, T);
    // (each eviction raised the global floor to T + 1, so newcomers use a later ts)
    c.check('d5', 'x-5', T + 1, T + 1);
    assert.ok(c.has('d5') && !c.has('d2'), 'd2 idle for > slack nonces before the others: evicted first');
    c.check('d6', 'x-6', T + 1, T + 1);
    assert.ok(c.has('d6') && !c.has('d4') && c.has('d3'), 'd4 (placed before d3 moved) goes before d3');
    // a small cache keeps the exact order (the test above with capacity 10)
    assert.equal(new NonceCache({ windowSec: W, capacity: 15 }).slack, 0);
  });

  it('PROPERTY: an evicted device was never more than the slack behind a kept one, and no used nonce passes again', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (const [capacity, maxDevices] of [
      [1600, 20],
      [320, 50],
      [64, 8],
    ]) {
      const c = new NonceCache({ windowSec: 100_000, capacity, maxDevices, perDevice: capacity });
      const lastActive = new Map<string, number>(); // device → count of remembered nonces at its last one
      const used: Array<[string, string, number]> = [];
      let remembered = 0;
      for (let i = 0; i < 20_000; i++) {
        // skewed: a few busy devices, many occasional ones, some that go quiet for long stretches
        const r = rnd();
        const dev = `d${r < 0.5 ? Math.floor(rnd() * 4) : Math.floor(rnd() * 80)}`;
        const ts = T + Math.floor(i / 50);
        const before = [...lastActive.keys()];
        const res = c.check(dev, `n-${i}`, ts, ts);
        if (res === NonceCheck.Fresh) {
          lastActive.set(dev, remembered++);
          used.push([dev, `n-${i}`, ts]);
        }
        for (const gone of before) {
          if (c.has(gone)) continue;
          const t = lastActive.get(gone)!;
          lastActive.delete(gone);
          for (const [kept, k] of lastActive)
            assert.ok(
              k >= t - c.slack,
              `evicted ${gone} (last ${t}) while ${kept} (last ${k}) is kept, slack ${c.slack}`
            );
        }
        if (i % 97 === 0 && used.length) {
          const [d, n, t] = used[Math.floor(rnd() * used.length)];
          const again = c.check(d, n, t, ts);
          assert.ok(again === NonceCheck.Replay || again === NonceCheck.BelowFloor, `nonce ${n} of ${d} passed again`);
        }
      }
      assert.ok(c.deviceEvictions > 0, 'the bound was exercised');
    }
  });

  it('the default holds a fleet of 1000 devices sending 3 messages a second for a whole window: no authentic message refused (old default 100,000: 1.2 % of the 1000-device npm start warm-up refused)', () => {
    // npm start's simulator with --devices 1000 warms up at 4 messages/s per device, several per second of ts;
    // 100,000 nonces held 25 s of that, and each device evicted whole raised the global floor to its newest
    // second + 1: every device entering the cache in that second was refused as replay
    const c = new NonceCache({ windowSec: W });
    assert.equal(c.capacity, DEFAULT_REPLAY_CAPACITY);
    let refused = 0;
    let n = 0;
    for (let sec = 0; sec < W; sec++)
      for (let k = 0; k < 3; k++)
        for (let d = 0; d < 1000; d++)
          if (c.check(`dev-${d}`, `n-${n++}`, T + sec, T + sec) !== NonceCheck.Fresh) refused++;
    assert.equal(refused, 0);
    assert.equal(c.size, 900_000);
    // the same load against the old bound refuses authentic messages: the reason for the default
    const old = new NonceCache({ windowSec: W, capacity: 100_000 });
    let oldRefused = 0;
    n = 0;
    for (let sec = 0; sec < 60; sec++)
      for (let k = 0; k < 4; k++)
        for (let d = 0; d < 1000; d++)
          if (old.check(`dev-${d}`, `n-${n++}`, T + sec, T + sec) !== NonceCheck.Fresh) oldRefused++;
    assert.ok(oldRefused > 0, 'the old bound refused some');
  });

  it('drops expired nonces as it goes: a cache that once filled holds what its window holds, not its capacity', () => {
    const c = new NonceCache({ windowSec: 10, capacity: 50_000 });
    let n = 0;
    // 100 devices, 10 messages/s each, for 200 s: 200,000 messages, 10,000 inside any 10 s window
    for (let sec = 0; sec < 200; sec++)
      for (let k = 0; k < 10; k++)
        for (let d = 0; d < 100; d++) assert.equal(c.check(`dev-${d}`, `n-${n++}`, T + sec, T + sec), NonceCheck.Fresh);
    // the window's 11 seconds (ts + 10 >= now) plus at most one sweep interval of 64 per device
    assert.ok(c.size <= 11_000 + 100 * 64, `${c.size} nonces held`);
    assert.equal(c.evictions + c.deviceEvictions, 0, 'no bound was reached: nothing fresh was dropped');
  });

  it('rebuilds the same state from its record lines (snapshot and journal order)', () => {
    const lines: string[] = [];
    const c = new NonceCache({ windowSec: W, capacity: 6, perDevice: 3, onRecord: (l) => lines.push(l) });
    for (let i = 0; i < 5; i++) c.check('a', `a-00000${i}`, T + i, T + i);
    c.check('b', 'b-000001', T + 5, T + 5);
    c.check('b', 'b-000001', T + 5, T + 6, true);
    const again = new NonceCache({ windowSec: W, capacity: 6, perDevice: 3 });
    again.load(lines, T + 7);
    const snap = new NonceCache({ windowSec: W, capacity: 6, perDevice: 3 });
    snap.load(c.snapshot(T + 7), T + 7);
    for (const x of [again, snap]) {
      assert.equal(x.check('a', 'a-000000', T, T + 8), NonceCheck.BelowFloor);
      assert.equal(x.check('a', 'a-000004', T + 4, T + 8), NonceCheck.Replay);
      assert.equal(x.check('b', 'b-000001', T + 5, T + 8), NonceCheck.Replay, 'a seen nonce without DUP');
      assert.equal(x.check('b', 'b-000001', T + 5, T + 8, true), NonceCheck.Redelivered, 'every redelivery passes');
      assert.equal(x.floorOf('a'), c.floorOf('a'));
    }
  });
});

describe('replay cache: journals of earlier versions', () => {
  it('reads a journal with the redelivery marks of before 2026-12-04: its nonces are used, the marks change nothing', () => {
    const lines = [`n\tpump-1\told-nonce-1\t${T}`, `r\tpump-1\told-nonce-1`, `n\tpump-1\told-nonce-2\t${T + 1}`];
    const c = new NonceCache({ windowSec: W });
    assert.equal(c.load(lines, T + 2), 2);
    assert.equal(c.size, 2);
    assert.equal(c.check('pump-1', 'old-nonce-1', T, T + 3), NonceCheck.Replay);
    assert.equal(c.check('pump-1', 'old-nonce-1', T, T + 3, true), NonceCheck.Redelivered);
    assert.equal(c.check('pump-1', 'old-nonce-2', T + 1, T + 3), NonceCheck.Replay);
    assert.deepEqual([...c.snapshot(T + 3)], [`n\tpump-1\told-nonce-1\t${T}`, `n\tpump-1\told-nonce-2\t${T + 1}`]);
  });
});

describe('replay journal (crash safety)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-replay-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const keys = new Keyring().load({ 'pump-7': { k1: 'pump-7-first-secret' } });
  const env = (nonce: string, ts: number) =>
    JSON.stringify(
      signEnvelope({ deviceId: 'pump-7', key: parseKey('pump-7-first-secret'), kid: 'k1', body: '{"t":1}', nonce, ts })
    );

  function verifierWithJournal(file: string, now: () => number) {
    let j: ReplayJournal | null = null;
    const v = new Verifier({ keys, now, onReplayRecord: (l) => j!.record(l) });
    j = new ReplayJournal(v.nonces, { file, compactAfter: 1000 });
    j.open(now());
    return { v, j };
  }

  it('ATTACK: a message accepted before a kill -9 is a replay after the restart (old code: accepted and stored twice)', () => {
    const file = path.join(dir, 'v.log');
    let now = T;
    const first = verifierWithJournal(file, () => now);
    assert.equal(first.v.verify({ payload: env('captured-0001', T) }).ok, true);
    first.j.flush(now); // the node writes before it passes the message on; nothing closes: the process dies here
    now = T + 35;
    const second = verifierWithJournal(file, () => now);
    const r = second.v.verify({ payload: env('captured-0001', T) });
    assert.ok(!r.ok && r.reject.code === 'replay');
    // the broker's redelivery of it passes (the first copy may not have become durable before the kill)
    assert.equal(second.v.verify({ payload: env('captured-0001', T), redelivered: true }).ok, true);
    second.j.flush(now);
    // and again after a second kill: the broker resends only what nobody acknowledged, so this copy is the
    // message's last chance (old code: rejected as a replay, and a reject is acknowledged: the message was lost)
    const third = verifierWithJournal(file, () => now + 1);
    const again = third.v.verify({ payload: env('captured-0001', T), redelivered: true });
    assert.ok(again.ok && again.redelivered === true, 'the redelivery after a second kill passes');
    const replayed = third.v.verify({ payload: env('captured-0001', T) });
    assert.ok(!replayed.ok && replayed.reject.code === 'replay', 'without DUP it is still a replay');
  });

  it('compacts by what the cache holds, not its capacity: the file stays within about three times the live nonces', () => {
    const file = path.join(dir, 'sized.log');
    const cache = new NonceCache({ windowSec: 300, onRecord: (l) => j.record(l) });
    const j: ReplayJournal = new ReplayJournal(cache, { file });
    j.open(T);
    // 200 devices, 100 messages/s, 2000 s: 200,000 records while the cache holds at most 30,000 (a 300 s window)
    let n = 0;
    let maxLines = 0;
    for (let sec = 0; sec < 2000; sec++) {
      for (let k = 0; k < 100; k++) cache.check(`d-${k % 200}`, `n-${n++}`, T + sec, T + sec);
      j.flush(T + sec);
      if (sec % 100 === 99) {
        const lines = fs.readFileSync(file, 'utf8').split('\n').length - 1;
        maxLines = Math.max(maxLines, lines);
        assert.ok(lines <= 3 * cache.size + 100, `${lines} lines for ${cache.size} live nonces`);
      }
    }
    // with the old rule (twice the capacity: 2,000,000 lines) nothing would have been compacted: 200,000 lines
    assert.ok(maxLines < 100_000, `at most ${maxLines} lines`);
    j.close(T + 2000);
  });

  it('skips a torn last line and compacts to the live state', () => {
    const file = path.join(dir, 'v.log');
    fs.writeFileSync(file, `n\tpump-7\tgood-nonce-1\t${T}\nn\tpump-7\tbad`);
    const { v, j } = verifierWithJournal(file, () => T + 1);
    assert.equal(v.nonces.size, 1);
    assert.equal(fs.readFileSync(file, 'utf8'), `n\tpump-7\tgood-nonce-1\t${T}\n`);
    for (let i = 0; i < 1500; i++) {
      v.verify({ payload: env(`nonce-${String(i).padStart(6, '0')}`, T) });
      j.flush(T + 1);
    }
    // compaction kept the file near the live state instead of growing with every append
    assert.ok(fs.readFileSync(file, 'utf8').split('\n').length < 1600);
    j.close(T + 1);
  });

  it('a failed write throws and keeps memory bounded; the next successful write rewrites the whole state', () => {
    const file = path.join(dir, 'v.log');
    const { v, j } = verifierWithJournal(file, () => T + 1);
    assert.equal(v.verify({ payload: env('before-fail-1', T) }).ok, true);
    j.flush(T + 1);
    // the disk goes away under the journal (here: its descriptor is closed behind its back)
    fs.closeSync((j as unknown as { fd: number }).fd);
    assert.equal(v.verify({ payload: env('during-fail-1', T) }).ok, true);
    assert.throws(() => j.flush(T + 1));
    assert.ok(j.lastError);
    assert.equal(j.hasPending, false, 'records are not piled up in memory');
    (j as unknown as { fd: number }).fd = fs.openSync(file, 'a'); // the disk is back
    assert.equal(v.verify({ payload: env('after-fail-1', T) }).ok, true);
    j.flush(T + 1);
    assert.equal(j.lastError, null);
    // the record lost during the failure is on disk again: a restarted verifier refuses all three
    const again = verifierWithJournal(file, () => T + 2);
    for (const n of ['before-fail-1', 'during-fail-1', 'after-fail-1']) {
      const r = again.v.verify({ payload: env(n, T) });
      assert.ok(!r.ok && r.reject.code === 'replay', n);
    }
  });

  /** fs.writeSync as a full disk answers: the first call writes `fits` bytes and returns, later calls ENOSPC */
  function fullDisk<R>(fits: number, f: () => R): R {
    const realWrite = fs.writeSync;
    let calls = 0;
    (fs as { writeSync: unknown }).writeSync = (fd: number, data: string | Buffer, ...rest: unknown[]) => {
      if (++calls > 1) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      if (typeof data === 'string') return realWrite(fd, data.slice(0, fits));
      const [off, len, pos] = rest as [number, number, number | null];
      return realWrite(fd, data, off, Math.min(len, fits), pos);
    };
    try {
      return f();
    } finally {
      (fs as { writeSync: unknown }).writeSync = realWrite;
    }
  }

  it('ATTACK (full disk): a short append throws and is cut off again; nothing acted upon is replayable after a restart (old code: torn record, no error)', () => {
    const file = path.join(dir, 'v.log');
    const { v, j } = verifierWithJournal(file, () => T + 1);
    assert.equal(v.verify({ payload: env('before-full-1', T) }).ok, true);
    j.flush(T + 1);
    const before = fs.readFileSync(file, 'utf8');
    for (let i = 0; i < 20; i++) assert.equal(v.verify({ payload: env(`on-full-disk-${i}`, T) }).ok, true);
    // the node passes these messages on only when flush() returns; a throw makes it say so (fail open, counted)
    assert.throws(() => fullDisk(10, () => j.flush(T + 1)), /ENOSPC|short write/);
    assert.ok(j.lastError, 'the failure is visible');
    assert.equal(fs.readFileSync(file, 'utf8'), before, 'no torn record left in the file');
    // room again: the next flush rewrites the whole state, the failed batch included
    assert.equal(v.verify({ payload: env('after-full-1', T) }).ok, true);
    j.flush(T + 2);
    assert.equal(j.lastError, null);
    const again = verifierWithJournal(file, () => T + 3);
    for (const n of ['before-full-1', 'on-full-disk-0', 'on-full-disk-19', 'after-full-1']) {
      const r = again.v.verify({ payload: env(n, T) });
      assert.ok(!r.ok && r.reject.code === 'replay', n);
    }
  });

  it('ATTACK (full disk): a compaction that does not fit keeps the old journal whole and leaves no temp file (old code: a truncated snapshot renamed over it)', () => {
    const file = path.join(dir, 'v.log');
    const { v, j } = verifierWithJournal(file, () => T + 1);
    for (let i = 0; i < 50; i++) assert.equal(v.verify({ payload: env(`kept-nonce-${i}`, T) }).ok, true);
    j.flush(T + 1);
    const before = fs.readFileSync(file, 'utf8');
    assert.throws(() => fullDisk(100, () => j.compact(T + 1)), /ENOSPC|short write/);
    assert.equal(fs.readFileSync(file, 'utf8'), before, 'the journal is untouched');
    assert.deepEqual(fs.readdirSync(dir), ['v.log'], 'no temp file holds the space');
    const again = verifierWithJournal(file, () => T + 2);
    for (let i = 0; i < 50; i++) {
      const r = again.v.verify({ payload: env(`kept-nonce-${i}`, T) });
      assert.ok(!r.ok && r.reject.code === 'replay', `kept-nonce-${i}`);
    }
  });

  it('while the disk stays full, rewrites are tried at most once per second, not once per batch', () => {
    const file = path.join(dir, 'v.log');
    const { v, j } = verifierWithJournal(file, () => T + 1);
    for (let i = 0; i < 200; i++) v.verify({ payload: env(`warm-${String(i).padStart(4, '0')}`, T) });
    j.flush(T + 1);
    const realOpen = fs.openSync;
    let opens = 0;
    (fs as { openSync: unknown }).openSync = (...a: Parameters<typeof fs.openSync>) => {
      opens++;
      throw Object.assign(new Error(`ENOSPC: no space left on device, open '${String(a[0])}'`), { code: 'ENOSPC' });
    };
    try {
      v.verify({ payload: env('first-failing', T) });
      assert.throws(() => fullDisk(0, () => j.flush(T + 1)), /short write/);
      for (let i = 0; i < 100; i++) {
        v.verify({ payload: env(`during-${i}`, T) });
        assert.throws(() => j.flush(T + 1), /ENOSPC/);
      }
      assert.equal(opens, 1, 'one rewrite attempt in that second');
      v.verify({ payload: env('next-second', T) });
      assert.throws(() => j.flush(T + 2), /ENOSPC/);
      assert.equal(opens, 2);
    } finally {
      (fs as { openSync: unknown }).openSync = realOpen;
    }
    v.verify({ payload: env('recovered', T) });
    j.flush(T + 3);
    assert.equal(j.lastError, null);
  });

  /** A cache of `devices` devices with `per` nonces each, journaled to `file` with small slices. */
  function filledJournal(file: string, devices: number, per: number, sliceLines: number) {
    const cache = new NonceCache({ windowSec: W, onRecord: (l) => j.record(l) });
    const j: ReplayJournal = new ReplayJournal(cache, { file, compactAfter: devices * per, sliceLines });
    j.open(T);
    for (let k = 0; k < per; k++) {
      for (let d = 0; d < devices; d++) cache.check(`dev-${d}`, `fill-${d}-${k}`, T, T);
      j.flush(T);
    }
    return { cache, j };
  }

  /** Bytes given to fs.writeSync by each call of f, for one file descriptor's worth of writes at a time. */
  function bytesWritten(f: () => void): number {
    const realWrite = fs.writeSync;
    let bytes = 0;
    (fs as { writeSync: unknown }).writeSync = (fd: number, data: Buffer, ...rest: unknown[]) => {
      const n = (realWrite as (...a: unknown[]) => number)(fd, data, ...rest);
      bytes += n;
      return n;
    };
    try {
      f();
    } finally {
      (fs as { writeSync: unknown }).writeSync = realWrite;
    }
    return bytes;
  }

  it('compacts in slices: no flush writes more than a slice of the snapshot (old code: the whole snapshot in one flush, a stall of every flow)', () => {
    const file = path.join(dir, 'sliced.log');
    // 100 devices x 400 nonces: the 40,000th appended line starts a compaction of ~40,000 snapshot lines
    const { cache, j } = filledJournal(file, 100, 399, 1000);
    const oneLine =
      `n	dev-00	fill-00-000	${T}
`.length + 4;
    let most = 0;
    let flushes = 0;
    let started = false;
    for (let k = 399; k < 600 && (!started || j.compacting); k++) {
      for (let d = 0; d < 100; d++) cache.check(`dev-${d}`, `fill-${d}-${k}`, T, T + 1);
      const bytes = bytesWritten(() => j.flush(T + 1));
      started ||= j.compacting;
      if (started) flushes++;
      most = Math.max(most, bytes);
    }
    assert.equal(j.compacting, false, 'the compaction finished');
    assert.ok(flushes >= 40, `spread over ${flushes} flushes`);
    // a slice of 1000 lines, the batch twice (journal and temp file): the old code wrote ~40,000 lines at once
    assert.ok(most <= (1000 + 2 * 100) * oneLine, `at most ${most} bytes in one flush`);
    const lines = fs.readFileSync(file, 'utf8').split('\n').length - 1;
    assert.ok(lines < 1.2 * cache.size, `${lines} lines for ${cache.size} nonces: compacted`);
    assert.deepEqual(fs.readdirSync(dir), ['sliced.log']);
    // everything, including what was accepted while the slices were written, reads back as used
    const again = new NonceCache({ windowSec: W });
    again.load(fs.readFileSync(file, 'utf8').split('\n'), T + 2);
    assert.equal(again.size, cache.size);
    for (const k of [0, 200, 399, 400 + flushes - 2])
      for (const d of [0, 57, 99])
        assert.equal(again.check(`dev-${d}`, `fill-${d}-${k}`, T, T + 2), NonceCheck.Replay, `${d}/${k}`);
    j.close(T + 2);
  });

  it('ATTACK (a full, busy cache): a compaction in slices ends although every message moves its device to the end of the order', () => {
    const file = path.join(dir, 'busy.log');
    // full: 20 devices x 100 nonces in a cache of 2000, so every remembered nonce moves its device to the end
    const cache = new NonceCache({ windowSec: W, capacity: 2000, perDevice: 100, onRecord: (l) => j.record(l) });
    const j: ReplayJournal = new ReplayJournal(cache, { file, compactAfter: 2000, sliceLines: 100 });
    j.open(T);
    let n = 0;
    let last: [string, string] = ['', ''];
    // a device's dropped nonces raise its floor to their second + 1: each batch is a second later
    const send = (d: number, sec: number) => {
      last = [`dev-${d}`, `busy-${n++}`];
      assert.equal(cache.check(last[0], last[1], T + sec, T + sec), NonceCheck.Fresh);
    };
    for (let k = 0; k < 100; k++) for (let d = 0; d < 20; d++) send(d, 0);
    j.flush(T); // 2000 lines appended: the compaction starts
    assert.equal(j.compacting, true);
    // each batch: ten devices send again, among them those the iteration has just passed (a live iteration
    // meets them again at the end of the order)
    let flushes = 0;
    for (let b = 0; j.compacting && b < 200; b++) {
      for (let d = 0; d < 20; d += 2) send((b + d) % 20, b + 1);
      j.flush(T + b + 1);
      flushes++;
    }
    assert.equal(j.compacting, false, `still compacting after ${flushes} flushes`);
    assert.ok(flushes <= 25, `${flushes} flushes for ~2000 lines in slices of 100`);
    const again = new NonceCache({ windowSec: W, capacity: 2000, perDevice: 100 });
    const now = T + flushes + 1;
    again.load(fs.readFileSync(file, 'utf8').split('\n'), now);
    assert.equal(again.check(last[0], last[1], now, now), NonceCheck.Replay, 'the last nonce sent while compacting');
    assert.equal(again.check('dev-0', 'busy-0', T, now), NonceCheck.BelowFloor, 'an early one, dropped with a floor');
    j.close(now);
  });

  it('ATTACK (kill -9 mid-compaction): the journal still holds every nonce, the half-written temp file is ignored and replaced', () => {
    const file = path.join(dir, 'killed.log');
    const { cache, j } = filledJournal(file, 50, 200, 500);
    for (let k = 200; k < 205; k++) {
      for (let d = 0; d < 50; d++) cache.check(`dev-${d}`, `fill-${d}-${k}`, T, T + 1);
      j.flush(T + 1);
    }
    assert.equal(j.compacting, true, 'killed while the compaction is under way');
    assert.ok(fs.existsSync(`${file}.tmp`));
    // the process dies here: nothing is closed. A new instance reads the journal, not the temp file
    const cache2 = new NonceCache({ windowSec: W, onRecord: (l) => j2.record(l) });
    const j2: ReplayJournal = new ReplayJournal(cache2, { file });
    j2.open(T + 2);
    assert.equal(cache2.size, 50 * 205);
    for (const k of [0, 199, 204])
      assert.equal(cache2.check('dev-7', `fill-7-${k}`, T, T + 2), NonceCheck.Replay, String(k));
    assert.deepEqual(fs.readdirSync(dir), ['killed.log'], 'the start compaction replaced the temp file');
    j2.close(T + 2);
  });

  it('ATTACK (full disk mid-compaction): the batch is journaled, flush does not fail, the temp file is removed and the retry waits (old code: flush threw for journaled messages, at every batch)', () => {
    const file = path.join(dir, 'full.log');
    const { cache, j } = filledJournal(file, 50, 199, 500);
    for (let d = 0; d < 50; d++) cache.check(`dev-${d}`, `fill-${d}-199`, T, T + 1);
    j.flush(T + 1); // the 10,000th line: the compaction starts
    assert.equal(j.compacting, true);
    const before = fs.statSync(file).size;
    for (let d = 0; d < 50; d++) cache.check(`dev-${d}`, `on-full-${d}`, T, T + 1);
    // the append fits (the first write), the temp file's next write does not
    fullDisk(1 << 20, () => j.flush(T + 1));
    assert.equal(j.lastError, null, 'the journal itself is fine');
    assert.equal(j.compactFailures, 1);
    assert.match(String(j.lastCompactError), /ENOSPC/);
    assert.equal(j.compacting, false);
    assert.deepEqual(fs.readdirSync(dir), ['full.log'], 'no temp file holds the space');
    assert.ok(fs.statSync(file).size > before, 'the batch was appended');
    // not retried at the next batches: only once as many lines were appended again
    for (let k = 0; k < 20; k++) {
      for (let d = 0; d < 50; d++) cache.check(`dev-${d}`, `after-${d}-${k}`, T, T + 1);
      j.flush(T + 1);
      assert.equal(j.compacting, false, `batch ${k}`);
    }
    const again = new NonceCache({ windowSec: W });
    again.load(fs.readFileSync(file, 'utf8').split('\n'), T + 2);
    for (const n of ['fill-3-0', 'on-full-3', 'after-3-19'])
      assert.equal(again.check('dev-3', n, T, T + 2), NonceCheck.Replay, n);
    j.close(T + 2);
  });

  it('ATTACK (kill -9 on a full disk): a restart whose compaction does not fit keeps the journal it read and appends to it (old code: open threw and the node refused every message until redeployed)', () => {
    const file = path.join(dir, 'v.log');
    const first = verifierWithJournal(file, () => T + 1);
    for (let i = 0; i < 5; i++) assert.equal(first.v.verify({ payload: env(`before-crash-${i}`, T) }).ok, true);
    first.j.flush(T + 1);
    fs.appendFileSync(file, 'n\tpump-7\ttorn'); // killed mid-write
    const realOpen = fs.openSync;
    (fs as { openSync: unknown }).openSync = (p: string, ...rest: unknown[]) => {
      if (String(p).endsWith('.tmp'))
        throw Object.assign(new Error(`ENOSPC: no space left on device, open '${p}'`), { code: 'ENOSPC' });
      return (realOpen as (...a: unknown[]) => number)(p, ...rest);
    };
    let second: ReturnType<typeof verifierWithJournal>;
    try {
      second = verifierWithJournal(file, () => T + 2);
    } finally {
      (fs as { openSync: unknown }).openSync = realOpen;
    }
    assert.match(String(second.j.lastError), /ENOSPC/, 'why it was not compacted');
    for (let i = 0; i < 5; i++) {
      const r = second.v.verify({ payload: env(`before-crash-${i}`, T) });
      assert.ok(!r.ok && r.reject.code === 'replay', `before-crash-${i}`);
    }
    assert.equal(second.v.verify({ payload: env('after-restart-1', T) }).ok, true);
    second.j.flush(T + 2); // room for an append again
    assert.equal(second.j.lastError, null);
    assert.ok(!fs.readFileSync(file, 'utf8').includes('torn'), 'the torn tail was cut before appending');
    const third = verifierWithJournal(file, () => T + 3);
    for (const n of ['before-crash-0', 'before-crash-4', 'after-restart-1']) {
      const r = third.v.verify({ payload: env(n, T) });
      assert.ok(!r.ok && r.reject.code === 'replay', n);
    }
  });
});
