/**
 * A decimal number written out: digits with an optional sign, point and exponent. Number() alone also reads
 * "0x10" (16), "0b11" and "0o7", which are hex, binary and octal ids or codes rather than readings (integrator
 * review 2026-12-06), and " 7 " or "" (7, 0); those stay text. One rule for every node that reads numbers
 * sent as text: moby-normalize's `coerce` converts exactly these, and moby-anomaly's warning about numbers
 * sent as text names exactly these, so its advice (turn on coerce) fixes what it names.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The longest text read as a number: a longer one is a blob, not a reading. */
export const MAX_DECIMAL_TEXT = 40;

export function isDecimalText(s: string): boolean {
  return s.length > 0 && s.length <= MAX_DECIMAL_TEXT && DECIMAL.test(s);
}
