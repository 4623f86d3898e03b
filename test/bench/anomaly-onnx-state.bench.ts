// What saving and restoring the ONNX scorer's per-device state costs (moby-anomaly, method onnx), for a
// conv-autoencoder-sized window (32 steps × 8 features, persistence 5, center_drift) and 10k devices, against
// baselines from the same run: one tick of scoring every device once (what the state follows), and a save
// that reuses every kept entry. The model is a trivial mean graph, so the scoring baseline is the scorer's
// own overhead plus a minimal session.run, not a conv net.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BundleScorer } from '../../nodes/core/anomaly/onnx/bundle-scorer';
import { parseSavedStates } from '../../nodes/core/anomaly/onnx/saved-state';
import { StateDocument } from '../../nodes/core/anomaly/state-document';
import { mulberry32 } from '../../nodes/core/prng';
import { meanModel } from '../support/anomaly-onnx-fixtures';
import { fmt } from './lib';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10000);
const WINDOW = 32;
const F = 8;
const FEATURES = Array.from({ length: F }, (_, i) => `f${i}`);

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-onnx-state-bench-'));
  const dir = path.join(root, 'eq', 'p', 'v1');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.onnx'), meanModel(WINDOW, F, 1));
  fs.writeFileSync(
    path.join(dir, 'meta.json'),
    JSON.stringify({
      schema_version: 1,
      kind: 'score',
      features: FEATURES,
      window: WINDOW,
      input: { name: 'x', layout: 'flat' },
      outputs: { score: 'score' },
      threshold: 100,
      scaler: { mean: new Array(F).fill(0), std: new Array(F).fill(1) },
      persistence: 5,
      center_drift: 0.01,
    })
  );
  const doc = new StateDocument<object>();
  const scorer = new BundleScorer({ root, batchMax: 256, batchWaitMs: 0, changed: (s) => doc.changed(s) });
  await scorer.load();
  const rand = mulberry32(3);
  let t = 0;
  const tick = async (devices: number) => {
    t++;
    const ps = [];
    for (let d = 0; d < devices; d++) {
      const fields: Record<string, number> = {};
      for (const f of FEATURES) fields[f] = rand() - 0.5;
      ps.push(scorer.score({ key: `dev-${d}`, equipmentId: 'eq', fields, timestamp: t }));
    }
    await Promise.all(ps);
  };
  const time = async (fn: () => unknown | Promise<unknown>): Promise<number> => {
    const s = performance.now();
    await fn();
    return performance.now() - s;
  };
  for (let s = 0; s < WINDOW + 5; s++) await tick(DEVICES);
  const tickMs = await time(() => tick(DEVICES));

  let text = '';
  const fullMs = await time(() => (text = doc.document(scorer.entries())));
  const reuseMs = await time(() => doc.document(scorer.entries()));
  await tick(Math.round(DEVICES / 100));
  const onePctMs = await time(() => doc.document(scorer.entries()));
  let slices = 0;
  const slicedMs = await time(() =>
    doc.documentInSlices(scorer.entries(), 4, () => new Promise((r) => setImmediate(() => (slices++, r()))))
  );

  const fresh = new BundleScorer({ root });
  await fresh.load();
  let restored = 0;
  const parseMs = await time(() => parseSavedStates(text));
  const restoreMs = await time(async () => {
    restored = (await fresh.restore(parseSavedStates(text).entries)).restored;
  });
  await scorer.close();
  await fresh.close();
  fs.rmSync(root, { recursive: true, force: true });

  const row = (name: string, ms: number) =>
    console.log(`  ${name.padEnd(58)} ${fmt(ms, 1).padStart(9)} ms  (${fmt(ms / tickMs, 2)}× one scoring tick)`);
  console.log(
    `${DEVICES} devices, window ${WINDOW} × ${F} features, persistence 5, center_drift; document ${fmt(text.length / 1048576, 1)} MB (${fmt(text.length / DEVICES)} B per device)`
  );
  console.log(`baseline: one scoring tick (every device scores one point, micro-batched): ${fmt(tickMs, 1)} ms`);
  row('save, every device serialised (after a tick: all changed)', fullMs);
  row('save, nothing changed (every entry reused)', reuseMs);
  row('save, 1 % of devices changed', onePctMs);
  row(`save in slices (all reused; ${slices} yields)`, slicedMs);
  row('read back: JSON.parse + shape checks', parseMs);
  row(`restore (parse + checks + rebuild ${restored} windows)`, restoreMs);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
