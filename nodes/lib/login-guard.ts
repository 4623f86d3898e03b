// Express middleware in front of Node-RED's login (POST <admin root>auth/token) for `npm start`
// (scripts/node-red.js). Node-RED reads a login body of up to `apiMaxLength` (5 MB) and keeps every attempt's
// user name in memory for 10 minutes, and after 5 failed attempts for a user name it refuses that user
// everywhere for 10 minutes, the right password included. A red-team client without any password grew
// Node-RED by 1.1 GB with 150 four-megabyte user names (heap exhausted and the process aborted under a
// smaller heap), and six wrong logins for `admin` (the printed default) locked the operator out for as long as
// it sent one more every ~100 s (2026-12-06).
//
// Here a login body is read up to `maxBodyBytes` (4 KiB; a login is a few hundred bytes) and its credentials
// are checked before Node-RED sees them: a failure is answered here, so Node-RED's per-user lock and its list
// of attempts only ever hold right passwords. Failures are counted per remote address instead
// (FailureLimiter: `maxFailures` per `windowMs`, then 429 without comparing the password), so guessing stays
// bounded while nobody elsewhere can lock the operator out; a user name and password that logged in from an
// address before keep working there even while it is locked, among the first 5 distinct pairs tried there during
// the lock (FailureLimiter.provenWhileLocked: unbounded, the lock answered ~1,500 guesses a second, 429 or 200).
import { FailureLimiter } from '../core/http-guard';

export interface LoginGuardOptions {
  /** true when the user name and password are right (bcrypt against the configured hash) */
  authenticate: (username: string, password: string) => Promise<boolean>;
  /** largest login body read, in bytes (default 4096) */
  maxBodyBytes?: number;
  /** failed logins per address within `windowMs` before the address waits (default 5 in 10 minutes) */
  maxFailures?: number;
  windowMs?: number;
  /** where an address's lock is logged (npm start: Node-RED's log) */
  log?: (line: string) => void;
  now?: () => number;
}

type Req = {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string };
  body?: unknown;
  _body?: boolean;
  on(event: 'data', l: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'error' | 'aborted', l: (err?: Error) => void): unknown;
  destroy?(): void;
};
type Res = {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): void;
  once?(event: 'finish', l: () => void): unknown;
};

/** What a login body holds, or why it cannot be read. */
export type LoginBody = { ok: true; fields: Record<string, string> } | { ok: false; status: 400 | 415; reason: string };

/** Parses a login body as Node-RED's parsers would take it: JSON or URL-encoded form, UTF-8. */
export function parseLoginBody(contentType: string | undefined, body: Buffer): LoginBody {
  const [type, ...params] = (contentType ?? '').toLowerCase().split(';');
  const charset = params.map((p) => p.trim()).find((p) => p.startsWith('charset='));
  if (charset && !/^charset="?utf-?8"?$/.test(charset))
    return { ok: false, status: 415, reason: 'login bodies are UTF-8' };
  const text = body.toString('utf8');
  const fields: Record<string, string> = {};
  if (type.trim() === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(text)) if (!(k in fields)) fields[k] = v;
    return { ok: true, fields };
  }
  if (type.trim() === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, status: 400, reason: 'the login body is not JSON' };
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      return { ok: false, status: 400, reason: 'the login body is not a JSON object' };
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') fields[k] = v;
    return { ok: true, fields };
  }
  return { ok: false, status: 415, reason: 'a login is JSON or a URL-encoded form' };
}

/** A JSON answer that no cache keeps (the editor's OAuth shape, `{error, error_description}`, here and in admin-body-guard.ts). */
export const answer = (res: Res, status: number, body: object, headers: Record<string, string> = {}): void => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(JSON.stringify(body));
};

// the answer Node-RED's OAuth server gives wrong credentials, so the editor and node-red-admin read it alike
const INVALID_GRANT = { error: 'invalid_grant', error_description: 'Invalid resource owner credentials' };

export function loginGuard(o: LoginGuardOptions) {
  const maxBody = o.maxBodyBytes ?? 4096;
  const max = o.maxFailures ?? 5;
  const limiter = new FailureLimiter({
    max,
    windowMs: o.windowMs ?? 600000,
    now: o.now,
    onLock: (address, seconds) =>
      o.log?.(
        `editor login: ${address || 'a client'} sent ${max} wrong logins and is refused (429) for ${seconds} s; a login that worked from that address before still does (among the first ${max} tried during the lock)`
      ),
  });

  return function mobyLoginGuard(req: Req, res: Res, next: (err?: unknown) => void): void {
    if (req.method !== 'POST') return next();
    const tooLarge = () => {
      // the rest of the body is not read: the connection closes after the answer
      res.setHeader('Connection', 'close');
      answer(res, 413, { error: 'too_large', error_description: `a login body is at most ${maxBody} bytes` });
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBody) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBody) {
        over = true;
        tooLarge();
        // the rest is not worth reading: the connection goes once the answer is out (not before: it would be lost)
        res.once?.('finish', () => req.destroy?.());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => (over = true));
    req.on('end', () => {
      if (over) return;
      const ct = req.headers['content-type'];
      const parsed = parseLoginBody(Array.isArray(ct) ? ct[0] : ct, Buffer.concat(chunks));
      if (!parsed.ok) return answer(res, parsed.status, { error: 'invalid_request', error_description: parsed.reason });
      // Node-RED's body parsers skip a request whose body was read (`_body`) and use `body` as it is
      req.body = parsed.fields;
      req._body = true;
      const { grant_type: grant, username, password } = parsed.fields;
      // other grants (none with adminAuth credentials) and incomplete requests: Node-RED answers them
      if (grant !== 'password' || username === undefined || password === undefined) return next();
      const address = req.socket.remoteAddress ?? '';
      // the limiter's "proven" record takes one secret string (and keeps only its digest): the pair
      const key = `${username}\u0000${password}`;
      const wait = limiter.retryAfter(address);
      if (wait > 0 && !limiter.provenWhileLocked(address, key))
        return answer(
          res,
          429,
          {
            error: 'too_many_attempts',
            error_description: `too many failed logins from this address: try again in ${wait} s`,
          },
          { 'Retry-After': String(wait) }
        );
      o.authenticate(username, password).then(
        (ok) => {
          if (!ok) {
            limiter.fail(address);
            return answer(res, 403, INVALID_GRANT);
          }
          limiter.succeeded(address, key);
          next();
        },
        (err) => next(err)
      );
    });
  };
}
