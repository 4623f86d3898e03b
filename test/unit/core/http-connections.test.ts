import assert from 'node:assert/strict';
import { HttpConnectionBound, MAX_SKIPS } from '../../../nodes/core/http-connections';

describe('HttpConnectionBound', () => {
  it('evicts the longest idle of the same address first: one address at its cap evicts only itself', () => {
    const b = new HttpConnectionBound<string>({ maxConnections: 10, maxPerAddress: 3 });
    b.add('grafana-1', '10.0.0.5', 0);
    for (let i = 0; i < 3; i++) assert.deepEqual(b.add(`slow-${i}`, '10.0.0.9', 1 + i).evicted, []);
    const next = b.add('slow-3', '10.0.0.9', 10);
    assert.deepEqual(
      next.evicted.map((c) => c.socket),
      ['slow-0'],
      "the attacker's oldest, not Grafana's older connection"
    );
    assert.equal(b.size, 4);
    assert.equal(b.evictions, 1);
  });

  it('evicts the longest idle overall when all addresses together reach the cap; activity keeps a connection', () => {
    const b = new HttpConnectionBound<string>({ maxConnections: 3, maxPerAddress: 3 });
    const editor = b.add('editor', 'a', 0).connection;
    b.add('x', 'b', 1);
    b.add('y', 'c', 2);
    b.touch(editor, 3); // a request arrived on it
    assert.deepEqual(
      b.add('z', 'd', 4).evicted.map((c) => c.socket),
      ['x']
    );
    assert.deepEqual(
      b.add('w', 'e', 5).evicted.map((c) => c.socket),
      ['y']
    );
    assert.equal(b.size, 3);
    // the evicted connections' addresses are forgotten with them
    assert.equal(b.addresses, 3);
  });

  it('never evicts the new connection, and forgets closed ones (closing an evicted one is a no-op)', () => {
    const b = new HttpConnectionBound<string>({ maxConnections: 1, maxPerAddress: 1 });
    const first = b.add('first', 'a', 0).connection;
    const second = b.add('second', 'a', 1);
    assert.deepEqual(
      second.evicted.map((c) => c.socket),
      ['first']
    );
    assert.equal(b.evictions, 1, 'one eviction, though both caps were reached');
    assert.equal(b.remove(first), false);
    assert.equal(b.remove(second.connection), true);
    assert.equal(b.size, 0);
    assert.equal(b.addresses, 0);
    b.touch(second.connection, 2); // after its close: nothing to do
    assert.equal(b.size, 0);
  });

  it('passes over a longest idle that is still active after all (a request in flight, bytes read), at most MAX_SKIPS times per eviction', () => {
    const b = new HttpConnectionBound<string>({ maxConnections: 100, maxPerAddress: 3 });
    const active = new Set(['upload']);
    b.add('upload', 'a', 0); // a deploy whose body is still coming: its head arrived at 0
    b.add('bare-1', 'a', 1);
    b.add('bare-2', 'a', 2);
    assert.deepEqual(
      b.add('bare-3', 'a', 3, (s) => active.has(s)).evicted.map((c) => c.socket),
      ['bare-1'],
      'the upload is kept, the next longest idle goes'
    );
    active.clear();
    assert.deepEqual(
      b.add('bare-4', 'a', 4, (s) => active.has(s)).evicted.map((c) => c.socket),
      ['bare-2'],
      'the upload counts as active from when it was passed over'
    );
    // everyone active: after MAX_SKIPS the longest idle goes anyway, so the bound never refuses
    const many = new HttpConnectionBound<number>({ maxConnections: MAX_SKIPS + 2, maxPerAddress: MAX_SKIPS + 2 });
    for (let i = 0; i < MAX_SKIPS + 2; i++) many.add(i, 'b', i);
    const asked: number[] = [];
    const r = many.add(99, 'b', 100, (s) => (asked.push(s), true));
    assert.equal(asked.length, MAX_SKIPS);
    assert.deepEqual(
      r.evicted.map((c) => c.socket),
      [MAX_SKIPS]
    );
  });

  it('a per-address cap above the overall one is the overall one; caps must be whole numbers ≥ 1', () => {
    assert.equal(new HttpConnectionBound({ maxConnections: 5, maxPerAddress: 50 }).limits.maxPerAddress, 5);
    assert.throws(() => new HttpConnectionBound({ maxConnections: 0, maxPerAddress: 1 }), /maxConnections/);
    assert.throws(() => new HttpConnectionBound({ maxConnections: 5, maxPerAddress: 1.5 }), /maxPerAddress/);
  });

  it('stays within both caps under churn from many addresses', () => {
    const b = new HttpConnectionBound<number>({ maxConnections: 50, maxPerAddress: 7 });
    const open = new Set<number>();
    let seed = 1;
    const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const conns = new Map<number, ReturnType<typeof b.add>['connection']>();
    for (let i = 0; i < 5000; i++) {
      const r = rnd();
      if (r < 0.6 || open.size === 0) {
        const { connection, evicted } = b.add(i, `10.0.0.${Math.floor(rnd() * 20)}`, i);
        open.add(i);
        conns.set(i, connection);
        for (const e of evicted) open.delete(e.socket);
      } else if (r < 0.8) {
        const victim = [...open][Math.floor(rnd() * open.size)];
        open.delete(victim);
        assert.equal(b.remove(conns.get(victim)!), true);
      } else {
        const c = [...open][Math.floor(rnd() * open.size)];
        b.touch(conns.get(c)!, i);
      }
      assert.equal(b.size, open.size);
      assert.ok(b.size <= 50);
      const perAddress = new Map<string, number>();
      for (const id of open) {
        const a = conns.get(id)!.address;
        perAddress.set(a, (perAddress.get(a) ?? 0) + 1);
      }
      for (const n of perAddress.values()) assert.ok(n <= 7);
      assert.equal(b.addresses, perAddress.size);
    }
  });
});
