// FailedHold (nodes/core/mqtt/failed-hold.ts): failed, unacknowledged messages of a connection are counted and
// a reconnect is due once they take half the window or the oldest has waited long enough.
import assert from 'node:assert/strict';
import { FailedHold } from '../../../../nodes/core/mqtt/failed-hold';

describe('FailedHold (failed messages hold broker in-flight slots until a reconnect)', () => {
  it('is due once the failed messages take half the window', () => {
    const h = new FailedHold(100, 30000);
    h.add(49, 0);
    assert.equal(h.due(1), false);
    h.add(1, 2);
    assert.equal(h.count, 50);
    assert.equal(h.due(3), true);
  });

  it('is due for a few failures once the oldest has waited maxWaitMs, counted from the first', () => {
    const h = new FailedHold(1000, 30000);
    assert.equal(h.due(0), false, 'nothing failed');
    h.add(1, 1000);
    h.add(1, 20000);
    assert.equal(h.due(30999), false);
    assert.equal(h.due(31000), true);
  });

  it('a new connection clears them (the broker sends them again on it) and restarts the wait', () => {
    const h = new FailedHold(10, 1000);
    h.add(3, 0);
    h.reset();
    assert.equal(h.count, 0);
    assert.equal(h.due(5000), false);
    h.add(1, 5000);
    assert.equal(h.due(5999), false);
    assert.equal(h.due(6000), true);
  });
});
