// A flow saved before the shared topic syntax (test/fixtures/flows/topic-settings-before.json: verify with
// "device is +2" and with no level given, normalize topic tags, health's {device_id} and last-+ patterns,
// and a health node saved before its topic fields existed) loaded in the real Node-RED runtime. It must
// give the same device ids, tags and rejects as before, and the same as the flow written in the new syntax.
// MOBY_TOPIC_DIST points the test at another build (to run it against the code before the change).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { waitFor } from '../../support/net';
import { collect, type NodeMsg } from '../../support/node-msg';

const dist = process.env.MOBY_TOPIC_DIST ?? path.join(__dirname, '../../../dist');
const helper = require('node-red-node-test-helper');
const hmacNode = require(path.join(dist, 'nodes', 'hmac', 'moby-hmac.js'));
const normalizeNode = require(path.join(dist, 'nodes', 'normalize', 'moby-normalize.js'));
const healthNode = require(path.join(dist, 'nodes', 'health', 'moby-device-health.js'));

helper.init(require.resolve('node-red'));

type FlowNode = Record<string, unknown> & { id: string; type: string };
const SAVED: FlowNode[] = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../fixtures/flows/topic-settings-before.json'), 'utf8')
);
const HELPERS = [
  'verified-site',
  'verified-devices',
  'verify-rejects',
  'points',
  'normalize-rejects',
  'health-events',
  'health-defaults-events',
  'health-rejects',
];
const KEY = 'hex:' + '5a'.repeat(32);

/** The same flow as a user writes it today: one pattern per field, +device_id naming the device level. */
function inNewSyntax(flow: FlowNode[]): FlowNode[] {
  const now: Record<string, Record<string, unknown>> = {
    'old-verify-site': { topicPattern: 'site/+/+device_id/telemetry' },
    'old-verify-devices': { topicPattern: 'devices/+device_id/telemetry' },
    'old-health': {
      lwtTopics: 'device/lwt/+device_id',
      statusTopics: 'device/status/+device_id, plant/+/status/+device_id',
      activityTopics: 'factory/+/+device_id/#',
    },
    'old-health-defaults': {
      lwtTopics: 'device/lwt/+device_id',
      statusTopics: 'device/status/+device_id',
      activityTopics: '',
    },
  };
  return flow.map((n) => {
    const copy: FlowNode = { ...n, ...now[n.id] };
    delete copy.topicLevel;
    return copy;
  });
}

function signed(deviceId: string, body: unknown): string {
  return JSON.stringify(signEnvelope({ deviceId, key: parseKey(KEY), kid: 'k1', body: JSON.stringify(body) }));
}

const rejectLine = (m: NodeMsg) => {
  const r = m.moby!.reject!;
  return `${r.code} ${r.field ?? '-'} ${r.device_id ?? '-'}: ${r.reason}`;
};

