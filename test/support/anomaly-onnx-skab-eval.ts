// Demo evaluation of moby-train bundles on SKAB valve1 (GPL data, read from outside the repository, never
// copied): per file, train on the first 400 rows, freeze the bundle, score the rest point-wise through the
// BundleScorer like the node does, pool the counts over the files.
//   npx ts-node --transpile-only test/support/anomaly-onnx-skab-eval.ts [pca|autoencoder] [window] [dir]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BundleScorer } from '../../nodes/core/anomaly/onnx/bundle-scorer';
import { parseCsv } from '../../nodes/core/anomaly/train/csv';
import { trainBundle } from '../../nodes/core/anomaly/train/train';

const TRAIN_ROWS = 400;

async function main(): Promise<void> {
  const method = (process.argv[2] ?? 'pca') as 'pca' | 'autoencoder';
  const window = Number(process.argv[3] ?? 10);
  const dir = process.argv[4] ?? path.resolve(__dirname, '../../../shared/data/skab/valve1');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-skab-'));
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const f of fs
    .readdirSync(dir)
    .filter((x) => x.endsWith('.csv'))
    .sort()) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const data = parseCsv(text, { file: f });
    const labels = parseCsv(text, { file: f, features: ['anomaly'] }).rows.map((r) => r[0] === 1);
    const train = path.join(work, `${f}.train.csv`);
    fs.writeFileSync(
      train,
      text
        .split('\n')
        .slice(0, TRAIN_ROWS + 1)
        .join('\n')
    );
    const root = path.join(work, f);
    await trainBundle({
      method,
      csv: train,
      out: path.join(root, 'valve', 'any', 'v1'),
      window: method === 'pca' ? undefined : window,
      epochs: 40,
      quantile: 0.99,
    });
    const scorer = new BundleScorer({ root, batchWaitMs: 0 });
    await scorer.load();
    for (let i = 0; i < data.rows.length; i++) {
      const fields: Record<string, number> = {};
      data.features.forEach((n, j) => (fields[n] = data.rows[i][j]));
      const r = await scorer.score({ key: 'valve', equipmentId: 'valve', fields, timestamp: i });
      if (i < TRAIN_ROWS || r.kind !== 'result') continue;
      const pred = r.score > r.threshold;
      if (pred && labels[i]) tp++;
      else if (pred) fp++;
      else if (labels[i]) fn++;
      else tn++;
    }
    await scorer.close();
  }
  fs.rmSync(work, { recursive: true, force: true });
  const precision = tp / (tp + fp);
  const recall = tp / (tp + fn);
  const f1 = (2 * precision * recall) / (precision + recall);
  console.log(
    `${method}${method === 'pca' ? '' : ` (window ${window})`}: F1 ${f1.toFixed(2)}, FAR ${((100 * fp) / (fp + tn)).toFixed(1)} %, MAR ${((100 * fn) / (fn + tp)).toFixed(1)} % over ${tp + fp + fn + tn} points`
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
