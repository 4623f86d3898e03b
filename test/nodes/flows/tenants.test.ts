// Tenants (issue #18) through the real Node-RED runtime: two tenants, `acme` and `beta`, that both have a
// `pump-001`, publish signed telemetry below t/<tenant>/devices/<device>/telemetry on an embedded aedes
// broker. Each tenant has its own master key (a watched file per tenant), its own bucket in a real
// VictoriaMetrics, its own API token and its own Slack stand-in (a local HTTP server).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { startAedes, Broker } from '../../support/aedes';
import { requireBinary, sleep, waitFor } from '../../support/net';
import { warnings } from '../../support/node-msg';
import { coreMqttBroker, coreMqttIn } from '../../support/core-mqtt-flow';
import { startVictoria, Victoria } from '../../support/victoria';
import { startReceiver, Receiver } from '../../support/alert-servers';

const helper = require('node-red-node-test-helper');
const supertest = require('supertest');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const anomalyNode = require('../../../dist/nodes/anomaly/moby-anomaly.js');
const alertNode = require('../../../dist/nodes/alert/moby-alert.js');
const channelsNode = require('../../../dist/nodes/alert/moby-alert-channels.js');
const influxNode = require('../../../dist/nodes/influx/moby-influx.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');

helper.init(require.resolve('node-red'));

const MASTER = { acme: 'hex:' + 'a1'.repeat(32), beta: 'hex:' + 'b2'.repeat(32) } as const;
type Tenant = keyof typeof MASTER;
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const TOKENS = { acme: 'acme-operator-token-0123456789', beta: 'beta-operator-token-0123456789' } as const;

let httpNode: unknown = null;
const captureHttpNode = (RED: { httpNode: unknown }) => {
  httpNode = RED.httpNode;
};
const api = (token: string) => supertest.agent(httpNode).set('authorization', `Bearer ${token}`);

/** A signed envelope of `device` of `tenant`, with that tenant's master-derived key (or another key). */
function envelope(
  tenant: Tenant,
  device: string,
  fields: Record<string, number>,
  o: { master?: string; claim?: string; ts?: number } = {}
): string {
  const key = deriveDeviceKey(parseKey(o.master ?? MASTER[tenant]), device);
  const body = JSON.stringify({ device_id: device, ts: Date.now(), ...fields });
  const env = signEnvelope({ deviceId: device, key, kid: 'm1', body, tenant: (o.claim ?? tenant) as string, ts: o.ts });
  return JSON.stringify(env);
}

interface Msg {
  payload?: any;
  topic?: string;
  anomaly?: any;
  moby?: {
    device_id?: string;
    tenant?: string;
    reject?: { code: string; reason: string; device_id?: string; field?: string };
  };
}

function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}

