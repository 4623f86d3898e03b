// The writer's HTTP client (nodes/core/influx/http-post.ts) against real sockets: Node's own HTTP server for
// what a database answers, and raw TCP servers for what a misbehaving one does (answers framed every legal
// way, connections closed under us, silence, endless bodies), plus TLS with a certificate made for the test.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { HttpError, HttpPoster, RequestTimeoutError } from '../../../../nodes/core/influx/http-post';
import { connectionProblem, createInfluxSend } from '../../../../nodes/core/influx/transport';
import { classifyFailure } from '../../../../nodes/core/influx/writer';
import { selfSignedLocalhost } from '../../../support/tls';

const plain = { 'Content-Type': 'text/plain; charset=utf-8' };

/** What a request failed with, or null when it succeeded. */
const failure = (request: Promise<unknown>): Promise<unknown> =>
  request.then(
    () => null,
    (e: unknown) => e
  );

/** Writes `text` to the socket again and again, as fast as it drains, until the client closes it. */
function writeForever(socket: net.Socket, text: string): void {
  const pump = () => {
    if (socket.destroyed) return;
    while (socket.write(text));
    socket.once('drain', pump);
  };
  pump();
}

/** A raw TCP server: `answer` gets each request's bytes (head and body) and the socket. */
async function rawServer(answer: (request: string, socket: net.Socket, n: number, onSocket: number) => void) {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    let onSocket = 0;
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const request = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        answer(request, socket, n++, onSocket++);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => n,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('influx http-post: the writer HTTP client', () => {
  it('keeps one connection open for requests one after another, and sends what http.request would', async () => {
    const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string; socket: unknown }[] =
      [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body, socket: req.socket });
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const poster = new HttpPoster({
      url: `http://127.0.0.1:${port}/behind/proxy/`,
      timeoutMs: 2000,
      headers: { ...plain, Authorization: 'Token s3cret' },
      gzipThreshold: Infinity,
    });
    try {
      for (const body of ['m v=1 1', 'm v=2 2\nm v=3 3', Buffer.from('온도 v=4 4')]) {
        const r = await poster.post('/api/v2/write?org=o&bucket=b&precision=ms', body);
        assert.equal(r.status, 204);
      }
      assert.equal(seen.length, 3);
      assert.equal(new Set(seen.map((s) => s.socket)).size, 1, 'one connection for all three');
      assert.equal(seen[0].method, 'POST');
      assert.equal(seen[0].url, '/behind/proxy/api/v2/write?org=o&bucket=b&precision=ms', 'the URL path prefixes it');
      assert.equal(seen[0].headers.authorization, 'Token s3cret');
      assert.equal(seen[0].headers.host, `127.0.0.1:${port}`);
      assert.equal(seen[0].headers['content-type'], 'text/plain; charset=utf-8');
      assert.deepEqual(
        seen.map((s) => s.body),
        ['m v=1 1', 'm v=2 2\nm v=3 3', '온도 v=4 4'],
        'UTF-8 bodies arrive whole (Content-Length in bytes)'
      );
    } finally {
      poster.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reads answers framed by length, by chunks (after a 100 Continue) and by close, into the errors the writer classifies', async () => {
    const json = '{"code":"invalid","message":"field type conflict"}';
    const server = await rawServer((_req, socket, n) => {
      if (n === 0)
        socket.write(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\n\r\n${json}`
        );
      else if (n === 1) {
        // chunk sizes in hex, a chunk extension, a trailer: all legal, written in pieces
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n');
        socket.write('Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
        socket.write(`10;ext=1\r\n${json.slice(0, 16)}\r\n`);
        setTimeout(
          () => socket.write(`${(json.length - 16).toString(16)}\r\n${json.slice(16)}\r\n0\r\nX-Trailer: y\r\n\r\n`),
          20
        );
      } else if (n === 2) {
        const when = new Date(Date.now() + 30_000).toUTCString();
        socket.end(
          `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${when}\r\nConnection: close\r\n\r\ndown for maintenance`
        );
      } else socket.end('HTTP/1.0 204 No Content\r\n\r\n');
    });
    const send = createInfluxSend({ url: server.url, org: 'o', bucket: 'b', precision: 'ms', gzipThreshold: Infinity });
    try {
      const fails = [];
      for (let i = 0; i < 3; i++) fails.push(await failure(send('m v=1 1')));
      assert.ok(fails.every((e) => e instanceof HttpError));
      assert.deepEqual(classifyFailure(fails[0]), { kind: 'reject', status: 400, reason: 'field type conflict' });
      assert.deepEqual(classifyFailure(fails[1]), {
        kind: 'retry',
        status: 429,
        reason: 'field type conflict',
        retryAfterMs: 7000,
      });
      const third = classifyFailure(fails[2]);
      assert.equal(third.kind, 'retry');
      assert.equal(third.reason, '503 Service Unavailable : down for maintenance', 'a body that is not JSON, as text');
      assert.ok(
        third.retryAfterMs! >= 29_000 && third.retryAfterMs! <= 31_000,
        `Retry-After as a date: ${third.retryAfterMs}`
      );
      await send('m v=1 1'); // after "Connection: close", a new connection; an HTTP/1.0 answer without a length
      assert.equal(server.requests(), 4);
    } finally {
      await server.close();
    }
  });

  it('sends once more on a new connection when a kept-open one was closed by the server, and only then', async () => {
    // answers the first request of a connection; at the second it closes without a word, as a server whose
    // keep-alive ran out as the request came
    let dropped = 0;
    const quiet = await rawServer((_req, socket, _n, onSocket) => {
      if (onSocket === 0) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else {
        dropped++;
        socket.destroy();
      }
    });
    const poster = new HttpPoster({ url: quiet.url, timeoutMs: 2000, headers: plain, gzipThreshold: Infinity });
    try {
      for (let i = 0; i < 4; i++) assert.equal((await poster.post('/write', `m v=${i} ${i}`)).status, 204);
      assert.equal(dropped, 3, 'every request after the first met a closed connection, and went again');
      assert.equal(quiet.requests(), 7);
    } finally {
      poster.close();
      await quiet.close();
    }
    // a new connection dropped before any answer: no second try (the server may be what fails)
    let requests = 0;
    const rude = await rawServer((_req, socket) => {
      requests++;
      socket.destroy();
    });
    const once = new HttpPoster({ url: rude.url, timeoutMs: 2000, headers: plain, gzipThreshold: Infinity });
    try {
      const err = (await failure(once.post('/write', 'm v=1 1'))) as Error | null;
      assert.match(String(err?.message), /hang up|ECONNRESET/);
      assert.equal(classifyFailure(err).kind, 'retry');
      assert.equal(requests, 1, 'sent once');
    } finally {
      once.close();
      await rude.close();
    }
  });

  it('gives up on a silent server after the timeout, and cuts an endless answer at 1 MB', async () => {
    const silent = await rawServer(() => undefined);
    const slow = new HttpPoster({ url: silent.url, timeoutMs: 150, headers: plain, gzipThreshold: Infinity });
    const endless = await rawServer((_req, socket) => {
      socket.write('HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n');
      writeForever(socket, `4000\r\n${'x'.repeat(0x4000)}\r\n`);
    });
    const send = createInfluxSend({
      url: endless.url,
      org: 'o',
      bucket: 'b',
      precision: 'ms',
      gzipThreshold: Infinity,
    });
    try {
      const err = await failure(slow.post('/write', 'm v=1 1'));
      assert.ok(err instanceof RequestTimeoutError);
      assert.equal(classifyFailure(err).kind, 'retry');
      const big = (await failure(send('m v=1 1'))) as HttpError;
      assert.ok(big instanceof HttpError);
      assert.equal(big.statusCode, 500);
      assert.equal(big.body.length, 1024 * 1024, 'the body kept is cut at 1 MB');
    } finally {
      slow.close();
      await silent.close();
      await endless.close();
    }
  });

  it('cuts an endless answer of one-byte chunks too: the chunk coding counts against the cap', async function () {
    this.timeout(10000);
    const tiny = await rawServer((_req, socket) => {
      socket.write('HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n');
      writeForever(socket, '1\r\ny\r\n'.repeat(10000));
    });
    const send = createInfluxSend({ url: tiny.url, org: 'o', bucket: 'b', precision: 'ms', gzipThreshold: Infinity });
    try {
      const err = (await failure(send('m v=1 1'))) as HttpError;
      assert.ok(err instanceof HttpError);
      assert.equal(err.statusCode, 502);
      // 6 bytes on the wire per byte of body: cut at 1 MB of coding, ~175 KB of body
      assert.ok(err.body.length > 150_000 && err.body.length < 200_000, `${err.body.length}`);
      assert.match(err.body, /^y+$/);
    } finally {
      await tiny.close();
    }
  });

  it('refuses credentials that would break the request head, before sending anything', async () => {
    const server = await rawServer((_req, socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    try {
      const conn = { url: server.url, org: 'o', bucket: 'b', precision: 'ms' as const, token: 'abc\r\nX-Admin: yes' };
      assert.match(String(connectionProblem(conn)), /line break/);
      const err = (await failure(createInfluxSend(conn)('m v=1 1'))) as Error | null;
      assert.match(String(err?.message), /line break/);
      assert.equal(server.requests(), 0, 'nothing sent');
      assert.match(String(connectionProblem({ ...conn, api: 'v1', database: 'd' })), /line break/, 'v1 with a token');
      // a user name and password travel base64-encoded (Basic auth): any character is fine there
      assert.equal(
        connectionProblem({ ...conn, token: undefined, api: 'v1', database: 'd', username: 'u', password: 'p\n' }),
        null
      );
      assert.equal(connectionProblem({ ...conn, token: 'fine' }), null);
    } finally {
      await server.close();
    }
  });

  it('speaks TLS to https:// and checks the certificate', async function () {
    this.timeout(20000);
    const tlsFiles = selfSignedLocalhost();
    const server = https.createServer({ key: tlsFiles.key, cert: tlsFiles.cert }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const url = `https://localhost:${port}`;
    const trusting = new HttpPoster({
      url,
      timeoutMs: 5000,
      headers: plain,
      gzipThreshold: Infinity,
      tls: { ca: tlsFiles.cert },
    });
    const strict = new HttpPoster({ url, timeoutMs: 5000, headers: plain, gzipThreshold: Infinity });
    try {
      assert.equal((await trusting.post('/write', 'm v=1 1')).status, 204);
      assert.equal((await trusting.post('/write', 'm v=2 2')).status, 204);
      const err = (await failure(strict.post('/write', 'm v=1 1'))) as NodeJS.ErrnoException | null;
      assert.match(String(err?.code), /SELF_SIGNED|UNABLE_TO_VERIFY/);
      assert.equal(classifyFailure(err).kind, 'retry');
    } finally {
      trusting.close();
      strict.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      tlsFiles.remove();
    }
  });
});
