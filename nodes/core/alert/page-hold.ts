// Held OFFLINE pages (docs/alerts.md "Short outages"): a device that reboots sends its will, the broker hands
// it on at once, device-health says OFFLINE and the alert opens critical; nine seconds later the device is
// back and the alert resolves. Before, that was a critical page and a "resolved" page for every reboot of every
// gateway, at any hour. A person wants to be woken for a device that stays down.
//
// So the opening page of an alert this applies to (device_offline with reason `offline`: a will or an OFFLINE
// status; TIMEOUT already waited for its timeout) waits `holdMs` from the alert's opened_at. The alert itself is
// opened, shown, written and counted at once as before: only the page waits. When the hold ends and the alert
// is still open and unacknowledged, the opening is paged (reopen-quiet and mutes then apply as to any opening).
// If it resolved first, neither its opening nor its resolve is paged (counted as `outage_unpaged`); if someone
// acknowledged it first, they know: nothing is paged either. Any other news of a held alert (an escalation, a
// reminder, a raised severity) ends the hold: the opening is paged at once, before that news.
// A will that RAISES an open alert waits the same way (holdRaise): a device's TIMEOUT warning (already paged)
// becomes critical when the broker hands over its will; if the device is back within the hold, that critical
// "raise" page is not sent (counted as `raise_unpaged`) and its resolve is paged as usual, since the warning
// was. Before, a device that merely rebooted after timing out was paged critical at once (end-to-end round
// 2026-12-06). An acknowledgement ends such a hold too (the raise is no news to someone who acknowledged);
// anything else (an escalation, a reminder, an eviction) pages the raise at once, before that news. A raise
// held when the node stops is not held again after the restart: the alert records no raise, and an alert
// opened critical by a will looks the same (its warning was paged; the alert shows critical).
// An anomaly WARNING's opening may wait too (`warningHoldMs`, the node's *Hold warnings*, 0 = at once): the
// anomaly node often raises a fault's warning to critical seconds later, and each was a page: the demo's three
// signal faults paged six times within half a minute each (operator round 2026-12-06). Held, a warning that is
// raised within the hold is paged once, as its opening at the raised severity (no separate raise page; the same
// for any held opening: its late page carries the severity it has then), one that clears first is not paged
// (counted as `warning_unpaged`), and one still open at the end of the hold is paged then. A critical opening is
// never held by this rule.
// Across a restart the holds are rebuilt from the restored alerts and what the notification queue sent or
// holds (`seed`): an open, unacknowledged alert of this kind whose opening was never notified is held again (a
// crash during the hold must not cost the page of a device that stayed down), unless that hold ended more than
// LATE_PAGE_MS before the restart: a page that late is history, not news (the alert is still shown; an opening
// quieted long ago is not paged either). A restart counts as MOBY hearing the devices again after a blind
// stretch: such a hold ends one whole hold after the restart at the earliest, not at opened_at + holdMs. While
// Node-RED was down nobody could tell a device back; its birth and data arrive in the first seconds after the
// restart. Before, every hold that had ended during the downtime came due at the first tick: `npm start` stopped
// (the simulator's devices sent their wills first) and started again two minutes later paged 18 "device offline"
// criticals within a second of the flows starting and their 18 resolves a second later (operator round
// 2026-12-06).

import type { Alert } from '../contract';

/** The alerts whose opening page waits: a device reported OFFLINE (will or status), not a timeout. */
export function holdsPage(alert: Alert): boolean {
  return alert.rule === 'device_offline' && alert.reason === 'offline';
}

/** The openings `warningHoldMs` applies to: an anomaly alarm opened as a warning. */
export function holdsWarningPage(alert: Alert): boolean {
  return alert.rule === 'anomaly' && alert.severity === 'warning';
}

/**
 * What became of a held page when other news of its alert came: see PageHold.follow. `dropped` / `page_now` for
 * a held opening, `raise_dropped` / `page_raise_now` for a held raise.
 */
export type HeldFollow = 'not_held' | 'dropped' | 'page_now' | 'page_open_instead' | 'raise_dropped' | 'page_raise_now';

