// Express middleware and an HTTP upgrade filter that keep web pages on other origins away from the
// Node-RED editor and admin API (issue #10: a foreign page read /flows, deployed a function node and read
// MOBY_MASTER_KEY back). Node-RED's editor API answers every origin with `Access-Control-Allow-Origin: *`
// (hard-wired in @node-red/editor-api); `npm start` mounts this guard in front of it, and in an existing
// Node-RED it can be used as `httpAdminMiddleware` (see docs/security.md for what that cannot cover).
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { adminVerdict, type Headers } from '../core/http-guard';

export interface AdminGuardOptions {
  /** origins besides Node-RED's own that may use the editor (rarely needed) */
  allowedOrigins?: string[];
  /** host names the server is reached as; empty = do not check (e.g. bound to all interfaces) */
  allowedHosts?: string[];
}

type Req = { headers: Headers };
type Res = {
  statusCode: number;
  setHeader(name: string, value: unknown): unknown;
  end(body?: string): void;
};

/** Drops CORS headers set by anyone after us: the editor is same-origin only, it never needs them. */
function withoutCors(res: Res): void {
  const set = res.setHeader.bind(res);
  res.setHeader = (name: string, value: unknown) => (/^access-control-/i.test(name) ? res : set(name, value));
}

export function adminGuard(o: AdminGuardOptions = {}) {
  return function mobyAdminGuard(req: Req, res: Res, next: () => void): void {
    const v = adminVerdict(req.headers, o);
    if (!v.ok) {
      res.statusCode = v.status;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      // a refused request's body is not read: the connection closes after the answer (see carriesBody)
      res.setHeader('Connection', 'close');
      res.end(JSON.stringify({ error: { code: v.code, message: v.message } }));
      return;
    }
    withoutCors(res);
    // the editor is never shown inside another site's page (clickjacking: a disguised click on Deploy); a
    // browser that sent no Fetch Metadata is covered by these two headers as well
    res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    res.setHeader('Content-Security-Policy', "frame-ancestors 'self'");
    next();
  };
}

/**
 * Wraps the server's 'upgrade' listeners (Node-RED's editor WebSocket, /comms) so a foreign page cannot
 * open one: browsers send Origin on every WebSocket handshake and CORS does not apply to WebSockets.
 * Call after Node-RED has started (it adds its listener then).
 */
export function guardUpgrades(server: Server, o: AdminGuardOptions = {}): void {
  const listeners = server.listeners('upgrade') as Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => void>;
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const v = adminVerdict(req.headers, o);
    if (!v.ok) {
      socket.end(`HTTP/1.1 ${v.status} ${STATUS_CODES[v.status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    for (const l of listeners) l.call(server, req, socket, head);
  });
}
