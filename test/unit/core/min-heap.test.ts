// The binary min-heap the mute table keeps its expiries and merges its per-tenant lists with.
import assert from 'node:assert/strict';
import { MinHeap } from '../../../nodes/core/min-heap';

describe('MinHeap', () => {
  it('hands items out smallest first, whether pushed one by one or given at once', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const values = Array.from({ length: 500 }, () => Math.floor(rnd() * 100));
    const sorted = [...values].sort((a, b) => a - b);
    const pushed = new MinHeap<number>((a, b) => a < b);
    for (const v of values) pushed.push(v);
    const given = new MinHeap<number>((a, b) => a < b, [...values]);
    for (const h of [pushed, given]) {
      assert.equal(h.size, 500);
      const out: number[] = [];
      while (h.size) out.push(h.pop()!);
      assert.deepEqual(out, sorted);
      assert.equal(h.pop(), undefined);
      assert.equal(h.peek(), undefined);
    }
  });

  it('keeps its order when the top grows in place (a k-way merge advancing one list)', () => {
    const lists = [
      [1, 4, 9],
      [2, 3, 10],
      [5, 6, 7],
    ];
    const heads = lists.map((l) => ({ l, i: 0 }));
    const h = new MinHeap<{ l: number[]; i: number }>((a, b) => a.l[a.i] < b.l[b.i], heads);
    const out: number[] = [];
    while (h.size) {
      const top = h.peek()!;
      out.push(top.l[top.i]);
      if (++top.i < top.l.length) h.topChanged();
      else h.pop();
    }
    assert.deepEqual(out, [1, 2, 3, 4, 5, 6, 7, 9, 10]);
  });
});
