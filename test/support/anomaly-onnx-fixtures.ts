// Synthetic data and throwaway bundle roots for the ONNX bundle tests (no real data in the repo).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { mulberry32 } from '../../nodes/core/prng';
import { fitPca, type PcaModel } from '../../nodes/core/anomaly/pca';
import { pcaToOnnx } from '../../nodes/core/anomaly/train/pca-export';
import { writeBundle } from '../../nodes/core/anomaly/train/bundle-writer';
import { OnnxGraphBuilder } from '../../nodes/core/anomaly/train/onnx-builder';
import type { BundleMeta } from '../../nodes/core/anomaly/onnx/meta';
import { BundleScorer, type BundleScorerOptions } from '../../nodes/core/anomaly/onnx/bundle-scorer';
import { trainBundle, type TrainOptions } from '../../nodes/core/anomaly/train/train';

export const FEATURES = ['vib', 'temp', 'current'];

/** Correlated normal-operation rows: temp and current follow vib plus noise, with a slow cycle. */
export function normalRows(n: number, seed = 1): number[][] {
  const rand = mulberry32(seed);
  const gauss = () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const base = Math.sin(i / 7) + 0.3 * gauss();
    rows.push([1 + 0.5 * base, 60 + 4 * base + 0.5 * gauss(), 10 + 2 * base + 0.3 * gauss()]);
  }
  return rows;
}

export function toCsv(header: string[], rows: Array<Array<number | string>>, sep = ';'): string {
  return [header.join(sep), ...rows.map((r) => r.join(sep))].join('\n') + '\n';
}

export function tmpRoot(prefix = 'moby-onnx-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function fieldsOf(row: number[], names = FEATURES): Record<string, number> {
  const f: Record<string, number> = {};
  names.forEach((n, i) => (f[n] = row[i]));
  return f;
}

/** A PCA bundle fitted on normalRows(300, seed). */
export async function writePcaBundle(
  root: string,
  eq: string,
  power: string,
  version: string,
  seed = 1
): Promise<PcaModel> {
  const model = fitPca(normalRows(300, seed), { features: FEATURES });
  await writeBundle(path.join(root, eq, power, version), pcaToOnnx(model), {
    schema_version: 1,
    kind: 'pca',
    features: FEATURES,
    window: 1,
    input: { name: 'x', layout: 'flat' },
    outputs: { t2: 't2', q: 'q', contributions: 'contributions' },
    scaler: { mean: model.mean, std: model.std },
    t2_limit: model.t2Limit,
    q_limit: model.qLimit,
  });
  return model;
}

/**
 * A hand-built "score" model: score = mean of the standardised window times `gain`, so tests can tell
 * versions apart by their output. Window length and layout are parameters.
 */
export function meanModel(window: number, features: number, gain: number): Uint8Array {
  const g = new OnnxGraphBuilder('mean');
  const D = window * features;
  const x = g.input('x', ['batch', D]);
  g.op('MatMul', [x, g.constant('w', new Array(D).fill(gain / D), [D])], 'score');
  g.output('score', ['batch']);
  return g.toBytes();
}

export function meanMeta(window: number, threshold = 1): Omit<BundleMeta, 'equipment_id' | 'power' | 'version'> {
  return {
    schema_version: 1,
    kind: 'score',
    features: FEATURES,
    window,
    input: { name: 'x', layout: 'flat' },
    outputs: { score: 'score' },
    threshold,
  };
}

/** Writes a mean model bundle directly (no staging), as a file copy from elsewhere would. */
export function writeMeanBundle(
  root: string,
  eq: string,
  power: string,
  version: string,
  gain: number,
  window = 1
): string {
  return writeRawBundle(
    path.join(root, eq, power, version),
    meanModel(window, FEATURES.length, gain),
    meanMeta(window)
  );
}

/**
 * Writes a model and its meta.json straight into `dir` (no staging, no checks: also a bundle the scorer must
 * refuse). The meta is a one-step window over FEATURES fed as input "x" where `meta` does not say otherwise.
 */
export function writeRawBundle(dir: string, model: Uint8Array, meta: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.onnx'), model);
  const full = { schema_version: 1, features: FEATURES, window: 1, input: { name: 'x' }, ...meta };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(full));
  return dir;
}

/**
 * For a describe block: makes BundleScorers (no micro-batching wait unless `opts` gives one) and closes every
 * one it made after each test.
 */
export function scorerFactory(): (opts: BundleScorerOptions) => BundleScorer {
  const scorers: BundleScorer[] = [];
  afterEach(async () => {
    await Promise.all(scorers.splice(0).map((s) => s.close()));
  });
  return (opts) => {
    const s = new BundleScorer({ batchWaitMs: 0, ...opts });
    scorers.push(s);
    return s;
  };
}

/**
 * A synthetic C-MAPSS-format run-to-failure file (space-separated, 26 columns, no header): each engine's
 * sensors s2, s3, s4, s7 drift with wear (quadratic in the used share of its life), s1 and s5 are constant as
 * in FD001, the rest is noise. `lives` are the engines' lengths in cycles.
 */
export function syntheticCmapss(lives: number[], seed = 5): string {
  const rand = mulberry32(seed);
  const lines: string[] = [];
  lives.forEach((life, u) => {
    for (let c = 1; c <= life; c++) {
      const wear = (c / life) ** 2;
      const sensors = Array.from({ length: 21 }, (_, j) => {
        if (j === 0) return 518.67;
        if (j === 4) return 14.62;
        const drift = j === 1 || j === 2 || j === 3 || j === 6 ? (j % 2 ? 1 : -1) * 3 * wear : 0;
        return 100 + 10 * j + drift + 0.3 * (rand() - 0.5);
      });
      lines.push([u + 1, c, 0.001 * (rand() - 0.5), 0, 100, ...sensors.map((v) => v.toFixed(4))].join(' '));
    }
  });
  return lines.join('\n') + '\n';
}

/** |a − b| ≤ tol · max(1, |b|): absolute for O(1) values, relative for large ones (T², RUL in cycles). */
export function assertClose(actual: number, expected: number, what: string, tol = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

/** Runs an ONNX graph once through onnxruntime-node with input `x` and returns every output. */
export async function runOnnx(
  bytes: Uint8Array,
  input: Float32Array,
  dims: number[]
): Promise<Record<string, Float32Array>> {
  const session = await InferenceSession.create(bytes);
  try {
    const out = await session.run({ x: new Tensor('float32', input, dims) });
    const res: Record<string, Float32Array> = {};
    for (const name of session.outputNames) res[name] = (out[name] as Tensor).data as Float32Array;
    return res;
  } finally {
    await session.release();
  }
}

/** The synthetic C-MAPSS training file the RUL bundle tests share: six engines of 60–90 cycles. */
export function tinyCmapssFile(dir: string): string {
  const file = path.join(dir, 'train_FD.txt');
  fs.writeFileSync(file, syntheticCmapss([60, 80, 70, 90, 75, 65], 3));
  return file;
}

/**
 * A tiny C-MAPSS RUL bundle as moby-train writes it (window 10, 15 epochs, cap 40; training is deterministic),
 * with moby-train's other defaults unless `extra` overrides them (e.g. `baselineCycles: 0`, `rulAverage: 1`).
 */
export async function tinyRulBundle(csv: string, out: string, extra: Partial<TrainOptions> = {}): Promise<void> {
  await trainBundle({ method: 'rul', csv, out, window: 10, epochs: 15, cap: 40, threshold: 10, ...extra });
}
