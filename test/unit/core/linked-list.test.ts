// The intrusive list under the device states and the broker's connection table (nodes/core/linked-list.ts).
import assert from 'node:assert/strict';
import { IntrusiveList, type Linked } from '../../../nodes/core/linked-list';

interface Item extends Linked<Item> {
  name: string;
}
const item = (name: string): Item => ({ name, prev: null, next: null });
const names = (l: IntrusiveList<Item>): string[] => {
  const out: string[] = [];
  for (let i = l.head; i; i = i.next) out.push(i.name);
  const back: string[] = [];
  for (let i = l.tail; i; i = i.prev) back.unshift(i.name);
  assert.deepEqual(back, out, 'prev pointers agree with next pointers');
  assert.equal(l.size, out.length);
  return out;
};

describe('IntrusiveList', () => {
  it('appends at the tail, unlinks from head, middle and tail, and moves an item to the tail', () => {
    const l = new IntrusiveList<Item>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item);
    for (const i of [a, b, c, d]) l.push(i);
    assert.deepEqual(names(l), ['a', 'b', 'c', 'd']);
    l.moveToTail(b);
    assert.deepEqual(names(l), ['a', 'c', 'd', 'b']);
    l.moveToTail(b); // already the tail
    assert.deepEqual(names(l), ['a', 'c', 'd', 'b']);
    l.remove(c);
    assert.deepEqual(names(l), ['a', 'd', 'b']);
    assert.equal(c.prev, null);
    assert.equal(c.next, null);
    l.remove(a);
    l.remove(b);
    assert.deepEqual(names(l), ['d']);
    l.remove(d);
    assert.deepEqual(names(l), []);
    assert.equal(l.head, null);
    assert.equal(l.tail, null);
    l.push(a);
    l.clear();
    assert.deepEqual(names(l), []);
  });
});
