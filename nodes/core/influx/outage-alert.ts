// A database that does not take points, as an alert (moby-influx-write's second output, wired to moby-alert in
// the shipped flows). The writer's log lines (outage-notice.ts), status and metrics say an outage as it happens;
// nobody is woken by them. Meanwhile the dashboards show nothing newer and the spool fills toward its bound,
// after which points are lost. So:
//
// - **warning** once the database has not taken points for `alertAfterMs` (default 5 minutes): nothing is lost
//   yet, the points wait in the disk spool; a restart of the database or a retry that works ends it unseen.
// - **critical** as soon as points are lost during the outage (the spool dropped some at its bound), or the spool
//   disk itself fails (ENOSPC, EIO …). Raised even before the warning's delay: a loss is never worth waiting for.
//   A failing spool disk loses nothing by itself: new points wait in memory, unacknowledged, and beyond its bound
//   the writer refuses them (done(err)): a source that acknowledges only what is durable (moby-mqtt-in) leaves
//   them with the broker, which delivers them again. But a message kept there longer than the verifier's clock
//   tolerance is refused as stale when it comes back: that is the deadline, and the alert says so. It said
//   "points are being lost" while none was (operator round 2026-12-06: a 2 MB spool disk, 0 dropped, every point
//   stored once the database was back).
// - while points keep being lost, the critical alert's message is sent again with the count, at most once a
//   minute (moby-alert records it as an update: no page).
// - **clear** once a write succeeds again, which resolves it. After a restart the first successful write clears
//   too, since the alert may still be open from before it (moby-alert ignores a clear when nothing is open).
//
// - a writer **without a database** (state `disabled`) is not an outage, but (newcomer round 2026-12-06: such a
//   writer was never alerted on, though it spools to its bound and then drops points):
//   - with a configuration problem (a URL that is not http(s), no bucket or database: the node says which), the
//     database takes no points just as in an outage: the warning after `alertAfterMs`, critical on a loss;
//   - with no URL at all (spool only, on purpose, as `npm start` without MOBY_INFLUX_URL), only a loss opens it,
//     critical. Neither clears by itself (nothing is ever written): fixing the setting and restarting does, or a
//     person resolves it.
//
// Pure: the node passes each writer's stats and the time once a second.
import { oneLine } from '../names';
import { clockTime, span } from '../span';
import type { WriterState } from './writer';
import { stretchClear, type SystemClear } from '../system-alert';

export interface OutageAlertView {
  state: WriterState;
  lastError?: string;
  spooled: number;
  buffered: number;
  /** points dropped or refused so far (WriterStats.dropped): only its growth during an outage counts */
  dropped: number;
  /** of `dropped`, the points the writer refused while the spool failed (WriterStats.refused): not acknowledged */
  refused?: number;
  spoolError?: string;
}

export { DATABASE_RULE } from '../system-alert';

/** `host:port` of a database URL, without credentials or path; the URL itself when it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

export type OutageAlertSignal = { kind: 'open'; severity: 'warning' | 'critical'; message: string } | SystemClear;

const failing = (s: WriterState) => s === 'retrying' || s === 'unauthorized';

/** how often a critical alert's loss count is said again while it grows (ms) */
export const LOSS_UPDATE_MS = 60_000;

export class OutageAlert {
  private readonly alertAfterMs: number;
  /** when the current failing stretch began, or null while the database takes points */
  private since: number | null = null;
  /** at the start of the stretch: points lost at the spool's bound, and points refused (not acknowledged) */
  private lostBefore = 0;
  private refusedBefore = 0;
  private level: 'warning' | 'critical' | null = null;
  /** no successful write yet since this alert was made (a restart): the first one clears */
  private fresh = true;
  /** the loss (lost + refused) the critical message last said, and when: said again as it grows, at most once a minute */
  private saidLost = 0;
  private saidAt = -Infinity;

  /** when an outage a writer before this one saw began (outage-mark.ts), until the first state that tells */
  private resumed: number | null;

  /**
   * `alertAfterMs`: how long the database must fail before the warning (0 turns the alert off). `resumedSince`:
   * when the outage began that a writer before this one (before a restart or a crash) recorded: if this writer
   * finds the database failing too, the outage is counted from then.
   */
  constructor(alertAfterMs = 300_000, resumedSince: number | null = null) {
    this.alertAfterMs = Math.max(0, alertAfterMs);
    this.resumed = resumedSince;
  }

