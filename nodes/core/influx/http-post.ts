// A small HTTP/1.1 client for one thing: POSTing write bodies to one database, over connections kept open.
//
// Why not `http.request` (or @influxdata/influxdb-client's transport around it): a write request cost ~75–110
// µs of the client's CPU through that transport and ~55–80 µs through `http.request` alone, whatever the body,
// against ~30–40 µs with a request head written by hand on a kept-open socket (docs/benchmarks.md, sixteenth
// round). In the saturated pipeline a request carries hundreds of points and that cost vanishes, but a paced
// stream is written in small group commits, often one message per request, where the request is a third of
// what the message costs. What the writer needs is narrow: one POST, a status, the headers and a short body on
// refusal, the same errors as before (`HttpError` keeps the fields `classifyFailure` reads), a timeout.
//
// Rules of the wire kept here, so nothing else has to know them:
// - a response is framed by `Content-Length`, by chunked transfer coding, or (neither) by the server closing;
//   1xx heads are skipped; 204 and 304 carry no body;
// - a connection is reused only when the response was framed and neither side said `Connection: close`;
// - a request that fails on a reused connection before a byte of its answer came (the server closed an idle
//   connection as we wrote) goes once more on a new connection: a write of line protocol with timestamps
//   is idempotent, the same points overwrite themselves;
// - heads above 64 KB and bodies above 1 MB (as sent, chunk coding included) are cut and that connection closed:
//   a misbehaving server cannot grow our memory.
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { parseRetryAfter } from '../retry';

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 1024 * 1024;
/** idle connections close after this long: below the usual keep-alive timeouts of servers and proxies (5 s and up) */
export const IDLE_CLOSE_MS = 4000;

/** A refusal: a status ≥ 300. Same fields as @influxdata/influxdb-client's HttpError, which `classifyFailure` reads. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  /** the body parsed, when the server said it is JSON */
  json?: { message?: unknown; error?: unknown; code?: unknown; data?: unknown };
  code?: string;
  constructor(
    readonly statusCode: number,
    readonly statusMessage: string,
    readonly body: string,
    readonly headers: Readonly<Record<string, string>>
  ) {
    super();
    if ((headers['content-type'] ?? '').startsWith('application/json')) {
      try {
        this.json = JSON.parse(body) as HttpError['json'];
        if (typeof this.json?.message === 'string') this.message = this.json.message;
        if (typeof this.json?.code === 'string') this.code = this.json.code;
      } catch {
        // not JSON after all: the text below
      }
    }
    if (!this.message)
      this.message = body ? `${statusCode} ${statusMessage} : ${body}` : `${statusCode} ${statusMessage}`;
  }
  /** seconds the server asked us to wait (Retry-After, as seconds or an HTTP date), 0 when it did not */
  retryAfter(): number {
    const ms = parseRetryAfter(this.headers['retry-after']);
    return ms === undefined ? 0 : Math.ceil(ms / 1000);
  }
}

/** No byte for `timeoutMs` while a request was out. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimedOutError';
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`request timed out: no answer for ${ms} ms`);
  }
}

export interface PostTarget {
  /** http:// or https://, with an optional path prefix (a database behind a reverse proxy) */
  url: string;
  /** inactivity allowed while a request is out (connect included), ms */
  timeoutMs: number;
  /** header lines sent with every request (content type, authorization), values without CR or LF */
  headers: Readonly<Record<string, string>>;
  /** bodies longer than this many bytes are gzipped (Infinity: never) */
  gzipThreshold: number;
  /** for https: extra TLS options (a private CA); the system's CAs and NODE_EXTRA_CA_CERTS otherwise */
  tls?: tls.ConnectionOptions;
}

export interface PostAnswer {
  status: number;
  statusMessage: string;
  headers: Record<string, string>;
  body: string;
}

/** Why a header value cannot be sent, or null: a CR, LF or NUL would end the line and start a header of its own. */
export function headerProblem(headers: Readonly<Record<string, string>>): string | null {
  for (const [name, value] of Object.entries(headers))
    if (/[\r\n\0]/.test(value)) return `the ${name} header holds a line break`;
  return null;
}

type Settle = { resolve: (r: PostAnswer) => void; reject: (e: Error) => void };

/** A request out on a connection: what to send again if it may go once more, and whether its answer has begun. */
interface Outstanding extends Settle {
  head: string;
  body: string | Buffer;
  /** sent on a reused connection, first try: it may go once more if nothing of its answer comes (file's head) */
  mayRetry: boolean;
  gotBytes: boolean;
}

/** One TCP (or TLS) connection and the response being read on it. */
class Connection {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** somebody waits for an answer on this connection */
  private waiting: Outstanding | null = null;
  /** a chunked body being read */
  private chunked: ChunkState | null = null;
  closed = false;
  /** requests answered on it so far */
  used = 0;

