// The verify node's rate bounds (docs/tenants.md "Fair share of rate", docs/security-devices.md "A device that
// floods"): one keyed token-bucket limiter for tenants and for devices, clock injected.
import assert from 'node:assert/strict';
import { KeyedRateLimiter, RateVerdict } from '../../../nodes/core/keyed-rate';
import { mulberry32 } from '../../../nodes/core/prng';

const passes = (lim: KeyedRateLimiter, key: string, n: number, group?: string): boolean[] =>
  Array.from({ length: n }, () => lim.take(key, group) === RateVerdict.Pass);

describe('keyed rate bound: per tenant (token bucket per tenant)', () => {
  it('lets a tenant send its burst at once, then refuses until the rate refills the bucket', () => {
    let t = 0;
    const lim = new KeyedRateLimiter({ ratePerSec: 10, burst: 5, now: () => t });
    assert.deepEqual(passes(lim, 'acme', 8), [true, true, true, true, true, false, false, false]);
    t += 100; // 0.1 s at 10/s: one message
    assert.deepEqual(passes(lim, 'acme', 2), [true, false]);
    t += 10_000; // a long pause refills up to the burst, not beyond
    assert.equal(passes(lim, 'acme', 7).filter(Boolean).length, 5);
    assert.equal(lim.refused, 3 + 1 + 2);
  });

  it("keeps each tenant's bucket apart: one tenant over its rate leaves the other untouched", () => {
    let t = 0;
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 3, now: () => t });
    assert.equal(passes(lim, 'acme', 1000).filter((p) => !p).length, 997);
    assert.deepEqual(passes(lim, 'beta', 4), [true, true, true, false]);
    t += 1000;
    assert.deepEqual(passes(lim, 'beta', 1), [true]);
    assert.deepEqual(passes(lim, 'acme', 1), [true], 'acme refills at its own rate after the flood');
    assert.equal(lim.size, 2);
  });

  it('is off with a rate of 0: everything passes and no bucket is kept', () => {
    const lim = new KeyedRateLimiter({ ratePerSec: 0, burst: 1, now: () => 0 });
    assert.equal(lim.enabled, false);
    for (let i = 0; i < 10_000; i++) assert.equal(lim.take('acme'), RateVerdict.Pass);
    for (let i = 0; i < 10_000; i++) assert.equal(lim.take(`dev-${i}`, 'acme'), RateVerdict.Pass);
    assert.equal(lim.size, 0);
    assert.equal(lim.refused, 0);
  });

  it('does not refill on a clock that goes backwards', () => {
    let t = 1000;
    const lim = new KeyedRateLimiter({ ratePerSec: 1000, burst: 1, now: () => t });
    assert.equal(lim.take('acme'), RateVerdict.Pass);
    t = 0;
    assert.notEqual(lim.take('acme'), RateVerdict.Pass);
  });
});

