// Tenants (issue #18), the pure parts: the signature covers the tenant (old tenant-less signatures keep
// verifying), per-tenant keyrings and replay caches, per-tenant bounds of the anomaly device table and of
// the alert engines, and the API's tenant scope (cross-tenant = 404).
import assert from 'node:assert/strict';
import { Keyring } from '../../../nodes/core/hmac/keyring';
import { Verifier } from '../../../nodes/core/hmac/verify';
import { deriveDeviceKey, parseKey, signEnvelope, signUserProperties } from '../../../nodes/core/hmac/scheme';
import { DeviceStates } from '../../../nodes/core/anomaly/device-states';
import { TenantAlertEngines } from '../../../nodes/core/alert/tenants';
import { handleAlertApi, type ApiHost } from '../../../nodes/core/alert/api';
import { MuteTable } from '../../../nodes/core/alert/mute';
import { HealthTable } from '../../../nodes/core/health/table';
import { scopedKey, splitScoped, tenantOfMessage, unscopeHealthId, scopeHealthId } from '../../../nodes/core/tenant';

const NOW = 1_800_000_000;
const A = 'hex:' + 'aa'.repeat(32);
const B = 'hex:' + 'bb'.repeat(32);
const ROOT = 'hex:' + 'cc'.repeat(32);

function ring(): Keyring {
  return new Keyring().load({
    '*': { m1: ROOT },
    '@tenants': { acme: { '*': { m1: A } }, beta: { '*': { m1: B } } },
  } as never);
}

function signed(
  master: string,
  device: string,
  tenant?: string,
  nonce = `nonce-${Math.random().toString(36).slice(2, 12)}`
): string {
  return JSON.stringify(
    signEnvelope({
      deviceId: device,
      key: deriveDeviceKey(parseKey(master), device),
      kid: 'm1',
      body: '{"t":1}',
      ts: NOW,
      nonce,
      tenant,
    })
  );
}