  constructor(
    private readonly pool: HttpPoster,
    socket: net.Socket
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('timeout', () => {
      if (this.waiting) this.fail(new RequestTimeoutError(this.pool.timeoutMs));
      else socket.destroy(); // idle too long
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      // the server closed: a close-delimited body ends here; anything else is a connection lost mid-answer
      if (this.waiting) this.parse(true);
    });
  }

  send(request: Outstanding): void {
    const { head, body } = request;
    this.waiting = request;
    this.socket.ref();
    this.socket.setTimeout(this.pool.timeoutMs);
    if (typeof body === 'string') this.socket.write(head + body);
    else {
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body);
      this.socket.uncork();
    }
  }

  private onData(d: Buffer): void {
    if (!this.waiting) {
      this.socket.destroy(); // bytes nobody asked for: this connection is out of step
      return;
    }
    this.waiting.gotBytes = true;
    this.chunks.push(d);
    this.bytes += d.length;
    this.parse(false);
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = null;
    this.chunks = [];
    this.bytes = 0;
    this.chunked = null;
    this.closed = true;
    this.socket.destroy();
    if (w) this.pool.failed(w, err);
  }

  /** Reads a whole response from what arrived, if it is all there; `ended`: the server closed the connection. */
  private parse(ended: boolean): void {
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bytes);
    this.chunks = [buf];
    let headEnd = buf.indexOf('\r\n\r\n');
    let start = 0;
    // 1xx answers (100 Continue, 103 Early Hints) come before the real one: skip their heads
    while (headEnd >= 0 && buf[start + 9] === 0x31 /* '1' */) {
      start = headEnd + 4;
      headEnd = buf.indexOf('\r\n\r\n', start);
    }
    if (headEnd < 0) {
      if (buf.length - start > MAX_HEAD_BYTES) return this.fail(new Error(`answer head over ${MAX_HEAD_BYTES} bytes`));
      if (ended) this.fail(new Error(buf.length ? 'connection closed mid-answer' : 'socket hang up'));
      return;
    }
    const lines = buf.toString('latin1', start, headEnd).split('\r\n');
    const m = /^HTTP\/1\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) return this.fail(new Error(`not an HTTP/1.x answer: ${JSON.stringify(lines[0].slice(0, 80))}`));
    const status = Number(m[2]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      if (colon <= 0) continue;
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const connection = (headers.connection ?? '').toLowerCase();
    let reusable = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    const bodyStart = headEnd + 4;
    let body: Buffer;
    let complete: boolean;
    let cut = false;
    if (status === 204 || status === 304) {
      body = buf.subarray(bodyStart, bodyStart);
      complete = true;
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const st = (this.chunked ??= { at: bodyStart, parts: [], size: 0 });
      const r = dechunk(buf, st);
      if (r === 'bad') return this.fail(new Error('malformed chunked answer'));
      complete = r.complete;
      // cut when the coding's bytes reach the cap (the body inside is then at most that, less with small chunks)
      if (!complete && buf.length - bodyStart > MAX_BODY_BYTES) cut = true;
      // joined only once the answer is whole or cut, not at every packet
      body = complete || cut ? Buffer.concat(r.partial ? [...st.parts, r.partial] : st.parts) : buf.subarray(0, 0);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (!Number.isSafeInteger(len) || len < 0) return this.fail(new Error('bad Content-Length in the answer'));
      complete = buf.length - bodyStart >= len;
      body = buf.subarray(bodyStart, bodyStart + Math.min(len, MAX_BODY_BYTES));
      if (!complete && len > MAX_BODY_BYTES && buf.length - bodyStart >= MAX_BODY_BYTES) cut = true;
    } else {
      // neither: the body runs until the server closes
      reusable = false;
      complete = ended;
      body = buf.subarray(bodyStart);
      if (!ended && body.length > MAX_BODY_BYTES) cut = true;
    }
    if (!complete && !cut) {
      if (ended) this.fail(new Error('connection closed mid-answer'));
      return;
    }
    if (cut) {
      reusable = false;
      body = body.subarray(0, MAX_BODY_BYTES);
    }
    const w = this.waiting!;
    this.waiting = null;
    this.chunks = [];
    this.bytes = 0;
    this.chunked = null;
    this.used++;
    if (reusable && !ended) this.pool.release(this);
    else {
      this.closed = true;
      this.socket.destroy();
    }
    w.resolve({ status, statusMessage: m[3] ?? '', headers, body: body.toString('utf8') });
  }
}

/** How far a chunked body has been read: the next chunk's offset in the answer's bytes, and the body so far. */
interface ChunkState {
  at: number;
  parts: Buffer[];
  size: number;
}

