// Quiet reopens (docs/alerts.md "Flapping"): a bound on how often one (tenant, device, rule) pages people.
// The engine opens a new alert for every trigger after a resolve, which is right for the record (each episode
// has its own id, times and acknowledgement), but a condition that flaps around its threshold, auto-resolving
// after 3 clear points and triggering again on the next, pages every few seconds: a score at 1 Hz crossing its
// threshold every few points (an onnx bundle has no hysteresis of its own) sends Slack a "New alert" and an
// "Alert resolved" every few seconds, per device, all night. A person wants the first one, and then to know it
// keeps happening.
//
// So within *window* of the last opening that was notified, a new opening of the same (tenant, device, rule)
// at the same or a lower severity is *quiet*: its alert is kept, shown and written as always, but "New
// alert" is not sent, nor is its "Alert resolved" (news of an episode nobody was told about). The next opening
// notified after the window says how many were quiet since. Not quieted: a higher severity than the last
// notified opening (news), and an escalation or reminder of a quiet alert (it stayed open, unacknowledged,
// for as long as those settings say: that is news too, and its resolve is then sent as well).
// A quiet opening that stays open is news too: the last thing people heard may be its predecessor's "Alert
// resolved", and a machine that died for good minutes after a short outage was not paged until the one-hour
// reminder (operator round of 2026-12-06). So a quiet alert still open and unacknowledged `stillOpenMs` after it
// opened (default 2 minutes: flapping episodes last seconds) is paged then (`due`), saying how many were quiet
// before it, and becomes the last notified opening.
// Memory: one small entry per (tenant, device, rule) notified recently, at most `maxKeys`, the least
// recently used forgotten first (a forgotten key's next opening is simply notified).
// Across a restart (a deploy of the flow restarts the node too) the entries are rebuilt from what is already
// kept: the restored alerts and the notification queue's record of what it sent or holds (`seed`), so a
// condition that flaps through a deploy does not page again at once.
import { ALWAYS_PAGED_RULES } from '../system-alert';
import type { Alert, Severity } from '../contract';
import { BoundedMap } from '../bounded-map';

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export interface QuietOpening {
  /** openings of this (tenant, device, rule) left unnotified since the last notified one */
  quieted: number;
  /** when the last notified opening was (ms), when there was one */
  since?: number;
}

interface Entry {
  /** when the last notified opening was */
  at: number;
  /** its severity */
  severity: Severity;
  /** openings quieted since */
  quieted: number;
  /** the alert whose opening was quieted last and whose resolve is therefore not news; null when none */
  quietId: string | null;
}

/** How long a quiet opening may stay open before it is paged after all (see the header). */
export const QUIET_STILL_OPEN_MS = 120_000;

export class ReopenQuiet {
  /** least recently used first: a key notified again moves to the end */
  private readonly entries: BoundedMap<string, Entry>;
  /** the quiet alerts not settled yet (each entry's quietId), alert id → key: what `due` looks at */
  private readonly quietOpen = new Map<string, string>();
  /** `windowMs` 0 notifies every opening (no quieting) */
  constructor(
    private readonly windowMs: number,
    maxKeys = 100_000,
    private readonly stillOpenMs = QUIET_STILL_OPEN_MS
  ) {
    // an entry the bound drops leaves its quiet alert here until the next due() lets it go (its key is gone)
    this.entries = new BoundedMap(maxKeys);
  }

