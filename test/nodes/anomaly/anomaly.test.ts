// moby-anomaly through the real Node-RED runtime (compiled node from dist/): every statistical method,
// calibration, rejects, smoothing, severity, export/load of fitted state and persistence across a restart.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { useFileContextStore } from '../../support/context-store';
import { gaussianFields } from '../../support/anomaly-data';
import { collect, warnings, type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const anomalyNode = require('../../../dist/nodes/anomaly/moby-anomaly.js');

helper.init(require.resolve('node-red'));

function load(flow: unknown[]): Promise<void> {
  return new Promise((resolve) => helper.load(anomalyNode, flow, resolve));
}

function flow(opts: Record<string, unknown> = {}, id = 'a') {
  return [
    {
      id,
      type: 'moby-anomaly',
      name: 'anomaly',
      method: 'pca',
      trainSize: 100,
      wires: [[`${id}-ok`], [`${id}-bad`]],
      ...opts,
    },
    { id: `${id}-ok`, type: 'helper' },
    { id: `${id}-bad`, type: 'helper' },
  ];
}

function point(fields: Record<string, unknown>, device = 'pump-1', extraTags: Record<string, string> = {}) {
  return {
    payload: { measurement: 'telemetry', tags: { device_id: device, ...extraTags }, fields, timestamp: Date.now() },
  };
}

/** Sends points and waits until `count` messages arrived on the two outputs together. */
/** The first `n` training rows as points of one device. */
const rowsOf = (device: string, n: number) => TRAIN.slice(0, n).map((f) => point(f, device));
/** Each row of fields as a point of pump-1. */
const points = (rows: Array<Record<string, unknown>>) => rows.map((f) => point(f));

async function feed(id: string, msgs: Array<Record<string, unknown>>, ok: Msg[], bad: Msg[]): Promise<void> {
  const before = ok.length + bad.length;
  const n = helper.getNode(id);
  for (const m of msgs) n.receive(m);
  await waitFor(() => ok.length + bad.length >= before + msgs.length, 5000, `${msgs.length} outputs`);
}

const TRAIN = gaussianFields(100, 4, 11);
const NORMAL = gaussianFields(40, 4, 12);
/** f1 ≈ 2·f0 in training: break that correlation hard */
const broken = (i: number) => ({ ...NORMAL[i], f1: NORMAL[i].f1 + 12 });

/** A pca node with its output 3 ("for alerts") wired, calibrated on TRAIN; its three outputs' messages. */
async function calibratedWithAlerts(): Promise<{ ok: Msg[]; bad: Msg[]; views: Msg[] }> {
  await load([
    { id: 'a', type: 'moby-anomaly', method: 'pca', trainSize: 100, wires: [['a-ok'], ['a-bad'], ['a-alert']] },
    { id: 'a-ok', type: 'helper' },
    { id: 'a-bad', type: 'helper' },
    { id: 'a-alert', type: 'helper' },
  ]);
  const ok = collect('a-ok');
  const bad = collect('a-bad');
  const views = collect('a-alert');
  await feed('a', points(TRAIN), ok, bad);
  return { ok, bad, views };
}

describe('moby-anomaly node', function () {
  this.timeout(20000);
  afterEach(async () => {
    await helper.unload();
  });

  for (const method of ['pca', 'l2', 'ewma'] as const) {
    it(`${method}: calibrates per device, then separates normal from anomalous points and names the sensors`, async () => {
      await load(flow({ method }));
      const ok = collect('a-ok');
      const bad = collect('a-bad');
      await feed('a', points(TRAIN), ok, bad);
      assert.equal(bad.length, 0);
      assert.equal(
        ok.filter((m) => m.anomaly?.warming).length,
        99,
        'all but the last calibration point pass as warming'
      );
      assert.deepEqual(ok[0].anomaly!.warmup, { have: 1, need: 100 });
      assert.equal(ok[0].anomaly!.is_anomaly, false);

      await feed('a', points(NORMAL.slice(0, 20)), ok, bad);
      const normal = ok.slice(-20);
      assert.ok(normal.every((m) => !m.anomaly!.warming && m.anomaly!.method === method));
      assert.ok(normal.filter((m) => m.anomaly!.is_anomaly).length <= 2, 'normal points are (almost) never flagged');

      // defaults average the inputs (3 or 10 points) and take the median over 15 scores: one anomalous point
      // alone is smoothed away, a sustained fault is flagged within about 8 + window points
      await feed(
        'a',
        Array.from({ length: 20 }, (_, i) => point(broken(i))),
        ok,
        bad
      );
      assert.equal(ok[ok.length - 20].anomaly!.is_anomaly, false, 'one anomalous point alone is smoothed away');
      const last = ok[ok.length - 1].anomaly!;
      assert.equal(last.is_anomaly, true);
      assert.notEqual(last.severity, 'normal');
      assert.ok(last.score > last.threshold);
      const top = Object.entries(last.contributions).sort((a, b) => b[1] - a[1])[0][0];
      assert.ok(top === 'f1' || top === 'f0', `top contributor ${top}`);
      const sum = Object.values(last.contributions).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - 1) < 0.01, 'contributions are shares');

      // another device has its own state: it starts calibrating
      await feed('a', [point(NORMAL[0], 'pump-2')], ok, bad);
      assert.equal(ok[ok.length - 1].anomaly!.warming, true);
    });
  }

  it('a device back from a silence settles: no alarm while it reads far off for restartGrace seconds of its own time (before: an alarm at once)', async () => {
    const run = async (extra: Record<string, unknown>) => {
      await load(flow({ alarmPoints: 3, alarmWindow: 10, ...extra }));
      const ok = collect('a-ok');
      const bad = collect('a-bad');
      let t = Date.UTC(2026, 11, 6);
      const at = (fields: Record<string, unknown>, dt = 1000) => {
        const m = point(fields);
        m.payload.timestamp = t += dt;
        return m;
      };
      await feed('a', [...TRAIN.map((f) => at(f)), ...NORMAL.slice(0, 20).map((f) => at(f))], ok, bad);
      // off for 10 minutes, then 20 points far off (a machine starting cold)
      const back = [at(broken(0), 600_000), ...Array.from({ length: 19 }, (_, i) => at(broken(i + 1)))];
      await feed('a', back, ok, bad);
      await helper.unload();
      return ok.slice(-20).map((m) => m.anomaly!);
    };
    const settled = await run({});
    assert.ok(
      settled.every((a) => a.settling === true && a.alarm === false),
      JSON.stringify(settled.at(-1))
    );
    assert.ok(settled.at(-1)!.is_anomaly, 'still scored: the points are anomalous');
    const off = await run({ restartGrace: 0 });
    assert.ok(off.some((a) => a.alarm === true) && off.every((a) => a.settling === undefined));
  });

  it('a setting out of its range or an unknown method is warned about, with the value used instead (before: silently the default)', async () => {
    await load(flow({ method: 'bogus', trainSize: 5, alpha: 5, smoothing: 'x', limitScale: '' }));
    const warned = warnings();
    assert.ok(
      warned.some((w: string) => /method "bogus" is not one of .*: using pca/.test(w)),
      warned.join('\n')
    );
    assert.ok(warned.some((w: string) => /setting trainSize 5 is not a number from 10 to 100000: using 900/.test(w)));
    assert.ok(warned.some((w: string) => /setting alpha 5 is not a number from 0.0001 to 0.5: using 0.003/.test(w)));
    assert.ok(warned.some((w: string) => /setting smoothing "x"/.test(w)));
    assert.ok(!warned.some((w: string) => /limitScale/.test(w)), 'an empty setting is the default, no warning');
  });

  it('numbers sent as text in a first point are said once (before: never scored, without a word)', async () => {
    await load(flow());
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed('a', [point({ a: '1.5', b: 2 }), point({ a: '2.5', b: 3 }, 'pump-2')], ok, bad);
    const said = warnings().filter((w) => /hold numbers as text/.test(w));
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0], /^pump-1: field\(s\) a hold numbers as text in its first point and are not scored/);
  });

  it('threshold: warning and critical severities from per-field limits, no calibration', async () => {
    const limits = { temp: { lowWarning: 10, highWarning: 80, highCritical: 90 }, vib: { highCritical: 2 } };
    await load(flow({ method: 'threshold', limits: JSON.stringify(limits), smoothing: 1 }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed(
      'a',
      [
        point({ temp: 50, vib: 1 }),
        point({ temp: 85, vib: 1 }),
        point({ temp: 95, vib: 1 }),
        point({ temp: 50, vib: 2.5 }),
        point({ temp: 5, vib: 0 }),
      ],
      ok,
      bad
    );
    assert.deepEqual(
      ok.map((m) => m.anomaly!.severity),
      ['normal', 'warning', 'critical', 'critical', 'warning']
    );
    assert.equal(ok[1].anomaly!.contributions.temp, 1);
    assert.equal(ok[3].anomaly!.contributions.vib, 1);
  });

  it('threshold without limits is a configuration error every message reports', async () => {
    await load(flow({ method: 'threshold', limits: '' }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed('a', [point({ temp: 1 })], ok, bad);
    assert.equal(bad[0].moby!.reject!.code, 'no_model');
  });

  it('rejects missing features, NaN/Infinity, non-numbers, missing device and bad payloads with their codes', async () => {
    await load(flow({ method: 'l2', trainSize: 20, features: 'f0,f1,f2' }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed('a', points(TRAIN.slice(0, 20)), ok, bad);
    await feed(
      'a',
      [
        point({ f0: 1, f1: 2 }),
        point({ f0: NaN, f1: 2, f2: 3 }),
        point({ f0: 1, f1: Infinity, f2: 3 }),
        point({ f0: 1, f1: 2, f2: 'hot' }),
        { payload: { tags: {}, fields: { f0: 1, f1: 2, f2: 3 } } },
        { payload: 'not a point' },
        { payload: { tags: { device_id: 'x' }, fields: JSON.parse('{"__proto__": {"f0": 1}}') } },
      ],
      ok,
      bad
    );
    assert.deepEqual(
      bad.map((m) => m.moby!.reject!.code),
      ['missing_feature', 'bad_number', 'bad_number', 'not_numeric', 'missing_device', 'bad_payload', 'forbidden_key']
    );
    assert.equal(bad[0].moby!.reject!.field, 'f2');
    // the same registry the node counts into (loaded from dist like the node)
    const text: string = await require('../../../dist/nodes/lib/metrics.js').metricsText();
    assert.match(text, /moby_rejects_total\{node_type="moby-anomaly",code="bad_number"\} [1-9]/);
    assert.match(text, /moby_anomaly_devices\{phase="scoring"\} [1-9]/);
    assert.equal(bad[0].moby!.reject!.device_id, 'pump-1');
    assert.match(bad[1].moby!.reject!.reason, /f0|non-finite/);
  });

  it('smoothing: a single-sample spike is suppressed by the median over 5, reported without smoothing', async () => {
    const spike = { ...NORMAL[3], f2: NORMAL[3].f2 + 40 };
    const results: Record<string, boolean> = {};
    for (const smoothing of [1, 5]) {
      await load(flow({ method: 'pca', smoothing, smoothingKind: 'median' }));
      const ok = collect('a-ok');
      const bad = collect('a-bad');
      await feed('a', points(TRAIN), ok, bad);
      await feed('a', [point(NORMAL[0]), point(NORMAL[1]), point(NORMAL[2]), point(spike)], ok, bad);
      results[smoothing] = ok[ok.length - 1].anomaly!.is_anomaly;
      await helper.unload();
    }
    assert.deepEqual(results, { 1: true, 5: false });
  });

  it('exports fitted state and loads it into another node that then scores without calibrating', async () => {
    await load([
      ...flow({ method: 'pca', smoothing: 3 }, 'a'),
      ...flow({ method: 'pca', trainSize: 1000, smoothing: 3 }, 'b'),
    ]);
    const okA = collect('a-ok');
    const badA = collect('a-bad');
    const okB = collect('b-ok');
    const badB = collect('b-bad');
    await feed('a', points(TRAIN), okA, badA);
    await feed('a', [{ topic: 'export' }], okA, badA);
    const doc = okA[okA.length - 1];
    assert.equal(doc.topic, 'anomaly-state');
    assert.equal(doc.payload.format, 'moby-anomaly-state');
    assert.ok(doc.payload.devices['pump-1'].model.pca.components.length >= 1);
    // the document survives JSON (what a file or HTTP transfer does to it)
    helper.getNode('b').receive({ topic: 'load', payload: JSON.parse(JSON.stringify(doc.payload)) });
    await feed('b', [point(NORMAL[0]), point(broken(1)), point(broken(2)), point(broken(3))], okB, badB);
    assert.equal(badB.length, 0);
    assert.ok(
      okB.every((m) => !m.anomaly!.warming),
      'no calibration after load'
    );
    assert.equal(okB[0].anomaly!.is_anomaly, false);
    assert.equal(okB[3].anomaly!.is_anomaly, true);

    // a tampered or mismatched document is refused with a reason, nothing half-loaded
    const tampered = JSON.parse(JSON.stringify(doc.payload));
    tampered.devices['pump-9'] = { ...tampered.devices['pump-1'], method: 'l2' };
    helper.getNode('b').receive({ topic: 'load', payload: tampered });
    await waitFor(() => badB.length === 1);
    assert.equal(badB[0].moby!.reject!.code, 'bad_state');
    assert.equal(badB[0].moby!.reject!.device_id, 'pump-9');
  });

  for (const batched of [false, true])
    it(`the view for alerts shares no object with the point on output 1 (${batched ? 'batch mode' : 'single-message mode'})`, async () => {
      const { ok, views } = await calibratedWithAlerts();
      const pts = [point(broken(1)), point(broken(2)), point(NORMAL[3])];
      if (batched) helper.getNode('a').receive({ batch: pts });
      else for (const p of pts) helper.getNode('a').receive(p);
      await waitFor(() => views.length >= (batched ? TRAIN.length + 1 : TRAIN.length + 3), 5000, 'views');
      const items = (ms: Msg[]) => ms.flatMap((m) => (Array.isArray(m.batch) ? (m.batch as Msg[]) : [m]));
      const scored = items(ok).slice(TRAIN.length);
      const seen = items(views).slice(TRAIN.length);
      assert.equal(scored.length, 3);
      assert.equal(seen.length, 3);
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(seen[i].anomaly, scored[i].anomaly, 'the view carries the verdict');
        assert.notEqual(seen[i].anomaly, scored[i].anomaly, 'not the same object');
        assert.notEqual(seen[i].anomaly!.contributions, scored[i].anomaly!.contributions);
      }
      assert.ok(scored[0].anomaly!.is_anomaly);
    });

  for (const batched of [false, true])
    it(`a sensor without usable values for 30 points in a row raises an alarm for the alert node; the next scored point closes it (${batched ? 'batch mode' : 'single-message mode'}; before: rejects only, never an alert)`, async () => {
      const { ok, bad, views } = await calibratedWithAlerts();
      const items = (ms: Msg[]) => ms.flatMap((m) => (Array.isArray(m.batch) ? (m.batch as Msg[]) : [m]));
      const viewsBefore = items(views).length;
      // f2 absent, then null, then a string: one gap of 30 rejected points
      const gap = Array.from({ length: 30 }, (_, i) => {
        const f: Record<string, unknown> = { ...NORMAL[i] };
        if (i < 10) delete f.f2;
        else f.f2 = i < 20 ? null : 'NaN';
        return point(f);
      });
      const send = (pts: Array<Record<string, unknown>>) => {
        if (batched) helper.getNode('a').receive({ batch: pts });
        else for (const p of pts) helper.getNode('a').receive(p);
      };
      send(gap.slice(0, 29));
      await waitFor(() => items(bad).length >= 29, 5000, '29 rejects');
      assert.equal(items(views).length, viewsBefore, 'no alarm before the 30th');
      send(gap.slice(29));
      await waitFor(() => items(views).length > viewsBefore, 5000, 'the alarm');
      const alarm = items(views)[viewsBefore];
      assert.equal(alarm.anomaly!.alarm, true);
      assert.deepEqual(alarm.anomaly!.incident, {
        reason: 'missing',
        severity: 'warning',
        points: 30,
        opened: true,
        feature: 'f2',
      });
      assert.equal(
        (alarm.moby as { device_id?: string } | undefined)?.device_id ??
          (alarm.payload as { tags: { device_id: string } }).tags.device_id,
        'pump-1'
      );
      assert.equal(items(bad).length, 30, 'every gap point is still rejected');
      assert.equal(items(ok).length, TRAIN.length, 'and none of them stored as scored');
      // the sensor is back: the scored point says the alarm is over
      send([point(NORMAL[31])]);
      await waitFor(() => items(views).length > viewsBefore + 1, 5000, 'the next view');
      assert.equal(items(views)[viewsBefore + 1].anomaly!.alarm, false);
    });

  it('reset recalibrates one device', async () => {
    await load(flow({ method: 'l2', trainSize: 20 }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed('a', points(TRAIN.slice(0, 21)), ok, bad);
    assert.equal(ok[20].anomaly!.warming, undefined);
    helper.getNode('a').receive({ topic: 'reset', payload: { device_id: 'pump-1' } });
    await feed('a', [point(NORMAL[0])], ok, bad);
    assert.equal(ok[ok.length - 1].anomaly!.warming, true);
  });

  it("a reset whose payload names no device (an inject node's timestamp) is rejected and resets nothing (before: every device)", async () => {
    await load(flow({ method: 'l2', trainSize: 20 }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    await feed('a', [...rowsOf('pump-1', 21), ...rowsOf('pump-2', 21)], ok, bad);
    await feed('a', [{ topic: 'reset', payload: 1733462400000 }], ok, bad);
    assert.equal(bad.at(-1)!.moby!.reject!.code, 'bad_reset');
    helper.getNode('a').receive({ topic: 'reset', payload: 'pump-2' }); // a done reset sends nothing
    await feed('a', [point(NORMAL[0], 'pump-1'), point(NORMAL[0], 'pump-2')], ok, bad);
    assert.equal(ok.at(-2)!.anomaly!.warming, undefined, 'pump-1 kept its calibration');
    assert.equal(ok.at(-1)!.anomaly!.warming, true, 'pump-2, named as the payload, recalibrates');
  });

  it('keeps state per equipment when asked and rejects points without an equipment id', async () => {
    await load(flow({ method: 'l2', trainSize: 20, stateKey: 'equipment' }));
    const ok = collect('a-ok');
    const bad = collect('a-bad');
    // two devices of the same press feed one calibration
    await feed(
      'a',
      TRAIN.slice(0, 20).map((f, i) => point(f, i % 2 ? 'sensor-a' : 'sensor-b', { equipment_id: 'press-3' })),
      ok,
      bad
    );
    await feed('a', [point(NORMAL[0], 'sensor-c', { equipment_id: 'press-3' }), point(NORMAL[0], 'sensor-c')], ok, bad);
    assert.equal(ok[ok.length - 1].anomaly!.warming, undefined);
    assert.equal(bad[0].moby!.reject!.code, 'missing_equipment');
  });

  describe('persistence across a restart (localfilesystem context store)', () => {
    const store = useFileContextStore(helper, 'moby-anomaly-ctx-', 0.1);

    const files = store.files;
    /**
     * The device states in a context file: saved as one JSON document string since the fourth round of issue
     * 16 (state-document.ts), as an object before.
     */

    const storedStates = (file: string): Record<string, any> => {
      const v = JSON.parse(fs.readFileSync(file, 'utf8')).anomaly_state;
      return typeof v === 'string' ? JSON.parse(v) : v;
    };
    const stateFile = () =>
      files().find((f) => f.endsWith('.json') && fs.readFileSync(f, 'utf8').includes('anomaly_state'));
    /** Restarts the loaded flow on the configured file store, emptied first. */
    async function onEmptyStore() {
      const red = helper._redNodes;
      await red.stopFlows();
      for (const f of files()) fs.rmSync(f);
      await red.closeContextsPlugin();
      await red.loadContextsPlugin();
      await red.startFlows();
    }
    /** A crash now: restarts with only `onDisk` in the state file (the save that stopping makes is undone). */
    async function restartFrom(file: string, onDisk: string) {
      const red = helper._redNodes;
      await red.stopFlows();
      fs.writeFileSync(file, onDisk);
      await red.closeContextsPlugin();
      fs.writeFileSync(file, onDisk);
      await red.loadContextsPlugin();
      await red.startFlows();
    }

    it('a restarted flow scores at once with the state it learned before', async () => {
      // the test helper initialises but does not open context stores: restart the flows on the configured store
      await load(flow({ method: 'pca', smoothing: 3 }));
      const red = helper._redNodes;
      await store.startFlowsOnStore();
      let ok = collect('a-ok');
      let bad = collect('a-bad');
      await feed('a', points(TRAIN), ok, bad);
      await feed('a', [point(NORMAL[0])], ok, bad);
      const before = ok[ok.length - 1].anomaly!;
      assert.equal(before.warming, undefined);

      // restart the flows: close persists, the new node instance reads the store before the first message
      await red.stopFlows();
      const stored = await waitFor(
        () => files().find((f) => fs.readFileSync(f, 'utf8').includes('anomaly_state')),
        5000,
        'state on disk'
      );
      assert.ok(storedStates(stored as string)['pump-1'].model.pca);
      // a fresh store instance reads only what reached the disk
      await red.closeContextsPlugin();
      await red.loadContextsPlugin();
      await red.startFlows();
      ok = collect('a-ok');
      bad = collect('a-bad');
      await feed('a', [point(NORMAL[0]), point(broken(4)), point(broken(5)), point(broken(6))], ok, bad);
      assert.equal(ok[0].anomaly!.warming, undefined, 'no recalibration after restart');
      assert.ok(Math.abs(ok[0].anomaly!.score - before.score) < before.threshold, 'same model');
      assert.equal(ok[3].anomaly!.is_anomaly, true);
    });

    it('a fleet whose calibration rows pass the saved document bound: the most recently active are saved, the rest left out with a warning, and they calibrate again after a restart', async () => {
      // the bound is 256 Mi characters (about 2,000 devices calibrating 900 rows of 8 fields); a test cannot
      // build that, so it lowers the module's bound, which the node reads when it starts
      const docModule = require('../../../dist/nodes/core/anomaly/state-document.js');
      const bound = docModule.SAVED_STATE_MAX_CHARS;
      docModule.SAVED_STATE_MAX_CHARS = 8000;
      try {
        await load(flow({ method: 'pca', trainSize: 100, persistSeconds: 0.2 }));
        await onEmptyStore();
        let ok = collect('a-ok');
        let bad = collect('a-bad');
        // six devices, 30 calibration rows each (about 3 KB of text per device): two fit in 8,000
        const devices = ['d-1', 'd-2', 'd-3', 'd-4', 'd-5', 'd-6'];
        for (const d of devices) await feed('a', rowsOf(d, 30), ok, bad);
        const saved = (await waitFor(
          () => {
            const f = stateFile();
            const s = f && storedStates(f);
            return s && s['d-6']?.buffer?.length === 30 ? Object.keys(s) : undefined;
          },
          5000,
          'a save with the last device'
        )) as string[];
        const onDisk = fs.readFileSync(stateFile()!, 'utf8');
        assert.ok(JSON.parse(onDisk).anomaly_state.length <= 8000, 'the document within its bound');
        // the most recently active, least recently active first (the order a reload into a smaller bound expects)
        assert.ok(saved.length >= 1 && saved.length < devices.length, `saved ${saved}`);
        assert.deepEqual(saved, devices.slice(devices.length - saved.length));
        const warned = helper
          .getNode('a')
          .warn.args.map((a: unknown[]) => String(a[0]))
          .find((w: string) => w.includes('left out'));
        assert.ok(warned, 'a warning says devices were left out');
        assert.match(
          warned,
          new RegExp(
            `saved the state of ${saved.length} device\\(s\\) and left out the ${devices.length - saved.length} less recently active`
          )
        );

        // a crash now: only the periodic save is on disk; after the restart the saved devices go on calibrating,
        // the left-out ones start again (and every device is still accepted)
        await restartFrom(stateFile()!, onDisk);
        ok = collect('a-ok');
        bad = collect('a-bad');
        const next = devices.map((d) => point(TRAIN[30], d));
        await feed('a', next, ok, bad);
        assert.equal(bad.length, 0);
        const have = Object.fromEntries(
          ok.map((m) => [(m.payload as any).tags.device_id, (m.anomaly as any).warmup?.have as number])
        );
        for (const d of devices) assert.equal(have[d], saved.includes(d) ? 31 : 1, `${d}: ${JSON.stringify(have)}`);
      } finally {
        docModule.SAVED_STATE_MAX_CHARS = bound;
      }
    });

    for (const batched of [false, true])
      it(`after incremental saves, a restart from what the periodic saves wrote restores every device, also those untouched since their last save${batched ? ' (batch mode)' : ''}`, async () => {
        // saves every 0.2 s; each serialises only the devices changed since the one before (state-document.ts)
        await load(flow({ method: 'pca', trainSize: 30, persistSeconds: 0.2 }));
        await onEmptyStore();
        let ok = collect('a-ok');
        let bad = collect('a-bad');
        const devices = ['pump-1', 'pump-2', 'pump-3'];
        for (const d of devices) await feed('a', rowsOf(d, 30), ok, bad);
        await feed(
          'a',
          devices.map((d) => point(NORMAL[0], d)),
          ok,
          bad
        );
        // a periodic save holds the three fitted devices, each having scored its point after the fit
        await waitFor(
          () => {
            const f = stateFile();
            const s = f && storedStates(f);
            return s && devices.every((d) => s[d]?.model && s[d].scored === 2);
          },
          5000,
          'the three fitted devices saved'
        );
        // then only pump-1 moves on: the next saves re-serialise it alone, pump-2 and pump-3 come from earlier saves
        const moves = NORMAL.slice(1, 6).map((f) => point(f, 'pump-1'));
        if (batched) {
          // one batch message: its items go through the same per-point path (core/batch.ts)
          const before = ok.length;
          helper.getNode('a').receive({ batch: moves });
          await waitFor(() => ok.length > before, 5000, 'the batch scored');
        } else await feed('a', moves, ok, bad);
        await waitFor(() => storedStates(stateFile()!)['pump-1'].scored === 7, 5000, "pump-1's new state saved");
        await new Promise((r) => setTimeout(r, 500)); // a save or two more, with nothing changed
        const exported: Msg[] = [];
        helper.getNode('a-ok').on('input', (m: Msg) => m.topic === 'anomaly-state' && exported.push(m));
        helper.getNode('a').receive({ topic: 'export' });
        await waitFor(() => exported.length === 1, 5000, 'export');
        // a crash now: only what the periodic saves wrote is on disk (close's own save is undone below)
        const file = stateFile()!;
        await restartFrom(file, fs.readFileSync(file, 'utf8'));
        ok = collect('a-ok');
        bad = collect('a-bad');
        const again: Msg[] = [];
        helper.getNode('a-ok').on('input', (m: Msg) => m.topic === 'anomaly-state' && again.push(m));
        helper.getNode('a').receive({ topic: 'export' });
        await waitFor(() => again.length === 1, 5000, 'export after the restart');

        const devicesOf = (m: Msg) => (m.payload as any).devices;
        assert.deepEqual(Object.keys(devicesOf(again[0])).sort(), devices);
        assert.deepEqual(devicesOf(again[0]), devicesOf(exported[0]), 'every device restored as it was');
        await feed(
          'a',
          devices.map((d) => point(NORMAL[7], d)),
          ok,
          bad
        );
        assert.equal(bad.length, 0);
        const scored = ok.filter((m) => m.anomaly);
        assert.equal(scored.length, 3);
        assert.ok(
          scored.every((m) => m.anomaly!.warming === undefined),
          'no device calibrates again'
        );
      });
  });
});

describe('examples/anomaly.json', function () {
  this.timeout(20000);
  afterEach(async () => {
    await helper.unload();
  });

  it('loads in the runtime and its anomaly nodes score what the simulator sends', async () => {
    const example = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../../examples/anomaly.json'), 'utf8')
    ) as Array<Record<string, any>>;
    const nodes = [
      anomalyNode,
      require('@node-red/nodes/core/common/20-inject.js'),
      require('@node-red/nodes/core/common/21-debug.js'),
      require('@node-red/nodes/core/common/90-comment.js'),
      require('@node-red/nodes/core/function/10-function.js'),
      require('@node-red/nodes/core/function/10-switch.js'),
    ];
    const flowDef = example.map((n) => {
      const copy = { ...n };
      if (copy.type === 'inject') copy.once = false; // the test drives the function node itself
      if (copy.type === 'moby-anomaly')
        copy.wires = [
          [...copy.wires[0], 'probe'],
          [...copy.wires[1], 'probe'],
        ];
      return copy;
    });
    const tab = flowDef.find((n) => n.type === 'tab')!;
    flowDef.push({ id: 'probe', type: 'helper', z: tab.id });
    await new Promise<void>((resolve, reject) =>
      helper.load(nodes, flowDef, (err?: Error) => (err ? reject(err) : resolve()))
    );
    const got: Msg[] = [];
    helper.getNode('probe').on('input', (m: Msg) => got.push(m));
    const sim = flowDef.find((n) => n.type === 'function')!;
    for (let i = 0; i < 5; i++) helper.getNode(sim.id).receive({});
    // 5 ticks × 2 pumps × 2 anomaly nodes
    await waitFor(() => got.length >= 20, 5000, 'scored points');
    assert.ok(
      got.every((m) => m.anomaly && !m.moby?.reject),
      'no rejects: the example is configured validly'
    );
    assert.ok(got.some((m) => m.anomaly!.method === 'threshold' && !m.anomaly!.warming));
    assert.ok(got.some((m) => m.anomaly!.method === 'pca' && m.anomaly!.warming));
  });
});