/**
 * Reads the chunks of a chunked answer that have arrived since the last call, from `st.at` on (so an answer
 * of many small chunks is read once, not again at every packet). Keeps at most MAX_BODY_BYTES of the body.
 * Returns whether the last chunk (and the trailers, skipped) came, the part of a chunk still arriving, or
 * 'bad' when it is not chunked coding.
 */
function dechunk(buf: Buffer, st: ChunkState): { complete: boolean; partial: Buffer | null } | 'bad' {
  for (;;) {
    const eol = buf.indexOf('\r\n', st.at);
    if (eol < 0) return buf.length - st.at > 1024 ? 'bad' : { complete: false, partial: null };
    const len = parseInt(buf.toString('latin1', st.at, eol).split(';')[0].trim(), 16);
    if (!Number.isFinite(len) || len < 0) return 'bad';
    // the last chunk: trailer lines (none, usually), then an empty line
    if (len === 0) return { complete: buf.indexOf('\r\n\r\n', eol) >= 0, partial: null };
    if (buf.length < eol + 2 + len + 2) return { complete: false, partial: buf.subarray(eol + 2, eol + 2 + len) };
    const take = Math.min(len, MAX_BODY_BYTES - st.size);
    if (take > 0) {
      st.parts.push(buf.subarray(eol + 2, eol + 2 + take));
      st.size += take;
    }
    st.at = eol + 2 + len + 2;
  }
}

/** POSTs to one server over kept-open connections: one per request in flight, idle ones reused. */
export class HttpPoster {
  readonly timeoutMs: number;
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly prefix: string;
  private readonly headLines: string;
  private readonly gzipThreshold: number;
  private readonly tlsOptions: tls.ConnectionOptions | undefined;
  private idle: Connection[] = [];

  constructor(target: PostTarget) {
    const url = new URL(target.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`URL "${target.url}" is not http(s)://`);
    const bad = headerProblem(target.headers);
    if (bad) throw new Error(bad);
    this.secure = url.protocol === 'https:';
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : this.secure ? 443 : 80;
    // a base URL ending in /api/v2 would double it (the influxdb client strips it the same way)
    this.prefix = url.pathname.replace(/\/+$/, '').replace(/\/api\/v2$/, '');
    this.timeoutMs = target.timeoutMs;
    this.gzipThreshold = target.gzipThreshold;
    this.tlsOptions = target.tls;
    let head = `Host: ${url.host}\r\nUser-Agent: moby-influx-writer\r\n`;
    for (const [name, value] of Object.entries(target.headers)) head += `${name}: ${value}\r\n`;
    this.headLines = head;
  }

  /** POSTs `body` to `path` (after the URL's own path) and resolves with the answer, whatever its status. */
  post(path: string, body: string | Buffer): Promise<PostAnswer> {
    return new Promise<PostAnswer>((resolve, reject) => {
      const bytes = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
      const go = (payload: string | Buffer, gzipped: boolean) => {
        const head =
          `POST ${this.prefix}${path} HTTP/1.1\r\n${this.headLines}` +
          `Content-Length: ${typeof payload === 'string' ? bytes : payload.length}\r\n` +
          (gzipped ? 'Content-Encoding: gzip\r\n\r\n' : '\r\n');
        this.dispatch(head, payload, { resolve, reject }, false);
      };
      if (bytes > this.gzipThreshold) zlib.gzip(body, (err, zipped) => (err ? reject(err) : go(zipped, true)));
      else go(body, false);
    });
  }

  /** Closes every idle connection (one in use closes when its answer is read). */
  close(): void {
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private dispatch(head: string, body: string | Buffer, settle: Settle, retried: boolean): void {
    let conn: Connection | undefined;
    // the second try goes on a new connection: another idle one may have been closed by the server as well
    if (!retried) while ((conn = this.idle.pop()) && conn.closed);
    if (!conn) conn = new Connection(this, this.connect());
    // a reused connection may be one the server has just closed: such a request may go once more (file's head)
    conn.send({ ...settle, head, body, mayRetry: conn.used > 0 && !retried, gotBytes: false });
  }

  /** A request failed: once more on a new connection when nothing of its answer came on a reused one. */
  failed(w: Outstanding, err: Error): void {
    if (w.mayRetry && !w.gotBytes && !(err instanceof RequestTimeoutError))
      this.dispatch(w.head, w.body, { resolve: w.resolve, reject: w.reject }, true);
    else w.reject(err);
  }

  release(conn: Connection): void {
    conn.socket.setTimeout(IDLE_CLOSE_MS);
    conn.socket.unref(); // an idle connection does not keep the process alive
    this.idle.push(conn);
  }

  forget(conn: Connection): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private connect(): net.Socket {
    if (!this.secure) return net.connect({ host: this.host, port: this.port });
    return tls.connect({
      host: this.host,
      port: this.port,
      servername: net.isIP(this.host) ? undefined : this.host,
      ALPNProtocols: ['http/1.1'],
      ...this.tlsOptions,
    });
  }
}
