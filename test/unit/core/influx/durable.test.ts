// The writer tells each add() when its lines are durable (database 2xx or fsync'd in the spool), and a
// spool that cannot be written holds data in memory, refuses beyond a bound and recovers by itself —
// what a source acknowledging MQTT messages on durability relies on.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InfluxWriter, WriterFullError } from '../../../../nodes/core/influx/writer';
import { createInfluxSend } from '../../../../nodes/core/influx/transport';
import { Spool } from '../../../../nodes/core/influx/spool';
import { freePort, waitFor } from '../../../support/net';
import { lines, useWriterEnv } from '../../../support/influx-writer';

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('influx writer: durability callbacks and a failing spool', () => {
  const env = useWriterEnv('moby-durable-');
  const send = (url = env.sink.url) =>
    createInfluxSend({ url, org: 'moby', bucket: 'plant', precision: 'ms', timeoutMs: 2000 });

  it('calls back only after the database acknowledged the batch holding the lines, one call per add()', async () => {
    const w = (env.writer = new InfluxWriter({
      send: send(),
      spool: Spool.open({ dir: env.dir, fsync: false }),
      batchSize: 4,
      flushIntervalMs: 60000,
      durableFlushMs: 10,
    }));
    const order: string[] = [];
    let calls = 0;
    // 3 + 3 + 3 lines over batches of 4: the second add spans two batches
    w.add(lines(0, 3), () => (calls++, order.push('a')));
    w.add(lines(3, 3), () => (calls++, order.push('b')));
    w.add(lines(6, 3), () => (calls++, order.push('c')));
    assert.equal(calls, 0, 'nothing is durable before the database answered');
    assert.equal(w.stats().unsettled, 9);
    await waitFor(() => calls === 3, 3000, 'all three durable');
    assert.deepEqual(env.sink.accepted, lines(0, 9));
    assert.deepEqual(order.sort(), ['a', 'b', 'c']);
    assert.equal(w.stats().unsettled, 0);
    // the partial batch was cut early because someone waited for it (flushInterval is a minute)
    assert.ok(env.sink.requests.length >= 2);
  });

  it("calls back once lines are fsync'd in the spool while the database is down", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const w = (env.writer = new InfluxWriter({
      send: send(down),
      spool: Spool.open({ dir: env.dir, fsync: true }),
      batchSize: 5,
      flushIntervalMs: 60000,
      durableFlushMs: 5,
      backoff: { initialMs: 50, maxMs: 50, jitter: 0 },
    }));
    let calls = 0;
    for (let i = 0; i < 4; i++) w.add(lines(i * 5, 5), () => calls++);
    await waitFor(() => calls === 4, 5000, 'spooled = durable');
    assert.equal(w.stats().spooled, 20);
  });

  it('a full disk holds the lines in memory without calling back, says so, and recovers by itself', async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false });
    const append = spool.append.bind(spool);
    let diskFull = true;
    spool.append = (l: readonly string[]) => {
      if (diskFull) throw enospc();
      return append(l);
    };
    const errors: string[] = [];
    let recovered = 0;
    const w = (env.writer = new InfluxWriter({
      send: null,
      spool,
      batchSize: 5,
      flushIntervalMs: 60000,
      durableFlushMs: 1,
      maxQueuedBatches: 2,
      onError: (e) => errors.push(e.message),
      onRecovered: () => recovered++,
    }));
    let calls = 0;
    for (let i = 0; i < 10; i++) w.add(lines(i * 5, 5), () => calls++);
    await waitFor(() => w.stats().spoolError !== undefined, 2000, 'spool error visible');
    assert.equal(w.stats().spoolError, 'ENOSPC: no space left on device, write', 'the code is not said twice');
    assert.equal(w.stats().lastError, undefined, "the spool's error is not the database's (before: 'spool: ENOSPC …')");
    assert.equal(calls, 0, 'nothing held in memory is reported durable');
    assert.equal(w.stats().buffered, 50);
    assert.equal(errors.length, 1, 'logged once per episode, not per batch');
    // bound: 10 × maxQueuedBatches × batchSize = 100 points held; beyond that add() refuses and counts
    w.add(lines(50, 50), () => calls++);
    assert.throws(() => w.add(lines(100, 1), () => calls++), WriterFullError);
    assert.equal(w.stats().refused, 1);
    assert.equal(w.stats().dropped, 1, 'a refused point is counted with the dropped ones');
    await new Promise((r) => setTimeout(r, 20)); // let the pending appends fail too
    assert.equal(calls, 0);
    diskFull = false; // space again: the retry timer appends without any new input
    await waitFor(() => calls === 11, 10000, 'recovered by itself');
    assert.equal(recovered, 1);
    assert.equal(w.stats().spoolError, undefined);
    assert.equal(w.stats().spooled, 100);
    assert.equal(w.stats().buffered, 0);
  });

  it('with the database up, a failing spool does not stop direct writes', async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false });
    spool.append = () => {
      throw enospc();
    };
    const w = (env.writer = new InfluxWriter({
      send: send(),
      spool,
      batchSize: 5,
      flushIntervalMs: 60000,
      durableFlushMs: 1,
    }));
    let calls = 0;
    for (let i = 0; i < 6; i++) w.add(lines(i * 5, 5), () => calls++);
    await waitFor(() => calls === 6, 3000, 'written directly');
    assert.equal(env.sink.accepted.length, 30);
  });

  it('close leaves what the disk refused unacknowledged and counts it', async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false });
    spool.append = () => {
      throw enospc();
    };
    const w = (env.writer = new InfluxWriter({
      send: null,
      spool,
      batchSize: 5,
      flushIntervalMs: 60000,
      durableFlushMs: 1,
    }));
    let calls = 0;
    w.add(lines(0, 7), () => calls++);
    await w.close(10);
    env.writer = null;
    assert.equal(calls, 0);
    assert.equal(w.stats().refused, 7);
  });
});

