// Maintenance / mute windows per device. A technician working on a machine knows it will look anomalous (and
// go offline) for a while; paging everyone about it teaches people to ignore pages. While a device is muted
// its alerts are still opened, updated and resolved (the record stays complete and visible in the API and
// the panel, marked muted) but no notification is sent for them. The window ends by itself at `until`, or
// earlier through unmute. Pure: the clock is injected; the adapter persists takeChanges() (the windows set or
// ended, not the table) with the alerts. Windows are keyed by (tenant, device) (docs/tenants.md): acme muting
// its pump-001 leaves beta's pump-001 notifying, a tenant's operator can only set or lift its own tenant's
// windows, and each tenant mutes within its own budget (one tenant's flood of made-up ids never refuses
// another's mute).
import { proseProblem } from '../names';
import { parseJsonSafe } from '../safe-json';
import { MinHeap } from '../min-heap';
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
/**
 * Budgets (docs/tenants.md, "Fair share of state"): windows in force per scope. Each tenant has its own, so a
 * tenant muting made-up device ids fills only its own and another tenant's mute still succeeds; tenant-less
 * devices (the admin token without a tenant, and every pipeline without tenants) keep the bound the whole
 * table had before tenants had budgets. The number of tenants holding windows is bounded as the alert
 * engines are (only the admin token can name a tenant no token covers).
 */
export const MAX_MUTES_PER_TENANT = 10_000;
export const MAX_MUTES_TENANTLESS = 100_000;
export const MAX_MUTE_TENANTS = 1000;
const ID_PATTERN = /^[\w.:@-]{1,128}$/;

export interface MuteLimits {
  perTenant?: number;
  tenantless?: number;
  tenants?: number;
}

/**
 * What changed in a table since the last takeChanges(): `upserts` (windows set or replaced) and `removed`
 * (scopedKey of the windows ended or expired) — or `all`, the whole table, when more changed than the table
 * holds (the changes of a long episode without saves are then not worth keeping one by one).
 */
export type MuteChanges = { upserts: Mute[]; removed: string[] } | { all: Mute[] };

/**
 * Whether a record of `entries` kept beside a table of `windows` mute windows (changes not written yet, expiry
 * heap entries of replaced windows) has outgrown it and should be replaced by the table itself. Twice the table
 * plus a thousand: a busy table is not rebuilt at every change, and a small one not at every few.
 */
export function outgrowsTable(entries: number, windows: number): boolean {
  return entries > 2 * windows + 1000;
}

/** First index in a sorted list whose element is >= `id` (or > `id` when `strict`). */
function lowerBound(list: readonly string[], id: string, strict = false): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < id || (strict && list[mid] === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const CHUNK = 512;

/**
 * A set of ids in code-unit order (the order of GET /devices rows) as a list of sorted chunks of at most
 * 2 × CHUNK: an insert or delete costs a binary search and the move of at most a chunk, so it does not grow
 * with the set (one flat sorted array moved up to 100,000 slots per insert).
 */
class SortedIds {
  private chunks: string[][] = [];
  size = 0;

  /** the chunk that holds (or would hold) `id` */
  private chunkOf(id: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.chunks[mid];
      if (c[c.length - 1] < id) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo, this.chunks.length - 1);
  }

  insert(id: string): void {
    if (!this.chunks.length) {
      this.chunks.push([id]);
      this.size = 1;
      return;
    }
    const ci = this.chunkOf(id);
    const c = this.chunks[ci];
    const i = lowerBound(c, id);
    if (c[i] === id) return;
    c.splice(i, 0, id);
    this.size++;
    if (c.length > 2 * CHUNK) this.chunks.splice(ci + 1, 0, c.splice(CHUNK));
  }

  delete(id: string): boolean {
    if (!this.chunks.length) return false;
    const ci = this.chunkOf(id);
    const c = this.chunks[ci];
    const i = lowerBound(c, id);
    if (c[i] !== id) return false;
    c.splice(i, 1);
    this.size--;
    if (!c.length) this.chunks.splice(ci, 1);
    return true;
  }

  /** The ids >= `from` (all without it), in order. */
  *from(from?: string): Generator<string> {
    let ci = from === undefined || !this.chunks.length ? 0 : this.chunkOf(from);
    let i = from === undefined || !this.chunks.length ? 0 : lowerBound(this.chunks[ci], from);
    for (; ci < this.chunks.length; ci++, i = 0) {
      const c = this.chunks[ci];
      for (; i < c.length; i++) yield c[i];
    }
  }
}

