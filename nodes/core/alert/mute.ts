// Maintenance / mute windows per device. A technician working on a machine knows it will look anomalous (and
// go offline) for a while; paging everyone about it teaches people to ignore pages. While a device is muted
// its alerts are still opened, updated and resolved (the record stays complete and visible in the API and
// the panel, marked muted) but no notification is sent for them. The window ends by itself at `until`, or
// earlier through unmute. Pure: the clock is injected; the adapter persists snapshot() with the alerts.
// Windows are keyed by (tenant, device) (docs/tenants.md): acme muting its pump-001 leaves beta's pump-001
// notifying, and a tenant's operator can only set or lift its own tenant's windows.
import { proseProblem } from '../names';
import { parseJsonSafe } from '../safe-json';
import { isTenant, scopedKey } from '../tenant';
import { inScope, type TenantScope } from './tenants';

export interface Mute {
  device_id: string;
  /** the device's tenant; absent for a tenant-less device */
  tenant?: string;
  /** epoch ms when the window ends */
  until: number;
  by: string;
  note?: string;
  /** epoch ms when it was set */
  at: number;
}

/** caps of the `by` and `note` of an ack, resolve or mute request */
export const MAX_BY = 200;
export const MAX_NOTE = 1000;

/**
 * Why the `by` or `note` of an ack, resolve or mute body is refused, naming the field, or null. Both are
 * strings within their caps and printable prose (core/names.ts): they reach InfluxDB, the panel and
 * notifications ("acknowledged by …"). An empty string is allowed (`by` then defaults to "api").
 */
export function actionTextProblem(v: Record<string, unknown>): { field: 'by' | 'note'; message: string } | null {
  for (const [field, max] of [
    ['by', MAX_BY],
    ['note', MAX_NOTE],
  ] as const) {
    const text = v[field];
    if (text === undefined) continue;
    if (typeof text !== 'string' || text.length > max)
      return { field, message: `${field} must be a string of at most ${max} characters` };
    const bad = text === '' ? null : proseProblem(text, max);
    if (bad) return { field, message: `${field} ${bad}` };
  }
  return null;
}

/** longest window one request may set: a forgotten mute must not silence a machine for good */
export const MAX_MUTE_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_MUTE_MS = 3600 * 1000;
const MAX_MUTES = 100000;
const ID_PATTERN = /^[\w.:@-]{1,128}$/;

export class MuteTable {
  private readonly mutes = new Map<string, Mute>();
  /** bumps on every change, so the adapter knows when to persist */
  version = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Sets (or replaces) a device's window; false when the table is full. */
  set(m: Mute): boolean {
    const key = scopedKey(m.tenant, m.device_id);
    if (!this.mutes.has(key) && this.mutes.size >= MAX_MUTES) {
      this.prune();
      if (this.mutes.size >= MAX_MUTES) return false;
    }
    this.mutes.set(key, { ...m });
    this.version++;
    return true;
  }

  /** Ends a device's window; returns the window that was in force, if any. */
  clear(device: string, tenant?: string): Mute | undefined {
    const m = this.get(device, tenant);
    if (this.mutes.delete(scopedKey(tenant, device))) this.version++;
    return m;
  }

  /** The window in force for a device of a tenant (expired ones are dropped). */
  get(device: string, tenant?: string): Mute | undefined {
    const key = scopedKey(tenant, device);
    const m = this.mutes.get(key);
    if (!m) return undefined;
    if (m.until <= this.now()) {
      this.mutes.delete(key);
      this.version++;
      return undefined;
    }
    return { ...m };
  }

  isMuted(device: string, tenant?: string): boolean {
    return this.get(device, tenant) !== undefined;
  }

  /** Windows in force, by device id (then tenant). */
  list(): Mute[] {
    this.prune();
    return [...this.mutes.values()]
      .map((m) => ({ ...m }))
      .sort((a, b) => a.device_id.localeCompare(b.device_id) || (a.tenant ?? '').localeCompare(b.tenant ?? ''));
  }

  private prune(): void {
    const now = this.now();
    for (const [id, m] of this.mutes) {
      if (m.until <= now) {
        this.mutes.delete(id);
        this.version++;
      }
    }
  }

  snapshot(): Mute[] {
    return this.list();
  }

  /** Replaces the table with a snapshot; malformed or expired entries are skipped. Returns how many were kept. */
  restore(snap: unknown): number {
    this.mutes.clear();
    if (!Array.isArray(snap)) return 0;
    const now = this.now();
    for (const m of snap.slice(0, MAX_MUTES)) {
      if (!m || typeof m !== 'object') continue;
      const v = m as Partial<Mute>;
      if (
        typeof v.device_id !== 'string' ||
        !ID_PATTERN.test(v.device_id) ||
        typeof v.until !== 'number' ||
        !Number.isFinite(v.until) ||
        v.until <= now
      )
        continue;
      if (v.tenant !== undefined && !isTenant(v.tenant)) continue;
      const row: Mute = {
        device_id: v.device_id,
        until: v.until,
        by: typeof v.by === 'string' ? v.by.slice(0, 200) : 'api',
        at: typeof v.at === 'number' && Number.isFinite(v.at) ? v.at : now,
      };
      if (v.tenant !== undefined) row.tenant = v.tenant;
      if (typeof v.note === 'string') row.note = v.note.slice(0, 1000);
      this.mutes.set(scopedKey(row.tenant, row.device_id), row);
    }
    return this.mutes.size;
  }
}

