import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Spool, spoolFloor } from '../../../../nodes/core/influx/spool';
import { mountTmpfs, unmountTmpfs } from '../../../support/net';

const batch = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `m,device_id=d v=${from + i} ${1795307652874 + from + i}`);

describe('influx spool', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-spool-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function drain(s: Spool): string[] {
    const out: string[] = [];
    for (let b = s.peek(); b; b = s.peek()) {
      out.push(...b);
      s.ack();
    }
    return out;
  }

  it('replays appended batches in order, only removing acknowledged ones, across reopen', () => {
    let s = Spool.open({ dir, fsync: false });
    s.append(batch(0, 3));
    s.append(batch(3, 2));
    s.append(batch(5, 4));
    assert.equal(s.points, 9);
    assert.equal(s.batches, 3);
    assert.deepEqual(s.peek(), batch(0, 3));
    assert.deepEqual(s.peek(), batch(0, 3), 'peek does not consume');
    s.ack();
    s.close();
    s = Spool.open({ dir, fsync: false });
    assert.equal(s.points, 6, 'the acknowledged batch stays gone after reopen');
    assert.deepEqual(drain(s), [...batch(3, 2), ...batch(5, 4)]);
    assert.equal(s.points, 0);
    s.close();
    s = Spool.open({ dir, fsync: false });
    assert.equal(s.batches, 0);
    assert.equal(s.peek(), null);
    s.close();
  });

  it('refuses to open the same directory twice in one process', () => {
    const s = Spool.open({ dir, fsync: false });
    assert.throws(() => Spool.open({ dir, fsync: false }), /already open/);
    s.close();
    Spool.open({ dir, fsync: false }).close();
  });

  it('refuses a directory locked by another live process, and takes over the lock of a dead one', () => {
    fs.writeFileSync(path.join(dir, 'lock'), String(process.ppid));
    assert.throws(() => Spool.open({ dir, fsync: false }), /in use by process/);
    fs.writeFileSync(path.join(dir, 'lock'), '999999999');
    const s = Spool.open({ dir, fsync: false });
    assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), String(process.pid));
    s.close();
    assert.equal(fs.existsSync(path.join(dir, 'lock')), false);
  });

  it('opens on a full disk (a restart while the spool filled it): what it held is recovered, appends fail until there is room (old code: the lock could not be written and the spool did not open at all)', function () {
    const disk = path.join(dir, 'disk');
    fs.mkdirSync(disk);
    mountTmpfs(this, disk, '1m');
    try {
      const spoolDir = path.join(disk, 'spool');
      let s = Spool.open({ dir: spoolDir, fsync: false });
      s.append(batch(0, 50));
      s.close(); // a stop in order removes the lock: the next open must write it again
      const filler = path.join(disk, 'filler');
      try {
        fs.writeFileSync(filler, Buffer.alloc(1 << 20));
      } catch {
        /* ENOSPC once full: what we want */
      }
      s = Spool.open({ dir: spoolDir, fsync: false });
      assert.equal(s.points, 50, 'recovered');
      assert.throws(() => s.append(batch(50, 400)), /ENOSPC/);
      fs.rmSync(filler);
      s.append(batch(50, 400));
      assert.deepEqual(drain(s), [...batch(0, 50), ...batch(50, 400)]);
      s.close();
    } finally {
      unmountTmpfs(disk);
    }
  });

  it('leaves room on its disk for the alert state and journals: below the floor an append fails as a full disk (operator round 2026-12-07: the spool filled MOBY_HOME, a page went out for an alert a crash then forgot)', function () {
    assert.equal(spoolFloor(3 << 20), 256 << 10, 'a small disk: 256 KiB');
    assert.equal(spoolFloor(1 << 30), Math.floor((1 << 30) * 0.02), '2 %');
    assert.equal(spoolFloor(1e12), 64 << 20, 'at most 64 MiB');
    const disk = path.join(dir, 'disk');
    fs.mkdirSync(disk);
    mountTmpfs(this, disk, '2m');
    try {
      const s = Spool.open({ dir: path.join(disk, 'spool'), fsync: false });
      let appended = 0;
      let refused: Error | null = null;
      for (let i = 0; i < 10_000 && !refused; i++) {
        try {
          s.append(batch(i * 100, 100));
          appended++;
        } catch (err) {
          refused = err as Error;
        }
      }
      assert.ok(refused, 'the spool stopped');
      assert.equal((refused as NodeJS.ErrnoException).code, 'ENOSPC', 'handled as any full disk');
      assert.match(refused.message, /^ENOSPC: no space left on device for the spool: it leaves 256 KiB free/);
      assert.ok(appended > 10, `it wrote ${appended} batches first`);
      // what it left is there for the others: the alert state's writes go through
      fs.writeFileSync(path.join(disk, 'alert-state'), Buffer.alloc(200 << 10));
      assert.equal(s.points, appended * 100, 'nothing half-written');
      // with the floor off it takes the rest (the previous behaviour)
      s.close();
      const all = Spool.open({ dir: path.join(disk, 'spool'), fsync: false, minFreeBytes: 0 });
      assert.throws(() => {
        for (let i = 0; i < 10_000; i++) all.append(batch(i * 100, 100));
      }, /ENOSPC: no space left on device, write/);
      all.close();
    } finally {
      unmountTmpfs(disk);
    }
  });

  it('detects a torn last record (crash mid-write), skips it and keeps appending cleanly', () => {
    let s = Spool.open({ dir, fsync: false });
    s.append(batch(0, 2));
    s.append(batch(2, 2));
    s.close();
    const seg = fs.readdirSync(dir).find((f) => f.startsWith('seg-'))!;
    const file = path.join(dir, seg);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 7); // the second record lost its tail and newline
    s = Spool.open({ dir, fsync: false });
    assert.equal(s.corruptRecords, 1);
    assert.equal(s.points, 2);
    s.append(batch(10, 1));
    s.close();
    s = Spool.open({ dir, fsync: false });
    assert.equal(s.corruptRecords, 0, 'the torn tail was cut, the new record is intact');
    assert.deepEqual(drain(s), [...batch(0, 2), ...batch(10, 1)]);
    s.close();
  });

  it('skips a record whose checksum does not match', () => {
    let s = Spool.open({ dir, fsync: false });
    s.append(batch(0, 1));
    s.append(batch(1, 1));
    s.close();
    const file = path.join(
      dir,
      fs.readdirSync(dir).find((f) => f.startsWith('seg-'))!
    );
    const text = fs.readFileSync(file, 'utf8').replace('v=0 ', 'v=9 ');
    fs.writeFileSync(file, text);
    s = Spool.open({ dir, fsync: false });
    assert.equal(s.corruptRecords, 1);
    assert.deepEqual(drain(s), batch(1, 1));
    s.close();
  });

  it('rotates segments, deletes consumed ones and drops the oldest when the bound is hit', () => {
    const s = Spool.open({ dir, fsync: false, maxBytes: 64 * 1024, segmentBytes: 8 * 1024 });
    let appended = 0;
    let droppedSeen = 0;
    for (let i = 0; i < 400; i++) {
      droppedSeen += s.append(batch(i * 10, 10));
      appended += 10;
    }
    const segs = fs.readdirSync(dir).filter((f) => f.startsWith('seg-'));
    assert.ok(segs.length > 1, 'rotated');
    assert.ok(s.bytes <= 64 * 1024, `within bound: ${s.bytes}`);
    assert.ok(s.droppedPoints > 0);
    assert.equal(droppedSeen, s.droppedPoints);
    assert.equal(s.points + s.droppedPoints, appended, 'every point is either spooled or counted as dropped');
    const left = drain(s);
    // what is left is the newest data, contiguous and in order
    assert.deepEqual(left, batch(appended - left.length, left.length));
    assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('seg-')).length, 0, 'consumed segments are deleted');
    s.close();
  });

  it('a replay request in flight while the bound drops its batches acknowledges only what it carried (red-team 2026-12-05)', () => {
    // the writer peeks the oldest batches, sends them (slow database), and meanwhile appends drop whole oldest
    // segments — the very batches in flight. Before, ack(n) then ran n entries on from the new head and removed
    // newer batches nobody had sent: lost, uncounted, while the counter named points that reached the database.
    const open = () => Spool.open({ dir, fsync: false, maxBytes: 16 * 1024, segmentBytes: 2 * 1024 });
    let s = open();
    let n = 0;
    const next = () => batch((n += 10) - 10, 10);
    for (let i = 0; i < 20; i++) s.append(next());
    const sent = s.peekBatches(40)!;
    assert.deepEqual(sent.lines, batch(0, 40));
    let countedAtAppend = 0;
    for (let i = 0; i < 60; i++) countedAtAppend += s.append(next());
    assert.ok(s.points < n - 40, 'the bound dropped batches');
    assert.equal(s.droppedPoints, countedAtAppend, 'the batches in flight are not counted while their request is out');
    const spooled = s.points;
    s.ack(sent.batches, sent.first); // the request succeeded
    assert.equal(s.points, spooled, 'the ack removed none of the batches that were never sent');
    assert.equal(s.points + s.droppedPoints + sent.lines.length, n, 'every point spooled, counted dropped or stored');
    s.close();
    // the cursor on disk agrees: what is left is the newest data, contiguous, in order
    s = open();
    assert.deepEqual(drain(s), batch(n - spooled, spooled));
    s.close();
  });

  it('counts what the bound dropped of a request in flight only when that request fails', () => {
    const s = Spool.open({ dir, fsync: false, maxBytes: 16 * 1024, segmentBytes: 2 * 1024 });
    let n = 0;
    const next = () => batch((n += 10) - 10, 10);
    for (let i = 0; i < 20; i++) s.append(next());
    const sent = s.peekBatches(30)!;
    let countedAtAppend = 0;
    for (let i = 0; i < 80; i++) countedAtAppend += s.append(next());
    const notSent = s.droppedPoints;
    assert.equal(countedAtAppend, notSent, 'append reports only drops of batches not in flight');
    s.sendFailed();
    assert.equal(s.droppedPoints, notSent + sent.lines.length, 'the dropped batches of a failed request are counted');
    assert.equal(s.points + s.droppedPoints, n);
    s.close();
  });

  // A crash leaves the files as they are (every write is synchronous): a copy of the directory opened beside
  // the live spool is what a restart after a kill -9 would open.
  function afterCrash(s: Spool, opts: { maxBytes: number; segmentBytes: number }, check: (r: Spool) => void): void {
    const copy = `${dir}-crashed`;
    fs.cpSync(s.dir, copy, { recursive: true });
    const r = Spool.open({ dir: copy, fsync: false, ...opts });
    try {
      check(r);
    } finally {
      r.close();
      s.close();
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }

  it('a crash while a request is out: what the bound dropped of it counts as lost after the restart, and earlier drops stay counted (red-team 2026-12-06)', () => {
    // before, the in-flight drops lived only in memory and the cursor moved past them: after a kill -9 they
    // were in neither the spool, the database (the request never landed) nor any count
    const opts = { maxBytes: 16 * 1024, segmentBytes: 2 * 1024 };
    const s = Spool.open({ dir, fsync: false, ...opts });
    let n = 0;
    const next = () => batch((n += 10) - 10, 10);
    for (let i = 0; i < 20; i++) s.append(next());
    const sent = s.peekBatches(30)!;
    for (let i = 0; i < 80; i++) s.append(next());
    const notSent = s.droppedPoints;
    assert.ok(notSent > 0);
    afterCrash(s, opts, (r) => {
      assert.equal(r.droppedPoints, notSent + sent.lines.length, 'the earlier drops and the in-flight ones');
      assert.equal(r.points + r.droppedPoints, n, 'every point is spooled or counted');
      assert.equal(r.reportedDrops, 0);
    });
  });

  it('counts a drop when it happens, even if the append that needed the room then fails (a full disk), and keeps what the owner reported', () => {
    const opts = { maxBytes: 16 * 1024, segmentBytes: 2 * 1024 };
    const s = Spool.open({ dir, fsync: false, ...opts });
    let n = 0;
    const next = () => batch((n += 10) - 10, 10);
    while (s.bytes + 1000 < opts.maxBytes) s.append(next());
    s.reportedDrops = 7; // what the node had said so far (moby-influx.ts), kept with the next cursor write
    const before = { points: s.points, dropped: s.droppedPoints };
    const real = fs.writeSync;
    // record writes (at an offset) fail; the cursor's temp file still writes: the dropped segment freed room
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, off?: number, len?: number, pos?: number) => {
      if (pos !== undefined)
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return real(fd, buf, off, len);
    };
    try {
      assert.throws(() => s.append(batch(1e6, 100)), /ENOSPC/);
    } finally {
      (fs as { writeSync: unknown }).writeSync = real;
    }
    const vanished = before.points - s.points;
    assert.ok(vanished > 0, 'the append dropped old segments before its write failed');
    assert.equal(s.droppedPoints - before.dropped, vanished, 'every point that left the spool is counted');
    afterCrash(s, opts, (r) => {
      assert.equal(r.points, s.points);
      assert.equal(r.droppedPoints, s.droppedPoints, 'the count survives a crash');
      assert.equal(r.reportedDrops, 7);
    });
  });

  it('keeps what the owner counted at once, also on an idle spool: a restart counts only drops never counted (before: the same drops counted again at every restart)', () => {
    const opts = { maxBytes: 16 * 1024, segmentBytes: 2 * 1024 };
    const s = Spool.open({ dir, fsync: false, ...opts });
    let n = 0;
    for (let i = 0; i < 100; i++) s.append(batch((n += 10) - 10, 10));
    const dropped = s.droppedPoints;
    assert.ok(dropped > 0);
    // the database is back and took everything: the spool is idle, nothing else writes its cursor
    s.ack(s.batches);
    s.markReported(dropped);
    assert.equal(s.reportedDrops, dropped);
    afterCrash(s, opts, (r) => {
      assert.equal(r.droppedPoints, dropped);
      assert.equal(r.reportedDrops, dropped, 'nothing left to count after the restart');
    });
    // never more than was dropped
    s.markReported(dropped + 1000);
    assert.equal(s.reportedDrops, dropped);
  });

  it('survives a crash between a write and the cursor update by replaying that batch (at-least-once)', () => {
    let s = Spool.open({ dir, fsync: false });
    s.append(batch(0, 1));
    s.append(batch(1, 1));
    const cursorBefore = fs.readFileSync(path.join(dir, 'cursor.json'), 'utf8');
    s.ack();
    s.close();
    fs.writeFileSync(path.join(dir, 'cursor.json'), cursorBefore); // as if the rename never happened
    s = Spool.open({ dir, fsync: false });
    assert.deepEqual(drain(s), [...batch(0, 1), ...batch(1, 1)]);
    s.close();
  });
});
