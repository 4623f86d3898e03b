// Alert lifecycle: one open alert per (device, rule), repeats fold into it, acknowledgement and resolution
// are independent (ThingsBoard's model), auto-resolve after N clear points or T ms, escalation when left
// unacknowledged, repeat reminders while open and unacknowledged. The clock is injected so tests and the
// adapter drive time explicitly through tick(); nothing here sets a timer.
import { randomUUID } from 'node:crypto';
import type { Alert, AlertEvent, AlertEventType, AlertReason, Severity } from '../contract';
import { FirstEntry } from '../first-entry';
import { ClockStepDetector } from '../clock-step';

/** The resolve note of an immediate clear that brings none of its own (AlertSignal.note). */
export const CLEARED_NOTE = 'condition cleared';

/** A condition seen on a message: the rule fired for the device, or the rule's condition is clear. */
export interface AlertSignal {
  kind: 'trigger' | 'clear';
  device_id: string;
  rule: string;
  severity?: Severity;
  message?: string;
  value?: number;
  threshold?: number;
  equipment_id?: string;
  /** why it fired and the sensor concerned (Alert.reason, Alert.sensor): the alert keeps its latest trigger's */
  reason?: AlertReason;
  sensor?: string;
  /** a clear that resolves at once (e.g. device back ONLINE) instead of counting toward N points */
  immediate?: boolean;
  /** an immediate clear's resolve note (default "condition cleared"): what the trouble was, how long it lasted */
  note?: string;
  /** the device's tenant: copied onto the alert it opens (TenantAlertEngines keeps one engine per tenant) */
  tenant?: string;
}

export interface AlertEngineOptions {
  /** consecutive clear points that resolve an open alert; 0 disables (default 3) */
  autoResolvePoints?: number;
  /** ms the condition must stay clear before the alert resolves; 0 disables (default 0) */
  autoResolveMs?: number;
  /** escalate an open, unacknowledged alert after this many ms; 0 disables (default 0) */
  escalateAfterMs?: number;
  /** repeat notification interval while open and unacknowledged; 0 disables (default 0) */
  repeatIntervalMs?: number;
  /** at most one 'update' event per alert per this many ms; later repeats are coalesced (default 1000) */
  updateEventMs?: number;
  /** resolved alerts kept for the API; the oldest are forgotten first (default 1000) */
  maxResolved?: number;
  /**
   * open alerts held at most (default 10000). A trigger for a new (device, rule) beyond it is never refused:
   * the least recently active open alert is resolved as `evicted` to make room, one whose condition has
   * cleared (counting toward auto-resolve) before any that is still firing.
   */
  maxOpen?: number;
  now?: () => number;
  /**
   * a clock that never steps (default performance.now when `now` is not injected); with `now` it tells a step
   * of the host's wall clock (core/clock-step.ts), which the open alerts' times then follow (shiftTime)
   */
  monotonic?: () => number;
  /** told after the open alerts' times followed a step of the host's wall clock (deltaMs < 0: back) */
  onClockStep?: (deltaMs: number) => void;
  newId?: () => string;
}

/** Engine-private bookkeeping per open alert (persisted with the alerts). */
export interface Tracking {
  clearPoints: number;
  clearSince: number | null;
  lastUpdateEvent: number;
  updatePending: boolean;
  lastNotifiedAt: number;
  repeats: number;
}

/** The alert takes a trigger's reason with its sensor: a sensor named for an earlier reason does not stay. */
function setCause(alert: Alert, signal: AlertSignal): void {
  alert.reason = signal.reason;
  if (signal.sensor !== undefined) alert.sensor = signal.sensor;
  else delete alert.sensor;
}

/** The bookkeeping of an alert that has just opened (or was restored without any). */
const freshTracking = (now: number): Tracking => ({
  clearPoints: 0,
  clearSince: null,
  lastUpdateEvent: now,
  updatePending: false,
  lastNotifiedAt: now,
  repeats: 0,
});

