// One AlertEngine per tenant (docs/tenants.md), behind the engine's own interface, so the alert node stays
// the same with tenants on or off. Each tenant has its own bounds (open and resolved alerts): one tenant's
// flood of alerts resolves as `evicted` only that tenant's least recently active alerts, never another's.
// Alerts without a tenant live in the '' engine, which is exactly the single engine of a pipeline without
// tenants. Alert ids are UUIDs, so they are unique across engines; the snapshot is the engine's format
// (every alert carries its tenant), so state saved before tenants existed restores unchanged.
import type { Alert, AlertEvent } from '../contract';
import {
  AlertEngine,
  type ActionResult,
  type AlertChanges,
  type AlertEngineOptions,
  type AlertFilter,
  type AlertSignal,
  type ApplyOutcome,
  type EngineSnapshot,
  type RepeatNotice,
} from './engine';

/** Which tenants a caller may see: null = all (admin), else the set of tenant names. */
export type TenantScope = ReadonlySet<string> | null;

export function inScope(scope: TenantScope, tenant: string | undefined): boolean {
  return scope === null || (tenant !== undefined && scope.has(tenant));
}

export class TenantAlertEngines {
  private readonly engines = new Map<string, AlertEngine>();

  constructor(
    private readonly options: AlertEngineOptions = {},
    /** tenants held at most: a signal of a further tenant is refused (the keyring bounds tenants anyway) */
    readonly maxTenants = 1000
  ) {
    this.engines.set('', new AlertEngine(options));
  }

  /** The engine of a tenant, created on first use; undefined when maxTenants is reached. */
  engineOf(tenant: string | undefined): AlertEngine | undefined {
    const name = tenant ?? '';
    let e = this.engines.get(name);
    if (!e) {
      if (this.engines.size > this.maxTenants) return undefined;
      e = new AlertEngine(this.options);
      this.engines.set(name, e);
    }
    return e;
  }

  /** Tenants with an engine ('' = alerts without a tenant). */
  tenants(): string[] {
    return [...this.engines.keys()];
  }

  apply(signal: AlertSignal): ApplyOutcome {
    const e = this.engineOf(signal.tenant);
    if (!e) return { ok: false, code: 'too_many_alerts', reason: `more than ${this.maxTenants} tenants hold alerts` };
    return e.apply(signal);
  }

  tick(): { events: AlertEvent[]; repeats: RepeatNotice[] } {
    const events: AlertEvent[] = [];
    const repeats: RepeatNotice[] = [];
    for (const e of this.engines.values()) {
      const r = e.tick();
      if (r.events.length) events.push(...r.events);
      if (r.repeats.length) repeats.push(...r.repeats);
    }
    return { events, repeats };
  }

  private holder(id: string): AlertEngine | undefined {
    for (const e of this.engines.values()) if (e.get(id) !== undefined) return e;
    return undefined;
  }

  get(id: string): Alert | undefined {
    for (const e of this.engines.values()) {
      const a = e.get(id);
      if (a) return a;
    }
    return undefined;
  }

  /** Alerts matching the filter in the scope's tenants, newest first. */
  list(filter: AlertFilter = {}, scope: TenantScope = null): Alert[] {
    const out: Alert[] = [];
    for (const [tenant, e] of this.engines) {
      if (scope !== null && !scope.has(tenant)) continue;
      out.push(...e.list(filter));
    }
    if (this.engines.size === 1) return out;
    const limit = Math.max(0, Math.min(filter.limit ?? 100, 10000));
    out.sort((x, y) => y.opened_at - x.opened_at || (x.alert_id < y.alert_id ? -1 : 1));
    return out.slice(0, limit);
  }

  acknowledge(id: string, by: string, note?: string): ActionResult {
    return (this.holder(id) ?? this.engines.get('')!).acknowledge(id, by, note);
  }

  resolve(id: string, by: string, note?: string): ActionResult {
    return (this.holder(id) ?? this.engines.get('')!).resolve(id, by, note);
  }

