// moby-anomaly with method "onnx" through the real Node-RED runtime (compiled node from dist/): bundles
// written by moby-train's pipeline, warm-up, results with model info, power buckets, msg.rul from a
// regression bundle, rejects, and reload on msg.topic "sync" with a broken bundle refused.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { useFileContextStore } from '../../support/context-store';
import {
  FEATURES,
  fieldsOf,
  normalRows,
  tinyCmapssFile,
  tinyRulBundle,
  tmpRoot,
  toCsv,
  writeMeanBundle,
} from '../../support/anomaly-onnx-fixtures';
import { trainBundle } from '../../../nodes/core/anomaly/train/train';
import { parseCmapss } from '../../../nodes/core/anomaly/train/cmapss';
import { predictLastCycle, trainRulCnn } from '../../../nodes/core/anomaly/train/rul-cnn';
import { collect, type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const anomalyNode = require('../../../dist/nodes/anomaly/moby-anomaly.js');

helper.init(require.resolve('node-red'));

function load(flow: unknown[]): Promise<void> {
  return new Promise((resolve) => helper.load(anomalyNode, flow, resolve));
}

function flow(opts: Record<string, unknown>) {
  return [
    { id: 'a', type: 'moby-anomaly', name: 'onnx', method: 'onnx', batchWaitMs: 1, wires: [['ok'], ['bad']], ...opts },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ];
}

function point(equipment: string, fields: Record<string, number>, device = `${equipment}-dev`) {
  return {
    payload: {
      measurement: 'telemetry',
      tags: { device_id: device, equipment_id: equipment },
      fields,
      timestamp: Date.now(),
    },
  };
}

/** What node `n` says through `method` (a warning, a log line, a status text), recorded as it goes on saying it. */
function record(n: unknown, method: 'warn' | 'log' | 'status'): string[] {
  const node = n as Record<string, (m: unknown) => void>;
  const said: string[] = [];
  const original = node[method].bind(node);
  node[method] = (m: unknown) => {
    said.push(method === 'status' ? ((m as { text?: string }).text ?? '') : String(m));
    original(m);
  };
  return said;
}

/** One engine's rows of a C-MAPSS-format file (unit, cycle, 3 settings, 21 sensors), as numbers. */
function engineRows(text: string, unit: number): number[][] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number))
    .filter((r) => r[0] === unit);
}

/** The 21 sensors and the engine's age: moby-train's C-MAPSS bundle reads the cycle number as feature "cycle". */
/** Two RUL values equal within float32 inference (the node's onnxruntime against the float64 reference). */
function near(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) < 1e-4, `${what}: ${a} vs ${b}`);
}

function engineFields(r: number[]): Record<string, number> {
  return { ...Object.fromEntries(Array.from({ length: 21 }, (_, j) => [`s${j + 1}`, r[5 + j]])), cycle: r[1] };
}

