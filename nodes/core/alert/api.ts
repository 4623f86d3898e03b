// The alert HTTP API as a pure function of a request: routing, filters, bearer-token check, origin and
// content-type checks for state changes, CORS and JSON errors. The adapter mounts it on Node-RED's HTTP
// server; several alert nodes may share one prefix and are served together (lists merge, ack/resolve go
// to the node that holds the id).
import type { Alert } from '../contract';
import { anyTokenMatches, bearerToken, tokenMatches } from '../http-guard';
import { inScope, type TenantScope } from './tenants';
import {
  authorize,
  classifyOrigin,
  corsHeaders,
  isJsonContentType,
  parseOriginList,
  type FailureLimiter,
} from '../http-guard';
import { parseJsonSafe } from '../safe-json';
import type { ActionResult, AlertFilter } from './engine';
import {
  actionTextProblem,
  handleMuteRoute,
  mutedRow,
  mutesAfter,
  rowKey,
  unseenMutedRow,
  type Mute,
  type MuteHost,
} from './mute';

export interface ApiHost extends MuteHost {
  /** alerts of the scope's tenants (null = all) */
  list(filter: AlertFilter, scope?: TenantScope): Alert[];
  get(id: string): Alert | undefined;
  acknowledge(id: string, by: string, note?: string): ActionResult;
  resolve(id: string, by: string, note?: string): ActionResult;
  /**
   * resolves once every change made so far is durable (the alert state journal's fdatasync), with the error
   * when it is not: a change made through the API is answered only then (see awaitDurable)
   */
  durable?(): Promise<Error | undefined>;
  /** bearer token this host accepts (the admin token: every tenant); without any token on any host the API refuses every request */
  token?: string;
  /**
   * tokens of tenant operators (docs/tenants.md): a caller with one sees and changes only that tenant's
   * alerts and devices; anything of another tenant answers 404, exactly like an id that does not exist
   */
  tenantTokens?: ReadonlyArray<{ tenant: string; token: string }>;
  /** serve without a token when no host has one (an explicit choice of the deployer, e.g. behind httpNodeAuth) */
  open?: boolean;
  /** origins that may call the API from a browser (exact "scheme://host:port"; '*' = any origin may read, never change) */
  corsOrigins?: string[];
}