  setSummary(id: string, summary: string): void {
    this.holder(id)?.setSummary(id, summary);
  }

  openCount(tenant?: string): number {
    if (tenant !== undefined) return this.engines.get(tenant)?.openCount() ?? 0;
    let n = 0;
    for (const e of this.engines.values()) n += e.openCount();
    return n;
  }

  get evictions(): number {
    let n = 0;
    for (const e of this.engines.values()) n += e.evictions;
    return n;
  }

  /** Bumps on every change of any tenant (each engine's version only grows). */
  get version(): number {
    let n = 0;
    for (const e of this.engines.values()) n += e.version;
    return n;
  }

  /** Counts by status, severity and acknowledged over all tenants (the moby_alerts gauge, as without tenants). */
  counts(): Array<{ labels: Record<string, string>; value: number }> {
    if (this.engines.size === 1) return this.engines.get('')!.counts();
    const m = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const e of this.engines.values()) {
      for (const c of e.counts()) {
        const k = `${c.labels.status}|${c.labels.severity}|${c.labels.acknowledged}`;
        const prev = m.get(k);
        if (prev) prev.value += c.value;
        else m.set(k, { labels: { ...c.labels }, value: c.value });
      }
    }
    return [...m.values()];
  }

  /** Open alerts per tenant (the moby_tenant_alerts_open gauge); tenants only. */
  openByTenant(): Array<{ labels: Record<string, string>; value: number }> {
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const [tenant, e] of this.engines) if (tenant) out.push({ labels: { tenant }, value: e.openCount() });
    return out;
  }

  /** The alerts changed since the last call, over all tenants (AlertEngine.takeChanges). */
  takeChanges(): AlertChanges {
    if (this.engines.size === 1) return this.engines.get('')!.takeChanges();
    const out: AlertChanges = { upserts: [], removed: [] };
    for (const e of this.engines.values()) {
      const c = e.takeChanges();
      for (const u of c.upserts) out.upserts.push(u);
      for (const id of c.removed) out.removed.push(id);
      if (c.created) (out.created ??= []).push(...c.created);
    }
    return out;
  }

  /** Forgets the changes of every tenant's engine (AlertEngine.discardChanges). */
  discardChanges(): void {
    for (const e of this.engines.values()) e.discardChanges();
  }

  get hasChanges(): boolean {
    for (const e of this.engines.values()) if (e.hasChanges) return true;
    return false;
  }

  snapshot(): EngineSnapshot {
    if (this.engines.size === 1) return this.engines.get('')!.snapshot();
    const alerts: Alert[] = [];
    const tracking: EngineSnapshot['tracking'] = {};
    for (const e of this.engines.values()) {
      const s = e.snapshot();
      alerts.push(...s.alerts);
      Object.assign(tracking, s.tracking);
    }
    return { v: 1, alerts, tracking };
  }

  /** Restores a snapshot, each alert into its tenant's engine; returns the number of alerts held. */
  restore(snap: unknown): number {
    for (const name of [...this.engines.keys()]) if (name) this.engines.delete(name);
    const root = this.engines.get('')!;
    if (!snap || typeof snap !== 'object' || !Array.isArray((snap as EngineSnapshot).alerts)) return root.restore(snap);
    const s = snap as EngineSnapshot;
    const byTenant = new Map<string, Alert[]>();
    for (const a of s.alerts) {
      const t = a && typeof a.tenant === 'string' ? a.tenant : '';
      let list = byTenant.get(t);
      if (!list) byTenant.set(t, (list = []));
      list.push(a);
    }
    let n = root.restore({ v: 1, alerts: byTenant.get('') ?? [], tracking: s.tracking });
    for (const [tenant, alerts] of byTenant) {
      if (!tenant) continue;
      const e = this.engineOf(tenant);
      if (e) n += e.restore({ v: 1, alerts, tracking: s.tracking });
    }
    return n;
  }
}
