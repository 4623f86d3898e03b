import assert from 'node:assert/strict';
import { clockTime, span } from '../../../nodes/core/span';

describe('span', () => {
  it('says durations in the unit a person reads', () => {
    assert.equal(span(45_000), '45 s');
    assert.equal(span(12 * 60_000), '12 min');
    assert.equal(span(3.5 * 3600_000), '3.5 h');
    assert.equal(span(-5), '0 s');
  });
});

describe('clockTime', () => {
  const saved = process.env.TZ;
  afterEach(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
  // 2026-12-06T23:51:17.250Z
  const t = Date.UTC(2026, 11, 6, 23, 51, 17, 250);

  it("says the host's local time with its offset from UTC (TZ is read at each call)", () => {
    process.env.TZ = 'Asia/Seoul';
    assert.equal(clockTime(t), '2026-12-07 08:51:17 +09:00');
    process.env.TZ = 'UTC';
    assert.equal(clockTime(t), '2026-12-06 23:51:17 +00:00');
    process.env.TZ = 'America/St_Johns'; // a half-hour offset west of UTC
    assert.equal(clockTime(t), '2026-12-06 20:21:17 -03:30');
  });

  it('follows daylight saving time', () => {
    process.env.TZ = 'Europe/Berlin';
    assert.equal(clockTime(Date.UTC(2026, 6, 1, 12, 0, 0)), '2026-07-01 14:00:00 +02:00');
    assert.equal(clockTime(Date.UTC(2026, 0, 1, 12, 0, 0)), '2026-01-01 13:00:00 +01:00');
  });

  it('says so when there is no time to say', () => {
    assert.equal(clockTime(NaN), 'an unknown time');
    assert.equal(clockTime(8.64e15 + 1), 'an unknown time');
  });
});
