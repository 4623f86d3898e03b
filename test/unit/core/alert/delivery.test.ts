// DeliveryQueue with a fake scheduler: backoff with jitter, exactly-once after success, non-retryable
// errors, attempts limit, bounded lanes, independent channels, and the journal across a restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { retryDelay } from '../../../../nodes/core/retry';
import {
  DeliveryError,
  DeliveryQueue,
  type DeliveryJob,
  type DeliveryOptions,
  type Scheduler,
} from '../../../../nodes/core/alert/delivery';

/** Timers that fire only when the test advances the fake clock. */
class FakeScheduler implements Scheduler {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private seq = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  /**
   * Moves time forward, firing due timers in order and letting the sends' promises settle in between. A queue
   * that keeps rescheduling (e.g. resending after a success) fails here with an assertion instead of looping
   * until the process runs out of memory.
   */
  async advance(ms: number, maxFirings = 10_000): Promise<void> {
    const end = this.t + ms;
    let fired = 0;
    await settle();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      assert.ok(
        ++fired <= maxFirings,
        `more than ${maxFirings} timers fired in ${ms} ms of fake time: a runaway queue`
      );
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

type P = { n: number };

/** No test here sends anywhere near this often; more means the queue is looping. */
const MAX_SENDS = 1000;

function scripted(outcomes: Array<'ok' | Error>) {
  const calls: Array<{ key: string; at: number }> = [];
  return {
    calls,
    sender: (sched: Scheduler) => async (job: DeliveryJob<P>) => {
      // a queue that sends again after a success would call this without end: stop it with a clear failure
      assert.ok(calls.length < MAX_SENDS, `the fake sender was called more than ${MAX_SENDS} times`);
      calls.push({ key: job.key, at: sched.now() });
      const o = outcomes.shift() ?? 'ok';
      if (o !== 'ok') throw o;
    },
  };
}

function queue(sched: FakeScheduler, senders: DeliveryOptions<P>['senders'], extra: Partial<DeliveryOptions<P>> = {}) {
  const delivered: string[] = [];
  const failed: Array<{ key: string; reason: string }> = [];
  const q = new DeliveryQueue<P>({
    senders,
    scheduler: sched,
    random: () => 0.5, // jitter factor exactly 1.0
    baseMs: 1000,
    capMs: 16000,
    onDelivered: (j) => delivered.push(j.key),
    onFailed: (j, reason) => failed.push({ key: j.key, reason }),
    ...extra,
  });
  return { q, delivered, failed };
}

describe('alert delivery queue', () => {
  it('backoff doubles from the base to the cap with ±20 % jitter (the shared retry policy)', () => {
    const policy = { initialMs: 1000, maxMs: 16000, factor: 2, jitter: 0.2, maxRetryAfterMs: 16000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((a) => retryDelay(a, policy, undefined, () => 0.5)),
      [1000, 2000, 4000, 8000, 16000, 16000, 16000]
    );
    assert.equal(
      retryDelay(3, policy, undefined, () => 0),
      3200
    );
    assert.equal(
      retryDelay(3, policy, undefined, () => 0.999999),
      4800
    );
  });

  it('retries with 1, 2, 4, 8 s and delivers exactly once after the success', async () => {
    const sched = new FakeScheduler();
    const s = scripted([
      new Error('HTTP 500'),
      new DeliveryError('timeout'),
      new Error('HTTP 502'),
      new Error('HTTP 503'),
    ]);
    const { q, delivered } = queue(sched, { slack: s.sender(sched) });
    assert.ok(q.enqueue('slack', 'a1:open', { n: 1 }));
    await sched.advance(60000);
    assert.deepEqual(
      s.calls.map((c) => c.at),
      [0, 1000, 3000, 7000, 15000]
    );
    assert.deepEqual(delivered, ['slack:a1:open']);
    assert.equal(q.enqueue('slack', 'a1:open', { n: 1 }), false, 'a sent key is not queued again');
    await sched.advance(60000);
    assert.equal(s.calls.length, 5);
  });

  it('honours Retry-After hints, fails non-retryable errors at once and gives up after maxAttempts', async () => {
    const sched = new FakeScheduler();
    const hinted = scripted([new DeliveryError('429', true, 5000)]);
    const bad = scripted([new DeliveryError('HTTP 400', false)]);
    const down = scripted(Array.from({ length: 10 }, () => new Error('HTTP 500')));
    const { q, failed } = queue(
      sched,
      { hinted: hinted.sender(sched), bad: bad.sender(sched), down: down.sender(sched) },
      { maxAttempts: 3 }
    );
    q.enqueue('hinted', 'k', { n: 1 });
    q.enqueue('bad', 'k', { n: 1 });
    q.enqueue('down', 'k', { n: 1 });
    await sched.advance(30000);
    assert.deepEqual(
      hinted.calls.map((c) => c.at),
      [0, 5000]
    );
    assert.equal(bad.calls.length, 1);
    assert.equal(down.calls.length, 3);
    assert.deepEqual(failed.map((f) => f.key).sort(), ['bad:k', 'down:k']);
    assert.match(failed.find((f) => f.key === 'down:k')!.reason, /gave up after 3 attempts: HTTP 500/);
    assert.equal(failed.find((f) => f.key === 'bad:k')!.reason, 'HTTP 400');
  });

  it('keeps a job past maxAttempts while keepTrying says so, at the capped backoff, and reports it overdue once', async () => {
    const sched = new FakeScheduler();
    // down for 12 attempts, then back
    const down = scripted(Array.from({ length: 12 }, () => new Error('HTTP 503')));
    let alertOpen = true;
    const overdue: Array<{ key: string; attempts: number; error: string }> = [];
    const { q, delivered, failed } = queue(
      sched,
      { hook: down.sender(sched) },
      {
        maxAttempts: 3,
        orderKey: (job) => job.key.split(':')[1],
        keepTrying: (job) => job.key.endsWith(':open') && alertOpen,
        onOverdue: (job, error) => overdue.push({ key: job.key, attempts: job.attempts, error }),
      }
    );
    q.enqueue('hook', 'a1:open', { n: 1 });
    q.enqueue('hook', 'a9:update', { n: 2 });
    await sched.advance(600_000);
    assert.deepEqual(failed, [{ key: 'hook:a9:update', reason: 'gave up after 3 attempts: HTTP 503' }]);
    assert.deepEqual(overdue, [{ key: 'hook:a1:open', attempts: 3, error: 'HTTP 503' }], 'reported once');
    assert.deepEqual(delivered, ['hook:a1:open'], 'the page got through once the receiver was back');
    const opens = down.calls.filter((c) => c.key === 'hook:a1:open').map((c) => c.at);
    assert.equal(opens.length, 10, '9 failed attempts (3 of the 12 failures went to the update), then the delivery');
    const gaps = opens.slice(1).map((t, i) => t - opens[i]);
    assert.deepEqual(gaps.slice(-4), [16000, 16000, 16000, 16000], 'tried again at the cap');

    // a page whose alert was handled meanwhile gives up before its next attempt: one more send could page on-call
    // for an alert already acknowledged (verification round 2026-12-07)
    const still = scripted(Array.from({ length: 50 }, () => new Error('HTTP 503')));
    const second = queue(sched, { hook: still.sender(sched) }, { maxAttempts: 3, keepTrying: () => alertOpen });
    second.q.enqueue('hook', 'a2:open', { n: 1 });
    await sched.advance(60_000);
    assert.equal(second.failed.length, 0);
    alertOpen = false;
    const sendsBefore = still.calls.length;
    await sched.advance(20_000);
    assert.equal(still.calls.length, sendsBefore, 'not sent again');
    assert.equal(second.failed.length, 1);
    assert.match(second.failed[0].reason, /^gave up after \d+ attempts: HTTP 503$/);
    assert.equal(second.q.pendingCount(), 0);
  });

  it('keeps order per channel, one send in flight, and a stuck channel does not delay another', async () => {
    const sched = new FakeScheduler();
    const stuck = scripted(Array.from({ length: 5 }, () => new Error('down')));
    const fine = scripted([]);
    const { q } = queue(sched, { stuck: stuck.sender(sched), fine: fine.sender(sched) });
    for (let i = 1; i <= 3; i++) {
      q.enqueue('stuck', `k${i}`, { n: i });
      q.enqueue('fine', `k${i}`, { n: i });
    }
    await sched.advance(0);
    assert.deepEqual(
      fine.calls.map((c) => c.key),
      ['fine:k1', 'fine:k2', 'fine:k3']
    );
    assert.deepEqual(
      stuck.calls.map((c) => c.key),
      ['stuck:k1']
    );
    await sched.advance(120000);
    assert.deepEqual(
      stuck.calls.slice(-3).map((c) => c.key),
      ['stuck:k1', 'stuck:k2', 'stuck:k3']
    );
  });

  it("with orderKey, a job waiting for its retry holds up only its own key's jobs, not the others' (operator round 2026-12-07)", async () => {
    const sched = new FakeScheduler();
    // a receiver that fails alert A's page twice (something in that page) and takes everything else
    const calls: string[] = [];
    let aFailures = 2;
    const sender = async (job: DeliveryJob<P>) => {
      calls.push(job.key);
      if (job.key === 'c:A-open' && aFailures-- > 0) throw new Error('HTTP 500');
    };
    const { q, delivered } = queue(
      sched,
      { c: sender },
      { orderKey: (j) => j.key.slice(2, 3) } // "A" or "B": the alert
    );
    q.enqueue('c', 'A-open', { n: 1 });
    q.enqueue('c', 'B-open', { n: 2 });
    q.enqueue('c', 'A-resolve', { n: 3 });
    q.enqueue('c', 'B-resolve', { n: 4 });
    await sched.advance(0);
    // A's page failed and waits 1 s; B's two go at once; A's resolve waits behind A's page
    assert.deepEqual(calls, ['c:A-open', 'c:B-open', 'c:B-resolve']);
    assert.deepEqual(delivered, ['c:B-open', 'c:B-resolve']);
    await sched.advance(5000);
    assert.deepEqual(delivered, ['c:B-open', 'c:B-resolve', 'c:A-open', 'c:A-resolve']);
    // without orderKey the lane keeps strict order: B waits behind A's retries
    const strict = new FakeScheduler();
    const s2: string[] = [];
    let failures = 1;
    const { q: fifo } = queue(strict, {
      c: async (job) => {
        s2.push(job.key);
        if (job.key === 'c:A-open' && failures-- > 0) throw new Error('HTTP 500');
      },
    });
    fifo.enqueue('c', 'A-open', { n: 1 });
    fifo.enqueue('c', 'B-open', { n: 2 });
    await strict.advance(0);
    assert.deepEqual(s2, ['c:A-open']);
    await strict.advance(5000);
    assert.deepEqual(s2, ['c:A-open', 'c:A-open', 'c:B-open']);
  });

  it('is bounded per channel: the oldest waiting job is failed with queue_full', async () => {
    const sched = new FakeScheduler();
    const s = scripted([new Error('down')]);
    const { q, failed } = queue(sched, { c: s.sender(sched) }, { maxQueued: 2 });
    q.enqueue('c', 'k1', { n: 1 });
    q.enqueue('c', 'k2', { n: 2 });
    q.enqueue('c', 'k3', { n: 3 });
    // k1 is in flight, so k2 is the oldest waiting one
    assert.deepEqual(failed, [{ key: 'c:k2', reason: 'queue_full' }]);
    assert.equal(q.pendingCount('c'), 2);
  });

  it("with shareKey, one tenant's storm neither drops another tenant's job from the full lane nor keeps it waiting behind its own (red-team round 2026-12-07: dropped as queue_full within a second)", async () => {
    const sched = new FakeScheduler();
    const sent: string[] = [];
    // a slow channel: each send takes 1 s, so the storm fills the lane
    const sender = (job: DeliveryJob<P>) =>
      new Promise<void>((resolve) => {
        sent.push(job.key);
        sched.setTimeout(resolve, 1000);
      });
    const { q, failed } = queue(
      sched,
      { c: sender },
      { maxQueued: 10, orderKey: (j) => j.key, shareKey: (j) => j.key.split('-')[0].slice(2) }
    );
    for (let i = 0; i < 5; i++) q.enqueue('c', `acme-${i}`, { n: i });
    q.enqueue('c', 'beta-1', { n: 100 });
    for (let i = 5; i < 40; i++) q.enqueue('c', `acme-${i}`, { n: i });
    // the full lane dropped acme's oldest waiting jobs each time, never beta's
    assert.equal(failed.length, 31, '41 queued, 10 held (the one in flight included)');
    assert.ok(
      failed.every((f) => f.key.startsWith('c:acme-') && f.reason === 'queue_full'),
      JSON.stringify(failed)
    );
    assert.equal(q.pendingCount('c'), 10);
    // beta's job goes right after the send in flight, not after acme's nine
    await sched.advance(1000);
    assert.deepEqual(sent.slice(0, 2), ['c:acme-0', 'c:beta-1']);
    // then acme's, in order; a new beta job takes its turn again after the one in flight
    await sched.advance(1000);
    q.enqueue('c', 'beta-2', { n: 101 });
    await sched.advance(1000);
    assert.deepEqual(sent.slice(2, 4), ['c:acme-32', 'c:beta-2']);
    await sched.advance(20_000);
    assert.equal(sent.length, 11);
    assert.deepEqual(sent.slice(4), [
      'c:acme-33',
      'c:acme-34',
      'c:acme-35',
      'c:acme-36',
      'c:acme-37',
      'c:acme-38',
      'c:acme-39',
    ]);
    // without shareKey the same storm drops beta's job as the oldest waiting one
    const plain = new FakeScheduler();
    const { q: p2, failed: f2 } = queue(plain, { c: () => new Promise<void>(() => undefined) }, { maxQueued: 10 });
    for (let i = 0; i < 5; i++) p2.enqueue('c', `acme-${i}`, { n: i });
    p2.enqueue('c', 'beta-1', { n: 100 });
    for (let i = 5; i < 40; i++) p2.enqueue('c', `acme-${i}`, { n: i });
    assert.ok(f2.some((f) => f.key === 'c:beta-1'));
  });

  it('journals to disk: pending jobs resume after a restart, sent ones are never resent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-q-'));
    const file = path.join(dir, 'queue.jsonl');
    const sched = new FakeScheduler();
    const first = scripted([new Error('down'), new Error('down'), new Error('down')]);
    const a = queue(sched, { c: first.sender(sched) }, { file });
    a.q.enqueue('c', 'k1', { n: 1 });
    a.q.enqueue('c', 'k2', { n: 2 });
    await sched.advance(0);
    await a.q.close(100);
    assert.equal(a.delivered.length, 0);

    // "restart": a new queue on the same journal delivers the two pending jobs once
    const sched2 = new FakeScheduler();
    sched2.t = 100000;
    const second = scripted([]);
    const b = queue(sched2, { c: second.sender(sched2) }, { file });
    assert.equal(b.q.pendingCount('c'), 2);
    b.q.start();
    await sched2.advance(0);
    assert.deepEqual(b.delivered, ['c:k1', 'c:k2']);
    // simulate a crash right after the sends: no close, no compaction; a third start must send nothing
    const third = scripted([]);
    const c = queue(new FakeScheduler(), { c: third.sender(sched2) }, { file });
    c.q.start();
    await settle();
    assert.equal(c.q.pendingCount(), 0);
    assert.equal(c.q.enqueue('c', 'k1', { n: 1 }), false, 'the idempotency key was journaled');
    assert.equal(third.calls.length, 0);

    // a torn last line (crash mid-write) is skipped
    fs.appendFileSync(file, '{"op":"add","job":{"key":"c:k9"');
    const d = queue(new FakeScheduler(), { c: third.sender(sched2) }, { file });
    assert.equal(d.q.pendingCount(), 0);
  });

