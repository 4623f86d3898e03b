// The per-device rate bound of moby-hmac-verify (docs/security-devices.md "A device that floods") in the real
// Node-RED runtime, tenant-less (the default single-tenant deployment): a device holding a valid key that
// floods is refused as device_rate beyond its bucket, while every other device passes untouched.
import assert from 'node:assert/strict';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { waitFor } from '../../support/net';
import { PUMP_BODY } from '../../support/payloads';
import { collect, type NodeMsg as Msg } from '../../support/node-msg';
import { roomyVerifyFlow } from '../../support/hmac-flow';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
// the compiled node uses the compiled metrics module: read that registry
const metrics = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const PUMP_KEY = 'pump-7-rate-test-secret';
const SENSOR_KEY = 'sensor-001-rate-test-secret';
const KEYS = { 'pump-7': { k1: PUMP_KEY }, sensor_001: { s1: SENSOR_KEY } };
const creds = { kr: { keys: JSON.stringify(KEYS) } };

const pump = () =>
  JSON.stringify(signEnvelope({ deviceId: 'pump-7', key: parseKey(PUMP_KEY), kid: 'k1', body: PUMP_BODY }));
const sensor = () =>
  JSON.stringify(
    signEnvelope({ deviceId: 'sensor_001', key: parseKey(SENSOR_KEY), kid: 's1', body: '{"temperature":21.5}' })
  );

// the replay cache's per-device budget is not what is tested here; the flood's nonces stay in memory
const flow = (opts: Record<string, unknown> = {}) => roomyVerifyFlow({ replayStore: 'memory', ...opts });

function load(f: unknown[]): Promise<void> {
  return new Promise((resolve) => helper.load([hmacNode], f, creds, resolve));
}

const value = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
const DEVICE_RATE_SERIES = 'moby_rejects_total{node_type="moby-hmac-verify",code="device_rate"}';

