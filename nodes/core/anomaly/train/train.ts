// The moby-train pipeline without the CLI around it: read a CSV of normal operation, fit the method,
// export ONNX, write the bundle. Kept here so tests exercise exactly what the command does.
import fs from 'node:fs';
import { fitPca } from '../pca';
import type { BundleMeta } from '../onnx/meta';
import { autoencoderThreshold, autoencoderToOnnx, trainAutoencoder, AE_INPUT } from './autoencoder';
import { writeBundle } from './bundle-writer';
import { parseCsv } from './csv';
import { pcaToOnnx, PCA_INPUT } from './pca-export';
import { fitLinearRul, linearRulToOnnx, predictRul, RUL_INPUT } from './rul';
import { fitScaler, makeWindows } from './windows';

export type TrainMethod = 'pca' | 'autoencoder' | 'rul';

export interface TrainOptions {
  method: TrainMethod;
  csv: string;
  out: string;
  features?: string[];
  sep?: string;
  /** steps per window (autoencoder/rul; default 30; pca always 1) */
  window?: number;
  epochs?: number;
  /** rul: the target column */
  target?: string;
  /** autoencoder: quantile of training errors used as threshold (default 0.995) */
  quantile?: number;
  /** pca: false-alarm rate of the T²/Q limits (default 0.01) */
  alpha?: number;
  hidden?: number;
  bottleneck?: number;
  learningRate?: number;
  seed?: number;
  /** windows start every `stride` rows (default 1) */
  stride?: number;
  /** rul: unit of the target (default "steps") */
  unit?: string;
  /** rul: alarm when the predicted RUL drops below this */
  threshold?: number;
  force?: boolean;
  log?: (line: string) => void;
}

export interface TrainReport {
  dir: string;
  meta: BundleMeta;
  rows: number;
  windows: number;
}

export async function trainBundle(o: TrainOptions): Promise<TrainReport> {
  const log = o.log ?? (() => undefined);
  let text: string;
  try {
    text = fs.readFileSync(o.csv, 'utf8');
  } catch (err) {
    throw new Error(`--csv ${o.csv}: ${(err as Error).message}`);
  }
  const table = parseCsv(text, { sep: o.sep, features: o.features, target: o.method === 'rul' ? o.target : undefined, file: o.csv });
  if (o.method === 'rul' && !o.target) throw new Error('--method rul needs --target <column>');
  for (const d of table.dropped) log(`dropped column "${d.column}": ${d.reason}`);
  log(`${table.rows.length} rows, features: ${table.features.join(', ')}`);
  const created_at = new Date().toISOString();
  const F = table.features.length;
  if (o.method === 'pca') {
    if (o.window !== undefined && o.window !== 1) throw new Error('--method pca scores single samples: --window must be 1 or omitted');
    const model = fitPca(table.rows, { features: table.features, alpha: o.alpha });
    log(`PCA: ${model.components.length} of ${F} components, T² limit ${model.t2Limit.toPrecision(4)}, Q limit ${model.qLimit.toPrecision(4)}`);
    const meta = await writeBundle(
      o.out,
      pcaToOnnx(model),
      {
        schema_version: 1,
        kind: 'pca',
        method: 'pca',
        created_at,
        features: table.features,
        window: 1,
        input: { name: PCA_INPUT, layout: 'flat' },
        outputs: { t2: 't2', q: 'q', contributions: 'contributions' },
        scaler: { mean: model.mean, std: model.std },
        t2_limit: model.t2Limit,
        q_limit: model.qLimit,
        threshold: 1,
        training: { rows: table.rows.length, components: model.components.length, eigenvalues: model.eigenvalues },
      },
      { force: o.force },
    );
    return { dir: o.out, meta, rows: table.rows.length, windows: table.rows.length };
  }
  const window = o.window ?? 30;
  if (!Number.isInteger(window) || window < 1) throw new Error(`--window must be a positive integer, got ${window}`);
  const scaler = fitScaler(table.rows);
  const win = makeWindows(table.rows, window, scaler, o.stride ?? 1);
  log(`${win.count} windows of ${window} steps`);
  if (o.method === 'autoencoder') {
    const model = trainAutoencoder(win.data, win.count, window, F, {
      epochs: o.epochs,
      hidden: o.hidden,
      bottleneck: o.bottleneck,
      learningRate: o.learningRate,
      seed: o.seed,
      onEpoch: (e, loss) => log(`epoch ${e}: loss ${loss.toPrecision(4)}`),
    });
    const q = o.quantile ?? 0.995;
    const { threshold } = autoencoderThreshold(model, win.data, win.count, q);
    log(`threshold (q${q}) ${threshold.toPrecision(4)}`);
    const meta = await writeBundle(
      o.out,
      autoencoderToOnnx(model),
      {
        schema_version: 1,
        kind: 'reconstruction',
        method: 'autoencoder',
        created_at,
        features: table.features,
        window,
        input: { name: AE_INPUT, layout: 'flat' },
        outputs: { reconstruction: 'reconstruction', score: 'score', contributions: 'contributions' },
        scaler,
        threshold,
        training: { rows: table.rows.length, windows: win.count, layers: model.layers.map((l) => l.outputs), epochs: o.epochs ?? 30, quantile: q },
      },
      { force: o.force },
    );
    return { dir: o.out, meta, rows: table.rows.length, windows: win.count };
  }
  if (o.method === 'rul') {
    const targets = win.ends.map((e) => table.target![e]);
    const model = fitLinearRul(win.data, win.count, targets, window, F);
    let se = 0;
    for (let w = 0; w < win.count; w++) se += (predictRul(model, win.data.subarray(w * window * F, (w + 1) * window * F)) - targets[w]) ** 2;
    const rmse = Math.sqrt(se / win.count);
    log(`RUL linear fit: training RMSE ${rmse.toPrecision(4)} ${o.unit ?? 'steps'}`);
    const meta = await writeBundle(
      o.out,
      linearRulToOnnx(model),
      {
        schema_version: 1,
        kind: 'rul',
        method: 'rul-linear',
        created_at,
        features: table.features,
        window,
        input: { name: RUL_INPUT, layout: 'sequence' },
        outputs: { rul: 'rul' },
        scaler,
        rul_unit: o.unit ?? 'steps',
        ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
        training: { rows: table.rows.length, windows: win.count, target: o.target, rmse },
      },
      { force: o.force },
    );
    return { dir: o.out, meta, rows: table.rows.length, windows: win.count };
  }
  throw new Error(`--method must be pca, autoencoder or rul, got "${String(o.method)}"`);
}