export interface AlertFilter {
  status?: string;
  severity?: string[];
  device?: string;
  /** alerts updated at or after this epoch ms */
  since?: number;
  acknowledged?: boolean;
  limit?: number;
}

export interface ActionResult {
  ok: boolean;
  alert?: Alert;
  event?: AlertEvent;
  error?: 'not_found' | 'already_acknowledged' | 'already_resolved' | 'owner_unreachable';
  /** owner_unreachable: the instance that owns the alert (actions reach it through Redis, which is down) */
  owner?: string;
}

/** A due reminder for an open, unacknowledged alert; `seq` makes its idempotency key unique. */
export interface RepeatNotice {
  alert: Alert;
  seq: number;
}

export interface EngineSnapshot {
  v: 1;
  alerts: Alert[];
  tracking: Record<string, Tracking>;
}

/** One alert as a state journal stores it: the alert and, while it is open, the engine's tracking of it. */
export interface AlertRecord {
  alert: Alert;
  tracking?: Tracking;
}

/** What changed since the last AlertEngine.takeChanges(). */
export interface AlertChanges {
  upserts: AlertRecord[];
  removed: string[];
  /**
   * ids of the alerts opened since the last takeChanges() (among `upserts`, or among `removed` when one was
   * opened and forgotten in between): a journal that never wrote them need not write their removal
   */
  created?: string[];
}

// `too_many_alerts` is no longer produced (the bound evicts since issue #10); kept so callers still compile
export type ApplyOutcome = { ok: true; events: AlertEvent[] } | { ok: false; code: 'too_many_alerts'; reason: string };

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export function isSeverity(s: unknown): s is Severity {
  return s === 'info' || s === 'warning' || s === 'critical';
}

function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

function nextSeverity(s: Severity): Severity {
  return s === 'info' ? 'warning' : 'critical';
}

/** Copies of the alerts matching the filter, newest first, at most filter.limit (default 100). */
export function filterAlerts(alerts: Iterable<Alert>, filter: AlertFilter = {}): Alert[] {
  const limit = Math.max(0, Math.min(filter.limit ?? 100, 10000));
  const sev = filter.severity && filter.severity.length ? new Set(filter.severity) : null;
  const out: Alert[] = [];
  for (const a of alerts) {
    if (filter.status && a.status !== filter.status) continue;
    if (sev && !sev.has(a.severity)) continue;
    if (filter.device && a.device_id !== filter.device) continue;
    if (filter.since !== undefined && a.updated_at < filter.since) continue;
    if (filter.acknowledged !== undefined && a.acknowledged !== filter.acknowledged) continue;
    out.push(a);
  }
  out.sort((x, y) => y.opened_at - x.opened_at || (x.alert_id < y.alert_id ? -1 : 1));
  return out.slice(0, limit).map((a) => ({ ...a }));
}

/** How long after a resolve by hand a new opening of the same condition says it followed that resolve. */
export const REOPENED_AFTER_HAND_MS = 600_000;

/**
 * The resolve by a person or a flow (not `auto`, not `evicted`) of the previous alert of `alert`'s tenant, device
 * and rule, when it was at most `withinMs` before `alert` opened; else null. Such an opening says that the
 * condition outlived the resolve: its page said nothing of it, and an operator who had just resolved the alert saw
 * a new one with no link to theirs (operator round 2026-12-07).
 */
