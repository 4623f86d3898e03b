// The alert API handler, input mapping and channel formatting/signing as pure functions.
import assert from 'node:assert/strict';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import {
  DEVICES_DEFAULT_LIMIT,
  DEVICES_MAX_LIMIT,
  handleAlertApi,
  pageDevices,
  tokenMatches,
  type ApiHost,
  type ApiRequest,
} from '../../../../nodes/core/alert/api';
import { FailureLimiter } from '../../../../nodes/core/http-guard';
import { signalsFromMessage, topContributions } from '../../../../nodes/core/alert/inputs';
import {
  signWebhook,
  verifyWebhook,
  slackMessage,
  defangLinks,
  webhookBody,
  subjectLine,
  plainText,
} from '../../../../nodes/core/alert/channels';
import { templateSummary } from '../../../../nodes/core/alert/summary';

function host(engine: AlertEngine, extra: Partial<ApiHost> = {}): ApiHost {
  return {
    list: (f) => engine.list(f),
    get: (id) => engine.get(id),
    acknowledge: (id, by, note) => engine.acknowledge(id, by, note),
    resolve: (id, by, note) => engine.resolve(id, by, note),
    token: 'tok',
    ...extra,
  };
}

/** A request as the Grafana proxy or curl sends it: with the token and, for POST, a JSON content type. */
function req(method: string, path: string, more: Partial<ApiRequest> = {}): ApiRequest {
  const headers: ApiRequest['headers'] = { authorization: 'Bearer tok' };
  if (method === 'POST') headers['content-type'] = 'application/json';
  return { method, path, query: {}, ...more, headers: { ...headers, ...more.headers } };
}

const devices = { devices: () => [] };

