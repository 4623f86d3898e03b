// Issue #10, items 1, 2 and 7, as the attacks were made: a page on another origin, opened in the
// operator's own browser (headless Chromium), goes after the Node-RED editor API (read /flows, deploy a
// function node) and the alert API (an HTML form POST resolving alerts, fetch with JSON, reading answers).
// Node-RED runs the way `npm start` runs it (scripts/node-red.js + flows/settings.js). On the old code
// every one of these succeeded; now each must be refused, while the allow-listed Grafana origin with the
// token still works. Then the API's error shapes, the token on /moby/metrics, paging and the 429 limit.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { decryptCredentials, startSecureNodeRed, type SecureNodeRed } from '../../support/secure-nodered';
import { requiredInCi } from '../../support/net';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const DEVICES = Array.from({ length: 25 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);

function flow(): Array<Record<string, unknown>> {
  const injects = ['press-1', 'press-2', 'press-3'].map((d, i) => ({
    id: `inj${i}`,
    type: 'inject',
    z: 'tab',
    props: [{ p: 'alert', v: JSON.stringify({ device_id: d, rule: 'overheat', severity: 'critical' }), vt: 'json' }],
    repeat: '',
    crontab: '',
    once: true,
    onceDelay: 0.1,
    topic: '',
    wires: [['alert']],
  }));
  return [
    { id: 'tab', type: 'tab', label: 'security' },
    ...injects,
    {
      id: 'alert',
      type: 'moby-alert',
      z: 'tab',
      apiEnabled: true,
      apiPrefix: '/moby',
      corsOrigins: '${MOBY_CORS_ORIGINS}',
      wires: [[], [], []],
      credentials: { apiToken: '${MOBY_API_TOKEN}' },
    },
    { id: 'health', type: 'moby-device-health', z: 'tab', knownDevices: DEVICES.join('\n'), wires: [[], []] },
  ];
}

/** A web server on another port: the attacker's site, or the Grafana stand-in on the allow-listed origin. */
async function site(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end('<!doctype html><title>page</title><p>nothing to see</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

interface Reply {
  status: number;
  type: string;
  body: any;
  headers: Headers;
}
async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const r = await fetch(url, init);
  const type = r.headers.get('content-type') ?? '';
  const text = await r.text();
  let body: any = text;
  if (type.includes('json')) body = JSON.parse(text);
  return { status: r.status, type, body, headers: r.headers };
}

function assertJsonError(r: Reply, status: number, code?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(
    r.type,
    /application\/json/,
    `HTTP ${status} must be JSON, not ${r.type}: ${String(r.body).slice(0, 200)}`
  );
  assert.equal(typeof r.body.error?.code, 'string');
  assert.equal(typeof r.body.error?.message, 'string');
  if (code) assert.equal(r.body.error.code, code);
  const raw = JSON.stringify(r.body);
  assert.doesNotMatch(raw, /\bat \w|node_modules|\/work\/|<html|<pre>/i, 'no stack trace, no server paths');
}

describe('secure by default: a web page, the alert API and secrets through the real runtime (issue #10)', function () {
  this.timeout(90000);
  let nr: SecureNodeRed;
  let browser: Browser | null = null;
  let attacker: { url: string; close(): Promise<void> };
  let grafana: { url: string; close(): Promise<void> };
  let page: Page;
  const auth = () => ({ authorization: `Bearer ${nr.token}` });

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) requiredInCi(this, `Chromium not found at ${CHROMIUM} (CI=true requires it)`);
    attacker = await site();
    grafana = await site();
    nr = await startSecureNodeRed(flow(), { MOBY_CORS_ORIGINS: grafana.url });
    // the three alerts the injects open
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const r = await call(`${nr.url}/moby/alerts?status=open`, { headers: auth() });
      if (r.status === 200 && r.body.length === 3) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    await nr?.stop();
    await attacker?.close();
    await grafana?.close();
  });

  async function openAlerts(): Promise<Array<{ alert_id: string; status: string; acknowledged: boolean }>> {
    const r = await call(`${nr.url}/moby/alerts?status=open`, { headers: auth() });
    assert.equal(r.status, 200);
    return r.body;
  }

  it('a page on another origin can neither read /flows nor deploy a function node nor open the editor socket', async () => {
    const admin = await nr.login();
    const before = await call(`${nr.url}/flows`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(before.status, 200);
    await page.goto(`${attacker.url}/`);
    const evil = [
      {
        id: 'evil',
        type: 'function',
        z: 'tab',
        func: 'msg.payload = env.get("MOBY_MASTER_KEY"); return msg;',
        wires: [],
      },
    ];
    const out = await page.evaluate(
      async ({ target, evil }) => {
        const res: Record<string, string> = {};
        const attempt = async (name: string, f: () => Promise<Response>) => {
          try {
            const r = await f();
            res[name] = r.type === 'opaque' ? 'opaque' : `read ${r.status}: ${(await r.text()).slice(0, 80)}`;
          } catch {
            res[name] = 'blocked';
          }
        };
        await attempt('readFlows', () => fetch(`${target}/flows`));
        await attempt('readSettings', () => fetch(`${target}/settings`));
        await attempt('deployJson', () =>
          fetch(`${target}/flows`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
            body: JSON.stringify(evil),
          })
        );
        // a no-cors "simple" request cannot read the answer but could still change state on the server
        await attempt('deployForm', () =>
          fetch(`${target}/flows`, {
            method: 'POST',
            mode: 'no-cors',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'flows[0][id]=evil&flows[0][type]=function',
          })
        );
        res.socket = await new Promise<string>((resolve) => {
          const ws = new WebSocket(`${target.replace('http', 'ws')}/comms`);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
          setTimeout(() => resolve('timeout'), 5000);
        });
        return res;
      },
      { target: nr.url, evil }
    );
    assert.equal(out.readFlows, 'blocked', 'reading /flows');
    assert.equal(out.readSettings, 'blocked', 'reading /settings');
    assert.equal(out.deployJson, 'blocked', 'deploying with fetch + JSON');
    assert.equal(out.deployForm, 'opaque', 'the no-cors POST was sent (and must have been refused server-side)');
    assert.equal(out.socket, 'refused', 'the editor WebSocket');
    const after = await call(`${nr.url}/flows`, { headers: { authorization: `Bearer ${admin}` } });
    assert.deepEqual(after.body, before.body, 'the deployed flows are unchanged');
    assert.ok(!JSON.stringify(after.body).includes('MOBY_MASTER_KEY'));
  });

  it('a page on another origin cannot show the editor in a frame, not even hiding its origin (red-team round, 2026-12-05)', async () => {
    // before: <iframe referrerpolicy="no-referrer"> sent neither Origin nor Referer, the guard took it for curl,
    // and the logged-in editor (Deploy button, live socket) rendered inside the attacker's page
    await page.goto(`${nr.url}/`, { waitUntil: 'domcontentloaded' }); // the operator has the editor open
    await page.goto(`${attacker.url}/`);
    await page.evaluate(
      (target) =>
        Promise.all(
          ['no-referrer', 'strict-origin-when-cross-origin'].map(
            (policy) =>
              new Promise<void>((resolve) => {
                const document = (globalThis as any).document; // runs in the page
                const f = document.createElement('iframe');
                f.referrerPolicy = policy;
                f.name = policy;
                f.onload = () => resolve();
                setTimeout(resolve, 10000);
                f.src = `${target}/`;
                document.body.appendChild(f);
              })
          )
        ),
      nr.url
    );
    const framed = page.frames().filter((f) => f !== page.mainFrame());
    assert.equal(framed.length, 2);
    for (const f of framed) {
      const editor = await f
        .evaluate(() => !!(globalThis as any).document.querySelector('#red-ui-editor, #red-ui-header'))
        .catch(() => false);
      assert.equal(editor, false, `the editor rendered in the frame with referrer policy ${f.name()}`);
    }
    // the same request as the browser sent it, and the headers that stop framing where Fetch Metadata is missing
    const hidden = await call(`${nr.url}/`, { headers: { 'sec-fetch-site': 'same-site', 'sec-fetch-dest': 'iframe' } });
    assertJsonError(hidden, 403, 'forbidden_origin');
    const own = await fetch(`${nr.url}/`);
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('x-frame-options'), 'SAMEORIGIN');
    assert.equal(own.headers.get('content-security-policy'), "frame-ancestors 'self'");
  });

  it('a route that does not read a body closes the connection after its answer instead of draining an endless one', async () => {
    // before: GET /moby/alerts with a chunked body that never ends was answered 401 at once, then read and
    // discarded for as long as the client sent (160 MB in 8 s); a refused Host (421) likewise
    const { request } = await import('node:http');
    const target = new URL(nr.url);
    for (const [method, path, host] of [
      ['GET', '/moby/alerts', target.host],
      ['GET', '/moby/metrics', target.host],
      ['POST', '/flows', 'evil.example'],
      ['GET', '/moby/alerts', 'evil.example'],
    ]) {
      const outcome = await new Promise<{ status: number; closed: boolean }>((resolve) => {
        const req = request({ host: target.hostname, port: target.port, method, path, headers: { host } });
        req.setHeader('transfer-encoding', 'chunked');
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let status = 0;
        let settled = false;
        const pump = setInterval(() => req.write(chunk), 5);
        const stop = (closed: boolean) => {
          if (settled) return;
          settled = true;
          clearInterval(pump);
          clearTimeout(timer);
          req.destroy();
          resolve({ status, closed });
        };
        // kept open and drained, the connection would still be up after 5 s of sending
        const timer = setTimeout(() => stop(false), 5000);
        req.on('response', (res) => {
          status = res.statusCode ?? 0;
          res.resume();
        });
        req.on('error', () => undefined); // writing into the closed connection
        req.on('socket', (sock) => sock.on('close', () => stop(true)));
      });
      assert.ok(outcome.status >= 400, `${method} ${path} (Host ${host}): ${outcome.status}`);
      assert.equal(outcome.closed, true, `${method} ${path} (Host ${host}): connection closed after the answer`);
    }
  });

  it('the editor API itself requires the login and never sends CORS headers to a foreign origin', async () => {
    const anon = await call(`${nr.url}/flows`);
    assert.equal(anon.status, 401, 'no login, no flows');
    const admin = await nr.login();
    const foreign = await call(`${nr.url}/flows`, {
      headers: { authorization: `Bearer ${admin}`, origin: attacker.url },
    });
    assertJsonError(foreign, 403, 'forbidden_origin');
    const pre = await fetch(`${nr.url}/flows`, {
      method: 'OPTIONS',
      headers: { origin: attacker.url, 'access-control-request-method': 'POST' },
    });
    assert.equal(pre.headers.get('access-control-allow-origin'), null, 'the preflight does not say yes');
    const own = await fetch(`${nr.url}/flows`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(own.status, 200);
    assert.equal(own.headers.get('access-control-allow-origin'), null, 'Node-RED\'s built-in "*" is dropped');
    // DNS rebinding: a foreign name that resolves to 127.0.0.1 is same-origin for the browser, not for us
    // (fetch cannot set Host, so plain http.get)
    const rebinding = await new Promise<Reply>((resolve, reject) => {
      http
        .get(`${nr.url}/flows`, { headers: { host: `evil.example:${nr.port}` } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              type: String(res.headers['content-type']),
              body: JSON.parse(text),
              headers: new Headers(),
            })
          );
        })
        .on('error', reject);
    });
    assertJsonError(rebinding, 421, 'host_not_allowed');
    const wrong = await fetch(`${nr.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'node-red-admin',
        grant_type: 'password',
        scope: '*',
        username: 'admin',
        password: 'moby-dev-only-change-me',
      }),
    });
    assert.ok(wrong.status === 401 || wrong.status === 403, `the old default is no password: HTTP ${wrong.status}`);
  });

  it('a page on another origin cannot resolve or read alerts: form POST, fetch with JSON (even with the token), no-cors text/plain', async () => {
    const open = await openAlerts();
    assert.equal(open.length, 3);
    await page.goto(`${attacker.url}/`);
    const out = await page.evaluate(
      async ({ target, ids, token }) => {
        const document = (globalThis as any).document; // runs in the page
        const res: Record<string, string> = {};
        // the plain HTML form of the issue, submitted into an iframe so the page stays
        for (const id of ids) {
          const frame = document.createElement('iframe');
          frame.name = `f-${id}`;
          document.body.appendChild(frame);
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = `${target}/moby/alerts/${id}/resolve`;
          form.target = frame.name;
          form.enctype = 'application/x-www-form-urlencoded';
          const input = document.createElement('input');
          input.name = 'by';
          input.value = 'mallory';
          form.appendChild(input);
          document.body.appendChild(form);
          await new Promise<void>((resolve) => {
            frame.onload = () => resolve();
            form.submit();
            setTimeout(resolve, 5000);
          });
        }
        const attempt = async (name: string, f: () => Promise<Response>) => {
          try {
            const r = await f();
            res[name] = r.type === 'opaque' ? 'opaque' : `read ${r.status}: ${(await r.text()).slice(0, 80)}`;
          } catch {
            res[name] = 'blocked';
          }
        };
        const id = ids[0];
        await attempt('jsonNoToken', () =>
          fetch(`${target}/moby/alerts/${id}/resolve`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"by":"mallory"}',
          })
        );
        await attempt('jsonWithToken', () =>
          fetch(`${target}/moby/alerts/${id}/resolve`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: '{"by":"mallory"}',
          })
        );
        await attempt('textPlain', () =>
          fetch(`${target}/moby/alerts/${id}/ack`, {
            method: 'POST',
            mode: 'no-cors',
            headers: { 'content-type': 'text/plain' },
            body: '{"by":"mallory"}',
          })
        );
        await attempt('readAlerts', () => fetch(`${target}/moby/alerts`));
        await attempt('readAlertsWithToken', () =>
          fetch(`${target}/moby/alerts`, { headers: { authorization: `Bearer ${token}` } })
        );
        await attempt('readDevices', () => fetch(`${target}/moby/devices`));
        await attempt('readMetrics', () => fetch(`${target}/moby/metrics`));
        return res;
      },
      { target: nr.url, ids: open.map((a) => a.alert_id), token: nr.token }
    );
    for (const k of ['jsonNoToken', 'jsonWithToken', 'readAlerts', 'readAlertsWithToken', 'readDevices', 'readMetrics'])
      assert.equal(out[k], 'blocked', k);
    assert.equal(out.textPlain, 'opaque');
    const still = await openAlerts();
    assert.equal(still.length, 3, 'every alert is still open');
    assert.ok(
      still.every((a) => !a.acknowledged),
      'and none was acknowledged'
    );
  });

  it('the allow-listed Grafana origin reads and acknowledges with the token (the browser path works)', async () => {
    const [first] = await openAlerts();
    await page.goto(`${grafana.url}/`);
    const out = await page.evaluate(
      async ({ target, id, token }) => {
        const list = await fetch(`${target}/moby/alerts`, { headers: { authorization: `Bearer ${token}` } });
        const ack = await fetch(`${target}/moby/alerts/${id}/ack`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: '{"by":"grafana-user"}',
        });
        const noToken = await fetch(`${target}/moby/alerts`);
        return {
          list: list.status,
          count: ((await list.json()) as unknown[]).length,
          ack: ack.status,
          by: ((await ack.json()) as { acknowledged_by: string }).acknowledged_by,
          noToken: noToken.status,
        };
      },
      { target: nr.url, id: first.alert_id, token: nr.token }
    );
    assert.deepEqual(out, { list: 200, count: 3, ack: 200, by: 'grafana-user', noToken: 401 });
  });

  it('answers every error as JSON {error: {code, message}}: bad JSON, oversized body, content type, origin, token, unknown route', async () => {
    const [a] = await openAlerts();
    const post = (headers: Record<string, string>, body: string, id = a.alert_id) =>
      call(`${nr.url}/moby/alerts/${id}/resolve`, { method: 'POST', headers, body });
    const json = { ...auth(), 'content-type': 'application/json' };
    assertJsonError(await post(json, '{"by":'), 400, 'bad_request');
    assertJsonError(await post(json, JSON.stringify({ note: 'x'.repeat(200000) })), 413, 'too_large');
    assertJsonError(
      await post({ ...auth(), 'content-type': 'application/x-www-form-urlencoded' }, 'by=x'),
      415,
      'unsupported_media_type'
    );
    assertJsonError(await post({ ...json, origin: 'http://evil.example' }, '{}'), 403, 'forbidden_origin');
    assertJsonError(await post({ ...json, referer: 'http://evil.example/x.html' }, '{}'), 403, 'forbidden_origin');
    assertJsonError(await post({ 'content-type': 'application/json' }, '{}'), 401, 'unauthorized');
    assertJsonError(
      await post({ 'content-type': 'application/json', authorization: 'Bearer wrong' }, '{}'),
      401,
      'unauthorized'
    );
    assertJsonError(await post(json, '{}', '00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    assertJsonError(
      await call(`${nr.url}/moby/alerts`, { method: 'DELETE', headers: auth() }),
      405,
      'method_not_allowed'
    );
    assertJsonError(await call(`${nr.url}/moby/nothing-here`, { headers: auth() }), 404, 'not_found');
    assertJsonError(await call(`${nr.url}/moby/devices?limit=all`, { headers: auth() }), 400, 'bad_request');
    assert.equal((await openAlerts()).length, 3, 'nothing was resolved on the way');
  });

  it('/moby/metrics takes the same token (Prometheus bearer)', async () => {
    assertJsonError(await call(`${nr.url}/moby/metrics`), 401, 'unauthorized');
    assertJsonError(
      await call(`${nr.url}/moby/metrics`, { headers: { authorization: 'Bearer nope' } }),
      401,
      'unauthorized'
    );
    const ok = await call(`${nr.url}/moby/metrics`, { headers: auth() });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /moby_alerts/);
  });

  it('pages GET /moby/devices with limit and cursor', async () => {
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const r = await call(`${nr.url}/moby/devices?limit=10${next ? `&cursor=${next}` : ''}`, { headers: auth() });
      assert.equal(r.status, 200);
      assert.ok(r.body.length <= 10);
      seen.push(...r.body.map((d: { device_id: string }) => d.device_id));
      next = r.headers.get('x-next-cursor');
      pages++;
    } while (next);
    assert.equal(pages, 3);
    assert.deepEqual(seen, DEVICES);
  });

  it('keeps no secret value in flows_cred.json, which the old public default key cannot open', () => {
    const file = JSON.parse(fs.readFileSync(`${nr.userDir}/flows_cred.json`, 'utf8'));
    assert.throws(() => decryptCredentials('moby-dev-only-change-me', file));
    const creds = decryptCredentials(nr.credentialSecret, file) as Record<string, { apiToken?: string }>;
    assert.equal(creds.alert.apiToken, '${MOBY_API_TOKEN}', 'a reference, not the token');
    assert.ok(!nr.output.join('').includes(nr.token));
  });

  it("the operator's own editor still works: the page loads, logs in and deploys from its own origin", async () => {
    const res = await page.goto(`${nr.url}/`, { waitUntil: 'domcontentloaded' });
    assert.equal(res?.status(), 200);
    const out = await page.evaluate(
      async ({ password }) => {
        const login = await fetch('auth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            client_id: 'node-red-editor',
            grant_type: 'password',
            scope: '*',
            username: 'admin',
            password,
          }),
        });
        const { access_token } = (await login.json()) as { access_token: string };
        const auth = { authorization: `Bearer ${access_token}` };
        const flows = await fetch('flows', { headers: { ...auth, 'Node-RED-API-Version': 'v2' } });
        const body = (await flows.json()) as { rev: string; flows: unknown[] };
        // a same-origin POST carries Origin = Node-RED's own origin: allowed
        const deploy = await fetch('flows', {
          method: 'POST',
          headers: {
            ...auth,
            'content-type': 'application/json',
            'Node-RED-API-Version': 'v2',
            'Node-RED-Deployment-Type': 'nodes',
          },
          body: JSON.stringify({ rev: body.rev, flows: body.flows }),
        });
        return { login: login.status, flows: flows.status, count: body.flows.length, deploy: deploy.status };
      },
      { password: nr.password }
    );
    assert.deepEqual(out, { login: 200, flows: 200, count: flow().length, deploy: 200 });
  });

  it('a page on another origin cannot lock the token holder out: tokenless <img> and no-cors requests are not counted as guesses', async () => {
    await page.goto(`${attacker.url}/`);
    const sent = await page.evaluate(async (target) => {
      const document = (globalThis as any).document; // runs in the page
      let n = 0;
      for (let i = 0; i < 30; i++)
        for (const route of ['moby/metrics', 'moby/alerts', 'moby/devices']) {
          await new Promise<void>((resolve) => {
            const img = document.createElement('img');
            img.onload = img.onerror = () => resolve();
            img.src = `${target}/${route}?i=${i}`;
            document.body.appendChild(img);
          });
          await fetch(`${target}/${route}?n=${i}`, { mode: 'no-cors' }).catch(() => undefined);
          n += 2;
        }
      return n;
    }, nr.url);
    assert.equal(sent, 180);
    const r = await call(`${nr.url}/moby/metrics`, { headers: auth() });
    assert.equal(r.status, 200, 'Prometheus on the same address still scrapes');
    assert.equal((await call(`${nr.url}/moby/alerts`, { headers: auth() })).status, 200);
  });

  it('answers the API only under the names it is reached as (DNS rebinding): 421 before any token is looked at', async () => {
    const get = (hostHeader: string, token: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          `${nr.url}/moby/alerts`,
          { headers: { host: hostHeader, authorization: `Bearer ${token}` } },
          (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          }
        );
        req.on('error', reject);
        req.end();
      });
    for (let i = 0; i < 30; i++) {
      const r = await get(`rebind.example:${nr.port}`, `guess-${i}`);
      assert.equal(r.status, 421, r.body);
      assert.equal(JSON.parse(r.body).error.code, 'host_not_allowed');
    }
    assert.equal((await get(`rebind.example:${nr.port}`, nr.token)).status, 421, 'not even with the token');
    assert.equal((await get(`localhost:${nr.port}`, nr.token)).status, 200, 'the loopback names still work');
    assert.equal(
      (await call(`${nr.url}/moby/alerts`, { headers: auth() })).status,
      200,
      'the guesses were not counted'
    );
  });

  // last: it locks 127.0.0.1 out of token checks for a minute
  it('refuses a client with 429 after 20 failed tokens within a minute, except for the token it used before', async () => {
    let last: Reply | null = null;
    for (let i = 0; i < 25 && (!last || last.status !== 429); i++)
      last = await call(`${nr.url}/moby/alerts`, { headers: { authorization: `Bearer guess-${i}` } });
    assertJsonError(last!, 429, 'too_many_requests');
    assert.ok(Number(last!.headers.get('retry-after')) > 0);
    // further guesses are not even compared
    assertJsonError(
      await call(`${nr.url}/moby/alerts`, { headers: { authorization: 'Bearer guess-after' } }),
      429,
      'too_many_requests'
    );
    // the token this address authenticated with before still works: whoever sends it has it already, and a
    // shared address (Grafana's proxy, Prometheus beside curl) is not locked out by someone else's wrong tokens
    assert.equal((await call(`${nr.url}/moby/alerts`, { headers: auth() })).status, 200);
  });
});