  private static key(a: Alert): string {
    return `${a.tenant ?? ''}\u0000${a.device_id}\u0000${a.rule}`;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether `alertId` is a quiet opening not settled yet (paged by due() if it stays open). */
  isQuiet(alertId: string): boolean {
    return this.quietOpen.has(alertId);
  }

  /** An alert opened: its notification as it should go out (with what was quiet before it), or null: quiet. */
  open(alert: Alert, now: number): QuietOpening | null {
    if (this.windowMs <= 0 || ALWAYS_PAGED_RULES.has(alert.rule)) return { quieted: 0 };
    const key = ReopenQuiet.key(alert);
    const e = this.entries.get(key);
    if (e) this.entries.delete(key); // re-inserted below: Map order is least recently used first
    if (e?.quietId) this.quietOpen.delete(e.quietId);
    if (e && now - e.at >= 0 && now - e.at < this.windowMs && RANK[alert.severity] <= RANK[e.severity]) {
      e.quieted++;
      e.quietId = alert.alert_id;
      this.entries.set(key, e);
      this.quietOpen.set(alert.alert_id, key);
      return null;
    }
    this.entries.set(key, { at: now, severity: alert.severity, quieted: 0, quietId: null });
    return e ? { quieted: e.quieted, since: e.at } : { quieted: 0 };
  }

  /**
   * Rebuilds the entries after a restart from the restored alerts (any order) and what was notified of each
   * (`notified`: the kinds sent or still queued, e.g. `open`, `escalate`). Per (tenant, device, rule): the
   * latest notified opening within the window is the entry; the openings after it were quiet (counted), and
   * the last of them, if still open and nothing about it was sent since (an escalation or a reminder makes a
   * quiet alert known), is the quiet alert whose resolve is not news. Openings never notified by any channel
   * (a muted device's among them) count as quiet here, which errs on the side of fewer pages.
   */
  seed(alerts: Iterable<Alert>, notified: (alert: Alert) => ReadonlySet<string> | undefined, now: number): void {
    if (this.windowMs <= 0) return;
    const byKey = new Map<string, Alert[]>();
    for (const a of alerts) {
      if (ALWAYS_PAGED_RULES.has(a.rule)) continue;
      const key = ReopenQuiet.key(a);
      const list = byKey.get(key);
      if (list) list.push(a);
      else byKey.set(key, [a]);
    }
    // an escalation, a reminder, an acknowledgement or an update sent about a quiet alert made it known (follow)
    const madeKnown = (a: Alert) => [...(notified(a) ?? [])].some((kind) => kind !== 'open');
    const rebuilt: Array<[string, Entry]> = [];
    for (const [key, list] of byKey) {
      list.sort((a, b) => a.opened_at - b.opened_at);
      let last = -1;
      for (let i = list.length - 1; i >= 0; i--)
        if (notified(list[i])?.has('open')) {
          last = i;
          break;
        }
      if (last < 0) continue;
      const paged = list[last];
      if (!(now - paged.opened_at < this.windowMs)) continue;
      const after = list.slice(last + 1);
      const lastQuiet = after[after.length - 1];
      rebuilt.push([
        key,
        {
          at: paged.opened_at,
          severity: paged.severity,
          quieted: after.length,
          quietId: lastQuiet && lastQuiet.status !== 'resolved' && !madeKnown(lastQuiet) ? lastQuiet.alert_id : null,
        },
      ]);
    }
    // least recently used first, as open() keeps them
    rebuilt.sort((a, b) => a[1].at - b[1].at);
    for (const [key, e] of rebuilt) {
      const before = this.entries.get(key);
      if (before?.quietId) this.quietOpen.delete(before.quietId);
      this.entries.delete(key);
      this.entries.set(key, e);
      if (e.quietId !== null) this.quietOpen.set(e.quietId, key);
    }
  }

  /**
   * The quiet alerts still open and unacknowledged `stillOpenMs` after they opened, at `now`, as `lookup` finds
   * them, each with its page's quiet count (the openings quiet before it) and since when: each becomes its
   * key's last notified opening (the caller pages it). A quiet alert resolved, acknowledged or no longer known
   * is let go.
   */
  due(now: number, lookup: (id: string) => Alert | undefined): Array<{ alert: Alert; quiet: QuietOpening }> {
    const out: Array<{ alert: Alert; quiet: QuietOpening }> = [];
    for (const [id, key] of this.quietOpen) {
      const alert = lookup(id);
      const e = this.entries.get(key);
      if (!alert || !e || e.quietId !== id || alert.status !== 'open' || alert.acknowledged) {
        this.quietOpen.delete(id);
        continue;
      }
      if (alert.opened_at + this.stillOpenMs > now) continue;
      this.quietOpen.delete(id);
      out.push({ alert, quiet: { quieted: e.quieted - 1, since: e.at } });
      this.entries.delete(key);
      this.entries.set(key, { at: alert.opened_at, severity: alert.severity, quieted: 0, quietId: null });
    }
    return out;
  }

  /**
   * An alert's severity was raised. If its opening was quiet, the raise is paged as its opening instead, with the
   * quiet count before it, and it becomes its key's last notified opening (returned); otherwise null (page the
   * raise). A receiver paged "raised" for an alert whose opening it never got cannot place it (red-team round
   * 2026-12-06: fan-007's raise came alone), and a quiet opening that rises is news as an opening is.
   */
  raised(alert: Alert): QuietOpening | null {
    const key = this.quietOpen.get(alert.alert_id);
    const e = key === undefined ? undefined : this.entries.get(key);
    if (key === undefined || !e || e.quietId !== alert.alert_id) return null;
    this.quietOpen.delete(alert.alert_id);
    this.entries.delete(key);
    this.entries.set(key, { at: alert.opened_at, severity: alert.severity, quieted: 0, quietId: null });
    return { quieted: e.quieted - 1, since: e.at };
  }

  /**
   * Any later notification of an alert (resolve, escalate, repeat, ack, update): false only for the resolve
   * of an alert whose opening was quiet. Sending anything else about a quiet alert makes it known, so its
   * resolve goes out too.
   */
  follow(kind: string, alert: Alert): boolean {
    const key = ReopenQuiet.key(alert);
    const e = this.entries.get(key);
    if (!e || e.quietId !== alert.alert_id) return true;
    // either way the quiet alert is settled: its resolve is dropped, anything else makes it known
    e.quietId = null;
    this.quietOpen.delete(alert.alert_id);
    return kind !== 'resolve';
  }
}