/**
 * The sort and cursor key of a GET /devices row (api.ts deviceRowKey reads it from a row): the device id,
 * followed by NUL and the tenant for a tenant's device, so two tenants' `pump-001` are two rows in a stable
 * order right after each other (NUL sorts first, so tenant-less tables keep the plain device_id order).
 */
export function rowKey(device: string, tenant: string | undefined): string {
  return tenant ? `${device}\u0000${tenant}` : device;
}

type Expiry = [until: number, key: string];
const expiresFirst = (a: Expiry, b: Expiry) => a[0] < b[0];

/**
 * The windows in force, keyed by (tenant, device). A change costs the same however many windows are held (a
 * map entry, an expiry heap push, an insert into its scope's chunked sorted id list; no sort, no copy): the
 * adapter persists takeChanges() (only what changed) and shows count(); GET /devices pages through after()
 * without sorting anything.
 */
export class MuteTable {
  private readonly mutes = new Map<string, Mute>();
  /** per scope ('' = tenant-less): the device ids with a window, in code-unit order */
  private readonly scopes = new Map<string, SortedIds>();
  /** min-heap of [until, key]: the next window to end on top (entries of replaced windows are skipped) */
  private heap = new MinHeap<Expiry>(expiresFirst);
  /** changes since takeChanges(): key → the window set, or null when it ended */
  private changed = new Map<string, Mute | null>();
  private changedAll = false;
  readonly limits: Required<MuteLimits>;
  /** bumps on every change, so the adapter knows when to persist */
  version = 0;
  /** windows a restore() left out because their scope's budget was full */
  restoreDropped = 0;

  constructor(
    private readonly now: () => number = Date.now,
    limits: MuteLimits = {}
  ) {
    this.limits = {
      perTenant: limits.perTenant ?? MAX_MUTES_PER_TENANT,
      tenantless: limits.tenantless ?? MAX_MUTES_TENANTLESS,
      tenants: limits.tenants ?? MAX_MUTE_TENANTS,
    };
  }

  /** The budget of a tenant's (or the tenant-less) windows. */
  budgetOf(tenant?: string): number {
    return tenant ? this.limits.perTenant : this.limits.tenantless;
  }

  /**
   * Why a window cannot be set (its scope's budget is full, or too many tenants hold windows), naming the
   * bound; null when it can. Replacing a device's window always can.
   */
  refusal(device: string, tenant?: string): string | null {
    if (this.mutes.has(scopedKey(tenant, device))) return null;
    const scope = tenant ?? '';
    const budget = this.budgetOf(tenant);
    const held = () => this.scopes.get(scope)?.size ?? 0;
    /** a tenant's first window opens a scope: bounded too */
    const tenantsFull = () =>
      !!tenant && held() === 0 && this.scopes.size - (this.scopes.has('') ? 1 : 0) >= this.limits.tenants;
    if (held() >= budget || tenantsFull()) this.prune(); // windows that ended make room
    if (held() >= budget)
      return tenant
        ? `tenant ${tenant} already has ${budget} devices muted, the bound per tenant: unmute some or let their windows end`
        : `${budget} tenant-less devices are already muted, the bound: unmute some or let their windows end`;
    if (tenantsFull()) return `${this.limits.tenants} tenants already hold mute windows, the bound`;
    return null;
  }

  /** Sets (or replaces) a device's window; false when its scope's budget is full (see refusal()). */
  set(m: Mute): boolean {
    if (this.refusal(m.device_id, m.tenant) !== null) return false;
    const key = scopedKey(m.tenant, m.device_id);
    const row = { ...m };
    if (!this.mutes.has(key)) {
      const scope = m.tenant ?? '';
      let ids = this.scopes.get(scope);
      if (!ids) this.scopes.set(scope, (ids = new SortedIds()));
      ids.insert(m.device_id);
    }
    this.mutes.set(key, row);
    this.pushExpiry(row.until, key);
    this.note(key, row);
    return true;
  }

  /** Ends a device's window; returns the window that was in force, if any. */
  clear(device: string, tenant?: string): Mute | undefined {
    const m = this.get(device, tenant);
    this.remove(scopedKey(tenant, device));
    return m;
  }

