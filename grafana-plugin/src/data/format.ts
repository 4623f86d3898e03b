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
