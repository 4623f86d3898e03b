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

  it("tenants: the bound holds per tenant; one tenant's proofs beyond it evict only its own", () => {
    const t = new StatusTrust({ maxDevices: 3 });
    t.prove('beta~pump-7', 0);
    t.prove('pump-9', 0);
    for (let i = 0; i < 10; i++) t.prove(`acme~gw-${i}`, i);
    assert.equal(t.isProven('beta~pump-7'), true, "acme's flood leaves beta's proof");
    assert.equal(t.check('beta~pump-7', 100).ok, true, "beta's unsigned will is still believed");
    assert.equal(t.isProven('pump-9'), true, 'and the tenant-less device keeps its proof');
    assert.equal(t.size, 5);
    assert.equal(t.evictions, 7);
    assert.deepEqual(
      t.provenIds().filter((id) => id.startsWith('acme~')),
      ['acme~gw-7', 'acme~gw-8', 'acme~gw-9'],
      'acme keeps its own 3 most recently active'
    );
    // a rate bucket made for a signed will (no proof needed) is bounded the same way
    for (let i = 0; i < 10; i++) assert.equal(t.check(`acme~new-${i}`, 200, true).ok, true);
    assert.equal(t.isProven('beta~pump-7'), true);
  });

  it('restores the newest proofs per tenant, also from a list written with one shared bound', () => {
    const t = new StatusTrust({ maxDevices: 2 });
    assert.equal(
      t.restore(['beta~pump-7', 'acme~a', 'acme~b', 'acme~c', 'acme~b'], 0, () => true),
      3
    );
    assert.deepEqual(t.provenIds().sort(), ['acme~b', 'acme~c', 'beta~pump-7']);
    assert.equal(t.evictions, 0);
  });
});
