// moby-alert through the real Node-RED runtime (compiled node from dist/): lifecycle, dedup, repeat,
// escalation, auto-resolve, persistence across a restart, rejects and the HTTP API.
import assert from 'node:assert/strict';
// the same module instances the compiled node uses
const { registerDeviceSource } =
  require('../../../dist/nodes/lib/device-directory.js') as typeof import('../../../nodes/lib/device-directory');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js') as typeof import('../../../nodes/lib/metrics');
import { waitFor, sleep } from '../../support/net';
import {
  helper,
  loadAlertFlow,
  alertFlow,
  collect,
  api,
  anomalyMsg,
  TEST_TOKEN,
  type Msg,
} from '../../support/alert-red';
import { type Receiver } from '../../support/alert-servers';
import { warnings } from '../../support/node-msg';

function send(msg: Msg): void {
  helper.getNode('alert').receive(msg);
}

function events(ev: Msg[], kind?: string): any[] {
  return ev.map((m) => m.payload).filter((p) => !kind || p.event === kind);
}

describe('moby-alert node: lifecycle', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('opens one alert per device and rule, folds repeats into it and emits events for the writer', async () => {
    await loadAlertFlow(alertFlow({ updateEventSec: 0 }));
    const ev = collect('ev');
    for (let i = 0; i < 5; i++) send(anomalyMsg('pump-1', true, 0.9 + i / 100));
    send(anomalyMsg('pump-2', true));
    await waitFor(() => events(ev).length >= 6, 2000, 'events');
    const opens = events(ev, 'open');
    assert.equal(opens.length, 2, 'one open per device');
    assert.deepEqual(opens.map((e) => e.alert.device_id).sort(), ['pump-1', 'pump-2']);
    assert.match(opens[0].alert.alert_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const updates = events(ev, 'update');
    assert.equal(updates.length, 4);
    const last = updates[updates.length - 1].alert;
    assert.equal(last.count, 5);
    assert.equal(last.value, 0.9 + 4 / 100);
    assert.equal(last.status, 'open');
    assert.equal(last.acknowledged, false);
    assert.ok(ev.every((m) => m.topic === 'alert'));
  });

  it('auto-resolves after N clear points, keeps it unacknowledged, and opens a new alert on a new trigger', async () => {
    await loadAlertFlow(alertFlow({ autoResolvePoints: 3 }));
    const ev = collect('ev');
    send(anomalyMsg('m-1', true));
    send(anomalyMsg('m-1', false));
    send(anomalyMsg('m-1', false));
    send(anomalyMsg('m-1', true)); // resets the clear count
    send(anomalyMsg('m-1', false));
    send(anomalyMsg('m-1', false));
    await sleep(50);
    assert.equal(events(ev, 'resolve').length, 0);
    send(anomalyMsg('m-1', false));
    await waitFor(() => events(ev, 'resolve').length === 1, 2000, 'resolve');
    const resolved = events(ev, 'resolve')[0].alert;
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.acknowledged, false, 'resolved but unacknowledged');
    assert.equal(resolved.resolved_by, 'auto');
    const first = resolved.alert_id;

    // the API shows it resolved-unacked and still lets someone acknowledge it
    const got = await api().get(`/moby/alerts/${first}`).expect(200);
    assert.equal(got.body.status, 'resolved');
    assert.equal(got.body.acknowledged, false);
    const acked = await api()
      .post(`/moby/alerts/${first}/ack`)
      .send({ by: 'kim', note: 'seen after the fact' })
      .expect(200);
    assert.equal(acked.body.status, 'resolved');
    assert.equal(acked.body.acknowledged, true);
    assert.equal(acked.body.acknowledged_by, 'kim');
    assert.equal(acked.body.ack_note, 'seen after the fact');

    send(anomalyMsg('m-1', true));
    await waitFor(() => events(ev, 'open').length === 2, 2000, 'second open');
    assert.notEqual(events(ev, 'open')[1].alert.alert_id, first);
  });

  it('auto-resolves after the condition stays clear for T seconds', async () => {
    await loadAlertFlow(alertFlow({ autoResolvePoints: 0, autoResolveSec: 0.15 }));
    const ev = collect('ev');
    send(anomalyMsg('m-2', true));
    send(anomalyMsg('m-2', false));
    await waitFor(() => events(ev, 'resolve').length === 1, 3000, 'time-based resolve');
    assert.match(events(ev, 'resolve')[0].alert.resolve_note, /clear for \d+ ms/);
  });

  it('escalates an unacknowledged alert after T and leaves an acknowledged one alone', async () => {
    await loadAlertFlow(alertFlow({ escalateAfterSec: 0.2 }));
    const ev = collect('ev');
    send({ alert: { rule: 'overheat', severity: 'warning', message: 'motor hot' }, moby: { device_id: 'press-1' } });
    send({ alert: { rule: 'overheat', severity: 'warning', message: 'motor hot' }, moby: { device_id: 'press-2' } });
    await waitFor(() => events(ev, 'open').length === 2, 2000, 'opens');
    const acked = events(ev, 'open').find((e) => e.alert.device_id === 'press-2').alert.alert_id;
    await api().post(`/moby/alerts/${acked}/ack`).send({ by: 'lee' }).expect(200);
    await waitFor(() => events(ev, 'escalate').length === 1, 3000, 'escalation');
    await sleep(300);
    const esc = events(ev, 'escalate');
    assert.equal(esc.length, 1);
    assert.equal(esc[0].alert.device_id, 'press-1');
    assert.equal(esc[0].alert.severity, 'critical');
    assert.equal(esc[0].alert.escalated, true);
  });

  it('a RUL threshold that is not a number is warned about (before: RUL messages raised nothing, silently)', async () => {
    await loadAlertFlow(alertFlow({ rulThreshold: 'abc', maxOpen: 'lots' }));
    const warned = warnings();
    assert.ok(
      warned.some((w: string) => /RUL threshold "abc" is not a number/.test(w)),
      warned.join('\n')
    );
    assert.ok(warned.some((w: string) => /open alerts at most "lots" is not a number: using 10000/.test(w)));
  });

  it("a tenant token equal to the admin API token is warned about: that tenant's holder has every tenant's scope (tenant red team 2026-12-07: silent)", async () => {
    const flow = alertFlow({});
    const id = (flow as Array<{ id: string; type: string }>).find((n) => n.type === 'moby-alert')!.id;
    await loadAlertFlow(flow, {
      [id]: {
        apiToken: TEST_TOKEN,
        tenantTokens: JSON.stringify({ acme: 'acme-token-0123456789', gamma: TEST_TOKEN }),
      },
    });
    const warned = warnings().filter((w) => /is the admin API token/.test(w));
    assert.deepEqual(warned, [
      "alert API: the token of tenant gamma is the admin API token: whoever holds it sees and changes every tenant's alerts; give each tenant a token of its own",
    ]);
  });

  it('opens on device-health TIMEOUT/OFFLINE, resolves on ONLINE, and handles RUL below threshold', async () => {
    await loadAlertFlow(alertFlow({ rulThreshold: 100, rulCritical: 24 }));
    const ev = collect('ev');
    const health = (state: string) => ({
      topic: 'device-health',
      payload: {
        device_id: 'fan-9',
        state,
        previous: 'ONLINE',
        since: Date.now(),
        last_seen: Date.now() - 60000,
        reason: 'timeout',
      },
    });
    send(health('TIMEOUT'));
    send(health('OFFLINE'));
    await waitFor(() => events(ev).length >= 2, 2000, 'health events');
    assert.equal(events(ev, 'open')[0].alert.rule, 'device_offline');
    assert.equal(events(ev, 'open')[0].alert.severity, 'warning');
    assert.equal(events(ev, 'update')[0].alert.severity, 'critical', 'OFFLINE raises the severity');
    send(health('ONLINE'));
    await waitFor(() => events(ev, 'resolve').length === 1, 2000, 'ONLINE resolves');

    send({
      payload: { measurement: 'rul', tags: { device_id: 'fan-9' }, fields: {}, timestamp: Date.now() },
      rul: { value: 12, unit: 'h' },
    });
    await waitFor(() => events(ev, 'open').length === 2, 2000, 'rul open');
    const rul = events(ev, 'open')[1].alert;
    assert.equal(rul.rule, 'rul');
    assert.equal(rul.severity, 'critical');
    assert.equal(rul.threshold, 100);
  });

  it('rejects bad input on output 3 naming the code, device and field', async () => {
    await loadAlertFlow(alertFlow());
    const rej = collect('rej');
    send({ payload: 'hello' });
    send({ alert: { rule: 'x', severity: 'apocalyptic' }, moby: { device_id: 'd-1' } });
    send({ anomaly: { is_anomaly: true, score: 1 }, payload: { tags: { device_id: '../../etc' } } });
    // (a "__proto__" key cannot survive Node-RED's message cloning; "constructor" does)
    send({ alert: JSON.parse('{"rule":"x","constructor":{"polluted":true}}'), moby: { device_id: 'd-1' } });
    await waitFor(() => rej.length === 4, 2000, 'rejects');
    assert.deepEqual(
      rej.map((m) => m.moby!.reject!.code),
      ['no_signal', 'bad_severity', 'bad_device_id', 'forbidden_key']
    );
    assert.equal(rej[1].moby!.reject!.device_id, 'd-1');
    assert.equal(rej[1].moby!.reject!.field, 'alert.severity');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('provides the moby_alerts gauge by status, severity and acknowledged', async () => {
    await loadAlertFlow(alertFlow());
    const ev = collect('ev');
    send({ alert: { rule: 'leak', severity: 'critical' }, moby: { device_id: 'valve-1' } });
    await waitFor(() => ev.length === 1, 2000, 'open');
    const text = await metricsText();
    assert.match(text, /moby_alerts\{status="open",severity="critical",acknowledged="false"\} 1/);
  });
});

describe('moby-alert node: HTTP API', function () {
  afterEach(async () => {
    await helper.unload();
  });

  async function seed(): Promise<Msg[]> {
    const ev = collect('ev');
    send({
      alert: { rule: 'overheat', severity: 'critical', value: 98, threshold: 80 },
      moby: { device_id: 'oven-1' },
    });
    send({ alert: { rule: 'overheat', severity: 'warning' }, moby: { device_id: 'oven-2' } });
    send({ alert: { rule: 'vibration', severity: 'info' }, moby: { device_id: 'oven-1' } });
    await waitFor(() => ev.length === 3, 2000, 'seeded');
    return ev;
  }

  it('lists with filters, gets one, acks and resolves with who/when/note, and emits the events', async () => {
    await loadAlertFlow(alertFlow());
    const ev = await seed();
    const all = await api().get('/moby/alerts').expect(200).expect('content-type', /json/);
    assert.equal(all.body.length, 3);
    assert.equal((await api().get('/moby/alerts?device=oven-1').expect(200)).body.length, 2);
    assert.equal((await api().get('/moby/alerts?severity=critical,info').expect(200)).body.length, 2);
    assert.equal((await api().get('/moby/alerts?limit=1').expect(200)).body.length, 1);
    assert.equal(
      (
        await api()
          .get(`/moby/alerts?since=${Date.now() + 60000}`)
          .expect(200)
      ).body.length,
      0
    );
    const id = ev[0].payload.alert.alert_id;
    const one = await api().get(`/moby/alerts/${id}`).expect(200);
    assert.equal(one.body.value, 98);

    const ack = await api()
      .post(`/moby/alerts/${id}/ack`)
      .set('content-type', 'application/json')
      .send('{"by":"choi","note":"going"}')
      .expect(200);
    assert.equal(ack.body.acknowledged_by, 'choi');
    assert.ok(ack.body.acknowledged_at > 0);
    assert.equal(ack.body.status, 'open', 'ack does not resolve');
    await api().post(`/moby/alerts/${id}/ack`).send({ by: 'choi' }).expect(409);
    const res = await api()
      .post(`/moby/alerts/${id}/resolve`)
      .send({ by: 'choi', note: 'bearing replaced' })
      .expect(200);
    assert.equal(res.body.status, 'resolved');
    assert.equal(res.body.resolved_by, 'choi');
    assert.equal(res.body.resolve_note, 'bearing replaced');
    const conflict = await api().post(`/moby/alerts/${id}/resolve`).send({}).expect(409);
    assert.equal(conflict.body.error.code, 'already_resolved');
    assert.equal(conflict.body.alert.status, 'resolved');
    assert.equal((await api().get('/moby/alerts?status=open').expect(200)).body.length, 2);
    assert.equal((await api().get('/moby/alerts?status=resolved').expect(200)).body.length, 1);
    await waitFor(
      () => events(ev, 'resolve').length === 1 && events(ev, 'ack').length === 1,
      2000,
      'ack and resolve events'
    );
  });

  it('answers bad requests with JSON errors and proper status codes', async () => {
    await loadAlertFlow(alertFlow());
    const ev = await seed();
    const id = ev[0].payload.alert.alert_id;
    const bad = await api().get('/moby/alerts?limit=abc').expect(400);
    assert.equal(bad.body.error.code, 'bad_request');
    assert.equal(bad.body.error.field, 'limit');
    await api().get('/moby/alerts?status=maybe').expect(400);
    // the runtime's query parser makes a repeated parameter an array: refused, not read as its first value
    const twice = await api().get('/moby/alerts?status=open&status=resolved').expect(400);
    assert.equal(twice.body.error.field, 'status');
    await api().get('/moby/alerts?since=yesterday-ish').expect(400);
    await api().get('/moby/alerts/00000000-0000-4000-8000-000000000000').expect(404);
    await api().get('/moby/alerts/bad%20id!').expect(400);
    await api().post('/moby/alerts/00000000-0000-4000-8000-000000000000/ack').send({ by: 'x' }).expect(404);
    const malformed = await api()
      .post(`/moby/alerts/${id}/ack`)
      .set('content-type', 'application/json')
      .send('{"by":')
      .expect(400);
    assert.match(malformed.body.error.message, /JSON/);
    await api().post(`/moby/alerts/${id}/ack`).send({ by: 42 }).expect(400);
    await api()
      .post(`/moby/alerts/${id}/ack`)
      .set('content-type', 'application/json')
      .send('{"__proto__":{"x":1}}')
      .expect(400);
    await api()
      .post(`/moby/alerts/${id}/ack`)
      .set('content-type', 'application/json')
      .send(JSON.stringify({ note: 'x'.repeat(20000) }))
      .expect(413);
    // who and why reach InfluxDB, the panel and notifications: a bidi override, a NUL or a line break is
    // refused naming the field (before, "kim\u202e" was stored and written as acknowledged_by)
    const bidi = await api().post(`/moby/alerts/${id}/ack`).send({ by: 'kim\u202e' }).expect(400);
    assert.equal(bidi.body.error.field, 'by');
    assert.match(bidi.body.error.message, /U\+202E/);
    const nul = await api().post(`/moby/alerts/${id}/resolve`).send({ by: 'kim', note: 'a\u0000b' }).expect(400);
    assert.equal(nul.body.error.field, 'note');
    const mute = await api().post('/moby/devices/pump-1/mute').send({ by: 'kim', note: 'two\nlines' }).expect(400);
    assert.equal(mute.body.error.field, 'note');
    await api().delete(`/moby/alerts/${id}`).expect(405);
    await api().get(`/moby/alerts/${id}/ack`).expect(405);
    // the alert is untouched by all of that
    const untouched = (await api().get(`/moby/alerts/${id}`).expect(200)).body;
    assert.deepEqual([untouched.acknowledged, untouched.status], [false, 'open']);
    assert.equal(
      (await api().get('/moby/devices').expect(200)).body.find((d: { mute?: unknown }) => d.mute),
      undefined
    );
    // unknown paths under the API's own prefix get the API's JSON 404, never Express's HTML page
    const unknown = await api().get('/moby/something-else').expect(404).expect('content-type', /json/);
    assert.equal(unknown.body.error.code, 'not_found');
  });

  it('requires the bearer token and answers CORS preflights only for the allowed origin', async () => {
    await loadAlertFlow(alertFlow({ corsOrigins: 'http://grafana.local:3000' }), {
      alert: { apiToken: 's3cret-token' },
    });
    await seed();
    const no = await api(null).get('/moby/alerts').expect(401);
    assert.equal(no.body.error.code, 'unauthorized');
    assert.match(no.headers['www-authenticate'], /Bearer/);
    await api().get('/moby/alerts').set('authorization', 'Bearer wrong').expect(401);
    await api().get('/moby/alerts').set('authorization', 'Bearer s3cret-token').expect(200);
    const pre = await api()
      .options('/moby/alerts/abc/ack')
      .set('origin', 'http://grafana.local:3000')
      .set('access-control-request-method', 'POST')
      .expect(204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://grafana.local:3000');
    assert.match(pre.headers['access-control-allow-headers'], /Authorization/);
    const other = await api(null).options('/moby/alerts').set('origin', 'http://evil.example').expect(403);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.body.error.code, 'forbidden_origin');
    const get = await api()
      .get('/moby/alerts')
      .set('origin', 'http://grafana.local:3000')
      .set('authorization', 'Bearer s3cret-token')
      .expect(200);
    assert.equal(get.headers['access-control-allow-origin'], 'http://grafana.local:3000');
  });

  it('refuses every request without a configured token unless the node is explicitly open', async () => {
    await loadAlertFlow(alertFlow(), { alert: {} });
    const refused = await api(null).get('/moby/alerts').expect(401);
    assert.match(refused.body.error.message, /no API token is configured/);
    // and the node says so in its status (not a green "0 open")
    const node = helper.getNode('alert');
    const statuses: Array<{ text?: string; fill?: string }> = [];
    node.status = (st: { text?: string; fill?: string }) => statuses.push(st);
    node.receive({ alert: { rule: 'r', severity: 'info' }, moby: { device_id: 'd-1' } });
    await waitFor(() => statuses.some((st) => /no token/.test(st.text ?? '')), 3000, 'status naming the missing token');
    assert.equal(statuses.find((st) => /no token/.test(st.text ?? ''))!.fill, 'yellow');
    await helper.unload();
    await loadAlertFlow(alertFlow({ apiOpen: true }), { alert: {} });
    await api(null).get('/moby/alerts').expect(200);
  });

  it('serves GET /devices from the device directory (200 [] without device-health nodes)', async () => {
    await loadAlertFlow(alertFlow());
    assert.deepEqual((await api().get('/moby/devices').expect(200)).body, []);
    const off = registerDeviceSource('health-1', () => [
      { device_id: 'pump-1', state: 'ONLINE', since: 1, last_seen: 2 },
    ]);
    try {
      const got = await api().get('/moby/devices').expect(200);
      assert.equal(got.body.length, 1);
      assert.equal(got.body[0].device_id, 'pump-1');
      assert.equal(got.body[0].source, 'health-1');
    } finally {
      off();
    }
  });

  it('serves every alert node that shares a prefix and routes ack to the node holding the alert', async () => {
    await loadAlertFlow([
      ...alertFlow(),
      { id: 'alert2', type: 'moby-alert', apiPrefix: '/moby/', wires: [['ev2'], [], []] },
      { id: 'ev2', type: 'helper' },
    ]);
    const ev2 = collect('ev2');
    helper.getNode('alert2').receive({ alert: { rule: 'r2', severity: 'info' }, moby: { device_id: 'line-2' } });
    send({ alert: { rule: 'r1', severity: 'info' }, moby: { device_id: 'line-1' } });
    await waitFor(() => ev2.length === 1, 2000, 'second node event');
    const all = await api().get('/moby/alerts').expect(200);
    assert.deepEqual(all.body.map((a: any) => a.device_id).sort(), ['line-1', 'line-2']);
    const id2 = ev2[0].payload.alert.alert_id;
    await api().post(`/moby/alerts/${id2}/ack`).send({ by: 'ops' }).expect(200);
    await waitFor(() => ev2.length === 2 && ev2[1].payload.event === 'ack', 2000, 'ack routed to the owning node');
  });
});

describe('moby-alert node: no channels', function () {
  let receiver: Receiver | null = null;
  afterEach(async () => {
    await helper.unload();
    await receiver?.close();
    receiver = null;
  });

  it('sends nothing anywhere and still works when no channel is configured', async () => {
    await loadAlertFlow(alertFlow());
    const ev = collect('ev');
    const fail = collect('fail');
    send(anomalyMsg('x-1', true));
    await waitFor(() => ev.length === 1, 2000, 'open');
    await sleep(50);
    assert.equal(fail.length, 0);
  });
});