  /** The window in force for a device of a tenant (expired ones are dropped). */
  get(device: string, tenant?: string): Mute | undefined {
    const key = scopedKey(tenant, device);
    const m = this.mutes.get(key);
    if (!m) return undefined;
    if (m.until <= this.now()) {
      this.remove(key);
      return undefined;
    }
    return { ...m };
  }

  isMuted(device: string, tenant?: string): boolean {
    return this.get(device, tenant) !== undefined;
  }

  /** How many windows are in force (for the node's status: no list, no sort). */
  count(): number {
    this.prune();
    return this.mutes.size;
  }

  /** Windows in force, by device id (then tenant). Sorts: for tests and tools, not for a change's path. */
  list(): Mute[] {
    this.prune();
    return [...this.mutes.values()]
      .map((m) => ({ ...m }))
      .sort((a, b) => a.device_id.localeCompare(b.device_id) || (a.tenant ?? '').localeCompare(b.tenant ?? ''));
  }

  /**
   * The windows in force of the scope's tenants (null = every tenant and the tenant-less devices), in the
   * order of GET /devices rows (device id, then tenant, code-unit order), from the first whose row key is after
   * `after`. Lazy: a page reads only as many as it shows (plus one per tenant in the scope).
   */
  *after(scope: TenantScope, after?: string): Generator<Mute & { key: string }> {
    const now = this.now();
    type Head = { ids: Iterator<string>; id: string; tenant?: string; key: string };
    const heads: Head[] = [];
    const device = after?.split('\u0000')[0];
    for (const [scopeName, list] of this.scopes) {
      const tenant = scopeName === '' ? undefined : scopeName;
      if (!inScope(scope, tenant)) continue;
      // ids from the cursor's device id on: that id itself only when its row (its tenant) sorts after the cursor
      const ids = list.from(device);
      let next = ids.next();
      if (!next.done && after !== undefined && rowKey(next.value, tenant) <= after) next = ids.next();
      if (!next.done) heads.push({ ids, id: next.value, tenant, key: rowKey(next.value, tenant) });
    }
    // a k-way merge over the scope's tenants (a heap of their heads by row key)
    const merge = new MinHeap<Head>((a, b) => a.key < b.key, heads);
    while (merge.size) {
      const h = merge.peek()!;
      const m = this.mutes.get(scopedKey(h.tenant, h.id));
      const key = h.key;
      const next = h.ids.next();
      if (!next.done) {
        h.id = next.value;
        h.key = rowKey(next.value, h.tenant);
        merge.topChanged();
      } else merge.pop();
      if (m && m.until > now) yield { ...m, key };
    }
  }

  /** Drops the windows that have ended: pops the expiry heap, so a call with none due costs nothing. */
  private prune(): void {
    const now = this.now();
    while (this.heap.size && this.heap.peek()![0] <= now) {
      const [until, key] = this.heap.pop()!;
      if (this.mutes.get(key)?.until === until) this.remove(key);
    }
  }

  private remove(key: string): void {
    const m = this.mutes.get(key);
    if (!m) return;
    this.mutes.delete(key);
    const scope = m.tenant ?? '';
    const ids = this.scopes.get(scope);
    if (ids) {
      ids.delete(m.device_id);
      if (!ids.size) this.scopes.delete(scope);
    }
    this.note(key, null);
  }

  private note(key: string, m: Mute | null): void {
    this.version++;
    if (this.changedAll) return;
    this.changed.set(key, m);
    // more changes than windows (e.g. sets and unmutes of made-up ids while nothing saves): the whole table
    // is smaller than the list of them
    if (outgrowsTable(this.changed.size, this.mutes.size)) {
      this.changedAll = true;
      this.changed.clear();
    }
  }

  get hasChanges(): boolean {
    return this.changedAll || this.changed.size > 0;
  }

  /** What changed since the last call (or since restore()/discardChanges()); undefined when nothing did. */
  takeChanges(): MuteChanges | undefined {
    if (this.changedAll) {
      this.changedAll = false;
      return { all: this.snapshot() };
    }
    if (!this.changed.size) return undefined;
    const upserts: Mute[] = [];
    const removed: string[] = [];
    for (const [key, m] of this.changed) {
      if (m) upserts.push({ ...m });
      else removed.push(key);
    }
    this.changed.clear();
    return { upserts, removed };
  }