describe('alert API handler', () => {
  it('returns null for paths that are not its own, so other routes under the prefix still work', () => {
    const e = new AlertEngine();
    assert.equal(handleAlertApi([host(e)], req('GET', '/metrics'), devices), null);
    assert.equal(handleAlertApi([host(e)], req('GET', '/alerts/a/b/c'), devices), null);
    assert.equal(
      handleAlertApi([host(e)], req('GET', '/metrics', { headers: { authorization: '' } }), devices),
      null,
      'metrics checks the token itself'
    );
  });

  it('merges hosts, routes actions to the holder and returns the updated alert', () => {
    const a = new AlertEngine({ newId: () => 'aaa' });
    const b = new AlertEngine({ newId: () => 'bbb' });
    a.apply({ kind: 'trigger', device_id: 'd1', rule: 'r' });
    b.apply({ kind: 'trigger', device_id: 'd2', rule: 'r' });
    const hosts = [host(a), host(b)];
    const list = handleAlertApi(hosts, req('GET', '/alerts'), devices)!;
    assert.equal((list.body as unknown[]).length, 2);
    const ack = handleAlertApi(hosts, req('POST', '/alerts/bbb/ack', { body: '{"by":"kim","note":"n"}' }), devices)!;
    assert.equal(ack.status, 200);
    assert.equal((ack.body as { acknowledged_by: string }).acknowledged_by, 'kim');
    assert.equal(b.get('bbb')!.acknowledged, true);
    const empty = handleAlertApi(hosts, req('POST', '/alerts/aaa/resolve'), devices)!;
    assert.equal(empty.status, 200);
    assert.equal(
      (empty.body as { resolved_by: string }).resolved_by,
      'api',
      'an empty body is allowed; by defaults to "api"'
    );
  });

  it("an action on another instance's alert while Redis is down answers 503 naming its owner, not 404 (cluster round 2026-12-07)", () => {
    const e = new AlertEngine({ newId: () => 'x1' });
    e.apply({ kind: 'trigger', device_id: 'd9', rule: 'r' });
    const copy = { ...e.get('x1')!, alert_id: 'remote-1' }; // the shared view's copy of moby-2's alert
    const h = host(e, {
      get: (id) => (id === 'remote-1' ? copy : e.get(id)),
      acknowledge: (id) =>
        id === 'remote-1' ? { ok: false, error: 'owner_unreachable', owner: 'moby-2' } : e.acknowledge(id, 'x'),
    });
    const r = handleAlertApi([h], req('POST', '/alerts/remote-1/ack', { body: '{"by":"kim"}' }), devices)!;
    assert.equal(r.status, 503);
    assert.deepEqual((r.body as { error: { code: string } }).error.code, 'owner_unreachable');
    assert.match(
      (r.body as { error: { message: string } }).error.message,
      /^alert remote-1 belongs to instance moby-2, and Redis, through which its actions reach it, is down/
    );
    assert.equal(handleAlertApi([h], req('POST', '/alerts/nope/ack'), devices)!.status, 404, 'an unknown id stays 404');
  });

  it('validates query and body and answers with JSON errors', () => {
    const e = new AlertEngine({ newId: () => 'x1' });
    e.apply({ kind: 'trigger', device_id: 'd', rule: 'r' });
    const h = [host(e)];
    const cases: Array<[ApiRequest, number, string?]> = [
      [req('GET', '/alerts', { query: { limit: '0' } }), 400, 'limit'],
      [req('GET', '/alerts', { query: { limit: '5000' } }), 400, 'limit'],
      [req('GET', '/alerts', { query: { severity: 'fatal' } }), 400, 'severity'],
      [req('GET', '/alerts', { query: { since: 'soon' } }), 400, 'since'],
      [req('GET', '/alerts', { query: { acknowledged: 'yes' } }), 400, 'acknowledged'],
      // a parameter given twice or bracketed was read as its first value: a list the caller did not ask for
      [req('GET', '/alerts', { query: { status: ['open', 'resolved'] } }), 400, 'status'],
      [req('GET', '/alerts', { query: { severity: ['info', 'critical'] } }), 400, 'severity'],
      [req('GET', '/alerts', { query: { device: { x: 'd' } } }), 400, 'device'],
      [req('GET', '/devices', { query: { limit: ['1', '2'] } }), 400, 'limit'],
      [req('GET', '/devices', { query: { cursor: ['a', 'b'] } }), 400, 'cursor'],
      [req('POST', '/devices/d/unmute', { query: { tenant: ['a', 'b'] } }), 400, 'tenant'],
      [req('POST', '/alerts/x1/ack', { body: '[1,2]' }), 400],
      [req('POST', '/alerts/x1/ack', { body: '{"by":"' + 'x'.repeat(300) + '"}' }), 400, 'by'],
      // who and why reach InfluxDB, the panel and notifications: no bidi override, NUL or line break
      [req('POST', '/alerts/x1/ack', { body: JSON.stringify({ by: 'kim\u202e' }) }), 400, 'by'],
      [req('POST', '/alerts/x1/ack', { body: JSON.stringify({ by: 'kim', note: 'a\u0000b' }) }), 400, 'note'],
      [req('POST', '/alerts/x1/resolve', { body: JSON.stringify({ note: 'two\nlines' }) }), 400, 'note'],
      [req('POST', '/alerts/x1/ack', { body: '{"a":{"b":{"c":{"d":1}}}}' }), 400],
      [req('POST', '/alerts/x1/ack', { bodyTooLarge: true }), 413],
      [req('POST', '/alerts/x1/close'), 404],
      [req('PUT', '/alerts'), 405],
      [req('POST', '/devices'), 405],
    ];
    for (const [r, status, field] of cases) {
      const out = handleAlertApi(h, r, devices)!;
      assert.equal(
        out.status,
        status,
        `${r.method} ${r.path} ${JSON.stringify(r.query)} ${String(r.body).slice(0, 40)}`
      );
      const err = (out.body as { error: { code: string; message: string; field?: string } }).error;
      assert.equal(typeof err.code, 'string');
      assert.equal(typeof err.message, 'string');
      if (field) assert.equal(err.field, field);
    }
    assert.equal(e.get('x1')!.acknowledged, false);
    assert.equal(e.get('x1')!.status, 'open');
    const since = handleAlertApi(
      h,
      req('GET', '/alerts', { query: { since: '2000-01-01T00:00:00Z', status: 'unacknowledged' } }),
      devices
    )!;
    assert.equal((since.body as unknown[]).length, 1);
    // a person's punctuation stays allowed
    const ack = handleAlertApi(
      h,
      req('POST', '/alerts/x1/ack', { body: JSON.stringify({ by: "O'Brien <ops>" }) }),
      devices
    )!;
    assert.equal(ack.status, 200);
    assert.equal(e.get('x1')!.acknowledged_by, "O'Brien <ops>");
  });

  it('requires a token on every route: none configured refuses everything unless the host is explicitly open', () => {
    const e = new AlertEngine({ newId: () => 'x1' });
    e.apply({ kind: 'trigger', device_id: 'd', rule: 'r' });
    const none = [host(e, { token: undefined })];
    for (const r of [
      req('GET', '/alerts'),
      req('GET', '/devices'),
      req('GET', '/alerts/x1'),
      req('POST', '/alerts/x1/resolve'),
    ]) {
      const out = handleAlertApi(none, r, devices)!;
      assert.equal(out.status, 401, `${r.method} ${r.path}`);
      assert.equal((out.body as { error: { code: string } }).error.code, 'unauthorized');
    }
    assert.equal(e.get('x1')!.status, 'open');
    assert.equal(
      handleAlertApi(
        [host(e, { token: undefined, open: true })],
        req('GET', '/alerts', { headers: { authorization: '' } }),
        devices
      )!.status,
      200
    );
    const h = [host(e)];
    assert.equal(handleAlertApi(h, req('GET', '/alerts', { headers: { authorization: '' } }), devices)!.status, 401);
    assert.equal(
      handleAlertApi(h, req('GET', '/alerts', { headers: { authorization: 'Basic tok' } }), devices)!.status,
      401
    );
    assert.equal(
      handleAlertApi(h, req('GET', '/alerts', { headers: { authorization: 'Bearer tok2' } }), devices)!.status,
      401
    );
    assert.equal(handleAlertApi(h, req('GET', '/alerts'), devices)!.status, 200);
    assert.equal(tokenMatches('a', 'a'), true);
    assert.equal(tokenMatches('a', 'ab'), false);
  });

  it('refuses cross-site state changes: foreign Origin/Referer (403) and non-JSON bodies (415), before the token', () => {
    const e = new AlertEngine({ newId: () => 'x1' });
    e.apply({ kind: 'trigger', device_id: 'd', rule: 'r' });
    const h = [host(e, { corsOrigins: ['http://grafana.local:3000'] })];
    const own = { host: '127.0.0.1:1880' };
    const cases: Array<[ApiRequest['headers'], number, string]> = [
      [{ ...own, origin: 'http://evil.example' }, 403, 'forbidden_origin'],
      [{ ...own, origin: 'null' }, 403, 'forbidden_origin'],
      [{ ...own, referer: 'http://evil.example/page.html' }, 403, 'forbidden_origin'],
      [{ ...own, origin: 'http://127.0.0.1:1881' }, 403, 'forbidden_origin'],
      [{ ...own, origin: 'http://evil.example', authorization: 'Bearer wrong' }, 403, 'forbidden_origin'],
      // an HTML form can only send these three types, so none of them is accepted
      [{ ...own, 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      [{ ...own, 'content-type': 'text/plain' }, 415, 'unsupported_media_type'],
      [{ ...own, 'content-type': 'multipart/form-data; boundary=x' }, 415, 'unsupported_media_type'],
      [{ ...own, 'content-type': undefined }, 415, 'unsupported_media_type'],
    ];
    for (const [headers, status, code] of cases) {
      const out = handleAlertApi(h, req('POST', '/alerts/x1/resolve', { headers, body: '{"by":"mallory"}' }), devices)!;
      assert.equal(out.status, status, JSON.stringify(headers));
      assert.equal((out.body as { error: { code: string } }).error.code, code);
      assert.equal(out.headers['Access-Control-Allow-Origin'], undefined);
    }
    assert.equal(e.get('x1')!.status, 'open', 'none of them resolved the alert');
    for (const headers of [
      own,
      { ...own, origin: 'http://127.0.0.1:1880' },
      { ...own, origin: 'http://grafana.local:3000' },
      { ...own, 'content-type': 'application/json; charset=utf-8' },
    ]) {
      const e2 = new AlertEngine({ newId: () => 'y1' });
      e2.apply({ kind: 'trigger', device_id: 'd', rule: 'r' });
      const ok = handleAlertApi(
        [host(e2, { corsOrigins: ['http://grafana.local:3000'] })],
        req('POST', '/alerts/y1/ack', { headers, body: '{}' }),
        devices
      )!;
      assert.equal(ok.status, 200, JSON.stringify(headers));
    }
  });

  it('answers CORS only to listed origins, echoing them, and never lets "*" change state', () => {
    const e = new AlertEngine();
    const h = [host(e, { corsOrigins: ['https://grafana.example/'] })];
    const pre = handleAlertApi(
      h,
      req('OPTIONS', '/alerts/abc/ack', { headers: { origin: 'https://grafana.example', authorization: '' } }),
      devices
    )!;
    assert.equal(pre.status, 204, 'a preflight needs no token');
    assert.equal(pre.headers['Access-Control-Allow-Origin'], 'https://grafana.example');
    assert.match(pre.headers['Access-Control-Allow-Methods'], /POST/);
    const evil = handleAlertApi(
      h,
      req('OPTIONS', '/alerts/abc/ack', { headers: { origin: 'https://evil.example' } }),
      devices
    )!;
    assert.equal(evil.status, 403);
    assert.equal(evil.headers['Access-Control-Allow-Origin'], undefined);
    const evilGet = handleAlertApi(h, req('GET', '/alerts', { headers: { origin: 'https://evil.example' } }), devices)!;
    assert.equal(evilGet.headers['Access-Control-Allow-Origin'], undefined, 'a foreign page cannot read the answer');
    const star = [host(e, { corsOrigins: ['*'] })];
    const any = handleAlertApi(star, req('GET', '/devices', { headers: { origin: 'http://x.example' } }), {
      devices: () => [{ device_id: 'p' }],
    })!;
    assert.equal(any.headers['Access-Control-Allow-Origin'], 'http://x.example');
    assert.doesNotMatch(any.headers['Access-Control-Allow-Methods'], /POST/);
    assert.deepEqual(any.body, [{ device_id: 'p' }]);
    assert.equal(
      handleAlertApi(star, req('OPTIONS', '/alerts/abc/ack', { headers: { origin: 'http://x.example' } }), devices)!
        .status,
      403
    );
    assert.equal(
      handleAlertApi(
        star,
        req('POST', '/alerts/abc/ack', { headers: { origin: 'http://x.example', host: 'h:1' }, body: '{}' }),
        devices
      )!.status,
      403
    );
  });

  it('limits failed authentications per client with 429 and Retry-After, without comparing the token', () => {
    let now = 0;
    const limiter = new FailureLimiter({ max: 3, windowMs: 60000, now: () => now });
    const e = new AlertEngine();
    const ctx = { devices: () => [], limiter };
    const bad = (remote: string, token = 'nope') =>
      handleAlertApi([host(e)], req('GET', '/alerts', { remote, headers: { authorization: `Bearer ${token}` } }), ctx)!;
    for (let i = 0; i < 3; i++) assert.equal(bad('10.0.0.1').status, 401);
    const blocked = bad('10.0.0.1');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.headers['Retry-After'], '60');
    assert.equal((blocked.body as { error: { code: string } }).error.code, 'too_many_requests');
    assert.equal(bad('10.0.0.1', 'tok').status, 429, 'blocked clients are not even compared');
    assert.equal(bad('10.0.0.2', 'tok').status, 200, 'other clients are not affected');
    now = 60001;
    assert.equal(bad('10.0.0.1', 'tok').status, 200);
  });

  it('pages GET /devices with limit and an opaque cursor (binary search in the sorted table)', () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({
      device_id: `d-${String(i).padStart(3, '0')}`,
      state: 'ONLINE',
    }));
    const ctx = { devices: () => rows };
    const h = [host(new AlertEngine())];
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const out = handleAlertApi(
        h,
        req('GET', '/devices', { query: cursor ? { limit: '10', cursor } : { limit: '10' } }),
        ctx
      )!;
      assert.equal(out.status, 200);
      const page = out.body as Array<{ device_id: string }>;
      assert.ok(page.length <= 10);
      seen.push(...page.map((r) => r.device_id));
      cursor = out.headers['X-Next-Cursor'];
      if (cursor) assert.match(out.headers.Link, /rel="next"/);
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      rows.map((r) => r.device_id)
    );
    const dflt = handleAlertApi(h, req('GET', '/devices'), {
      devices: () =>
        Array.from({ length: DEVICES_DEFAULT_LIMIT + 5 }, (_, i) => ({ device_id: `x${String(i).padStart(5, '0')}` })),
    })!;
    assert.equal((dflt.body as unknown[]).length, DEVICES_DEFAULT_LIMIT, 'unbounded listings are no longer possible');
    assert.ok(dflt.headers['X-Next-Cursor']);
    for (const query of [
      { limit: '0' },
      { limit: String(DEVICES_MAX_LIMIT + 1) },
      { limit: 'all' },
      { cursor: '!!' },
    ]) {
      const out = handleAlertApi(h, req('GET', '/devices', { query }), ctx)!;
      assert.equal(out.status, 400, JSON.stringify(query));
    }
    assert.deepEqual(
      pageDevices(rows, 5, 'd-022').page.map((r) => r.device_id),
      ['d-023', 'd-024']
    );
    assert.equal(pageDevices(rows, 5, 'd-022').next, undefined);
    assert.equal(pageDevices(rows, 5, 'zzz').page.length, 0);
  });
});

