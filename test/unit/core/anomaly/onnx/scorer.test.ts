// BundleScorer: bundle selection (equipment / power / version), hot reload with refused broken bundles,
// per-device windows, reject codes, micro-batching and output kinds (pca, reconstruction, rul).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  BundleScorer,
  deviceStateBytes,
  LATE_AGE_TOLERANCE,
  STATE_OVERHEAD_BYTES,
  type ScoreOutcome,
} from '../../../../../nodes/core/anomaly/onnx/bundle-scorer';
import { MODEL_MAX_BYTES } from '../../../../../nodes/core/anomaly/onnx/bundles';
import {
  ONNX_STATE_FORMAT,
  parseSavedDevice,
  parseSavedStates,
  type SavedDevice,
} from '../../../../../nodes/core/anomaly/onnx/saved-state';
import { scorePca } from '../../../../../nodes/core/anomaly/pca';
import { StateDocument } from '../../../../../nodes/core/anomaly/state-document';
import { writeBundle } from '../../../../../nodes/core/anomaly/train/bundle-writer';
import { OnnxGraphBuilder } from '../../../../../nodes/core/anomaly/train/onnx-builder';
import { fitLinearRul, linearRulToOnnx, predictRul } from '../../../../../nodes/core/anomaly/train/rul';
import { fitScaler, makeWindows } from '../../../../../nodes/core/anomaly/train/windows';
import { trainBundle } from '../../../../../nodes/core/anomaly/train/train';
import {
  FEATURES,
  meanMeta,
  meanModel,
  fieldsOf,
  normalRows,
  scorerFactory,
  tmpRoot,
  toCsv,
  writeMeanBundle,
  writeRawBundle,
  writePcaBundle,
} from '../../../../support/anomaly-onnx-fixtures';
import { waitFor } from '../../../../support/net';

const ONES = { vib: 1, temp: 1, current: 1 };

function result(o: ScoreOutcome): Extract<ScoreOutcome, { kind: 'result' }> {
  assert.equal(o.kind, 'result', JSON.stringify(o));
  return o as Extract<ScoreOutcome, { kind: 'result' }>;
}

function req(key: string, equipmentId: string, fields: Record<string, number> = ONES, power?: string) {
  return { key, equipmentId, fields, power, timestamp: Date.now() };
}