  /** The changes are in a whole snapshot written meanwhile (a compaction, a context-store save). */
  discardChanges(): void {
    this.changed.clear();
    this.changedAll = false;
  }

  private pushExpiry(until: number, key: string): void {
    // entries of replaced or ended windows stay until popped: rebuilt when they outnumber the windows
    if (outgrowsTable(this.heap.size, this.mutes.size))
      this.heap = new MinHeap<Expiry>(
        expiresFirst,
        [...this.mutes].map(([k, m]): Expiry => [m.until, k])
      );
    else this.heap.push([until, key]);
  }

  /** The windows in force, as stored (no particular order: a copy, not a sort). */
  snapshot(): Mute[] {
    this.prune();
    return [...this.mutes.values()].map((m) => ({ ...m }));
  }

  /**
   * Replaces the table with a snapshot; malformed or expired entries are skipped, and so are windows beyond
   * their scope's budget (counted in restoreDropped). Returns how many were kept. Starts with no changes.
   */
  restore(snap: unknown): number {
    this.mutes.clear();
    this.scopes.clear();
    this.heap = new MinHeap<Expiry>(expiresFirst);
    this.restoreDropped = 0;
    if (Array.isArray(snap)) {
      const now = this.now();
      for (const m of snap) {
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
        if (!this.set(row)) this.restoreDropped++;
      }
    }
    this.discardChanges();
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

/**
 * The tenant a mute request names: `?tenant=` or the body's `tenant` (for unmute too). Both given and different
 * is refused: the query had silently won, so an admin muted another tenant's device than the body named (tenant
 * red team 2026-12-07).
 */
function requestedTenant(
  query: string | undefined,
  body: unknown
): { ok: true; tenant?: string } | { ok: false; message: string } {
  let fromBody: unknown;
  if (body !== undefined && body !== null && body !== '') {
    let v: unknown = body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const r = parseJsonSafe(body, { maxBytes: 16384, maxDepth: 3, maxKeys: 20 });
      v = r.ok ? r.value : undefined; // a broken body is reported by parseMuteBody (mute) or ignored (unmute)
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) fromBody = (v as Record<string, unknown>).tenant;
  }
  const named = (t: unknown) => t !== undefined && t !== '';
  if (named(query) && named(fromBody) && query !== fromBody)
    return { ok: false, message: `?tenant=${String(query).slice(0, 64)} and the body's tenant differ: name one` };
  const given = named(query) ? query : fromBody;
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
  // each scope's budget is checked on every table before any is changed: a refusal changes nothing
  for (const t of tables) {
    const full = t.refusal(id, tenant);
    if (full !== null) return fail(409, 'too_many_mutes', full, headers);
  }
  for (const t of tables) t.set(m);
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

/** A GET /devices row marked with its window: `muted`, `muted_until` (flat, for Grafana frames) and `mute`. */
export function mutedRow(row: Record<string, unknown>, m: Mute): Record<string, unknown> {
  return { ...row, muted: true, muted_until: m.until, mute: m };
}

/** The GET /devices row of a muted device no health node reports (state UNKNOWN), so a window set ahead shows. */
export function unseenMutedRow(m: Mute): Record<string, unknown> {
  const row: Record<string, unknown> = { device_id: m.device_id, state: 'UNKNOWN', since: null, last_seen: null };
  if (m.tenant !== undefined) row.tenant = m.tenant;
  return mutedRow(row, m);
}

/**
 * The windows in force on any host within the scope, in GET /devices row order after `after`; a (tenant,
 * device) set on several hosts once (the first host's window, as muteOf). `key` is the row key.
 */
export function* mutesAfter(
  hosts: MuteHost[],
  scope: TenantScope,
  after?: string
): Generator<{ mute: Mute; key: string }> {
  const its = hosts.map((h) => h.mutes?.after(scope, after)).filter((it) => it !== undefined);
  const heads = its.map((it) => it.next());
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (!h.done && (best < 0 || h.value.key < (heads[best].value as { key: string }).key)) best = i;
    }
    if (best < 0) return;
    const { key, ...mute } = heads[best].value as Mute & { key: string };
    yield { mute, key };
    for (let i = 0; i < heads.length; i++)
      while (!heads[i].done && (heads[i].value as { key: string }).key === key) heads[i] = its[i].next();
  }
}
