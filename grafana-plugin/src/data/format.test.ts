import { clockTime, isoTime, localDateTime, safeDate } from './format';

describe('date formatting that never throws', () => {
  it.each([1e17, -1e17, 8.64e15 + 1, NaN, Infinity, -Infinity, null, undefined])(
    'gives a placeholder for %p, out of Date range or no time at all',
    (t) => {
      expect(safeDate(t)).toBeUndefined();
      expect(isoTime(t)).toBe('invalid date');
      expect(localDateTime(t)).toBe('invalid date');
      expect(clockTime(t)).toBe('--:--');
    }
  );

  it('formats representable times, up to the edges of Date', () => {
    expect(isoTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(isoTime(1_700_000_000_000)).toBe('2023-11-14T22:13:20.000Z');
    expect(isoTime(8.64e15)).toBe('+275760-09-13T00:00:00.000Z');
    expect(clockTime(1_700_000_000_000)).toMatch(/^\d\d:\d\d$/);
    expect(localDateTime(1_700_000_000_000)).not.toBe('invalid date');
  });
});
