// How long something lasted, for a person reading a log line or a page: the writer's outage lines and an alert's
// resolve summary say durations the same way.

/** "45 s", "12 min", "3.5 h" */
export function span(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
