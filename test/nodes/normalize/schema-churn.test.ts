// moby-normalize's schema churn guard through the real Node-RED runtime: a signed device that invents a new
// tag value or new field names with every message gets `schema_churn` rejects, counted; its steady data and
// other devices pass; old flows without the settings get the guard with its defaults.
import assert from 'node:assert/strict';
import { waitFor } from '../../support/net';
import { collect, type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const CHURN_SERIES = 'moby_rejects_total{node_type="moby-normalize",code="schema_churn"}';
const value = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

function load(opts: Record<string, unknown>): Promise<void> {
  const flow = [
    { id: 'n', type: 'moby-normalize', tagKeys: 'equipment_id,location', wires: [['ok'], ['bad']], ...opts },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ];
  return new Promise((resolve) => helper.load([normalizeNode], flow, resolve));
}

/** A message as hmac-verify hands it on: the authenticated device in msg.moby. */
function signed(device: string, body: Record<string, unknown>): Msg {
  return { payload: JSON.stringify({ device_id: device, ...body }), moby: { device_id: device } };
}

describe('moby-normalize: schema churn guard', function () {
  this.timeout(60_000);
  afterEach(async () => {
    await helper.unload();
  });

  it('rejects a churning device as schema_churn (device, tag, field named; counted; warned once) while its steady data and other devices pass', async () => {
    const before = value(await metricsText(), CHURN_SERIES);
    await load({ churnTagBurst: 5, churnFieldBurst: 600 });
    const ok = collect('ok');
    const bad = collect('bad');
    const n = helper.getNode('n');
    const warnings: string[] = [];
    n.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
    const sent: Msg[] = [];
    for (let i = 0; i < 40; i++) {
      // a new location every message (a new series each) ...
      sent.push(signed('evil-1', { location: `loc-${i}`, temperature: 20 }));
      // ... 20 new field names every message
      const fields: Record<string, number> = {};
      for (let f = 0; f < 20; f++) fields[`f_${i}_${f}`] = f;
      sent.push(signed('evil-2', { location: 'hall', ...fields }));
      // its steady data, and another device's
      sent.push(signed('evil-1', { location: 'loc-0', temperature: 21 }));
      sent.push(signed('good', { location: 'hall', temperature: 22, humidity: 40 }));
    }
    for (const m of sent) n.receive(m);
    await waitFor(() => ok.length + bad.length >= sent.length, 10_000, 'every message out');

    const byDevice = (list: Msg[], d: string) => list.filter((m) => m.moby?.device_id === d);
    assert.equal(byDevice(ok, 'good').length, 40, 'the other device is untouched');
    assert.equal(byDevice(bad, 'good').length, 0);
    // evil-1: 5 tag sets pass (loc-0 is the first), the 35 new ones after are refused; loc-0 keeps passing
    const evil1Bad = byDevice(bad, 'evil-1');
    assert.equal(evil1Bad.length, 35);
    assert.equal(byDevice(ok, 'evil-1').length, 45);
    const r1 = evil1Bad[0].moby!.reject!;
    assert.equal(r1.code, 'schema_churn');
    assert.equal(r1.device_id, 'evil-1');
    assert.equal(r1.field, 'location');
    assert.match(r1.reason, /device "evil-1" sends new tag location="loc-5"/);
    assert.match(evil1Bad[0].payload, /loc-5/, 'the original payload is left for inspection');
    // evil-2: 600 names = 30 messages of 20, the other 10 refused
    const evil2Bad = byDevice(bad, 'evil-2');
    assert.equal(evil2Bad.length, 10);
    assert.equal(evil2Bad[0].moby!.reject!.field, 'f_30_0');
    assert.match(evil2Bad[0].moby!.reject!.reason, /new field "f_30_0" and 19 more/);

    assert.equal(value(await metricsText(), CHURN_SERIES) - before, 45, 'every refusal counted');
    assert.equal(warnings.filter((w) => w.startsWith('schema_churn')).length, 2, 'one warning per device episode');
    // what the guard holds, against its bounds: 3 devices; tag sets 5 + 1 + 1; name sets: evil-1's {temperature},
    // evil-2's 600 names, good's {temperature, humidity}
    const held = await metricsText();
    assert.equal(value(held, 'moby_normalize_schema_guard{kind="devices"}'), 3);
    assert.equal(value(held, 'moby_normalize_schema_guard{kind="entries"}'), 5 + 1 + 1 + 1 + 600 + 2);
    assert.equal(value(held, 'moby_normalize_schema_guard{kind="name_sets"}'), 3);
  });

  it('an old flow without the settings gets the guard with its defaults; unticked it is off', async () => {
    const many = (device: string) =>
      Array.from({ length: 30 }, (_, i) => signed(device, { location: `loc-${i}`, temperature: 1 }));
    await load({});
    let ok = collect('ok');
    let bad = collect('bad');
    for (const m of many('d')) helper.getNode('n').receive(m);
    await waitFor(() => ok.length + bad.length >= 30, 10_000, 'every message out');
    assert.equal(ok.length, 20, 'default burst: 20 new tag sets');
    assert.deepEqual(new Set(bad.map((m) => m.moby!.reject!.code)), new Set(['schema_churn']));
    await helper.unload();

    await load({ churnGuard: false });
    ok = collect('ok');
    bad = collect('bad');
    for (const m of many('d')) helper.getNode('n').receive(m);
    await waitFor(() => ok.length + bad.length >= 30, 10_000, 'every message out');
    assert.equal(ok.length, 30);
  });
});
