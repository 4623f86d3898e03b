// The durable MQTT source's back-pressure (nodes/core/mqtt/pump-gate.ts) together with the settle tracker, as
// moby-mqtt-in uses them in batch mode: the load is tracked messages plus items gathered in an unsent batch.
import assert from 'node:assert/strict';
import { PumpGate } from '../../../../nodes/core/mqtt/pump-gate';
import { SettleTracker } from '../../../../nodes/core/mqtt/settle-tracker';

describe('PumpGate', () => {
  it('continues at the window and holds the pump only beyond it', () => {
    let load = 10;
    const gate = new PumpGate(10, () => load);
    let ran = 0;
    gate.admit(() => ran++);
    assert.equal(ran, 1, 'at the window: a broker keeping its in-flight limit at the window never pauses us');
    load = 11;
    gate.admit(() => ran++);
    assert.equal(ran, 1);
    assert.ok(gate.paused);
    gate.check();
    assert.equal(ran, 1, 'still beyond the window');
    load = 10;
    gate.check();
    assert.equal(ran, 2);
    assert.ok(!gate.paused);
  });

  it('keeps held continuations in order and does not let a new one overtake them', () => {
    let load = 11;
    const gate = new PumpGate(10, () => load);
    const order: string[] = [];
    gate.admit(() => order.push('a'));
    load = 5;
    gate.admit(() => order.push('b')); // room now, but 'a' is still held
    assert.deepEqual(order, []);
    gate.check();
    assert.deepEqual(order, ['a', 'b']);
  });

  it('releaseAll lets every held continuation go (connection gone or closing)', () => {
    const gate = new PumpGate(1, () => 99);
    let ran = 0;
    gate.admit(() => ran++);
    assert.equal(gate.releaseAll(), 1);
    assert.equal(ran, 1);
    assert.ok(!gate.paused);
  });

  // The bench stall (docs/benchmarks.md): the pause counted tracked and gathered items, but the pump resumed only
  // from the tracker's onRoom, which fires only after the tracker itself was full. A pause caused by gathered
  // items, with the tracker below its window throughout, never resumed.
  it('resumes after a pause caused by gathered items although the tracker itself was never full', () => {
    let buffered = 0;
    let rooms = 0;
    const tracker = new SettleTracker<number>({ window: 10, onAck: () => gate.check(), onRoom: () => rooms++ });
    const gate = new PumpGate(10, () => tracker.inFlight + buffered);
    const pump: string[] = [];
    tracker.begin('batch-a', 1, 0, 6); // a batch of 6 sent downstream
    buffered = 5; // the next 5 gathered: 11 held unacknowledged
    gate.admit(() => pump.push('next'));
    assert.ok(gate.paused);
    tracker.release('batch-a'); // batch A stored: the tracker drops to 0 without ever having been full
    assert.equal(rooms, 0, 'the tracker never says it has room: it never was full');
    assert.deepEqual(pump, ['next'], 'the gate resumed the pump on the settle itself');
    // the partial batch goes out on its timer: moves from gathered to tracked, same load
    buffered = 0;
    tracker.begin('batch-b', 2, 0, 5);
    tracker.release('batch-b');
    assert.equal(tracker.inFlight, 0);
    assert.ok(!gate.paused);
  });

  it('resumes when overdue messages of a gone connection are forgotten', () => {
    const tracker = new SettleTracker<{ gen: number }>({
      window: 4,
      timeoutMs: 1000,
      onAck: () => gate.check(),
      onForget: () => gate.check(),
    });
    const gate = new PumpGate(4, () => tracker.inFlight);
    tracker.begin('old', { gen: 1 }, 0, 5); // a stuck batch of the previous connection
    tracker.delivered('old', 'writer'); // a node that never completes it
    tracker.release('old');
    let ran = 0;
    gate.admit(() => ran++);
    assert.equal(ran, 0);
    tracker.sweep(500, (a) => a.gen !== 2);
    assert.equal(ran, 0, 'not before the settle timeout');
    tracker.sweep(1500, (a) => a.gen !== 2);
    assert.equal(ran, 1);
  });
});