export function resolvedByHandBefore(
  candidates: Iterable<Alert>,
  alert: Alert,
  withinMs = REOPENED_AFTER_HAND_MS
): { alert_id: string; by: string; at: number } | null {
  // the previous alert is the one resolved last before this opening, whoever resolved it
  let prev: Alert | null = null;
  for (const a of candidates) {
    if (a.alert_id === alert.alert_id || a.status !== 'resolved' || a.resolved_at === undefined) continue;
    if (a.device_id !== alert.device_id || a.rule !== alert.rule || a.tenant !== alert.tenant) continue;
    if (a.resolved_at > alert.opened_at) continue;
    if (!prev || a.resolved_at > prev.resolved_at!) prev = a;
  }
  if (!prev || !prev.resolved_by || prev.resolved_by === 'auto' || prev.resolved_by === 'evicted') return null;
  if (alert.opened_at - prev.resolved_at! > withinMs) return null;
  return { alert_id: prev.alert_id, by: prev.resolved_by, at: prev.resolved_at! };
}

export class AlertEngine {
  private readonly opts: Required<Omit<AlertEngineOptions, 'now' | 'newId' | 'monotonic' | 'onClockStep'>>;
  private readonly now: () => number;
  private readonly newId: () => string;
  /** every alert held, by id; Map order is insertion order, which the eviction of resolved ones relies on */
  private readonly byId = new Map<string, Alert>();
  /**
   * open alerts by device + rule, least recently active first (every signal for an alert moves it to the end:
   * delete + set), which is the order they are evicted in when the bound is reached
   */
  private readonly open = new Map<string, Alert>();
  /**
   * open alerts whose condition is currently clear, by severity, least recently active first: evicted before
   * the still-firing ones of their severity (an intermittent critical fault is clearing most of the time, and
   * went before a flood's firing warnings: red-team round 2026-12-06)
   */
  private readonly clearingLow = new Map<string, Alert>();
  private readonly clearingCritical = new Map<string, Alert>();
  /**
   * The open alerts split by severity, each least recently active first: a still-firing info or warning alert is
   * evicted before any critical one. Every open key is in exactly one of the two (place() / doResolve()).
   */
  private readonly openLow = new Map<string, Alert>();
  private readonly openCritical = new Map<string, Alert>();
  /** resolve events of evictions made while restoring, handed out by the next tick() */
  private deferred: AlertEvent[] = [];
  private evictedCount = 0;
  private readonly firstLow = new FirstEntry(this.openLow);
  private readonly firstCritical = new FirstEntry(this.openCritical);
  private readonly firstClearingLow = new FirstEntry(this.clearingLow);
  private readonly firstClearingCritical = new FirstEntry(this.clearingCritical);
  private readonly tracking = new Map<string, Tracking>();
  private readonly clock: ClockStepDetector;
  private readonly onClockStep: ((deltaMs: number) => void) | undefined;
  private resolvedCount = 0;
  /** bumps on every change, so an adapter knows when to persist */
  version = 0;
  /** ids of the alerts changed (or forgotten) since the last takeChanges(): what a journal must write */
  private readonly changedIds = new Set<string>();
  /** ids of the alerts opened since the last takeChanges() (a subset of changedIds) */
  private readonly createdIds = new Set<string>();

  constructor(options: AlertEngineOptions = {}) {
    this.opts = {
      autoResolvePoints: options.autoResolvePoints ?? 3,
      autoResolveMs: options.autoResolveMs ?? 0,
      escalateAfterMs: options.escalateAfterMs ?? 0,
      repeatIntervalMs: options.repeatIntervalMs ?? 0,
      updateEventMs: options.updateEventMs ?? 1000,
      maxResolved: options.maxResolved ?? 1000,
      maxOpen: options.maxOpen ?? 10000,
    };
    this.now = options.now ?? Date.now;
    this.clock = ClockStepDetector.of(options.now, options.monotonic);
    this.newId = options.newId ?? randomUUID;
    this.onClockStep = options.onClockStep;
  }

  private static key(device: string, rule: string): string {
    return `${device}\u0000${rule}`;
  }

  private event(event: AlertEventType, alert: Alert, time: number): AlertEvent {
    this.version++;
    this.changedIds.add(alert.alert_id);
    return { event, time, alert: { ...alert } };
  }

  /** Steps of the host's wall clock seen (each moved the open alerts' times). */
  get clockSteps(): number {
    return this.clock.steps;
  }