describe('alert input mapping', () => {
  const point = (device: unknown) => ({ measurement: 't', tags: { device_id: device }, fields: {}, timestamp: 1 });

  it("refuses a flow's msg.alert.message with a line break, a bidi override or a NUL; cuts a long one between characters", () => {
    for (const message of ['Overheat\r\nStatus: resolved', 'Overheat \u202Edesolver', 'Overheat\u0000\u001b[31m']) {
      const r = signalsFromMessage({ payload: point('p-1'), alert: { device_id: 'p-1', rule: 'overheat', message } });
      assert.ok(!r.ok, JSON.stringify(message));
      if (!r.ok) assert.deepEqual([r.reject.code, r.reject.field], ['bad_message', 'alert.message']);
    }
    const long = signalsFromMessage({
      payload: point('p-1'),
      alert: { device_id: 'p-1', rule: 'overheat', message: `${'a'.repeat(999)}🚨` },
    });
    assert.ok(long.ok);
    assert.equal(long.signals[0].message, 'a'.repeat(999));
  });

  it('maps anomaly results to trigger/clear with a message naming the top contributors', () => {
    const r = signalsFromMessage({
      payload: point('p-1'),
      anomaly: {
        score: 1.234567,
        threshold: 0.8,
        is_anomaly: true,
        severity: 'critical',
        method: 'pca',
        contributions: { a: 0.1, b: -0.9, c: 0.5, d: 0.05 },
      },
    });
    assert.ok(r.ok);
    assert.equal(r.signals[0].severity, 'critical');
    assert.equal(
      r.signals[0].message,
      'Anomaly on p-1: readings unlike calibration, pca score 1.235 above threshold 0.8 (most unusual: b, c, a)'
    );
    const clear = signalsFromMessage({ payload: point('p-1'), anomaly: { is_anomaly: false, score: 0.1 } });
    assert.ok(clear.ok && clear.signals[0].kind === 'clear');
  });

  it('says why in reason (and which sensor, where the check is about one) besides the message', () => {
    const anomaly = (incident?: Record<string, unknown>) =>
      signalsFromMessage({
        payload: point('p-1'),
        anomaly: {
          score: 2,
          threshold: 1,
          is_anomaly: true,
          severity: 'warning',
          method: 'pca',
          contributions: { temp: 2 },
          ...(incident
            ? { alarm: true, incident: { severity: 'warning', points: 30, opened: true, ...incident } }
            : {}),
        },
      });
    const cause = (r: ReturnType<typeof signalsFromMessage>) =>
      r.ok ? [r.signals[0].reason, r.signals[0].sensor] : ['rejected', r.reject.code];
    assert.deepEqual(cause(anomaly()), ['score', undefined]);
    assert.deepEqual(cause(anomaly({ reason: 'persistent', feature: 'temp' })), ['persistent', undefined]);
    assert.deepEqual(cause(anomaly({ reason: 'drift' })), ['drift', undefined]);
    assert.deepEqual(cause(anomaly({ reason: 'flatline', feature: 'temp' })), ['flatline', 'temp']);
    assert.deepEqual(cause(anomaly({ reason: 'noise', feature: 'temp' })), ['noise', 'temp']);
    assert.deepEqual(cause(anomaly({ reason: 'noise', pattern: 'spikes', feature: 'vib' })), ['spikes', 'vib']);
    assert.deepEqual(cause(anomaly({ reason: 'noise', pattern: 'jump', feature: 'vib' })), ['jump', 'vib']);
    assert.deepEqual(cause(anomaly({ reason: 'missing', feature: 'pressure' })), ['missing', 'pressure']);
    assert.deepEqual(cause(anomaly({ reason: 'flatline', feature: 'x'.repeat(99) })), ['flatline', 'x'.repeat(40)]);
    assert.deepEqual(cause(anomaly({ reason: 'made-up' })), ['persistent', undefined]);
    const health = (state: string) =>
      signalsFromMessage({
        topic: 'device-health',
        payload: { device_id: 'p-1', state, previous: 'ONLINE', since: 1, last_seen: 1, reason: 'lwt' },
      });
    assert.deepEqual(cause(health('OFFLINE')), ['offline', undefined]);
    assert.deepEqual(cause(health('TIMEOUT')), ['timeout', undefined]);
    const rul = signalsFromMessage({ payload: point('p-1'), rul: { value: 5, unit: 'cycles' } }, { rulThreshold: 10 });
    assert.deepEqual(cause(rul), ['rul', undefined]);
    const explicit = signalsFromMessage({ payload: point('p-1'), alert: { device_id: 'p-1', rule: 'overheat' } });
    assert.deepEqual(cause(explicit), [undefined, undefined]);
  });

  it('names the same top contributors as a stable sort by magnitude would, skipping non-finite values', () => {
    // the reference: what the message used before the one-pass selection (entries, filter, stable sort, top 3)
    const reference = (c: Record<string, unknown>) =>
      Object.entries(c)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
        .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
        .slice(0, 3)
        .map(([k]) => k.slice(0, 40));
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const values = [0, -0, 1, -1, 0.5, -0.5, 2, NaN, Infinity, -Infinity, 'x', null, true];
    for (let n = 0; n < 2000; n++) {
      const c: Record<string, unknown> = {};
      const size = Math.floor(rand() * 9);
      for (let i = 0; i < size; i++) {
        const key = rand() < 0.1 ? `${Math.floor(rand() * 5)}` : `f${i}${'x'.repeat(rand() < 0.1 ? 50 : 0)}`;
        c[key] = rand() < 0.5 ? values[Math.floor(rand() * values.length)] : (rand() - 0.5) * 10;
      }
      assert.deepEqual(topContributions(c), reference(c), JSON.stringify(c));
    }
    assert.deepEqual(topContributions({ a: 1, b: -1, c: 1, d: 1 }), ['a', 'b', 'c']);
    assert.deepEqual(topContributions({}), []);
  });

  it('leads with the reason when a drift, flat-line or noise check opened the alarm, not the score', () => {
    const base = { score: 0.0731, threshold: 1, is_anomaly: false, method: 'pca', contributions: { flow: 0.9 } };
    const msg = (incident: object) => {
      const r = signalsFromMessage({ payload: point('pump-009'), anomaly: { ...base, alarm: true, incident } });
      assert.ok(r.ok);
      return r.signals[0].message;
    };
    assert.equal(
      msg({ reason: 'noise', feature: 'pressure', severity: 'warning' }),
      'Anomaly on pump-009: sensor pressure noisy'
    );
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', pattern: 'spikes', severity: 'warning' }),
      'Anomaly on pump-009: intermittent spikes on sensor vibration'
    );
    assert.equal(
      msg({ reason: 'noise', feature: 'pressure', pattern: 'jump', severity: 'warning' }),
      'Anomaly on pump-009: sudden jump on sensor pressure'
    );
    assert.equal(
      msg({ reason: 'flatline', feature: 'temperature', severity: 'warning' }),
      'Anomaly on pump-009: sensor temperature flat-lined'
    );
    assert.equal(
      msg({ reason: 'drift', severity: 'warning' }),
      'Anomaly on pump-009: slow drift away from calibration (most unusual: flow)'
    );
    // critical stays once reached: the message says how high the alarm went; the latest score, below the threshold,
    // is left out (operator round 2026-12-07: "(pca score 0.068, threshold 1)" read as "not an anomaly")
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', pattern: 'spikes', severity: 'critical', peak: 2.41 }),
      'Anomaly on pump-009: intermittent spikes on sensor vibration (up to 2.41 × the pca threshold)'
    );
    assert.equal(
      msg({ reason: 'persistent', severity: 'critical', peak: 2.5 }),
      'Anomaly on pump-009: readings repeatedly unlike calibration, pca point scores above threshold 1, at most 2.5 × threshold (most unusual: flow)'
    );
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', severity: 'warning', peak: 0.8 }),
      'Anomaly on pump-009: sensor vibration noisy',
      'a warning that never went above its threshold has no peak to explain'
    );
    // a spike alarm's later points are warnings while the alert stays critical in the engine: the peak stays
    // (before: every demo spikes alert read "pca score 0.03, threshold 1")
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', pattern: 'spikes', severity: 'warning', peak: 2.41 }),
      'Anomaly on pump-009: intermittent spikes on sensor vibration (up to 2.41 × the pca threshold)'
    );
    // a noise alarm says how much the sensor moves against calibration: its own measure, where the model's score
    // beside it may be far below the threshold (operator round 2026-12-06: "spikes … (pca score 0.049,
    // threshold 1)" read as a false alarm)
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', pattern: 'spikes', severity: 'warning', jitter: 7.3 }),
      'Anomaly on pump-009: intermittent spikes on sensor vibration, moving 7.3× as much as in calibration'
    );
    assert.equal(
      msg({ reason: 'noise', feature: 'pressure', severity: 'warning', jitter: 0.5 }),
      'Anomaly on pump-009: sensor pressure noisy',
      'no ratio below 1 (never a noise alarm) is shown'
    );
    // a reason-led alarm whose latest score is above the threshold says so, with the peak when higher
    assert.equal(
      msg({ reason: 'noise', feature: 'vibration', pattern: 'jump', severity: 'critical', peak: 32, jitter: 9.1 }),
      'Anomaly on pump-009: sudden jump on sensor vibration, moving 9.1× as much as in calibration (up to 32 × the pca threshold)'
    );
    {
      const r = signalsFromMessage({
        payload: point('pump-009'),
        anomaly: { ...base, score: 3.2, alarm: true, incident: { reason: 'drift', severity: 'critical', peak: 6 } },
      });
      assert.ok(r.ok);
      assert.equal(
        r.signals[0].message,
        'Anomaly on pump-009: slow drift away from calibration (pca score 3.2 above threshold 1, peak 6 × threshold) (most unusual: flow)'
      );
    }
    // at its peak now: said once
    const atPeak = signalsFromMessage({
      payload: point('pump-009'),
      anomaly: {
        ...base,
        score: 29.19,
        alarm: true,
        incident: { reason: 'persistent', severity: 'critical', peak: 29.19 },
      },
    });
    assert.ok(atPeak.ok);
    assert.equal(
      atPeak.signals[0].message,
      'Anomaly on pump-009: readings unlike calibration, pca score 29.19 above threshold 1 (most unusual: flow)'
    );
    // a persistent alarm opens on its points' own scores while the smoothed one is still below: said so, without
    // the smoothed score (before: "pca score 0.8746 vs threshold 1", then "above threshold 1 (smoothed score
    // 0.6147)", both read as contradictions)
    assert.equal(
      msg({ reason: 'persistent', severity: 'warning', peak: 0.87 }),
      'Anomaly on pump-009: readings repeatedly unlike calibration, pca point scores above threshold 1 (most unusual: flow)'
    );
  });

  it('maps RUL against the thresholds and explicit alerts with their fields', () => {
    const opts = { rulThreshold: 72, rulCritical: 24 };
    const low = signalsFromMessage({ payload: point('s-1'), rul: { value: 10, unit: 'h' } }, opts);
    assert.ok(low.ok && low.signals[0].severity === 'critical' && low.signals[0].rule === 'rul');
    const ok = signalsFromMessage({ moby: { device_id: 's-1' }, rul: { value: 100 } }, opts);
    assert.ok(ok.ok && ok.signals[0].kind === 'clear');
    const off = signalsFromMessage({ moby: { device_id: 's-1' }, rul: { value: 1 } });
    assert.ok(off.ok && off.signals.length === 0, 'no RUL threshold configured → no RUL alerts');
    const ex = signalsFromMessage({
      alert: { device_id: 'x-1', rule: 'door_open', severity: 'info', value: 3, threshold: 2 },
    });
    assert.ok(ex.ok);
    assert.deepEqual(ex.signals[0], {
      kind: 'trigger',
      device_id: 'x-1',
      rule: 'door_open',
      severity: 'info',
      message: 'door_open on x-1',
      value: 3,
      threshold: 2,
    });
    const clr = signalsFromMessage({ alert: { device_id: 'x-1', rule: 'door_open', clear: true } });
    assert.ok(clr.ok && clr.signals[0].kind === 'clear' && clr.signals[0].immediate === true);
    assert.equal(clr.ok && clr.signals[0].note, undefined);
    const noted = signalsFromMessage({
      alert: { device_id: 'x-1', rule: 'door_open', clear: true, note: 'Door closed by the night shift' },
    });
    assert.ok(noted.ok);
    assert.equal(noted.signals[0].note, 'Door closed by the night shift');
  });

  it("an immediate clear's note becomes the alert's resolve note (default: condition cleared)", () => {
    const engine = new AlertEngine();
    for (const [note, expected] of [
      ['The database took no points for 7 min', 'The database took no points for 7 min'],
      [undefined, 'condition cleared'],
    ] as const) {
      engine.apply({ kind: 'trigger', device_id: 'db@h', rule: 'database_unwritable', severity: 'warning' });
      const out = engine.apply({
        kind: 'clear',
        device_id: 'db@h',
        rule: 'database_unwritable',
        immediate: true,
        ...(note ? { note } : {}),
      });
      assert.ok(out.ok);
      assert.equal(out.events[0]?.event, 'resolve');
      assert.equal(out.events[0]?.alert.resolve_note, expected);
    }
  });

  it('rejects malformed input naming code, device and field', () => {
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [{ payload: 42 }, 'no_signal', undefined],
      [{ payload: point(''), anomaly: { is_anomaly: true, score: 1 } }, 'bad_device_id', 'payload.tags.device_id'],
      [{ payload: point('a b'), anomaly: { is_anomaly: true, score: 1 } }, 'bad_device_id', 'payload.tags.device_id'],
      [{ payload: point('p'), anomaly: { is_anomaly: 'yes' } }, 'bad_anomaly', 'anomaly.is_anomaly'],
      [{ payload: point('p'), anomaly: { is_anomaly: true, score: NaN } }, 'bad_anomaly', 'anomaly.score'],
      [{ payload: point('p'), rul: { value: 'soon' } }, 'bad_rul', 'rul.value'],
      [{ topic: 'device-health', payload: { device_id: 'p', state: 'ASLEEP' } }, 'bad_health', 'payload.state'],
      [{ topic: 'device-health', payload: { state: 'OFFLINE' } }, 'bad_device_id', 'payload.device_id'],
      [{ alert: { rule: 'r' } }, 'bad_device_id', 'alert.device_id'],
      [{ alert: { device_id: 'p', rule: 'has space' } }, 'bad_rule', 'alert.rule'],
      [{ alert: { device_id: 'p', rule: 'r', value: Infinity } }, 'bad_number', 'alert.value'],
      [{ alert: { device_id: 'p', rule: 'r', clear: true, note: 'line\nbreak' } }, 'bad_note', 'alert.note'],
      [{ alert: { device_id: 'p', rule: 'r', clear: true, note: 7 } }, 'bad_note', 'alert.note'],
      [{ alert: { device_id: 'p', rule: 'r', clear: true, note: 'x'.repeat(1001) } }, 'bad_note', 'alert.note'],
      [{ alert: JSON.parse('{"device_id":"p","rule":"r","__proto__":{"x":1}}') }, 'forbidden_key', 'alert.__proto__'],
    ];
    for (const [msg, code, field] of cases) {
      const r = signalsFromMessage(msg);
      assert.ok(!r.ok, JSON.stringify(msg));
      assert.equal(r.reject.code, code, JSON.stringify(msg));
      assert.equal(r.reject.field, field, JSON.stringify(msg));
    }
  });
});

