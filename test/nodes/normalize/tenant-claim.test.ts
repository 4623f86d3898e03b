// A tenant comes only from verification: moby-hmac-verify → moby-normalize through the real Node-RED runtime
// with a mixed keyring (a tenant-less device's own key beside tenant north's master key). Every node after
// normalize takes a message's tenant from msg.moby.tenant and, without one, from the point's tags.tenant
// (core/tenant.ts tenantOfMessage): a signed tenant-less device whose payload said `tenant: "north"` had its
// points routed into north's bucket and its alerts into north's view and channels.
import assert from 'node:assert/strict';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { tenantOfMessage, unearnedTenant } from '../../../nodes/core/tenant';
import { waitFor } from '../../support/net';
import { collect } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');

helper.init(require.resolve('node-red'));

const SOLO_KEY = 'solo-device-own-secret-key';
const NORTH_MASTER = 'hex:' + 'a5'.repeat(32);
const KEYS = { 'solo-1': { k1: SOLO_KEY }, '@tenants': { north: { '*': { m1: NORTH_MASTER } } } };

function signed(device: string, body: Record<string, unknown>, tenant?: string): string {
  const key = tenant ? deriveDeviceKey(parseKey(NORTH_MASTER), device) : parseKey(SOLO_KEY);
  const payload = JSON.stringify({ device_id: device, ts: Date.now(), temperature: 21.5, ...body });
  return JSON.stringify(signEnvelope({ deviceId: device, key, kid: tenant ? 'm1' : 'k1', body: payload, tenant }));
}

describe('moby-normalize: a tenant comes only from verification', function () {
  afterEach(async () => {
    await helper.unload();
  });

  async function pipeline() {
    const flow: Record<string, unknown>[] = [
      { id: 'kr', type: 'moby-keyring', keysEnv: '' },
      // no tenant level in the topic: a tenant's device names its tenant in the signed envelope
      { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', topicPattern: '', wires: [['n'], ['vbad']] },
      {
        id: 'n',
        type: 'moby-normalize',
        tagKeys: 'equipment_id,tenant,location',
        topicPattern: 'site/+tenant/+device_id',
        wires: [['ok'], ['bad']],
      },
      { id: 'ok', type: 'helper' },
      { id: 'bad', type: 'helper' },
      { id: 'vbad', type: 'helper' },
    ];
    await new Promise<void>((resolve) =>
      helper.load([hmacNode, normalizeNode], flow, { kr: { keys: JSON.stringify(KEYS) } }, resolve)
    );
    return { ok: collect('ok'), bad: collect('bad'), vbad: collect('vbad') };
  }

  it("refuses a tenant-less device's point that names a tenant (tenant_mismatch naming device and field)", async () => {
    const out = await pipeline();
    helper.getNode('v').receive({ topic: 'devices/solo-1/telemetry', payload: signed('solo-1', { tenant: 'north' }) });
    // or through normalize's topic pattern (a `+tenant` level the verify node did not check)
    helper.getNode('v').receive({ topic: 'site/north/solo-1', payload: signed('solo-1', {}) });
    await waitFor(() => out.bad.length === 2, 3000, 'two refused');
    assert.deepEqual(out.vbad, [], 'both are authentic');
    assert.deepEqual(out.ok, []);
    for (const m of out.bad) {
      const r = m.moby!.reject!;
      assert.deepEqual([r.code, r.device_id, r.field], ['tenant_mismatch', 'solo-1', 'tags.tenant']);
      assert.match(r.reason, /names tenant "north" but device solo-1 was authenticated without a tenant/);
    }
  });

  it('passes the same device without a claim, and a tenant device under its verified tenant', async () => {
    const out = await pipeline();
    helper.getNode('v').receive({ topic: 'devices/solo-1/telemetry', payload: signed('solo-1', {}) });
    // north's device claiming south in its payload stays north's: the verified tenant outranks the payload
    helper
      .getNode('v')
      .receive({ topic: 'devices/pump-1/telemetry', payload: signed('pump-1', { tenant: 'south' }, 'north') });
    await waitFor(() => out.ok.length === 2, 3000, 'two points');
    assert.deepEqual(out.bad, []);
    const byDevice = Object.fromEntries(out.ok.map((m) => [m.payload.tags.device_id, m]));
    assert.equal(byDevice['solo-1'].payload.tags.tenant, undefined);
    assert.equal(tenantOfMessage(byDevice['solo-1']), undefined);
    assert.equal(byDevice['pump-1'].payload.tags.tenant, 'north');
    assert.equal(tenantOfMessage(byDevice['pump-1']), 'north');
  });

  it('leaves flows without verification as they were: a trusted upstream may set the tenant tag', async () => {
    await new Promise<void>((resolve) =>
      helper.load(
        [normalizeNode],
        [
          { id: 'n', type: 'moby-normalize', tagKeys: 'equipment_id,tenant,location', wires: [['ok'], ['bad']] },
          { id: 'ok', type: 'helper' },
          { id: 'bad', type: 'helper' },
        ],
        resolve
      )
    );
    const ok = collect('ok');
    helper.getNode('n').receive({ payload: { device_id: 'gw-1', tenant: 'north', temperature: 20 } });
    await waitFor(() => ok.length === 1, 3000, 'one point');
    assert.equal(ok[0].payload.tags.tenant, 'north');
  });

  it('unearnedTenant: only a claim without an authenticated tenant is refused', () => {
    assert.equal(unearnedTenant(undefined, '', 'd'), null);
    assert.equal(unearnedTenant('north', 'north', 'd'), null);
    assert.equal(unearnedTenant('south', 'north', 'd'), null, 'normalize overwrites it with the verified tenant');
    const r = unearnedTenant('x'.repeat(500), '', undefined)!;
    assert.equal(r.code, 'tenant_mismatch');
    assert.equal(r.device_id, undefined);
    assert.ok(r.reason.length < 300, 'a huge claim is not echoed whole');
  });
});
