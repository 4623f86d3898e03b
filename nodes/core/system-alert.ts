// Alerts about MOBY itself rather than a machine: the pipeline unable to hear the devices
// (health/blind-watch.ts), a database that does not take points (influx/outage-alert.ts). They go to moby-alert
// as msg.alert like any flow's own alert, under a device id that names the part and where it runs, so an
// operator sees "pipeline@plant-7:1880" or "database@10.0.0.5:8086" beside the machines, and each instance of a
// cluster, each database, has an alert of its own.

/** MOBY's own alerts' rules (blind-watch.ts, outage-alert.ts). */
export const BLIND_RULE = 'monitoring_blind';
export const DATABASE_RULE = 'database_unwritable';

/**
 * Rules whose every opening is paged, never quieted as a reopen (reopen-quiet.ts): they open only after minutes
 * of a failing pipeline or database, and each says that MOBY's view of the plant is blind or losing data.
 * Quieting one let a second broker outage within 10 minutes page 18 "device offline" alerts and not the one
 * that explained them (operator round 2026-12-06).
 */
export const ALWAYS_PAGED_RULES: ReadonlySet<string> = new Set([BLIND_RULE, DATABASE_RULE]);

/**
 * `<part>@<place>`, with the place reduced to the characters an alert's device id may hold (inputs.ts: word
 * characters, `.`, `:`, `@`, `-`) and cut to 100 characters; `localhost` when nothing of it is left.
 */
export function systemDeviceId(part: string, place: string): string {
  const p =
    place
      .replace(/[^\w.:-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 100) || 'localhost';
  return `${part}@${p}`;
}

/** How one of these alerts ends: listening, writable … again. */
export interface SystemClear {
  kind: 'clear';
  /** how long the opened alert's stretch lasted (ms); null for the clear after a start */
  lastedMs: number | null;
  /** what the trouble was and how long it lasted, the alert's resolve note (absent for the clear after a start) */
  note?: string;
}

/**
 * The clear at the end of a failing stretch that began at `since`: for an alert this watch opened; or, as the
 * first end since the watch was made (`fresh`: a restart), for an alert a previous run may have left open,
 * which moby-alert ignores when none is. Null when there is nothing to clear.
 */
export function stretchClear(
  opened: boolean,
  since: number | null,
  fresh: boolean,
  now: number,
  noteFor?: (lastedMs: number) => string
): SystemClear | null {
  if (opened) {
    const lastedMs = now - (since ?? now);
    return noteFor ? { kind: 'clear', lastedMs, note: noteFor(lastedMs) } : { kind: 'clear', lastedMs };
  }
  return fresh ? { kind: 'clear', lastedMs: null } : null;
}

/**
 * The message moby-alert takes for an alert a node raises itself (`msg.alert`, inputs.ts): an opening with its
 * severity and text, or the clear that resolves it at once (with its note, the resolve note, when it has one).
 * `extra` adds message properties (a tenant's `moby`). One shape for the blind watch, the writer's database
 * alert and the verifier's refused devices.
 */
export function explicitAlert(
  topic: string,
  deviceId: string,
  rule: string,
  signal: { kind: 'clear'; note?: string } | { kind: 'open'; severity: 'warning' | 'critical'; message: string },
  extra: Record<string, unknown> = {}
): { topic: string; alert: Record<string, unknown> } & Record<string, unknown> {
  const alert =
    signal.kind === 'clear'
      ? { device_id: deviceId, rule, clear: true, ...(signal.note ? { note: signal.note } : {}) }
      : { device_id: deviceId, rule, severity: signal.severity, message: signal.message };
  return { topic, alert, ...extra };
}