describe('keyed rate bound: per device (keyed by tenant + device, bounded, LRU eviction)', () => {
  it('gives each device its own burst and refill: one device over its rate leaves the others untouched', () => {
    let t = 0;
    const lim = new KeyedRateLimiter({ ratePerSec: 2, burst: 4, now: () => t });
    assert.deepEqual(passes(lim, 'pump-1', 6), [true, true, true, true, false, false]);
    // the other devices have their whole burst although pump-1 is refused
    assert.deepEqual(passes(lim, 'pump-2', 5), [true, true, true, true, false]);
    assert.deepEqual(passes(lim, 'pump-3', 1), [true]);
    t += 500; // 0.5 s at 2/s: one message for each device, no more
    assert.deepEqual(passes(lim, 'pump-1', 2), [true, false]);
    assert.deepEqual(passes(lim, 'pump-2', 2), [true, false]);
    t += 1500; // 1.5 s: three more
    assert.deepEqual(passes(lim, 'pump-1', 4), [true, true, true, false]);
  });

  it('keys a device by tenant and device: two tenants’ pump-1 are two buckets, and the tenant-less one a third', () => {
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 2, now: () => 0 });
    assert.deepEqual(passes(lim, 'pump-1', 3, 'acme'), [true, true, false]);
    assert.deepEqual(passes(lim, 'pump-1', 3, 'beta'), [true, true, false], "acme's pump-1 spent nothing of beta's");
    assert.deepEqual(passes(lim, 'pump-1', 3), [true, true, false], 'the tenant-less pump-1 is a device of its own');
    assert.equal(lim.size, 3);
    assert.deepEqual([lim.sizeOf('acme'), lim.sizeOf('beta'), lim.sizeOf('')], [1, 1, 1]);
  });

  it('reports the first refusal of an episode once, and a new episode only after the bucket was full again', () => {
    let t = 0;
    const lim = new KeyedRateLimiter({ ratePerSec: 10, burst: 3, now: () => t });
    const verdicts = (n: number) => Array.from({ length: n }, () => lim.take('pump-1'));
    assert.deepEqual(verdicts(6), [0, 0, 0, RateVerdict.RefuseFirst, RateVerdict.Refuse, RateVerdict.Refuse]);
    // riding the bound (one token refilled, taken, refused again) stays one episode
    t += 100;
    assert.deepEqual(verdicts(2), [RateVerdict.Pass, RateVerdict.Refuse]);
    // quiet long enough to refill the whole burst: the episode is over, the next flood is a new one
    t += 1000;
    assert.deepEqual(verdicts(4), [RateVerdict.Pass, RateVerdict.Pass, RateVerdict.Pass, RateVerdict.RefuseFirst]);
  });

  it('bounds the buckets per group: a device-id flood evicts least recently used buckets of its own tenant only', () => {
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 2, maxKeys: 3, now: () => 0 });
    passes(lim, 'b-1', 1, 'beta');
    passes(lim, 'b-2', 1, 'beta');
    for (let i = 0; i < 100_000; i++) lim.take(`a-${i}`, 'acme');
    assert.equal(lim.sizeOf('acme'), 3, 'acme holds at most maxKeys buckets');
    assert.deepEqual(lim.keysOf('acme'), ['a-99997', 'a-99998', 'a-99999']);
    assert.equal(lim.evictions, 100_000 - 3);
    assert.deepEqual(lim.keysOf('beta'), ['b-1', 'b-2'], "beta's buckets untouched by acme's flood");
    assert.equal(lim.size, 5);
  });

  it('evicts the least recently used bucket, not the oldest inserted, and an evicted device starts with a full bucket', () => {
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 2, maxKeys: 3, now: () => 0 });
    passes(lim, 'd-1', 2); // d-1 spends its whole burst
    passes(lim, 'd-2', 1);
    passes(lim, 'd-3', 1);
    assert.deepEqual(passes(lim, 'd-1', 1), [false], 'd-1 is empty, and now the most recently used');
    assert.deepEqual(lim.keysOf(), ['d-2', 'd-3', 'd-1']);
    passes(lim, 'd-4', 1); // evicts d-2 (least recently used), not d-1 (inserted first)
    assert.deepEqual(lim.keysOf(), ['d-3', 'd-1', 'd-4']);
    passes(lim, 'd-3', 1);
    passes(lim, 'd-5', 1); // evicts d-1
    assert.deepEqual(lim.keysOf(), ['d-4', 'd-3', 'd-5']);
    // evicted: forgotten, not locked out; it comes back with a full bucket (the bound is a rate, not a ban)
    assert.deepEqual(passes(lim, 'd-1', 3), [true, true, false]);
    assert.equal(lim.evictions, 3);
  });

  it('keeps the exact LRU order under a long random mix of repeats, new ids and evictions (groups under 16 buckets)', () => {
    const next = mulberry32(7);
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 1e9, maxKeys: 12, now: () => 0 });
    const model: string[] = []; // least recently used first
    for (let i = 0; i < 20_000; i++) {
      const key = `d-${Math.floor(next() * 40)}`;
      lim.take(key);
      const at = model.indexOf(key);
      if (at >= 0) model.splice(at, 1);
      else if (model.length >= 12) model.shift();
      model.push(key);
      if (i % 97 === 0) assert.deepEqual(lim.keysOf(), model, `after take ${i}`);
    }
    assert.deepEqual(lim.keysOf(), model);
  });

  it('in a large group evicts a bucket no more than maxKeys/16 takes fresher than any bucket it keeps', () => {
    // the bounded slack of the order (as the replay cache's): a bucket moves to the end only when more than
    // maxKeys/16 takes passed since it last moved, so a Map delete + set is not paid on every message
    const next = mulberry32(11);
    const MAX = 320; // slack 20
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 1e9, maxKeys: MAX, now: () => 0 });
    const lastUse = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      // a hot set sending often and a long tail of devices sending rarely
      const key = next() < 0.5 ? `hot-${Math.floor(next() * 50)}` : `cold-${Math.floor(next() * 2000)}`;
      const before = new Set(lim.keysOf());
      lim.take(key);
      lastUse.set(key, i);
      if (before.size < MAX || before.has(key)) continue;
      const kept = new Set(lim.keysOf());
      const evicted = [...before].filter((k) => !kept.has(k));
      assert.equal(evicted.length, 1);
      const e = lastUse.get(evicted[0])!;
      for (const k of kept) if (k !== key) assert.ok(lastUse.get(k)! >= e - MAX / 16, `take ${i}: kept ${k}`);
    }
    assert.equal(lim.sizeOf(), MAX);
  });

  it('reads time only from the injected clock', () => {
    let t = 5_000_000;
    const lim = new KeyedRateLimiter({ ratePerSec: 1, burst: 1, now: () => t });
    assert.deepEqual(passes(lim, 'pump-1', 2), [true, false]);
    // no injected time passes: still refused, however long the test itself takes
    assert.deepEqual(passes(lim, 'pump-1', 1), [false]);
    t += 999;
    assert.deepEqual(passes(lim, 'pump-1', 1), [false]);
    t += 1;
    assert.deepEqual(passes(lim, 'pump-1', 2), [true, false]);
  });
});
