// Per-tenant bounds for the device-health stores keyed by health-table ids (`<tenant>~<device>`): the signed
// sessions (sessions.ts) and the will-trust proofs (trust.ts) use TenantLru, the table (table.ts) partitions
// its rows by the same healthTenantOf. One tenant signing or proving for many device ids evicts only its own
// entries (red-team round 2026-12-05: acme's births had evicted beta's sessions, so beta's signed will waited).
import { unscopeHealthId } from '../tenant';
import { BoundedMap } from '../bounded-map';

/**
 * The tenant of a health-table id (`<tenant>~<device>`, core/tenant.ts scopeHealthId); '' without one. The
 * same partition the health table bounds its rows by (table.ts partitionOf).
 */
export function healthTenantOf(id: string): string {
  return id.includes('~') ? (unscopeHealthId(id).tenant ?? '') : '';
}

/**
 * Entries keyed by health-table ids, least recently active first, at most `maxPerTenant` per tenant: a new
 * key of a tenant at its bound drops that tenant's own least recently active entry, never another tenant's
 * (the health table's rule, docs/tenants.md). Without tenants every key is in the one '' partition: one LRU
 * Map, as before. Memory is the bound × the tenants that reach it; callers create entries only for ids whose
 * tenant is authenticated (a signature, verified data, a listing) or vouched for by the broker's ACL.
 */
export class TenantLru<V> {
  readonly maxPerTenant: number;
  /** tenant → its entries, least recently active first (Map order) */
  private readonly parts = new Map<string, BoundedMap<string, V>>();
  private count = 0;

  constructor(maxPerTenant: number) {
    this.maxPerTenant = Math.max(1, Math.floor(maxPerTenant));
  }

  /** Entries over all tenants. */
  get size(): number {
    return this.count;
  }

  /** Entries of one tenant ('' = no tenant). */
  sizeOf(tenant = ''): number {
    return this.parts.get(tenant)?.size ?? 0;
  }

  get(key: string): V | undefined {
    return this.parts.get(healthTenantOf(key))?.get(key);
  }

  has(key: string): boolean {
    return this.parts.get(healthTenantOf(key))?.has(key) ?? false;
  }

  /**
   * The entry of `key`, made its tenant's most recently active; undefined (nothing changed) when absent. One
   * tenant lookup instead of get() + set(): StatusTrust.prove runs on every verified data message.
   */
  touch(key: string): V | undefined {
    return this.parts.get(healthTenantOf(key))?.touch(key);
  }

  /**
   * Stores `value` under `key` as its tenant's most recently active entry (replacing any). Returns the entry
   * dropped to stay within the tenant's bound, if one was.
   */
  set(key: string, value: V): [string, V] | undefined {
    const tenant = healthTenantOf(key);
    let part = this.parts.get(tenant);
    if (!part) {
      part = new BoundedMap(this.maxPerTenant);
      this.parts.set(tenant, part);
    }
    const before = part.size;
    const dropped = part.put(key, value);
    this.count += part.size - before;
    return dropped;
  }

  /** Removes `key`; true when it was there. */
  delete(key: string): boolean {
    const part = this.parts.get(healthTenantOf(key));
    if (!part?.delete(key)) return false;
    this.count--;
    return true;
  }

  /** Entries dropped to stay within a tenant's bound, over all tenants. */
  get evicted(): number {
    let n = 0;
    for (const part of this.parts.values()) n += part.evicted;
    return n;
  }

  /** Every entry, tenant by tenant, each tenant's least recently active first. */
  *entries(): IterableIterator<[string, V]> {
    for (const part of this.parts.values()) yield* part;
  }

  /**
   * Of persisted rows (oldest first), the ones a restore should insert, still oldest first: the newest
   * `maxPerTenant` per tenant (less what the tenant holds already), one per key (the newest). Rows written
   * before the bound was per tenant (one list for all tenants) load the same way.
   */
  newestPerTenant<R>(rows: readonly R[], keyOf: (row: R) => string | undefined): R[] {
    const kept: R[] = [];
    const seen = new Set<string>();
    const room = new Map<string, number>();
    for (let k = rows.length - 1; k >= 0; k--) {
      const key = keyOf(rows[k]);
      if (key === undefined || seen.has(key)) continue;
      const tenant = healthTenantOf(key);
      const left = room.get(tenant) ?? this.maxPerTenant - this.sizeOf(tenant);
      if (left <= 0) continue;
      room.set(tenant, left - 1);
      seen.add(key);
      kept.push(rows[k]);
    }
    return kept.reverse();
  }
}
