// The embedded broker's connection table (nodes/core/mqtt/connection-table.ts): at the cap a new connection
// evicts the longest idle one — never the pipeline's, never the newcomer — so a flood of idle connections is
// bounded and a device that reconnects always gets in.
import assert from 'node:assert/strict';
import { ConnectionTable } from '../../../../nodes/core/mqtt/connection-table';

const order = (t: ConnectionTable<string>): string[] => [...t.evictionOrder()];

describe('embedded broker connection table', () => {
  it('at the cap a new connection evicts the one idle the longest, and touching a connection makes it the most recent', () => {
    const t = new ConnectionTable<string>(3);
    const a = t.add('a', 0);
    const b = t.add('b', 1);
    const c = t.add('c', 2);
    assert.deepEqual([a.evicted, b.evicted, c.evicted], [null, null, null]);
    assert.equal(t.size, 3);
    t.touch(a.entry, 10); // a sent a packet: b is now idle the longest
    assert.deepEqual(order(t), ['b', 'c', 'a']);
    assert.equal(t.longestIdle()?.conn, 'b');
    const d = t.add('d', 11);
    assert.equal(d.evicted?.conn, 'b');
    assert.equal(d.evicted?.lastActiveAt, 1);
    assert.deepEqual(order(t), ['c', 'a', 'd']);
    const e = t.add('e', 12);
    assert.equal(e.evicted?.conn, 'c');
    assert.deepEqual(order(t), ['a', 'd', 'e']);
    assert.equal(t.size, 3);
    assert.equal(t.evictions, 2);
    assert.equal(a.entry.lastActiveAt, 10);
    assert.equal(a.entry.openedAt, 0);
  });

  it("never evicts the pipeline's connection and does not count it against the cap", () => {
    const t = new ConnectionTable<string>(2);
    const pipe = t.add('pipeline', 0);
    t.markPipeline(pipe.entry);
    const x = t.add('x', 1);
    const y = t.add('y', 2);
    assert.deepEqual([x.evicted, y.evicted], [null, null], 'the pipeline takes none of the 2 places');
    assert.equal(t.size, 3);
    assert.equal(t.pipelineSize, 1);
    // a flood: the pipeline is idle the longest of all, and stays
    for (let i = 0; i < 100; i++) {
      const f = t.add(`flood-${i}`, 10 + i);
      assert.notEqual(f.evicted?.conn, 'pipeline');
      assert.ok(f.evicted, 'each one over the cap evicts one');
    }
    assert.deepEqual(order(t), ['flood-98', 'flood-99']);
    assert.equal(t.evictions, 100);
    assert.equal(pipe.entry.tracked, true);
    t.touch(pipe.entry, 500);
    assert.equal(pipe.entry.lastActiveAt, 500);
    assert.deepEqual(order(t), ['flood-98', 'flood-99'], 'touching the pipeline does not move it among the others');
  });

  it('a new connection is admitted even when the others were all active since it came: a reconnecting device is not starved', () => {
    const t = new ConnectionTable<string>(2);
    const busy1 = t.add('busy-1', 0);
    const busy2 = t.add('busy-2', 0);
    for (let now = 1; now < 50; now++) {
      t.touch(busy1.entry, now);
      t.touch(busy2.entry, now);
    }
    const device = t.add('device', 50);
    assert.equal(device.evicted?.conn, 'busy-1');
    assert.deepEqual(order(t), ['busy-2', 'device']);
  });

  it('removes a closed connection; an evicted or removed one is not tracked any more and later calls ignore it', () => {
    const t = new ConnectionTable<string>(2);
    const a = t.add('a', 0);
    const b = t.add('b', 1);
    assert.equal(t.remove(a.entry), true);
    assert.equal(t.remove(a.entry), false, 'closing twice');
    assert.deepEqual(order(t), ['b']);
    const c = t.add('c', 2);
    assert.equal(c.evicted, null, 'the closed one freed its place');
    const d = t.add('d', 3);
    assert.equal(d.evicted?.conn, 'b');
    // the evicted connection's socket closes afterwards: its close, packets and login change nothing
    assert.equal(t.remove(b.entry), false);
    t.touch(b.entry, 4);
    t.markPipeline(b.entry);
    assert.deepEqual(order(t), ['c', 'd']);
    assert.equal(t.size, 2);
    assert.equal(t.pipelineSize, 0);
    // the pipeline's connection closing
    const p = t.add('p', 5);
    assert.equal(p.evicted?.conn, 'c');
    t.markPipeline(p.entry);
    assert.equal(t.remove(p.entry), true);
    assert.equal(t.pipelineSize, 0);
    assert.equal(t.size, 1);
    assert.equal(t.longestIdle()?.conn, 'd');
    t.remove(d.entry);
    assert.equal(t.longestIdle(), null);
  });

  it('refuses a cap that is not a whole number of at least 1', () => {
    for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new ConnectionTable(bad), /whole number/);
  });
});
