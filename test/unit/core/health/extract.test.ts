import assert from 'node:assert/strict';
import {
  compileTopicPattern,
  readHealthMessage,
  matchTopicPattern,
  parseKnownDevices,
  parseTimeoutOverrides,
  looseEpochMs,
  type HealthReadOptions,
  type TopicPattern,
} from '../../../../nodes/core/health/extract';

const topic = (s: string) => compileTopicPattern(s) as TopicPattern;
const opts: HealthReadOptions = {
  lwtTopics: [topic('device/lwt/+')],
  statusTopics: [topic('device/status/+')],
  activityTopics: [topic('factory/+/{device_id}/#')],
  clockSkewMs: 30_000,
  maxIdLength: 64,
};
const NOW = 1_700_000_000_000;

describe('health message reading', () => {
  it('compiles topic patterns and finds the device level', () => {
    assert.equal(matchTopicPattern(topic('device/lwt/+'), 'device/lwt/pi-7'), 'pi-7');
    assert.equal(matchTopicPattern(topic('device/lwt/+'), 'device/lwt/pi-7/x'), null);
    assert.equal(matchTopicPattern(topic('factory/+/{device_id}/#'), 'factory/hall1/m-3/vib/x'), 'm-3');
    assert.equal(matchTopicPattern(topic('a/#'), 'a'), '');
    assert.match(compileTopicPattern('a/#/b') as string, /must be the last/);
    assert.match(compileTopicPattern('a/b+') as string, /whole level/);
  });

  it("keeps a data message's own stamp beside the receive time that replaced it (too old or too new to trust)", () => {
    const read = (ts: number) => readHealthMessage({ payload: { ts }, moby: { device_id: 'm1' } }, NOW, opts);
    assert.deepEqual(read(NOW - 90_000), {
      kind: 'activity',
      device_id: 'm1',
      time: NOW,
      stamped: NOW - 90_000,
      verified: false,
    });
    assert.deepEqual(read(NOW - 1000), { kind: 'activity', device_id: 'm1', time: NOW - 1000, verified: false });
    assert.equal(
      (readHealthMessage({ payload: {}, moby: { device_id: 'm1' } }, NOW, opts) as { stamped?: number }).stamped,
      undefined
    );
  });

  it('reads plain and JSON status payloads, LWT topics as reason lwt', () => {
    assert.deepEqual(readHealthMessage({ topic: 'device/lwt/pi-7', payload: 'OFFLINE' }, NOW, opts), {
      kind: 'status',
      device_id: 'pi-7',
      online: false,
      time: NOW,
      reason: 'lwt',
    });
    assert.deepEqual(readHealthMessage({ topic: 'device/status/pi-7', payload: Buffer.from('online') }, NOW, opts), {
      kind: 'status',
      device_id: 'pi-7',
      online: true,
      time: NOW,
      reason: 'status',
    });
    const json = readHealthMessage(
      {
        topic: 'device/lwt/abc-1',
        payload: '{"device_uuid":"abc-1","status":"OFFLINE","timestamp":' + (NOW - 1000) + '}',
      },
      NOW,
      opts
    );
    assert.deepEqual(json, { kind: 'status', device_id: 'abc-1', online: false, time: NOW - 1000, reason: 'lwt' });
    const obj = readHealthMessage(
      { topic: 'device/status/d2', payload: { device_id: 'd2', status: 'ONLINE', equipment_id: 'press-1' } },
      NOW,
      opts
    );
    assert.deepEqual(obj, {
      kind: 'status',
      device_id: 'd2',
      online: true,
      time: NOW,
      reason: 'status',
      equipment_id: 'press-1',
    });
  });

  it('rejects unusable status messages with code, device and field', () => {
    const r1 = readHealthMessage({ topic: 'device/lwt/pi-7', payload: 'MAYBE' }, NOW, opts);
    assert.deepEqual(r1.kind === 'reject' && [r1.reject.code, r1.reject.device_id, r1.reject.field], [
      'bad_status',
      'pi-7',
      'payload',
    ]);
    const r2 = readHealthMessage(
      { topic: 'device/lwt/pi-7', payload: '{"status":"OFFLINE","__proto__":{"x":1}}' },
      NOW,
      opts
    );
    assert.equal(r2.kind === 'reject' && r2.reject.code, 'forbidden_key');
    const r3 = readHealthMessage({ topic: 'device/lwt/pi-7', payload: '{"status":' }, NOW, opts);
    assert.equal(r3.kind === 'reject' && r3.reject.code, 'malformed_json');
    const r4 = readHealthMessage({ topic: 'device/status/bad id!', payload: 'ONLINE' }, NOW, opts);
    assert.deepEqual(r4.kind === 'reject' && [r4.reject.code, r4.reject.field], ['bad_device_id', 'topic']);
    const r5 = readHealthMessage({ topic: 'device/status/d', payload: 'x'.repeat(10_000) + '{' }, NOW, opts);
    assert.equal(r5.kind, 'reject');
  });

  it('ATTACK: a status topic chosen by a broker client reaches reject reasons only escaped and short (old code: as sent)', () => {
    const evil = 'x\u202e<b>' + 'y'.repeat(60_000);
    for (const payload of ['{"device_id":"pump-001","status":"OFFLINE"}', '{"status":"OFFLINE"}']) {
      const r = readHealthMessage({ topic: `device/lwt/${evil}`, payload }, NOW, opts);
      assert.ok(r.kind === 'reject', JSON.stringify(r).slice(0, 200));
      assert.ok(r.reject.reason.length < 300, `reason of ${r.reject.reason.length} characters`);
      assert.doesNotMatch(r.reject.reason, /[\u202e<>]/, r.reject.reason.slice(0, 120));
    }
  });

  it('ATTACK: a payload device_id cannot override the device the topic names (old code: it did)', () => {
    for (const payload of [
      '{"device_id":"pump-001","status":"OFFLINE"}',
      { device_uuid: 'pump-001', status: 'OFFLINE' },
    ]) {
      const r = readHealthMessage({ topic: 'device/lwt/attacker-1', payload }, NOW, opts);
      assert.ok(r.kind === 'reject');
      assert.equal(r.reject.code, 'device_mismatch');
      assert.equal(r.reject.device_id, 'attacker-1');
    }
    // the same id in both places is fine
    const same = readHealthMessage(
      { topic: 'device/lwt/pump-001', payload: '{"device_id":"pump-001","status":"OFFLINE"}' },
      NOW,
      opts
    );
    assert.equal(same.kind === 'status' && same.device_id, 'pump-001');
  });

  it('marks activity as verified only when moby-hmac-verify authenticated its device', () => {
    const v = readHealthMessage({ payload: 1, moby: { device_id: 'm1', auth: { verified: true } } }, NOW, opts);
    assert.equal(v.kind === 'activity' && v.verified, true);
    const claimed = readHealthMessage(
      { payload: { tags: { device_id: 'm1' } }, moby: { auth: { verified: true } } },
      NOW,
      opts
    );
    assert.equal(claimed.kind === 'activity' && claimed.verified, false);
    const truthy = readHealthMessage({ payload: 1, moby: { device_id: 'm1', auth: { verified: 'yes' } } }, NOW, opts);
    assert.equal(truthy.kind === 'activity' && truthy.verified, false);
  });

  it('finds the device of activity in msg.moby, payload tags, or the topic', () => {
    assert.deepEqual(readHealthMessage({ topic: 't', payload: 1, moby: { device_id: 'm1' } }, NOW, opts), {
      kind: 'activity',
      device_id: 'm1',
      time: NOW,
      verified: false,
    });
    const p = readHealthMessage(
      {
        topic: 't',
        payload: {
          measurement: 'x',
          tags: { device_id: 'm2', equipment_id: 'mill' },
          fields: {},
          timestamp: NOW - 5000,
        },
      },
      NOW,
      opts
    );
    assert.deepEqual(p, { kind: 'activity', device_id: 'm2', time: NOW - 5000, equipment_id: 'mill', verified: false });
    assert.deepEqual(readHealthMessage({ topic: 'factory/h1/m3/temp', payload: '21.5' }, NOW, opts), {
      kind: 'activity',
      device_id: 'm3',
      time: NOW,
      verified: false,
    });
    const none = readHealthMessage({ topic: 'other/x', payload: 1 }, NOW, opts);
    assert.equal(none.kind === 'reject' && none.reject.code, 'no_device_id');
    const proto = readHealthMessage({ payload: 1, moby: { device_id: '__proto__' } }, NOW, opts);
    assert.equal(proto.kind === 'reject' && proto.reject.code, 'bad_device_id');
    const bad = readHealthMessage({ payload: { tags: { device_id: 42 } } }, NOW, opts);
    assert.deepEqual(bad.kind === 'reject' && [bad.reject.code, bad.reject.field], [
      'bad_device_id',
      'payload.tags.device_id',
    ]);
  });

  it('trusts a message timestamp only within the clock-skew window', () => {
    const at = (ts: unknown) => {
      const r = readHealthMessage({ payload: { tags: { device_id: 'd' }, timestamp: ts } }, NOW, opts);
      return r.kind === 'activity' ? r.time : NaN;
    };
    assert.equal(at(NOW - 29_000), NOW - 29_000);
    assert.equal(at(NOW + 60_000), NOW, 'a clock in the future is not trusted');
    assert.equal(at(NOW - 3_600_000), NOW, 'an hour-old stamp is not trusted');
    assert.equal(at((NOW - 2000) / 1000), NOW - 2000, 'seconds');
    assert.equal(at(new Date(NOW - 1000).toISOString()), NOW - 1000);
    assert.equal(at('yesterday'), NOW);
    assert.ok(Number.isNaN(looseEpochMs(Infinity)));
  });

  it('parses timeout overrides and known-device lists', () => {
    const o = parseTimeoutOverrides('pi-1=30\n# comment\nequipment:press-1 = 120s\n\n');
    assert.ok(typeof o !== 'string');
    assert.deepEqual([...o.devices], [['pi-1', 30_000]]);
    assert.deepEqual([...o.equipment], [['press-1', 120_000]]);
    assert.match(parseTimeoutOverrides('pi-1=abc') as string, /not "device_id=seconds"/);
    assert.deepEqual(parseKnownDevices('a\nb press-1\n'), [
      { device_id: 'a' },
      { device_id: 'b', equipment_id: 'press-1' },
    ]);
    assert.match(parseKnownDevices('a b c') as string, /not "device_id/);
  });
});

describe('health message reading: the tenant of a will, status or activity (docs/tenants.md)', () => {
  const tenantOpts: HealthReadOptions = {
    lwtTopics: [topic('t/+tenant/device/lwt/+device_id')],
    statusTopics: [topic('t/+tenant/device/status/+device_id'), topic('device/status/+device_id')],
    activityTopics: [topic('t/+tenant/raw/+device_id/#')],
    clockSkewMs: 30_000,
    maxIdLength: 64,
  };
  const read = (msg: { topic?: string; payload?: unknown; moby?: unknown }) => readHealthMessage(msg, NOW, tenantOpts);
  const rejectOf = (r: ReturnType<typeof read>) =>
    r.kind === 'reject' ? [r.reject.code, r.reject.device_id, r.reject.field] : r;

  it('takes the tenant of a will or status from the +tenant level of its topic', () => {
    assert.deepEqual(read({ topic: 't/beta/device/lwt/pump-001', payload: 'offline' }), {
      kind: 'status',
      device_id: 'pump-001',
      online: false,
      time: NOW,
      reason: 'lwt',
      tenant: 'beta',
    });
    assert.deepEqual(read({ topic: 't/acme/device/status/pump-001', payload: '{"status":"online"}' }), {
      kind: 'status',
      device_id: 'pump-001',
      online: true,
      time: NOW,
      reason: 'status',
      tenant: 'acme',
    });
    // the old health form with a +tenant level: the last bare + is still the device
    const mixed = readHealthMessage({ topic: 't/beta/device/lwt/pump-001', payload: 'offline' }, NOW, {
      ...tenantOpts,
      lwtTopics: [topic('t/+tenant/device/lwt/+')],
    });
    assert.deepEqual(mixed, {
      kind: 'status',
      device_id: 'pump-001',
      online: false,
      time: NOW,
      reason: 'lwt',
      tenant: 'beta',
    });
    // a pattern without +tenant gives none: the device is tenant-less, as before
    assert.deepEqual(read({ topic: 'device/status/pump-001', payload: 'online' }), {
      kind: 'status',
      device_id: 'pump-001',
      online: true,
      time: NOW,
      reason: 'status',
    });
  });

  it('takes the tenant of activity from a +tenant activity pattern, and of verified data from msg.moby.tenant', () => {
    assert.deepEqual(read({ topic: 't/acme/raw/m3/temp', payload: '21.5' }), {
      kind: 'activity',
      device_id: 'm3',
      time: NOW,
      verified: false,
      tenant: 'acme',
    });
    // the message names the device, the topic still names the tenant
    assert.deepEqual(read({ topic: 't/acme/raw/m3/temp', payload: { tags: { device_id: 'm4' } } }), {
      kind: 'activity',
      device_id: 'm4',
      time: NOW,
      verified: false,
      tenant: 'acme',
    });
    const verified = read({
      topic: 't/beta/devices/pump-001/telemetry',
      payload: {},
      moby: { device_id: 'pump-001', tenant: 'beta', auth: { verified: true } },
    });
    assert.deepEqual(verified, { kind: 'activity', device_id: 'pump-001', time: NOW, verified: true, tenant: 'beta' });
  });

  it('accepts msg.moby.tenant beside a topic tenant when both name the same tenant', () => {
    const r = read({ topic: 't/beta/device/lwt/pump-001', payload: 'offline', moby: { tenant: 'beta' } });
    assert.equal(r.kind === 'status' && r.tenant, 'beta');
    // msg.moby.tenant alone (a flow that sets it, the way before +tenant) still scopes a tenant-less pattern
    const flowSet = read({ topic: 'device/status/pump-001', payload: 'online', moby: { tenant: 'acme' } });
    assert.equal(flowSet.kind === 'status' && flowSet.tenant, 'acme');
  });

  it('rejects a topic tenant that contradicts msg.moby.tenant as tenant_mismatch', () => {
    assert.deepEqual(
      rejectOf(read({ topic: 't/beta/device/lwt/pump-001', payload: 'offline', moby: { tenant: 'acme' } })),
      ['tenant_mismatch', 'pump-001', 'moby.tenant']
    );
    assert.deepEqual(
      rejectOf(
        read({
          topic: 't/beta/raw/m3/temp',
          payload: { tenant: 'x' },
          moby: { device_id: 'm3', tenant: 'acme', auth: { verified: true } },
        })
      ),
      ['tenant_mismatch', 'm3', 'moby.tenant']
    );
  });

  it("refuses a tenant-less id holding '~', which would be a tenant's row (before: device/status/acme~pump-001 reached acme's pump-001)", () => {
    const r = read({ topic: 'device/status/acme~pump-001', payload: 'offline' });
    assert.deepEqual(rejectOf(r), ['bad_device_id', 'acme~pump-001', 'device_id']);
    assert.equal(read({ payload: 1, moby: { device_id: 'acme~pump-001' } }).kind, 'reject');
    // the same device in its tenant's topic is acme's pump-001, and a tenant-less id without '~' is read as before
    assert.equal(read({ topic: 't/acme/device/status/pump-001', payload: 'offline' }).kind, 'status');
    assert.equal(read({ topic: 'device/status/pump-001', payload: 'offline' }).kind, 'status');
  });

  it('rejects a tenant that breaks the tenant rule as bad_tenant, naming the field (never a tenant-less row)', () => {
    assert.deepEqual(rejectOf(read({ topic: 't/be.ta/device/lwt/pump-001', payload: 'offline' })), [
      'bad_tenant',
      'pump-001',
      'topic',
    ]);
    assert.deepEqual(rejectOf(read({ topic: `t/${'a'.repeat(65)}/device/lwt/pump-001`, payload: 'offline' })), [
      'bad_tenant',
      'pump-001',
      'topic',
    ]);
    // MQTT allows an empty level; an empty tenant names no tenant
    assert.deepEqual(rejectOf(read({ topic: 't//device/status/pump-001', payload: 'online' })), [
      'bad_tenant',
      'pump-001',
      'topic',
    ]);
    assert.deepEqual(rejectOf(read({ topic: 't/a~b/raw/m3/x', payload: 1 })), ['bad_tenant', 'm3', 'topic']);
    assert.deepEqual(
      rejectOf(read({ topic: 'device/status/pump-001', payload: 'online', moby: { tenant: 'acme/x' } })),
      ['bad_tenant', 'pump-001', 'moby.tenant']
    );
    assert.deepEqual(rejectOf(read({ payload: 1, moby: { device_id: 'm1', tenant: 42 } })), [
      'bad_tenant',
      'm1',
      'moby.tenant',
    ]);
    // a bad device level is still named by the reject's device only when it is a usable id
    assert.deepEqual(rejectOf(read({ topic: 't/be.ta/device/lwt/bad id', payload: 'offline' })), [
      'bad_tenant',
      undefined,
      'topic',
    ]);
  });

  it('keeps the tenant-less behaviour without any tenant (null msg.moby.tenant counts as absent)', () => {
    assert.deepEqual(read({ payload: 1, moby: { device_id: 'm1', tenant: null } }), {
      kind: 'activity',
      device_id: 'm1',
      time: NOW,
      verified: false,
    });
  });
});
