// StatusTrust (nodes/core/health/trust.ts): who may change a device by an unsigned will/status, bounded.
import assert from 'node:assert/strict';
import { StatusTrust } from '../../../../nodes/core/health/trust';

describe('health: will/status trust', () => {
  it('refuses wills for devices that have not proven themselves; signed data or a listing proves them', () => {
    const t = new StatusTrust({ isListed: (id) => id === 'listed-1' });
    const r = t.check('pump-001', 0);
    assert.ok(!r.ok && r.code === 'untrusted_status');
    t.prove('pump-001', 0);
    assert.equal(t.check('pump-001', 0).ok, true);
    assert.equal(t.check('listed-1', 0).ok, true);
    assert.deepEqual(t.provenIds(), ['pump-001'], 'listed devices are not persisted as proven');
  });

  it('rate-limits flapping per device, refilling over time, without touching other devices', () => {
    const t = new StatusTrust({ mode: 'broker', ratePerMinute: 6, burst: 3 });
    for (let i = 0; i < 3; i++) assert.equal(t.check('flappy', 1000).ok, true);
    const r = t.check('flappy', 1000);
    assert.ok(!r.ok && r.code === 'status_rate_limited');
    assert.equal(t.check('calm', 1000).ok, true);
    assert.equal(t.check('flappy', 1000 + 10_000).ok, true, 'one token back after 10 s at 6/min');
    assert.equal(t.check('flappy', 1000 + 10_000).ok, false);
  });

  it('is bounded: the least recently active device is evicted and must prove itself again (no lockout)', () => {
    const t = new StatusTrust({ maxDevices: 2 });
    t.prove('a', 0);
    t.prove('b', 0);
    t.prove('a', 0); // a is active again
    t.prove('c', 0); // evicts b
    assert.equal(t.size, 2);
    assert.equal(t.isProven('b'), false);
    assert.equal(t.evictions, 1);
    assert.equal(t.check('b', 0).ok, false);
    t.prove('b', 0);
    assert.equal(t.check('b', 0).ok, true);
  });

  it('restores persisted proofs, ignoring junk', () => {
    const t = new StatusTrust({ maxDevices: 2 });
    assert.equal(
      t.restore(['x', 42, 'bad id', 'y', 'z'], 0, (id) => /^[a-z]+$/.test(id)),
      2
    );
    assert.deepEqual(t.provenIds(), ['y', 'z']);
    assert.equal(
      t.restore('nope', 0, () => true),
      0
    );
  });
});
