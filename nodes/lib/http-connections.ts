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
  const tracked = new WeakMap<Socket, HttpConnection<Socket>>();
  /** per connection: requests in flight, and the bytes read when the bound last asked */
  const busy = new WeakMap<Socket, number>();
  const bytesSeen = new WeakMap<Socket, number>();
  // asked only of a connection about to be evicted: a request in flight (a deploy's body still coming) or bytes
  // read since the last look (an upload, the editor's WebSocket frames, which no 'request' event reports)
  const stillActive = (socket: Socket): boolean => {
    const read = socket.bytesRead;
    const moved = read !== (bytesSeen.get(socket) ?? 0);
    bytesSeen.set(socket, read);
    return moved || (busy.get(socket) ?? 0) > 0;
  };
  server.on('connection', (socket: Socket) => {
    const { connection, evicted } = bound.add(socket, socket.remoteAddress ?? 'unknown', Date.now(), stillActive);
    tracked.set(socket, connection);
    socket.once('close', () => bound.remove(connection));
    for (const e of evicted) {
      e.socket.destroy();
      onEvict(e, bound.evictions);
    }
  });
  server.on('request', (req, res) => {
    const c = tracked.get(req.socket as Socket);
    if (!c) return;
    const socket = req.socket as Socket;
    bound.touch(c, Date.now());
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    // 'close' too: a response cut off (its connection gone) never finishes
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      busy.set(socket, Math.max(0, (busy.get(socket) ?? 1) - 1));
      bound.touch(c, Date.now());
    };
    res.once('finish', end);
    res.once('close', end);
  });
  return bound;
}
