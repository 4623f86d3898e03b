// The monitoring-blind alert end to end in the real Node-RED runtime: moby-device-health's third output wired to
// moby-alert, as in the shipped flows. A source that cannot hear (a registered ingest probe, as moby-mqtt-broker
// registers one) opens one critical alert for this Node-RED once it lasts, no device times out meanwhile, and the
// alert resolves when the source hears again, also across a restart.
import assert from 'node:assert/strict';
import { waitFor, sleep } from '../../support/net';
import { useFileContextStore } from '../../support/context-store';
import { helper, loadAlertFlow, alertFlow, collect, api, type Msg } from '../../support/alert-red';

const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
// the registry the compiled nodes read
const { registerIngestProbe } = require('../../../dist/nodes/lib/ingest-watch.js') as {
  registerIngestProbe(id: string, probe: () => boolean | string): () => void;
};

const flow = () =>
  alertFlow({}, [
    {
      id: 'h',
      type: 'moby-device-health',
      timeout: 0.3,
      sweepInterval: 0.05,
      persist: false,
      blindAfter: 0.5,
      wires: [['h-out', 'alert'], ['h-bad'], ['alert']],
    },
    { id: 'h-out', type: 'helper' },
    { id: 'h-bad', type: 'helper' },
  ]);

const alertEvents = (ev: Msg[], kind: string) =>
  ev.map((m) => m.payload).filter((p: any) => p.event === kind && p.alert.rule === 'monitoring_blind');

describe('moby-device-health: monitoring-blind alert through moby-alert', function () {
  let unprobe: (() => void) | null = null;
  afterEach(async () => {
    unprobe?.();
    unprobe = null;
    await helper.unload();
  });

  it('a source that cannot hear opens one critical alert saying why, no device times out, and hearing again resolves it', async () => {
    await loadAlertFlow(flow(), {}, [healthNode]);
    const ev = collect('ev');
    const out = collect('h-out');
    helper
      .getNode('h')
      .receive({ payload: { tags: { device_id: 'm1' } }, moby: { device_id: 'm1', auth: { verified: true } } });
    await waitFor(() => out.length >= 1, 2000, 'm1 ONLINE');
    let deaf: string | true = 'no connection to the broker mqtt://10.9.9.9:1883: connect ECONNREFUSED';
    unprobe = registerIngestProbe('test-source', () => deaf);
    await sleep(300);
    assert.equal(alertEvents(ev, 'open').length, 0, 'not before Alert when blind');
    await waitFor(() => alertEvents(ev, 'open').length === 1, 3000, 'the blind alert opens');
    const opened = alertEvents(ev, 'open')[0].alert;
    assert.match(opened.device_id, /^pipeline@[\w.-]+/);
    assert.equal(opened.severity, 'critical');
    assert.match(
      opened.message,
      /^MOBY has not heard the devices for 1 min: no connection to the broker mqtt:\/\/10\.9\.9\.9:1883/
    );
    const listed = await api().get('/moby/alerts').expect(200);
    const rows = (Array.isArray(listed.body) ? listed.body : listed.body.alerts) as any[];
    assert.ok(
      rows.some((a) => a.alert_id === opened.alert_id && a.status === 'open'),
      'served by the alert API'
    );
    await sleep(500);
    assert.equal(alertEvents(ev, 'open').length, 1, 'one alert per blind stretch');
    assert.deepEqual(
      out.map((m) => (m.payload as any).state),
      ['ONLINE'],
      'no TIMEOUT of the silent device while nothing could be heard'
    );
    deaf = true;
    await waitFor(() => alertEvents(ev, 'resolve').length === 1, 3000, 'resolved once it hears again');
    const resolved = alertEvents(ev, 'resolve')[0].alert;
    assert.equal(resolved.alert_id, opened.alert_id);
    assert.equal(resolved.resolved_by, 'auto');
    // how long it could not hear, not how long the alert was open (operator round 2026-12-07)
    assert.match(resolved.resolve_note, /^MOBY could not hear the devices for \d+ s$/);
  });

  it('wills that arrive just before the broker connection is lost (a broker shutting down publishes them all) open no device alert; a will with the broker heard does, after the will grace (operator round 2026-12-07: 8 false critical alerts per planned Mosquitto restart)', async () => {
    const willFlow = flow().map((n: any) =>
      n.id === 'h' ? { ...n, statusTrust: 'broker', willGrace: 0.5, blindAfter: 0, timeout: 30 } : n
    );
    await loadAlertFlow(willFlow, {}, [healthNode]);
    const ev = collect('ev');
    const out = collect('h-out');
    const h = helper.getNode('h');
    const devices = ['m1', 'm2', 'm3'];
    for (const d of devices)
      h.receive({ payload: { tags: { device_id: d } }, moby: { device_id: d, auth: { verified: true } } });
    await waitFor(() => out.length >= 3, 2000, 'the devices ONLINE');
    // the broker's shutdown: every client's will, then the pipeline's own connection closes
    for (const d of devices) h.receive({ topic: `device/lwt/${d}`, payload: 'OFFLINE' });
    await sleep(100);
    let deaf: string | true = 'no connection to the broker mqtt://127.0.0.1:1883';
    unprobe = registerIngestProbe('test-source', () => deaf);
    await sleep(300);
    deaf = true; // back: the devices reconnect and send
    for (const d of devices)
      h.receive({ payload: { tags: { device_id: d } }, moby: { device_id: d, auth: { verified: true } } });
    await sleep(1000);
    const offline = () => out.map((m) => m.payload as any).filter((p) => p.state === 'OFFLINE');
    assert.deepEqual(offline(), [], 'nobody OFFLINE');
    assert.deepEqual(
      ev.filter((m: any) => m.payload.event === 'open'),
      [],
      'no alert'
    );
    // a device that dies on its own, with the broker heard: OFFLINE one grace after its will, with its time
    const willAt = Date.now();
    h.receive({ topic: 'device/lwt/m2', payload: 'OFFLINE' });
    await sleep(200);
    assert.deepEqual(offline(), [], 'not at once');
    await waitFor(() => offline().length === 1, 3000, 'm2 OFFLINE after the grace');
    assert.equal(offline()[0].device_id, 'm2');
    assert.ok(Math.abs(offline()[0].since - willAt) < 100, 'since the will arrived');
    await waitFor(
      () => ev.some((m: any) => m.payload.event === 'open' && m.payload.alert.rule === 'device_offline'),
      3000,
      'its alert'
    );
  });

  describe('across a restart (localfilesystem context store)', () => {
    const store = useFileContextStore(helper, 'moby-blind-ctx-', 0.05);

    it('the alert left open by the previous run is resolved once the pipeline hears again', async () => {
      await loadAlertFlow(flow(), {}, [healthNode]);
      await store.startFlowsOnStore();
      let ev = collect('ev');
      unprobe = registerIngestProbe('test-source', () => 'stalled');
      await waitFor(() => alertEvents(ev, 'open').length === 1, 3000, 'the blind alert opens');
      const id = alertEvents(ev, 'open')[0].alert.alert_id;
      unprobe();
      unprobe = null;
      // stopped while it was blind: the new run never saw it open
      await store.restartFlows();
      ev = collect('ev');
      const before = await api().get(`/moby/alerts/${id}`).expect(200);
      assert.equal(before.body.status, 'open', 'kept across the restart');
      await waitFor(() => alertEvents(ev, 'resolve').length === 1, 3000, 'resolved after the restart');
      assert.equal(alertEvents(ev, 'resolve')[0].alert.alert_id, id);
    });
  });
});