describe('anomaly-onnx BundleScorer', () => {
  const make = scorerFactory();

  describe('bundle selection', () => {
    let root: string;
    before(() => {
      root = tmpRoot();
      // the version order is natural (v2 < v10), the score tells versions apart: gain 2, 10, 7 …
      writeMeanBundle(root, 'press-1', 'low', 'v2', 2);
      writeMeanBundle(root, 'press-1', 'low', 'v10', 10);
      writeMeanBundle(root, 'press-1', 'high', 'v1', 7);
      writeMeanBundle(root, 'lathe-9', 'idle', '2026-01-05', 3);
      writeMeanBundle(root, 'lathe-9', 'idle', '2026-11-20', 4);
    });

    it('refuses a model.onnx beyond MODEL_MAX_BYTES by its size, before reading it (keyed-device red team 2026-12-07: 700 MB of junk stalled every scan for 6.6 s)', async () => {
      const r = tmpRoot();
      writeMeanBundle(r, 'eq', 'p', 'v1', 1);
      writeMeanBundle(r, 'eq', 'p', 'v2', 2);
      // a sparse file: its size is what is checked, nothing is written
      fs.truncateSync(path.join(r, 'eq', 'p', 'v2', 'model.onnx'), MODEL_MAX_BYTES + 1);
      const s = make({ root: r });
      const rep = await s.load();
      assert.deepEqual(rep.loaded, ['eq/p/v1']);
      assert.equal(rep.refused.length, 1);
      assert.match(
        rep.refused[0].reason,
        new RegExp(`model\\.onnx: ${MODEL_MAX_BYTES + 1} bytes, more than the ${MODEL_MAX_BYTES}`)
      );
    });

    it('uses the newest version by natural order, the power given in the request, and reports the model', async () => {
      const s = make({ root });
      const rep = await s.load();
      assert.deepEqual(rep.refused, []);
      assert.deepEqual(rep.loaded, [
        'lathe-9/idle/2026-01-05',
        'lathe-9/idle/2026-11-20',
        'press-1/high/v1',
        'press-1/low/v10',
        'press-1/low/v2',
      ]);
      const r = result(await s.score(req('a', 'press-1', ONES, 'low')));
      assert.equal(r.score, 10);
      assert.deepEqual(r.model, { equipment_id: 'press-1', power: 'low', version: 'v10', kind: 'score' });
      assert.equal(result(await s.score(req('b', 'press-1', ONES, 'high'))).score, 7);
      assert.equal(result(await s.score(req('c', 'lathe-9'))).model.version, '2026-11-20');
    });

    it('pins a configured version', async () => {
      const s = make({ root, version: 'v2' });
      await s.load();
      assert.equal(result(await s.score(req('a', 'press-1', ONES, 'low'))).score, 2);
      const miss = await s.score(req('b', 'press-1', ONES, 'high'));
      assert.deepEqual([miss.kind, (miss as { code: string }).code], ['reject', 'no_model']);
    });

    it('chooses the power bucket from a feature when the request names none', async () => {
      const s = make({ root, powerField: 'current', powerBuckets: [{ name: 'low', max: 5 }, { name: 'high' }] });
      await s.load();
      assert.equal(result(await s.score(req('a', 'press-1', { vib: 1, temp: 1, current: 5 }))).model.power, 'low');
      assert.equal(result(await s.score(req('b', 'press-1', { vib: 1, temp: 1, current: 5.01 }))).model.power, 'high');
      const missing = await s.score(req('c', 'press-1', { vib: 1, temp: 1 }));
      assert.deepEqual(missing, {
        kind: 'reject',
        code: 'missing_feature',
        reason: 'power field "current" is missing, so no power bucket can be chosen',
        field: 'current',
      });
    });

    it('refuses with no_model: unknown equipment, unknown power, ambiguous power', async () => {
      const s = make({ root });
      await s.load();
      const codes = await Promise.all([
        s.score(req('a', 'nope')),
        s.score(req('b', 'press-1', ONES, 'turbo')),
        s.score(req('c', 'press-1')),
      ]);
      for (const c of codes) assert.equal((c as { code: string }).code, 'no_model');
      assert.match((codes[2] as { reason: string }).reason, /powers high, low/);
    });

    it('a no_model reason shows an untrusted equipment id or power printable and short (no NUL, no 100k characters)', async () => {
      const s = make({ root });
      await s.load();
      const long = 'x'.repeat(100_000);
      const [a, b] = (await Promise.all([
        s.score(req('a', `evil\u0000\u202e${long}`)),
        s.score(req('b', 'press-1', ONES, `turbo\n${long}`)),
      ])) as Array<{ code: string; reason: string }>;
      for (const r of [a, b]) {
        assert.equal(r.code, 'no_model');
        assert.ok(r.reason.length < 400, `short: ${r.reason.length} characters`);
        const printable = [...r.reason].every((ch) => ch === '…' || (ch >= ' ' && ch <= '~'));
        assert.ok(printable, 'no control, bidi or other non-ASCII character but the ellipsis');
      }
      assert.match(a.reason, /evil\\u0000\\u202Ex+…\(100006 chars\)/);
      assert.match(b.reason, /power "turbo\\u000Ax+…\(100006 chars\)"/);
    });

    it('rejects a bad power bucket configuration and an empty root at construction', () => {
      assert.throws(
        () => new BundleScorer({ root, powerField: 'current', powerBuckets: [{ name: 'a' }, { name: 'b', max: 3 }] }),
        /powerBuckets\[0\] \(a\): only the last bucket may omit max/
      );
      assert.throws(
        () =>
          new BundleScorer({
            root,
            powerBuckets: [
              { name: 'a', max: 5 },
              { name: 'b', max: 3 },
            ],
          }),
        /powerBuckets\[1\] \(b\): max must be greater than the previous bucket's/
      );
      assert.throws(
        () => new BundleScorer({ root, powerBuckets: [{ max: 5 }] as never }),
        /powerBuckets\[0\]: needs a non-empty string "name"/
      );
      assert.throws(
        () => new BundleScorer({ root, powerBuckets: { low: 5 } as never }),
        /powerBuckets must be an array/
      );
      assert.throws(() => new BundleScorer({ root: '' }), /bundle root is not set/);
    });
  });

  describe('hot reload and broken bundles', () => {
    it('picks up a new version on load(), refuses a broken one and keeps serving the old one', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 1);
      const s = make({ root });
      await s.load();
      assert.equal(result(await s.score(req('a', 'eq'))).score, 1);

      writeMeanBundle(root, 'eq', 'p', 'v2', 2);
      const r2 = await s.load();
      assert.deepEqual(r2.loaded, ['eq/p/v1', 'eq/p/v2']);
      assert.equal(result(await s.score(req('a', 'eq'))).model.version, 'v2');

      // overwrite v2 in place with garbage: refused, the loaded v2 keeps serving
      fs.writeFileSync(path.join(root, 'eq', 'p', 'v2', 'model.onnx'), 'not a model');
      const r3 = await s.load();
      assert.equal(r3.refused.length, 1);
      assert.equal(r3.refused[0].path, path.join(root, 'eq', 'p', 'v2'));
      assert.match(
        r3.refused[0].reason,
        /model\.onnx: not a loadable ONNX model.*previously loaded version keeps serving/
      );
      assert.equal(result(await s.score(req('a', 'eq'))).score, 2);

      // a new, broken v3 (meta names a wrong input) is refused; v2 still serves as the newest valid one
      const v3 = writeMeanBundle(root, 'eq', 'p', 'v3', 3);
      const meta = JSON.parse(fs.readFileSync(path.join(v3, 'meta.json'), 'utf8'));
      meta.input.name = 'input_0';
      fs.writeFileSync(path.join(v3, 'meta.json'), JSON.stringify(meta));
      const r4 = await s.load();
      assert.deepEqual(
        r4.refused.map((r) => r.path),
        [path.join(root, 'eq', 'p', 'v2'), v3]
      );
      assert.match(
        r4.refused[1].reason,
        /meta\.json: input\.name "input_0" is not an input of the model \(inputs: x\)/
      );
      assert.equal(result(await s.score(req('a', 'eq'))).model.version, 'v2');

      // repaired: the fixed files replace the old v2; a deleted bundle disappears
      writeMeanBundle(root, 'eq', 'p', 'v2', 20);
      fs.rmSync(v3, { recursive: true });
      const r5 = await s.load();
      assert.deepEqual(r5, { loaded: ['eq/p/v1', 'eq/p/v2'], refused: [], capped: [] });
      assert.equal(result(await s.score(req('a', 'eq'))).score, 20);
    });

    it('names the field of an invalid meta.json and refuses a bundle whose model output has the wrong size', async () => {
      const root = tmpRoot();
      const bad = writeMeanBundle(root, 'eq', 'p', 'v1', 1);
      fs.writeFileSync(
        path.join(bad, 'meta.json'),
        JSON.stringify({
          schema_version: 1,
          kind: 'score',
          features: ['a'],
          window: 0,
          input: { name: 'x' },
          outputs: {},
          colour: 'red',
        })
      );
      const wrong = writeMeanBundle(root, 'eq', 'p', 'v2', 1);
      // meta says window 2 but the model takes one step: the dry run fails with the shape
      fs.writeFileSync(
        path.join(wrong, 'meta.json'),
        JSON.stringify({
          schema_version: 1,
          kind: 'score',
          features: FEATURES,
          window: 2,
          input: { name: 'x' },
          outputs: { score: 'score' },
          threshold: 1,
        })
      );
      const noModel = path.join(root, 'eq', 'p', 'v3');
      fs.mkdirSync(noModel);
      const s = make({ root });
      const rep = await s.load();
      assert.deepEqual(rep.loaded, []);
      const reasons = Object.fromEntries(rep.refused.map((r) => [path.basename(r.path), r.reason]));
      assert.equal(
        reasons.v1,
        `${path.join(bad, 'meta.json')}: (root): missing field "threshold"; outputs: missing field "score"; (root): unknown field "colour"; window: must be >= 1`
      );
      assert.match(
        reasons.v2,
        /dry run with zero windows of shape \[2, 6\] failed \(the batch dimension must be dynamic\)/
      );
      assert.match(reasons.v3, /v3\/meta\.json: missing/);
    });

    /** The reason the scorer gives for refusing the only bundle of a fresh root, which must load nothing. */
    async function refusalOf(model: Uint8Array, meta: Record<string, unknown>): Promise<string> {
      const root = tmpRoot();
      writeRawBundle(path.join(root, 'eq', 'p', 'v1'), model, meta);
      const rep = await make({ root }).load();
      assert.deepEqual(rep.loaded, []);
      return rep.refused[0].reason;
    }

    it('refuses a meta.json whose window × features is beyond 4 MiB per device before anything is allocated', async () => {
      // window and feature count each within their bounds: 2048 × 1024 (the red-team case was 100000 × 4096:
      // a 3.3 GB dry-run input, then 1.6 GB per device window)
      const features = Array.from({ length: 1024 }, (_, i) => `f${i}`);
      const meta = { kind: 'score', features, window: 2048, outputs: { score: 'score' }, threshold: 1 };
      assert.match(
        await refusalOf(meanModel(2048, 1024, 1), meta),
        /meta\.json: window × features is 2048 × 1024 = 2097152 values per device window, limit 1048576 \(4 MiB\)$/
      );
    });

    it('refuses a model exported with a fixed batch size', async () => {
      const g = new OnnxGraphBuilder('fixed');
      const x = g.input('x', [1, 3]);
      g.op('MatMul', [x, g.constant('w', [1, 1, 1], [3])], 'score');
      g.output('score', [1]);
      assert.match(
        await refusalOf(g.toBytes(), { kind: 'score', outputs: { score: 'score' }, threshold: 1 }),
        /model\.onnx: dry run with zero windows of shape \[2, 3\] failed \(the batch dimension must be dynamic\)/
      );
    });

    it('keeps serving when the root becomes unreadable', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 5);
      const s = make({ root });
      await s.load();
      fs.renameSync(root, root + '-gone');
      const rep = await s.load();
      assert.deepEqual(rep.loaded, ['eq/p/v1']);
      assert.match(rep.refused[0].reason, /bundle root not readable/);
      assert.equal(result(await s.score(req('a', 'eq'))).score, 5);
    });

    it('the watcher reloads changed bundles without a load() call', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 1);
      const s = make({ root, watch: true, watchIntervalMs: 50 });
      await s.load();
      writeMeanBundle(root, 'eq', 'p', 'v2', 2);
      await waitFor(() => s.bundles().includes('eq/p/v2'), 10000, 'watcher to load v2');
      assert.equal(result(await s.score(req('a', 'eq'))).score, 2);
    });
  });

  describe('windows and rejects', () => {
    it('warms up per device, slides, and leaves the window untouched on bad input', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 3, 3);
      const s = make({ root });
      await s.load();
      assert.deepEqual(await s.score(req('d1', 'eq', { vib: 1, temp: 1, current: 1 })), {
        kind: 'warming',
        have: 1,
        need: 3,
      });
      assert.deepEqual(await s.score(req('d2', 'eq', { vib: 9, temp: 9, current: 9 })), {
        kind: 'warming',
        have: 1,
        need: 3,
      });
      assert.deepEqual(await s.score(req('d1', 'eq', { vib: 2, temp: 2, current: 2 })), {
        kind: 'warming',
        have: 2,
        need: 3,
      });
      assert.deepEqual(await s.score(req('d1', 'eq', { vib: 1, temp: 1 })), {
        kind: 'reject',
        code: 'missing_feature',
        reason: 'feature "current" required by model eq/p/v1 is missing',
        field: 'current',
      });
      const bad = await s.score(req('d1', 'eq', { vib: 1, temp: NaN, current: 1 }));
      assert.deepEqual(bad, {
        kind: 'reject',
        code: 'bad_number',
        reason: 'feature "temp" is not a finite number',
        field: 'temp',
      });
      const notNum = await s.score(req('d1', 'eq', { vib: 1, temp: '3' as unknown as number, current: 1 }));
      assert.equal((notNum as { code: string }).code, 'bad_number');
      // mean of steps 1,2,3 (×3 gain) = 6; the rejected messages did not enter the window
      assert.equal(result(await s.score(req('d1', 'eq', { vib: 3, temp: 3, current: 3 }))).score, 6);
      assert.equal(result(await s.score(req('d1', 'eq', { vib: 4, temp: 4, current: 4 }))).score, 9);
      assert.equal(s.deviceCount, 2);
    });

    it('keeps at most maxDevices windows, dropping the least recently scored', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 1, 2);
      const s = make({ root, maxDevices: 2 });
      await s.load();
      await s.score(req('a', 'eq'));
      await s.score(req('b', 'eq'));
      assert.equal(result(await s.score(req('a', 'eq'))).score, 1, 'a is full and now most recent');
      await s.score(req('c', 'eq')); // evicts b, the least recently scored
      assert.equal(s.deviceCount, 2);
      assert.equal(s.stats.evicted, 1);
      assert.equal((await s.score(req('a', 'eq'))).kind, 'result');
      assert.deepEqual(await s.score(req('b', 'eq')), { kind: 'warming', have: 1, need: 2 });
    });

    describe('the byte budget (maxStateBytes)', () => {
      // a 1,000-step window of 3 features: 12,000 bytes of float32 plus the fixed overhead per state
      const BIG = 1000 * 3 * 4 + STATE_OVERHEAD_BYTES;
      const keys = (s: BundleScorer) => [...s.entries()].map(([k]) => k);

      it('counts a state as its window plus what the bundle options add', () => {
        const meta = { ...meanMeta(1000), equipment_id: 'eq', power: 'p', version: 'v1' };
        assert.equal(deviceStateBytes(meta, 0), BIG);
        // persistence 5: two float64 rings; drifting centre: a float64 per feature
        const drift = { ...meta, persistence: 5, center_drift: 0.1, scaler: { mean: [0, 0, 0], std: [1, 1, 1] } };
        assert.equal(deviceStateBytes(drift, 0), BIG + 2 * 5 * 8 + 3 * 8);
        // RUL: the averaging history (age and prediction per step) and the baseline sums
        const rul = { ...meta, kind: 'rul' as const, rul_average: 4, baseline_cycles: 10, persistence: 5 };
        assert.equal(deviceStateBytes(rul, 2), BIG + 2 * 4 * 8 + 2 * 8);
      });

      it('caps a large-window bundle by bytes, not maxDevices, evicting the least recently scored first', async () => {
        const root = tmpRoot();
        writeMeanBundle(root, 'eq', 'p', 'v1', 1, 1000);
        const s = make({ root, maxDevices: 100, maxStateBytes: 5 * BIG + BIG / 2 });
        const report = await s.load();
        assert.deepEqual(report.capped, [{ bundle: 'eq/p/v1', bytesPerDevice: BIG, devices: 5 }]);
        // said once per bundle load: a rescan that finds it unchanged reports nothing, though the cap holds
        assert.deepEqual((await s.load()).capped, []);
        assert.deepEqual(s.budgetCaps(), report.capped);
        for (const k of ['a', 'b', 'c', 'd', 'e']) await s.score(req(k, 'eq'));
        assert.equal(s.stats.evicted, 0);
        await s.score(req('a', 'eq')); // a is now the most recent: b is the stalest
        await s.score(req('f', 'eq'));
        await s.score(req('g', 'eq'));
        assert.deepEqual(keys(s), ['d', 'e', 'a', 'f', 'g'], 'b and c went, in that order');
        assert.equal(s.stats.evicted, 2);
        assert.equal(s.deviceCount, 5);
        assert.equal(s.stateBytes, 5 * BIG);
        // a came back as the most recent and kept its window (2 of 1,000 steps)
        assert.deepEqual(await s.score(req('a', 'eq')), { kind: 'warming', have: 3, need: 1000 });
        s.forget('a');
        assert.equal(s.stateBytes, 4 * BIG);
        s.forgetAll();
        assert.equal(s.stateBytes, 0);
      });

      it('reports no byte cap when maxDevices binds first, and never locks a device out of a budget too small for one', async () => {
        const root = tmpRoot();
        writeMeanBundle(root, 'eq', 'p', 'v1', 1, 1000);
        const roomy = make({ root, maxDevices: 3, maxStateBytes: 100 * BIG });
        assert.deepEqual((await roomy.load()).capped, []);
        const tiny = make({ root, maxDevices: 100, maxStateBytes: 1000 });
        assert.deepEqual((await tiny.load()).capped, [{ bundle: 'eq/p/v1', bytesPerDevice: BIG, devices: 1 }]);
        for (const k of ['a', 'b', 'c']) {
          assert.deepEqual(await tiny.score(req(k, 'eq')), { kind: 'warming', have: 1, need: 1000 });
          assert.deepEqual(keys(tiny), [k]);
        }
        assert.equal(tiny.stats.evicted, 2);
      });

      it('shares one budget across bundles: a small-window device costs little, a large one much', async () => {
        const root = tmpRoot();
        writeMeanBundle(root, 'big', 'p', 'v1', 1, 1000);
        writeMeanBundle(root, 'small', 'p', 'v1', 1, 1);
        const SMALL = 3 * 4 + STATE_OVERHEAD_BYTES;
        // maxDevices binds the small bundle (50 would fit by bytes), the budget the large one
        const s = make({ root, maxDevices: 40, maxStateBytes: 2 * BIG + 3 * SMALL });
        const caps = (await s.load()).capped;
        assert.deepEqual(caps, [{ bundle: 'big/p/v1', bytesPerDevice: BIG, devices: 2 }]);
        for (const k of ['s1', 's2', 's3']) await s.score(req(k, 'small'));
        for (const k of ['b1', 'b2']) await s.score(req(k, 'big'));
        assert.equal(s.stats.evicted, 0);
        assert.equal(s.stateBytes, 2 * BIG + 3 * SMALL);
        // one more large window pushes out the oldest states until it fits: the three small ones and b1
        await s.score(req('b3', 'big'));
        assert.deepEqual(keys(s), ['b2', 'b3']);
        assert.equal(s.stats.evicted, 4);
      });
    });

    it('starts a fresh window after a gap longer than maxGapMs', async () => {
      const root = tmpRoot();
      writeMeanBundle(root, 'eq', 'p', 'v1', 1, 2);
      const s = make({ root, maxGapMs: 60000 });
      await s.load();
      const at = (t: number) => ({ key: 'd', equipmentId: 'eq', fields: ONES, timestamp: t });
      await s.score(at(0));
      assert.equal((await s.score(at(60000))).kind, 'result');
      assert.deepEqual(await s.score(at(120001)), { kind: 'warming', have: 1, need: 2 });
    });

    it('rejects a non-finite model output with model_error', async () => {
      const root = tmpRoot();
      const g = new OnnxGraphBuilder('log0');
      const x = g.input('x', ['batch', 3]);
      // log(x - x) = -inf for every input
      g.op('MatMul', [g.op('Log', [g.op('Sub', [x, x])]), g.constant('w', [1, 1, 1], [3])], 'score');
      g.output('score', ['batch']);
      writeRawBundle(path.join(root, 'eq', 'p', 'v1'), g.toBytes(), {
        kind: 'score',
        outputs: { score: 'score' },
        threshold: 1,
      });
      const s = make({ root });
      assert.deepEqual((await s.load()).refused, []);
      const r = await s.score(req('a', 'eq'));
      assert.deepEqual(r, { kind: 'reject', code: 'model_error', reason: 'model eq/p/v1 produced a non-finite score' });
    });

    it('keeps a device window across a reload that changes the scaler (re-expressed in the new scale)', async () => {
      const root = tmpRoot();
      const dir = writeMeanBundle(root, 'eq', 'p', 'v1', 1, 2);
      const s = make({ root });
      await s.load();
      await s.score(req('d', 'eq', { vib: 2, temp: 2, current: 2 }));
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
      meta.scaler = { mean: [1, 1, 1], std: [2, 2, 2] };
      fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
      await s.load();
      // window = [(2-1)/2, (4-1)/2] per feature, mean = 1
      assert.equal(result(await s.score(req('d', 'eq', { vib: 4, temp: 4, current: 4 }))).score, 1);
    });
  });

  describe('micro-batching', () => {
    it('scores many devices in few session.run calls with the same results as one at a time', async () => {
      const root = tmpRoot();
      await trainBundle({
        method: 'autoencoder',
        csv: writeCsv(root),
        out: path.join(root, 'bundles', 'eq', 'p', 'v1'),
        window: 5,
        epochs: 3,
        hidden: 8,
        bottleneck: 2,
      });
      const batched = make({ root: path.join(root, 'bundles'), batchMax: 64, batchWaitMs: 5 });
      const single = make({ root: path.join(root, 'bundles'), batchMax: 1 });
      await batched.load();
      await single.load();
      const rows = normalRows(100, 11);
      const devices = 50;
      let last: ScoreOutcome[] = [];
      let lastSingle: ScoreOutcome[] = [];
      for (let t = 0; t < 5; t++) {
        const reqs = Array.from({ length: devices }, (_, d) =>
          req(`dev${d}`, 'eq', fieldsOf(rows[(d + t) % rows.length]))
        );
        last = await Promise.all(reqs.map((r) => batched.score(r)));
        lastSingle = await Promise.all(reqs.map((r) => single.score(r)));
      }
      assert.deepEqual(batched.stats, { runs: 1, windows: 50, evicted: 0 });
      assert.deepEqual(single.stats, { runs: 50, windows: 50, evicted: 0 });
      last.forEach((o, i) => {
        const a = result(o);
        const b = result(lastSingle[i]);
        assert.ok(Math.abs(a.score - b.score) <= 1e-6 * Math.max(1, b.score), `device ${i}: ${a.score} vs ${b.score}`);
        assert.equal(a.threshold, b.threshold);
        const share = Object.values(a.contributions).reduce((x, y) => x + y, 0);
        assert.ok(Math.abs(share - 1) < 1e-6, 'contributions are shares summing to 1');
      });
      // batchMax caps a batch: 50 windows with batchMax 16 -> 4 runs
      const capped = make({ root: path.join(root, 'bundles'), batchMax: 16, batchWaitMs: 5 });
      await capped.load();
      for (let t = 0; t < 5; t++)
        await Promise.all(
          Array.from({ length: devices }, (_, d) => capped.score(req(`dev${d}`, 'eq', fieldsOf(rows[d]))))
        );
      assert.deepEqual(capped.stats, { runs: 4, windows: 50, evicted: 0 });
    });
  });

  describe('output kinds', () => {
    it('pca: score is the larger of T²/t2Limit and Q/qLimit, threshold 1, contributions as shares', async () => {
      const root = tmpRoot();
      const model = await writePcaBundle(root, 'eq', 'p', 'v1');
      const s = make({ root });
      await s.load();
      for (const x of [
        [1, 60, 10],
        [1, 90, 30],
        [3, 40, 2],
      ]) {
        const r = result(await s.score(req('a', 'eq', fieldsOf(x))));
        const ref = scorePca(model, x);
        const want = Math.max(ref.t2 / model.t2Limit, ref.q / model.qLimit);
        assert.ok(Math.abs(r.score - want) <= 1e-5 * Math.max(1, want), `${r.score} vs ${want}`);
        assert.equal(r.threshold, 1);
        const total = ref.contributions.reduce((a, b) => a + b, 0);
        FEATURES.forEach((f, j) => assert.ok(Math.abs(r.contributions[f] - ref.contributions[j] / total) < 1e-5, f));
      }
    });

    it('probability: a [batch, 2] classifier output gives the anomalous-class probability, threshold 0.5 by default', async () => {
      const root = tmpRoot();
      // logits (-s, s) with s = sum of the inputs, softmax over the pair
      const g = new OnnxGraphBuilder('clf');
      const x = g.input('x', ['batch', 3]);
      const logits = g.op('MatMul', [x, g.constant('w', [-1, 1, -1, 1, -1, 1], [3, 2])]);
      g.op('Softmax', [logits], 'p', { axis: 1 });
      g.output('p', ['batch', 2]);
      writeRawBundle(path.join(root, 'eq', 'p', 'v1'), g.toBytes(), {
        kind: 'probability',
        outputs: { probability: 'p' },
      });
      const s = make({ root });
      assert.deepEqual((await s.load()).refused, []);
      const hi = result(await s.score(req('a', 'eq', { vib: 1, temp: 0.5, current: 0 })));
      const lo = result(await s.score(req('b', 'eq', { vib: -1, temp: -0.5, current: 0 })));
      const sig = (v: number) => 1 / (1 + Math.exp(-2 * v));
      assert.ok(
        Math.abs(hi.score - sig(1.5)) < 1e-6 && Math.abs(lo.score - sig(-1.5)) < 1e-6,
        `${hi.score} ${lo.score}`
      );
      assert.equal(hi.threshold, 0.5);
    });

    it('reconstruction without a score output: the error and contributions are computed from the reconstruction', async () => {
      const root = tmpRoot();
      // reconstruction = 0.5 x: error per value = (x/2)², window of 2 steps × 3 features
      const g = new OnnxGraphBuilder('half');
      const x = g.input('x', ['batch', 6]);
      g.op('Mul', [x, g.constant('h', [0.5], [])], 'rec');
      g.output('rec', ['batch', 6]);
      writeRawBundle(path.join(root, 'eq', 'p', 'v1'), g.toBytes(), {
        kind: 'reconstruction',
        window: 2,
        outputs: { reconstruction: 'rec' },
        threshold: 0.1,
      });
      const s = make({ root });
      await s.load();
      await s.score(req('a', 'eq', { vib: 2, temp: 0, current: 0 }));
      const r = result(await s.score(req('a', 'eq', { vib: 2, temp: 2, current: 0 })));
      // squared errors: vib 1+1, temp 0+1, current 0 -> mean 3/6
      assert.equal(r.score, 0.5);
      assert.deepEqual(r.contributions, { vib: 2 / 3, temp: 1 / 3, current: 0 });
    });

    it('rul: a linear regression bundle yields msg.rul {value, unit}; score = threshold / RUL', async () => {
      const root = tmpRoot();
      const { rows, win, model, meta } = linearRulFixture(4);
      await writeBundle(path.join(root, 'pump', 'any', 'v1'), linearRulToOnnx(model), {
        ...meta,
        rul_unit: 'h',
        threshold: 45,
      });
      const s = make({ root });
      await s.load();
      let out: ScoreOutcome | undefined;
      for (const r of rows.slice(0, 3)) out = await s.score(req('p1', 'pump', fieldsOf(r)));
      const r = result(out!);
      const expected = predictRul(model, win.data.subarray(0, 9));
      assert.equal(r.rul!.unit, 'h');
      assert.ok(Math.abs(r.rul!.value - expected) < 1e-4, `${r.rul!.value} vs ${expected}`);
      assert.ok(Math.abs(r.score - 45 / r.rul!.value) < 1e-9);
      assert.equal(r.threshold, 1);
      assert.equal(r.model.kind, 'rul');
    });

    it('rul with min_history: a short history is scored on its window padded with the first row, like eval:cmapss', async () => {
      const root = tmpRoot();
      const { rows, scaler, win, model, meta } = linearRulFixture(5);
      await writeBundle(path.join(root, 'pump', 'any', 'v1'), linearRulToOnnx(model), { ...meta, min_history: 2 });
      const s = make({ root });
      await s.load();
      assert.deepEqual(await s.score(req('p1', 'pump', fieldsOf(rows[0]))), { kind: 'warming', have: 1, need: 2 });
      // two rows: the window the model sees is [row 0, row 0, row 1]
      const padded = makeWindows([rows[0], rows[0], rows[1]], 3, scaler).data.subarray(0, 9);
      const short = result(await s.score(req('p1', 'pump', fieldsOf(rows[1]))));
      assert.ok(Math.abs(short.rul!.value - predictRul(model, padded)) < 1e-4, `${short.rul!.value}`);
      // once full, the plain window
      const full = result(await s.score(req('p1', 'pump', fieldsOf(rows[2]))));
      assert.ok(Math.abs(full.rul!.value - predictRul(model, win.data.subarray(0, 9))) < 1e-4);
      assert.notEqual(short.rul!.value.toFixed(4), full.rul!.value.toFixed(4), 'padding is not the full window');
    });

    it('rul with rul_average: the mean of the recent predictions of a device aged by its age feature; restarts when it goes back', async () => {
      const root = tmpRoot();
      const fixture = linearRulFixture(6);
      const { rows, model } = fixture;
      const meta = { ...fixture.meta, threshold: 40 };
      // the same model without and with averaging over 3 steps of "current" (the device's age here)
      await writeBundle(path.join(root, 'plain', 'any', 'v1'), linearRulToOnnx(model), meta);
      await writeBundle(path.join(root, 'avg', 'any', 'v1'), linearRulToOnnx(model), {
        ...meta,
        rul_average: 3,
        rul_age_feature: 'current',
      });
      const s = make({ root });
      assert.deepEqual((await s.load()).refused, []);
      // ages 1, 2, 3, 5 (a gap of one), 8, then 1 (a new series: a new life, whose window starts afresh), 2, 3, 4
      const ages = [1, 2, 3, 5, 8, 1, 2, 3, 4];
      const plain: number[] = [];
      const outcomes: ScoreOutcome[] = [];
      for (let i = 0; i < ages.length + 2; i++) {
        const f = { ...fieldsOf(rows[i]), current: i < 2 ? 0 : ages[i - 2] };
        const a = await s.score(req('d1', 'plain', f));
        const b = await s.score(req('d2', 'avg', f));
        if (i < 2) continue; // warming
        plain.push(result(a).rul!.value);
        outcomes.push(b);
      }
      // the new life warms up again: nothing of the old one's window feeds its RUL
      assert.deepEqual(outcomes.slice(5, 7), [
        { kind: 'warming', have: 1, need: 3 },
        { kind: 'warming', have: 2, need: 3 },
      ]);
      const avg = outcomes.filter((o) => o.kind === 'result').map(result);
      assert.equal(avg.length, 7);
      plain.splice(5, 2);
      const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
      avg.forEach((r, i) => near(r.rul!.raw_value!, plain[i]));
      near(avg[0].rul!.value, plain[0]);
      near(avg[1].rul!.value, (plain[0] - 1 + plain[1]) / 2);
      near(avg[2].rul!.value, (plain[0] - 2 + plain[1] - 1 + plain[2]) / 3);
      // age 5: age 2 is 3 steps back and out, age 3 aged by 2
      near(avg[3].rul!.value, (plain[2] - 2 + plain[3]) / 2);
      // age 8: nothing within 3 steps
      near(avg[4].rul!.value, plain[4]);
      // age 3 of the new life, its first prediction: its own, then it averages again
      near(avg[5].rul!.value, plain[5]);
      near(avg[6].rul!.value, (plain[5] - 1 + plain[6]) / 2);
      // the alarm score follows the reported (averaged) RUL
      for (const r of avg) near(r.score, 40 / r.rul!.value);
    });

    it('rul_average without an age feature counts scored points; a bundle without rul_average reports each prediction', async () => {
      const root = tmpRoot();
      const { rows, model, meta } = linearRulFixture(7);
      await writeBundle(path.join(root, 'plain', 'any', 'v1'), linearRulToOnnx(model), meta);
      await writeBundle(path.join(root, 'avg', 'any', 'v1'), linearRulToOnnx(model), { ...meta, rul_average: 2 });
      const s = make({ root });
      await s.load();
      const plain: Array<Extract<ScoreOutcome, { kind: 'result' }>> = [];
      const avg: number[] = [];
      for (const r of rows.slice(0, 6)) {
        const a = await s.score(req('d1', 'plain', fieldsOf(r)));
        const b = await s.score(req('d2', 'avg', fieldsOf(r)));
        if (a.kind === 'warming') continue;
        plain.push(result(a));
        avg.push(result(b).rul!.value);
      }
      assert.equal(plain.length, 4);
      assert.ok(plain.every((r) => r.rul!.raw_value === undefined));
      for (let i = 1; i < 4; i++) {
        const want = (plain[i - 1].rul!.value - 1 + plain[i].rul!.value) / 2;
        assert.ok(Math.abs(avg[i] - want) < 1e-9, `${avg[i]} vs ${want}`);
      }
    });
  });
});

