// Wires the connection bound (core/http-connections.ts) and short deadlines onto the HTTP server that carries the
// editor and the alert API (scripts/node-red.js). Node's defaults let a client hold a connection for a minute
// with a header byte every few seconds, and its deadlines were checked only every 30 s.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { HttpConnectionBound, type HttpConnection, type HttpConnectionLimits } from '../core/http-connections';

/** a request's head must arrive within this (Node: 60 s) */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** a whole request, body included, within this (Node: 300 s); the editor's deploys are the largest bodies */
export const HTTP_REQUEST_TIMEOUT_MS = 60_000;
/** how often those deadlines are checked (Node: 30 s) */
export const HTTP_DEADLINE_CHECK_MS = 1_000;
export const HTTP_MAX_CONNECTIONS = 1000;
export const HTTP_MAX_PER_ADDRESS = 100;

/** Options for `http.createServer`: the deadlines above (only settable when the server is created). */
export function httpServerDeadlines(): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: HTTP_HEADERS_TIMEOUT_MS,
    requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: HTTP_DEADLINE_CHECK_MS,
  };
}

/**
 * Keeps the server's connections within `limits`, evicting the longest idle (core/http-connections.ts);
 * `onEvict` hears each eviction (to count and log it). Call before the server accepts connections.
 */
export function boundHttpConnections(
  server: Server,
  limits: HttpConnectionLimits,
  onEvict: (evicted: HttpConnection<Socket>, total: number) => void = () => {}
): HttpConnectionBound<Socket> {
  const bound = new HttpConnectionBound<Socket>(limits);
  /**
   * per socket: its entry in the bound, its requests in flight, the bytes read when the bound last asked, and
   * whether a whole head ever arrived on it (a request, or an upgrade to a WebSocket)
   */
  const state = new WeakMap<
    Socket,
    { connection: HttpConnection<Socket>; busy: number; bytesSeen: number; headed: boolean }
  >();
  // asked only of a connection about to be evicted: a request in flight (a deploy's body still coming) or bytes
  // read since the last look (an upload, the editor's WebSocket frames, which no 'request' event reports). Bytes
  // count only on a connection that once sent a whole head: every new connection of a slow-head flood had read
  // bytes no look had seen, so 8 of them ahead of a deploy used up an eviction's skips and the deploy was closed
  // (a CI run of 2026-12-07 under Node-RED 5)
  const stillActive = (socket: Socket): boolean => {
    const s = state.get(socket);
    if (!s) return false;
    const moved = socket.bytesRead !== s.bytesSeen;
    s.bytesSeen = socket.bytesRead;
    return s.busy > 0 || (moved && s.headed);
  };
  const markHeaded = (req: { socket: unknown }) => {
    const s = state.get(req.socket as Socket);
    if (s) s.headed = true;
  };
  // a WebSocket's head comes as 'upgrade', whose listeners Node-RED adds later (RED.init). Ours is added only
  // beside one of theirs: a server with an 'upgrade' listener no longer answers an upgrade request as a request
  if (server.listenerCount('upgrade') > 0) server.prependListener('upgrade', markHeaded);
  else
    server.on('newListener', function hook(event: string | symbol) {
      if (event !== 'upgrade') return;
      server.removeListener('newListener', hook);
      server.prependListener('upgrade', markHeaded);
    });
  server.on('connection', (socket: Socket) => {
    const { connection, evicted } = bound.add(socket, socket.remoteAddress ?? 'unknown', Date.now(), stillActive);
    state.set(socket, { connection, busy: 0, bytesSeen: 0, headed: false });
    socket.once('close', () => bound.remove(connection));
    for (const e of evicted) {
      e.socket.destroy();
      onEvict(e, bound.evictions);
    }
  });
  server.on('request', (req, res) => {
    const s = state.get(req.socket as Socket);
    if (!s) return;
    bound.touch(s.connection, Date.now());
    s.headed = true;
    s.busy++;
    // 'close' too: a response cut off (its connection gone) never finishes
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      s.busy--;
      bound.touch(s.connection, Date.now());
    };
    res.once('finish', end);
    res.once('close', end);
  });
  return bound;
}