  /**
   * The host's wall clock stepped by `deltaMs`: the open alerts' times and their bookkeeping move with it, so
   * the step is neither counted as time unacknowledged or clear (escalation, reminders, time-based
   * auto-resolve) nor hides such time. Before, a step forward of an hour escalated every open unacknowledged
   * alert at once and sent each a reminder; a step back delayed both by an hour. Resolved alerts keep their times.
   */
  shiftTime(deltaMs: number): void {
    if (!Number.isFinite(deltaMs) || deltaMs === 0) return;
    for (const alert of this.open.values()) {
      alert.opened_at += deltaMs;
      alert.updated_at += deltaMs;
      if (alert.acknowledged_at !== undefined) alert.acknowledged_at += deltaMs;
      const t = this.tracking.get(alert.alert_id);
      if (t) {
        t.lastUpdateEvent += deltaMs;
        t.lastNotifiedAt += deltaMs;
        if (t.clearSince !== null) t.clearSince += deltaMs;
      }
      this.changedIds.add(alert.alert_id);
    }
    this.version++;
  }

  /** Looks for a step of the wall clock before a time is read (see shiftTime). */
  private followClock(): void {
    const delta = this.clock.look();
    if (delta === 0) return;
    this.shiftTime(delta);
    this.onClockStep?.(delta);
  }

  /** Applies one signal; returns the alert events it caused (possibly none). */
  apply(signal: AlertSignal): ApplyOutcome {
    this.followClock();
    const now = this.now();
    const key = AlertEngine.key(signal.device_id, signal.rule);
    const current = this.open.get(key);
    if (current) {
      this.open.delete(key);
      this.open.set(key, current);
      this.place(key, current);
    }
    if (signal.kind === 'clear') {
      if (!current) return { ok: true, events: [] };
      this.markClearing(key, current);
      const t = this.tracking.get(current.alert_id)!;
      t.clearPoints++;
      if (t.clearSince === null) t.clearSince = now;
      this.version++;
      this.changedIds.add(current.alert_id);
      const byPoints = this.opts.autoResolvePoints > 0 && t.clearPoints >= this.opts.autoResolvePoints;
      if (signal.immediate || byPoints)
        return {
          ok: true,
          events: [
            this.doResolve(
              current,
              now,
              'auto',
              signal.immediate ? (signal.note ?? CLEARED_NOTE) : `clear for ${t.clearPoints} points`
            ),
          ],
        };
      return { ok: true, events: [] };
    }
    const severity = signal.severity ?? 'warning';
    if (current) {
      this.unmarkClearing(key);
      const t = this.tracking.get(current.alert_id)!;
      t.clearPoints = 0;
      t.clearSince = null;
      current.count++;
      current.updated_at = now;
      if (signal.value !== undefined) current.value = signal.value;
      if (signal.threshold !== undefined) current.threshold = signal.threshold;
      if (signal.message) current.message = signal.message;
      if (signal.reason !== undefined) setCause(current, signal);
      const before = current.severity;
      const raised = SEVERITY_RANK[severity] > SEVERITY_RANK[before];
      current.severity = maxSeverity(current.severity, severity);
      if (raised) this.place(key, current);
      this.version++;
      this.changedIds.add(current.alert_id);
      // a raised severity is news at once; plain repeats are coalesced to keep the event stream sane
      if (raised || now - t.lastUpdateEvent >= this.opts.updateEventMs) {
        t.lastUpdateEvent = now;
        t.updatePending = false;
        const ev = this.event('update', current, now);
        if (raised) ev.raised_from = before;
        return { ok: true, events: [ev] };
      }
      t.updatePending = true;
      return { ok: true, events: [] };
    }
    // the bound makes room instead of refusing: a flood of made-up devices must not lock out real alerts
    const evicted: AlertEvent[] = [];
    while (this.open.size >= this.opts.maxOpen) evicted.push(this.evictOne(now));
    const alert: Alert = {
      alert_id: this.newId(),
      device_id: signal.device_id,
      rule: signal.rule,
      severity,
      status: 'open',
      acknowledged: false,
      message: signal.message ?? `${signal.rule} on ${signal.device_id}`,
      count: 1,
      opened_at: now,
      updated_at: now,
    };
    if (signal.equipment_id !== undefined) alert.equipment_id = signal.equipment_id;
    if (signal.tenant !== undefined) alert.tenant = signal.tenant;
    if (signal.value !== undefined) alert.value = signal.value;
    if (signal.threshold !== undefined) alert.threshold = signal.threshold;
    if (signal.reason !== undefined) setCause(alert, signal);
    this.open.set(key, alert);
    this.place(key, alert);
    this.byId.set(alert.alert_id, alert);
    this.createdIds.add(alert.alert_id);
    this.tracking.set(alert.alert_id, freshTracking(now));
    evicted.push(this.event('open', alert, now));
    return { ok: true, events: evicted };
  }

