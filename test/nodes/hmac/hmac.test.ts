// hmac-verify / hmac-sign / keyring through the real Node-RED runtime, loading the compiled node from dist/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import mqtt from 'mqtt';
import {
  parseKey,
  signEnvelope,
  signUserProperties,
  deriveDeviceKey,
  computeMac,
  nowSeconds,
} from '../../../nodes/core/hmac/scheme';
import { requireBinary, waitFor } from '../../support/net';
import { coreMqttBroker, coreMqttIn } from '../../support/core-mqtt-flow';
import { startMosquittoBroker, MosquittoBroker } from '../../support/mosquitto';
import { PUMP_BODY } from '../../support/payloads';
import { collect, type NodeMsg as Msg } from '../../support/node-msg';
import { verifyFlow as sharedVerifyFlow } from '../../support/hmac-flow';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

const SENSOR_BODY =
  '{"device_id":"sensor_001","temperature":25.3,"humidity":60.5,"vibration":0.12,"sound":45.8,"timestamp":"2025-11-17T10:30:00Z"}';

const K1 = 'pump-7-first-secret';
const K2_HEX = '7f'.repeat(32);
const SENSOR_KEY = 'base64:' + Buffer.alloc(32, 3).toString('base64');
const KEYS = {
  'pump-7': {
    k2: { secret: `hex:${K2_HEX}`, primary: true },
    k1: K1,
    k0: { secret: 'pump-7-retired-secret', active: false },
  },
  sensor_001: { s1: SENSOR_KEY },
};

function load(nodes: unknown[], flow: unknown[], creds: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => helper.load(nodes, flow, creds, resolve));
}

/** The verify flow of these tests: a small replay cache, no topic pattern. */
const verifyFlow = (opts: Record<string, unknown> = {}) =>
  sharedVerifyFlow({ replayCache: 1000, topicPattern: '', topicLevel: 1, ...opts });

const creds = { kr: { keys: JSON.stringify(KEYS) } };

function envelope(o: Partial<Parameters<typeof signEnvelope>[0]> = {}): string {
  return JSON.stringify(signEnvelope({ deviceId: 'pump-7', key: parseKey(K1), kid: 'k1', body: PUMP_BODY, ...o }));
}

/** Every warning `node` logs from now on (still logged as well). */
function warnings(node: { warn: (m: unknown) => void }): string[] {
  const warned: string[] = [];
  const warn = node.warn.bind(node);
  node.warn = (m: unknown) => {
    warned.push(String(m));
    warn(m);
  };
  return warned;
}