describe('tenants: signatures and keys', () => {
  const verifier = () =>
    new Verifier({ keys: ring(), now: () => NOW, topicPattern: 't/+tenant/devices/+device_id/telemetry' });

  it("verifies each tenant's pump-001 with its own key and reports the tenant", () => {
    const v = verifier();
    const a = v.verify({ payload: signed(A, 'pump-001', 'acme'), topic: 't/acme/devices/pump-001/telemetry' });
    // beta's device signs with its tenant but leaves the envelope's `tenant` out: the topic names it
    const bare = JSON.parse(signed(B, 'pump-001', 'beta'));
    delete bare.tenant;
    const b = v.verify({ payload: JSON.stringify(bare), topic: 't/beta/devices/pump-001/telemetry' });
    assert.ok(a.ok && b.ok);
    assert.equal(a.ok && a.tenant, 'acme');
    assert.equal(
      b.ok && b.tenant,
      'beta',
      "the topic's tenant is covered by the MAC even when the envelope does not name it"
    );
  });

  it('refuses a cross-tenant signature, a tenant mismatch and a tenant-less signature on a tenant topic', () => {
    const v = verifier();
    const code = (r: ReturnType<Verifier['verify']>) => (r.ok ? 'ok' : r.reject.code);
    assert.equal(
      code(v.verify({ payload: signed(A, 'pump-001', 'beta'), topic: 't/beta/devices/pump-001/telemetry' })),
      'bad_signature',
      "acme's key cannot sign for beta"
    );
    assert.equal(
      code(v.verify({ payload: signed(A, 'pump-001', 'acme'), topic: 't/beta/devices/pump-001/telemetry' })),
      'tenant_mismatch'
    );
    // beta's key, but the MAC lacks the tenant: a capture from a tenant-less pipeline cannot be replayed into one
    const legacy = JSON.stringify(
      signEnvelope({
        deviceId: 'pump-001',
        key: deriveDeviceKey(parseKey(B), 'pump-001'),
        kid: 'm1',
        body: '{"t":1}',
        ts: NOW,
        nonce: 'legacy-nonce-1',
      })
    );
    assert.equal(code(v.verify({ payload: legacy, topic: 't/beta/devices/pump-001/telemetry' })), 'bad_signature');
    assert.equal(
      code(v.verify({ payload: signed(A, 'pump-001', 'gamma'), topic: 't/gamma/devices/pump-001/telemetry' })),
      'unknown_device',
      'a tenant without keys'
    );
    // a tenant's key never derives keys outside the tenant, and the root master none inside one
    assert.equal(
      code(v.verify({ payload: signed(ROOT, 'pump-001', 'acme'), topic: 't/acme/devices/pump-001/telemetry' })),
      'bad_signature'
    );
  });

  it('keeps tenant-less signatures verifying exactly as before (MQTT 5 carrier too)', () => {
    const v = new Verifier({ keys: ring(), now: () => NOW, topicPattern: 'devices/+/telemetry' });
    const r = v.verify({ payload: signed(ROOT, 'pump-001'), topic: 'devices/pump-001/telemetry' });
    assert.ok(r.ok);
    assert.equal(r.ok && r.tenant, undefined);
    const up = signUserProperties({
      deviceId: 'pump-002',
      key: deriveDeviceKey(parseKey(A), 'pump-002'),
      body: '{"t":1}',
      ts: NOW,
      nonce: 'mqtt5-nonce-1',
      tenant: 'acme',
    });
    const r5 = v.verify({
      payload: up.payload,
      userProperties: up.userProperties,
      topic: 'devices/pump-002/telemetry',
    });
    assert.ok(r5.ok && r5.tenant === 'acme', 'without a tenant topic the signed claim decides');
  });

  it('keeps a replay cache per tenant: the same nonce is fine in another tenant, a replay in its own', () => {
    const v = verifier();
    const topicA = 't/acme/devices/pump-001/telemetry';
    assert.ok(v.verify({ payload: signed(A, 'pump-001', 'acme', 'same-nonce-1'), topic: topicA }).ok);
    assert.ok(
      v.verify({ payload: signed(B, 'pump-001', 'beta', 'same-nonce-1'), topic: 't/beta/devices/pump-001/telemetry' })
        .ok
    );
    const again = v.verify({ payload: signed(A, 'pump-001', 'acme', 'same-nonce-1'), topic: topicA });
    assert.equal(again.ok ? 'ok' : again.reject.code, 'replay');
    assert.deepEqual([...v.tenantNonceCaches().keys()].sort(), ['acme', 'beta']);
    assert.equal(v.nonces.size, 0, 'the tenant-less cache saw nothing');
  });

  it("a flood of one tenant in the replay cache leaves another tenant's floor where it was", () => {
    const v = new Verifier({
      keys: ring(),
      now: () => NOW,
      replayDevices: 100,
      topicPattern: 't/+tenant/devices/+device_id/telemetry',
    });
    assert.ok(v.verify({ payload: signed(B, 'pump-001', 'beta'), topic: 't/beta/devices/pump-001/telemetry' }).ok);
    for (let i = 0; i < 500; i++)
      v.verify({ payload: signed(A, `flood-${i}`, 'acme'), topic: `t/acme/devices/flood-${i}/telemetry` });
    assert.ok(v.noncesOf('acme').deviceEvictions > 0, 'acme evicted its own devices');
    assert.ok(
      v.verify({ payload: signed(B, 'pump-001', 'beta'), topic: 't/beta/devices/pump-001/telemetry' }).ok,
      'beta at the same second still passes'
    );
  });

  it("replaces one tenant's keys (rotation) without touching another tenant's or the tenant-less keys", () => {
    const r = ring();
    const acmeBefore = r.tenant('acme');
    r.setTenant('beta', new Keyring().load({ '*': { m2: 'hex:' + 'dd'.repeat(32) } }));
    assert.equal(r.tenant('acme'), acmeBefore);
    assert.equal(r.lookup('x', 'm1', 'beta').ok, false);
    assert.equal(r.lookup('x', 'm2', 'beta').ok, true);
    assert.equal(r.lookup('x', 'm1').ok, true, 'tenant-less masters unchanged');
    assert.deepEqual(r.describe().tenants, ['acme', 'beta']);
    assert.throws(() => new Keyring().load({ '@tenants': { 'bad/name': {} } } as never), /tenant "bad\/name"/);
  });

  it('names the tenants that hold the same master key (a copied keys file), each pair once (tenant red team 2026-12-07)', () => {
    const r = new Keyring();
    const a = 'hex:' + 'aa'.repeat(32);
    r.setTenant('acme', new Keyring().load({ '*': { m1: a } }));
    r.setTenant('beta', new Keyring().load({ '*': { m1: 'hex:' + 'bb'.repeat(32) } }));
    assert.deepEqual(r.tenantsSharingMasters(), []);
    r.setTenant('gamma', new Keyring().load({ '*': { m1: a, m2: 'hex:' + 'cc'.repeat(32) } }));
    r.setTenant('delta', new Keyring().load({ '*': { k9: a } }));
    assert.deepEqual(r.tenantsSharingMasters(), [
      ['acme', 'gamma'],
      ['acme', 'delta'],
      ['gamma', 'delta'],
    ]);
    r.setTenant('gamma', null);
    r.setTenant('delta', new Keyring().load({ '*': { k9: 'hex:' + 'dd'.repeat(32) } }));
    assert.deepEqual(r.tenantsSharingMasters(), [], 'gone once the keys differ');
  });
});

