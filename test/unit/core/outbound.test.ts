// Requests to outside services through the proxy the environment names (core/outbound.ts), against a real
// forward proxy on a local port (CONNECT tunnels and absolute-form requests), a local receiver and a local TLS
// server whose certificate nobody trusts.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { postJson } from '../../../nodes/core/alert/channels';
import { DeliveryError } from '../../../nodes/core/alert/delivery';
import { proxyDispatcher, proxySummary } from '../../../nodes/core/outbound';
import { selfSignedLocalhost } from '../../support/tls';

const VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'];

interface Proxy {
  url: string;
  /** what reached it: `CONNECT host:port` or `POST http://…`, with the Proxy-Authorization header if any */
  seen: Array<{ line: string; auth?: string }>;
  close(): Promise<void>;
}

/** A forward proxy: tunnels CONNECT, forwards absolute-form requests; `refuse` answers every request that status. */
async function startProxy(refuse?: number): Promise<Proxy> {
  const seen: Proxy['seen'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push({ line: `${req.method} ${req.url}`, auth: req.headers['proxy-authorization'] });
    if (refuse) {
      res.writeHead(refuse).end();
      return;
    }
    const target = new URL(req.url!);
    const out = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      }
    );
    req.pipe(out);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    seen.push({ line: `CONNECT ${req.url}`, auth: req.headers['proxy-authorization'] });
    if (refuse) {
      client.end(`HTTP/1.1 ${refuse} Refused\r\n\r\n`);
      return;
    }
    const [host, port] = req.url!.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    sockets.add(client).add(upstream);
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The receiver: records each body, answers `status`. */
async function startReceiver(status = 200) {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'broken');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DeliveryError, `not a DeliveryError: ${String(err)}`);
    return err;
  }
  return assert.fail('the request succeeded');
}

describe('outbound requests through the environment proxy (core/outbound)', function () {
  this.timeout(20000);
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    for (const v of VARS) {
      saved[v] = process.env[v];
      delete process.env[v];
    }
  });
  afterEach(() => {
    for (const v of VARS) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
    proxyDispatcher(); // back to the environment's own (closes the test's agent)
  });

  it('goes direct when no proxy variable is set (no_proxy alone names none)', async () => {
    const proxy = await startProxy();
    const rx = await startReceiver();
    try {
      process.env.no_proxy = 'example.com';
      assert.equal(proxyDispatcher(), undefined);
      assert.equal(proxySummary(), '');
      await postJson(rx.url, '{"a":1}', {}, 5000);
      assert.deepEqual(rx.bodies, ['{"a":1}']);
      assert.deepEqual(proxy.seen, []);
    } finally {
      await Promise.all([proxy.close(), rx.close()]);
    }
  });

  it('sends through http_proxy, with the credentials of its URL, and reports the target status as before', async () => {
    const proxy = await startProxy();
    const rx = await startReceiver();
    const broken = await startReceiver(503);
    try {
      const u = new URL(proxy.url);
      u.username = 'plant';
      u.password = 's3cret';
      process.env.HTTP_PROXY = u.toString();
      await postJson(rx.url, '{"a":1}', {}, 5000);
      assert.deepEqual(rx.bodies, ['{"a":1}']);
      assert.equal(proxy.seen.length, 1);
      assert.match(proxy.seen[0].line, new RegExp(`127\\.0\\.0\\.1:${rx.port}`));
      assert.equal(proxy.seen[0].auth, `Basic ${Buffer.from('plant:s3cret').toString('base64')}`);
      const err = await failure(postJson(broken.url, '{}', {}, 5000));
      assert.match(err.message, /HTTP 503: broken/);
      assert.equal(err.retryable, true);
      assert.equal(proxy.seen.length, 2);
      // the log line names the proxy, not its password
      assert.match(proxySummary(), /http through http:\/\/plant:\*\*\*@127\.0\.0\.1:\d+/);
      assert.doesNotMatch(proxySummary(), /s3cret/);
    } finally {
      await Promise.all([proxy.close(), rx.close(), broken.close()]);
    }
  });

  it('goes direct for hosts in no_proxy', async () => {
    const proxy = await startProxy();
    const rx = await startReceiver();
    try {
      process.env.http_proxy = proxy.url;
      process.env.no_proxy = 'localhost,127.0.0.1';
      await postJson(rx.url, '{"b":2}', {}, 5000);
      assert.deepEqual(rx.bodies, ['{"b":2}']);
      assert.deepEqual(proxy.seen, []);
    } finally {
      await Promise.all([proxy.close(), rx.close()]);
    }
  });

  it('tunnels https through https_proxy and still checks the server certificate end to end', async () => {
    const tlsFiles = selfSignedLocalhost();
    let reached = 0;
    const server = https.createServer({ key: tlsFiles.key, cert: tlsFiles.cert }, (_req, res) => {
      reached++;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const proxy = await startProxy();
    try {
      process.env.https_proxy = proxy.url;
      const err = await failure(postJson(`https://localhost:${port}/hook`, '{}', {}, 5000));
      assert.deepEqual(
        proxy.seen.map((s) => s.line),
        [`CONNECT localhost:${port}`]
      );
      // the proxy only carried bytes: the certificate nobody trusts was refused by us, through the tunnel
      assert.match(err.message, /self[- ]signed|certificate/i);
      assert.equal(reached, 0);
    } finally {
      await proxy.close();
      await new Promise<void>((r) => server.close(() => r()));
      tlsFiles.remove();
    }
  });

  it('a proxy that refuses is a retryable delivery error naming it', async () => {
    const proxy = await startProxy(407);
    const rx = await startReceiver();
    try {
      process.env.http_proxy = proxy.url;
      process.env.https_proxy = proxy.url;
      for (const url of [rx.url, `https://localhost:${rx.port}/hook`]) {
        const err = await failure(postJson(url, '{}', {}, 5000));
        assert.equal(err.retryable, true);
        assert.match(err.message, /407|proxy/i);
      }
      assert.deepEqual(rx.bodies, []);
    } finally {
      await Promise.all([proxy.close(), rx.close()]);
    }
  });
});
