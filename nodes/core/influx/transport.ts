// The InfluxDB write endpoints: one HTTP request per batch, its promise settled by the server's answer, so
// a 2xx is exactly the acknowledgement of that batch, which the spool needs. (@influxdata/influxdb-client's
// WriteApi keeps its own memory-only retry buffer that re-batches, merges and after maxRetryTime drops lines,
// so "which points did the server acknowledge" is not observable there; its bare transport was what we used
// until a request's own CPU cost mattered: see http-post.ts.)
//
// Two APIs, same line protocol and same answers (204 on success, 400 for a bad point, 401/403 auth, 404
// unknown database/bucket, 429/5xx overload), so the writer's batching, spool and retry rules do not care:
// - v2: POST /api/v2/write?org&bucket&precision with `Authorization: Token` (InfluxDB 2.x, 3.x, VictoriaMetrics);
// - v1: POST /write?db&rp&precision (InfluxDB 1.x, and the v1 compatibility API of 2.x/3.x) with a
//   username/password (sent as HTTP Basic auth, never in the URL, which ends up in logs) or a token.
import { HttpError, HttpPoster, headerProblem, type PostAnswer } from './http-post';
import type { Precision } from './line-protocol';
import type { WriteBodyFn } from './writer';

export type InfluxApi = 'v2' | 'v1';
export const INFLUX_APIS: readonly InfluxApi[] = ['v2', 'v1'];

export interface InfluxConnection {
  url: string;
  /** which write API (default v2) */
  api?: InfluxApi;
  /** v2: organisation */
  org: string;
  /** v2: bucket */
  bucket: string;
  /** v1: database */
  database?: string;
  /** v1: retention policy (empty: the database's default) */
  retentionPolicy?: string;
  /** v1: user name; with password sent as HTTP Basic auth */
  username?: string;
  password?: string;
  precision: Precision;
  /** v2: API token; v1: used when no username is set (`Authorization: Token`, InfluxDB 1.8+/2.x/3.x) */
  token?: string;
  /** per-request timeout, ms (default 10000) */
  timeoutMs?: number;
  /** bodies larger than this many bytes are gzipped (default 1000, as the client's WriteApi; Infinity: never) */
  gzipThreshold?: number;
  /**
   * also name the bucket as `db` in the query: VictoriaMetrics ignores `bucket` and keeps the points of each
   * `db` apart under a `db` label, which is how a tenant's bucket stays its own there (docs/tenants.md)
   */
  bucketAsDb?: boolean;
}

/** When write bodies are gzipped: `auto` (default) as `always`, except to a database on this machine. */
export type Compression = 'auto' | 'always' | 'never';
export const COMPRESSIONS: readonly Compression[] = ['auto', 'always', 'never'];
/** the client's WriteApi default: bodies above 1 KB are gzipped */
export const GZIP_ABOVE_BYTES = 1000;

/** Whether the URL's host is this machine (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The gzip threshold for a connection (bodies larger than this are gzipped). Compressing saves bytes on a
 * network link and costs CPU at both ends (2–3 % of the pipeline's CPU in docs/benchmarks.md's profile);
 * to a database on the same machine no link is short of bytes, so `auto` sends those bodies as they are.
 */
export function gzipThresholdFor(compression: Compression, url: string): number {
  if (compression === 'never' || (compression === 'auto' && isLoopbackUrl(url))) return Infinity;
  return GZIP_ABOVE_BYTES;
}

/** The v1 API's spelling of a precision (`u`, `n` rather than `us`, `ns`). */
const V1_PRECISION: Record<Precision, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

/** Path and query of the write request for a connection. */
export function writePath(conn: InfluxConnection): string {
  if (conn.api === 'v1') {
    const q = [`db=${encodeURIComponent(conn.database ?? '')}`];
    if (conn.retentionPolicy) q.push(`rp=${encodeURIComponent(conn.retentionPolicy)}`);
    q.push(`precision=${V1_PRECISION[conn.precision]}`);
    return `/write?${q.join('&')}`;
  }
  return `/api/v2/write?org=${encodeURIComponent(conn.org)}&bucket=${encodeURIComponent(conn.bucket)}&precision=${conn.precision}${conn.bucketAsDb ? `&db=${encodeURIComponent(conn.bucket)}` : ''}`;
}

