// Fair share of rate between tenants (issue #18, docs/tenants.md "Fair share of rate"): one token bucket per
// tenant. Every tenant's messages pass the same event loop in arrival order, so without a bound one tenant's
// flood delays every other tenant's devices for as long as it lasts. The bucket lets a tenant send `burst`
// messages at once and `ratePerSec` sustained; above that its messages are refused (reject code
// `tenant_rate`) before the expensive stages (normalize, anomaly, alert, writer) spend anything on them.
//
// Why refuse instead of slowing down (backpressure): all tenants share one MQTT session, whose in-flight
// window the broker fills in arrival order. Holding one tenant's excess (its PUBACKs withheld) would fill
// that window and stop every tenant's traffic: exactly the starvation this is meant to prevent. A tenant
// that needs more rate gets a larger bound; the broker's per-tenant limits (docs/tenants.md) can refuse the
// excess before it reaches MOBY at all.
//
// Pure: the clock is injected (monotonic milliseconds); no timers.
import { fullBucket, takeToken, type TokenBucket } from './token-bucket';

export interface TenantRateOptions {
  /** sustained messages per second each tenant may send; 0 (or less) turns the bound off */
  ratePerSec: number;
  /** messages a tenant may send at once on top of its sustained rate (at least 1) */
  burst: number;
  /** monotonic clock in milliseconds */
  now?: () => number;
}

/** Defaults of the verify node (docs/tenants.md explains the choice). */
export const DEFAULT_TENANT_RATE = 1000;
export const DEFAULT_TENANT_BURST = 5000;

export class TenantRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  /** messages refused per tenant since the start (also counted in /moby/metrics by the adapter) */
  readonly refused = new Map<string, number>();

  constructor(o: TenantRateOptions) {
    this.rate = Number.isFinite(o.ratePerSec) && o.ratePerSec > 0 ? o.ratePerSec : 0;
    this.burst = Math.max(1, Number.isFinite(o.burst) ? Math.floor(o.burst) : 1);
    this.now = o.now ?? (() => performance.now());
  }

  /** Off when no rate is set: every message passes and no bucket is kept. */
  get enabled(): boolean {
    return this.rate > 0;
  }

  /**
   * Takes one message's token from the tenant's bucket; false when the tenant is over its rate. The number
   * of buckets is bounded by the number of tenants with keys: only verified (authenticated) tenants reach
   * this, so a forged topic cannot spend another tenant's budget or grow the table.
   */
  take(tenant: string): boolean {
    if (this.rate <= 0) return true;
    const now = this.now();
    let b = this.buckets.get(tenant);
    if (!b) {
      b = fullBucket(this.burst, now);
      this.buckets.set(tenant, b);
    }
    if (takeToken(b, now, this.rate / 1000, this.burst)) return true;
    this.refused.set(tenant, (this.refused.get(tenant) ?? 0) + 1);
    return false;
  }

  /** The limit as text for reject reasons and logs. */
  describe(): string {
    return `${this.rate} messages/s, burst ${this.burst}`;
  }

  get tenantCount(): number {
    return this.buckets.size;
  }
}