export function validDeviceId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/** Parses `until` as epoch ms, epoch s (≤ 10 digits), or an ISO 8601 date. */
function parseTime(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? (v < 1e11 ? v * 1000 : v) : undefined;
  if (typeof v !== 'string') return undefined;
  if (/^\d{1,16}$/.test(v)) return v.length <= 10 ? Number(v) * 1000 : Number(v);
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

export type MuteBody =
  | { ok: true; until: number; by: string; note?: string }
  | { ok: false; status: number; field?: string; message: string };

/**
 * Reads `{until?, minutes?, by?, note?}` for POST /devices/:id/mute: `until` (epoch ms/s or ISO date) or
 * `minutes` from now, default one hour; the window must end in the future and within MAX_MUTE_MS.
 */
export function parseMuteBody(body: unknown, now: number, maxBytes = 16384): MuteBody {
  let value: unknown = body;
  if (body === undefined || body === null || body === '') value = {};
  else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const r = parseJsonSafe(body, { maxBytes, maxDepth: 3, maxKeys: 20 });
    if (!r.ok)
      return {
        ok: false,
        status: r.reject.code === 'too_large' ? 413 : 400,
        field: r.reject.field,
        message: r.reject.reason,
      };
    value = r.value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, status: 400, message: 'body must be a JSON object {until | minutes, by, note}' };
  const v = value as Record<string, unknown>;
  const text = actionTextProblem(v);
  if (text) return { ok: false, status: 400, ...text };
  let until: number;
  if (v.until !== undefined) {
    const t = parseTime(v.until);
    if (t === undefined)
      return {
        ok: false,
        status: 400,
        field: 'until',
        message: 'until must be epoch milliseconds, epoch seconds or an ISO 8601 date',
      };
    until = t;
  } else if (v.minutes !== undefined) {
    if (typeof v.minutes !== 'number' || !Number.isFinite(v.minutes) || v.minutes <= 0)
      return { ok: false, status: 400, field: 'minutes', message: 'minutes must be a positive number' };
    until = now + v.minutes * 60000;
  } else until = now + DEFAULT_MUTE_MS;
  if (until <= now) return { ok: false, status: 400, field: 'until', message: 'until must be in the future' };
  if (until - now > MAX_MUTE_MS)
    return {
      ok: false,
      status: 400,
      field: 'until',
      message: `a mute window may last at most ${MAX_MUTE_MS / 86400000} days`,
    };
  const by = typeof v.by === 'string' && v.by.trim() ? v.by.trim() : 'api';
  return typeof v.note === 'string'
    ? { ok: true, until: Math.round(until), by, note: v.note }
    : { ok: true, until: Math.round(until), by };
}

// ---- HTTP routes: POST {prefix}/devices/:id/mute and /unmute (mounted by api.ts after its auth check) ----

/** The part of an alert API host the mute routes use (every alert node sharing a prefix holds a table). */
export interface MuteHost {
  mutes?: MuteTable;
  /** called after a change so the node can persist it and refresh its status */
  onMuteChange?: () => void;
}

export interface MuteRouteResponse {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

function fail(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string>,
  field?: string
): MuteRouteResponse {
  const error: Record<string, string> = { code, message };
  if (field !== undefined) error.field = field;
  return { status, headers, body: { error } };
}

/** The tenant a mute request names: `?tenant=` or the body's `tenant` (for unmute too). */
function requestedTenant(
  query: string | undefined,
  body: unknown
): { ok: true; tenant?: string } | { ok: false; message: string } {
  let given: unknown = query;
  if (given === undefined && body !== undefined && body !== null && body !== '') {
    let v: unknown = body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const r = parseJsonSafe(body, { maxBytes: 16384, maxDepth: 3, maxKeys: 20 });
      v = r.ok ? r.value : undefined; // a broken body is reported by parseMuteBody (mute) or ignored (unmute)
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) given = (v as Record<string, unknown>).tenant;
  }
  if (given === undefined || given === '') return { ok: true };
  return isTenant(given)
    ? { ok: true, tenant: given }
    : { ok: false, message: 'tenant must be 1-64 chars of [A-Za-z0-9_-]' };
}

