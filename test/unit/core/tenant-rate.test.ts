// Per-tenant rate bound (docs/tenants.md, "Fair share of rate"): a token bucket per tenant, clock injected.
import assert from 'node:assert/strict';
import { TenantRateLimiter } from '../../../nodes/core/tenant-rate';

describe('tenant rate bound (token bucket per tenant)', () => {
  it('lets a tenant send its burst at once, then refuses until the rate refills the bucket', () => {
    let t = 0;
    const lim = new TenantRateLimiter({ ratePerSec: 10, burst: 5, now: () => t });
    const first = Array.from({ length: 8 }, () => lim.take('acme'));
    assert.deepEqual(first, [true, true, true, true, true, false, false, false]);
    t += 100; // 0.1 s at 10/s: one message
    assert.equal(lim.take('acme'), true);
    assert.equal(lim.take('acme'), false);
    t += 10_000; // a long pause refills up to the burst, not beyond
    assert.equal(Array.from({ length: 7 }, () => lim.take('acme')).filter(Boolean).length, 5);
    assert.equal(lim.refused.get('acme'), 3 + 1 + 2);
  });

  it("keeps each tenant's bucket apart: one tenant over its rate leaves the other untouched", () => {
    let t = 0;
    const lim = new TenantRateLimiter({ ratePerSec: 1, burst: 3, now: () => t });
    for (let i = 0; i < 1000; i++) lim.take('acme');
    assert.equal(lim.refused.get('acme'), 997);
    assert.deepEqual(
      [lim.take('beta'), lim.take('beta'), lim.take('beta'), lim.take('beta')],
      [true, true, true, false]
    );
    t += 1000;
    assert.equal(lim.take('beta'), true);
    assert.equal(lim.take('acme'), true, 'acme refills at its own rate after the flood');
    assert.equal(lim.tenantCount, 2);
  });

  it('is off with a rate of 0: everything passes and no bucket is kept', () => {
    const lim = new TenantRateLimiter({ ratePerSec: 0, burst: 1, now: () => 0 });
    assert.equal(lim.enabled, false);
    for (let i = 0; i < 10_000; i++) assert.equal(lim.take('acme'), true);
    assert.equal(lim.tenantCount, 0);
    assert.equal(lim.refused.size, 0);
  });

  it('does not refill on a clock that goes backwards', () => {
    let t = 1000;
    const lim = new TenantRateLimiter({ ratePerSec: 1000, burst: 1, now: () => t });
    assert.equal(lim.take('acme'), true);
    t = 0;
    assert.equal(lim.take('acme'), false);
  });
});
