// Maintenance / mute windows per device. A technician working on a machine knows it will look anomalous (and
// go offline) for a while; paging everyone about it teaches people to ignore pages. While a device is muted
// its alerts are still opened, updated and resolved (the record stays complete and visible in the API and
// the panel, marked muted) but no notification is sent for them. The window ends by itself at `until`, or
// earlier through unmute. Pure: the clock is injected; the adapter persists snapshot() with the alerts.
import { parseJsonSafe } from '../safe-json';

export interface Mute {
  device_id: string;
  /** epoch ms when the window ends */
  until: number;
  by: string;
  note?: string;
  /** epoch ms when it was set */
  at: number;
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
    if (!this.mutes.has(m.device_id) && this.mutes.size >= MAX_MUTES) {
      this.prune();
      if (this.mutes.size >= MAX_MUTES) return false;
    }
    this.mutes.set(m.device_id, { ...m });
    this.version++;
    return true;
  }

  /** Ends a device's window; returns the window that was in force, if any. */
  clear(device: string): Mute | undefined {
    const m = this.get(device);
    if (this.mutes.delete(device)) this.version++;
    return m;
  }

  /** The window in force for a device (expired ones are dropped). */
  get(device: string): Mute | undefined {
    const m = this.mutes.get(device);
    if (!m) return undefined;
    if (m.until <= this.now()) {
      this.mutes.delete(device);
      this.version++;
      return undefined;
    }
    return { ...m };
  }

  isMuted(device: string): boolean {
    return this.get(device) !== undefined;
  }

  /** Windows in force, by device id. */
  list(): Mute[] {
    this.prune();
    return [...this.mutes.values()].map((m) => ({ ...m })).sort((a, b) => a.device_id.localeCompare(b.device_id));
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
      if (typeof v.device_id !== 'string' || !ID_PATTERN.test(v.device_id) || typeof v.until !== 'number' || !Number.isFinite(v.until) || v.until <= now) continue;
      const row: Mute = { device_id: v.device_id, until: v.until, by: typeof v.by === 'string' ? v.by.slice(0, 200) : 'api', at: typeof v.at === 'number' && Number.isFinite(v.at) ? v.at : now };
      if (typeof v.note === 'string') row.note = v.note.slice(0, 1000);
      this.mutes.set(row.device_id, row);
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

export type MuteBody = { ok: true; until: number; by: string; note?: string } | { ok: false; status: number; field?: string; message: string };

/**
 * Reads `{until?, minutes?, by?, note?}` for POST /devices/:id/mute: `until` (epoch ms/s or ISO date) or
 * `minutes` from now, default one hour; the window must end in the future and within MAX_MUTE_MS.
 */
export function parseMuteBody(body: unknown, now: number, maxBytes = 16384): MuteBody {
  let value: unknown = body;
  if (body === undefined || body === null || body === '') value = {};
  else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const r = parseJsonSafe(body, { maxBytes, maxDepth: 3, maxKeys: 20 });
    if (!r.ok) return { ok: false, status: r.reject.code === 'too_large' ? 413 : 400, field: r.reject.field, message: r.reject.reason };
    value = r.value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, status: 400, message: 'body must be a JSON object {until | minutes, by, note}' };
  const v = value as Record<string, unknown>;
  if (v.by !== undefined && (typeof v.by !== 'string' || v.by.length > 200)) return { ok: false, status: 400, field: 'by', message: 'by must be a string of at most 200 characters' };
  if (v.note !== undefined && (typeof v.note !== 'string' || v.note.length > 1000)) return { ok: false, status: 400, field: 'note', message: 'note must be a string of at most 1000 characters' };
  let until: number;
  if (v.until !== undefined) {
    const t = parseTime(v.until);
    if (t === undefined) return { ok: false, status: 400, field: 'until', message: 'until must be epoch milliseconds, epoch seconds or an ISO 8601 date' };
    until = t;
  } else if (v.minutes !== undefined) {
    if (typeof v.minutes !== 'number' || !Number.isFinite(v.minutes) || v.minutes <= 0) return { ok: false, status: 400, field: 'minutes', message: 'minutes must be a positive number' };
    until = now + v.minutes * 60000;
  } else until = now + DEFAULT_MUTE_MS;
  if (until <= now) return { ok: false, status: 400, field: 'until', message: 'until must be in the future' };
  if (until - now > MAX_MUTE_MS) return { ok: false, status: 400, field: 'until', message: `a mute window may last at most ${MAX_MUTE_MS / 86400000} days` };
  const by = typeof v.by === 'string' && v.by.trim() ? v.by.trim() : 'api';
  return typeof v.note === 'string' ? { ok: true, until: Math.round(until), by, note: v.note } : { ok: true, until: Math.round(until), by };
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

function fail(status: number, code: string, message: string, headers: Record<string, string>, field?: string): MuteRouteResponse {
  const error: Record<string, string> = { code, message };
  if (field !== undefined) error.field = field;
  return { status, headers, body: { error } };
}

/**
 * Handles `devices/:id/mute` and `devices/:id/unmute` (parts = path segments below the prefix). A mute is set
 * on every host (several alert nodes may share one prefix) so no node notifies about the device.
 */
export function handleMuteRoute(hosts: MuteHost[], method: string, parts: string[], body: unknown, bodyTooLarge: boolean, headers: Record<string, string>, now: number): MuteRouteResponse {
  const [, id, action] = parts;
  if (method !== 'POST') return fail(405, 'method_not_allowed', `${method} not allowed on /devices/:id/${action}`, { ...headers, Allow: 'POST, OPTIONS' });
  if (!validDeviceId(id)) return fail(400, 'bad_request', 'device id must be 1 to 128 letters, digits or _ . : @ -', headers, 'id');
  const tables = hosts.map((h) => h.mutes).filter((t): t is MuteTable => !!t);
  if (!tables.length) return fail(404, 'not_found', 'no alert node with mute windows', headers);
  if (bodyTooLarge) return fail(413, 'too_large', 'body too large', headers);
  if (action === 'unmute') {
    let was: Mute | undefined;
    for (const t of tables) was = t.clear(id) ?? was;
    for (const h of hosts) h.onMuteChange?.();
    if (!was) return fail(404, 'not_found', `device ${id} is not muted`, headers);
    return { status: 200, headers, body: { device_id: id, muted: false, was } };
  }
  const b = parseMuteBody(body, now);
  if (!b.ok) return fail(b.status, b.status === 413 ? 'too_large' : 'bad_request', b.message, headers, b.field);
  const m: Mute = { device_id: id, until: b.until, by: b.by, at: now };
  if (b.note !== undefined) m.note = b.note;
  for (const t of tables) if (!t.set(m)) return fail(409, 'too_many_mutes', 'too many devices muted', headers);
  for (const h of hosts) h.onMuteChange?.();
  return { status: 200, headers, body: { ...m, muted: true } };
}

/** The window in force for a device on any host. */
export function muteOf(hosts: MuteHost[], device: string): Mute | undefined {
  for (const h of hosts) {
    const m = h.mutes?.get(device);
    if (m) return m;
  }
  return undefined;
}

/**
 * GET /devices rows with `muted`, `muted_until` (flat, for Grafana frames) and `mute` ({until, by, note, at}) added; muted devices no health node
 * reports yet are listed too (state UNKNOWN) so a window set ahead of the work is visible.
 */
export function withMutes(rows: readonly unknown[], hosts: MuteHost[], withUnseen = true): unknown[] {
  const all = new Map<string, Mute>();
  for (const h of hosts) for (const m of h.mutes?.list() ?? []) if (!all.has(m.device_id)) all.set(m.device_id, m);
  if (!all.size) return rows as unknown[];
  const seen = new Set<string>();
  const out = rows.map((r) => {
    const row = r as Record<string, unknown>;
    const id = typeof row.device_id === 'string' ? row.device_id : '';
    seen.add(id);
    const m = all.get(id);
    return m ? { ...row, muted: true, muted_until: m.until, mute: m } : row;
  });
  if (withUnseen) for (const [id, m] of all) if (!seen.has(id)) out.push({ device_id: id, state: 'UNKNOWN', since: null, last_seen: null, muted: true, muted_until: m.until, mute: m });
  return out;
}