/** Feeds the same messages to the loaded flow and returns what every helper received, in a comparable form. */
async function transcript(flow: FlowNode[]): Promise<Record<string, string[]>> {
  await new Promise<void>((resolve, reject) =>
    helper.load(
      [hmacNode, normalizeNode, healthNode],
      [...flow, ...HELPERS.map((id) => ({ id, type: 'helper', z: 'old-tab' }))],
      { 'old-keyring': { keys: JSON.stringify({ 'pump-7': { k1: KEY } }) } },
      (err?: Error) => (err ? reject(err) : resolve())
    )
  );
  const got = Object.fromEntries(HELPERS.map((id) => [id, collect(id)]));
  const site = helper.getNode('old-verify-site');
  const body = { temperature: 21.5 };
  site.receive({ topic: 'site/plant-1/pump-7/telemetry', payload: signed('pump-7', body) });
  site.receive({ topic: 'site/plant-1/pump-8/telemetry', payload: signed('pump-7', body) });
  site.receive({ topic: 'devices/pump-7/telemetry', payload: signed('pump-7', body) });
  site.receive({ topic: 'site//pump-7/telemetry', payload: signed('pump-7', body) });
  site.receive({ topic: 'site/hall <b>/pump-7/telemetry', payload: signed('pump-7', body) });
  const devices = helper.getNode('old-verify-devices');
  devices.receive({ topic: 'devices/pump-7/telemetry', payload: signed('pump-7', body) });
  devices.receive({ topic: 'devices/pump-8/telemetry', payload: signed('pump-7', body) });
  const health = helper.getNode('old-health');
  health.receive({ topic: 'device/lwt/pi-7', payload: 'ONLINE' });
  health.receive({ topic: 'plant/p1/status/pi-7', payload: 'OFFLINE' });
  health.receive({ topic: 'factory/hall-1/m-3/vibration', payload: { rms: 0.1 } });
  health.receive({ topic: 'device/lwt/pi-7', payload: { device_id: 'pi-8', status: 'ONLINE' } });
  health.receive({ topic: 'factory/hall-1/m 3/vibration', payload: { rms: 0.1 } });
  health.receive({ topic: 'device/status/', payload: 'ONLINE' });
  const defaults = helper.getNode('old-health-defaults');
  defaults.receive({ topic: 'device/status/pi-7', payload: 'ONLINE' });
  defaults.receive({ topic: 'device/lwt/pi-7', payload: 'OFFLINE' });
  const count = () => Object.values(got).reduce((n, list) => n + list.length, 0);
  // a missing answer shows in the comparison below, with everything that did arrive
  await waitFor(() => count() >= 17, 5000, 'every message answered').catch(() => undefined);
  const events = (list: NodeMsg[]) =>
    list
      .filter((m) => m.topic === 'device-health')
      .map((m) => `${m.payload.device_id}:${m.payload.previous}>${m.payload.state}:${m.payload.reason}`);
  const out = {
    'verified-site': got['verified-site'].map((m) => m.moby!.device_id!),
    'verified-devices': got['verified-devices'].map((m) => m.moby!.device_id!),
    'verify-rejects': got['verify-rejects'].map(rejectLine),
    points: got.points.map((m) => JSON.stringify(m.payload.tags)),
    'normalize-rejects': got['normalize-rejects'].map(rejectLine),
    'health-events': events(got['health-events']),
    'health-defaults-events': events(got['health-defaults-events']),
    'health-rejects': got['health-rejects'].map(rejectLine),
  };
  await helper.unload();
  return out;
}

const EXPECTED = {
  'verified-site': ['pump-7', 'pump-7'],
  'verified-devices': ['pump-7'],
  'verify-rejects': [
    'device_mismatch topic pump-7: topic names device pump-8 but the message is signed for pump-7',
    'device_mismatch topic pump-7: topic "devices/pump-7/telemetry" does not match the device topic pattern',
    'device_mismatch topic pump-7: topic "site//pump-7/telemetry" does not match the device topic pattern',
    'device_mismatch topic pump-7: topic names device pump-8 but the message is signed for pump-7',
  ],
  points: ['{"site":"plant-1","device_id":"pump-7"}'],
  'normalize-rejects': ['bad_tag_value topic.site pump-7: topic level for site "hall \\u003Cb\\u003E" contains "<"'],
  'health-events': ['pi-7:UNKNOWN>ONLINE:lwt', 'pi-7:ONLINE>OFFLINE:status', 'm-3:UNKNOWN>ONLINE:data'],
  'health-defaults-events': ['pi-7:UNKNOWN>ONLINE:status', 'pi-7:ONLINE>OFFLINE:lwt'],
  'health-rejects': [
    'device_mismatch payload.device_id pi-7: status message on device/lwt/pi-7 names another device in its payload: the topic decides, the message is ignored',
    'bad_device_id topic -: device id must be 1-128 characters of letters, digits and . _ : @ ~ -',
    'no_device_id topic -: status message on device/status/ names no usable device id',
  ],
};

describe('a flow saved with the old topic settings (test/fixtures/flows/topic-settings-before.json)', function () {
  this.timeout(30000);
  afterEach(async () => {
    await helper.unload();
  });

  it('loads and gives the same device ids, tags and rejects as before', async () => {
    assert.deepEqual(await transcript(SAVED), EXPECTED);
  });

  it('behaves exactly like the same flow written in the new syntax', async () => {
    const before = await transcript(SAVED);
    const now = await transcript(inNewSyntax(SAVED));
    assert.deepEqual(now, before);
  });
});
