// One token bucket rule for every rate bound (tenant rate in verify, will/status rate in device health): a
// bucket holds at most `burst` tokens, refills at `perMs` tokens per millisecond, and each message takes one.
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
 * Refills the bucket for the time since its last refill, then takes one token; false (nothing taken) when
 * less than one is left. A clock that steps back refills nothing rather than draining the bucket.
 */
export function takeToken(b: TokenBucket, now: number, perMs: number, burst: number): boolean {
  if (now > b.at) {
    b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