/**
 * A linear RUL model over 3-row windows of synthetic rows (the target follows one feature of the last row),
 * and the meta of its bundle: kind rul over a 3-row sequence window, no threshold.
 */
function linearRulFixture(seed: number) {
  const rows = normalRows(120, seed);
  const scaler = fitScaler(rows);
  const win = makeWindows(rows, 3, scaler);
  const targets = Array.from({ length: win.count }, (_, w) => 50 + 10 * win.data[w * 9 + 6]);
  const meta = {
    schema_version: 1 as const,
    kind: 'rul' as const,
    features: FEATURES,
    window: 3,
    input: { name: 'x', layout: 'sequence' as const },
    outputs: { rul: 'rul' },
    scaler,
  };
  return { rows, scaler, win, model: fitLinearRul(win.data, win.count, targets, 3, 3), meta };
}

function writeCsv(dir: string): string {
  const file = path.join(dir, 'normal.csv');
  fs.writeFileSync(
    file,
    toCsv(
      ['datetime', ...FEATURES, 'anomaly'],
      normalRows(200, 2).map((r, i) => [`2026-01-01 00:00:${i}`, ...r, 0])
    )
  );
  return file;
}

describe('anomaly-onnx BundleScorer start-up', () => {
  it('requests made while the first load() runs wait for it instead of failing with no_model', async () => {
    const root = tmpRoot();
    writeMeanBundle(root, 'eq', 'p', 'v1', 4);
    const s = new BundleScorer({ root, batchWaitMs: 0 });
    try {
      const loading = s.load();
      const r = await s.score(req('a', 'eq'));
      assert.equal(result(r).score, 4);
      await loading;
    } finally {
      await s.close();
    }
  });
});

