// A SIGKILL cannot show a missing fsync (the kernel keeps the written pages), so the crash tests pass with or
// without one. What makes the spool power-cut safe is the order of system calls: the record is written, then
// fdatasync'd, before append() returns; a new segment's directory entry is fsync'd; the cursor file is
// fdatasync'd before it is renamed into place. This test wraps node:fs and checks exactly that sequence.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Spool } from '../../../../nodes/core/influx/spool';

type Call = { op: 'write' | 'fdatasync' | 'fsync' | 'rename'; file: string };

const fdPath = (fd: number) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd:${fd}`;
  }
};

describe('influx spool: durability system calls', () => {
  let dir: string;
  let calls: Call[];
  const saved = {
    writeSync: fs.writeSync,
    fdatasyncSync: fs.fdatasyncSync,
    fsyncSync: fs.fsyncSync,
    renameSync: fs.renameSync,
  };

  before(function () {
    if (!fs.existsSync('/proc/self/fd')) this.skip(); // Linux-only way of naming a descriptor's file
  });

  beforeEach(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'moby-spool-sync-')));
    calls = [];
    const mutableFs = fs as unknown as Record<string, unknown>;
    mutableFs.writeSync = (fd: number, ...rest: unknown[]) => {
      calls.push({ op: 'write', file: fdPath(fd) });
      return (saved.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    };
    mutableFs.fdatasyncSync = (fd: number) => {
      calls.push({ op: 'fdatasync', file: fdPath(fd) });
      return saved.fdatasyncSync(fd);
    };
    mutableFs.fsyncSync = (fd: number) => {
      calls.push({ op: 'fsync', file: fdPath(fd) });
      return saved.fsyncSync(fd);
    };
    mutableFs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
      calls.push({ op: 'rename', file: `${String(from)} -> ${String(to)}` });
      return saved.renameSync(from, to);
    };
  });

  afterEach(() => {
    Object.assign(fs as unknown as Record<string, unknown>, saved);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lines = (n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => `m,device_id=d v=${from + i} ${1795307652874 + from + i}`);
  const seg = (k: number) => path.join(dir, `seg-${String(k).padStart(12, '0')}.jsonl`);
  const since = (mark: number) =>
    calls.slice(mark).filter((c) => c.op !== 'write' || c.file.endsWith('.jsonl') || c.file.endsWith('.tmp'));

  it('append: writes the record, then fdatasyncs the segment; the first record of a segment also fsyncs the directory', () => {
    const s = Spool.open({ dir, segmentBytes: 4096 });
    try {
      let mark = calls.length;
      s.append(lines(3));
      const first = since(mark);
      const segFile = first.find((c) => c.op === 'write' && c.file.endsWith('.jsonl'))?.file;
      assert.ok(segFile, `a record was written: ${JSON.stringify(first)}`);
      assert.deepEqual(
        first.filter((c) => c.file === segFile || c.file === dir),
        [
          { op: 'fsync', file: dir },
          { op: 'write', file: segFile },
          { op: 'fdatasync', file: segFile },
        ],
        'directory entry made durable, then the record written and synced'
      );

      mark = calls.length;
      s.append(lines(2, 3));
      assert.deepEqual(
        since(mark),
        [
          { op: 'write', file: segFile },
          { op: 'fdatasync', file: segFile },
        ],
        'a record appended to an existing segment: one write, one fdatasync, no directory sync'
      );
    } finally {
      s.close();
    }
  });

  it('a rollover to a new segment syncs the new directory entry before the record', () => {
    const s = Spool.open({ dir, segmentBytes: 64 * 1024, maxBytes: 1 << 20 });
    try {
      const big = lines(400); // ~16 KiB per record: the fifth record starts a new segment
      for (let i = 0; i < 4; i++) s.append(big);
      const mark = calls.length;
      s.append(big);
      const got = since(mark);
      const newSeg = got.find((c) => c.op === 'write')?.file;
      assert.ok(newSeg && newSeg !== seg(1), `the record went to a new segment: ${JSON.stringify(got)}`);
      assert.deepEqual(got, [
        { op: 'fsync', file: dir },
        { op: 'write', file: newSeg },
        { op: 'fdatasync', file: newSeg },
      ]);
    } finally {
      s.close();
    }
  });

  it('ack: the cursor is fdatasynced in its temporary file before it is renamed over cursor.json', () => {
    const s = Spool.open({ dir });
    try {
      s.append(lines(2));
      s.append(lines(2, 2));
      const mark = calls.length;
      s.ack();
      const tmp = path.join(dir, 'cursor.json.tmp');
      assert.deepEqual(
        since(mark).filter((c) => c.op !== 'fsync'),
        [
          { op: 'write', file: tmp },
          { op: 'fdatasync', file: tmp },
          { op: 'rename', file: `${tmp} -> ${path.join(dir, 'cursor.json')}` },
        ]
      );
    } finally {
      s.close();
    }
  });

  it('with fsync=false (tests, benchmarks) it writes the same records and syncs nothing', () => {
    const s = Spool.open({ dir, fsync: false });
    try {
      s.append(lines(2));
      s.append(lines(2, 2));
      s.ack();
      assert.equal(calls.filter((c) => c.op === 'fdatasync' || c.op === 'fsync').length, 0);
      assert.ok(
        calls.some((c) => c.op === 'write' && c.file.endsWith('.jsonl')),
        'the wrapper sees the writes'
      );
    } finally {
      s.close();
    }
  });
});
