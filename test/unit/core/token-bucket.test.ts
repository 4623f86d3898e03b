// The one token-bucket rule both rate bounds use (tenant rate, will/status rate).
import assert from 'node:assert/strict';
import { fullBucket, takeToken } from '../../../nodes/core/token-bucket';

describe('token bucket', () => {
  it('lets a full burst through at once, then refuses until time refills a token', () => {
    const b = fullBucket(3, 0);
    const perMs = 1 / 1000; // 1 per second
    assert.deepEqual(
      [1, 2, 3, 4].map(() => takeToken(b, 0, perMs, 3)),
      [true, true, true, false]
    );
    assert.equal(takeToken(b, 999, perMs, 3), false, 'less than one token refilled after 999 ms');
    assert.equal(takeToken(b, 1000, perMs, 3), true, 'one token refilled after a second');
    assert.equal(takeToken(b, 1000, perMs, 3), false);
  });

  it('never holds more than the burst, however long it was idle', () => {
    const b = fullBucket(2, 0);
    takeToken(b, 0, 1, 2);
    assert.equal(takeToken(b, 1e9, 1, 2), true);
    assert.equal(b.tokens, 1, 'refilled to the burst of 2, then one taken');
  });

  it('a clock stepping back refills nothing and does not drain the bucket', () => {
    const b = fullBucket(2, 10_000);
    assert.equal(takeToken(b, 5_000, 1, 2), true);
    assert.equal(b.tokens, 1);
    assert.equal(b.at, 10_000, 'the refill mark stays at the latest time seen');
  });

  it('takes a cost of several tokens all or nothing', () => {
    const b = fullBucket(5, 0);
    assert.equal(takeToken(b, 0, 0, 5, 3), true);
    assert.equal(takeToken(b, 0, 0, 5, 3), false, 'two left: a cost of three takes nothing');
    assert.equal(b.tokens, 2);
    assert.equal(takeToken(b, 0, 0, 5, 2), true);
  });
});
