// Rate bounds of the verify node: one token bucket per key, the same limiter for both bounds (no twin):
//   - per tenant (issue #18, docs/tenants.md "Fair share of rate", reject `tenant_rate`): every tenant's
//     messages pass the same event loop in arrival order, so without a bound one tenant's flood delays every
//     other tenant's devices for as long as it lasts;
//   - per verified device (docs/security-devices.md "A device that floods", reject `device_rate`), keyed by
//     tenant + device: a device holding a valid key that floods would otherwise delay every other device's
//     data, and inside a tenant spend the whole tenant budget. This one also covers tenant-less pipelines.
// A bucket lets a key send `burst` messages at once and `ratePerSec` sustained; above that its messages are
// refused before the expensive stages (normalize, anomaly, alert, writer) spend anything on them.
//
// Why refuse instead of slowing down (backpressure): all devices share one MQTT session, whose in-flight
// window the broker fills in arrival order. Holding one key's excess (its PUBACKs withheld) would fill that
// window and stop everyone's traffic: exactly the starvation this is meant to prevent. A key that needs more
// rate gets a larger bound; the broker's limits (docs/tenants.md) can refuse the excess before it reaches MOBY.
//
// Bounded: keys live in groups (the device bound: one group per tenant, the same per-tenant fairness as the
// replay cache and the anomaly states), each group holds at most `maxKeys` buckets and evicts its least
// recently used one (within a bounded slack, see take()). Evicting forgets a bucket, it never locks out: an
// evicted key comes back with a full bucket. A flooding key is among the most recently used, so it is only
// evicted when about `maxKeys` other keys of its group sent in between: refilling a flooder's burst by
// eviction costs some 94,000 messages of other verified ids for 3,000 (defaults), no amplification. The
// number of groups is bounded by the tenants with keys (only verified messages reach the limiter). What the
// device bound does not stop is a holder of a master key minting new device ids (each starts full): that is
// the tenant bound's job, or the broker's (docs/security-devices.md).
//
// Pure: the clock is injected (monotonic milliseconds); no timers.
import { fullBucket, takeToken, type TokenBucket } from './token-bucket';

export interface KeyedRateOptions {
  /** sustained messages per second each key may send; 0 (or less) turns the bound off */
  ratePerSec: number;
  /** messages a key may send at once on top of its sustained rate (at least 1) */
  burst: number;
  /** buckets kept per group; the least recently used one is evicted beyond it (default: unbounded) */
  maxKeys?: number;
  /** monotonic clock in milliseconds */
  now?: () => number;
}

/** Outcome of take(). */
export enum RateVerdict {
  /** a token was taken: the message passes */
  Pass = 0,
  /** over the bound: refuse the message */
  Refuse = 1,
  /** over the bound, and the first refusal of this key's episode (worth one log line, not one per message) */
  RefuseFirst = 2,
}

/** Defaults of the verify node (docs/tenants.md and docs/security-devices.md explain the choice). */
export const DEFAULT_TENANT_RATE = 1000;
export const DEFAULT_TENANT_BURST = 5000;
/** 10× what a normal device sends at most (10 messages/s), so live data flows while a backlog drains */
export const DEFAULT_DEVICE_RATE = 100;
/** the whole freshness window (300 s) of a 10 messages/s device: a reconnect's backlog fits in one burst */
export const DEFAULT_DEVICE_BURST = 3000;

/** A class, not a literal: one stable shape with its numbers kept in the object (cheaper per message). */
class Bucket implements TokenBucket {
  /** refused since the bucket was last full: an episode is running (one warning per episode) */
  refusing = false;
  constructor(
    public tokens: number,
    public at: number,
    /** the group's count of takes when this bucket last took its place at the end of the order */
    public placed: number
  ) {}
}

interface Group {
  /** least recently used first, within `slack` (Map order; see take()) */
  buckets: Map<string, Bucket>;
  /** takes in this group so far: the clock of the order */
  takes: number;
  /**
   * Where eviction goes on: everything before it was evicted or moved to the end. A fresh keys().next()
   * for each eviction would skip every deleted entry from the table's start again (V8 keeps them until it
   * rehashes), which made each eviction cost O(bound): 83 µs per new id at 100k buckets (rate.bench.ts).
   */
  cursor: Iterator<string> | null;
}

