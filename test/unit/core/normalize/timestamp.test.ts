import assert from 'node:assert/strict';
import { epochToMs, parseIso, parseTimestamp } from '../../../../nodes/core/normalize/timestamp';

const NOW = Date.UTC(2025, 10, 17, 10, 30, 0); // 2025-11-17T10:30:00Z
const code = (r: ReturnType<typeof parseTimestamp>) => (r.ok ? 'ok' : r.reject.code);
const ms = (r: ReturnType<typeof parseTimestamp>) => (r.ok ? r.ms : NaN);

describe('timestamp parsing', () => {
  it('tells epoch s, ms, µs and ns apart by magnitude', () => {
    const s = NOW / 1000;
    assert.equal(epochToMs(s), NOW);
    assert.equal(epochToMs(s + 0.25), NOW + 250);
    assert.equal(epochToMs(NOW), NOW);
    assert.equal(epochToMs(NOW * 1000), NOW);
    assert.equal(epochToMs(NOW * 1e6), NOW);
    assert.ok(Number.isNaN(epochToMs(-1)));
    assert.ok(Number.isNaN(epochToMs(1e21)));
    assert.equal(ms(parseTimestamp(String(NOW * 1000), NOW)), NOW, 'digit strings are epochs too');
  });

  it('parses ISO 8601 with Z, ±hh:mm, ±hhmm, ±hh offsets and fractions', () => {
    assert.equal(parseIso('2025-11-17T10:30:00Z'), NOW);
    assert.equal(parseIso('2025-11-17T10:30:00.123Z'), NOW + 123);
    assert.equal(parseIso('2025-11-17T10:30:00.123456789Z'), NOW + 123);
    assert.equal(parseIso('2025-11-17T12:30:00+02:00'), NOW);
    assert.equal(parseIso('2025-11-17T05:00:00-0530'), NOW);
    assert.equal(parseIso('2025-11-17T19:30:00+09'), NOW);
    assert.equal(parseIso('2025-11-17 10:30:00Z'), NOW);
    assert.equal(parseIso('2025-11-17T10:30Z'), NOW);
    assert.equal(parseIso('2025-11-17'), Date.UTC(2025, 10, 17));
    assert.equal(parseIso('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
  });

  it('refuses malformed dates instead of guessing like Date.parse', () => {
    for (const bad of [
      '2025-13-01T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2025-11-17T24:00:00Z',
      '2025-11-17T10:30:00+25:00',
      '17/11/2025',
      'Mon Nov 17 2025',
      '2025-11-17T10:30:00Zjunk',
      '2025-11-17T10:30:00.Z',
    ]) {
      assert.equal(code(parseTimestamp(bad, NOW)), 'bad_timestamp', bad);
    }
    assert.equal(code(parseTimestamp(true, NOW)), 'bad_timestamp');
    assert.equal(code(parseTimestamp({}, NOW)), 'bad_timestamp');
  });

  it('reads a timestamp without offset as UTC unless told to reject it', () => {
    assert.equal(ms(parseTimestamp('2025-11-17T10:30:00.5', NOW)), NOW + 500);
    assert.equal(code(parseTimestamp('2025-11-17T10:30:00', NOW, { naive: 'reject' })), 'bad_timestamp');
  });

  it('rejects the future beyond the skew and clocks that were never set', () => {
    assert.equal(code(parseTimestamp(NOW + 299_000, NOW)), 'ok');
    assert.equal(code(parseTimestamp(NOW + 301_000, NOW)), 'future_timestamp');
    assert.equal(code(parseTimestamp(NOW + 10_000, NOW, { maxFutureMs: 5000 })), 'future_timestamp');
    assert.equal(code(parseTimestamp(12345, NOW)), 'bad_timestamp', '1970 + uptime seconds');
    assert.equal(code(parseTimestamp(12345, NOW, { minMs: 0 })), 'ok');
  });

  it('maxPastMs bounds how far behind the receive time a timestamp may be; absent or 0 = no bound', () => {
    const dayMs = 86_400_000;
    assert.equal(code(parseTimestamp(NOW - 2 * dayMs, NOW, { maxPastMs: dayMs })), 'bad_timestamp');
    assert.equal(code(parseTimestamp(NOW - dayMs, NOW, { maxPastMs: dayMs })), 'ok', 'exactly at the bound');
    assert.equal(code(parseTimestamp(NOW - 2 * dayMs, NOW)), 'ok');
    assert.equal(code(parseTimestamp(NOW - 2 * dayMs, NOW, { maxPastMs: 0 })), 'ok');
    const r = parseTimestamp('2001-03-05T00:00:00Z', NOW, { maxPastMs: dayMs });
    assert.ok(!r.ok && /behind receive time \(max 86400 s\)/.test(r.reject.reason));
  });
});
