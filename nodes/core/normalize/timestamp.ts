// Device timestamps → epoch milliseconds. Devices send ISO 8601 strings (with or without a UTC offset) or
// epoch numbers in s, ms, µs or ns; the unit is told apart by magnitude. The ISO parser is hand-written
// (no regex, no Date string parsing) because it runs once per message and Date.parse accepts far too much.
import type { Reject } from '../contract';

export interface TimestampOptions {
  /** how far (ms) a timestamp may lie ahead of the receive time before it is rejected (default 300000) */
  maxFutureMs?: number;
  /** how far (ms) a timestamp may lie behind the receive time; 0 or absent = no bound (only minMs). A signed
   * device otherwise chooses which week of the last 25 years it writes into: InfluxDB 1.x opens one shard per
   * week it touches (measured: 1,404 points, one a week since 2000, made 1,404 shards and +150 MB RSS) and
   * same-time points overwrite the device's stored history. */
  maxPastMs?: number;
  /** earliest accepted time, epoch ms (default 2000-01-01: a device whose clock was never set) */
  minMs?: number;
  /** ISO strings without offset: read as UTC ('utc', default) or reject ('reject') */
  naive?: 'utc' | 'reject';
}

export type TimestampResult = { ok: true; ms: number } | { ok: false; reject: Reject };

export const DEFAULT_MAX_FUTURE_MS = 300_000;
export const DEFAULT_MIN_MS = Date.UTC(2000, 0, 1);

// Magnitude boundaries: 1e11 s is the year 5138 and 1e11 ms is 1973, so anything below 1e11 is seconds;
// each further factor 1000 moves one unit down (ms < 1e14 ≤ µs < 1e17 ≤ ns).
const S_LIMIT = 1e11;
const MS_LIMIT = 1e14;
const US_LIMIT = 1e17;
const NS_LIMIT = 1e20;

function bad(reason: string): TimestampResult {
  return { ok: false, reject: { code: 'bad_timestamp', reason } };
}

/** Epoch number in s/ms/µs/ns (by magnitude) → ms, or NaN when out of every range. */
export function epochToMs(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return NaN;
  if (n < S_LIMIT) return n * 1000;
  if (n < MS_LIMIT) return n;
  if (n < US_LIMIT) return n / 1000;
  if (n < NS_LIMIT) return n / 1e6;
  return NaN;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Reads `len` ASCII digits at `pos`; -1 when any is not a digit. */
function digits(s: string, pos: number, len: number): number {
  if (pos + len > s.length) return -1;
  let v = 0;
  for (let i = pos; i < pos + len; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function allDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) {
      // one decimal point allowed (epoch seconds with fraction)
      if (c !== 46 || i === 0) return false;
    }
  }
  return true;
}

/**
 * Parses ISO 8601 `YYYY-MM-DD[T| ]hh:mm[:ss[.fff…]][Z|±hh[:mm]]` (or a date alone) to epoch ms.
 * Returns NaN when malformed, -Infinity when well-formed but without an offset and `naive` is 'reject'.
 */
export function parseIso(s: string, naive: 'utc' | 'reject' = 'utc'): number {
  const n = s.length;
  if (n < 10 || n > 40) return NaN;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  if (
    day > DAYS_IN_MONTH[month - 1] ||
    (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)))
  )
    return NaN;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let millis = 0;
  let pos = 10;
  let offsetMin = 0;
  let hasOffset = false;
  if (pos < n) {
    const sep = s.charCodeAt(pos);
    if (sep !== 84 && sep !== 116 && sep !== 32) return NaN; // 'T' 't' ' '
    hour = digits(s, pos + 1, 2);
    minute = digits(s, pos + 4, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || s.charCodeAt(pos + 3) !== 58) return NaN;
    pos += 6;
    if (pos < n && s.charCodeAt(pos) === 58) {
      second = digits(s, pos + 1, 2);
      if (second < 0 || second > 60) return NaN; // 60: leap second, folded into the next minute by Date.UTC
      pos += 3;
      if (pos < n && (s.charCodeAt(pos) === 46 || s.charCodeAt(pos) === 44)) {
        pos++;
        let scale = 100;
        const start = pos;
        while (pos < n) {
          const c = s.charCodeAt(pos) - 48;
          if (c < 0 || c > 9) break;
          millis += c * scale; // digits past the third add fractions of a millisecond
          scale /= 10;
          pos++;
        }
        if (pos === start) return NaN;
      }
    }
    if (pos < n) {
      const z = s.charCodeAt(pos);
      if ((z === 90 || z === 122) && pos === n - 1) {
        hasOffset = true; // 'Z'
      } else if (z === 43 || z === 45) {
        const oh = digits(s, pos + 1, 2);
        let om: number;
        if (pos + 3 === n) om = 0;
        else if (pos + 6 === n && s.charCodeAt(pos + 3) === 58) om = digits(s, pos + 4, 2);
        else if (pos + 5 === n) om = digits(s, pos + 3, 2);
        else return NaN;
        if (oh < 0 || oh > 23 || om < 0 || om > 59) return NaN;
        offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
        hasOffset = true;
      } else {
        return NaN;
      }
    }
  }
  if (!hasOffset && naive === 'reject') return -Infinity;
  return Date.UTC(year, month - 1, day, hour, minute, second) + Math.floor(millis) - offsetMin * 60000;
}

/**
 * Turns a payload timestamp into epoch ms and checks it against the receive time `now`.
 * Accepts numbers (epoch by magnitude), digit strings (the same) and ISO 8601 strings.
 */
export function parseTimestamp(value: unknown, now: number, opts: TimestampOptions = {}): TimestampResult {
  let ms: number;
  if (typeof value === 'number') {
    ms = epochToMs(value);
    if (Number.isNaN(ms)) return bad(`epoch number ${value} is not a positive s/ms/µs/ns time`);
  } else if (typeof value === 'string') {
    if (allDigits(value)) {
      ms = epochToMs(Number(value));
      if (Number.isNaN(ms)) return bad(`epoch "${value}" is not a positive s/ms/µs/ns time`);
    } else {
      ms = parseIso(value, opts.naive ?? 'utc');
      if (ms === -Infinity) return bad(`"${value.slice(0, 40)}" has no UTC offset`);
      if (Number.isNaN(ms)) return bad(`"${value.slice(0, 40)}" is not ISO 8601 or an epoch number`);
    }
  } else {
    return bad(`timestamp of type ${value === null ? 'null' : typeof value} is neither a number nor a string`);
  }
  ms = Math.floor(ms);
  const minMs = opts.minMs ?? DEFAULT_MIN_MS;
  if (ms < minMs)
    return bad(`${new Date(ms).toISOString()} is before ${new Date(minMs).toISOString()} (device clock not set?)`);
  const maxPast = opts.maxPastMs ?? 0;
  if (maxPast > 0 && now - ms > maxPast) {
    // bad_timestamp, not a new code: the reject codes are part of the contract shared with the panel
    return bad(
      `${new Date(ms).toISOString()} is ${Math.round((now - ms) / 1000)} s behind receive time (max ${maxPast / 1000} s)`
    );
  }
  const maxFuture = opts.maxFutureMs ?? DEFAULT_MAX_FUTURE_MS;
  if (ms - now > maxFuture) {
    return {
      ok: false,
      reject: {
        code: 'future_timestamp',
        reason: `${new Date(ms).toISOString()} is ${Math.round((ms - now) / 1000)} s ahead of receive time (max ${maxFuture / 1000} s)`,
      },
    };
  }
  return { ok: true, ms };
}