export interface ApiRequest {
  method: string;
  /** path below the prefix, e.g. "/alerts/abc/ack" */
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  /** raw body text (the adapter reads it with a size cap) or an already parsed object */
  body?: unknown;
  /** set by the adapter when the body exceeded MAX_BODY_BYTES and was not read */
  bodyTooLarge?: boolean;
  /** client address, the key of the failed-auth limiter */
  remote?: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

export const MAX_BODY_BYTES = 16384;
const MAX_LIMIT = 1000;

function header(h: ApiRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export { tokenMatches } from '../http-guard';

/** JSON error body `{error: {code, message, field?}, alert?}` (the shape the Grafana panel reads). */
function error(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string>,
  extra: { field?: string; alert?: unknown } = {}
): ApiResponse {
  const err: Record<string, string> = { code, message };
  if (extra.field !== undefined) err.field = extra.field;
  const body: Record<string, unknown> = { error: err };
  if (extra.alert !== undefined) body.alert = extra.alert;
  return { status, headers, body };
}

/** A query parameter's text; repeated or bracketed ones are refused before (notOnce). */
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parses ?since= as epoch ms, epoch s (10 digits) or an ISO date. */
function parseSince(s: string): number | undefined {
  if (/^\d{1,16}$/.test(s)) {
    const n = Number(s);
    return s.length <= 10 ? n * 1000 : n;
  }
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * The first of `names` given more than once (?status=open&status=resolved arrives as an array) or bracketed
 * (?status[x]=…, an object). Each query parameter of the API is one text value; reading only the first of
 * several answered with a list (or a page) the caller did not ask for, so such a request is refused instead.
 */
function notOnce(q: Record<string, unknown>, names: readonly string[]): string | undefined {
  return names.find((n) => q[n] !== undefined && typeof q[n] !== 'string');
}

function onceError(field: string, headers: Record<string, string>): ApiResponse {
  const hint = field === 'severity' ? ' (a comma-separated list for several)' : ', as plain text';
  return error(400, 'bad_request', `${field} must be given once${hint}`, headers, { field });
}

function parseFilter(
  q: Record<string, unknown>
): { ok: true; filter: AlertFilter } | { ok: false; field: string; message: string } {
  const filter: AlertFilter = {};
  const status = str(q.status);
  if (status !== undefined) {
    if (status === 'acknowledged' || status === 'unacknowledged') filter.acknowledged = status === 'acknowledged';
    else if (status === 'open' || status === 'resolved') filter.status = status;
    else
      return { ok: false, field: 'status', message: 'status must be open, resolved, acknowledged or unacknowledged' };
  }
  const ack = str(q.acknowledged);
  if (ack !== undefined) {
    if (ack !== 'true' && ack !== 'false')
      return { ok: false, field: 'acknowledged', message: 'acknowledged must be true or false' };
    filter.acknowledged = ack === 'true';
  }
  const severity = str(q.severity);
  if (severity !== undefined) {
    const list = severity
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!list.length || list.some((s) => s !== 'info' && s !== 'warning' && s !== 'critical'))
      return { ok: false, field: 'severity', message: 'severity must be info, warning or critical (comma-separated)' };
    filter.severity = list;
  }
  const device = str(q.device);
  if (device !== undefined) {
    if (!device || device.length > 128)
      return { ok: false, field: 'device', message: 'device must be 1 to 128 characters' };
    filter.device = device;
  }
  const since = str(q.since);
  if (since !== undefined) {
    const t = parseSince(since);
    if (t === undefined)
      return {
        ok: false,
        field: 'since',
        message: 'since must be epoch milliseconds, epoch seconds or an ISO 8601 date',
      };
    filter.since = t;
  }
  const limit = str(q.limit);
  filter.limit = 100;
  if (limit !== undefined) {
    if (!/^\d{1,5}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT)
      return { ok: false, field: 'limit', message: `limit must be an integer from 1 to ${MAX_LIMIT}` };
    filter.limit = Number(limit);
  }
  return { ok: true, filter };
}

function parseActionBody(
  body: unknown
): { ok: true; by: string; note?: string } | { ok: false; field?: string; message: string; status: number } {
  let value: unknown = body;
  if (body === undefined || body === null || body === '') value = {};
  else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const r = parseJsonSafe(body, { maxBytes: MAX_BODY_BYTES, maxDepth: 3, maxKeys: 20 });
    if (!r.ok)
      return {
        ok: false,
        message: r.reject.reason,
        field: r.reject.field,
        status: r.reject.code === 'too_large' ? 413 : 400,
      };
    value = r.value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, message: 'body must be a JSON object {by, note}', status: 400 };
  const v = value as Record<string, unknown>;
  const text = actionTextProblem(v);
  if (text) return { ok: false, status: 400, ...text };
  const by = typeof v.by === 'string' && v.by.trim() ? v.by.trim() : 'api';
  return typeof v.note === 'string' ? { ok: true, by, note: v.note } : { ok: true, by };
}

const ID_RE = /^[\w-]{1,64}$/;

export interface ApiContext {
  /** device table for GET /devices, sorted by device_id (plain code-unit order); rows of a tenant carry it */
  devices: () => ReadonlyArray<{ device_id: string; tenant?: unknown }>;
  /** failed-auth limiter shared by the routes of one server */
  limiter?: FailureLimiter;
  /** clock for mute windows (default Date.now) */
  now?: () => number;
}

export const DEVICES_DEFAULT_LIMIT = 1000;
export const DEVICES_MAX_LIMIT = 5000;

/** The cursor of GET /devices: the last device id of the page, base64url so any id is URL-safe. */
export function encodeCursor(deviceId: string): string {
  return Buffer.from(deviceId, 'utf8').toString('base64url');
}

function decodeCursor(c: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,700}$/.test(c)) return undefined;
  return Buffer.from(c, 'base64url').toString('utf8');
}

/** The sort and cursor key of a device row (core/alert/mute.ts rowKey: the windows are merged in the same order). */
export function deviceRowKey(row: { device_id: string; tenant?: unknown }): string {
  return rowKey(row.device_id, typeof row.tenant === 'string' ? row.tenant : undefined);
}

