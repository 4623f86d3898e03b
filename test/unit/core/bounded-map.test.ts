// The bounded, least-recently-set Map every per-key cache uses (keyring, HTTP limiter, shared view, health
// sessions, reopen quieting, refusals, summaries).
import assert from 'node:assert/strict';
import { BoundedMap } from '../../../nodes/core/bounded-map';
import { mulberry32 } from '../../../nodes/core/prng';

describe('BoundedMap', () => {
  it('drops the least recently set entry when a new key comes at the bound, and counts it', () => {
    const m = new BoundedMap<string, number>(3);
    m.set('a', 1).set('b', 2).set('c', 3);
    m.set('a', 10); // set again: a becomes the most recent
    assert.deepEqual(m.put('d', 4), ['b', 2]);
    assert.deepEqual([...m.keys()], ['c', 'a', 'd']);
    assert.equal(m.evicted, 1);
    assert.equal(m.put('a', 11), undefined); // an existing key never drops another
    assert.equal(m.size, 3);
    assert.equal(m.touch('c'), 3);
    assert.equal(m.touch('zz'), undefined);
    assert.equal(m.has('zz'), false);
    m.set('e', 5);
    assert.deepEqual([...m.keys()], ['a', 'c', 'e']);
    assert.equal(m.evicted, 2);
  });

  it('keeps at least one entry whatever bound it is given', () => {
    for (const max of [0, -5, 0.4, NaN]) {
      const m = new BoundedMap<number, number>(max);
      m.set(1, 1).set(2, 2);
      assert.deepEqual([...m.entries()], [[2, 2]], `max ${max}`);
    }
  });

  it('matches a plain recency list through a random mix of sets, touches, deletes and clears', () => {
    const random = mulberry32(11);
    const rnd = (n: number) => Math.floor(random() * n);
    const max = 50;
    const m = new BoundedMap<number, number>(max);
    let model: Array<[number, number]> = [];
    let evicted = 0;
    for (let step = 0; step < 50_000; step++) {
      const key = rnd(step < 25_000 ? 80 : 400); // a churn of new keys in the second half
      const op = rnd(1000);
      if (op < 700) {
        const i = model.findIndex(([k]) => k === key);
        if (i >= 0) model.splice(i, 1);
        else if (model.length >= max) {
          model.shift();
          evicted++;
        }
        model.push([key, step]);
        m.set(key, step);
      } else if (op < 850) {
        const i = model.findIndex(([k]) => k === key);
        const expected = i >= 0 ? model[i][1] : undefined;
        if (i >= 0) model.push(...model.splice(i, 1));
        assert.equal(m.touch(key), expected);
      } else if (op < 998) {
        model = model.filter(([k]) => k !== key);
        m.delete(key);
      } else {
        model = [];
        m.clear();
      }
      if (step % 97 === 0) assert.deepEqual([...m.entries()], model, `step ${step}`);
    }
    assert.deepEqual([...m.entries()], model);
    assert.equal(m.evicted, evicted);
    assert.ok(evicted > 1000, `the churn evicted ${evicted}`);
  });
});
