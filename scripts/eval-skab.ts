// SKAB evaluation (Skoltech Anomaly Benchmark, outlier protocol): per CSV file, the first 400 rows calibrate
// a fresh detector and the rest are scored; point-wise F1, FAR and MAR pooled over all scored rows of all
// files. Runs the same core (detector.step with defaultsFor(method)) the moby-anomaly node runs, with the same
// settings on every file.
//
//   npm run eval:skab -- [--data <dir>] [--json] [--methods l2,ewma,pca,onnx-autoencoder] [--set key=value ...]
//
// --data defaults to ../shared/data/skab when it exists; every *.csv below it with an "anomaly" column is scored
// for F1/FAR/MAR; unlabelled ones (anomaly-free.csv) are cut into file-sized pieces and give a separate FAR.
import fs from 'node:fs';
import path from 'node:path';
import { parseCsv } from '../nodes/core/anomaly/train/csv';
import { DEFAULT_CONFIG, defaultsFor, DetectorConfig, newState, step, StatMethod, STAT_METHODS } from '../nodes/core/anomaly/detector';

/** the SKAB outlier protocol calibrates on each file's first 400 rows, whatever the node's own default is */
export const SKAB_TRAIN_ROWS = 400;

interface Labelled {
  file: string;
  features: string[];
  rows: number[][];
  labels: number[];
}

export interface Metrics {
  f1: number;
  far: number;
  mar: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

function listCsv(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listCsv(p));
    else if (e.name.endsWith('.csv')) out.push(p);
  }
  return out.sort();
}

/**
 * Reads a SKAB CSV (;-separated, datetime first, then sensors, then anomaly/changepoint). Files without an
 * anomaly column (anomaly-free.csv) come back with every label 0 and `unlabelled` set.
 */
export function readSkab(file: string): Labelled & { unlabelled: boolean } {
  const text = fs.readFileSync(file, 'utf8');
  const header = text.slice(0, text.indexOf('\n')).split(';').map((h) => h.trim());
  const unlabelled = !header.includes('anomaly');
  // the trainer's reader: drops the datetime and changepoint columns, reads the label as its target
  const t = parseCsv(text, { file, sep: ';', target: unlabelled ? undefined : 'anomaly' });
  const labels = unlabelled ? new Array<number>(t.rows.length).fill(0) : t.target!.map((v) => (v > 0 ? 1 : 0));
  return { file, features: t.features, rows: t.rows, labels, unlabelled };
}

/**
 * An anomaly-free recording cut into consecutive pieces as long as a typical labelled file, so the same
 * protocol (calibrate on 400 rows, score the rest) measures the false-alarm rate on data known to be normal.
 */
export function chunk(f: Labelled, length: number): Labelled[] {
  const out: Labelled[] = [];
  for (let start = 0; start + length <= f.rows.length; start += length) {
    out.push({ ...f, file: `${f.file}#${start}`, rows: f.rows.slice(start, start + length), labels: f.labels.slice(start, start + length) });
  }
  return out;
}

export function metrics(tp: number, fp: number, fn: number, tn: number): Metrics {
  const f1 = tp + (fn + fp) / 2 > 0 ? tp / (tp + (fn + fp) / 2) : 0;
  return { f1, far: fp + tn ? (100 * fp) / (fp + tn) : 0, mar: fn + tp ? (100 * fn) / (fn + tp) : 0, tp, fp, fn, tn };
}

/** Runs one method over all files; a file's warming rows (its first trainSize) are training, not test. */
export function evaluate(files: Labelled[], cfg: DetectorConfig): Metrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const f of files) {
    const state = newState(cfg, f.features);
    for (let i = 0; i < f.rows.length; i++) {
      const r = step(cfg, state, f.rows[i]);
      if (r.kind === 'warming') continue;
      const flagged = r.kind === 'result' ? r.anomaly.is_anomaly : false;
      const truth = f.labels[i] === 1;
      if (truth && flagged) tp++;
      else if (!truth && flagged) fp++;
      else if (truth) fn++;
      else tn++;
    }
  }
  return metrics(tp, fp, fn, tn);
}

/**
 * The ONNX autoencoder as `moby-train --method autoencoder` builds it with its defaults (30-step windows,
 * 30 epochs, threshold = 0.995 quantile of training errors), scored with its float64 reference forward pass
 * (the same math as the exported graph). Loaded lazily: null when the trainer is not part of this checkout.
 */
