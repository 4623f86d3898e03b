// Signed sessions are bounded per tenant (docs/device-health.md, "Tenants: sessions and proofs per tenant"),
// through the real Node-RED runtime: moby-keyring (two tenants) → moby-device-health with the two-tenant
// flow's will and status patterns, signed wills only. The red-team case: acme, holding its master key, signs
// births for more device ids than *Max devices*; beta's device then dies with a valid signed will. With one
// session store shared by all tenants, acme's births evicted beta's session and beta's will was held as
// `will_pending`: no OFFLINE, only a TIMEOUT one timeout later. Per tenant, beta's will is an OFFLINE at once.
import assert from 'node:assert/strict';
import { deriveDeviceKey, parseKey, signConnection } from '../../../nodes/core/hmac/scheme';
import { sleep, waitFor } from '../../support/net';
import { type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const ACME_MASTER = 'hex:' + '5a'.repeat(32);
const BETA_SECRET = 'beta-pump-7-device-secret';
const KEYS = {
  '@tenants': { acme: { '*': { m1: ACME_MASTER } }, beta: { 'pump-7': { k1: BETA_SECRET } } },
};
const MAX_DEVICES = 1000;

const metric = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

describe('device health: signed sessions are bounded per tenant (Node-RED runtime)', function () {
  this.timeout(60000);
  afterEach(async () => {
    await helper.unload();
  });

  it("ATTACK: acme's births for Max devices + 100 ids do not evict beta's session: beta's signed will is an OFFLINE at once", async () => {
    const before = await metricsText();
    await new Promise<void>((resolve) =>
      helper.load(
        [hmacNode, healthNode],
        [
          { id: 'kr', type: 'moby-keyring', keysEnv: '' },
          {
            id: 'h',
            type: 'moby-device-health',
            timeout: 30, // a TIMEOUT could only come 30 s later: an OFFLINE within the test is the will's
            sweepInterval: 0.1,
            persist: false,
            statusTrust: 'signed',
            keyring: 'kr',
            willGrace: 0, // "at once": the will grace has tests of its own
            maxDevices: MAX_DEVICES,
            lwtTopics: 't/+tenant/device/lwt/+device_id',
            statusTopics: 't/+tenant/device/status/+device_id',
            wires: [['h-out'], ['h-bad']],
          },
          { id: 'h-out', type: 'helper' },
          { id: 'h-bad', type: 'helper' },
        ],
        { kr: { keys: JSON.stringify(KEYS) } },
        resolve
      )
    );
    const out: Msg[] = [];
    const bad: Msg[] = [];
    helper.getNode('h-out').on('input', (m: Msg) => out.push(m));
    helper.getNode('h-bad').on('input', (m: Msg) => bad.push(m));
    const h = helper.getNode('h');
    await sleep(100); // the node has started (no persisted state to load)
    const states = (tenant: string) =>
      out
        .filter((m) => m.topic === 'device-health' && m.payload.tenant === tenant)
        .map((m) => `${m.payload.device_id}:${m.payload.state}:${m.payload.reason}`);

    const beta = signConnection({
      deviceId: 'pump-7',
      key: parseKey(BETA_SECRET),
      kid: 'k1',
      tenant: 'beta',
    });
    h.receive({ topic: 't/beta/device/status/pump-7', payload: JSON.stringify(beta.birth) });
    await waitFor(() => states('beta').includes('pump-7:ONLINE:status'), 3000, "beta's pump-7 online");

    const master = parseKey(ACME_MASTER);
    const flood = MAX_DEVICES + 100;
    for (let i = 0; i < flood; i++) {
      const id = `gw-${i}`;
      const c = signConnection({ deviceId: id, key: deriveDeviceKey(master, id), kid: 'm1', tenant: 'acme' });
      h.receive({ topic: `t/acme/device/status/${id}`, payload: JSON.stringify(c.birth) });
    }
    // every birth handled: applied, or refused as a replay (beyond Max devices the births' nonce cache of a
    // tenant keeps a replay floor, so births signed in the same second as evicted ones cannot be proven new)
    const acmeRefused = () => bad.filter((m) => m.moby?.tenant === 'acme').length;
    await waitFor(() => states('acme').length + acmeRefused() === flood, 20000, "acme's births all handled");
    assert.ok(states('acme').length > MAX_DEVICES, `${states('acme').length} births applied: the bound was passed`);

    h.receive({ topic: 't/beta/device/lwt/pump-7', payload: JSON.stringify(beta.will) });
    await waitFor(
      () => states('beta').includes('pump-7:OFFLINE:lwt'),
      3000,
      "beta's will gives OFFLINE at once (not held as will_pending until a TIMEOUT)"
    );
    assert.deepEqual(states('beta'), ['pump-7:ONLINE:status', 'pump-7:OFFLINE:lwt']);
    assert.deepEqual(
      bad.filter((m) => m.moby?.tenant !== 'acme').map((m) => m.moby?.reject?.code),
      [],
      "nothing of beta's refused"
    );
    assert.ok(
      bad.every((m) => m.moby?.reject?.code === 'replay'),
      "acme's refused births are replay-floor refusals only"
    );
    const after = await metricsText();
    assert.equal(
      metric(after, 'moby_events_total{node_type="moby-device-health",event="will_pending"}') -
        metric(before, 'moby_events_total{node_type="moby-device-health",event="will_pending"}'),
      0,
      "beta's will was not held as pending"
    );
  });
});