describe('anomaly-onnx BundleScorer per-device state: export and restore', () => {
  const make = scorerFactory();

  /** A mean bundle (window 3) with a scaler, a persistence median of 3 and a fast centre drift. */
  function driftBundle(root: string, version = 'v1', patch: Record<string, unknown> = {}): string {
    const dir = writeMeanBundle(root, 'eq', 'p', version, 1, 3);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    Object.assign(meta, {
      scaler: { mean: [0, 0, 0], std: [1, 1, 1] },
      persistence: 3,
      center_drift: 0.5,
      threshold: 1,
      ...patch,
    });
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
    return dir;
  }
  const at = (key: string, v: number, t: number) => ({
    key,
    equipmentId: 'eq',
    fields: { vib: v, temp: v + 0.5, current: v - 0.25 },
    timestamp: t,
  });
  /** The saved document as a context store would hand it back (a JSON string). */
  const saved = (s: BundleScorer) => parseSavedStates(JSON.stringify(Object.fromEntries(s.entries())));

  it('round trip: a restored scorer holds the same states and scores the next points exactly like the original', async () => {
    const root = tmpRoot();
    driftBundle(root);
    const a = make({ root });
    await a.load();
    // d1 drifts slowly upward (its centre follows); d2 is still warming
    for (let i = 0; i < 12; i++) await a.score(at('d1', 0.1 * i, 1000 + i));
    await a.score(at('d2', 3, 5000));
    const before = a.exportDocument(7);
    assert.equal(before.format, ONNX_STATE_FORMAT);
    assert.equal(before.exported_at, 7);
    const d1 = before.devices.d1;
    assert.equal(d1.bundle, 'eq/p/v1');
    assert.equal(Buffer.from(d1.rows, 'base64').length, 9 * 4, 'a full window of 3 rows × 3 features');
    assert.equal(d1.scores!.length, 3);
    assert.ok(d1.center![0] > 0.5, `the centre followed the drift: ${d1.center}`);
    assert.equal(Buffer.from(before.devices.d2.rows, 'base64').length, 3 * 4);
    assert.equal(before.devices.d2.t, 5000);

    const b = make({ root });
    await b.load();
    assert.deepEqual(await b.restore(saved(a).entries), { restored: 2, mismatched: 0, invalid: 0, evicted: 0 });
    assert.deepEqual(b.exportDocument(7), before);
    for (let i = 12; i < 16; i++) {
      const ra = result(await a.score(at('d1', 0.1 * i, 1000 + i)));
      const rb = result(await b.score(at('d1', 0.1 * i, 1000 + i)));
      assert.deepEqual(rb, ra, `point ${i}`);
    }
    // d2 goes on warming from where it was
    assert.deepEqual(await b.score(at('d2', 3, 5001)), { kind: 'warming', have: 2, need: 3 });
  });

  it('drops (and counts) states whose bundle is gone or changed its features, scaler or window', async () => {
    const root = tmpRoot();
    driftBundle(root);
    const a = make({ root });
    await a.load();
    for (const k of ['ok', 'gone', 'features', 'scaler', 'window']) await a.score(at(k, 1, 1));
    const doc = JSON.parse(JSON.stringify(a.exportDocument()));
    doc.devices.gone.bundle = 'eq/p/v9';
    doc.devices.features.features = ['vib', 'current', 'temp'];
    doc.devices.scaler.scaler = { mean: [0, 0, 1], std: [1, 1, 1] };
    doc.devices.window.window = 4;
    const b = make({ root });
    await b.load();
    const r = await b.restore(Object.entries(doc.devices).map(([k, v]) => [k, parseSavedDevice(v)]));
    assert.deepEqual(r, { restored: 1, mismatched: 4, invalid: 0, evicted: 0 });
    assert.deepEqual(
      [...b.entries()].map(([k]) => k),
      ['ok']
    );
    assert.deepEqual(await b.score(at('ok', 1, 2)), { kind: 'warming', have: 2, need: 3 });

    // a bundle re-trained in place with another scaler: the stored windows are not for it
    const c = make({ root });
    driftBundle(root, 'v1', { scaler: { mean: [1, 1, 1], std: [2, 2, 2] } });
    await c.load();
    assert.equal((await c.restore(saved(a).entries)).mismatched, 5);
    assert.equal(c.deviceCount, 0);
  });

  it('counts entries that are not states as invalid and keeps the rest', async () => {
    const root = tmpRoot();
    driftBundle(root);
    const a = make({ root });
    await a.load();
    await a.score(at('ok', 1, 1));
    const good = JSON.parse(JSON.stringify(a.exportDocument().devices.ok));
    const b = make({ root });
    await b.load();
    const r = await b.restore(
      parseSavedStates({
        ok: good,
        bad: { ...good, rows: [1, 2] },
        worse: 'x',
        nan: { ...good, rows: 'AADAfw==AADAfw==' },
      }).entries
    );
    assert.deepEqual(r, { restored: 1, mismatched: 0, invalid: 3, evicted: 0 });
  });

  // Three saved states restored into a scorer with room for two, bound by count or by bytes: both keep the
  // most recently active and count the rest as evictions. `per` is what one state of this bundle costs.
  const roomForTwo: Array<[string, (per: number) => { maxDevices: number; maxStateBytes?: number }]> = [
    ['maxDevices', () => ({ maxDevices: 2 })],
    // room for two states by bytes, while maxDevices would allow a hundred
    ['the byte budget', (per) => ({ maxDevices: 100, maxStateBytes: 2 * per + per / 2 })],
  ];
  for (const [bound, room] of roomForTwo)
    it(`restores at most ${bound} allows, keeping the most recently active (counted as evictions)`, async () => {
      const root = tmpRoot();
      driftBundle(root);
      const a = make({ root });
      await a.load();
      for (const k of ['old', 'mid', 'new']) await a.score(at(k, 1, 1));
      const per = a.stateBytes / 3;
      const b = make({ root, ...room(per) });
      await b.load();
      await b.score(at('live', 1, 1));
      assert.deepEqual(await b.restore(saved(a).entries), { restored: 2, mismatched: 0, invalid: 0, evicted: 2 });
      assert.deepEqual(
        [...b.entries()].map(([k]) => k),
        ['mid', 'new']
      );
      assert.equal(b.stats.evicted, 2);
      assert.equal(b.deviceCount, 2);
      assert.equal(b.stateBytes, 2 * per);
    });

  describe('the RUL averaging history (rul_average > 1)', () => {
    /** Two copies of one linear RUL model, averaging over 3 steps: by the age feature "current", and by count. */
    async function rulBundles(root: string, patch: Record<string, unknown> = {}) {
      const fixture = linearRulFixture(8);
      const { rows, model } = fixture;
      const meta = { ...fixture.meta, threshold: 40, rul_average: 3, ...patch };
      await writeBundle(path.join(root, 'aged', 'p', 'v1'), linearRulToOnnx(model), {
        ...meta,
        rul_age_feature: 'current',
      });
      await writeBundle(path.join(root, 'counted', 'p', 'v1'), linearRulToOnnx(model), meta);
      // the device's age: cycle 10 on, one per point, with a gap of one after the fifth
      return (i: number, key: string, equipmentId: string) => ({
        key,
        equipmentId,
        fields: { ...fieldsOf(rows[i]), current: 10 + i + (i > 4 ? 1 : 0) },
        timestamp: 1000 + i,
      });
    }

    it("is saved and restored: the next averaged values are the uninterrupted scorer's", async () => {
      const root = tmpRoot();
      const point = await rulBundles(root);
      const a = make({ root });
      await a.load();
      for (let i = 0; i < 6; i++) for (const eq of ['aged', 'counted']) await a.score(point(i, `${eq}-d`, eq));
      const before = a.exportDocument(7);
      assert.equal(before.v, 3);
      const aged = before.devices['aged-d'].rul!;
      assert.equal(aged.k, 3);
      // ages 14 and 16 (15 skipped): two predictions within the last 3 steps
      assert.deepEqual(aged.ages, [14, 16]);
      assert.deepEqual(before.devices['counted-d'].rul!.ages, [2, 3, 4]);
      // through the context store (a JSON string) and through topic "load" (the export document)
      const b = make({ root });
      await b.load();
      assert.deepEqual(await b.restore(saved(a).entries), { restored: 2, mismatched: 0, invalid: 0, evicted: 0 });
      assert.deepEqual(b.exportDocument(7), before);
      const wire = JSON.parse(JSON.stringify(before)) as typeof before;
      const c = make({ root });
      await c.load();
      const r = await c.restore(Object.entries(wire.devices).map(([k, v]) => [k, parseSavedDevice(v)]));
      assert.equal(r.restored, 2);
      for (let i = 6; i < 10; i++)
        for (const eq of ['aged', 'counted']) {
          const want = result(await a.score(point(i, `${eq}-d`, eq)));
          assert.ok(want.rul!.value !== want.rul!.raw_value, 'the value is an average');
          assert.deepEqual(result(await b.score(point(i, `${eq}-d`, eq))), want, `${eq}, point ${i}`);
          assert.deepEqual(result(await c.score(point(i, `${eq}-d`, eq))), want, `${eq}, point ${i}, loaded`);
        }
    });

    it('an entry saved without it (version 1) loads with an empty history; another k drops it', async () => {
      const root = tmpRoot();
      const point = await rulBundles(root);
      const a = make({ root });
      await a.load();
      for (let i = 0; i < 6; i++) await a.score(point(i, 'd', 'aged'));
      const { rul: _rul, ...v1 } = JSON.parse(JSON.stringify(a.exportDocument().devices.d));
      const b = make({ root });
      await b.load();
      assert.deepEqual(await b.restore([['d', parseSavedDevice(v1)]]), {
        restored: 1,
        mismatched: 0,
        invalid: 0,
        evicted: 0,
      });
      // the window is back (no warm-up), the average starts afresh: the first value is the prediction alone
      const first = result(await b.score(point(6, 'd', 'aged')));
      assert.equal(first.rul!.value, first.rul!.raw_value);
      // the same bundle averaging over 4 steps now: the history kept for 3 is not taken
      const root4 = tmpRoot();
      await rulBundles(root4, { rul_average: 4 });
      const c = make({ root: root4 });
      await c.load();
      assert.equal((await c.restore(saved(a).entries)).restored, 1);
      assert.equal(c.exportDocument().devices.d.rul, undefined);
      const again = result(await c.score(point(6, 'd', 'aged')));
      assert.equal(again.rul!.value, again.rul!.raw_value);
    });

    it('a save taken while the window is being scored does not keep the history from before the point', async () => {
      const root = tmpRoot();
      const point = await rulBundles(root);
      // the node's incremental save: an entry's text is reused until the scorer marks the state changed
      const doc = new StateDocument<object>();
      const a = make({ root, changed: (state) => doc.changed(state) });
      await a.load();
      for (let i = 0; i < 5; i++) await a.score(point(i, 'd', 'aged'));
      const scoring = a.score(point(5, 'd', 'aged'));
      const during = JSON.parse(doc.document(a.entries())).d.rul;
      assert.deepEqual(during.ages, [12, 13, 14], 'the point is not averaged in yet');
      result(await scoring);
      assert.deepEqual(JSON.parse(doc.document(a.entries())).d.rul.ages, [14, 16]);
    });

    it('an unusable history makes the entry invalid, also when it did not come through parseSavedDevice', async () => {
      const root = tmpRoot();
      const point = await rulBundles(root);
      const a = make({ root });
      await a.load();
      for (let i = 0; i < 6; i++) await a.score(point(i, 'd', 'aged'));
      const good = JSON.parse(JSON.stringify(a.exportDocument().devices.d));
      const bad = { ...good, rul: { k: 3, ages: [10, 20], preds: [1, 2] } };
      assert.match(parseSavedDevice(bad) as string, /^rul\.ages must span fewer than 3 steps/);
      const b = make({ root });
      await b.load();
      assert.deepEqual(
        await b.restore([
          ['d', bad],
          ['e', good],
        ]),
        { restored: 1, mismatched: 0, invalid: 1, evicted: 0 }
      );
    });
  });

  it('restore waits for the first bundle scan', async () => {
    const root = tmpRoot();
    driftBundle(root);
    const a = make({ root });
    await a.load();
    await a.score(at('d', 1, 1));
    const b = make({ root });
    const loading = b.load();
    assert.equal((await b.restore(saved(a).entries)).restored, 1);
    await loading;
  });
});

