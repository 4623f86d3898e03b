// The embedded broker's bound on what the pipeline is sent unacknowledged (core/mqtt/inflight-gate.ts).
import assert from 'node:assert/strict';
import { InflightGate } from '../../../../nodes/core/mqtt/inflight-gate';

/** A delivery as aedes makes one: started, then (asynchronously) written with a key, or dropped unwritten. */
function harness(max: number) {
  const gate = new InflightGate(max);
  const started: string[] = [];
  const skipped: string[] = [];
  const finishers = new Map<string, () => void>();
  const deliver = (key: string, owner: unknown = 'conn-1') =>
    gate.admit(
      (finished) => {
        started.push(key);
        finishers.set(key, finished);
      },
      () => skipped.push(key),
      owner
    );
  /** the broker wrote the message (it got a packet id) and finished the delivery */
  const write = (key: string) => {
    gate.sent(key);
    finishers.get(key)!();
  };
  return { gate, started, skipped, deliver, write, finishers };
}

describe('InflightGate (the embedded broker sends the pipeline at most N unacknowledged)', () => {
  it('starts N deliveries, holds the rest in arrival order, and starts one per acknowledgement', () => {
    const h = harness(3);
    for (const k of ['a', 'b', 'c', 'd', 'e']) h.deliver(k);
    assert.deepEqual(h.started, ['a', 'b', 'c']);
    assert.equal(h.gate.waiting, 2);
    for (const k of ['a', 'b', 'c']) h.write(k);
    assert.deepEqual(h.started, ['a', 'b', 'c'], 'written is not acknowledged: no room yet');
    h.gate.acked('b');
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd']);
    h.gate.acked('b'); // the same acknowledgement twice frees one slot
    h.gate.acked('zz'); // one the gate never saw (sent before it existed) frees none
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd']);
    h.write('d');
    h.gate.acked('a');
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(h.gate.inflight, 3);
    assert.equal(h.gate.waiting, 0);
  });

  it('a delivery the broker drops without writing (not forwarded) frees its slot when it finishes', () => {
    const h = harness(1);
    h.deliver('a');
    h.deliver('b');
    assert.deepEqual(h.started, ['a']);
    h.finishers.get('a')!(); // finished, never sent: nothing will acknowledge it
    h.finishers.get('a')!(); // a second call changes nothing
    assert.deepEqual(h.started, ['a', 'b']);
    assert.equal(h.gate.inflight, 1);
  });

  it('a message sent again after a reconnect holds one slot, not two', () => {
    const h = harness(2);
    h.deliver('a');
    h.write('a');
    h.gate.sent('a'); // the session resends it at the next CONNECT
    h.deliver('b');
    h.deliver('c');
    assert.deepEqual(h.started, ['a', 'b']);
    h.gate.acked('a');
    assert.deepEqual(h.started, ['a', 'b', 'c']);
  });

  it("a closed connection's waiting deliveries give up their turn; the connection that took over keeps its own", () => {
    const h = harness(1);
    h.deliver('a', 'old');
    h.write('a');
    h.deliver('b', 'old');
    h.deliver('c', 'new');
    assert.equal(h.gate.abandonWaiting('old'), 1);
    assert.deepEqual(h.skipped, ['b']);
    assert.equal(h.gate.waiting, 1);
    h.gate.acked('a');
    assert.deepEqual(h.started, ['a', 'c']);
  });

  it('keeps its order over many waits (the queue is compacted as it is consumed)', () => {
    const h = harness(1);
    const n = 5000;
    for (let k = 0; k < n; k++) h.deliver(String(k));
    for (let k = 0; k < n; k++) {
      h.write(String(k));
      h.gate.acked(String(k));
    }
    assert.deepEqual(
      h.started,
      Array.from({ length: n }, (_, k) => String(k))
    );
    assert.equal(h.gate.waiting, 0);
    assert.throws(() => new InflightGate(0), /at least 1/);
  });
});