describe('influx spool: a write the disk cannot finish', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-spool-short-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a short write followed by ENOSPC is cut off again: later appends and a reopen read every record', () => {
    const s = Spool.open({ dir, fsync: false });
    s.append(lines(0, 3));
    const real = fs.writeSync;
    let calls = 0;
    // the disk takes 10 bytes of the next record, then is full
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, off?: number, len?: number, pos?: number) => {
      calls++;
      if (calls === 1) return real(fd, buf, off, Math.min(10, len ?? buf.length), pos);
      throw enospc();
    };
    try {
      assert.throws(() => s.append(lines(3, 3)), /ENOSPC/);
    } finally {
      (fs as { writeSync: unknown }).writeSync = real;
    }
    assert.equal(s.points, 3, 'the failed batch is not counted as spooled');
    s.append(lines(6, 3));
    s.close();
    const r = Spool.open({ dir, fsync: false });
    assert.equal(r.corruptRecords, 0, 'no torn record left behind');
    assert.deepEqual(r.peekBatches(100)?.lines, [...lines(0, 3), ...lines(6, 3)]);
    r.close();
  });
});

describe('influx spool: acknowledging on a full disk', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-spool-fullack-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('an ack whose cursor cannot be written does not throw (the replay that frees space goes on); a reopen replays, never loses', () => {
    const s = Spool.open({ dir, fsync: false });
    s.append(lines(0, 2));
    s.append(lines(2, 2));
    s.append(lines(4, 2));
    const real = fs.openSync;
    (fs as { openSync: unknown }).openSync = (p: fs.PathLike, ...rest: unknown[]) => {
      if (String(p).endsWith('cursor.json.tmp')) throw enospc();
      return (real as (...a: unknown[]) => number)(p, ...rest);
    };
    try {
      s.ack(1);
    } finally {
      (fs as { openSync: unknown }).openSync = real;
    }
    assert.match(s.cursorError ?? '', /ENOSPC/);
    assert.deepEqual(s.peekBatches(100)?.lines, lines(2, 4), 'in memory the batch is gone');
    s.close();
    const r = Spool.open({ dir, fsync: false });
    assert.deepEqual(
      r.peekBatches(100)?.lines,
      lines(0, 6),
      'the lagging cursor replays the acknowledged batch again (stored once by the database)'
    );
    r.ack(1);
    assert.equal(r.cursorError, null);
    r.close();
  });
});