export class KeyedRateLimiter {
  private readonly groups = new Map<string, Group>();
  private readonly rate: number;
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  /** how many takes a bucket's place may lag its last use (maxKeys / 16; see take()) */
  private readonly slack: number;
  private readonly now: () => number;
  /** messages refused since the start (a total: a count per key would be a table as large as the fleet) */
  refused = 0;
  /** buckets evicted to stay within maxKeys */
  evictions = 0;

  constructor(o: KeyedRateOptions) {
    this.rate = Number.isFinite(o.ratePerSec) && o.ratePerSec > 0 ? o.ratePerSec : 0;
    this.perMs = this.rate / 1000;
    this.burst = Math.max(1, Number.isFinite(o.burst) ? Math.floor(o.burst) : 1);
    const max = o.maxKeys ?? Infinity;
    this.maxKeys = Number.isNaN(max) ? Infinity : Math.max(1, Math.floor(max));
    // unbounded: nothing is ever evicted, so the order is never read and never kept
    this.slack = Number.isFinite(this.maxKeys) ? Math.floor(this.maxKeys / 16) : Infinity;
    this.now = o.now ?? (() => performance.now());
  }

  /** Off when no rate is set: every message passes and no bucket is kept. */
  get enabled(): boolean {
    return this.rate > 0;
  }

  /**
   * Takes one message's token from the bucket of `key` in `group`. Callers pass only verified keys, so a
   * forged message cannot spend another key's budget.
   */
  take(key: string, group = ''): RateVerdict {
    if (this.rate <= 0) return RateVerdict.Pass;
    const now = this.now();
    let g = this.groups.get(group);
    if (!g) {
      g = { buckets: new Map(), takes: 0, cursor: null };
      this.groups.set(group, g);
    }
    const takes = ++g.takes;
    let b = g.buckets.get(key);
    if (!b) {
      if (g.buckets.size >= this.maxKeys) {
        // least recently used first (Map order, kept by the move below); a cursor that ran off the end
        // (everything it passed is gone) starts again at the first live entry
        let next = g.cursor?.next();
        if (!next || next.done) {
          g.cursor = g.buckets.keys();
          next = g.cursor.next();
        }
        g.buckets.delete(next.value as string);
        this.evictions++;
      }
      const full = fullBucket(this.burst, now);
      b = new Bucket(full.tokens, full.at, takes);
      g.buckets.set(key, b);
    } else if (takes - b.placed > this.slack) {
      // Least recently used with a bounded slack, as the replay cache keeps its devices (core/hmac/replay.ts):
      // a bucket moves to the end of the order only when more than `slack` takes passed since it last moved,
      // not on every message: a Map delete + set is most of what take() costs (test/bench/rate.bench.ts), and
      // with the slack a fleet of up to maxKeys / 16 devices sending in turn never pays it. No kept bucket
      // was then last used more than `slack` takes before the evicted one; a group under 16 buckets keeps
      // the exact order. Eviction only forgets a bucket (its device starts again with a full one), so the
      // slack decides whose, never whether a bound holds.
      g.buckets.delete(key);
      g.buckets.set(key, b);
      b.placed = takes;
    }
    if (takeToken(b, now, this.perMs, this.burst)) {
      // the episode ends once the key was back under its rate long enough to have its whole burst again;
      // a key riding its bound (refill, one pass, refused again) stays in one episode
      if (b.refusing && b.tokens >= this.burst - 1) b.refusing = false;
      return RateVerdict.Pass;
    }
    this.refused++;
    if (b.refusing) return RateVerdict.Refuse;
    b.refusing = true;
    return RateVerdict.RefuseFirst;
  }

  /** The limit as text for reject reasons and logs. */
  describe(): string {
    return `${this.rate} messages/s, burst ${this.burst}`;
  }

  /** Buckets kept, over all groups. */
  get size(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.buckets.size;
    return n;
  }

  /** Buckets kept in one group. */
  sizeOf(group = ''): number {
    return this.groups.get(group)?.buckets.size ?? 0;
  }

  /** The keys of a group, least recently used first (for tests and diagnostics). */
  keysOf(group = ''): string[] {
    return [...(this.groups.get(group)?.buckets.keys() ?? [])];
  }
}