describe('tenants: two tenants with overlapping device ids through the real runtime', function () {
  this.timeout(240000);
  let broker: Broker;
  let vm: Victoria;
  let slack: Record<Tenant, Receiver>;
  let userDir: string;
  let keysDir: string;
  let client: MqttClient | null = null;

  before(async function () {
    const vmBin = requireBinary(this, 'victoria-metrics');
    [broker, vm] = await Promise.all([startAedes(), startVictoria(vmBin)]);
    slack = { acme: await startReceiver(), beta: await startReceiver() };
  });
  after(async () => {
    await Promise.all([broker?.close(), vm?.close(), slack?.acme.close(), slack?.beta.close()]);
  });
  beforeEach(() => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-tenants-'));
    keysDir = path.join(userDir, 'tenant-keys');
    fs.mkdirSync(keysDir);
    for (const t of ['acme', 'beta'] as const)
      fs.writeFileSync(path.join(keysDir, `${t}.json`), JSON.stringify({ '*': { m1: MASTER[t] } }));
    helper.settings({ userDir });
    slack.acme.requests.length = 0;
    slack.beta.requests.length = 0;
  });
  afterEach(async () => {
    if (client) await client.endAsync();
    client = null;
    await helper.unload();
    helper.settings({});
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  interface FlowOpts {
    anomalyMaxDevices?: number;
    lean?: boolean;
    /** the verify node's per-tenant rate bound (messages/s, burst); omitted: the node's defaults */
    tenantRate?: number;
    tenantBurst?: number;
    /** the verify node's per-device rate bound (messages/s, burst); omitted: the node's defaults */
    deviceRate?: number;
    deviceBurst?: number;
    /** wills on t/<tenant>/device/lwt/<device> into device health, which reports to the alert node */
    wills?: boolean;
  }

  function flow(opts: FlowOpts = {}): unknown[] {
    return [
      coreMqttBroker(broker.port),
      coreMqttIn('in', 't/+/devices/+/telemetry', [['v']], { datatype: 'buffer', rap: true, rh: 0 }),
      // one keyring; each tenant's master key in its own watched file
      { id: 'kr', type: 'moby-keyring', name: 'tenants', tenantKeysDir: 'tenant-keys' },
      {
        id: 'v',
        type: 'moby-hmac-verify',
        keyring: 'kr',
        tolerance: 300,
        topicPattern: 't/+tenant/devices/+device_id/telemetry',
        tenantRate: opts.tenantRate ?? '',
        tenantBurst: opts.tenantBurst ?? '',
        deviceRate: opts.deviceRate ?? '',
        deviceBurst: opts.deviceBurst ?? '',
        wires: [opts.lean ? ['n'] : ['n', 'verified', 'health'], ['authRejects']],
      },
      { id: 'n', type: 'moby-normalize', wires: [['an'], ['dataRejects']] },
      {
        id: 'an',
        type: 'moby-anomaly',
        method: 'threshold',
        limits: JSON.stringify({ temperature: { highWarning: 80, highCritical: 120 } }),
        alarmPoints: 1,
        maxDevices: opts.anomalyMaxDevices ?? 10000,
        persistSeconds: 3600,
        // lean (the flood): scoring and alerting only, what the flood test asserts; the writer and device
        // health are covered by the first test
        wires: [opts.lean ? ['scored', 'alert'] : ['scored', 'alert', 'w'], ['anomalyRejects']],
      },
      {
        id: 'alert',
        type: 'moby-alert',
        apiPrefix: '/moby',
        tenantChannels: JSON.stringify({ acme: ['slackAcme'], beta: ['slackBeta'] }),
        retryBaseSec: 0.05,
        retryCapSec: 0.2,
        // an OFFLINE is paged after this hold (a reboot within it pages nobody): short, so the test sees the page
        offlineHoldSec: 0.3,
        wires: [['alertEvents'], [], ['alertRejects']],
      },
      { id: 'slackAcme', type: 'moby-slack-webhook', name: 'acme slack', timeout: 2 },
      { id: 'slackBeta', type: 'moby-slack-webhook', name: 'beta slack', timeout: 2 },
      ...(opts.wills
        ? [
            // the tenant of a will is its topic's tenant level (the broker's ACL pins it to the tenant's
            // devices): the health node reads it through `+tenant` in its will pattern, no change node between
            coreMqttIn('inWill', 't/+/device/lwt/+', [['health']], { rap: true, rh: 0 }),
          ]
        : []),
      {
        id: 'health',
        type: 'moby-device-health',
        timeout: 3600,
        lwtTopics: 't/+tenant/device/lwt/+device_id',
        wires: [opts.wills ? ['healthEvents', 'alert'] : [], ['healthRejects']],
      },
      // every tenant to its own bucket (and org); VictoriaMetrics keeps each `db` apart
      {
        id: 'db',
        type: 'moby-influx',
        url: vm.url,
        org: 'platform',
        bucket: 'shared',
        tenantBucket: 'tenant-{tenant}',
        tenantOrg: '{tenant}',
        bucketAsDb: true,
        precision: 'ms',
      },
      {
        id: 'w',
        type: 'moby-influx-write',
        influx: 'db',
        batchSize: 1000,
        flushInterval: 0.2,
        retryMaxDelay: 1,
        wires: [['writeRejects']],
      },
      ...[
        'verified',
        'authRejects',
        'dataRejects',
        'scored',
        'anomalyRejects',
        'alertEvents',
        'alertRejects',
        'writeRejects',
        'healthEvents',
        'healthRejects',
      ].map((id) => ({ id, type: 'helper' })),
    ];
  }

  async function load(opts: FlowOpts = {}): Promise<void> {
    const creds = {
      alert: { apiToken: ADMIN_TOKEN, tenantTokens: JSON.stringify(TOKENS) },
      slackAcme: { url: `${slack.acme.url}/services/ACME/B000/XXXX` },
      slackBeta: { url: `${slack.beta.url}/services/BETA/B000/XXXX` },
    };
    await helper.load(
      [
        hmacNode,
        normalizeNode,
        anomalyNode,
        alertNode,
        channelsNode,
        influxNode,
        healthNode,
        mqttNode,
        captureHttpNode,
      ],
      flow(opts),
      creds
    );
    await waitFor(() => (helper.getNode('b') as { connected?: boolean }).connected, 10000, 'mqtt connected');
    client = await mqtt.connectAsync(broker.url, { clean: true });
  }

  const publish = (tenant: string, device: string, payload: string) =>
    client!.publishAsync(`t/${tenant}/devices/${device}/telemetry`, payload, { qos: 1 });

  it('keeps pump-001 of acme and pump-001 of beta apart: keys, signatures, buckets, alerts, tokens and Slack channels', async () => {
    await load();
    // the counters are the process's (one registry): this test's messages are what it adds to them
    const verifiedOf = async (tenant: string) =>
      Number(
        new RegExp(`moby_tenant_messages_total\\{node_type="moby-hmac-verify",tenant="${tenant}"\\} (\\d+)`).exec(
          (await api(ADMIN_TOKEN).get('/moby/metrics').expect(200)).text
        )?.[1] ?? 0
      );
    const verifiedBefore = { acme: await verifiedOf('acme'), beta: await verifiedOf('beta') };
    const verified = collect('verified');
    const authRejects = collect('authRejects');
    const scored = collect('scored');

    // both tenants' pump-001, each signed with its own tenant's key: acme healthy, beta overheating
    await publish('acme', 'pump-001', envelope('acme', 'pump-001', { temperature: 41 }));
    await publish('beta', 'pump-001', envelope('beta', 'pump-001', { temperature: 97 }));
    await waitFor(() => scored.length === 2, 10000, 'both points scored');
    assert.deepEqual(verified.map((m) => [m.moby?.tenant, m.moby?.device_id]).sort(), [
      ['acme', 'pump-001'],
      ['beta', 'pump-001'],
    ]);
    const byTenant = Object.fromEntries(scored.map((m) => [m.payload.tags.tenant, m]));
    assert.equal(byTenant.acme.anomaly.is_anomaly, false, 'acme pump-001 scored on its own state');
    assert.equal(byTenant.beta.anomaly.is_anomaly, true, 'beta pump-001 scored on its own state');

    // a cross-tenant signature: acme's key (or acme's claim) used on beta's topic is refused
    await publish('beta', 'pump-001', envelope('acme', 'pump-001', { temperature: 10 }, { claim: 'beta' }));
    await publish('beta', 'pump-001', envelope('acme', 'pump-001', { temperature: 10 }));
    // an old-style signature without the tenant does not verify on a tenant topic either
    const plain = JSON.stringify(
      signEnvelope({
        deviceId: 'pump-001',
        key: deriveDeviceKey(parseKey(MASTER.beta), 'pump-001'),
        kid: 'm1',
        body: '{"temperature":10}',
      })
    );
    await publish('beta', 'pump-001', plain);
    await waitFor(() => authRejects.length === 3, 10000, 'three rejects');
    assert.deepEqual(
      authRejects.map((m) => m.moby?.reject?.code),
      ['bad_signature', 'tenant_mismatch', 'bad_signature']
    );
    assert.equal(scored.length, 2, 'nothing forged got through');

    // each tenant's points in its own bucket (VictoriaMetrics: `db` label), none in the shared one
    const series = await waitFor(
      async () => {
        const s = await vm.export('telemetry_temperature');
        return s.length >= 2 ? s : null;
      },
      20000,
      'points in VictoriaMetrics',
      200
    );
    const stored = series
      .map((s) => ({ db: s.metric.db, tenant: s.metric.tenant, device: s.metric.device_id, values: s.values }))
      .sort((a, b) => a.db.localeCompare(b.db));
    assert.deepEqual(stored, [
      { db: 'tenant-acme', tenant: 'acme', device: 'pump-001', values: [41] },
      { db: 'tenant-beta', tenant: 'beta', device: 'pump-001', values: [97] },
    ]);

    // alerts: beta's pump-001 alerts; only beta's Slack hears of it
    await publish('acme', 'pump-001', envelope('acme', 'pump-001', { temperature: 130 }));
    await waitFor(
      () => slack.acme.delivered().length === 1 && slack.beta.delivered().length === 1,
      10000,
      'one notification per tenant'
    );
    await sleep(300);
    assert.match(slack.acme.delivered()[0].body, /pump-001/);
    assert.equal(slack.acme.delivered().length, 1);
    assert.equal(slack.beta.delivered().length, 1);
    const acmeText = slack.acme.delivered()[0].body;
    const betaText = slack.beta.delivered()[0].body;
    assert.doesNotMatch(acmeText, /beta/, 'acme Slack gets nothing of beta');
    assert.doesNotMatch(betaText, /acme/, 'beta Slack gets nothing of acme');

    // operators: each token sees its own tenant, the admin token both
    const admin = await api(ADMIN_TOKEN).get('/moby/alerts').expect(200);
    assert.deepEqual(
      admin.body.map((a: { tenant: string; device_id: string }) => `${a.tenant}/${a.device_id}`).sort(),
      ['acme/pump-001', 'beta/pump-001']
    );
    const acmeAlerts = (await api(TOKENS.acme).get('/moby/alerts').expect(200)).body;
    const betaAlerts = (await api(TOKENS.beta).get('/moby/alerts').expect(200)).body;
    assert.deepEqual(
      acmeAlerts.map((a: { tenant: string }) => a.tenant),
      ['acme']
    );
    assert.deepEqual(
      betaAlerts.map((a: { tenant: string }) => a.tenant),
      ['beta']
    );
    const betaId = betaAlerts[0].alert_id;

    // cross-tenant read and ack: 404 exactly as for an id that does not exist, and nothing changes
    const cross = await api(TOKENS.acme).get(`/moby/alerts/${betaId}`).expect(404);
    const missing = await api(TOKENS.acme).get('/moby/alerts/00000000-0000-0000-0000-000000000000').expect(404);
    assert.equal(cross.body.error.code, missing.body.error.code);
    await api(TOKENS.acme)
      .post(`/moby/alerts/${betaId}/ack`)
      .set('content-type', 'application/json')
      .send({ by: 'mallory' })
      .expect(404);
    await api(TOKENS.acme)
      .post(`/moby/alerts/${betaId}/resolve`)
      .set('content-type', 'application/json')
      .send({ by: 'mallory' })
      .expect(404);
    const after = (await api(TOKENS.beta).get(`/moby/alerts/${betaId}`).expect(200)).body;
    assert.equal(after.acknowledged, false);
    assert.equal(after.status, 'open');
    // the tenant's own operator can
    const acked = await api(TOKENS.beta)
      .post(`/moby/alerts/${betaId}/ack`)
      .set('content-type', 'application/json')
      .send({ by: 'bea' })
      .expect(200);
    assert.equal(acked.body.acknowledged_by, 'bea');

    // devices: each token sees its own pump-001, the admin both (one row each)
    await waitFor(
      async () => (await api(ADMIN_TOKEN).get('/moby/devices').expect(200)).body.length === 2,
      5000,
      'device rows'
    );
    const devAdmin = (await api(ADMIN_TOKEN).get('/moby/devices').expect(200)).body;
    assert.deepEqual(
      devAdmin.map((d: { tenant: string; device_id: string }) => `${d.tenant}/${d.device_id}`),
      ['acme/pump-001', 'beta/pump-001']
    );
    const devAcme = (await api(TOKENS.acme).get('/moby/devices').expect(200)).body;
    assert.deepEqual(
      devAcme.map((d: { tenant: string; device_id: string }) => `${d.tenant}/${d.device_id}`),
      ['acme/pump-001']
    );
    // mute windows are per (tenant, device): acme's operator mutes acme's pump-001, beta's stays live
    const muted = await api(TOKENS.acme)
      .post('/moby/devices/pump-001/mute')
      .set('content-type', 'application/json')
      .send({ minutes: 10, by: 'ann' })
      .expect(200);
    assert.equal(muted.body.tenant, 'acme');
    const mutedOf = async (token: string) =>
      (await api(token).get('/moby/alerts').expect(200)).body.map(
        (a: { tenant: string; muted?: boolean }) => `${a.tenant}:${a.muted === true}`
      );
    assert.deepEqual(await mutedOf(TOKENS.acme), ['acme:true']);
    assert.deepEqual(await mutedOf(TOKENS.beta), ['beta:false']);
    // acme can neither mute nor lift beta's: 404, as for a device that does not exist
    await api(TOKENS.acme)
      .post('/moby/devices/pump-001/mute?tenant=beta')
      .set('content-type', 'application/json')
      .send({ minutes: 10 })
      .expect(404);
    await api(TOKENS.beta)
      .post('/moby/devices/pump-001/mute')
      .set('content-type', 'application/json')
      .send({ minutes: 10 })
      .expect(200);
    await api(TOKENS.acme)
      .post('/moby/devices/pump-001/unmute')
      .set('content-type', 'application/json')
      .send({ tenant: 'beta' })
      .expect(404);
    assert.deepEqual(await mutedOf(TOKENS.beta), ['beta:true']);
    await api(TOKENS.acme)
      .post('/moby/devices/pump-001/unmute')
      .set('content-type', 'application/json')
      .send({})
      .expect(200);
    assert.deepEqual(await mutedOf(TOKENS.acme), ['acme:false']);
    assert.deepEqual(await mutedOf(TOKENS.beta), ['beta:true'], "acme's unmute left beta's window alone");

    // metrics are labelled by tenant (admin token)
    const metrics = await api(ADMIN_TOKEN).get('/moby/metrics').expect(200);
    assert.equal((await verifiedOf('acme')) - verifiedBefore.acme, 2);
    assert.equal((await verifiedOf('beta')) - verifiedBefore.beta, 1);
    assert.match(metrics.text, /moby_tenant_alerts_open\{tenant="beta"\} 1/);
    // a tenant token does not open the platform's metrics: 403, a known token in the wrong place, not a guess
    const refused = await api(TOKENS.acme).get('/moby/metrics').expect(403);
    assert.equal(refused.body.error.code, 'forbidden');
  });

  it("rotates one tenant's master key by rewriting its keys file, without a redeploy and without touching the other tenant", async () => {
    await load();
    const verified = collect('verified');
    const authRejects = collect('authRejects');
    const NEW_BETA = 'hex:' + 'c3'.repeat(32);
    fs.writeFileSync(
      path.join(keysDir, 'beta.json'),
      JSON.stringify({ '*': { m2: NEW_BETA, m1: { secret: MASTER.beta, active: false } } })
    );
    // the directory is polled every second
    await waitFor(
      async () => {
        const before = verified.length;
        await publish(
          'beta',
          'pump-002',
          envelope('beta', 'pump-002', { temperature: 20 }, { master: NEW_BETA }).replace('"kid":"m1"', '"kid":"m2"')
        );
        await sleep(300);
        return verified.length > before;
      },
      10000,
      'beta verifies with its new key',
      200
    );
    authRejects.length = 0;
    await publish('beta', 'pump-002', envelope('beta', 'pump-002', { temperature: 20 }));
    await publish('acme', 'pump-002', envelope('acme', 'pump-002', { temperature: 20 }));
    await waitFor(
      () => authRejects.length === 1 && verified.some((m) => m.moby?.tenant === 'acme'),
      5000,
      'old beta key refused, acme unchanged'
    );
    assert.equal(authRejects[0].moby?.reject?.code, 'unknown_key', "beta's retired key is refused");
  });

  it("warns when two tenants' keys files hold the same master key, and stops when they differ (tenant red team 2026-12-07: a copied file was accepted without a word)", async () => {
    await load();
    const gamma = path.join(keysDir, 'gamma.json');
    const sameKey = () => warnings().filter((w) => /have the same master key/.test(w));
    try {
      fs.writeFileSync(gamma, JSON.stringify({ '*': { m1: MASTER.acme } }));
      await waitFor(() => sameKey().length === 1, 10000, 'the warning');
      assert.match(sameKey()[0], /keyring: tenants acme and gamma have the same master key/);
      fs.writeFileSync(gamma, JSON.stringify({ '*': { m1: 'hex:' + 'e7'.repeat(32) } }));
      await sleep(2500); // two scans of the directory
      fs.writeFileSync(gamma, JSON.stringify({ '*': { m1: MASTER.acme } }));
      await waitFor(() => sameKey().length === 2, 10000, 'warned again once it is the same key again');
    } finally {
      fs.rmSync(gamma, { force: true });
    }
  });

  it("a 100k-device flood of one tenant leaves the other tenant's devices scored and alerting", async function () {
    this.timeout(900000);
    // the anomaly node's bound (1000 devices) holds per tenant; the rate bound is off here so that all 100k
    // states are created (the rate bound has its own test below)
    await load({ anomalyMaxDevices: 1000, lean: true, tenantRate: 0 });
    // node-red-node-test-helper wraps every Node method (send, receive, status, log …) in a sinon spy that
    // records each call with its stack: at 100k messages that costs many times the pipeline itself. The
    // flood needs none of it (results are collected with plain 'input' listeners), so the spies go.
    helper._sandbox.restore();
    // counted, and only beta's kept: holding 100k scored messages would only measure the garbage collector
    let scoredCount = 0;
    const betaScored: Msg[] = [];
    helper.getNode('scored').on('input', (m: Msg) => {
      scoredCount++;
      if (m.payload?.tags?.tenant === 'beta') betaScored.push(m);
    });
    const verify = helper.getNode('v');
    // beta's three devices are known before the flood
    for (const d of ['pump-001', 'pump-002', 'pump-003'])
      await publish('beta', d, envelope('beta', d, { temperature: 40 }));
    await waitFor(() => betaScored.length === 3, 10000, 'beta devices scored');

    // the eviction counter is process-wide (other suites in the same mocha run evict too): count the delta
    const evictedSoFar = async () =>
      Number(
        /moby_evictions_total\{node_type="moby-anomaly"\} (\d+)/.exec(
          (await api(ADMIN_TOKEN).get('/moby/metrics').expect(200)).text
        )?.[1] ?? 0
      );
    const evictedBefore = await evictedSoFar();

    // acme floods: 100,000 devices, each with a valid signature, straight into the verifier (same runtime path)
    const FLOOD = Number(process.env.MOBY_TENANT_FLOOD ?? 100_000);
    const CHUNK = 2000;
    const acmeKey = parseKey(MASTER.acme);
    for (let i = 0; i < FLOOD; i += CHUNK) {
      for (let j = i; j < Math.min(FLOOD, i + CHUNK); j++) {
        const device = `flood-${j}`;
        const env = signEnvelope({
          deviceId: device,
          key: deriveDeviceKey(acmeKey, device),
          kid: 'm1',
          body: `{"temperature":${30 + (j % 10)}}`,
          tenant: 'acme',
        });
        verify.receive({ topic: `t/acme/devices/${device}/telemetry`, payload: JSON.stringify(env) });
      }
      await sleep(0);
      // the previous chunk is through before the next goes in (a flood, but not one the test's own memory feels)
      await waitFor(() => scoredCount >= 3 + i, 60000, 'flood progress', 20);
    }
    await waitFor(() => scoredCount >= 3 + FLOOD, 120000, 'flood scored', 100);

    // beta's devices still have their state (scored, not warming or re-learning) and one of them alerts
    const before = betaScored.length;
    for (const d of ['pump-001', 'pump-002']) await publish('beta', d, envelope('beta', d, { temperature: 41 }));
    await publish('beta', 'pump-003', envelope('beta', 'pump-003', { temperature: 99 }));
    await waitFor(() => betaScored.length === before + 3, 20000, 'beta scored after the flood');
    const beta = betaScored.slice(before);
    assert.ok(beta.every((m) => m.payload.tags.tenant === 'beta'));
    assert.deepEqual(
      beta.map((m) => m.anomaly.is_anomaly),
      [false, false, true]
    );
    await waitFor(() => slack.beta.delivered().some((r) => /pump-003/.test(r.body)), 10000, 'beta alert notified');
    const betaAlerts = (await api(TOKENS.beta).get('/moby/alerts').expect(200)).body;
    assert.deepEqual(
      betaAlerts.map((a: { device_id: string; status: string }) => `${a.device_id}:${a.status}`),
      ['pump-003:open']
    );

    // acme's flood evicted only acme's own states: the bound held per tenant
    const evicted = (await evictedSoFar()) - evictedBefore;
    assert.equal(evicted, FLOOD - 1000, "acme evicted its own devices beyond the bound, none of beta's");
  });
  it("bounds each tenant's rate: acme's flood is refused beyond its bound while beta's devices keep being scored and alerting", async () => {
    const RATE = 20;
    const BURST = 50;
    await load({ lean: true, tenantRate: RATE, tenantBurst: BURST });
    helper._sandbox.restore(); // the helper's spies on every send cost more than the pipeline (see the flood test)
    const order: string[] = []; // tenant of each scored message, in the order they were scored
    const betaScored: Msg[] = [];
    let betaFirstAt = 0;
    helper.getNode('scored').on('input', (m: Msg) => {
      const t = m.payload?.tags?.tenant;
      order.push(t);
      if (t === 'beta') {
        if (!betaScored.length) betaFirstAt = performance.now();
        betaScored.push(m);
      }
    });
    const authRejects: Msg[] = [];
    helper.getNode('authRejects').on('input', (m: Msg) => authRejects.push(m));

    // acme floods 3,000 signed messages (50 devices) through the broker; beta's five devices publish in the
    // middle of the flood and at its end, one of them overheating
    const FLOOD = 3000;
    const acme = Array.from({ length: FLOOD }, (_, i) =>
      envelope('acme', `press-${i % 50}`, { temperature: 30 + (i % 10) })
    );
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < FLOOD; i++) {
      sends.push(client!.publishAsync(`t/acme/devices/press-${i % 50}/telemetry`, acme[i], { qos: 0 }));
      if (i === FLOOD / 2)
        for (const d of ['pump-001', 'pump-002'])
          sends.push(publish('beta', d, envelope('beta', d, { temperature: 40 })));
      if (sends.length >= 500) await Promise.all(sends.splice(0)); // the client's socket, not the flood, is the limit here
    }
    for (const d of ['pump-003', 'pump-004']) sends.push(publish('beta', d, envelope('beta', d, { temperature: 40 })));
    sends.push(publish('beta', 'pump-005', envelope('beta', 'pump-005', { temperature: 99 })));
    await Promise.all(sends);
    await waitFor(
      () => betaScored.length === 5 && order.length + authRejects.length >= FLOOD + 5,
      60000,
      'flood and beta through',
      50
    );
    const elapsedSec = (performance.now() - started) / 1000;

    // beta lost nothing: every device scored (on its own state), the hot one alerting to beta's Slack
    assert.deepEqual(betaScored.map((m) => `${m.payload.tags.device_id}:${m.anomaly.is_anomaly}`).sort(), [
      'pump-001:false',
      'pump-002:false',
      'pump-003:false',
      'pump-004:false',
      'pump-005:true',
    ]);
    await waitFor(() => slack.beta.delivered().some((r) => /pump-005/.test(r.body)), 10000, 'beta alert notified');

    // acme got its burst and its rate, no more; the rest was refused as tenant_rate (none of beta's)
    const acmePassed = order.filter((t) => t === 'acme').length;
    const allowed = BURST + Math.ceil(RATE * elapsedSec);
    assert.ok(
      acmePassed >= BURST && acmePassed <= allowed,
      `acme passed ${acmePassed}, bound ${allowed} after ${elapsedSec.toFixed(1)} s`
    );
    assert.equal(authRejects.length, FLOOD - acmePassed);
    assert.ok(authRejects.every((m) => m.moby?.reject?.code === 'tenant_rate' && m.moby.reject.field === 'tenant'));
    // bounded delay: what stood before beta's first message was acme's budget, not acme's flood (without
    // the bound all 1,500 messages published before it would have been scored first)
    const acmeBeforeBeta = order.indexOf('beta');
    const budgetUntilBeta = BURST + Math.ceil((RATE * (betaFirstAt - started)) / 1000);
    assert.ok(
      acmeBeforeBeta <= budgetUntilBeta,
      `${acmeBeforeBeta} acme messages were scored before beta's first (budget ${budgetUntilBeta})`
    );

    // counted per tenant in /moby/metrics
    const metrics = (await api(ADMIN_TOKEN).get('/moby/metrics').expect(200)).text;
    const counted =
      /moby_tenant_rejects_total\{node_type="moby-hmac-verify",tenant="acme",code="tenant_rate"\} (\d+)/.exec(metrics);
    assert.ok(counted, "acme's tenant_rate rejects in /moby/metrics");
    assert.ok(Number(counted[1]) >= FLOOD - acmePassed);
    assert.doesNotMatch(metrics, /moby_tenant_rejects_total\{[^}]*tenant="beta"/);
  });
  it("bounds each device's rate: acme's pump-001 floods, acme's other devices and beta's pump-001 keep being scored, and the flood does not spend acme's tenant budget", async () => {
    const RATE = 20;
    const BURST = 50;
    // acme's tenant budget is far below the flood: had the flood spent it, acme's other devices would be
    // refused as tenant_rate (the device bucket is checked first)
    await load({ lean: true, deviceRate: RATE, deviceBurst: BURST, tenantRate: 100, tenantBurst: 200 });
    helper._sandbox.restore(); // the helper's spies on every send cost more than the pipeline (see the flood test)
    const order: string[] = []; // tenant/device of each scored message, in the order they were scored
    const others: Msg[] = [];
    helper.getNode('scored').on('input', (m: Msg) => {
      const key = `${m.payload?.tags?.tenant}/${m.payload?.tags?.device_id}`;
      order.push(key);
      if (key !== 'acme/pump-001') others.push(m);
    });
    const authRejects: Msg[] = [];
    helper.getNode('authRejects').on('input', (m: Msg) => authRejects.push(m));
    const metricsBefore = (await api(ADMIN_TOKEN).get('/moby/metrics').expect(200)).text;

    // one device with a valid key floods 3,000 signed messages through the broker; acme's pump-002/003 and
    // beta's pump-001 (the flooder's id in another tenant) publish in the middle of the flood and at its end
    const FLOOD = 3000;
    const flood = Array.from({ length: FLOOD }, (_, i) => envelope('acme', 'pump-001', { temperature: 30 + (i % 10) }));
    const normal = (temperature = 40) => [
      publish('acme', 'pump-002', envelope('acme', 'pump-002', { temperature })),
      publish('acme', 'pump-003', envelope('acme', 'pump-003', { temperature: 41 })),
      publish('beta', 'pump-001', envelope('beta', 'pump-001', { temperature: 42 })),
    ];
    const started = performance.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < FLOOD; i++) {
      sends.push(client!.publishAsync('t/acme/devices/pump-001/telemetry', flood[i], { qos: 0 }));
      if (i === FLOOD / 2) sends.push(...normal());
      if (sends.length >= 500) await Promise.all(sends.splice(0));
    }
    sends.push(...normal(130)); // acme's pump-002 overheats at the end: it alerts to acme's Slack
    await Promise.all(sends);
    await waitFor(
      () => others.length === 6 && order.length + authRejects.length >= FLOOD + 6,
      60000,
      'flood and the other devices through',
      50
    );
    const elapsedSec = (performance.now() - started) / 1000;

    // the other devices lost nothing, each scored on its own state
    assert.deepEqual(others.map((m) => `${m.payload.tags.tenant}/${m.payload.tags.device_id}`).sort(), [
      'acme/pump-002',
      'acme/pump-002',
      'acme/pump-003',
      'acme/pump-003',
      'beta/pump-001',
      'beta/pump-001',
    ]);
    assert.equal(others.filter((m) => m.anomaly.is_anomaly).length, 1);
    await waitFor(() => slack.acme.delivered().some((r) => /pump-002/.test(r.body)), 10000, 'acme alert notified');

    // the flooder got its burst and its rate, no more; the rest was refused as device_rate naming it
    const floodPassed = order.filter((k) => k === 'acme/pump-001').length;
    const allowed = BURST + Math.ceil(RATE * elapsedSec);
    assert.ok(
      floodPassed >= BURST && floodPassed <= allowed,
      `pump-001 of acme passed ${floodPassed}, bound ${allowed} after ${elapsedSec.toFixed(1)} s`
    );
    assert.equal(authRejects.length, FLOOD - floodPassed);
    for (const m of authRejects) {
      const r = m.moby!.reject!;
      assert.deepEqual([r.code, r.device_id, r.field], ['device_rate', 'pump-001', 'device_id']);
      assert.match(r.reason, /^device pump-001 of tenant acme is over its rate bound \(20 messages\/s, burst 50\)$/);
    }

    // counted by code (no device label) and per tenant; nothing of beta's, no tenant_rate at all
    const metrics = (await api(ADMIN_TOKEN).get('/moby/metrics').expect(200)).text;
    const num = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const byCode = /moby_rejects_total\{node_type="moby-hmac-verify",code="device_rate"\} (\d+)/;
    assert.equal(num(metrics, byCode) - num(metricsBefore, byCode), FLOOD - floodPassed);
    const acme = /moby_tenant_rejects_total\{node_type="moby-hmac-verify",tenant="acme",code="device_rate"\} (\d+)/;
    assert.equal(num(metrics, acme) - num(metricsBefore, acme), FLOOD - floodPassed);
    // the counters are the process's (earlier tests count too): compare with before the flood
    const tenantRejects = (text: string) =>
      text.split('\n').filter((l) => /^moby_tenant_rejects_total\{[^}]*(tenant="beta"|code="tenant_rate")/.test(l));
    assert.deepEqual(tenantRejects(metrics), tenantRejects(metricsBefore), 'no beta rejects, no tenant_rate');
    assert.doesNotMatch(metrics, /moby_rejects_total\{[^}]*device_id="/, 'no per-device label');
  });
  it("device health per tenant: beta's pump-001 will marks only beta's pump-001 OFFLINE, and the alert goes to beta's view and Slack only", async () => {
    await load({ wills: true });
    const scored = collect('scored');
    const healthEvents = collect('healthEvents');
    const healthRejects = collect('healthRejects');
    // both pump-001s prove themselves with signed data
    await publish('acme', 'pump-001', envelope('acme', 'pump-001', { temperature: 40 }));
    await publish('beta', 'pump-001', envelope('beta', 'pump-001', { temperature: 40 }));
    await waitFor(() => scored.length === 2, 10000, 'both scored');
    await waitFor(() => healthEvents.filter((m) => m.payload.state === 'ONLINE').length === 2, 10000, 'both ONLINE');
    assert.deepEqual(healthEvents.map((m) => `${m.payload.tenant}/${m.payload.device_id}:${m.payload.state}`).sort(), [
      'acme/pump-001:ONLINE',
      'beta/pump-001:ONLINE',
    ]);

    // beta's pump-001 dies: its will arrives on beta's topic, straight from mqtt in (no msg.moby.tenant): the
    // tenant comes from the +tenant level of the health node's will pattern
    await client!.publishAsync('t/beta/device/lwt/pump-001', 'offline', { qos: 1 });
    await waitFor(() => healthEvents.some((m) => m.payload.state === 'OFFLINE'), 10000, 'OFFLINE event');
    const offline = healthEvents
      .filter((m) => m.payload.state === 'OFFLINE')
      .map((m) => `${m.payload.tenant}/${m.payload.device_id}`);
    assert.deepEqual(offline, ['beta/pump-001'], "only beta's pump-001 went OFFLINE");
    assert.equal(healthRejects.length, 0);

    // device rows: each token sees its own pump-001 with its own state
    const rows = async (token: string) =>
      (await api(token).get('/moby/devices').expect(200)).body.map(
        (d: { tenant: string; device_id: string; state: string }) => `${d.tenant}/${d.device_id}:${d.state}`
      );
    assert.deepEqual(await rows(ADMIN_TOKEN), ['acme/pump-001:ONLINE', 'beta/pump-001:OFFLINE']);
    assert.deepEqual(await rows(TOKENS.acme), ['acme/pump-001:ONLINE']);
    assert.deepEqual(await rows(TOKENS.beta), ['beta/pump-001:OFFLINE']);

    // the OFFLINE alert carries beta, is listed for beta only, and only beta's Slack hears of it
    await waitFor(() => slack.beta.delivered().some((r) => /pump-001/.test(r.body)), 10000, 'beta notified');
    await sleep(300);
    assert.equal(slack.acme.delivered().length, 0, "acme's Slack heard nothing of beta's machine");
    const betaAlerts = (await api(TOKENS.beta).get('/moby/alerts').expect(200)).body;
    assert.deepEqual(
      betaAlerts.map((a: { tenant: string; device_id: string; rule: string }) => `${a.tenant}/${a.device_id}`),
      ['beta/pump-001']
    );
    assert.deepEqual((await api(TOKENS.acme).get('/moby/alerts').expect(200)).body, []);

    // a will naming acme's pump-001 on beta's topic marks beta's row only (acme's machine is another one)
    await client!.publishAsync('t/beta/device/lwt/pump-001', 'offline', { qos: 1 });
    await sleep(300);
    assert.deepEqual(await rows(TOKENS.acme), ['acme/pump-001:ONLINE']);

    // a will on the topic of a tenant whose pump-001 never proved itself is refused like any unproven will,
    // and names the tenant and the device as that tenant knows it
    await client!.publishAsync('t/gamma/device/lwt/pump-001', 'offline', { qos: 1 });
    await waitFor(() => healthRejects.length === 1, 10000, 'gamma will refused');
    const refused = healthRejects[0].moby!;
    assert.deepEqual(
      [refused.reject!.code, refused.reject!.device_id, refused.reject!.field, refused.tenant],
      ['untrusted_status', 'pump-001', 'topic', 'gamma']
    );
    // a tenant level breaking the tenant rule never reaches a row either
    await client!.publishAsync('t/gam.ma/device/lwt/pump-001', 'offline', { qos: 1 });
    await waitFor(() => healthRejects.length === 2, 10000, 'bad tenant refused');
    assert.deepEqual(
      [healthRejects[1].moby!.reject!.code, healthRejects[1].moby!.reject!.field],
      ['bad_tenant', 'topic']
    );
    assert.deepEqual(await rows(ADMIN_TOKEN), ['acme/pump-001:ONLINE', 'beta/pump-001:OFFLINE']);
    assert.deepEqual(
      healthEvents
        .filter((m) => m.payload.state === 'OFFLINE')
        .map((m) => `${m.payload.tenant}/${m.payload.device_id}`),
      ['beta/pump-001']
    );
    // a snapshot shows the rows as events and /moby/devices do: device id and tenant apart, not the table's key
    helper.getNode('health').receive({ topic: 'snapshot' });
    await waitFor(() => healthEvents.some((m) => m.topic === 'snapshot'), 10000, 'snapshot');
    const snapshot = healthEvents.find((m) => m.topic === 'snapshot')!.payload as {
      device_id: string;
      tenant?: string;
      state: string;
    }[];
    assert.deepEqual(snapshot.map((r) => `${r.tenant}/${r.device_id}:${r.state}`).sort(), [
      'acme/pump-001:ONLINE',
      'beta/pump-001:OFFLINE',
    ]);
  });
});