/**
 * Handles `devices/:id/mute` and `devices/:id/unmute` (parts = path segments below the prefix). A mute is set
 * on every host (several alert nodes may share one prefix) so no node notifies about the device.
 *
 * Tenants (docs/tenants.md): the window is keyed by (tenant, device). The tenant is `?tenant=` or the body's
 * `tenant`; a tenant token whose scope is one tenant may leave it out. A tenant the caller's token does not
 * cover answers 404 like an unknown device (ids of other tenants must not leak); the admin token (scope
 * null) may name any tenant, or none for a tenant-less device.
 */
export function handleMuteRoute(
  hosts: MuteHost[],
  method: string,
  parts: string[],
  body: unknown,
  bodyTooLarge: boolean,
  headers: Record<string, string>,
  now: number,
  scope: TenantScope = null,
  tenantQuery?: string
): MuteRouteResponse {
  const [, id, action] = parts;
  if (method !== 'POST')
    return fail(405, 'method_not_allowed', `${method} not allowed on /devices/:id/${action}`, {
      ...headers,
      Allow: 'POST, OPTIONS',
    });
  if (!validDeviceId(id))
    return fail(400, 'bad_request', 'device id must be 1 to 128 letters, digits or _ . : @ -', headers, 'id');
  const tables = hosts.map((h) => h.mutes).filter((t): t is MuteTable => !!t);
  if (!tables.length) return fail(404, 'not_found', 'no alert node with mute windows', headers);
  if (bodyTooLarge) return fail(413, 'too_large', 'body too large', headers);
  const req = requestedTenant(tenantQuery, body);
  if (!req.ok) return fail(400, 'bad_request', req.message, headers, 'tenant');
  let tenant = req.tenant;
  if (scope !== null) {
    if (tenant === undefined && scope.size === 1) tenant = [...scope][0];
    if (tenant === undefined)
      return fail(400, 'bad_request', 'this token covers several tenants: name one (tenant)', headers, 'tenant');
    if (!inScope(scope, tenant)) return fail(404, 'not_found', `device ${id} is not known`, headers);
  }
  const label = tenant === undefined ? id : `${id} of tenant ${tenant}`;
  if (action === 'unmute') {
    let was: Mute | undefined;
    for (const t of tables) was = t.clear(id, tenant) ?? was;
    for (const h of hosts) h.onMuteChange?.();
    if (!was) return fail(404, 'not_found', `device ${label} is not muted`, headers);
    const out: Record<string, unknown> = { device_id: id, muted: false, was };
    if (tenant !== undefined) out.tenant = tenant;
    return { status: 200, headers, body: out };
  }
  const b = parseMuteBody(body, now);
  if (!b.ok) return fail(b.status, b.status === 413 ? 'too_large' : 'bad_request', b.message, headers, b.field);
  const m: Mute = { device_id: id, until: b.until, by: b.by, at: now };
  if (tenant !== undefined) m.tenant = tenant;
  if (b.note !== undefined) m.note = b.note;
  for (const t of tables) if (!t.set(m)) return fail(409, 'too_many_mutes', 'too many devices muted', headers);
  for (const h of hosts) h.onMuteChange?.();
  return { status: 200, headers, body: { ...m, muted: true } };
}

/** The window in force for a device (of a tenant) on any host. */
export function muteOf(hosts: MuteHost[], device: string, tenant?: string): Mute | undefined {
  for (const h of hosts) {
    const m = h.mutes?.get(device, tenant);
    if (m) return m;
  }
  return undefined;
}

/**
 * GET /devices rows with `muted`, `muted_until` (flat, for Grafana frames) and `mute` ({until, by, note, at}) added; muted devices no health node
 * reports yet are listed too (state UNKNOWN) so a window set ahead of the work is visible. A row's window is
 * the one of its own tenant; unseen muted devices are listed only within the caller's scope.
 */
export function withMutes(
  rows: readonly unknown[],
  hosts: MuteHost[],
  withUnseen = true,
  scope: TenantScope = null
): unknown[] {
  const all = new Map<string, Mute>();
  for (const h of hosts) {
    for (const m of h.mutes?.list() ?? []) {
      const key = scopedKey(m.tenant, m.device_id);
      if (!all.has(key)) all.set(key, m);
    }
  }
  if (!all.size) return rows as unknown[];
  const seen = new Set<string>();
  const out = rows.map((r) => {
    const row = r as Record<string, unknown>;
    const id = typeof row.device_id === 'string' ? row.device_id : '';
    const key = scopedKey(isTenant(row.tenant) ? row.tenant : undefined, id);
    seen.add(key);
    const m = all.get(key);
    return m ? { ...row, muted: true, muted_until: m.until, mute: m } : row;
  });
  if (withUnseen) {
    for (const [key, m] of all) {
      if (seen.has(key) || !inScope(scope, m.tenant)) continue;
      const row: Record<string, unknown> = {
        device_id: m.device_id,
        state: 'UNKNOWN',
        since: null,
        last_seen: null,
        muted: true,
        muted_until: m.until,
        mute: m,
      };
      if (m.tenant !== undefined) row.tenant = m.tenant;
      out.push(row);
    }
  }
  return out;
}