/**
 * One page of a device table sorted by device_id (deviceRowKey): the rows after `after` (binary search, so a page costs
 * O(log n + limit) however big the table is) and the cursor of the next page when more rows follow.
 */
export function pageDevices<T extends { device_id: string; tenant?: unknown }>(
  rows: ReadonlyArray<T>,
  limit: number,
  after?: string
): { page: T[]; next?: string } {
  const lo = firstRowAfter(rows, after);
  const page = rows.slice(lo, lo + limit);
  const more = lo + limit < rows.length;
  return more && page.length ? { page, next: encodeCursor(deviceRowKey(page[page.length - 1])) } : { page };
}

/** Index of the first row whose key is after `after` (binary search; 0 without a cursor). */
function firstRowAfter(rows: ReadonlyArray<{ device_id: string; tenant?: unknown }>, after?: string): number {
  let lo = 0;
  if (after !== undefined) {
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (deviceRowKey(rows[mid]) <= after) lo = mid + 1;
      else hi = mid;
    }
  }
  return lo;
}

/**
 * One page of GET /devices: the device table's rows merged with the mute windows of the hosts, in one order
 * (deviceRowKey). A row with a window is marked (`muted`, `muted_until`, `mute`); a window whose device no
 * health node reports is a row of its own (state UNKNOWN) in its place in that order, so it is paged like
 * every other row: the limit holds on every page, and the cursor (the last row's key) works whichever kind of
 * row ends a page. Costs O(log n + limit) for the table, and reads the windows of the scope from the cursor on
 * as far as the page reaches (a merge of each tenant's sorted list, core/alert/mute.ts).
 */
export function pageDevicesWithMutes(
  rows: ReadonlyArray<{ device_id: string; tenant?: unknown }>,
  hosts: MuteHost[],
  limit: number,
  after?: string,
  scope: TenantScope = null
): { page: unknown[]; next?: string } {
  let lo = firstRowAfter(rows, after);
  const windows = mutesAfter(hosts, scope, after);
  let w = windows.next();
  const page: unknown[] = [];
  let lastKey = '';
  /** the window of the previous row: a device table listing one device twice marks both rows */
  let last: { key: string; mute: Mute } | undefined;
  while (page.length < limit) {
    const row = lo < rows.length ? rows[lo] : undefined;
    const rk = row ? deviceRowKey(row) : undefined;
    if (!w.done && (rk === undefined || w.value.key <= rk)) {
      const { key, mute } = w.value;
      if (key === rk) {
        page.push(mutedRow(row as Record<string, unknown>, mute));
        lo++;
      } else page.push(unseenMutedRow(mute));
      last = w.value;
      lastKey = key;
      w = windows.next();
    } else if (row && rk !== undefined) {
      page.push(last && last.key === rk ? mutedRow(row as Record<string, unknown>, last.mute) : row);
      lastKey = rk;
      lo++;
    } else break;
  }
  const more = lo < rows.length || !w.done;
  return more && page.length ? { page, next: encodeCursor(lastKey) } : { page };
}

/**
 * Handles one request below the prefix. Returns null when the path is not one of ours (the adapter then
 * passes the request on, e.g. to the metrics route another node serves under the same prefix).
 * Order of checks: preflight and method; for state changes the origin (403) and the content type (415),
 * which stop a cross-site form or no-cors fetch before anything else; then the token (401, 429 after
 * repeated failures); then the request itself (400, 404, 409, 413).
 */