  /** Open alerts resolved so far to stay within maxOpen (including those trimmed on restore). */
  get evictions(): number {
    return this.evictedCount;
  }

  private unmarkClearing(key: string): void {
    this.clearingLow.delete(key);
    this.clearingCritical.delete(key);
  }

  /** Files an open alert whose condition has cleared under its severity's clearing group, as its most recent. */
  private markClearing(key: string, alert: Alert): void {
    this.unmarkClearing(key);
    (alert.severity === 'critical' ? this.clearingCritical : this.clearingLow).set(key, alert);
  }

  /** Files an open alert under its severity, as its severity's most recently active. */
  private place(key: string, alert: Alert): void {
    this.openLow.delete(key);
    this.openCritical.delete(key);
    (alert.severity === 'critical' ? this.openCritical : this.openLow).set(key, alert);
    // a clearing alert escalated (or changed severity) moves to its severity's clearing group
    if (this.clearingLow.has(key) || this.clearingCritical.has(key)) this.markClearing(key, alert);
  }

  /**
   * Resolves, with `resolved_by: "evicted"`, the least recently active open alert of the first group that has
   * one: info/warning whose condition has cleared, info/warning still firing, critical cleared, critical; the
   * event tells InfluxDB and the panel that it is gone. Severity before recency: a flood of new device ids (a
   * tester's churn of 250,000 signed ids) pushed a real critical OFFLINE alert, quiet since it opened, out in
   * favour of the flood's own warnings (red-team round 2026-12-05).
   */
  private evictOne(now: number): AlertEvent {
    // doResolve deletes the victim from every map, as FirstEntry requires
    const first = this.clearingLow.size
      ? this.firstClearingLow
      : this.openLow.size
        ? this.firstLow
        : this.clearingCritical.size
          ? this.firstClearingCritical
          : this.firstCritical;
    const victim = first.take()![1];
    this.evictedCount++;
    return this.doResolve(victim, now, 'evicted', `evicted: more than ${this.opts.maxOpen} open alerts`);
  }

  private doResolve(alert: Alert, now: number, by: string, note?: string): AlertEvent {
    alert.status = 'resolved';
    alert.resolved_at = now;
    alert.resolved_by = by;
    if (note !== undefined) alert.resolve_note = note;
    alert.updated_at = now;
    const key = AlertEngine.key(alert.device_id, alert.rule);
    this.open.delete(key);
    this.unmarkClearing(key);
    this.openLow.delete(key);
    this.openCritical.delete(key);
    this.tracking.delete(alert.alert_id);
    this.resolvedCount++;
    this.evictResolved();
    return this.event('resolve', alert, now);
  }

  private evictResolved(): void {
    if (this.resolvedCount <= this.opts.maxResolved) return;
    for (const [id, a] of this.byId) {
      if (this.resolvedCount <= this.opts.maxResolved) break;
      if (a.status === 'resolved') {
        this.byId.delete(id);
        this.changedIds.add(id);
        this.resolvedCount--;
      }
    }
  }