describe('moby-anomaly method onnx (Node-RED runtime)', function () {
  this.timeout(60000);
  let work: string;
  let root: string;
  let cmapss: string;

  before(async () => {
    work = tmpRoot('moby-onnx-node-');
    root = path.join(work, 'bundles');
    const csv = path.join(work, 'normal.csv');
    const rows = normalRows(240, 31);
    fs.writeFileSync(
      csv,
      toCsv(
        ['datetime', ...FEATURES, 'rul', 'anomaly'],
        rows.map((r, i) => [`t${i}`, ...r, 1000 - 2 * i, 0])
      )
    );
    await trainBundle({
      method: 'autoencoder',
      csv,
      features: FEATURES,
      out: path.join(root, 'press', 'normal', 'v1'),
      window: 5,
      epochs: 20,
      hidden: 8,
      bottleneck: 2,
      learningRate: 3e-3,
    });
    await trainBundle({
      method: 'rul',
      csv,
      features: FEATURES,
      target: 'rul',
      unit: 'h',
      threshold: 100,
      out: path.join(root, 'pump', 'normal', 'v1'),
      window: 3,
    });
    // tiny versions of the two window CNNs moby-train writes: conv autoencoder and C-MAPSS RUL
    await trainBundle({
      method: 'conv-autoencoder',
      csv,
      features: FEATURES,
      out: path.join(root, 'valve', 'normal', 'v1'),
      window: 8,
      epochs: 15,
      persistence: 3,
    });
    cmapss = tinyCmapssFile(work);
    // each prediction alone: the averaged bundle below is checked against it. These two are bundles without an
    // own baseline (served as before it became the default); the one with it is engine-base below
    await tinyRulBundle(cmapss, path.join(root, 'engine', 'normal', 'v1'), { rulAverage: 1, baselineCycles: 0 });
    // the same (deterministic) training with the node averaging each device's last 3 predictions
    await tinyRulBundle(cmapss, path.join(root, 'engine-avg', 'normal', 'v1'), { rulAverage: 3, baselineCycles: 0 });
    // moby-train's defaults: the engine's own baseline (B = 20) as the graph's second input, averaged over 3
    await tinyRulBundle(cmapss, path.join(root, 'engine-base', 'normal', 'v1'));
    // the same bundle with a lift in its meta.json (moby-train --lift on fits one on the training engines; set
    // here so the test knows which values it moves)
    fs.cpSync(path.join(root, 'engine-base', 'normal', 'v1'), path.join(root, 'engine-lift', 'normal', 'v1'), {
      recursive: true,
    });
    const liftMeta = path.join(root, 'engine-lift', 'normal', 'v1', 'meta.json');
    fs.writeFileSync(
      liftMeta,
      JSON.stringify({
        ...JSON.parse(fs.readFileSync(liftMeta, 'utf8')),
        equipment_id: 'engine-lift',
        rul_lift: { from: 20, slope: 1.5 },
      })
    );
  });

  afterEach(async () => {
    await helper.unload();
  });

  /** The flow loaded with every bundle, its outputs collected, and engine 4 of the tiny C-MAPSS file. */
  async function engineFour() {
    await load(flow({ bundleRoot: root }));
    const ok = collect('ok');
    const n = helper.getNode('a');
    const text = fs.readFileSync(cmapss, 'utf8');
    const engine = parseCmapss(text, 'train_FD.txt').find((e) => e.unit === 4)!;
    /** the RUL outputs of one device, in order */
    const rulOf = (dev: string) => ok.filter((m) => m.rul && m.payload.tags.device_id === dev).map((m) => m.rul!);
    return { ok, n, text, engine, rows: engineRows(text, 4), rulOf };
  }

  it('warms up, then scores windows with the autoencoder bundle and flags a broken correlation', async () => {
    await load(flow({ bundleRoot: root }));
    const ok = collect('ok');
    const bad = collect('bad');
    const n = helper.getNode('a');
    const rows = normalRows(20, 32);
    for (const r of rows.slice(0, 8)) n.receive(point('press', fieldsOf(r)));
    await waitFor(() => ok.length === 8, 10000, '8 outputs');
    assert.deepEqual(
      ok.slice(0, 4).map((m) => m.anomaly!.warmup),
      [1, 2, 3, 4].map((have) => ({ have, need: 5 }))
    );
    const scored = ok.slice(4);
    for (const m of scored) {
      assert.equal(m.anomaly!.method, 'onnx');
      assert.deepEqual(m.anomaly!.model, {
        equipment_id: 'press',
        power: 'normal',
        version: 'v1',
        kind: 'reconstruction',
      });
      assert.deepEqual(Object.keys(m.anomaly!.contributions).sort(), [...FEATURES].sort());
    }
    // temp far from what vib predicts, five steps in a row: the window's error exceeds the threshold
    for (let i = 0; i < 5; i++) n.receive(point('press', { vib: 1, temp: 90, current: 10 }));
    await waitFor(() => ok.length === 13, 10000, '13 outputs');
    const last = ok[12].anomaly!;
    assert.equal(last.is_anomaly, true, JSON.stringify(last));
    assert.ok(last.contributions.temp > 0.5, `temp dominates: ${JSON.stringify(last.contributions)}`);
    assert.equal(bad.length, 0);
  });

  it('sets msg.rul from a regression bundle and rejects unknown equipment and missing features', async () => {
    await load(flow({ bundleRoot: root }));
    const ok = collect('ok');
    const bad = collect('bad');
    const n = helper.getNode('a');
    for (const r of normalRows(3, 33)) n.receive(point('pump', fieldsOf(r)));
    n.receive(point('lathe', fieldsOf([1, 2, 3])));
    n.receive(point('pump', { vib: 1, temp: 60 }));
    await waitFor(() => ok.length === 3 && bad.length === 2, 10000, 'outputs');
    const m = ok[2];
    assert.equal(m.rul!.unit, 'h');
    assert.ok(Number.isFinite(m.rul!.value) && m.rul!.value > 100, `rul ${m.rul!.value}`);
    assert.equal(m.anomaly!.model!.kind, 'rul');
    assert.equal(m.anomaly!.is_anomaly, false);
    const codes = bad.map((b) => b.moby!.reject!.code).sort();
    assert.deepEqual(codes, ['missing_feature', 'no_model']);
  });

  it('a sensor without usable values for 30 points in a row raises the missing-sensor alarm for the alert node, named in each reject; the next scored point clears it (before: rejects only)', async () => {
    await load([...flow({ bundleRoot: root, wires: [['ok'], ['bad'], ['views']] }), { id: 'views', type: 'helper' }]);
    const ok = collect('ok');
    const bad = collect('bad');
    const views = collect('views');
    const n = helper.getNode('a');
    const rows = normalRows(40, 35);
    for (const r of rows.slice(0, 8)) n.receive(point('press', fieldsOf(r)));
    await waitFor(() => ok.length === 8, 10000, 'warmed up and scored');
    const viewsBefore = views.length;
    // temp absent, then null (JSON's NaN): 30 rejected points of one device
    for (let i = 0; i < 30; i++) {
      const f: Record<string, unknown> = { ...fieldsOf(rows[8 + i]) };
      if (i < 15) delete f.temp;
      else f.temp = null;
      n.receive(point('press', f as Record<string, number>));
      if (i === 28) {
        await waitFor(() => bad.length === 29, 10000, '29 rejects');
        assert.equal(views.length, viewsBefore, 'no alarm before the 30th');
      }
    }
    await waitFor(() => views.length > viewsBefore, 10000, 'the alarm');
    assert.equal(bad.length, 30, 'every gap point is still rejected');
    assert.deepEqual(
      [...new Set(bad.map((b) => `${b.moby!.reject!.code}:${b.moby!.reject!.field}`))],
      ['missing_feature:temp']
    );
    const alarm = views[viewsBefore].anomaly!;
    assert.equal(alarm.alarm, true);
    assert.equal(alarm.method, 'onnx');
    assert.deepEqual(alarm.incident, {
      reason: 'missing',
      severity: 'warning',
      points: 30,
      opened: true,
      feature: 'temp',
    });
    // the sensor is back: a scored point that is no anomaly, which the alert node counts toward resolving
    n.receive(point('press', fieldsOf(rows[39])));
    await waitFor(() => ok.length === 9 && views.length > viewsBefore + 1, 10000, 'the next scored point');
    assert.equal(views[views.length - 1].anomaly!.alarm, undefined);
    assert.equal(views[views.length - 1].anomaly!.is_anomaly, false);
  });

  it('serves a conv-autoencoder bundle: normal windows pass, a lasting broken correlation alarms after the persistence median', async () => {
    await load(flow({ bundleRoot: root }));
    const ok = collect('ok');
    const n = helper.getNode('a');
    for (const r of normalRows(16, 34)) n.receive(point('valve', fieldsOf(r)));
    await waitFor(() => ok.length === 16, 10000, '16 outputs');
    assert.equal(ok[6].anomaly!.warming, true);
    const scored = ok.slice(7);
    assert.ok(
      scored.every((m) => m.anomaly!.model!.kind === 'reconstruction' && !m.anomaly!.is_anomaly),
      JSON.stringify(scored.map((m) => m.anomaly!.score))
    );
    for (let i = 0; i < 6; i++) n.receive(point('valve', { vib: 1, temp: 90, current: 10 }));
    await waitFor(() => ok.length === 22, 10000, '22 outputs');
    assert.equal(ok[21].anomaly!.is_anomaly, true, JSON.stringify(ok[21].anomaly));
  });

  it('serves the C-MAPSS RUL CNN: msg.rul in cycles, lower late in an engine life, alarm below the threshold', async () => {
    await load(flow({ bundleRoot: root }));
    const ok = collect('ok');
    const n = helper.getNode('a');
    // engine 4 of the training file (90 cycles): its first 20 cycles, then its last 10 on another device
    const rows = engineRows(fs.readFileSync(cmapss, 'utf8'), 4);
    for (const r of rows.slice(0, 20)) n.receive(point('engine', engineFields(r), 'early'));
    for (const r of rows.slice(-10)) n.receive(point('engine', engineFields(r), 'late'));
    await waitFor(() => ok.length === 30, 10000, '30 outputs');
    const early = ok.filter((m) => m.rul && m.payload.tags.device_id === 'early');
    const late = ok.filter((m) => m.rul && m.payload.tags.device_id === 'late');
    assert.deepEqual([early.length, late.length], [11, 1]);
    assert.equal(late[0].rul!.unit, 'cycles');
    assert.ok(
      early[early.length - 1].rul!.value > 25 && late[0].rul!.value < 12,
      `early ${early[early.length - 1].rul!.value}, late ${late[0].rul!.value}`
    );
    assert.equal(early[early.length - 1].anomaly!.is_anomaly, false);
    assert.equal(late[0].anomaly!.is_anomaly, late[0].rul!.value < 10);
    // the age comes from the device: a point without it is refused, not scored as some default age
    const bad = collect('bad');
    const { cycle: _age, ...noAge } = engineFields(rows[30]);
    n.receive(point('engine', noAge, 'late'));
    await waitFor(() => bad.length === 1, 10000, 'reject');
    assert.equal(bad[0].moby!.reject!.code, 'missing_feature');
    assert.match(bad[0].moby!.reject!.reason, /feature "cycle" required by model/);
  });

  it('serves the averaged RUL of a bundle with rul_average: what eval:cmapss scores, restarted when the cycle goes back', async () => {
    const { ok, n, text, engine, rows, rulOf } = await engineFour();
    // cycles 1–20, then the engine again from cycle 1 (a new series on the same device; the window keeps its
    // rows, so all 10 are scored): 11 + 10 scored
    const sent = [...rows.slice(0, 20), ...rows.slice(0, 10)];
    for (const r of sent) n.receive(point('engine', engineFields(r), 'plain'));
    for (const r of sent) n.receive(point('engine-avg', engineFields(r), 'avg'));
    await waitFor(() => ok.length === 60, 20000, '60 outputs');
    const plain = rulOf('plain');
    const avg = rulOf('avg');
    assert.deepEqual([plain.length, avg.length], [21, 21]);
    // the same model: each point's own prediction is the plain bundle's RUL; the reported one their mean over
    // the last 3 cycles, each aged by the cycles since
    avg.forEach((r, i) => near(r.raw_value!, plain[i].value, `raw ${i}`));
    near(avg[0].value, plain[0].value, 'first');
    near(avg[1].value, (plain[0].value - 1 + plain[1].value) / 2, 'second');
    for (let i = 2; i < 11; i++)
      near(avg[i].value, (plain[i - 2].value - 2 + plain[i - 1].value - 1 + plain[i].value) / 3, `cycle ${i + 10}`);
    // cycle 1 after cycle 20: the history restarts, then averages again
    near(avg[11].value, plain[11].value, 'restart');
    near(avg[12].value, (plain[11].value - 1 + plain[12].value) / 2, 'after the restart');
    near(avg[13].value, (plain[11].value - 2 + plain[12].value - 1 + plain[13].value) / 3, 'after the restart');
    // eval:cmapss scores the same: the engine cut at cycle 20, predictions of its last 3 cycles averaged
    const b = trainRulCnn(parseCmapss(text, 'train_FD.txt'), { window: 10, epochs: 15, cap: 40, baselineCycles: 0 });
    const cut = { unit: 4, rows: engine.rows.slice(0, 20), cycles: engine.cycles.slice(0, 20) };
    near(predictLastCycle(b, [cut], 3, 10)[0], avg[10].value, 'eval:cmapss');
    near(predictLastCycle(b, [cut])[0], plain[10].value, 'eval:cmapss without averaging');
  });

  it("serves a bundle with the engine's own baseline (moby-train's default): no RUL before cycle 20, then what eval:cmapss scores for the same cut; a device first seen mid-life is refused no_baseline", async () => {
    const { ok, n, text, engine, rows } = await engineFour();
    const bad = collect('bad');
    for (const r of rows.slice(0, 30)) n.receive(point('engine-base', engineFields(r), 'young'));
    n.receive(point('engine-base', engineFields(rows[40]), 'old'));
    await waitFor(() => ok.length === 30 && bad.length === 1, 20000, '30 outputs and a reject');
    const young = ok.filter((m) => m.payload.tags.device_id === 'young');
    // cycles 1–19 warm up (the window from 10 on, then the baseline), cycles 20–30 are scored
    assert.ok(young.slice(0, 19).every((m) => m.anomaly!.warming === true && !m.rul));
    const rul = young.slice(19).map((m) => m.rul!);
    assert.equal(rul.length, 11);
    // eval:cmapss's scorer on the engine cut at each of those cycles: the same model (deterministic training)
    const b = trainRulCnn(parseCmapss(text, 'train_FD.txt'), { window: 10, epochs: 15, cap: 40 });
    assert.deepEqual(b.baseline?.cycles, 20);
    rul.forEach((r, i) => {
      const keep = 20 + i;
      const cut = { unit: 4, rows: engine.rows.slice(0, keep), cycles: engine.cycles.slice(0, keep) };
      const want = predictLastCycle(b, [cut], 3, 10)[0];
      assert.ok(Math.abs(r.value - want) < 1e-4, `cycle ${keep}: node ${r.value}, eval:cmapss ${want}`);
    });
    assert.equal(bad[0].moby!.reject!.code, 'no_baseline');
    assert.match(bad[0].moby!.reject!.reason, /first 20 rows \(cycle ≤ 20\); it has 0 of them/);
  });

  it("serves a bundle with rul_lift: the averaged RUL lifted above `from`, raw_value the window's own prediction, as eval:cmapss scores it", async () => {
    const { ok, n, text, engine, rows, rulOf } = await engineFour();
    for (const r of rows.slice(0, 30)) {
      n.receive(point('engine-base', engineFields(r), 'base'));
      n.receive(point('engine-lift', engineFields(r), 'lift'));
    }
    await waitFor(() => ok.length === 60, 20000, '60 outputs');
    const base = rulOf('base');
    const lifted = rulOf('lift');
    assert.deepEqual([base.length, lifted.length], [11, 11]);
    let moved = 0;
    lifted.forEach((r, i) => {
      // the same net: the window's own prediction is unchanged, the reported value is the lifted average
      near(r.raw_value!, base[i].raw_value!, `raw ${i}`);
      const want = base[i].value > 20 ? 20 + 1.5 * (base[i].value - 20) : base[i].value;
      near(r.value, want, `lifted ${i}`);
      if (base[i].value > 20) moved++;
    });
    assert.ok(moved > 0, "some values lie above the lift's start");
    // eval:cmapss scores the same with the lift on the trained bundle
    const b = trainRulCnn(parseCmapss(text, 'train_FD.txt'), { window: 10, epochs: 15, cap: 40 });
    assert.equal(b.lift, undefined, 'no lift by default');
    b.lift = { from: 20, slope: 1.5 };
    lifted.forEach((r, i) => {
      const keep = 20 + i;
      const cut = { unit: 4, rows: engine.rows.slice(0, keep), cycles: engine.cycles.slice(0, keep) };
      near(predictLastCycle(b, [cut], 3, 10)[0], r.value, `eval:cmapss, cycle ${keep}`);
    });
  });

  it('chooses the power bucket from a field', async () => {
    const r2 = tmpRoot();
    writeMeanBundle(r2, 'eq', 'low', 'v1', 1);
    writeMeanBundle(r2, 'eq', 'high', 'v1', 2);
    await load(
      flow({
        bundleRoot: r2,
        powerField: 'current',
        powerBuckets: JSON.stringify([{ name: 'low', max: 5 }, { name: 'high' }]),
      })
    );
    const ok = collect('ok');
    const n = helper.getNode('a');
    n.receive(point('eq', { vib: 0, temp: 0, current: 3 }));
    await waitFor(() => ok.length === 1, 10000, 'first');
    n.receive(point('eq', { vib: 0, temp: 0, current: 9 }));
    await waitFor(() => ok.length === 2, 10000, 'second');
    assert.deepEqual(
      ok.map((m) => m.anomaly!.model!.power),
      ['low', 'high']
    );
  });

  it('the state budget reaches the scorer: a large-window bundle keeps fewer devices than max devices, said once per load', async () => {
    // 1,000 steps × 3 features: 12,000 bytes of window plus 512 counted per device, so 0.25 MiB holds 20
    const big = tmpRoot();
    await load(flow({ bundleRoot: big, maxDevices: 10000, maxStateMiB: 0.25 }));
    const n = helper.getNode('a');
    const logs = record(n, 'log');
    const statuses = record(n, 'status');
    // written after the node started, so the load that logs happens while the test listens
    writeMeanBundle(big, 'eq', 'p', 'v1', 1, 1000);
    n.receive({ topic: 'sync' });
    await waitFor(() => logs.some((l) => l.includes('state budget')), 10000, 'the budget log line');
    await waitFor(() => statuses.some((t) => /state budget: ≤ 20 devices/.test(t)), 10000, 'status after the load');
    const line = logs.filter((l) => l.includes('state budget'));
    assert.equal(line.length, 1, 'once for the load');
    assert.match(
      line[0],
      /bundle eq\/p\/v1 holds 12\.2 KiB per device.*\(256 KiB\) keeps at most 20 of its devices.*max devices \(10000\)/
    );
    const ok = collect('ok');
    for (let i = 0; i < 25; i++) n.receive(point('eq', { vib: 1, temp: 1, current: 1 }, `dev-${i}`));
    await waitFor(() => ok.length === 25, 10000, 'every point answered (warming)');
    assert.ok(
      ok.every((m) => m.anomaly!.warming),
      'all warming'
    );
    // 25 devices into room for 20: the five least recently scored went, counted as evictions
    await waitFor(() => statuses.some((t) => /, 5 evicted/.test(t)), 10000, 'evictions in the status');
    // the first device was evicted: it starts its window again; the last kept its step
    n.receive(point('eq', { vib: 1, temp: 1, current: 1 }, 'dev-0'));
    n.receive(point('eq', { vib: 1, temp: 1, current: 1 }, 'dev-24'));
    await waitFor(() => ok.length === 27, 10000, 'two more answers');
    assert.deepEqual(
      ok.slice(25).map((m) => (m.anomaly!.warmup as { have: number }).have),
      [1, 2]
    );
  });

  it('without a bundle root every message is rejected with the configuration error', async () => {
    await load(flow({ bundleRoot: '' }));
    const bad = collect('bad');
    helper.getNode('a').receive(point('eq', { vib: 1, temp: 1, current: 1 }));
    await waitFor(() => bad.length === 1, 10000, 'reject');
    assert.equal(bad[0].moby!.reject!.code, 'no_model');
    assert.match(bad[0].moby!.reject!.reason, /bundle root is not set/);
  });

  it('msg.topic "sync" loads a new version; a broken one is refused with a warning and the old keeps serving', async () => {
    const r3 = tmpRoot();
    writeMeanBundle(r3, 'eq', 'p', 'v1', 1);
    await load(flow({ bundleRoot: r3 }));
    const ok = collect('ok');
    const n = helper.getNode('a');
    const warnings = record(n, 'warn');
    const scoreOnce = async (): Promise<Msg> => {
      const before = ok.length;
      n.receive(point('eq', { vib: 1, temp: 1, current: 1 }));
      await waitFor(() => ok.length > before, 10000, 'a result');
      return ok[ok.length - 1];
    };
    assert.equal((await scoreOnce()).anomaly!.model!.version, 'v1');

    writeMeanBundle(r3, 'eq', 'p', 'v2', 2);
    n.receive({ topic: 'sync' });
    await waitFor(async () => (await scoreOnce()).anomaly!.model!.version === 'v2', 10000, 'v2 to serve');
    assert.equal(ok[ok.length - 1].anomaly!.score, 2);

    fs.writeFileSync(path.join(r3, 'eq', 'p', 'v2', 'meta.json'), '{"schema_version": 1, "kind": "score"');
    n.receive({ topic: 'sync' });
    await waitFor(() => warnings.some((w) => w.includes('refused')), 10000, 'refusal warning');
    assert.match(
      warnings.find((w) => w.includes('refused'))!,
      /v2 refused: .*meta\.json: not valid JSON.*previously loaded version keeps serving/
    );
    const after = await scoreOnce();
    assert.deepEqual([after.anomaly!.model!.version, after.anomaly!.score], ['v2', 2]);
  });

  it('with Watch, a bundle the watcher refuses is warned about once and shown in the status, and the old keeps serving (keyed-device red team 2026-12-07: silent until the next restart)', async () => {
    const r5 = tmpRoot();
    writeMeanBundle(r5, 'eq', 'p', 'v1', 1);
    await load(flow({ bundleRoot: r5, watch: true }));
    const ok = collect('ok');
    const n = helper.getNode('a');
    const warnings = record(n, 'warn');
    const statuses = record(n, 'status');
    // a version dropped in with a truncated model and no sync: the watcher's scan alone must say it
    writeMeanBundle(r5, 'eq', 'p', 'v2', 2);
    const model = path.join(r5, 'eq', 'p', 'v2', 'model.onnx');
    fs.writeFileSync(model, fs.readFileSync(model).subarray(0, 20));
    await waitFor(() => warnings.some((w) => w.includes('refused')), 10000, 'refusal warning');
    assert.match(
      warnings.find((w) => w.includes('refused'))!,
      /eq[\\/]p[\\/]v2 refused/
    );
    await waitFor(() => statuses.some((t) => /1 model\(s\), 1 refused/.test(t)), 5000, 'status');
    // said once while it lasts, though every later scan refuses it again
    writeMeanBundle(r5, 'other', 'p', 'v1', 3);
    await waitFor(() => statuses.some((t) => /2 model\(s\), 1 refused/.test(t)), 10000, 'a later scan');
    assert.equal(warnings.filter((w) => w.includes('refused')).length, 1);
    const before = ok.length;
    n.receive(point('eq', { vib: 1, temp: 1, current: 1 }));
    await waitFor(() => ok.length > before, 10000, 'a result');
    assert.equal(ok[ok.length - 1].anomaly!.model!.version, 'v1');
  });

  describe('device state across a restart (localfilesystem context store)', () => {
    const store = useFileContextStore(helper, 'moby-anomaly-onnx-ctx-', 0.1);
    let r4: string;
    before(() => {
      // score = mean of the standardised window (3 steps), alarm above 1; each device's centre follows slow
      // drift fast (center_drift 0.3), so a drifted device is far from the training mean
      r4 = tmpRoot();
      const bdir = writeMeanBundle(r4, 'eq', 'p', 'v1', 1, 3);
      const meta = JSON.parse(fs.readFileSync(path.join(bdir, 'meta.json'), 'utf8'));
      Object.assign(meta, { scaler: { mean: [0, 0, 0], std: [1, 1, 1] }, center_drift: 0.3, persistence: 3 });
      fs.writeFileSync(path.join(bdir, 'meta.json'), JSON.stringify(meta));
    });

    /** The context file holding the onnx device states, once one reached the disk. */
    const storedFile = (): string | undefined =>
      store.files().find((f) => fs.readFileSync(f, 'utf8').includes('anomaly_onnx_state'));

    it('a device whose centre drifted is not an alarm after a restart, and is scored at once (no refill wait)', async () => {
      await load(flow({ bundleRoot: r4, persistSeconds: 0.2 }));
      // the test helper initialises but does not open context stores: restart the flows on the configured store
      await store.startFlowsOnStore();
      let ok = collect('ok');
      let n = helper.getNode('a');
      const value = (i: number) => ({ vib: 0.05 * i, temp: 0.05 * i + 0.1, current: 0.05 * i - 0.1 });
      const one = async (i: number): Promise<Msg> => {
        const before = ok.length;
        n.receive(point('eq', value(i), 'drifter'));
        await waitFor(() => ok.length > before, 10000, `output for point ${i}`);
        return ok[ok.length - 1];
      };
      // slow drift from 0 to 5 (the training mean is 0): the centre follows, every scored point is normal
      for (let i = 0; i <= 100; i++) {
        const m = await one(i);
        if (i >= 2) assert.equal(m.anomaly!.is_anomaly, false, `point ${i}: ${JSON.stringify(m.anomaly)}`);
      }
      // the periodic save wrote the device's state (not only the save on close)
      await waitFor(() => storedFile(), 5000, 'device state saved periodically');

      // a fresh store instance reads only what reached the disk
      await store.restartFlows();
      ok = collect('ok');
      const bad = collect('bad');
      n = helper.getNode('a');
      const first = await one(101);
      assert.equal(first.anomaly!.warming, undefined, `scored at once: ${JSON.stringify(first.anomaly)}`);
      assert.equal(first.anomaly!.is_anomaly, false, `not an alarm: ${JSON.stringify(first.anomaly)}`);
      for (let i = 102; i < 108; i++) assert.equal((await one(i)).anomaly!.is_anomaly, false, `point ${i}`);
      assert.equal(bad.length, 0);

      // export sends the scorer's device states; reset forgets the device (it warms up again)
      const exported: Msg[] = [];
      n.receive({ topic: 'export' });
      await waitFor(() => ok.some((m) => m.topic === 'anomaly-state'), 5000, 'export');
      exported.push(ok.find((m) => m.topic === 'anomaly-state')!);
      const docOut = exported[0].payload as { format: string; devices: Record<string, { center: number[] }> };
      assert.equal(docOut.format, 'moby-onnx-state');
      assert.ok(docOut.devices.drifter.center[0] > 4, JSON.stringify(docOut.devices.drifter.center));
      n.receive({ topic: 'reset', payload: { device_id: 'drifter' } });
      assert.equal((await one(108)).anomaly!.warming, true);
      // load takes the exported document back: the device scores at once again
      n.receive({ topic: 'load', payload: docOut });
      await waitFor(async () => (await one(109)).anomaly!.warming === undefined, 5000, 'loaded state scores');
    });

    it('a RUL bundle averaging over 3 cycles goes on averaging after a restart (no un-averaged jump)', async () => {
      await load(flow({ bundleRoot: root, persistSeconds: 0.2 }));
      await store.startFlowsOnStore();
      const rows = engineRows(fs.readFileSync(cmapss, 'utf8'), 4);
      let ok = collect('ok');
      let n = helper.getNode('a');
      const one = async (i: number): Promise<Msg> => {
        const before = ok.length;
        n.receive(point('engine-avg', engineFields(rows[i]), 'averaged'));
        await waitFor(() => ok.length > before, 10000, `output for cycle ${i + 1}`);
        return ok[ok.length - 1];
      };
      // cycles 1–14: scored from cycle 10 (window 10)
      const raw: number[] = [];
      for (let i = 0; i < 14; i++) {
        const m = await one(i);
        if (m.rul) raw[i] = m.rul.raw_value!;
      }
      assert.equal(raw.filter(Number.isFinite).length, 5);

      await store.restartFlows();
      ok = collect('ok');
      const bad = collect('bad');
      n = helper.getNode('a');
      // cycle 15, the first after the restart: the mean of cycles 13, 14 and 15's predictions, each aged
      const r15 = (await one(14)).rul!;
      near(r15.value, (raw[12] - 2 + raw[13] - 1 + r15.raw_value!) / 3, 'cycle 15');
      const r16 = (await one(15)).rul!;
      near(r16.value, (raw[13] - 2 + r15.raw_value! - 1 + r16.raw_value!) / 3, 'cycle 16');
      assert.equal(bad.length, 0);
    });
  });
});
