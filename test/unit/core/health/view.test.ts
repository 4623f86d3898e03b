// healthView (nodes/core/health/extract.ts): the small message moby-hmac-verify sends device health on its
// activity output instead of a fan-out clone. Device health must read it exactly as it reads the message
// itself, and it must share no object with the message (normalize rewrites the message downstream).
import assert from 'node:assert/strict';
import {
  compileTopicPattern,
  healthView,
  readHealthMessage,
  type HealthReadOptions,
  type TopicPattern,
} from '../../../../nodes/core/health/extract';

const topic = (s: string) => compileTopicPattern(s) as TopicPattern;
const opts: HealthReadOptions = {
  lwtTopics: [topic('device/lwt/+')],
  statusTopics: [topic('device/status/+')],
  activityTopics: [topic('factory/+/{device_id}/#'), topic('t/+tenant/devices/+device_id/telemetry')],
  clockSkewMs: 30_000,
  maxIdLength: 64,
};
const NOW = 1_700_000_000_000;

// what moby-hmac-verify passes on, and the other shapes device health reads activity from
const MESSAGES: Array<Record<string, unknown>> = [
  {
    _msgid: 'm1',
    topic: 'devices/pump-7/telemetry',
    payload: { timestamp: NOW - 1000, tags: { device_id: 'pump-7', equipment_id: 'line-1' }, fields: { t: 20 } },
    moby: { device_id: 'pump-7', auth: { kid: 'k1', ts: 1, verified: true } },
  },
  {
    topic: 't/acme/devices/pump-7/telemetry',
    payload: { ts: (NOW - 2000) / 1000, device_id: 'pump-7', motor: { temperature: 21 } },
    moby: { device_id: 'pump-7', tenant: 'acme', auth: { verified: true, redelivered: true } },
  },
  { topic: 't/beta/devices/x/telemetry', payload: { a: 1 }, moby: { device_id: 'x', tenant: 'acme' } },
  { topic: 'factory/h1/m-3/vib', payload: { time: '2023-11-14T22:13:19Z', equipment_id: 'eq-9' } },
  { topic: 'devices/bad id/telemetry', payload: {}, moby: { device_id: 'bad id' } },
  { topic: 'nowhere', payload: 'plain text' },
  { topic: 'nowhere', payload: [1, 2, 3], moby: { device_id: 'd1', timestamp: NOW - 500, equipment_id: 'e' } },
  { topic: 'device/status/pi-7', payload: { status: 'online', timestamp: NOW - 10 } },
  { topic: 'device/lwt/pi-7', payload: Buffer.from('OFFLINE') },
  { topic: 'device/status/pi-7', payload: true },
];

describe('health view (verify → device health without a fan-out clone)', () => {
  it('reads the same as the message it was taken from', () => {
    for (const m of MESSAGES) {
      assert.deepEqual(readHealthMessage(healthView(m), NOW, opts), readHealthMessage(m, NOW, opts), String(m.topic));
    }
  });

  it('keeps the message id, so a source acknowledging on completion waits for device health too', () => {
    assert.equal(healthView(MESSAGES[0])._msgid, 'm1');
  });

  it('shares no object with the message: rewriting the message afterwards does not change the view', () => {
    const m = structuredClone(MESSAGES[0]);
    const view = healthView(m);
    const before = readHealthMessage(view, NOW, opts);
    // what normalize and later nodes may do to the message they get
    (m.payload as { tags: Record<string, unknown> }).tags.device_id = 'other';
    (m.moby as Record<string, unknown>).device_id = 'other';
    ((m.moby as Record<string, unknown>).auth as Record<string, unknown>).verified = false;
    m.payload = { replaced: true };
    assert.deepEqual(readHealthMessage(view, NOW, opts), before);
    assert.equal(before.kind, 'activity');
    const buf = Buffer.from('OFFLINE');
    const v2 = healthView({ topic: 'device/lwt/pi-7', payload: buf });
    buf.fill(0);
    assert.deepEqual((v2.payload as Buffer).toString(), 'OFFLINE');
  });

  it('carries only what device health reads, not the telemetry fields', () => {
    const v = healthView(MESSAGES[0]);
    assert.deepEqual(v.payload, { timestamp: NOW - 1000, tags: { device_id: 'pump-7', equipment_id: 'line-1' } });
    assert.deepEqual(v.moby, { device_id: 'pump-7', auth: { verified: true } });
  });
});