  acknowledge(id: string, by: string, note?: string): ActionResult {
    const alert = this.byId.get(id);
    if (!alert) return { ok: false, error: 'not_found' };
    if (alert.acknowledged) return { ok: false, error: 'already_acknowledged', alert: { ...alert } };
    this.followClock();
    const now = this.now();
    alert.acknowledged = true;
    alert.acknowledged_at = now;
    alert.acknowledged_by = by;
    if (note !== undefined) alert.ack_note = note;
    alert.updated_at = now;
    const event = this.event('ack', alert, now);
    return { ok: true, alert: { ...alert }, event };
  }

  resolve(id: string, by: string, note?: string): ActionResult {
    const alert = this.byId.get(id);
    if (!alert) return { ok: false, error: 'not_found' };
    if (alert.status === 'resolved') return { ok: false, error: 'already_resolved', alert: { ...alert } };
    this.followClock();
    const event = this.doResolve(alert, this.now(), by, note);
    return { ok: true, alert: { ...alert }, event };
  }

  /** Sets the (LLM or template) summary of an alert; not an event of its own. */
  setSummary(id: string, summary: string): void {
    const alert = this.byId.get(id);
    if (alert) {
      alert.summary = summary;
      this.version++;
      this.changedIds.add(id);
    }
  }

  /** Time-driven work: coalesced updates, time-based auto-resolve, escalation and due repeat reminders. */
  tick(): { events: AlertEvent[]; repeats: RepeatNotice[] } {
    this.followClock();
    const now = this.now();
    const events: AlertEvent[] = this.deferred;
    this.deferred = [];
    const repeats: RepeatNotice[] = [];
    for (const alert of [...this.open.values()]) {
      const t = this.tracking.get(alert.alert_id)!;
      if (this.opts.autoResolveMs > 0 && t.clearSince !== null && now - t.clearSince >= this.opts.autoResolveMs) {
        events.push(this.doResolve(alert, now, 'auto', `clear for ${now - t.clearSince} ms`));
        continue;
      }
      if (t.updatePending && now - t.lastUpdateEvent >= this.opts.updateEventMs) {
        t.updatePending = false;
        t.lastUpdateEvent = now;
        events.push(this.event('update', alert, now));
      }
      if (alert.acknowledged) continue;
      if (this.opts.escalateAfterMs > 0 && !alert.escalated && now - alert.opened_at >= this.opts.escalateAfterMs) {
        alert.escalated = true;
        alert.severity = nextSeverity(alert.severity);
        this.place(AlertEngine.key(alert.device_id, alert.rule), alert);
        alert.updated_at = now;
        t.lastNotifiedAt = now;
        events.push(this.event('escalate', alert, now));
        continue;
      }
      if (this.opts.repeatIntervalMs > 0 && now - t.lastNotifiedAt >= this.opts.repeatIntervalMs) {
        t.lastNotifiedAt = now;
        t.repeats++;
        this.version++;
        this.changedIds.add(alert.alert_id);
        repeats.push({ alert: { ...alert }, seq: t.repeats });
      }
    }
    return { events, repeats };
  }

  get(id: string): Alert | undefined {
    const a = this.byId.get(id);
    return a ? { ...a } : undefined;
  }

  /** Alerts matching the filter, newest first. */
  list(filter: AlertFilter = {}): Alert[] {
    return filterAlerts(this.byId.values(), filter);
  }

  openCount(): number {
    return this.open.size;
  }