  it('sentOrQueuedKeys: the keys sent or queued on any channel configured now, without the channel, from the journal too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-q-'));
    const file = path.join(dir, 'queue.jsonl');
    const sched = new FakeScheduler();
    // "slack" is a prefix of "slack:acme" (a tenant's lane): each key keeps its own channel
    const down = scripted([new Error('down'), new Error('down'), new Error('down'), new Error('down')]);
    const a = queue(
      sched,
      { slack: scripted([]).sender(sched), 'slack:acme': down.sender(sched), old: scripted([]).sender(sched) },
      { file }
    );
    a.q.enqueue('slack', 'a1:open', { n: 1 });
    a.q.enqueue('slack:acme', 'a2:escalate', { n: 2 }); // still queued: its channel is down
    a.q.enqueue('old', 'a3:open', { n: 3 });
    await sched.advance(0);
    assert.deepEqual(a.delivered.sort(), ['old:a3:open', 'slack:a1:open']);
    assert.deepEqual([...a.q.sentOrQueuedKeys()].sort(), ['a1:open', 'a2:escalate', 'a3:open']);
    await a.q.close(100);

    // after a restart, from the journal; a channel no longer configured ("old") answers for nothing
    const b = queue(
      new FakeScheduler(),
      { slack: scripted([]).sender(sched), 'slack:acme': down.sender(sched) },
      { file }
    );
    assert.deepEqual([...b.q.sentOrQueuedKeys()].sort(), ['a1:open', 'a2:escalate']);
  });

  it('on a full disk a journal line is written whole or not at all, and a failed compaction leaves no temp file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-q-'));
    const file = path.join(dir, 'queue.jsonl');
    const errors: string[] = [];
    const sched = new FakeScheduler();
    const first = scripted([new Error('down'), new Error('down'), new Error('down')]);
    const a = queue(sched, { c: first.sender(sched) }, { file, onError: (e: Error) => errors.push(e.message) });
    a.q.enqueue('c', 'k1', { n: 1 });
    const before = fs.readFileSync(file, 'utf8');
    // a full disk: part of the line fits (a short write), then ENOSPC
    const realWrite = fs.writeSync;
    let calls = 0;
    (fs as { writeSync: unknown }).writeSync = (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
      if (++calls === 1) return realWrite(fd, buf, off, Math.min(len, 7), pos);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    try {
      a.q.enqueue('c', 'k2', { n: 2 });
    } finally {
      (fs as { writeSync: unknown }).writeSync = realWrite;
    }
    assert.equal(errors.length, 1, 'the failed append is reported');
    assert.equal(fs.readFileSync(file, 'utf8'), before, 'no torn line in the middle of the journal');
    // room again: the next record is readable after a restart (before: it was glued to the torn line and lost)
    a.q.enqueue('c', 'k3', { n: 3 });
    await sched.advance(0);
    await a.q.close(100);
    const b = queue(new FakeScheduler(), { c: scripted([]).sender(sched) }, { file });
    assert.ok(b.q.pendingCount('c') >= 2, 'k1 and k3 survive the restart');
    // a compaction (here: at load) on a full disk keeps the old file and removes its temp file
    const realOpen = fs.openSync;
    (fs as { openSync: unknown }).openSync = (p: string, ...rest: unknown[]) => {
      if (String(p).endsWith('.tmp')) {
        const fd = (realOpen as (...a: unknown[]) => number)(p, ...rest);
        (fs as { writeSync: unknown }).writeSync = () => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        };
        return fd;
      }
      return (realOpen as (...a: unknown[]) => number)(p, ...rest);
    };
    const kept = fs.readFileSync(file, 'utf8');
    try {
      queue(
        new FakeScheduler(),
        { c: scripted([]).sender(sched) },
        { file, onError: (e: Error) => errors.push(e.message) }
      );
    } finally {
      (fs as { openSync: unknown }).openSync = realOpen;
      (fs as { writeSync: unknown }).writeSync = realWrite;
    }
    assert.match(errors[errors.length - 1], /ENOSPC/);
    assert.equal(fs.readFileSync(file, 'utf8'), kept);
    assert.deepEqual(fs.readdirSync(dir), ['queue.jsonl'], 'no temp file holds the space');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