describe('moby-hmac-verify: per-device rate bound (Device rate / Device burst)', function () {
  this.timeout(120000);
  afterEach(async () => {
    await helper.unload();
  });

  it("refuses a flooding device's excess as device_rate (which device, which limit), leaves the other device alone, counts it and warns once", async () => {
    const before = await metrics.metricsText();
    // a rate so low that nothing refills during the test: exactly the burst passes
    await load(flow({ deviceRate: 0.001, deviceBurst: 5 }));
    const ok = collect('ok');
    const bad = collect('bad');
    const v = helper.getNode('v');
    const warnings: string[] = [];
    v.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
    const statuses: string[] = [];
    v.on('call:status', (call: { args: Array<{ text?: string }> }) => statuses.push(call.args[0]?.text ?? ''));
    for (let i = 0; i < 20; i++) {
      v.receive({ payload: pump(), topic: 'devices/pump-7/telemetry' });
      if (i % 7 === 0) v.receive({ payload: sensor(), topic: 'devices/sensor_001/telemetry' });
    }
    await waitFor(() => ok.length + bad.length === 23, 10000, 'all 23 handled');

    assert.deepEqual(
      ok.map((m) => m.moby?.device_id).sort(),
      [...Array(5).fill('pump-7'), ...Array(3).fill('sensor_001')],
      'pump-7 got its burst, sensor_001 everything'
    );
    assert.equal(bad.length, 15);
    for (const m of bad) {
      const r = m.moby!.reject!;
      assert.deepEqual([r.code, r.device_id, r.field], ['device_rate', 'pump-7', 'device_id']);
      assert.match(r.reason, /^device pump-7 is over its rate bound \(0\.001 messages\/s, burst 5\)$/);
      assert.equal(m.moby!.auth, undefined, 'a refused message carries no verified claim');
    }
    // one warning for the episode, not one per refused message
    assert.equal(warnings.filter((w) => /device_rate/.test(w)).length, 1);
    assert.match(
      warnings.find((w) => /device_rate/.test(w))!,
      /device pump-7 is over its rate bound/
    );
    const after = await metrics.metricsText();
    assert.equal(value(after, DEVICE_RATE_SERIES) - value(before, DEVICE_RATE_SERIES), 15);
    await waitFor(() => statuses.some((s) => /rate ✗ 15/.test(s)), 5000, 'the status shows the rate refusals');

    // like tenant_rate: the refused message's nonce is remembered (it was authentic and is journaled), so the
    // same bytes sent again are a replay; a device resends refused data with a new signature
    const refused = pump();
    v.receive({ payload: refused, topic: 'devices/pump-7/telemetry' });
    await waitFor(() => bad.length === 16, 3000, 'refused again');
    assert.equal(bad[15].moby!.reject!.code, 'device_rate');
  });

  it('is on by default: a device sending far beyond the default burst is refused beyond burst + rate × elapsed', async () => {
    await load(flow());
    // the helper's sinon spies record every call with its stack; the flood needs none of it
    helper._sandbox.restore();
    let passed = 0;
    const bad: Msg[] = [];
    helper.getNode('ok').on('input', () => passed++);
    helper.getNode('bad').on('input', (m: Msg) => bad.push(m));
    const v = helper.getNode('v');
    const N = 6000;
    const envs = Array.from({ length: N }, pump);
    const started = performance.now();
    for (const e of envs) v.receive({ payload: e, topic: 'devices/pump-7/telemetry' });
    await waitFor(() => passed + bad.length === N, 60000, 'flood handled', 20);
    const elapsedSec = (performance.now() - started) / 1000;
    // the defaults (docs/security-devices.md): 100 messages/s, burst 3000
    assert.ok(
      passed >= 3000 && passed <= 3000 + Math.ceil(100 * elapsedSec),
      `passed ${passed} after ${elapsedSec.toFixed(2)} s`
    );
    assert.equal(bad.length, N - passed);
    assert.ok(bad.length > 0);
    assert.ok(bad.every((m) => m.moby?.reject?.code === 'device_rate'));
    assert.match(bad[0].moby!.reject!.reason, /\(100 messages\/s, burst 3000\)/);
    // another device is not affected by pump-7's empty bucket
    const ok = collect('ok');
    v.receive({ payload: sensor(), topic: 'devices/sensor_001/telemetry' });
    await waitFor(() => ok.length === 1, 3000, 'sensor_001 passes');
  });

  it('checks a broker redelivery of a refused message against the bound again, alone and inside a batch', async () => {
    // In batch mode a refused item is acknowledged only with its batch: when another item of the batch fails,
    // the broker sends the refused message again, now marked as a redelivery (docs/batch-mode.md). Its nonce is
    // known, so the replay cache lets it through as a redelivery; the rate bound must still apply to it.
    await load(flow({ deviceRate: 0.001, deviceBurst: 2 }));
    const ok = collect('ok');
    const bad = collect('bad');
    const v = helper.getNode('v');
    const sent = [pump(), pump(), pump()];
    for (const e of sent) v.receive({ payload: e, topic: 'devices/pump-7/telemetry' });
    await waitFor(() => ok.length + bad.length === 3, 5000, 'first copies handled');
    assert.equal(ok.length, 2);
    assert.equal(bad[0].moby!.reject!.code, 'device_rate');

    // the refused one again, as the broker redelivers it: still over the bound, refused again
    v.receive({ payload: sent[2], topic: 'devices/pump-7/telemetry', redelivered: true });
    // and inside a batch, beside a redelivery of an accepted one: both still over the bound
    v.receive({
      batch: [
        { payload: sent[0], topic: 'devices/pump-7/telemetry', redelivered: true },
        { payload: sent[2], topic: 'devices/pump-7/telemetry', redelivered: true },
      ],
    });
    await waitFor(() => bad.length >= 3, 5000, 'redeliveries handled');
    assert.equal(ok.length, 2, 'no redelivery of a refused message passed while the device is over its bound');
    assert.equal(bad[1].moby!.reject!.code, 'device_rate');
    const batched = (bad[2] as unknown as { batch: Msg[] }).batch;
    assert.deepEqual(
      batched.map((m) => m.moby!.reject!.code),
      ['device_rate', 'device_rate']
    );
  });

  it('is off with Device rate 0: a flood of one device all passes', async () => {
    await load(flow({ deviceRate: 0, deviceBurst: 1 }));
    const ok = collect('ok');
    const bad = collect('bad');
    const v = helper.getNode('v');
    for (let i = 0; i < 200; i++) v.receive({ payload: pump(), topic: 'devices/pump-7/telemetry' });
    await waitFor(() => ok.length === 200, 10000, 'all passed');
    assert.equal(bad.length, 0);
  });
});