/** What is missing for this connection to be able to write at all, or null. */
export function connectionProblem(conn: InfluxConnection): string | null {
  if (!/^https?:\/\//.test(conn.url)) return `InfluxDB URL "${conn.url}" is not http(s)://`;
  try {
    new URL(conn.url);
  } catch {
    return `InfluxDB URL "${conn.url}" is not a URL`;
  }
  // a line break in a credential would end its header line and start one of its own
  if (headerProblem(writeHeaders(conn)))
    return 'InfluxDB credentials: the token, user name or password holds a line break';
  if (conn.api === 'v1') return conn.database ? null : 'InfluxDB database not set (v1 API)';
  return conn.bucket ? null : 'InfluxDB bucket not set';
}

/** The header lines of a connection's write requests: content type and credentials. */
function writeHeaders(conn: InfluxConnection): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
  // v1 with a user name: HTTP Basic auth, and no `Authorization: Token` beside it
  if (conn.api === 'v1' && conn.username)
    headers.Authorization = `Basic ${Buffer.from(`${conn.username}:${conn.password ?? ''}`, 'utf8').toString('base64')}`;
  else if (conn.token) headers.Authorization = `Token ${conn.token}`;
  return headers;
}

/** Builds a WriteBodyFn for the connection's write API. */
export function createInfluxSend(conn: InfluxConnection): WriteBodyFn {
  let poster: HttpPoster;
  try {
    poster = new HttpPoster({
      url: conn.url,
      timeoutMs: conn.timeoutMs ?? 10000,
      headers: writeHeaders(conn),
      gzipThreshold: conn.gzipThreshold ?? GZIP_ABOVE_BYTES,
    });
  } catch (err) {
    // not a URL, or a credential that cannot be sent (connectionProblem names it): every write fails with it
    const fail: WriteBodyFn = () => Promise.reject(err);
    fail.lines = () => Promise.reject(err);
    return fail;
  }
  const path = writePath(conn);
  // any 2xx is the acknowledgement (InfluxDB answers 204; some proxies 200); anything else is refused
  const answered = (r: PostAnswer) => {
    if (r.status < 200 || r.status >= 300) throw new HttpError(r.status, r.statusMessage, r.body, r.headers);
  };
  const send: WriteBodyFn = (body: string) => poster.post(path, body).then(answered);
  // The writer's path: the body of many lines as bytes made from pieces (linesBody); the same request.
  send.lines = (lines: readonly string[]) => poster.post(path, linesBody(lines)).then(answered);
  return send;
}

/** Lines per piece of a body: a piece of ordinary lines (≲ 300 characters) stays below 128 KB. */
const PIECE_LINES = 256;

/**
 * The bytes of `lines.join('\n')` in UTF-8, made without that string: a request of a thousand lines is a
 * string of ~250 KB, which V8 allocates fresh in its large-object space for every request, and joining into
 * it cost 1.6–2.3 µs per line in the pipeline, where pieces of 256 lines joined and written into one buffer
 * cost a fraction of that (docs/benchmarks.md, "Eighth round"). The pieces meet at a `\n`, so no surrogate
 * pair is split and the bytes are exactly those of the joined string. Up to 256 lines: the joined string.
 */
export function linesBody(lines: readonly string[]): string | Buffer {
  if (lines.length <= PIECE_LINES) return lines.join('\n');
  const pieces: string[] = [];
  let bytes = -1;
  for (let i = 0; i < lines.length; i += PIECE_LINES) {
    const piece = lines.slice(i, i + PIECE_LINES).join('\n');
    pieces.push(piece);
    bytes += Buffer.byteLength(piece, 'utf8') + 1;
  }
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    if (i > 0) body[at++] = 0x0a;
    at += body.write(pieces[i], at, 'utf8');
  }
  return body;
}