describe('alert channel formatting and signing', () => {
  const alert = {
    alert_id: '3f2b',
    device_id: 'pump-1',
    rule: 'anomaly',
    severity: 'critical' as const,
    status: 'open' as const,
    acknowledged: false,
    message: 'Anomaly on pump-1',
    count: 3,
    opened_at: 0,
    updated_at: 0,
    value: 2,
    threshold: 1,
  };

  it('signs like the Standard Webhooks reference vector and verifies in constant time', () => {
    // test vector from the Standard Webhooks specification
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const sig = signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    assert.ok(
      verifyWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', `v1,bogus ${sig}`)
    );
    assert.ok(!verifyWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265331, '{"test": 2432232314}', sig));
  });

  it('formats Slack, webhook and mail content from the alert', () => {
    const n = { kind: 'open' as const, time: 0, alert, summary: templateSummary(alert) };
    const slack = slackMessage(n);
    assert.match(slack.text, /^:rotating_light: New alert: anomaly on pump-1 \(critical\)\n/);
    assert.equal(slack.mrkdwn, false);
    assert.deepEqual((slack.blocks[0] as { text: unknown }).text, {
      type: 'mrkdwn',
      text: ':rotating_light: *New alert* (critical)',
    });
    assert.equal((webhookBody(n) as { type: string }).type, 'alert.open');
    assert.equal((webhookBody(n) as { data: { summary: string } }).data.summary, n.summary);
    // a receiver that forwards only the summary learns of the unnotified openings too
    const flapped = webhookBody({ ...n, quieted: { count: 4, since: 0 } }) as {
      data: { summary: string; alert: { summary?: string }; quieted: unknown };
    };
    assert.match(
      flapped.data.summary,
      /^CRITICAL: .* Flapping: opened and resolved 4 times more since the last notice \(.*\); those were not notified\.$/
    );
    assert.deepEqual(flapped.data.quieted, { count: 4, since: 0 });
    assert.equal(subjectLine({ ...n, kind: 'resolve' }), '[MOBY CRITICAL] Alert resolved: anomaly on pump-1');
    // the latest signal's value, not a peak the message may quote (operator round 2026-12-07)
    assert.match(plainText(n), /\nLatest value: 2 \(threshold 1\)\n/);
    assert.ok(JSON.stringify(slack.blocks).includes('*Latest value*\\n2 / 1'));
    const savedTz = process.env.TZ;
    process.env.TZ = 'America/St_Johns'; // times are the host's, with its offset
    try {
      assert.match(
        templateSummary(alert),
        /^CRITICAL: Anomaly on pump-1\. Seen 3 times since 1969-12-31 20:30:00 -03:30\./
      );
      assert.match(plainText(n), /\nOccurrences: 3, opened 1969-12-31 20:30:00 -03:30\n/);
    } finally {
      if (savedTz === undefined) delete process.env.TZ;
      else process.env.TZ = savedTz;
    }
  });

  it("names the tenant in every text: two tenants' devices of one id were the same page on a shared channel (red-team round 2026-12-07)", () => {
    const beta = { ...alert, tenant: 'beta' };
    const n = { kind: 'open' as const, time: 0, alert: beta, summary: templateSummary(beta) };
    assert.equal(subjectLine(n), '[MOBY CRITICAL] New alert: anomaly on pump-1 (tenant beta)');
    assert.match(slackMessage(n).text, /^:rotating_light: New alert: anomaly on pump-1 \(tenant beta\) \(critical\)\n/);
    const fields = (slackMessage(n).blocks[1] as { fields: Array<{ text: string }> }).fields.map((f) => f.text);
    assert.deepEqual(fields, ['*Rule*', 'anomaly', '*Device*', 'pump-1', '*Tenant*', 'beta']);
    assert.match(plainText(n), /\nDevice: pump-1\nTenant: beta\n/);
    assert.equal((webhookBody(n) as { data: { alert: { tenant?: string } } }).data.alert.tenant, 'beta');
    // a page sent before its alert could be saved says it may be the last word on it, on every channel
    const unsaved = { ...n, unsaved: true as const };
    assert.match(plainText(unsaved), /\nMOBY could not save this alert \(its disk is full or failing\)/);
    assert.ok(JSON.stringify(slackMessage(unsaved).blocks).includes('MOBY could not save this alert'));
    assert.doesNotMatch(plainText(n), /could not save/);
    // without tenants nothing changes
    assert.equal(subjectLine({ ...n, alert }), '[MOBY CRITICAL] New alert: anomaly on pump-1');
    assert.doesNotMatch(plainText({ ...n, alert }), /Tenant/);
  });

  it('an opening after a resolve by hand says so on every channel, between the flapping and the unsaved lines', () => {
    const reopenedAt = { ...alert, opened_at: 65_000 };
    const n = {
      kind: 'open' as const,
      time: 0,
      alert: reopenedAt,
      summary: 'CRITICAL: Anomaly on pump-1.',
      quieted: { count: 2, since: 0 },
      reopened: { alert_id: '1a1a', by: 'op1', at: 64_000 },
      unsaved: true as const,
    };
    const line = 'Reopened 1 s after op1 resolved the previous alert (1a1a) by hand: its condition is still there';
    const text = plainText(n);
    assert.ok(text.includes(`not notified\n${line}\nMOBY could not save`), text);
    const blocks = JSON.stringify(slackMessage(n).blocks);
    assert.ok(blocks.includes(line), blocks);
    const body = webhookBody(n) as { data: { summary: string; reopened: unknown } };
    assert.match(body.data.summary, /not notified\. Reopened 1 s after op1 .* still there\. MOBY could not save/);
    assert.deepEqual(body.data.reopened, { alert_id: '1a1a', by: 'op1', at: 64_000 });
    const plain = { ...n, quieted: undefined, reopened: undefined, unsaved: undefined };
    assert.doesNotMatch(plainText(plain), /Reopened/);
    assert.equal((webhookBody(plain) as { data: { reopened?: unknown } }).data.reopened, undefined);
  });

  it('escapes Slack control sequences in what devices, flows and the LLM wrote: no mention, no disguised link', () => {
    // an LLM summary steered by a device string, or a msg.alert message from a flow
    const evil =
      'Ignore the rest. <!channel> <!here> <@U024BE7LH> reset at <https://evil.example/login|the dashboard> & now';
    const n = {
      kind: 'open' as const,
      time: 0,
      alert: { ...alert, message: evil, rule: 'r<x>', device_id: 'pump-1' },
      summary: evil,
    };
    const slack = slackMessage(n);
    const texts = [slack.text, JSON.stringify(slack.blocks)];
    for (const t of texts) {
      assert.ok(!t.includes('<!channel>') && !t.includes('<!here>') && !t.includes('<@U024'), t);
      assert.ok(!t.includes('<https://evil'), t);
      assert.ok(!t.includes('r<x>'), t);
    }
    assert.match(slack.text, /&lt;!channel&gt; &lt;!here&gt; &lt;@U024BE7LH&gt;/);
    assert.match(slack.text, /&lt;https\[:\]\/\/evil\[\.\]example\/login\|the dashboard&gt; &amp; now$/);
    // the link MOBY itself adds (the configured alert URL) stays a link
    const linked = slackMessage({ ...n, url: 'https://grafana.example/d/moby' });
    assert.match(JSON.stringify(linked.blocks), /<https:\/\/grafana\.example\/d\/moby\|details>/);
  });

  it("breaks links a device or the LLM wrote in the e-mail, keeping MOBY's own details link (red-team 2026-12-05)", () => {
    const evil = 'https://evil.example/login';
    const n = {
      kind: 'open' as const,
      time: 0,
      alert: { ...alert, equipment_id: `${evil} Status: resolved`, message: `sudden jump on sensor ${evil}` },
      summary: `Check www.evil.example now, see ${evil}`,
      url: 'https://grafana.example/d/moby?var-device=pump-1',
    };
    const body = plainText(n);
    assert.ok(!body.includes('://evil') && !body.includes('www.evil'), body);
    assert.match(body, /equipment https\[:\]\/\/evil\[\.\]example\/login Status: resolved/);
    assert.match(body, /Check www\[\.\]evil\[\.\]example now/);
    assert.ok(body.endsWith('\nhttps://grafana.example/d/moby?var-device=pump-1'), 'the configured link stays whole');
    assert.ok(!subjectLine({ ...n, alert: { ...n.alert, rule: `rule ${evil}` } }).includes('://'));
  });

  it('keeps an escaped untrusted Slack text within the text-object limit, so Slack does not refuse the message', () => {
    // 1,000 `&` (the summary cap) become 5,000 characters once escaped; a section text takes at most 3,000
    const n = { kind: 'open' as const, time: 0, alert, summary: '&'.repeat(1000) };
    const block = (slackMessage(n).blocks as { text?: { type: string; text: string } }[])[2];
    assert.equal(block.text!.type, 'plain_text');
    assert.ok(block.text!.text.length <= 3000, String(block.text!.text.length));
    assert.match(block.text!.text, /^(&amp;)+…$/, 'cut between entities, never inside one');
    assert.ok(slackMessage(n).text.length <= 3000);
    assert.equal(
      defangLinks('see HTTPS://a.example, ftp://b and www.c.example'),
      'see HTTPS[:]//a[.]example, ftp[:]//b and www[.]c[.]example'
    );
    // a bare host, which Slack links without a scheme (red-team round 2026-12-07: a sensor named so); numbers,
    // addresses, e.g. and sentence ends stay as they are
    assert.equal(
      defangLinks('spikes on sensor Reset_password_at_evil-pay.com/login_v, evil.com.x1'),
      'spikes on sensor Reset_password_at_evil-pay[.]com/login_v, evil[.]com.x1'
    );
    assert.equal(
      defangLinks('score 0.93 above 0.8 at 10.0.0.5:8086 (e.g. vibration). Inspect it.'),
      'score 0.93 above 0.8 at 10.0.0.5:8086 (e.g. vibration). Inspect it.'
    );
    // a character glued before the scheme or www hid it from a word boundary (red-team round 2026-12-05)
    assert.equal(
      defangLinks('_https://evil.example/login 0https://e.example x_www.f.example WWW.g.example'),
      '_https[:]//evil[.]example/login 0https[:]//e[.]example x_www[.]f[.]example WWW[.]g[.]example'
    );
  });
});

