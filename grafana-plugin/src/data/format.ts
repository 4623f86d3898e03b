// Small formatters with no locale or clock of their own, so tests and wall displays agree.

/** "just now", "45s ago", "12m ago", "3h ago", "5d ago"; "never" for null. */
export function relativeTime(t: number | null | undefined, now: number): string {
  if (t === null || t === undefined || !Number.isFinite(t)) {
    return 'never';
  }
  const s = Math.round((now - t) / 1000);
  if (s < 0) {
    return 'in the future';
  }
  if (s < 5) {
    return 'just now';
  }
  if (s < 60) {
    return `${s}s ago`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ago`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    return `${h}h ago`;
  }
  return `${Math.floor(h / 24)}d ago`;
}

/** Up to 3 significant decimals, no trailing zeros. */
export function formatNumber(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) {
    return '–';
  }
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}

/** "87.2 / 80 (+9%)": a value against its threshold, with the overshoot that tells how bad it is. */
export function valueVsThreshold(value: number | undefined, threshold: number | undefined): string {
  if (value === undefined) {
    return '';
  }
  if (threshold === undefined) {
    return formatNumber(value);
  }
  let pct = '';
  if (threshold !== 0) {
    const p = Math.round(((value - threshold) / Math.abs(threshold)) * 100);
    pct = ` (${p >= 0 ? '+' : ''}${p}%)`;
  }
  return `${formatNumber(value)} / ${formatNumber(threshold)}${pct}`;
}

/**
 * A Date for epoch ms, or undefined when Date cannot hold it (beyond ±8.64e15 ms, NaN, ±Infinity): such a
 * Date's toISOString() throws a RangeError and would take the whole panel down. Every date formatting in the
 * panel goes through this.
 */
export function safeDate(t: number | null | undefined): Date | undefined {
  if (t === null || t === undefined || !Number.isFinite(t)) {
    return undefined;
  }
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** "2026-01-02T03:04:05.000Z", or "invalid date" when `t` is not a representable time. */
export function isoTime(t: number | null | undefined): string {
  return safeDate(t)?.toISOString() ?? 'invalid date';
}

/** The browser's local date and time, or "invalid date". */
export function localDateTime(t: number | null | undefined): string {
  return safeDate(t)?.toLocaleString() ?? 'invalid date';
}

/** "14:05" in local time, or "--:--". */
export function clockTime(t: number | null | undefined): string {
  const d = safeDate(t);
  return d ? `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}` : '--:--';
}