/** A page that came due (PageHold.due): an alert's opening, or its raise to the severity it has now. */
export interface DuePage {
  kind: 'open' | 'raise';
  alert: Alert;
}

/** How late, after a restart, a held opening is still paged (see the header). */
export const LATE_PAGE_MS = 15 * 60_000;

export class PageHold {
  /**
   * the ids of the alerts whose opening waits; each is due at its alert's opened_at + holdMs, read when
   * checked, so a step of the host's wall clock (which moves the open alerts' times) moves the holds with them
   */
  private readonly held = new Map<string, number>();
  /**
   * the ids of the alerts whose raise waits, with when it was raised (ms): a raise has no time of its own in the
   * alert (updated_at moves with every repeat)
   */
  private readonly heldRaises = new Map<string, number>();

  /** MOBY cannot hear the devices now (see noteHearing) */
  private deaf = false;
  /** when MOBY last began to hear the devices again after a blind stretch (ms), or -Infinity */
  private heardAgainAt = -Infinity;

  /**
   * `holdMs`: how long an OFFLINE opening waits; `warningHoldMs`: how long an anomaly warning's opening waits. 0
   * holds nothing of that kind: paged at once, as before.
   */
  constructor(
    readonly holdMs: number,
    readonly warningHoldMs = 0
  ) {}

  /** How long `alert`'s opening waits (0: not at all). */
  private holdOf(alert: Alert): number {
    if (holdsPage(alert)) return Math.max(0, this.holdMs);
    if (holdsWarningPage(alert)) return Math.max(0, this.warningHoldMs);
    return 0;
  }

  /**
   * Whether MOBY can hear the devices at `now` (lib/ingest-watch.ts), told on every check. While it cannot, no
   * held opening is due, and each is held for `holdMs` more once it hears again. A broker that stops sends
   * every connected device's will as it goes (Mosquitto does; aedes' own will sweep too) and the devices come
   * back only once it is up again: that paged 18 "device offline" criticals for one broker outage (operator
   * round 2026-12-06). A device that really died then is paged one hold after MOBY hears again.
   */
  noteHearing(hearing: boolean, now: number): void {
    if (!hearing) this.deaf = true;
    else if (this.deaf) {
      this.deaf = false;
      this.heardAgainAt = now;
    }
  }

  get size(): number {
    return this.held.size + this.heldRaises.size;
  }

  has(alertId: string): boolean {
    return this.held.has(alertId) || this.heldRaises.has(alertId);
  }

  /** An alert opened: true when its page waits (the caller then sends nothing now). */
  hold(alert: Alert): boolean {
    const ms = this.holdOf(alert);
    if (ms <= 0) return false;
    this.held.set(alert.alert_id, ms);
    return true;
  }

  /**
   * An alert's severity was raised (its opening was not held, or was paged): true when the raise's page waits
   * (the caller then sends nothing now). Held: a raise to critical by a will (`holdsPage` of the alert as it is
   * now, its latest trigger's reason), since `now`.
   */
  holdRaise(alert: Alert, now: number): boolean {
    if (this.holdMs <= 0 || !holdsPage(alert) || this.held.has(alert.alert_id)) return false;
    this.heldRaises.set(alert.alert_id, now);
    return true;
  }

  /**
   * Another notification of an alert (resolve, ack, escalate, repeat, raise): `not_held` when no page of it waits
   * (send as usual).
   * A held opening: `dropped` for a resolve or an acknowledgement (nothing is paged, the hold ends);
   * `page_open_instead` for a raise (the hold ends, the opening is paged at once at the raised severity, and the
   * raise is not: it would say nothing the opening does not); `page_now` for anything else (the hold ends, the
   * opening is to be paged at once, then this notification). A resolve by
   * eviction (`resolved_by: "evicted"`, the open-alert bound pushed it out) is `page_now`: the device did not come
   * back, and the alert is gone from the hold's later check, so its opening would never be paged (the eviction
   * itself is never paged).
   * A held raise: `raise_dropped` for a resolve or an acknowledgement (the raise is not paged; this notification
   * is sent as usual, the opening having been paged); `page_raise_now` for anything else, an eviction included.
   */
  follow(kind: string, alert: Alert): HeldFollow {
    const evicted = kind === 'resolve' && alert.resolved_by === 'evicted';
    const endsQuietly = !evicted && (kind === 'resolve' || kind === 'ack');
    if (this.heldRaises.delete(alert.alert_id)) return endsQuietly ? 'raise_dropped' : 'page_raise_now';
    if (!this.held.delete(alert.alert_id)) return 'not_held';
    if (kind === 'raise') return 'page_open_instead';
    return endsQuietly ? 'dropped' : 'page_now';
  }