describe('device listing for GET /devices', () => {
  it('builds in slices exactly what the one-go listing builds (merged sources, newest row wins, sorted), and reuses it', async () => {
    const dir = await import('../../../../nodes/lib/device-directory');
    const ids = Array.from({ length: 40 }, (_, i) => `d-${(i * 17) % 40}`);
    const offA = dir.registerDeviceSource('a', () =>
      ids.map((id, i) => ({ device_id: id, state: 'ONLINE' as const, since: 1, last_seen: i }))
    );
    const offB = dir.registerDeviceSource('b', () =>
      ids.slice(0, 10).map((id) => ({ device_id: id, state: 'OFFLINE' as const, since: 1, last_seen: 1000 }))
    );
    try {
      const whole = dir.listDevices();
      for (const step of [1, 3, 7, 64]) assert.deepEqual(await dir.listDevicesInSlices(step), whole, `step ${step}`);
      assert.equal(whole.length, 40);
      assert.ok(whole.every((r, i) => i === 0 || whole[i - 1].device_id < r.device_id));
      assert.equal(whole.find((r) => r.device_id === ids[0])!.source, 'b', 'the newer row wins');
      let t = 0;
      const first = await dir.listDevicesForApi(() => t);
      t = 500;
      assert.equal(await dir.listDevicesForApi(() => t), first, 'reused within its lifetime');
      t = 5000;
      assert.notEqual(await dir.listDevicesForApi(() => t), first, 'rebuilt afterwards');
    } finally {
      offA();
      offB();
    }
  });
});
