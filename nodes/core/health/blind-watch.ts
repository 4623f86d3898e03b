// When the pipeline cannot hear the devices — no connection to the broker, or its input held back because
// nothing downstream settles (a full spool disk, a stalled node) — device health rightly stops counting their
// silence (lib/ingest-watch.ts), so a machine that dies then is not reported until the pipeline listens again.
// Before this, that blindness showed only in the log, the metrics and a node status: an operator round on
// 2026-12-06 had the database down and the spool disk full for minutes and no alert opened. This turns the
// blind stretch into one alert: opened once it has lasted `alertAfterMs`, cleared once the pipeline has been
// listening again for `settleMs` (so a pipeline that hears for a second between stalls neither resets the
// stretch nor flaps the alert).
//
// After a restart the alert may still be open from before it (moby-alert keeps its alerts): the first settled
// listening stretch therefore clears it once, which moby-alert ignores when nothing is open.
//
// Pure: the node passes what the sources say (null = listening, else why not) and the time on every sweep.
import { span } from '../span';
import { BLIND_RULE, explicitAlert, stretchClear, systemDeviceId, type SystemClear } from '../system-alert';

export interface BlindWatchOptions {
  /** blind this long (ms) before the alert opens; 0 turns the alert off */
  alertAfterMs: number;
  /** listening this long (ms) ends a blind stretch (default 10,000, or alertAfterMs when that is shorter) */
  settleMs?: number;
}

export type BlindSignal =
  /** blind since `since` (ms), for `reason` */
  | { kind: 'open'; since: number; reason: string }
  /** listening again (stretchClear) */
  | SystemClear;

export class BlindWatch {
  private readonly alertAfterMs: number;
  private readonly settleMs: number;
  /** when the current blind stretch began, or null while listening (settled) */
  private blindSince: number | null = null;
  /** when the pipeline began listening again within a blind stretch or after a start, else null */
  private listeningSince: number | null = null;
  private opened = false;
  /** no settled listening stretch yet since this watch was made (a restart): clear what may be open */
  private fresh = true;

  constructor(o: BlindWatchOptions) {
    this.alertAfterMs = Math.max(0, o.alertAfterMs);
    this.settleMs = Math.max(0, o.settleMs ?? Math.min(10_000, this.alertAfterMs));
  }

  get enabled(): boolean {
    return this.alertAfterMs > 0;
  }

  /** Whether the alert is open. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** `deafness`: null while the sources listen, else why they do not; returns what to send now, if anything. */
  observe(deafness: string | null, now: number): BlindSignal | null {
    if (!this.enabled) return null;
    if (deafness !== null) {
      this.listeningSince = null;
      if (this.blindSince === null) this.blindSince = now;
      if (this.opened || now - this.blindSince < this.alertAfterMs) return null;
      this.opened = true;
      return { kind: 'open', since: this.blindSince, reason: deafness };
    }
    if (this.blindSince === null && !this.fresh) return null;
    if (this.listeningSince === null) this.listeningSince = now;
    if (now - this.listeningSince < this.settleMs) return null;
    // how long it could not hear: until it began hearing again, not until that was settled (the resolve said
    // how long the alert was open, 40 s, after 160 s of deafness: operator round 2026-12-07)
    const heardAgainAt = this.listeningSince;
    const since = this.blindSince;
    const opened = this.opened;
    const fresh = this.fresh;
    this.blindSince = null;
    this.listeningSince = null;
    this.opened = false;
    this.fresh = false;
    return stretchClear(opened, since, fresh, heardAgainAt, (ms) => `MOBY could not hear the devices for ${span(ms)}`);
  }
}

export { BLIND_RULE } from '../system-alert';

/**
 * The alert's device: this Node-RED, as `pipeline@<host>:<port>` (system-alert.ts), so several instances of a
 * cluster each have their own alert.
 */
export function pipelineDeviceId(hostname: string, port: unknown): string {
  const p = typeof port === 'number' || (typeof port === 'string' && /^\d{1,5}$/.test(port)) ? `:${port}` : '';
  return systemDeviceId('pipeline', `${hostname.replace(/:/g, '-')}${p}`);
}

/** The message moby-alert takes for a signal (msg.alert; a clear resolves it at once). */
export function blindAlertMessage(
  deviceId: string,
  signal: BlindSignal,
  now: number
): { topic: string; alert: Record<string, unknown> } {
  if (signal.kind === 'clear') return explicitAlert('monitoring-blind', deviceId, BLIND_RULE, signal);
  const mins = Math.max(1, Math.round((now - signal.since) / 60_000));
  return explicitAlert('monitoring-blind', deviceId, BLIND_RULE, {
    kind: 'open',
    severity: 'critical',
    message:
      `MOBY has not heard the devices for ${mins} min: ${signal.reason}. ` +
      'Device timeouts are paused meanwhile, so a machine that stops now is not reported until the pipeline hears again.',
  });
}