describe('tenants: scoped keys and fair share', () => {
  it('scopes and unscopes ids', () => {
    assert.equal(scopedKey('acme', 'pump-001'), 'acme/pump-001');
    assert.equal(scopedKey(undefined, 'pump-001'), 'pump-001');
    assert.deepEqual(splitScoped('acme/pump-001'), { tenant: 'acme', device_id: 'pump-001' });
    assert.deepEqual(unscopeHealthId(scopeHealthId('acme', 'pump-001')), { tenant: 'acme', device_id: 'pump-001' });
    assert.deepEqual(unscopeHealthId('pump-001'), { device_id: 'pump-001' });
    assert.equal(
      tenantOfMessage({ moby: { tenant: 'acme' }, payload: { tags: { tenant: 'beta' } } }),
      'acme',
      'the authenticated tenant wins'
    );
    assert.equal(tenantOfMessage({ payload: { alert: { tenant: 'beta' } } }), 'beta');
    assert.equal(tenantOfMessage({ moby: { tenant: '../x' } }), undefined);
  });

  it('the anomaly device bound holds per tenant: a 100k-device flood of one evicts only its own', () => {
    const s = new DeviceStates<number>(1000);
    for (let i = 0; i < 3; i++) s.set(`beta/pump-00${i}`, i);
    for (let i = 0; i < 5; i++) s.set(`plain-${i}`, i);
    for (let i = 0; i < 100_000; i++) s.set(`acme/flood-${i}`, i);
    assert.equal(s.sizeOf('acme'), 1000);
    assert.equal(s.sizeOf('beta'), 3);
    assert.equal(s.sizeOf(''), 5);
    assert.equal(s.evictions, 99_000);
    for (let i = 0; i < 3; i++) assert.equal(s.get(`beta/pump-00${i}`), i);
    assert.equal(s.get('acme/flood-99999'), 99999);
  });

  it("the device-health bound holds per tenant: a flood of one tenant's device ids evicts only its own rows", () => {
    let t = 0;
    const table = new HealthTable({ maxDevices: 100, now: () => t });
    // beta's three devices and a tenant-less one, heard once, long before the flood (idle since)
    for (const d of ['pump-001', 'pump-002', 'pump-003']) table.activity(scopeHealthId('beta', d), t);
    table.activity('gateway-1', t);
    for (let i = 0; i < 100_000; i++) table.activity(scopeHealthId('acme', `flood-${i}`), ++t);
    assert.equal(table.evictions, 100_000 - 100, 'acme beyond its bound evicted its own');
    for (const d of ['pump-001', 'pump-002', 'pump-003'])
      assert.ok(table.get(scopeHealthId('beta', d)), `beta ${d} kept`);
    assert.ok(table.get('gateway-1'), 'the tenant-less device kept');
    assert.equal(table.deviceCount, 100 + 3 + 1);
    assert.ok(table.get(scopeHealthId('acme', 'flood-99999')));
    assert.equal(table.get(scopeHealthId('acme', 'flood-0')), null);
  });

  it("a tenant's new device after another tenant filled its bound gets a working row (ONLINE, then TIMEOUT), also after a restore", () => {
    // tenant red team: the shared arrays grew only to maxDevices, so beta's first device after acme's flood got
    // a row past their end: no state, no TIMEOUT, never an alert
    let t = 0;
    const table = new HealthTable({ maxDevices: 100, defaultTimeoutMs: 10_000, now: () => t });
    for (let i = 0; i < 120; i++) table.activity(scopeHealthId('acme', `flood-${i}`), t);
    const beta = scopeHealthId('beta', 'pump-001');
    const online = table.activity(beta, t);
    assert.equal(online?.state, 'ONLINE');
    assert.equal(table.get(beta)?.state, 'ONLINE');
    for (let i = 0; i < 59; i++) table.activity(scopeHealthId('beta', `d${i}`), t);
    assert.equal(table.deviceCount, 160, "acme's 100 and beta's 60");
    t += 10_000;
    const timeouts = table.sweep().filter((e) => e.state === 'TIMEOUT');
    assert.equal(timeouts.length, 160, 'every row times out, beta included');
    assert.ok(timeouts.some((e) => e.device_id === beta));
    const copy = new HealthTable({ maxDevices: 100, defaultTimeoutMs: 10_000, now: () => t });
    assert.equal(copy.restore(JSON.parse(JSON.stringify(table.serialize()))), 160);
    assert.equal(copy.get(beta)?.state, 'TIMEOUT');
    assert.equal(copy.get(scopeHealthId('beta', 'd58'))?.state, 'TIMEOUT');
    assert.equal(copy.evictions, 0);
  });

  it('tenant-less keys keep the old bound and order', () => {
    const s = new DeviceStates<number>(2);
    s.set('a', 1);
    s.set('b', 2, true);
    s.set('c', 3);
    assert.deepEqual(
      [...s.entries()].map(([k]) => k),
      ['c', 'b'],
      'the idle one went first'
    );
  });

  it('alert engines: one per tenant, each with its own bound', () => {
    const e = new TenantAlertEngines({ maxOpen: 10 });
    e.apply({ kind: 'trigger', device_id: 'pump-001', rule: 'anomaly', tenant: 'beta' });
    for (let i = 0; i < 1000; i++)
      e.apply({ kind: 'trigger', device_id: `flood-${i}`, rule: 'anomaly', tenant: 'acme' });
    assert.equal(e.openCount('acme'), 10);
    assert.equal(e.openCount('beta'), 1, "beta's alert was not evicted");
    e.apply({ kind: 'trigger', device_id: 'pump-001', rule: 'anomaly', tenant: 'acme' });
    const beta = e.list({ status: 'open' }, new Set(['beta']));
    assert.deepEqual(
      beta.map((a) => `${a.tenant}/${a.device_id}`),
      ['beta/pump-001']
    );
    // the snapshot round-trips into the same engines
    const copy = new TenantAlertEngines({ maxOpen: 10 });
    copy.restore(JSON.parse(JSON.stringify(e.snapshot())));
    assert.equal(copy.openCount('beta'), 1);
    assert.equal(copy.openCount('acme'), 10);
  });
});