  /**
   * `setupProblem`: why a `disabled` writer has no database (the config node's problem), or undefined when it has
   * none on purpose (no URL).
   */
  observe(s: OutageAlertView, now: number, setupProblem?: string | null): OutageAlertSignal | null {
    if (this.alertAfterMs === 0) return null;
    const disabled = s.state === 'disabled';
    if (!failing(s.state) && !disabled) {
      if (s.state !== 'connected') return null; // 'connecting' is a start, not a recovery
      this.resumed = null;
      const since = this.since;
      const was = this.level;
      const fresh = this.fresh;
      this.since = null;
      this.level = null;
      this.fresh = false;
      this.saidLost = 0;
      this.saidAt = -Infinity;
      return stretchClear(was !== null, since, fresh, now, (ms) => `The database took no points for ${span(ms)}`);
    }
    if (this.since === null) {
      this.since = this.resumed !== null && this.resumed <= now && !disabled ? this.resumed : now;
      this.resumed = null;
      this.lostBefore = s.dropped - (s.refused ?? 0);
      this.refusedBefore = s.refused ?? 0;
    }
    // the spool's bound drops points (lost); a writer whose spool fails refuses them (kept by an acknowledging source)
    const lost = s.dropped - (s.refused ?? 0) - this.lostBefore;
    const refused = (s.refused ?? 0) - this.refusedBefore;
    const spoolOnly = disabled && !setupProblem;
    const want =
      lost > 0 || s.spoolError ? 'critical' : !spoolOnly && now - this.since >= this.alertAfterMs ? 'warning' : null;
    // a critical alert is told again (an update, not a page) while the loss grows: it said "275 lost so far"
    // until its resolve while 2,774 were lost (operator round 2026-12-06)
    const grown = this.level === 'critical' && lost + refused > this.saidLost && now - this.saidAt >= LOSS_UPDATE_MS;
    if (!grown && (want === null || want === this.level || this.level === 'critical')) return null;
    this.level = 'critical' === this.level ? 'critical' : want;
    if (this.level === 'critical') {
      this.saidLost = lost + refused;
      this.saidAt = now;
    }
    // when it began, not how long it had lasted: the message stays in the alert (API, panel, later updates) and
    // "for 35 s" read 20 minutes later told the night shift a short blip (operator round 2026-12-07)
    const lasted = `since ${clockTime(this.since)}`;
    const reason = s.lastError ? ` (${oneLine(s.lastError, 200)})` : '';
    const what = disabled
      ? setupProblem
        ? `is not set up correctly (${oneLine(setupProblem, 200)}), so no point has been written ${lasted}`
        : 'is not configured (no URL: points only go to the disk spool)'
      : s.state === 'unauthorized'
        ? `refuses the credentials${reason} ${lasted}: fix the token or user`
        : `has not taken points ${lasted}${reason}`;
    if (this.level === 'warning')
      return {
        kind: 'open',
        severity: 'warning',
        message:
          // the count as of the opening, said so: it grows while the alert stays (verification round 2026-12-07)
          `The database ${what}. Nothing is lost yet: the points wait in the disk spool (${s.spooled} when this was ` +
          `raised) and are written when it ${disabled ? 'is fixed (then restart)' : 'answers'}; the dashboards show nothing newer until then.`,
      };
    const lostSoFar = lost > 0 ? `; ${lost} lost so far` : '';
    if (s.spoolError)
      return {
        kind: 'open',
        severity: 'critical',
        message:
          `The database ${what}, and the disk spool cannot keep points (${oneLine(s.spoolError, 120)}): new points ` +
          `wait in memory and are not acknowledged to their source${
            refused > 0 ? `, ${refused} refused as memory is at its bound` : ''
          }. An MQTT broker keeps what is not acknowledged and delivers it again, but a message that comes back ` +
          `older than the verifier's clock tolerance (300 s by default) is refused as stale: free the spool's disk` +
          `${disabled ? '' : ' or bring the database back'} before then${
            lost > 0 ? `. Points lost at the spool's bound before the disk failed${lostSoFar}` : ''
          }.`,
      };
    return {
      kind: 'open',
      severity: 'critical',
      message: `The database ${what}, and points are being lost: the disk spool is at its bound (Spool size limit) and drops the oldest points${lostSoFar}.`,
    };
  }
}