export function handleAlertApi(hosts: ApiHost[], req: ApiRequest, ctx: ApiContext): ApiResponse | null {
  const path = req.path.replace(/\/+$/, '') || '/';
  const parts = path.split('/').filter(Boolean);
  // /metrics under the same prefix is served by the influx writer's route (with the same token check)
  if (parts[0] === 'metrics' && parts.length === 1) return null;
  const allowed = parseOriginList(hosts.flatMap((h) => h.corsOrigins ?? []));
  const cors = corsHeaders(header(req.headers, 'origin'), allowed);
  const headers = { 'Cache-Control': 'no-store', ...cors };
  const method = req.method.toUpperCase();
  const muteRoute = parts[0] === 'devices' && parts.length === 3 && (parts[2] === 'mute' || parts[2] === 'unmute');
  const ours =
    (parts[0] === 'alerts' && parts.length <= 3) || (parts[0] === 'devices' && parts.length === 1) || muteRoute;
  // not ours: the adapter answers a JSON 404 when it owns the whole prefix, or passes the request on
  if (!ours) return null;
  const stateChange = parts.length === 3;
  const allow = stateChange ? 'POST, OPTIONS' : 'GET, OPTIONS';

  if (method === 'OPTIONS') {
    // a preflight: only listed origins hear anything back (and only GET for a '*' entry)
    if (!Object.keys(cors).length) return error(403, 'forbidden_origin', 'origin not allowed', headers);
    if (stateChange && !cors['Access-Control-Allow-Methods'].includes('POST'))
      return error(403, 'forbidden_origin', 'origin may not change alerts', headers);
    return { status: 204, headers: { ...headers, Allow: allow } };
  }
  if (!allow.split(', ').includes(method))
    return error(405, 'method_not_allowed', `${method} not allowed on ${path}`, { ...headers, Allow: allow });

  if (stateChange) {
    // Cross-site request forgery: a page on another origin (an HTML form, fetch with no-cors) can send a
    // POST without reading the answer. Refuse it before anything else happens.
    if (classifyOrigin(req.headers, allowed) === 'foreign')
      return error(
        403,
        'forbidden_origin',
        "requests from this origin may not change alerts (not in the API's allowed origins)",
        headers
      );
    if (!isJsonContentType(req.headers['content-type']))
      return error(415, 'unsupported_media_type', 'the body must be application/json', headers);
  }

  const tokens = hosts.map((h) => h.token).filter((t): t is string => !!t);
  const tenantTokens = hosts.flatMap((h) => h.tenantTokens ?? []);
  const auth = authorize(req.headers, tenantTokens.length ? tokens.concat(tenantTokens.map((t) => t.token)) : tokens, {
    open: hosts.some((h) => h.open),
    client: req.remote,
    limiter: ctx.limiter,
  });
  if (!auth.ok) return error(auth.status, auth.code, auth.message, { ...headers, ...auth.headers });
  const scope = callerScope(req.headers, tokens, tenantTokens);

  // mute windows are keyed by (tenant, device): a tenant token sets and lifts only its own tenant's
  if (muteRoute) {
    if (notOnce(req.query, ['tenant']) !== undefined) return onceError('tenant', headers);
    return handleMuteRoute(
      hosts,
      method,
      parts,
      req.body,
      req.bodyTooLarge === true,
      headers,
      ctx.now?.() ?? Date.now(),
      scope,
      str(req.query.tenant)
    );
  }
  if (parts[0] === 'devices') {
    const repeated = notOnce(req.query, ['limit', 'cursor']);
    if (repeated !== undefined) return onceError(repeated, headers);
    const limitText = str(req.query.limit);
    let limit = DEVICES_DEFAULT_LIMIT;
    if (limitText !== undefined) {
      if (!/^\d{1,5}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > DEVICES_MAX_LIMIT)
        return error(400, 'bad_request', `limit must be an integer from 1 to ${DEVICES_MAX_LIMIT}`, headers, {
          field: 'limit',
        });
      limit = Number(limitText);
    }
    const cursorText = str(req.query.cursor);
    let after: string | undefined;
    if (cursorText !== undefined) {
      after = decodeCursor(cursorText);
      if (after === undefined)
        return error(400, 'bad_request', 'cursor must be the X-Next-Cursor value of the previous page', headers, {
          field: 'cursor',
        });
    }
    const rows =
      scope === null
        ? ctx.devices()
        : ctx.devices().filter((r) => inScope(scope, typeof r.tenant === 'string' ? r.tenant : undefined));
    // mute marks on the page's rows; muted devices no health node has seen yet are rows in their place
    const { page: body, next } = pageDevicesWithMutes(rows, hosts, limit, after, scope);
    return {
      status: 200,
      headers: next
        ? { ...headers, 'X-Next-Cursor': next, Link: `<?limit=${limit}&cursor=${next}>; rel="next"` }
        : headers,
      body,
    };
  }

  if (parts.length === 1) {
    const repeated = notOnce(req.query, ['status', 'acknowledged', 'severity', 'device', 'since', 'limit']);
    if (repeated !== undefined) return onceError(repeated, headers);
    const f = parseFilter(req.query);
    if (!f.ok) return error(400, 'bad_request', f.message, headers, { field: f.field });
    const all = hosts.flatMap((h) => h.list(f.filter, scope));
    all.sort((x, y) => y.opened_at - x.opened_at);
    return { status: 200, headers, body: all.slice(0, f.filter.limit) };
  }

  const id = parts[1];
  if (!ID_RE.test(id))
    return error(400, 'bad_request', 'alert id must be 1 to 64 letters, digits, - or _', headers, { field: 'id' });
  // an alert of another tenant is "not found", never "forbidden": its id must not tell that it exists
  const host = hosts.find((h) => {
    const a = h.get(id);
    return a !== undefined && inScope(scope, a.tenant);
  });

  if (parts.length === 2) {
    if (!host) return error(404, 'not_found', `no alert ${id}`, headers);
    return { status: 200, headers, body: host.get(id) };
  }

  const action = parts[2];
  if (action !== 'ack' && action !== 'resolve') return error(404, 'not_found', `no route ${path}`, headers);
  const body: ReturnType<typeof parseActionBody> = req.bodyTooLarge
    ? { ok: false, status: 413, message: `body larger than ${MAX_BODY_BYTES} bytes` }
    : parseActionBody(req.body);
  if (!body.ok)
    return error(
      body.status,
      body.status === 413 ? 'too_large' : 'bad_request',
      body.message,
      headers,
      body.field !== undefined ? { field: body.field } : {}
    );
  if (!host) return error(404, 'not_found', `no alert ${id}`, headers);
  const r = action === 'ack' ? host.acknowledge(id, body.by, body.note) : host.resolve(id, body.by, body.note);
  if (!r.ok) {
    if (r.error === 'not_found') return error(404, 'not_found', `no alert ${id}`, headers);
    // another instance's alert while Redis, the way to it, is down: it exists, so not a 404 (cluster round
    // 2026-12-07: the list showed it while its ack answered "no alert")
    if (r.error === 'owner_unreachable')
      return error(
        503,
        'owner_unreachable',
        `alert ${id} belongs to instance ${r.owner ?? 'another instance'}, and Redis, through which its actions reach it, is down: try again once Redis is back, or on that instance`,
        headers
      );
    return error(
      409,
      r.error!,
      r.error === 'already_resolved' ? 'alert is already resolved' : 'alert is already acknowledged',
      headers,
      { alert: r.alert }
    );
  }
  return { status: 200, headers, body: r.alert };
}