describe('tenants: the alert API scope', () => {
  const engines = new TenantAlertEngines();
  const a = engines.apply({ kind: 'trigger', device_id: 'pump-001', rule: 'anomaly', tenant: 'acme' });
  const b = engines.apply({ kind: 'trigger', device_id: 'pump-001', rule: 'anomaly', tenant: 'beta' });
  const idA = a.ok ? a.events[0].alert.alert_id : '';
  const idB = b.ok ? b.events[0].alert.alert_id : '';
  const host: ApiHost = {
    list: (f, scope) => engines.list(f, scope ?? null),
    get: (id) => engines.get(id),
    acknowledge: (id, by) => engines.acknowledge(id, by),
    resolve: (id, by) => engines.resolve(id, by),
    mutes: new MuteTable(),
    token: 'admin-token-0123456789',
    tenantTokens: [
      { tenant: 'acme', token: 'acme-token-0123456789' },
      { tenant: 'beta', token: 'beta-token-0123456789' },
    ],
  };
  const devices = [
    { device_id: 'pump-001', tenant: 'acme' },
    { device_id: 'pump-001', tenant: 'beta' },
  ];
  const call = (token: string, method: string, path: string, body = '{}', query: Record<string, string> = {}) =>
    handleAlertApi(
      [host],
      { method, path, query, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body },
      { devices: () => devices }
    )!;

  it("lists only the caller's tenant; the admin token sees all", () => {
    assert.deepEqual(
      (call('acme-token-0123456789', 'GET', '/alerts').body as Array<{ tenant: string }>).map((x) => x.tenant),
      ['acme']
    );
    assert.equal((call('admin-token-0123456789', 'GET', '/alerts').body as unknown[]).length, 2);
    assert.deepEqual(call('beta-token-0123456789', 'GET', '/devices').body, [
      { device_id: 'pump-001', tenant: 'beta' },
    ]);
  });

  it("answers another tenant's alert with 404, like an unknown id, and changes nothing", () => {
    assert.equal(call('acme-token-0123456789', 'GET', `/alerts/${idB}`).status, 404);
    const ack = call('acme-token-0123456789', 'POST', `/alerts/${idB}/ack`);
    assert.equal(ack.status, 404);
    assert.deepEqual(
      ack.body,
      { error: { code: 'not_found', message: `no alert ${idB}` } },
      'the same answer as for an id that does not exist'
    );
    assert.equal(call('acme-token-0123456789', 'POST', '/alerts/no-such-id/ack').status, 404);
    assert.equal(engines.get(idB)?.acknowledged, false);
    assert.equal(call('acme-token-0123456789', 'POST', `/alerts/${idA}/ack`).status, 200);
    assert.equal(call('nobody-token-0123456789', 'GET', '/alerts').status, 401);
  });
  it("mute windows are keyed by (tenant, device): acme muting its pump-001 leaves beta's pump-001 notifying", () => {
    const mutes = host.mutes!;
    const set = call('acme-token-0123456789', 'POST', '/devices/pump-001/mute', '{"minutes": 30, "by": "ann"}');
    assert.equal(set.status, 200);
    assert.equal((set.body as { tenant: string }).tenant, 'acme', 'a one-tenant token mutes in its own tenant');
    assert.equal(mutes.isMuted('pump-001', 'acme'), true);
    assert.equal(mutes.isMuted('pump-001', 'beta'), false, "beta's pump-001 is another machine");
    assert.equal(mutes.isMuted('pump-001'), false, 'nor the tenant-less pump-001');
    // GET /devices marks only acme's row; beta's token does not see acme's window
    const acmeRows = call('acme-token-0123456789', 'GET', '/devices').body as Array<{
      tenant: string;
      muted?: boolean;
    }>;
    assert.deepEqual(
      acmeRows.map((r) => [r.tenant, r.muted === true]),
      [['acme', true]]
    );
    const betaRows = call('beta-token-0123456789', 'GET', '/devices').body as Array<{
      tenant: string;
      muted?: boolean;
    }>;
    assert.deepEqual(
      betaRows.map((r) => [r.tenant, r.muted === true]),
      [['beta', false]]
    );
    const adminRows = call('admin-token-0123456789', 'GET', '/devices').body as Array<{
      tenant: string;
      muted?: boolean;
    }>;
    assert.deepEqual(
      adminRows.map((r) => [r.tenant, r.muted === true]),
      [
        ['acme', true],
        ['beta', false],
      ]
    );
  });

  it("a tenant token cannot mute or unmute another tenant's device: 404 like an unknown device, nothing changes", () => {
    const mutes = host.mutes!;
    const cross = call('acme-token-0123456789', 'POST', '/devices/pump-001/mute', '{"tenant": "beta", "minutes": 30}');
    assert.equal(cross.status, 404);
    assert.equal(
      call('acme-token-0123456789', 'POST', '/devices/pump-001/mute', '{"minutes": 30}', { tenant: 'beta' }).status,
      404
    );
    assert.equal(mutes.isMuted('pump-001', 'beta'), false);
    // beta's own mute, then acme tries to lift it
    assert.equal(call('beta-token-0123456789', 'POST', '/devices/pump-001/mute', '{"minutes": 30}').status, 200);
    assert.equal(call('acme-token-0123456789', 'POST', '/devices/pump-001/unmute', '{"tenant": "beta"}').status, 404);
    assert.equal(mutes.isMuted('pump-001', 'beta'), true, 'still muted');
    // acme's unmute lifts only acme's window
    assert.equal(call('acme-token-0123456789', 'POST', '/devices/pump-001/unmute').status, 200);
    assert.equal(mutes.isMuted('pump-001', 'acme'), false);
    assert.equal(mutes.isMuted('pump-001', 'beta'), true);
    // the admin token names the tenant; an invalid tenant is a 400 on the field
    assert.equal(
      call('admin-token-0123456789', 'POST', '/devices/pump-001/unmute', '{}', { tenant: 'beta' }).status,
      200
    );
    assert.equal(mutes.isMuted('pump-001', 'beta'), false);
    const bad = call('admin-token-0123456789', 'POST', '/devices/pump-001/mute', '{"tenant": "a/b"}');
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { error: { field: string } }).error.field, 'tenant');
  });

  it("keeps each tenant's window across a save and restore", () => {
    const t = new MuteTable(() => 1000);
    t.set({ device_id: 'pump-001', tenant: 'acme', until: 5000, by: 'ann', at: 1000 });
    t.set({ device_id: 'pump-001', until: 5000, by: 'ops', at: 1000 });
    const back = new MuteTable(() => 1000);
    assert.equal(back.restore(JSON.parse(JSON.stringify(t.snapshot()))), 2);
    assert.equal(back.isMuted('pump-001', 'acme'), true);
    assert.equal(back.isMuted('pump-001'), true);
    assert.equal(back.isMuted('pump-001', 'beta'), false);
    assert.equal(
      back.restore([{ device_id: 'pump-001', tenant: '../x', until: 5000 }]),
      0,
      'a broken tenant is skipped'
    );
  });
});
