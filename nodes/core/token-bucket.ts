// One token bucket rule for every rate bound (tenant rate in verify, will/status rate in device health): a
// bucket holds at most `burst` tokens, refills at `perMs` tokens per millisecond, and each message takes one
// (or `cost`: normalize's schema guard charges one token per new field name, see normalize/schema-guard.ts).
// The state is a plain object so callers can keep it inside their own per-key entries (LRU maps, tables).

export interface TokenBucket {
  tokens: number;
  /** when tokens were last refilled, ms */
  at: number;
}

/** A full bucket at `now`. */
export function fullBucket(burst: number, now: number): TokenBucket {
  return { tokens: burst, at: now };
}

/**
 * Refills the bucket for the time since its last refill, then takes `cost` tokens (default one); false
 * (nothing taken: all or nothing) when fewer are left. A clock that steps back refills nothing rather than
 * draining the bucket.
 */
export function takeToken(b: TokenBucket, now: number, perMs: number, burst: number, cost = 1): boolean {
  if (now > b.at) {
    b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
  }
  if (b.tokens < cost) return false;
  b.tokens -= cost;
  return true;
}
