import assert from 'node:assert/strict';
import { isRetryableStatus, parseRetryAfter, retryDelay } from '../../../nodes/core/retry';

describe('retry policy (writer and notifications)', () => {
  const policy = { initialMs: 500, maxMs: 4000, factor: 3, jitter: 0, maxRetryAfterMs: 60000 };

  it('grows by the factor from the first delay to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => retryDelay(a, policy)),
      [500, 1500, 4000, 4000]
    );
  });

  it("uses the server's Retry-After instead, capped, even below the backoff", () => {
    assert.equal(retryDelay(4, policy, 1000), 1000);
    assert.equal(retryDelay(1, policy, 10 * 60000), 60000);
    assert.equal(retryDelay(2, policy, 0), 1500, 'a zero hint is no hint');
  });

  it('spreads by ± jitter around the backoff', () => {
    const j = { ...policy, jitter: 0.25 };
    assert.equal(
      retryDelay(1, j, undefined, () => 0),
      375
    );
    assert.equal(
      retryDelay(1, j, undefined, () => 1),
      625
    );
  });

  it('retries timeouts, rate limits and server errors only', () => {
    assert.deepEqual([400, 401, 404, 408, 413, 422, 429, 500, 503].filter(isRetryableStatus), [408, 429, 500, 503]);
  });

  it('reads Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter('Tue, 01 Dec 2026 00:00:30 GMT', now), 30000);
    assert.equal(parseRetryAfter('Mon, 30 Nov 2026 00:00:00 GMT', now), 0, 'a date in the past: retry now');
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});
