// Express middleware in front of Node-RED's editor API for `npm start` (scripts/node-red.js): a request that
// carries a body must come with a login that works before the body is read. Node-RED's editor API reads every
// body (JSON or form, up to `apiMaxLength`, 5 MB) into memory before it looks at the login. A red-team client
// without any login held 700 unfinished 5 MB bodies to `POST /flows`, each from its own loopback address (within
// the HTTP connection caps): 3.8 GB, and Node-RED aborted with its heap exhausted, twice in 80 s (2026-12-07).
//
// So a body is read only for a bearer token Node-RED knows (its sessions and `adminAuth.tokens`, asked through
// `lookup`); otherwise the answer is 401 at once and the connection closes without reading the body. Requests
// without a body (every GET) go on to Node-RED untouched, and so does the login itself (login-guard.ts bounds it).
import { answer } from './login-guard';

export interface AdminBodyGuardOptions {
  /** whether Node-RED knows this bearer token (a session of a login, or a configured API token) */
  lookup: (token: string) => Promise<boolean>;
  /** paths (below the admin root) that take a body without a bearer token: the login (default ['/auth/token']) */
  open?: string[];
}

type Req = {
  path?: string;
  headers: Record<string, string | string[] | undefined>;
  query?: Record<string, unknown>;
};
type Res = Parameters<typeof answer>[0];

/** Whether a request announces a body: a length above 0, or a transfer coding (chunked). */
export function carriesBody(headers: Req['headers']): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const n = Number(headers['content-length'] ?? 0);
  return !Number.isFinite(n) || n > 0;
}

/** The bearer token of a request: its Authorization header, else `access_token` in the query (as Node-RED reads it). */
export function bearerToken(req: Req): string | null {
  const h = req.headers.authorization;
  const header = Array.isArray(h) ? h[0] : h;
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (m) return m[1];
  const q = req.query?.access_token;
  return typeof q === 'string' && q ? q : null;
}

export function adminBodyGuard(o: AdminBodyGuardOptions) {
  const open = new Set(o.open ?? ['/auth/token']);
  // the body is not read: the connection goes once the answer is out
  const refuse = (res: Res) =>
    answer(
      res,
      401,
      { error: 'unauthorized', error_description: 'log in first: a body is read only with a valid login' },
      { Connection: 'close' }
    );
  return function mobyAdminBodyGuard(req: Req, res: Res, next: (err?: unknown) => void): void {
    if (!carriesBody(req.headers) || open.has(req.path ?? '')) return next();
    const token = bearerToken(req);
    if (!token) return refuse(res);
    o.lookup(token).then(
      (known) => (known ? next() : refuse(res)),
      (err) => next(err)
    );
  };
}