describe("anomaly-onnx BundleScorer: a device's own baseline (meta.baseline_cycles)", () => {
  const make = scorerFactory();
  const SCALER = { mean: [1, 2, 0], std: [2, 4, 1] };

  /**
   * A RUL bundle over FEATURES (window 2, scored from the first row) whose output reads only its second
   * input: rul = 100 + base[0] + 10·base[1], base = the scaled means of vib and temp over the device's first
   * 3 rows. With `age`, "current" is the device's age and not part of the baseline.
   */
  function baseBundle(root: string, eq: string, age: boolean): void {
    const g = new OnnxGraphBuilder('base_probe');
    const nB = age ? 2 : 3;
    const x = g.input('x', ['batch', 2, 3]);
    const base = g.input('base', ['batch', nB]);
    const fromX = g.op('MatMul', [
      g.op('Flatten', [x], undefined, { axis: 1 }),
      g.constant('zero', new Array(6).fill(0), [6]),
    ]);
    const fromBase = g.op('MatMul', [base, g.constant('w', age ? [1, 10] : [1, 10, 0], [nB])]);
    g.op('Add', [g.op('Add', [fromX, fromBase]), g.constant('b', [100], [])], 'rul');
    g.output('rul', ['batch']);
    writeRawBundle(path.join(root, eq, 'p', 'v1'), g.toBytes(), {
      kind: 'rul',
      window: 2,
      min_history: 1,
      input: { name: 'x', layout: 'sequence' },
      outputs: { rul: 'rul' },
      scaler: SCALER,
      baseline_cycles: 3,
      baseline_input: 'base',
      ...(age ? { rul_age_feature: 'current' } : {}),
    });
  }
  const row = (i: number) => ({ vib: 1 + i, temp: 2 + 3 * i });
  /** what the probe outputs for a baseline over rows `is` */
  const expected = (is: number[]) => {
    const m = (f: 'vib' | 'temp') => is.reduce((a, i) => a + row(i)[f], 0) / is.length;
    return 100 + (m('vib') - 1) / 2 + (10 * (m('temp') - 2)) / 4;
  };
  const point = (key: string, eq: string, i: number, age: number, t = 1000 + i) => ({
    key,
    equipmentId: eq,
    fields: { ...row(i), current: age },
    timestamp: t,
  });

  it('with an age feature: rows of age ≤ B form the baseline; no RUL until it is complete; a device first seen mid-life is refused no_baseline until its age restarts', async () => {
    const root = tmpRoot();
    baseBundle(root, 'aged', true);
    const s = make({ root });
    assert.deepEqual((await s.load()).refused, []);
    assert.deepEqual(await s.score(point('d1', 'aged', 0, 1)), { kind: 'warming', have: 1, need: 3 });
    assert.deepEqual(await s.score(point('d1', 'aged', 1, 2)), { kind: 'warming', have: 2, need: 3 });
    const third = result(await s.score(point('d1', 'aged', 2, 3)));
    assert.ok(Math.abs(third.rul!.value - expected([0, 1, 2])) < 1e-4, `${third.rul!.value}`);
    // later rows do not move it
    const later = result(await s.score(point('d1', 'aged', 9, 4)));
    assert.equal(later.rul!.value, third.rul!.value);
    // first seen at age 5: its first 3 rows were never seen
    const mid = await s.score(point('d2', 'aged', 4, 5));
    assert.equal(mid.kind, 'reject');
    assert.equal((mid as { code: string }).code, 'no_baseline');
    assert.match((mid as { reason: string }).reason, /first 3 rows \(current ≤ 3\); it has 0 of them/);
    // seen from age 2: rows 2 and 3 only, never complete; a redelivered row of age 3 is not counted twice
    await s.score(point('d3', 'aged', 0, 2));
    for (let n = 0; n < 2; n++) {
      const r = await s.score(point('d3', 'aged', 1, 3));
      assert.equal((r as { code: string }).code, 'no_baseline', JSON.stringify(r));
      assert.match((r as { reason: string }).reason, /it has 2 of them/);
    }
    // the age goes back: a new life, whose first rows form a new baseline
    assert.deepEqual(await s.score(point('d2', 'aged', 5, 1)), { kind: 'warming', have: 1, need: 3 });
    await s.score(point('d2', 'aged', 6, 2));
    const renewed = result(await s.score(point('d2', 'aged', 7, 3)));
    assert.ok(Math.abs(renewed.rul!.value - expected([5, 6, 7])) < 1e-4);
  });

  it('keyed-device red team 2026-12-07: a late row is refused and changes nothing; a new life empties the window; a value the float32 graph cannot square is refused naming its field', async () => {
    const root = tmpRoot();
    baseBundle(root, 'aged', true);
    const s = make({ root });
    await s.load();
    const held = () => Buffer.from(s.exportDocument().devices.d.rows, 'base64').length / 4 / 3;
    for (let i = 0; i < 5; i++) await s.score(point('d', 'aged', i, i + 1));
    const before = result(await s.score(point('d', 'aged', 5, 6)));
    // age 5 after 6: a late or reordered row (before: taken as a new life, the complete baseline wiped for good)
    const late = await s.score(point('d', 'aged', 6, 5));
    assert.deepEqual(
      [late.kind, (late as { code: string }).code, (late as { field: string }).field],
      ['reject', 'out_of_order', 'current']
    );
    assert.match((late as { reason: string }).reason, /current 5 is behind the device's last 6/);
    const after = result(await s.score(point('d', 'aged', 7, 7)));
    assert.equal(after.rul!.value, before.rul!.value, 'the baseline survived');
    // 1e20 passes the magnitude bound of the statistical methods but not float32: refused, the window untouched
    const rowsBefore = held();
    const huge = await s.score({ ...point('d', 'aged', 8, 8), fields: { vib: 1e20, temp: 2, current: 8 } });
    assert.deepEqual([huge.kind, (huge as { field: string }).field], ['reject', 'vib']);
    assert.match((huge as { reason: string }).reason, /more than 1000000 of its training spread/);
    assert.equal(held(), rowsBefore);
    assert.equal(result(await s.score(point('d', 'aged', 9, 9))).rul!.value, before.rul!.value);
    // back to age 1: a new life; nothing of the old one is kept (before: the window kept the old rows and the
    // new life got RULs from them, -32 cycles at cycle 20)
    assert.deepEqual(await s.score(point('d', 'aged', 10, 1)), { kind: 'warming', have: 1, need: 3 });
    assert.equal(held(), 1, "only the new life's row");
    // a drop of more than the tolerance above the baseline's ages is a new life too (first seen mid-life)
    for (let a = 2; a <= 30; a++) await s.score(point('d', 'aged', a, a));
    const dropped = await s.score(point('d', 'aged', 0, 30 - LATE_AGE_TOLERANCE - 1));
    assert.equal((dropped as { code: string }).code, 'no_baseline');
    assert.equal(held(), 1);
  });

  it('without an age feature the first B rows seen form the baseline (every feature)', async () => {
    const root = tmpRoot();
    baseBundle(root, 'plain', false);
    const s = make({ root });
    await s.load();
    assert.equal((await s.score(point('d', 'plain', 4, 50))).kind, 'warming');
    assert.equal((await s.score(point('d', 'plain', 5, 60))).kind, 'warming');
    const r = result(await s.score(point('d', 'plain', 6, 70)));
    assert.ok(Math.abs(r.rul!.value - expected([4, 5, 6])) < 1e-4);
    assert.equal(result(await s.score(point('d', 'plain', 0, 1))).rul!.value, r.rul!.value);
  });

  it('is evicted with the window, and kept across a gap that starts a fresh window (maxDevices, maxGapMs)', async () => {
    const root = tmpRoot();
    baseBundle(root, 'aged', true);
    const s = make({ root, maxDevices: 1, maxGapMs: 1000 });
    await s.load();
    for (let i = 0; i < 3; i++) await s.score(point('d1', 'aged', i, i + 1));
    assert.equal((await s.score(point('d1', 'aged', 3, 4))).kind, 'result');
    await s.score(point('d2', 'aged', 0, 1));
    assert.equal(s.stats.evicted, 1);
    assert.equal(((await s.score(point('d1', 'aged', 4, 5))) as { code: string }).code, 'no_baseline');
    // a point after a gap starts a fresh window but keeps the device's baseline: its first rows are still its
    // first rows (before: refused no_baseline for the rest of its life)
    for (let i = 0; i < 3; i++) await s.score(point('d3', 'aged', i, i + 1, 5000 + i));
    const before = result(await s.score(point('d3', 'aged', 3, 4, 5003)));
    const afterGap = result(await s.score(point('d3', 'aged', 4, 5, 9000)));
    assert.equal(afterGap.rul!.value, before.rul!.value);
    assert.ok(Math.abs(afterGap.rul!.value - expected([0, 1, 2])) < 1e-4);
  });

  it('is saved and restored (version 3); an entry saved without it (older versions) loads with none; another B drops it', async () => {
    const root = tmpRoot();
    baseBundle(root, 'aged', true);
    const a = make({ root });
    await a.load();
    for (let i = 0; i < 4; i++) await a.score(point('d', 'aged', i, i + 1));
    await a.score(point('w', 'aged', 0, 1));
    const doc = a.exportDocument(7);
    assert.equal(doc.v, 3);
    assert.deepEqual(doc.devices.d.base, { cycles: 3, count: 3, sum: [1 + 2 + 3, 2 + 5 + 8], age: 4 });
    assert.deepEqual(doc.devices.w.base, { cycles: 3, count: 1, sum: [1, 2], age: 1 });
    const wire = JSON.parse(JSON.stringify(doc)) as typeof doc;
    const b = make({ root });
    await b.load();
    const entries = Object.entries(wire.devices).map(([k, v]) => [k, parseSavedDevice(v)] as [string, SavedDevice]);
    assert.deepEqual(await b.restore(entries), { restored: 2, mismatched: 0, invalid: 0, evicted: 0 });
    assert.deepEqual(b.exportDocument(7), doc);
    for (const [key, i, age] of [
      ['d', 4, 5],
      ['w', 1, 2],
      ['w', 2, 3],
    ] as const)
      assert.deepEqual(await b.score(point(key, 'aged', i, age)), await a.score(point(key, 'aged', i, age)));
    // saved before version 3: no baseline, so a device past age B gets none; one still young collects it
    const old = Object.entries(wire.devices).map(([k, v]) => {
      const { base: _base, ...rest } = v;
      return [k, parseSavedDevice(rest)] as [string, SavedDevice];
    });
    const c = make({ root });
    await c.load();
    assert.equal((await c.restore(old)).restored, 2);
    assert.equal(((await c.score(point('d', 'aged', 4, 5))) as { code: string }).code, 'no_baseline');
    assert.deepEqual(await c.score(point('w', 'aged', 1, 2)), { kind: 'warming', have: 1, need: 3 });
    // kept for another B: dropped, the device collects afresh
    const other = Object.entries(wire.devices).map(([k, v]) => {
      return [k, parseSavedDevice({ ...v, base: { ...v.base!, cycles: 4 } })] as [string, SavedDevice];
    });
    const e = make({ root });
    await e.load();
    assert.equal((await e.restore(other)).restored, 2);
    assert.equal(((await e.score(point('d', 'aged', 4, 5))) as { code: string }).code, 'no_baseline');
    // handed to restore() without parseSavedDevice: a non-finite sum is not taken
    const f = make({ root });
    await f.load();
    assert.equal(
      (await f.restore([['d', { ...wire.devices.d, base: { cycles: 3, count: 3, sum: [NaN, 1] } }]])).restored,
      1
    );
    assert.equal(f.exportDocument().devices.d.base, undefined);
    // a malformed baseline makes the entry invalid
    assert.match(
      parseSavedDevice({ ...wire.devices.d, base: { cycles: 3, count: 4, sum: [1, 2] } }) as string,
      /^base must be/
    );
  });

  it('refuses a bundle whose baseline_input is not a model input, or baseline_cycles without it', async () => {
    const root = tmpRoot();
    baseBundle(root, 'aged', true);
    const dir = path.join(root, 'aged', 'p', 'v1');
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, baseline_input: 'nope' }));
    const s = make({ root });
    const r = await s.load();
    assert.match(r.refused[0].reason, /baseline_input "nope" is not an input of the model \(inputs: x, base\)/);
    const { baseline_input: _bi, ...noInput } = meta;
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(noInput));
    assert.match((await s.load()).refused[0].reason, /baseline_cycles and baseline_input go together/);
  });
});
