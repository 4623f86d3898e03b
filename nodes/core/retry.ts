// One retry policy for everything that talks to a server that may be down or busy: the InfluxDB writer and
// the alert notification channels. Exponential backoff with jitter (so many writers do not retry in
// lockstep), a cap, and the server's own Retry-After — which wins when it is sent, as in influxdb-client's
// retry strategy — bounded so a misconfigured proxy cannot park a queue for a day.

export interface RetryPolicy {
  /** delay before the first retry, ms */
  initialMs: number;
  /** cap on the exponential delay, ms */
  maxMs: number;
  factor: number;
  /** ± fraction of random spread */
  jitter: number;
  /** cap on a server's Retry-After, ms */
  maxRetryAfterMs: number;
}

/** Delay before retry number `attempt` (1-based); a Retry-After from the server wins when present. */
export function retryDelay(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random
): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const base = Math.min(policy.maxMs, policy.initialMs * Math.pow(policy.factor, Math.max(0, attempt - 1)));
  return Math.max(0, Math.round(base * (1 + policy.jitter * (2 * random() - 1))));
}

/** Statuses worth trying again unchanged: timeout, rate limit and server-side errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A Retry-After header (seconds or an HTTP date) in ms from `now`, or undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