describe('moby-hmac-verify node', function () {
  afterEach(async () => {
    await helper.unload();
  });

  it('passes a signed envelope with the parsed body, device and auth', async () => {
    await load([hmacNode], verifyFlow(), creds);
    const ok = collect('ok');
    const bad = collect('bad');
    const ts = nowSeconds();
    helper.getNode('v').receive({ payload: envelope({ ts }), topic: 'devices/pump-7/telemetry' });
    await waitFor(() => ok.length === 1, 3000, 'verified message');
    assert.deepEqual(ok[0].payload, JSON.parse(PUMP_BODY));
    assert.equal(ok[0].moby!.device_id, 'pump-7');
    assert.deepEqual(ok[0].moby!.auth, { kid: 'k1', ts, verified: true });
    assert.equal(ok[0].topic, 'devices/pump-7/telemetry');
    assert.equal(bad.length, 0);
  });

  it('accepts the envelope already parsed by mqtt in (body still raw text), and strips a forged moby.auth from rejects', async () => {
    await load([hmacNode], verifyFlow(), creds);
    const ok = collect('ok');
    const bad = collect('bad');
    helper.getNode('v').receive({ payload: JSON.parse(envelope()) });
    helper.getNode('v').receive({
      payload: { ...JSON.parse(envelope()), body: JSON.parse(PUMP_BODY) },
      moby: { auth: { verified: true } },
    });
    await waitFor(() => ok.length === 1 && bad.length === 1, 3000, 'one pass, one reject');
    assert.equal(bad[0].moby!.reject!.code, 'malformed');
    assert.equal(bad[0].moby!.reject!.field, 'body');
    assert.equal(bad[0].moby!.auth, undefined);
  });

  it('rejects every failure on output 2 with its own code, device and reason', async () => {
    await load([hmacNode], verifyFlow({ topicPattern: 'devices/+/telemetry' }), creds);
    const ok = collect('ok');
    const bad = collect('bad');
    const v = helper.getNode('v');
    const topic = 'devices/pump-7/telemetry';
    const replayed = envelope({ nonce: 'replay-me-1' });
    const cases: Array<[string, Msg]> = [
      ['malformed', { payload: '{"device_id":"pump-7"', topic }],
      ['malformed', { payload: 42, topic }],
      ['unknown_device', { payload: envelope({ deviceId: 'pump-9' }), topic: 'devices/pump-9/telemetry' }],
      ['unknown_key', { payload: envelope({ kid: 'k9' }), topic }],
      ['unknown_key', { payload: envelope({ kid: 'k0', key: parseKey('pump-7-retired-secret') }), topic }],
      ['bad_signature', { payload: envelope({ key: parseKey('not-the-pump-7-key') }), topic }],
      ['stale', { payload: envelope({ ts: nowSeconds() - 600 }), topic }],
      ['stale', { payload: envelope({ ts: nowSeconds() + 600 }), topic }],
      ['device_mismatch', { payload: envelope(), topic: 'devices/sensor_001/telemetry' }],
      ['malformed', { payload: envelope({ body: '{"x":{"__proto__":{"polluted":true}}}' }), topic }],
    ];
    for (const [, m] of cases) v.receive(m);
    v.receive({ payload: replayed, topic });
    v.receive({ payload: replayed, topic });
    await waitFor(() => bad.length === cases.length + 1 && ok.length === 1, 3000, 'all rejects');
    assert.deepEqual(
      bad.map((m) => m.moby!.reject!.code),
      [...cases.map(([c]) => c), 'replay']
    );
    for (const m of bad) {
      assert.equal(typeof m.moby!.reject!.reason, 'string');
      assert.ok(m.moby!.reject!.reason.length > 5);
    }
    assert.equal(bad[2].moby!.reject!.device_id, 'pump-9');
    assert.equal(bad[5].moby!.reject!.device_id, 'pump-7');
    assert.equal(bad[9].moby!.reject!.field, 'body.x.__proto__');
    assert.equal(bad[10].moby!.reject!.field, 'nonce');
    // the reject output keeps the payload as received, for forensics
    assert.equal(bad[5].payload, cases[5][1].payload);
  });

  it('says in the log when messages are lost as stale: one line for an episode, not one per message (before: none)', async () => {
    // a pipeline stall longer than the tolerance loses the broker's backlog as stale (operator round 2026-12-06:
    // 1,332 messages, counted but never said)
    await load([hmacNode], verifyFlow({ topicPattern: 'devices/+/telemetry' }), creds);
    const bad = collect('bad');
    const v = helper.getNode('v');
    const warned = warnings(v);
    const topic = 'devices/pump-7/telemetry';
    for (let i = 0; i < 5; i++) v.receive({ payload: envelope({ ts: nowSeconds() - 400 - i }), topic });
    await waitFor(() => bad.length === 5, 3000, 'five stale');
    const stale = warned.filter((w) => /rejected as stale/.test(w));
    assert.equal(stale.length, 1, warned.join('\n'));
    assert.match(stale[0], /^pump-7: message rejected as stale \(timestamp \d+ is 40\d s old, tolerance 300 s\)/);
    assert.match(
      stale[0],
      /the device's clock is behind, the message is a replay, or it waited in the broker .*; only for the last, raise the tolerance and the replay cache together/
    );
  });

  it('says in the log when messages are refused for other reasons: one line at the start, not one per message (operator round 2026-12-07: a forging device showed only in the counters)', async () => {
    await load([hmacNode], verifyFlow({ topicPattern: 'devices/+/telemetry' }), creds);
    const bad = collect('bad');
    const v = helper.getNode('v');
    const warned = warnings(v);
    const topic = 'devices/pump-7/telemetry';
    const forged = () => {
      const e = JSON.parse(envelope());
      e.sig = Buffer.alloc(32, 7).toString('base64');
      return JSON.stringify(e);
    };
    for (let i = 0; i < 5; i++) v.receive({ payload: forged(), topic });
    v.receive({ payload: '{"not": "an envelope"}', topic });
    await waitFor(() => bad.length === 6, 3000, 'six refused');
    const lines = warned.filter((w) => /message rejected as/.test(w));
    assert.equal(lines.length, 1, warned.join('\n'));
    assert.match(lines[0], new RegExp(`^pump-7: message rejected as ${bad[0].moby!.reject!.code} \\(`));
    assert.match(lines[0], /rejected messages leave on output 2$/);
  });

  it('a device that worked and whose messages are now all refused raises one warning on output 4, cleared by its next verified message; made-up ids and a live device never (before: only counters, and device health called it silent)', async () => {
    const flow = verifyFlow({ topicPattern: 'devices/+/telemetry', refusedAfter: 0.5 });
    (flow[1] as { wires: string[][] }).wires = [['ok'], ['bad'], [], ['alerts']];
    // with a master key, as the shipped keyring: every id has a key, so a made-up id's forgeries are bad_signature
    const withMaster = { kr: { keys: JSON.stringify({ ...KEYS, '*': { m1: 'fleet-master-secret-0123456789' } }) } };
    await load([hmacNode], [...flow, { id: 'alerts', type: 'helper' }], withMaster);
    const ok = collect('ok');
    const bad = collect('bad');
    const alerts = collect('alerts');
    const v = helper.getNode('v');
    const topic = 'devices/pump-7/telemetry';
    const sensorTopic = 'devices/sensor_001/telemetry';
    const sensor = () =>
      JSON.stringify(signEnvelope({ deviceId: 'sensor_001', key: parseKey(SENSOR_KEY), kid: 's1', body: SENSOR_BODY }));
    const kids: Record<string, string> = { 'pump-7': 'k1', sensor_001: 's1', 'ghost-1': 'm1' };
    const forged = (deviceId: string) =>
      envelope({ deviceId, kid: kids[deviceId], key: parseKey('pump-7-old-secret') });
    v.receive({ payload: envelope(), topic }); // pump-7 works
    // then its key is rotated on the server only: every message is refused, for longer than refusedAfter
    // meanwhile sensor_001 keeps sending, with forgeries in its name in between; ghost-1 was never verified
    for (let k = 0; k < 8; k++) {
      v.receive({ payload: sensor(), topic: sensorTopic });
      for (let i = 0; i < 4; i++) {
        v.receive({ payload: forged('pump-7'), topic });
        v.receive({ payload: forged('ghost-1'), topic: 'devices/ghost-1/telemetry' });
      }
      // a burst of more than 20 between two verified messages of a live device
      for (let i = 0; i < 25; i++) v.receive({ payload: forged('sensor_001'), topic: sensorTopic });
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => bad.length === 264 && ok.length === 9, 3000, 'all refused, the rest verified');
    assert.deepEqual([...new Set(bad.map((m) => `${m.moby!.reject!.device_id}:${m.moby!.reject!.code}`))].sort(), [
      'ghost-1:bad_signature',
      'pump-7:bad_signature',
      'sensor_001:bad_signature',
    ]);
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    const a = alerts[0] as unknown as { topic: string; alert: Record<string, unknown> };
    assert.equal(a.topic, 'messages-refused');
    assert.deepEqual(
      { ...a.alert, message: undefined },
      { device_id: 'pump-7', rule: 'messages_refused', severity: 'warning', message: undefined }
    );
    assert.match(
      String(a.alert.message),
      /^2\d message\(s\) in the name of pump-7 refused in \d+ s and none verified \(bad_signature 2\d; the last: signature does not match key k1\)/
    );
    v.receive({ payload: envelope(), topic }); // the device has its key again
    await waitFor(() => ok.length === 10 && alerts.length === 2, 3000, 'verified, and the clear');
    assert.deepEqual((alerts[1] as unknown as { alert: unknown }).alert, {
      device_id: 'pump-7',
      rule: 'messages_refused',
      clear: true,
    });
  });

  it("with tenants the refused warning is the tenant's (msg.moby.tenant), and another tenant's device of the same id proves nothing (newcomer round 2026-12-06)", async () => {
    const flow = verifyFlow({ refusedAfter: 0.5 });
    (flow[1] as { wires: string[][] }).wires = [['ok'], ['bad'], [], ['alerts']];
    const ACME = 'acme-master-secret-0123456789';
    const BETA = 'beta-master-secret-0123456789';
    const keys = { '@tenants': { acme: { '*': { m1: ACME } }, beta: { '*': { m1: BETA } } } };
    await load([hmacNode], [...flow, { id: 'alerts', type: 'helper' }], { kr: { keys: JSON.stringify(keys) } });
    const ok = collect('ok');
    const bad = collect('bad');
    const alerts = collect('alerts');
    const v = helper.getNode('v');
    const signed = (tenant: string, master: string) =>
      JSON.stringify(
        signEnvelope({
          deviceId: 'mill-1',
          key: deriveDeviceKey(parseKey(master), 'mill-1'),
          kid: 'm1',
          body: PUMP_BODY,
          tenant,
        })
      );
    v.receive({ payload: signed('acme', ACME) }); // acme's mill-1 works; beta's never did
    for (let k = 0; k < 8; k++) {
      for (let i = 0; i < 4; i++) {
        v.receive({ payload: signed('acme', 'a-wrong-master-0123456789') });
        v.receive({ payload: signed('beta', 'a-wrong-master-0123456789') });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => bad.length === 64 && alerts.length === 1, 3000, 'all refused, one warning');
    assert.equal(ok.length, 1);
    const a = alerts[0] as unknown as { alert: Record<string, unknown>; moby?: { tenant?: string } };
    assert.equal(a.alert.device_id, 'mill-1');
    assert.equal(a.moby?.tenant, 'acme', "acme's alert");
    assert.match(String(a.alert.message), /in the name of mill-1 \(tenant acme\)/);
    v.receive({ payload: signed('beta', BETA) }); // beta's mill-1 verifying clears nothing of acme's
    v.receive({ payload: signed('acme', ACME) });
    await waitFor(() => ok.length === 3 && alerts.length === 2, 3000, "acme's clear");
    const clear = alerts[1] as unknown as { alert: Record<string, unknown>; moby?: { tenant?: string } };
    assert.deepEqual([clear.alert.clear, clear.moby?.tenant], [true, 'acme']);
  });

  it('ATTACK: a topic of a client without keys reaches the reject reason escaped and short (old code: as sent, 60 KB)', async () => {
    await load([hmacNode], verifyFlow({ topicPattern: 'devices/+device_id/telemetry' }), creds);
    const bad = collect('bad');
    const forged = JSON.stringify({ ...JSON.parse(envelope()), sig: `v1=${'0'.repeat(64)}` });
    helper.getNode('v').receive({ payload: forged, topic: `devices/x\u202e<b>${'y'.repeat(60_000)}/telemetry` });
    await waitFor(() => bad.length === 1, 3000, 'the reject');
    const reject = bad[0].moby!.reject!;
    assert.deepEqual([reject.code, reject.field], ['device_mismatch', 'topic']);
    assert.ok(reject.reason.length < 300, `reason of ${reject.reason.length} characters`);
    assert.match(reject.reason, /topic names device x\\u202E\\u003Cb\\u003Eyyy/);
  });

  it('handles key rotation: all active keys tried without kid, several v1 values, retired kid refused', async () => {
    await load([hmacNode], verifyFlow(), creds);
    const ok = collect('ok');
    const bad = collect('bad');
    const v = helper.getNode('v');
    const k2 = parseKey(`hex:${K2_HEX}`);
    v.receive({ payload: envelope({ key: k2, kid: undefined }) });
    v.receive({ payload: envelope({ key: parseKey(K1), kid: undefined }) });
    // a device in transition signs with old and new key at once
    const ts = nowSeconds();
    const both = {
      device_id: 'pump-7',
      ts,
      nonce: 'both-keys-1',
      body: PUMP_BODY,
      sig: `v1=${computeMac(parseKey('pump-7-retired-secret'), 'pump-7', ts, 'both-keys-1', PUMP_BODY)},v1=${computeMac(k2, 'pump-7', ts, 'both-keys-1', PUMP_BODY)}`,
    };
    v.receive({ payload: JSON.stringify(both) });
    // only the retired key: no active key matches
    v.receive({ payload: envelope({ key: parseKey('pump-7-retired-secret'), kid: undefined }) });
    await waitFor(() => ok.length === 3 && bad.length === 1, 3000, 'rotation results');
    assert.deepEqual(
      ok.map((m) => m.moby!.auth!.kid),
      ['k2', 'k1', 'k2']
    );
    assert.equal(bad[0].moby!.reject!.code, 'bad_signature');
  });

  it('accepts the MQTT 5 carrier as msg.userProperties', async () => {
    await load([hmacNode], verifyFlow(), creds);
    const ok = collect('ok');
    const s = signUserProperties({ deviceId: 'sensor_001', key: parseKey(SENSOR_KEY), kid: 's1', body: SENSOR_BODY });
    helper
      .getNode('v')
      .receive({ payload: s.payload, userProperties: s.userProperties, topic: 'devices/sensor_001/telemetry' });
    await waitFor(() => ok.length === 1, 3000, 'verified MQTT 5 message');
    assert.deepEqual(ok[0].payload, JSON.parse(SENSOR_BODY));
    assert.equal(ok[0].moby!.auth!.kid, 's1');
  });

  it('reports a keyring that failed to load as an error a catch node sees, and shows it in the status', async () => {
    const flow = [
      ...verifyFlow(),
      { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    await load([hmacNode, catchNode], flow, { kr: { keys: JSON.stringify({ 'pump-7': { k1: 'short' } }) } });
    const caught = collect('caught');
    const statuses: Array<{ fill?: string; text?: string }> = [];
    helper
      .getNode('v')
      .on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
    helper.getNode('v').receive({ payload: envelope() });
    await waitFor(() => caught.length === 1, 3000, 'caught error');
    const err = caught[0].error as { message: string };
    assert.match(err.message, /keyring not loaded: key pump-7\/k1: key is 5 bytes/);
    assert.ok(!err.message.includes('short'));
    // red with the message too, not only at deploy (before: the deploy's red was replaced by a grey "waiting")
    await waitFor(
      () => statuses.some((s) => s?.fill === 'red' && s.text === 'keyring error'),
      3000,
      JSON.stringify(statuses)
    );
  });

  it('loads keys from a JSON file and an environment variable, and derives keys from the master key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-keys-'));
    const file = path.join(dir, 'keys.json');
    fs.writeFileSync(file, JSON.stringify({ 'press-1': { f1: 'press-1-from-the-file' } }));
    process.env.MOBY_TEST_HMAC_KEYS = JSON.stringify({ 'press-2': { e1: 'press-2-from-the-environment' } });
    try {
      const flow = verifyFlow();
      (flow[0] as Record<string, unknown>).keysFile = file;
      (flow[0] as Record<string, unknown>).keysEnv = 'MOBY_TEST_HMAC_KEYS';
      (flow[0] as Record<string, unknown>).masterKid = 'fleet-2025';
      const master = 'hex:' + 'c3'.repeat(32);
      await load([hmacNode], flow, { kr: { master } });
      const ok = collect('ok');
      const v = helper.getNode('v');
      v.receive({
        payload: envelope({ deviceId: 'press-1', key: parseKey('press-1-from-the-file'), kid: 'f1', body: '{"p":1}' }),
      });
      v.receive({
        payload: envelope({
          deviceId: 'press-2',
          key: parseKey('press-2-from-the-environment'),
          kid: 'e1',
          body: '{"p":2}',
        }),
      });
      v.receive({
        payload: envelope({
          deviceId: 'anything-new',
          key: deriveDeviceKey(parseKey(master), 'anything-new'),
          kid: undefined,
          body: '{"p":3}',
        }),
      });
      await waitFor(() => ok.length === 3, 3000, 'three verified');
      assert.deepEqual(
        ok.map((m) => [m.moby!.device_id, m.moby!.auth!.kid]),
        [
          ['press-1', 'f1'],
          ['press-2', 'e1'],
          ['anything-new', 'fleet-2025'],
        ]
      );
    } finally {
      delete process.env.MOBY_TEST_HMAC_KEYS;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts messages and rejects by code in the Prometheus metrics, and provides the nonce cache gauge (tenant caches included)', async () => {
    // the compiled node uses the compiled metrics module: read that registry
    const metrics = require('../../../dist/nodes/lib/metrics.js');
    const value = (text: string, series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const before = await metrics.metricsText();
    const NORTH = 'north-master-secret-0123456789';
    const withTenant = { kr: { keys: JSON.stringify({ ...KEYS, '@tenants': { north: { '*': { m1: NORTH } } } }) } };
    await load([hmacNode], verifyFlow(), withTenant);
    // the cache may start with nonces another test left in a journal of the same node id: count what it adds
    const loaded = await metrics.metricsText();
    const bad = collect('bad');
    const v = helper.getNode('v');
    const ok = collect('ok');
    v.receive({ payload: envelope() });
    v.receive({ payload: envelope({ key: parseKey('not-the-pump-7-key') }) });
    // a tenant's device: its nonce lives in the tenant's own cache (the gauge read 0 for those, red-team 2026-12-06)
    v.receive({
      payload: JSON.stringify(
        signEnvelope({
          deviceId: 'mill-1',
          key: deriveDeviceKey(parseKey(NORTH), 'mill-1'),
          kid: 'm1',
          body: PUMP_BODY,
          tenant: 'north',
        })
      ),
    });
    await waitFor(() => bad.length === 1 && ok.length === 2, 3000, 'one reject, two verified');
    const after = await metrics.metricsText();
    const diff = (series: string) => value(after, series) - value(before, series);
    assert.equal(diff('moby_messages_total{node_type="moby-hmac-verify",outcome="in"}'), 3);
    assert.equal(diff('moby_messages_total{node_type="moby-hmac-verify",outcome="out"}'), 2);
    assert.equal(diff('moby_rejects_total{node_type="moby-hmac-verify",code="bad_signature"}'), 1);
    assert.ok(/^moby_hmac_nonce_cache_entries /m.test(loaded), 'the gauge is provided once the node runs');
    assert.equal(value(after, 'moby_hmac_nonce_cache_entries') - value(loaded, 'moby_hmac_nonce_cache_entries'), 2);
  });

  it('reloads a watched keys file: new devices verify, a broken edit keeps the previous keys', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-keys-'));
    const file = path.join(dir, 'keys.json');
    fs.writeFileSync(file, JSON.stringify({ 'press-1': { f1: 'press-1-from-the-file' } }));
    try {
      const flow = verifyFlow();
      Object.assign(flow[0], { keysFile: file, watch: true });
      await load([hmacNode], flow, {});
      const ok = collect('ok');
      const bad = collect('bad');
      const v = helper.getNode('v');
      const press2 = () =>
        envelope({ deviceId: 'press-2', key: parseKey('press-2-provisioned-later'), kid: 'f2', body: '{"p":2}' });
      v.receive({ payload: press2() });
      await waitFor(() => bad.length === 1, 3000, 'press-2 unknown at first');
      assert.equal(bad[0].moby!.reject!.code, 'unknown_device');
      fs.writeFileSync(
        file,
        JSON.stringify({ 'press-1': { f1: 'press-1-from-the-file' }, 'press-2': { f2: 'press-2-provisioned-later' } })
      );
      await waitFor(
        () => {
          v.receive({ payload: press2() });
          return ok.length > 0;
        },
        8000,
        'press-2 verified after the file changed',
        300
      );
      fs.writeFileSync(file, '{"press-1": {"f1": "short"}}');
      await new Promise((r) => setTimeout(r, 2500));
      const before = ok.length;
      v.receive({ payload: press2() });
      await waitFor(() => ok.length === before + 1, 3000, 'previous keys still in use');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows passed and rejected counts in the status', async () => {
    await load([hmacNode], verifyFlow(), creds);
    const v = helper.getNode('v');
    const statuses: Array<{ text?: string }> = [];
    v.on('call:status', (call: { args: Array<{ text?: string }> }) => statuses.push(call.args[0]));
    v.receive({ payload: envelope() });
    v.receive({ payload: 'garbage' });
    await waitFor(() => statuses.some((s) => s.text === '✓ 1  ✗ 1 (malformed)'), 3000, 'status with counts');
  });
});

describe('moby-hmac-sign node', function () {
  afterEach(async () => {
    await helper.unload();
  });

  function roundTripFlow(carrier: string, deviceId = '') {
    return [
      { id: 'kr', type: 'moby-keyring', keysEnv: '' },
      {
        id: 's',
        type: 'moby-hmac-sign',
        keyring: 'kr',
        deviceId,
        kid: '',
        carrier,
        wires: [['v', 'signed'], ['sbad']],
      },
      { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', tolerance: 300, replayCache: 1000, wires: [['ok'], ['bad']] },
      { id: 'signed', type: 'helper' },
      { id: 'sbad', type: 'helper' },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
    ];
  }

  for (const carrier of ['envelope', 'mqtt5']) {
    it(`produces what the verify node accepts (${carrier} carrier)`, async () => {
      await load([hmacNode], roundTripFlow(carrier), creds);
      const ok = collect('ok');
      const signed = collect('signed');
      const bad = collect('bad');
      const s = helper.getNode('s');
      s.receive({ payload: JSON.parse(PUMP_BODY) }); // object: serialised, device from payload.device_id
      s.receive({ payload: SENSOR_BODY }); // text: signed byte for byte
      s.receive({ payload: '{"temp":1}', moby: { device_id: 'pump-7' } });
      await waitFor(() => ok.length === 3, 3000, 'three verified');
      assert.equal(bad.length, 0);
      assert.deepEqual(
        ok.map((m) => m.payload),
        [JSON.parse(PUMP_BODY), JSON.parse(SENSOR_BODY), { temp: 1 }]
      );
      assert.deepEqual(
        ok.map((m) => m.moby!.auth!.kid),
        ['k2', 's1', 'k2']
      ); // primary key of pump-7
      if (carrier === 'envelope') {
        assert.equal(typeof signed[1].payload, 'string');
        assert.equal(JSON.parse(signed[1].payload as string).body, SENSOR_BODY);
      } else {
        assert.equal(signed[1].payload, SENSOR_BODY);
        assert.equal(signed[1].userProperties!['x-moby-device'], 'sensor_001');
      }
    });
  }

  it('rejects what it cannot sign', async () => {
    await load([hmacNode], roundTripFlow('envelope'), creds);
    const sbad = collect('sbad');
    const s = helper.getNode('s');
    s.receive({ payload: '{"oops"' });
    s.receive({ payload: { temp: 1 } });
    s.receive({ payload: { device_id: 'pump-99', temp: 1 } });
    s.receive({ payload: JSON.parse('{"device_id":"pump-7","__proto__":{"x":1}}') });
    s.receive({ payload: [1, 2] });
    await waitFor(() => sbad.length === 5, 3000, 'five rejects');
    assert.deepEqual(
      sbad.map((m) => [m.moby!.reject!.code, m.moby!.reject!.field]),
      [
        ['malformed', 'payload'],
        ['malformed', 'device_id'],
        ['unknown_device', undefined],
        ['malformed', 'payload.__proto__'],
        ['malformed', 'payload'],
      ]
    );
  });
});

describe('mqtt in (MQTT 5, Mosquitto) → moby-hmac-verify', function () {
  let broker: MosquittoBroker;

  before(async function () {
    const bin = requireBinary(this, 'mosquitto');
    broker = await startMosquittoBroker(bin);
  });
  after(async () => {
    await broker?.close();
  });
  afterEach(async () => {
    await helper.unload();
  });

  it('verifies user properties exactly as the core mqtt in node delivers them', async () => {
    const flow = [
      coreMqttBroker(broker.port, { protocolVersion: 5 }),
      coreMqttIn('in', 'devices/+/telemetry', [['v']], { rap: true, rh: 0 }),
      ...verifyFlow({ topicPattern: 'devices/+/telemetry' }),
    ];
    await load([hmacNode, mqttNode], flow, creds);
    const ok = collect('ok');
    const bad = collect('bad');
    await waitFor(() => (helper.getNode('b') as { connected?: boolean }).connected, 5000, 'mqtt in connected');
    const client = mqtt.connect(broker.url, { protocolVersion: 5 });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      // the subscription of the mqtt in node may land just after connect: publish until the first arrives
      const publish = (topic: string, s: ReturnType<typeof signUserProperties>) =>
        client.publishAsync(topic, s.payload, { qos: 1, properties: { userProperties: s.userProperties } });
      const sensorKey = parseKey(SENSOR_KEY);
      // priming messages carry their own body, so late arrivals cannot be mistaken for the messages under test
      await waitFor(
        async () => {
          await publish(
            'devices/sensor_001/telemetry',
            signUserProperties({ deviceId: 'sensor_001', key: sensorKey, kid: 's1', body: '{"prime":true}' })
          );
          return ok.length > 0;
        },
        5000,
        'first message through mqtt in',
        200
      );
      const tested = () => ok.filter((m) => !(m.payload as { prime?: boolean }).prime);
      const good = signUserProperties({ deviceId: 'sensor_001', key: sensorKey, body: SENSOR_BODY });
      await publish('devices/sensor_001/telemetry', good);
      await publish('devices/sensor_001/telemetry', good); // replay
      await publish(
        'devices/pump-7/telemetry',
        signUserProperties({ deviceId: 'sensor_001', key: sensorKey, body: SENSOR_BODY })
      ); // wrong topic
      await publish('devices/sensor_001/telemetry', { ...good, payload: good.payload.replace('25.3', '99.9') }); // tampered
      await waitFor(() => tested().length === 1 && bad.length === 3, 5000, 'results over MQTT 5');
      const last = tested()[0];
      assert.deepEqual(last.payload, JSON.parse(SENSOR_BODY));
      assert.deepEqual(last.moby!.auth!.kid, 's1');
      assert.equal(typeof last.userProperties!['x-moby-sig'], 'string');
      assert.deepEqual(
        bad.map((m) => m.moby!.reject!.code),
        ['replay', 'device_mismatch', 'bad_signature']
      );
    } finally {
      await client.endAsync();
    }
  });
});

describe('moby-hmac editor definitions', () => {
  const html = fs.readFileSync(path.join(__dirname, '../../../dist/nodes/hmac/moby-hmac.html'), 'utf8');

  it('registers the three types with valid JavaScript, secrets only as password credentials', () => {
    const registered: Record<
      string,
      {
        category: string;
        credentials?: Record<string, { type: string }>;
        defaults: Record<string, unknown>;
        label: () => string;
      }
    > = {};
    const RED = {
      nodes: { registerType: (type: string, def: (typeof registered)[string]) => (registered[type] = def) },
      validators: { number: () => () => true, regex: () => () => true },
      _: (key: string) => key, // property labels (config-node references) are looked up at registration
    };
    // the shared editor helpers (resources/moby-editor.js) and the message catalogue (this._) as the editor provides them
    const MOBY_EDITOR = { number: () => () => true, topicPattern: () => () => true };
    for (const m of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g))
      new vm.Script(m[1]).runInNewContext({ RED, MOBY_EDITOR });
    assert.deepEqual(Object.keys(registered).sort(), ['moby-hmac-sign', 'moby-hmac-verify', 'moby-keyring']);
    assert.equal(registered['moby-keyring'].category, 'config');
    // JSON round trip: the objects come from the script's own realm
    assert.deepEqual(JSON.parse(JSON.stringify(registered['moby-keyring'].credentials)), {
      keys: { type: 'password' },
      master: { type: 'password' },
    });
    assert.equal(registered['moby-hmac-verify'].category, 'MOBY');
    for (const def of Object.values(registered)) {
      assert.ok(!Object.keys(def.defaults).some((k) => /secret|master$|^keys$/i.test(k)), 'no secret in flow defaults');
      assert.equal(typeof def.label.call({ name: '', _: (key: string) => key }), 'string');
    }
    for (const t of Object.keys(registered)) {
      assert.match(html, new RegExp(`data-template-name="${t}"`));
      assert.match(html, new RegExp(`data-help-name="${t}"`));
    }
  });
});