function autoencoderEvaluator(): ((files: Labelled[]) => Metrics) | null {
  let train: typeof import('../nodes/core/anomaly/train');
  try {
    train = require('../nodes/core/anomaly/train');
  } catch {
    return null;
  }
  const window = 30;
  return (files) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let tn = 0;
    for (const f of files) {
      const trainRows = f.rows.slice(0, SKAB_TRAIN_ROWS);
      const scaler = train.fitScaler(trainRows);
      const win = train.makeWindows(trainRows, window, scaler);
      const model = train.trainAutoencoder(win.data, win.count, window, f.features.length, {});
      const { threshold } = train.autoencoderThreshold(model, win.data, win.count, 0.995);
      // each test row is scored by the window that ends on it
      const test = train.makeWindows(f.rows.slice(SKAB_TRAIN_ROWS - window + 1), window, scaler);
      const D = window * f.features.length;
      for (let w = 0; w < test.count; w++) {
        const flagged = train.autoencoderScore(model, test.data.subarray(w * D, (w + 1) * D)).score > threshold;
        const truth = f.labels[SKAB_TRAIN_ROWS + w] === 1;
        if (truth && flagged) tp++;
        else if (!truth && flagged) fp++;
        else if (truth) fn++;
        else tn++;
      }
    }
    return metrics(tp, fp, fn, tn);
  };
}

const AUTOENCODER = 'onnx-autoencoder';

function parseArgs(argv: string[]) {
  const args = { data: '', json: false, methods: ['l2', 'ewma', 'pca', AUTOENCODER] as string[], set: {} as Record<string, string> };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--data') args.data = argv[++i];
    else if (a === '--json') args.json = true;
    else if (a === '--methods') args.methods = argv[++i].split(',');
    else if (a === '--set') {
      const [k, v] = argv[++i].split('=');
      args.set[k] = v;
    } else if (a === '--help' || a === '-h') {
      console.log(`usage: npm run eval:skab -- [--data <dir>] [--json] [--methods l2,ewma,pca,${AUTOENCODER}] [--set key=value]`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!args.data) {
    const guess = path.resolve(__dirname, '..', '..', 'shared', 'data', 'skab');
    if (fs.existsSync(guess)) args.data = guess;
    else throw new Error('no --data <dir> given and ../shared/data/skab does not exist');
  }
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const all = listCsv(args.data).map(readSkab);
  const files = all.filter((f) => !f.unlabelled);
  if (!files.length) throw new Error(`no labelled SKAB CSV files under ${args.data}`);
  const lengths = files.map((f) => f.rows.length).sort((a, b) => a - b);
  const typical = lengths[lengths.length >> 1];
  const normalOnly = all.filter((f) => f.unlabelled).flatMap((f) => chunk(f, typical));
  const overrides: Partial<DetectorConfig> = {};
  for (const [k, v] of Object.entries(args.set)) {
    if (!(k in DEFAULT_CONFIG)) throw new Error(`unknown setting ${k}`);
    (overrides as Record<string, unknown>)[k] = Number.isNaN(Number(v)) ? v : Number(v);
  }
  const results: Record<string, Metrics> = {};
  const freeFar: Record<string, number> = {};
  for (const method of args.methods) {
    if (method === AUTOENCODER) {
      const run = autoencoderEvaluator();
      if (!run) {
        if (!args.json) console.error(`${AUTOENCODER}: trainer not available in this checkout, row skipped`);
        continue;
      }
      results[method] = run(files);
      if (normalOnly.length) freeFar[method] = run(normalOnly).far;
      continue;
    }
    if (!(STAT_METHODS as readonly string[]).includes(method)) throw new Error(`unknown method ${method}`);
    const cfg = { ...defaultsFor(method as StatMethod), trainSize: SKAB_TRAIN_ROWS, ...overrides, method: method as StatMethod };
    results[method] = evaluate(files, cfg);
    if (normalOnly.length) freeFar[method] = evaluate(normalOnly, cfg).far;
  }
  const testRows = Object.values(results)[0];
  if (args.json) {
    const methods: Record<string, { f1: number; far: number; mar: number }> = {};
    for (const [m, r] of Object.entries(results)) {
      methods[m] = { f1: round(r.f1, 3), far: round(r.far, 2), mar: round(r.mar, 2) };
      if (m in freeFar) (methods[m] as Record<string, number>).far_anomaly_free = round(freeFar[m], 2);
    }
    console.log(JSON.stringify({ files: files.length, test_rows: testRows.tp + testRows.fp + testRows.fn + testRows.tn, methods }));
    return;
  }
  console.log(`SKAB outlier protocol: ${files.length} file(s) under ${args.data}, ${testRows.tp + testRows.fp + testRows.fn + testRows.tn} test rows`);
  const free = normalOnly.length ? ` | FAR % anomaly-free (${normalOnly.length} × ${typical} rows)` : '';
  console.log(`| method | F1 | FAR % | MAR %${free} |`);
  console.log(`| --- | --- | --- | ---${free ? ' | ---' : ''} |`);
  for (const [m, r] of Object.entries(results)) {
    console.log(`| ${m} | ${r.f1.toFixed(2)} | ${r.far.toFixed(1)} | ${r.mar.toFixed(1)}${m in freeFar ? ` | ${freeFar[m].toFixed(1)}` : ''} |`);
  }
}

function round(v: number, digits: number): number {
  const p = 10 ** digits;
  return Math.round(v * p) / p;
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`eval-skab: ${(err as Error).message}`);
    process.exit(2);
  }
}