/**
 * Which tenants the (already authorized) caller may see: null for the admin token or an open API, else
 * the tenants whose tokens match.
 */
export function callerScope(
  h: ApiRequest['headers'],
  adminTokens: string[],
  tenantTokens: ReadonlyArray<{ tenant: string; token: string }>
): TenantScope {
  if (!tenantTokens.length) return null;
  const given = bearerToken(h);
  if (given === undefined) return null; // only reachable on an open API
  if (adminTokens.length && anyTokenMatches(given, adminTokens)) return null;
  const scope = new Set<string>();
  for (const t of tenantTokens) if (tokenMatches(given, t.token)) scope.add(t.tenant);
  return scope; // empty (sees nothing) if somehow none matched: fail closed
}

/** The JSON error shape for failures outside the handler (adapter errors, body stream errors). */
/**
 * A POST that changed something (ack, resolve, mute, unmute) is answered only once the hosts' state is durable,
 * as a message is acknowledged only once its change is: an operator who saw 200 must not lose the ack to a
 * power cut. When a host could not make it durable the answer is 503 `not_saved` — the change is made in memory
 * and written with the next successful save, but the caller is told it is not on disk yet.
 */
export async function awaitDurable(hosts: ApiHost[], method: string, out: ApiResponse): Promise<ApiResponse> {
  if (method !== 'POST' || out.status < 200 || out.status >= 300) return out;
  const errors = (await Promise.all(hosts.map((h) => h.durable?.()))).filter((e): e is Error => e !== undefined);
  if (!errors.length) return out;
  return error(503, 'not_saved', `done, but not saved to disk yet: ${errors[0].message}`, out.headers);
}

export function apiError(status: number, code: string, message: string): ApiResponse {
  return error(status, code, message, { 'Cache-Control': 'no-store' });
}
