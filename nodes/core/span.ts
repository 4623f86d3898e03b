// Time for a person reading a log line or a page: how long something lasted (the writer's outage lines and an
// alert's resolve summary say durations the same way), and when something happened.

/** "45 s", "12 min", "3.5 h" */
export function span(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * "2026-12-07 08:51:17 +09:00": the host's local time (its `TZ`) with its offset from UTC. Pages said
 * "2026-12-06T23:51:17.000Z", which the night shift of a plant outside UTC had to convert before knowing whether a
 * machine went down an hour or nine hours ago; the offset keeps the text exact for anyone elsewhere. Machine-read
 * fields (the webhook's `timestamp`, the API's numbers) stay UTC.
 */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  if (!Number.isFinite(d.getTime())) return 'an unknown time';
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ` +
    `${offset < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}:${two(abs % 60)}`
  );
}
