import assert from 'node:assert/strict';
import { EarlyQueue } from '../../../nodes/lib/early-queue';
import type { NodeMessage } from '../../../nodes/lib/red';

describe('early-input queue (anomaly, alert and device-health while their state loads)', () => {
  const msg = (n: number): NodeMessage => ({ _msgid: String(n), payload: n });
  const noSend = () => undefined;

  it('hands queued messages over in arrival order, each exactly once', () => {
    const q = new EarlyQueue(10);
    for (let i = 0; i < 3; i++)
      assert.equal(
        q.offer(msg(i), noSend, () => assert.fail('not failed')),
        true
      );
    const seen: unknown[] = [];
    q.drain((m) => seen.push(m.payload));
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(q.size, 0);
    q.drain(() => assert.fail('drained twice'));
  });

  it('refuses beyond its bound without touching what it holds', () => {
    const q = new EarlyQueue(2);
    assert.equal(
      q.offer(msg(0), noSend, () => undefined),
      true
    );
    assert.equal(
      q.offer(msg(1), noSend, () => undefined),
      true
    );
    assert.equal(
      q.offer(msg(2), noSend, () => undefined),
      false
    );
    assert.equal(q.size, 2);
  });

  it('on close fails every waiting message with done(err) — none is left without done', () => {
    const q = new EarlyQueue(10);
    const ended: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) q.offer(msg(i), noSend, (err) => ended.push(err?.message));
    q.failAll('node closed before its state was loaded');
    assert.deepEqual(ended, Array(4).fill('node closed before its state was loaded'));
    assert.equal(q.size, 0);
  });
});
