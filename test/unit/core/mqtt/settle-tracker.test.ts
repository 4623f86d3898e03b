import assert from 'node:assert/strict';
import { SettleTracker } from '../../../../nodes/core/mqtt/settle-tracker';

function make(window = 3, timeoutMs = 1000) {
  const acked: number[] = [];
  const unsettled: Array<{ outcome: string; ack: number; error?: string; holders: Array<[string, number]> }> = [];
  let rooms = 0;
  const t = new SettleTracker<number>({
    window,
    timeoutMs,
    onAck: (a) => acked.push(a),
    onUnsettled: (outcome, i) => unsettled.push({ outcome, ack: i.ack, error: i.error, holders: i.holders }),
    onRoom: () => rooms++,
  });
  return { t, acked, unsettled, rooms: () => rooms };
}

describe('settle tracker (ack a message once everything it caused is settled)', () => {
  it('acks only when the hold is released and every delivery is completed, across a fan-out', () => {
    const { t, acked } = make();
    t.begin('m1', 11, 0);
    t.delivered('m1', 'verify');
    t.release('m1');
    assert.deepEqual(acked, []);
    // verify passes it on to normalize and health before completing
    t.delivered('m1', 'normalize');
    t.delivered('m1', 'health');
    t.completed('m1', 'verify');
    t.completed('m1', 'health');
    assert.deepEqual(acked, [], 'normalize still has it');
    t.delivered('m1', 'writer');
    t.completed('m1', 'normalize');
    assert.deepEqual(acked, [], 'the writer has not made it durable');
    t.completed('m1', 'writer');
    assert.deepEqual(acked, [11]);
    assert.equal(t.inFlight, 0);
    assert.equal(t.stats().acked, 1);
  });

  it('keeps the hold while the source is still sending, so an early completion cannot settle it', () => {
    const { t, acked } = make();
    t.begin('m', 1, 0);
    t.delivered('m', 'a');
    t.completed('m', 'a');
    assert.deepEqual(acked, []);
    t.release('m');
    assert.deepEqual(acked, [1]);
  });

  it('a message nobody receives is acked when released (nothing downstream to wait for)', () => {
    const { t, acked } = make();
    t.begin('m', 5, 0);
    t.release('m');
    assert.deepEqual(acked, [5]);
  });

  it('ignores completions from nodes it did not count a delivery to (Catch, Complete) and unknown ids', () => {
    const { t, acked } = make();
    t.begin('m', 1, 0);
    t.delivered('m', 'writer');
    t.release('m');
    t.completed('m', 'catch');
    t.completed('other', 'writer');
    assert.deepEqual(acked, []);
    t.completed('m', 'writer');
    assert.deepEqual(acked, [1]);
  });

  it('counts repeated deliveries to the same node separately', () => {
    const { t, acked } = make();
    t.begin('m', 1, 0);
    t.delivered('m', 'w');
    t.delivered('m', 'w');
    t.release('m');
    t.completed('m', 'w');
    assert.deepEqual(acked, []);
    t.completed('m', 'w');
    assert.deepEqual(acked, [1]);
  });

  it('never acks a message a node failed on, and reports it with the error once all are done', () => {
    const { t, acked, unsettled } = make();
    t.begin('m', 7, 0);
    t.delivered('m', 'a');
    t.delivered('m', 'b');
    t.release('m');
    t.completed('m', 'a', new Error('spool full'));
    assert.equal(unsettled.length, 0, 'b still has it');
    t.completed('m', 'b');
    assert.deepEqual(acked, []);
    assert.deepEqual(unsettled, [{ outcome: 'failed', ack: 7, error: 'spool full', holders: [] }]);
    assert.equal(t.stats().failed, 1);
  });

  it('reports messages unsettled past the timeout once (naming who holds them), still acks them if they settle later', () => {
    const { t, acked, unsettled } = make(2, 100);
    t.begin('a', 1, 0);
    t.delivered('a', 'stuck-node');
    t.release('a');
    t.begin('b', 2, 50);
    t.release('b');
    assert.equal(t.sweep(99), 0);
    assert.equal(t.sweep(100), 1);
    assert.equal(t.sweep(200), 0, 'reported once');
    assert.deepEqual(acked, [2]);
    assert.deepEqual(unsettled, [{ outcome: 'timeout', ack: 1, error: undefined, holders: [['stuck-node', 1]] }]);
    assert.equal(t.overdue, 1);
    // the disk recovered: the message is durable after all and is acknowledged late
    t.completed('a', 'stuck-node');
    assert.deepEqual(acked, [2, 1]);
    assert.equal(t.stats().timedOut, 1);
  });

  it('forgets overdue messages that can no longer be acknowledged (their connection is gone), freeing the window', () => {
    const forgotten: string[] = [];
    const acked: number[] = [];
    const t = new SettleTracker<number>({
      window: 1,
      timeoutMs: 100,
      onAck: (a) => acked.push(a),
      onForget: (id) => forgotten.push(id),
    });
    t.begin('a', 1, 0);
    t.delivered('a', 'stuck-node');
    t.release('a');
    assert.ok(t.full);
    t.sweep(100, (ack) => ack === 1);
    assert.deepEqual(forgotten, ['a'], 'the owner of the id hears of it (no leak in its own maps)');
    assert.ok(!t.full);
    t.completed('a', 'stuck-node');
    assert.deepEqual(acked, []);
  });

  it('is bounded: full at the window, and says when there is room again', () => {
    const { t, rooms } = make(2);
    assert.ok(t.begin('a', 1, 0));
    assert.ok(!t.full);
    assert.ok(t.begin('b', 2, 0));
    assert.ok(t.full);
    assert.equal(t.begin('a', 3, 0), false, 'an id already tracked is refused');
    t.release('a');
    assert.ok(!t.full);
    assert.equal(rooms(), 1);
    t.release('b');
    assert.equal(rooms(), 1, 'only after having been full');
  });

  it('clear forgets everything without acking', () => {
    const { t, acked } = make();
    t.begin('a', 1, 0);
    t.delivered('a', 'n');
    assert.equal(t.clear(), 1);
    t.release('a');
    t.completed('a', 'n');
    assert.deepEqual(acked, []);
  });

  it('weighs a batch entry as its number of broker messages in the window', () => {
    const { t, acked, rooms } = make(5);
    t.begin('batch', 1, 0, 4);
    assert.equal(t.inFlight, 4);
    assert.equal(t.full, false);
    t.begin('single', 2, 0);
    assert.equal(t.full, true, 'four in the batch and one alone fill a window of five');
    t.release('batch');
    assert.deepEqual(acked, [1]);
    assert.equal(t.inFlight, 1);
    assert.equal(rooms(), 1);
    t.begin('batch2', 3, 0, 3);
    assert.equal(t.clear(), 4, 'clear counts broker messages');
  });
});