  /** Alert counts by status, severity and acknowledged, for the moby_alerts gauge. */
  counts(): Array<{ labels: Record<string, string>; value: number }> {
    const m = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const a of this.byId.values()) {
      const k = `${a.status}|${a.severity}|${a.acknowledged}`;
      const e = m.get(k);
      if (e) e.value++;
      else
        m.set(k, {
          labels: { status: a.status, severity: a.severity, acknowledged: String(a.acknowledged) },
          value: 1,
        });
    }
    return [...m.values()];
  }

  /**
   * The alerts changed since the previous call, each as its snapshot record (a copy of the alert and its
   * tracking), and the ids of those forgotten since (resolved ones beyond maxResolved); then starts over.
   * Applying these to the previous snapshot (an upsert keeps an alert's place, a new one goes last, a
   * forgotten one is deleted) gives snapshot() — what an append-only journal of the state needs.
   */
  takeChanges(): AlertChanges {
    const upserts: AlertRecord[] = [];
    const removed: string[] = [];
    for (const id of this.changedIds) {
      const a = this.byId.get(id);
      if (!a) removed.push(id);
      else {
        const t = this.tracking.get(id);
        upserts.push(t ? { alert: { ...a }, tracking: { ...t } } : { alert: { ...a } });
      }
    }
    this.changedIds.clear();
    const created = [...this.createdIds];
    this.createdIds.clear();
    return created.length ? { upserts, removed, created } : { upserts, removed };
  }

  /**
   * Forgets which alerts changed, without copying them: for a caller that writes the whole state instead
   * (a journal compaction, the context store), where takeChanges() would copy every changed alert for nothing.
   */
  discardChanges(): void {
    this.changedIds.clear();
    this.createdIds.clear();
  }

  /** Whether anything changed since the last takeChanges() or discardChanges(). */
  get hasChanges(): boolean {
    return this.changedIds.size > 0;
  }

  snapshot(): EngineSnapshot {
    const tracking: Record<string, Tracking> = {};
    for (const [id, t] of this.tracking) tracking[id] = { ...t };
    return { v: 1, alerts: [...this.byId.values()].map((a) => ({ ...a })), tracking };
  }

  /** Replaces the state with a snapshot (from the context store); malformed entries are skipped. */
  restore(snap: unknown): number {
    this.byId.clear();
    this.changedIds.clear();
    this.createdIds.clear();
    this.open.clear();
    this.clearingLow.clear();
    this.clearingCritical.clear();
    this.openLow.clear();
    this.openCritical.clear();
    this.deferred = [];
    this.tracking.clear();
    this.resolvedCount = 0;
    if (!snap || typeof snap !== 'object' || !Array.isArray((snap as EngineSnapshot).alerts)) return 0;
    const s = snap as EngineSnapshot;
    const now = this.now();
    // open alerts in order of their last update, so the recency order (and what a trim keeps) survives
    const ordered = s.alerts
      .filter((a) => a && a.status !== 'open')
      .concat(
        s.alerts.filter((a) => a && a.status === 'open').sort((x, y) => (x.updated_at ?? 0) - (y.updated_at ?? 0))
      );
    for (const a of ordered) {
      if (
        !a ||
        typeof a.alert_id !== 'string' ||
        typeof a.device_id !== 'string' ||
        typeof a.rule !== 'string' ||
        !isSeverity(a.severity)
      )
        continue;
      const alert: Alert = { ...a };
      this.byId.set(alert.alert_id, alert);
      if (alert.status === 'open') {
        const key = AlertEngine.key(alert.device_id, alert.rule);
        this.open.set(key, alert);
        this.place(key, alert);
        const t = s.tracking && s.tracking[alert.alert_id];
        this.tracking.set(alert.alert_id, t ? { ...t } : freshTracking(now));
        if (t && t.clearPoints > 0) this.markClearing(key, alert);
      } else {
        this.resolvedCount++;
      }
    }
    // saved over the bound (a flood, or a smaller bound since): trimmed, never a reason to refuse new alerts
    while (this.open.size > this.opts.maxOpen) this.deferred.push(this.evictOne(now));
    this.evictResolved();
    return this.byId.size;
  }
}
