// nodes/lib/routes.ts through the real runtime: GET /moby/metrics is served whichever MOBY node module is
// loaded (not only with the InfluxDB writer, which used to mount it), exactly once however many modules
// load, with the alert API's token; and an alert node's API is mounted under its prefix while the node runs.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
const helper = require('node-red-node-test-helper');
const supertest = require('supertest');
const apiAuth = require('../../../dist/nodes/lib/api-auth.js') as typeof import('../../../nodes/lib/api-auth');
const { METRICS_PATH } = require('../../../dist/nodes/lib/routes.js') as typeof import('../../../nodes/lib/routes');

helper.init(require.resolve('node-red'));

type App = { _router: { stack: Array<{ route?: { path: string } }> } };
let app: App | null = null;
const capture = (RED: { httpNode: App }) => {
  app = RED.httpNode;
};
const mod = (p: string) => require(`../../../dist/nodes/${p}.js`);
const TOKEN = 'routes-token-0123456789';

function load(modules: unknown[], flow: unknown[], creds: Record<string, unknown> = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    helper.load([capture, ...modules], flow, creds, (err?: Error) => (err ? reject(err) : resolve()))
  );
}

const metricsRoutes = () => app!._router.stack.filter((l) => l.route?.path === METRICS_PATH).length;

describe('/moby/* routes (lib/routes.ts)', function () {
  this.timeout(20000);
  afterEach(async () => {
    await helper.unload();
    app = null;
  });

  it('metrics are served with only an anomaly node deployed (no InfluxDB writer), and only with the token', async () => {
    await load([mod('anomaly/moby-anomaly')], [{ id: 'a', type: 'moby-anomaly', method: 'pca', wires: [[], []] }]);
    assert.equal(metricsRoutes(), 1);
    const refused = await supertest(app).get('/moby/metrics').expect(401).expect('content-type', /json/);
    assert.equal(refused.body.error.code, 'unauthorized');
    const off = apiAuth.registerApiToken('routes-test', TOKEN);
    try {
      const res = await supertest(app).get('/moby/metrics').set('authorization', `Bearer ${TOKEN}`).expect(200);
      assert.match(res.text, /moby_anomaly_devices\{phase="calibrating"\}/);
    } finally {
      off();
    }
  });

  it('every MOBY module loaded together mounts metrics once; the alert API lives while its node does', async () => {
    const all = [
      'hmac/moby-hmac',
      'normalize/moby-normalize',
      'alert/moby-alert-channels',
      'alert/moby-alert',
      'influx/moby-influx',
      'anomaly/moby-anomaly',
      'health/moby-device-health',
      'health/moby-redis',
      'mqtt/moby-mqtt',
    ].map(mod);
    await load(all, [{ id: 'al', type: 'moby-alert', apiPrefix: '/moby', wires: [[], [], []] }], {
      al: { apiToken: TOKEN },
    });
    assert.equal(metricsRoutes(), 1, 'one metrics route for nine modules');
    const alerts = await supertest(app).get('/moby/alerts').set('authorization', `Bearer ${TOKEN}`).expect(200);
    assert.ok(Array.isArray(alerts.body), 'the alert API answers under its prefix');
    // the alert API's prefix is /moby too: /moby/metrics still reaches the metrics route, with the alert token
    const res = await supertest(app).get('/moby/metrics').set('authorization', `Bearer ${TOKEN}`).expect(200);
    assert.match(res.text, /moby_messages_total|# HELP/);
    const keep = app;
    await helper.unload();
    // the node is gone: its prefix no longer answers (falls through to the runtime's 404)
    const after = await supertest(keep).get('/moby/alerts').set('authorization', `Bearer ${TOKEN}`);
    assert.equal(after.status, 404);
    assert.doesNotMatch(String(after.headers['content-type']), /json/, 'not the alert API (which answers JSON)');
  });

  it("a tenant's token on /moby/metrics is 403 and never counted as a guess (it locked the shared address out)", async () => {
    const tenantToken = 'acme-tenant-token-0123456789';
    await load([mod('alert/moby-alert')], [{ id: 'al', type: 'moby-alert', apiPrefix: '/moby', wires: [[], [], []] }], {
      al: { apiToken: TOKEN, tenantTokens: JSON.stringify({ acme: tenantToken }) },
    });
    await supertest(app).get('/moby/alerts').set('authorization', `Bearer ${tenantToken}`).expect(200);
    // more than the limiter's 20 a minute: before, the 21st and every client of this address got 429
    for (let i = 0; i < 25; i++) {
      const r = await supertest(app).get('/moby/metrics').set('authorization', `Bearer ${tenantToken}`).expect(403);
      assert.equal(r.body.error.code, 'forbidden');
    }
    await supertest(app).get('/moby/metrics').set('authorization', `Bearer ${TOKEN}`).expect(200);
    // a token nobody used from this address yet is compared too: the address was never locked
    const off = apiAuth.registerApiToken('routes-test-fresh', 'fresh-token-0123456789');
    try {
      await supertest(app).get('/moby/metrics').set('authorization', 'Bearer fresh-token-0123456789').expect(200);
    } finally {
      off();
    }
  });

  it('an oversized body is answered without being read to its end, and the connection closes', async () => {
    await load([mod('alert/moby-alert')], [{ id: 'al', type: 'moby-alert', apiPrefix: '/moby', wires: [[], [], []] }], {
      al: { apiToken: TOKEN },
    });
    const server = http.createServer(app as unknown as http.RequestListener).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    // a client that announces (or streams) far more than the 16 KiB cap and sends only the first part: it gets
    // its answer while it is still sending (before: none until the whole body had arrived), then the socket closes
    const partial = (headers: Record<string, string>, first: Buffer) =>
      new Promise<{ status: number; body: string; closed: Promise<void> }>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/moby/alerts/x/ack', headers });
        req.on('error', () => undefined);
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, body, closed: new Promise((r) => req.socket!.once('close', () => r())) })
          );
          res.on('error', reject);
        });
        req.write(first);
      });
    try {
      for (const [label, headers, first] of [
        [
          'declared 10 GB, no token',
          { 'content-type': 'application/json', 'content-length': String(10 * 2 ** 30) },
          Buffer.alloc(1024, 32),
        ],
        ['chunked 64 KiB so far, no token', { 'content-type': 'application/json' }, Buffer.alloc(65536, 32)],
        [
          'declared 10 GB, with the token',
          {
            'content-type': 'application/json',
            'content-length': String(10 * 2 ** 30),
            authorization: `Bearer ${TOKEN}`,
          },
          Buffer.alloc(1024, 32),
        ],
      ] as const) {
        const res = await partial({ ...headers }, first);
        const want = 'authorization' in headers ? 413 : 401;
        assert.equal(res.status, want, label);
        assert.match(res.body, /"code":"(too_large|unauthorized)"/, label);
        await res.closed;
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
