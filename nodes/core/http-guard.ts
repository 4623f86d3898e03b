// Pure request checks shared by the alert API, /moby/metrics and the admin (editor) guard of `npm start`:
// which origin a browser request comes from, whether that origin may act, which CORS headers it may
// see, a failed-auth limiter, bearer-token parsing and URL redaction for logs. No Node-RED, no Express:
// the adapters pass header maps in and copy the decisions out.
import { createHash, timingSafeEqual } from 'node:crypto';
import { BoundedMap } from './bounded-map';

export type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** "scheme://host[:port]" in lower case with the default port dropped, or null when `url` is not http(s). */
export function originOf(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  return `${u.protocol}//${u.host}`.toLowerCase();
}

/**
 * The origin a browser says a request comes from: the Origin header, else the origin of the Referer.
 * Browsers send Origin on every cross-origin fetch/XHR and on every form POST; "null" (sandboxed frames,
 * file: pages, some redirects) is kept as the literal "null" so it counts as foreign. Undefined means the
 * request carries neither header (curl, Prometheus, server-to-server calls): not a browser page acting.
 */
export function requestOrigin(h: Headers): string | undefined {
  const origin = header(h, 'origin');
  if (origin !== undefined && origin !== '') {
    if (origin === 'null') return 'null';
    return originOf(origin) ?? 'null';
  }
  const referer = header(h, 'referer');
  if (referer) return originOf(referer) ?? 'null';
  return undefined;
}

/** The origins this server is reached as, from the Host header (the browser sets it to the target). */
export function ownOrigins(h: Headers): string[] {
  const host = header(h, 'host');
  if (!host) return [];
  return [`http://${host}`.toLowerCase(), `https://${host}`.toLowerCase()];
}

/** Normalises an allow-list entry ("http://grafana:3000/" → "http://grafana:3000"); '*' stays '*'. */
export function normaliseOrigin(entry: string): string | null {
  const s = entry.trim();
  if (s === '*') return '*';
  return originOf(s);
}

export function parseOriginList(list: string | string[] | undefined): string[] {
  const items = Array.isArray(list) ? list : typeof list === 'string' ? list.split(',') : [];
  const out: string[] = [];
  for (const item of items) {
    const o = normaliseOrigin(item);
    if (o && !out.includes(o)) out.push(o);
  }
  return out;
}

export type OriginVerdict = 'none' | 'same' | 'allowed' | 'foreign';

/**
 * Classifies the origin of a request: 'none' (no Origin/Referer: not a browser page, or one the user opened
 * by hand), 'same' (the page was served by this host), 'allowed' (listed exactly; '*' does not count, a
 * wildcard never lets a page change state) or 'foreign'.
 *
 * A page can hide its origin: `referrerpolicy="no-referrer"` on a frame or image, `rel="noreferrer"` on a
 * link, and no Origin is sent on a GET. The browser still says whether the request crosses sites
 * (`Sec-Fetch-Site`, Fetch Metadata: Chromium, Firefox, Safari): `cross-site`, or `same-site` (another port or
 * subdomain of this host: another origin), without Origin or Referer, is a page of another origin hiding
 * itself, so it is foreign. Before (red-team round, 2026-12-05) such a page framed the logged-in editor, Deploy
 * button and all, and had Node-RED log a stack trace per image request. `none` (typed URL, bookmark) and
 * `same-origin` stay what they were.
 */
export function classifyOrigin(h: Headers, allowed: string[]): OriginVerdict {
  const origin = requestOrigin(h);
  if (origin === undefined) {
    const site = header(h, 'sec-fetch-site');
    return site === 'cross-site' || site === 'same-site' ? 'foreign' : 'none';
  }
  if (origin !== 'null' && ownOrigins(h).includes(origin)) return 'same';
  if (origin !== 'null' && allowed.includes(origin)) return 'allowed';
  return 'foreign';
}

/**
 * CORS response headers for a request from `origin` (the raw Origin header). Only exactly listed origins
 * get them, echoed (never '*'), with POST; a '*' entry lets any origin read with GET but never POST, so
 * a wildcard cannot turn into a cross-site state change. Non-listed origins get nothing at all.
 */
export function corsHeaders(originHeader: string | undefined, allowed: string[]): Record<string, string> {
  if (!originHeader || originHeader === 'null') return {};
  const origin = originOf(originHeader);
  if (!origin) return {};
  const exact = allowed.includes(origin);
  if (!exact && !allowed.includes('*')) return {};
  return {
    'Access-Control-Allow-Origin': originHeader,
    Vary: 'Origin',
    'Access-Control-Allow-Methods': exact ? 'GET, POST, OPTIONS' : 'GET, OPTIONS',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Max-Age': '600',
  };
}