  /**
   * The held pages whose hold has ended at `now`, with their alerts as `lookup` finds them; their holds end here
   * (the caller pages those still open and unacknowledged). An id `lookup` no longer knows is let go.
   */
  due(now: number, lookup: (id: string) => Alert | undefined): DuePage[] {
    const out: DuePage[] = [];
    if (this.deaf) return out;
    for (const [id, ms] of this.held) {
      const alert = lookup(id);
      if (!alert) this.held.delete(id);
      else if (Math.max(alert.opened_at, this.heardAgainAt) + ms <= now) {
        this.held.delete(id);
        out.push({ kind: 'open', alert });
      }
    }
    for (const [id, raisedAt] of this.heldRaises) {
      const alert = lookup(id);
      if (!alert) this.heldRaises.delete(id);
      else if (Math.max(raisedAt, this.heardAgainAt) + this.holdMs <= now) {
        this.heldRaises.delete(id);
        out.push({ kind: 'raise', alert });
      }
    }
    return out;
  }

  /**
   * Rebuilds the holds after a restart at `now`: each open, unacknowledged alert this applies to whose opening was
   * neither sent nor queued (`notified` gives the kinds that were), unless its hold ended more than
   * LATE_PAGE_MS before `now`. Each is held until one hold after `now` at the earliest (see the header).
   */
  seed(alerts: Iterable<Alert>, notified: (alert: Alert) => ReadonlySet<string> | undefined, now: number): void {
    this.heardAgainAt = Math.max(this.heardAgainAt, now);
    for (const a of alerts) {
      const ms = this.holdOf(a);
      if (
        ms > 0 &&
        a.status === 'open' &&
        !a.acknowledged &&
        !notified(a)?.has('open') &&
        now - (a.opened_at + ms) <= LATE_PAGE_MS
      )
        this.held.set(a.alert_id, ms);
    }
  }

  /**
   * After a restart of a node that now has a notification channel (call after seed): holds the opening of each
   * open, unacknowledged alert that has no hold of its own and of which nothing was sent or queued (an escalation
   * or a reminder of a quiet opening made it known: its resolve is then paged as usual), opened
   * at most LATE_PAGE_MS before `now` and not `quiet` (a quiet reopen, rebuilt by ReopenQuiet). Such an alert
   * opened while the node had no channel: a person who adds one and restarts was told of nothing already open
   * (operator round 2026-12-07: after a webhook was added, of five open alerts only a held OFFLINE page went out,
   * the three critical anomaly alerts not at all). Each is paged one OFFLINE hold after the restart if still open
   * and unacknowledged, as a rebuilt hold is: the devices are heard again first. Returns how many.
   */
  seedUnpaged(
    alerts: Iterable<Alert>,
    notified: (alert: Alert) => ReadonlySet<string> | undefined,
    now: number,
    quiet: (alert: Alert) => boolean
  ): number {
    this.heardAgainAt = Math.max(this.heardAgainAt, now);
    let n = 0;
    for (const a of alerts) {
      if (
        a.status !== 'open' ||
        a.acknowledged ||
        this.held.has(a.alert_id) ||
        this.holdOf(a) > 0 ||
        (notified(a)?.size ?? 0) > 0 ||
        now - a.opened_at > LATE_PAGE_MS ||
        quiet(a)
      )
        continue;
      this.held.set(a.alert_id, Math.max(0, this.holdMs));
      n++;
    }
    return n;
  }
}
