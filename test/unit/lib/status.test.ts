// ThrottledStatus: the dot refreshes at most once per interval, settles on the last state, and a status given
// as a function is built only when the dot is refreshed (issue 16, tenth round), not at every set().
import assert from 'node:assert/strict';
import { ThrottledStatus } from '../../../nodes/lib/status';
import type { AnyNode, NodeStatus } from '../../../nodes/lib/red';

describe('ThrottledStatus', () => {
  // a short interval and a real wait: the timer's refresh is what is tested, not how fast it comes
  const INTERVAL = 100;
  const settle = () => new Promise((resolve) => setTimeout(resolve, INTERVAL * 3));

  const fakeNode = () => {
    const shown: NodeStatus[] = [];
    return { node: { status: (s: NodeStatus) => shown.push(s) } as unknown as AnyNode, shown };
  };

  it('shows the first status at once and the last of a burst once the interval is over', async () => {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, INTERVAL);
    status.set({ text: 'a' });
    status.set({ text: 'b' });
    status.set({ text: 'c' });
    assert.deepEqual(shown, [{ text: 'a' }]);
    await settle();
    assert.deepEqual(shown, [{ text: 'a' }, { text: 'c' }]);
    await settle();
    assert.equal(shown.length, 2);
  });

  it('builds a status given as a function only when it is shown, from the state of that moment', async () => {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, INTERVAL);
    let count = 0;
    let built = 0;
    const counts = (): NodeStatus => {
      built++;
      return { fill: 'green', shape: 'dot', text: `${count} scored` };
    };
    for (let i = 0; i < 1000; i++) {
      count++;
      status.set(counts);
    }
    assert.equal(built, 1, 'the first set shows at once');
    assert.deepEqual(shown, [{ fill: 'green', shape: 'dot', text: '1 scored' }]);
    await settle();
    assert.equal(built, 2);
    assert.deepEqual(shown[1], { fill: 'green', shape: 'dot', text: '1000 scored' }, 'settles on the last state');
    await settle();
    assert.equal(built, 2, 'nothing pending: nothing built');
  });

  it('an object set after a function replaces it, and flush() shows what is pending at once', async () => {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, 60_000);
    status.set({ text: 'first' });
    let built = 0;
    status.set(() => {
      built++;
      return { text: 'lazy' };
    });
    status.set({ fill: 'red', shape: 'ring', text: 'journal: ENOSPC' });
    status.flush();
    assert.equal(built, 0);
    assert.deepEqual(shown, [{ text: 'first' }, { fill: 'red', shape: 'ring', text: 'journal: ENOSPC' }]);
    status.set(() => ({ text: 'x' }));
    status.stop();
    await settle();
    assert.equal(shown.length, 2, 'stop() drops the pending refresh');
  });
});