/** True for application/json (any parameters, e.g. charset); HTML forms can only send three other types. */
export function isJsonContentType(value: string | string[] | undefined): boolean {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return false;
  return v.split(';')[0].trim().toLowerCase() === 'application/json';
}

/**
 * Whether a request announces a body (chunked, or a Content-Length above 0). A route that answers without
 * reading one must close the connection after its answer: otherwise Node reads and discards the body to
 * keep the connection, for as long as the client sends (red-team round, 2026-12-05: 160 MB in 8 s on a GET).
 */
export function carriesBody(h: Headers): boolean {
  if (header(h, 'transfer-encoding') !== undefined) return true;
  const n = Number(header(h, 'content-length'));
  return Number.isFinite(n) && n > 0;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

const HASHED = /^sha256:([0-9a-f]{64})$/;

/** "sha256:<hex>" of a token: what `npm start` stores and hands to Node-RED instead of the token itself. */
export function hashToken(token: string): string {
  return `sha256:${digest(token).toString('hex')}`;
}

/**
 * Compares secrets in constant time (hashing first makes unequal lengths safe to compare). `expected`
 * may be the token or its "sha256:<hex>" form, so a server can hold only the hash of a random token.
 */
export function tokenMatches(given: string, expected: string): boolean {
  const m = HASHED.exec(expected);
  return timingSafeEqual(digest(given), m ? Buffer.from(m[1], 'hex') : digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(h: Headers): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header(h, 'authorization') ?? '');
  return m ? m[1] : undefined;
}

/** True when `given` equals one of `tokens`; all are compared so the time taken does not tell which. */
export function anyTokenMatches(given: string | undefined, tokens: string[]): boolean {
  let ok = false;
  for (const t of tokens) if (given !== undefined && tokenMatches(given, t)) ok = true;
  return ok;
}

export interface FailureLimiterOptions {
  /** failed attempts allowed per key within `windowMs` */
  max?: number;
  windowMs?: number;
  /** keys remembered at most (oldest forgotten first), so a spray of addresses cannot grow memory */
  maxKeys?: number;
  /** how long a token that worked from an address stays proven there (default 24 h) */
  provenMs?: number;
  /**
   * Called once when a client reaches `max` failures and is locked (its address, and the seconds the lock lasts):
   * the locks of a guessing attack were in no log (verification round 2026-12-07)
   */
  onLock?: (client: string, seconds: number) => void;
  now?: () => number;
}

/**
 * Counts failed authentications per client (address) in a fixed window. Once a client reaches `max`
 * failures it is refused (429) until the window ends — except with a token already proven from that address.
 *
 * Why the exception: clients often share an address (every tenant's data source behind one Grafana's proxy,
 * Prometheus and curl on the same host), and one of them sending 20 wrong tokens a minute — a tenant's token
 * where only the admin token is taken, a typo, on purpose — kept every other one out for as long as it went on
 * (red-team round 2026-12-05). A token that authenticated from an address before keeps working there: its
 * owner has it already, so nothing is guessed. Only the first `max` distinct tokens presented while locked are
 * looked up among the proven ones (provenWhileLocked), so guessing stays at `max` a window, and `max` more while
 * the lock lasts.
 */
export class FailureLimiter {
  private readonly max: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly provenMs: number;
  private readonly now: () => number;
  private readonly onLock?: (client: string, seconds: number) => void;
  /** per client: its window's start and failures, and the digests of the distinct tokens tried while it was locked */
  private readonly hits: BoundedMap<string, { start: number; count: number; triedLocked?: Set<string> }>;
  /** `client NUL sha256(token)` → when it last authenticated (insertion order = least recently first) */
  private readonly proven: BoundedMap<string, number>;

  constructor(o: FailureLimiterOptions = {}) {
    this.max = o.max ?? 20;
    this.windowMs = o.windowMs ?? 60000;
    this.maxKeys = o.maxKeys ?? 10000;
    this.provenMs = o.provenMs ?? 24 * 3600 * 1000;
    this.hits = new BoundedMap(this.maxKeys);
    this.proven = new BoundedMap(this.maxKeys);
    this.now = o.now ?? Date.now;
    this.onLock = o.onLock;
  }

  /** `token` authenticated from `client` now. */
  succeeded(client: string, token: string): void {
    const key = provenKey(client, token);
    this.proven.delete(key);
    this.proven.set(key, this.now());
  }

  /** Whether `token` authenticated from `client` within `provenMs` (it may still have been revoked since). */
  isProven(client: string, token: string): boolean {
    const key = provenKey(client, token);
    const at = this.proven.get(key);
    if (at === undefined) return false;
    if (this.now() - at > this.provenMs) {
      this.proven.delete(key);
      return false;
    }
    return true;
  }

  /**
   * Whether `token` passes `client`'s lock: it authenticated from that address before (isProven), and it is one of
   * the first `max` distinct tokens presented there while the lock lasts. Without that bound the lock was an oracle:
   * a wrong token was answered 429 and the proven one 200, both at the cost of a hash lookup, so a locked address
   * tested ~1,500 passwords a second against the one that had logged in from it (red-team round 2026-12-07). Now
   * a lock allows `max` more distinct tries per window, right or wrong, and then none until the window ends;
   * a client presenting its one token again and again (Prometheus, a Grafana data source) spends one.
   */
  provenWhileLocked(client: string, token: string): boolean {
    const e = this.hits.get(client);
    if (e) {
      const d = digest(token).toString('base64');
      const tried = (e.triedLocked ??= new Set());
      if (!tried.has(d)) {
        if (tried.size >= this.max) return false;
        tried.add(d);
      }
    }
    return this.isProven(client, token);
  }

  /** Seconds until `key` may try again, 0 when it may try now. */
  retryAfter(key: string): number {
    const e = this.hits.get(key);
    if (!e) return 0;
    const left = e.start + this.windowMs - this.now();
    if (left <= 0) {
      this.hits.delete(key);
      return 0;
    }
    return e.count >= this.max ? Math.ceil(left / 1000) : 0;
  }

  fail(key: string): void {
    const t = this.now();
    let e = this.hits.get(key);
    if (e && t - e.start < this.windowMs) e.count++;
    else {
      this.hits.delete(key);
      this.hits.set(key, (e = { start: t, count: 1 }));
    }
    if (e.count === this.max) this.onLock?.(key, Math.ceil((e.start + this.windowMs - t) / 1000));
  }

  size(): number {
    return this.hits.size;
  }
}

function provenKey(client: string, token: string): string {
  return `${client}\0${digest(token).toString('base64')}`;
}

/**
 * A URL (or any text holding URLs) safe to log: the password of `scheme://user:password@host` becomes
 * "***", and query parameters whose name suggests a secret (token, password, key, secret…) too.
 */
export function redactUrl(text: string): string {
  return String(text)
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@\s/]*@/gi, '$1:***@')
    .replace(/([?&][^=&#\s]*(?:token|pass|pwd|secret|key|auth)[^=&#\s]*=)[^&#\s]*/gi, '$1***');
}

export type AuthResult =
  { ok: true } | { ok: false; status: 401 | 403 | 429; code: string; message: string; headers: Record<string, string> };

/**
 * The bearer-token check every MOBY HTTP route shares. `tokens` empty means nothing was configured: the
 * request is refused (secure by default) unless `open` says the deployer chose an open API on purpose.
 * Failures — wrong bearer tokens; a request without one is refused but not counted — are counted per
 * `client` (the remote address); a client over the limit gets 429 and its token is not even compared, unless
 * that token authenticated from the same client before (FailureLimiter). `otherTokens` are valid elsewhere
 * but not here (a tenant's token on /moby/metrics): refused 403, not counted as a guess.
 */
export function authorize(
  h: Headers,
  tokens: string[],
  o: { open?: boolean; client?: string; limiter?: FailureLimiter; otherTokens?: string[] } = {}
): AuthResult {
  if (!tokens.length) {
    if (o.open) return { ok: true };
    return {
      ok: false,
      status: 401,
      code: 'unauthorized',
      message: "no API token is configured on the server: set one (MOBY_API_TOKEN, or the moby-alert node's API token)",
      headers: { 'WWW-Authenticate': 'Bearer realm="moby"' },
    };
  }
  const client = o.client ?? '';
  const given = bearerToken(h);
  const wait = o.limiter ? o.limiter.retryAfter(client) : 0;
  if (
    wait > 0 &&
    !(given !== undefined && o.limiter!.provenWhileLocked(client, given) && anyTokenMatches(given, tokens))
  )
    return {
      ok: false,
      status: 429,
      code: 'too_many_requests',
      message: `too many failed authentications; retry in ${wait} s`,
      headers: { 'Retry-After': String(wait) },
    };
  if (anyTokenMatches(given, tokens)) {
    if (given !== undefined) o.limiter?.succeeded(client, given);
    return { ok: true };
  }
  if (o.otherTokens?.length && anyTokenMatches(given, o.otherTokens))
    return {
      ok: false,
      status: 403,
      code: 'forbidden',
      message: 'this token is not allowed here (a tenant token reads only its alert API)',
      headers: {},
    };
  // Only a presented token is a guess. A request without one is what any web page can make the operator's
  // browser send cross-site (an <img>, a no-cors fetch: neither can carry an Authorization header); counting
  // it would let that page lock the legitimate clients of the same address — Prometheus, Grafana, the
  // operator's own curl on 127.0.0.1 — out of the API for as long as it keeps sending.
  if (given !== undefined) o.limiter?.fail(client);
  return {
    ok: false,
    status: 401,
    code: 'unauthorized',
    message: 'missing or wrong bearer token',
    headers: { 'WWW-Authenticate': 'Bearer realm="moby"' },
  };
}

/** Host name of a Host header ("[::1]:1880" → "::1", "Localhost:1880" → "localhost"). */
export function hostName(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader) ?? /^([^:]+)(?::\d+)?$/.exec(hostHeader);
  return m ? m[1].toLowerCase() : undefined;
}

/** The names a server bound to loopback is legitimately reached as (anything else is DNS rebinding). */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** What the host check of a server needs to know about the machine it runs on (os.hostname(), os.networkInterfaces()). */
export interface MachineNames {
  hostname: string;
  /** every address of the machine's interfaces, IPv4 and IPv6 */
  addresses: string[];
}

/**
 * The host names the editor and the alert API answer to (hostVerdict). Bound to loopback: the loopback names and
 * `extra` (MOBY_ALLOWED_HOSTS). Bound to another address (MOBY_HOST=0.0.0.0 or a LAN address), until 2026-12-07
 * the list was `extra` alone and, left empty, switched the DNS-rebinding guard off without a word (red-team round:
 * a rebound page then used the login from the operator's browser). Now the machine's own names count too: its
 * host name (and its first label), every address of its interfaces, and the loopback names. A rebinding page
 * reaches the server under the attacker's name, never under one of those, so none of them lets it in; a DNS
 * name of the machine (plant-moby.example) still has to be listed in `extra`.
 */
export function allowedHostNames(bindHost: string, extra: string[], machine: MachineNames): string[] {
  const names = new Set<string>([...LOOPBACK_HOSTS, ...extra.map((h) => h.trim().toLowerCase()).filter(Boolean)]);
  const bind = bindHost.trim().toLowerCase();
  if (LOOPBACK_HOSTS.includes(bind)) return [...names];
  const hostname = machine.hostname.trim().toLowerCase();
  if (hostname) {
    names.add(hostname);
    names.add(hostname.split('.')[0]);
  }
  // an IPv6 address with a zone (fe80::1%eth0) is sent without it in a Host header
  for (const a of machine.addresses) names.add(a.toLowerCase().replace(/%.*$/, ''));
  if (bind && bind !== '0.0.0.0' && bind !== '::') names.add(bind.replace(/^\[|\]$/g, ''));
  return [...names];
}

export type GuardVerdict = { ok: true } | { ok: false; status: 403 | 421; code: string; message: string };

/**
 * Decides whether a request may reach the Node-RED editor and admin API (npm start's guard, also usable
 * as `httpAdminMiddleware`). A page on another origin is refused whatever it asks (reading /flows is as
 * bad as deploying), so no foreign page ever gets an answer, CORS headers or not. `allowedHosts` (when
 * not empty) refuses Host names the server is not known as, which defeats DNS rebinding: a foreign page
 * whose own name resolves to 127.0.0.1 is "same-origin" by the Origin check, but not by its Host.
 */
export function adminVerdict(h: Headers, o: { allowedOrigins?: string[]; allowedHosts?: string[] } = {}): GuardVerdict {
  const host = hostVerdict(h, o.allowedHosts ?? []);
  if (!host.ok) return host;
  if (classifyOrigin(h, o.allowedOrigins ?? []) === 'foreign')
    return { ok: false, status: 403, code: 'forbidden_origin', message: 'requests from other web origins are refused' };
  return { ok: true };
}

/**
 * The DNS-rebinding half of the guard alone: `421` for a Host name not in `allowedHosts` (empty: not
 * checked). `npm start` applies it to the alert API and `/moby/metrics` as well as to the editor: a rebound
 * page is same-origin to the browser, so it could otherwise send wrong tokens (and read any answer).
 */
export function hostVerdict(h: Headers, allowedHosts: string[]): GuardVerdict {
  if (!allowedHosts.length) return { ok: true };
  const name = hostName(header(h, 'host'));
  if (name && allowedHosts.includes(name)) return { ok: true };
  return {
    ok: false,
    status: 421,
    code: 'host_not_allowed',
    message: 'this server is not reached under that host name',
  };
}
