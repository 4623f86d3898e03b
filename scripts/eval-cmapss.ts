// C-MAPSS remaining-useful-life evaluation of the model `moby-train --method rul` builds (windowed 1-D CNN,
// same defaults), scored with its float64 reference forward pass (the exported graph matches it within 1e-5,
// see test/unit/core/anomaly/train/convnet.test.ts).
//
//   npm run eval:cmapss -- --train train_FD001.txt --test test_FD001.txt --rul RUL_FD001.txt [--json]
//       trains on every training engine, predicts each test engine at its last cycle; RMSE and PHM08 score
//   npm run eval:cmapss -- --train train_FD001.txt --holdout [--splits 1] [--cuts 10] [--json]
//       without the test set: 80/20 split by unit (seeded), each held-out engine cut at random cycles (≥ 31
//       cycles kept, 5–150 left, like the test engines) and scored at the cut; truth = cycles left, not capped
//
// The RUL scored is what the node reports at the last (or cut) cycle: with meta.rul_average k > 1 (RUL_AVERAGE,
// or --average k) the temporal mean of the predictions at the engine's last k cycles, each aged by the cycles
// since (RulAverage, the node's mechanism), then lifted by the bundle's meta.rul_lift (liftRul; --lift fits one
// on the training engines, off by default). --average 1,3,5 scores several values from the same models (the
// first is the figure printed; JSON: by_average). --save-models dir keeps each split's trained model
// (split-<i>.json); --models dir scores those instead of training again.
//
// --age / --no-age (the cycle number as an input), --epochs, --window, --cap, --seed override the moby-train defaults (for experiments only).
// --baseline-cycles B --baseline-mode relative|both: each sensor's offset from the mean of the engine's first B cycles,
// instead of or beside the sensor (default since the fifth round: 20, both, as moby-train and the node; 0 = off;
// 'relative' is an experiment the node does not serve). An engine is scored only from its B-th cycle, as the node.
import fs from 'node:fs';
import path from 'node:path';
import { parseCmapss, parseRulList, phm08Score, rmse, type Engine } from '../nodes/core/anomaly/train/cmapss';
import {
  predictLastCycle,
  trainRulCnn,
  truncateEngines,
  RUL_DEFAULTS,
  fitBundleLift,
  recentPredictions,
  reportedRul,
  RUL_AVERAGE,
  rulMinHistory,
  type RulCnnBundle,
  type RulCnnOptions,
} from '../nodes/core/anomaly/train/rul-cnn';
import { mulberry32, shuffleInPlace } from '../nodes/core/prng';

interface Args {
  train: string;
  test: string;
  rul: string;
  holdout: boolean;
  splits: number;
  /** index of the first split (splits are seeded by index: run them in separate processes) */
  firstSplit: number;
  cuts: number;
  json: boolean;
  /** write each split's trained model here (split-<i>.json), to evaluate other settings without retraining */
  saveModels: string;
  /** read each split's model from here (written by --save-models) instead of training it */
  models: string;
  /** meta.rul_average values to score (the first is the figure printed; default RUL_AVERAGE) */
  average: number[];
  opts: RulCnnOptions;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    train: '',
    test: '',
    rul: '',
    holdout: false,
    splits: 1,
    firstSplit: 0,
    cuts: 10,
    json: false,
    saveModels: '',
    models: '',
    average: [RUL_AVERAGE],
    opts: {},
  };
  const num = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--train') a.train = argv[++i];
    else if (k === '--test') a.test = argv[++i];
    else if (k === '--rul') a.rul = argv[++i];
    else if (k === '--holdout') a.holdout = true;
    else if (k === '--splits') a.splits = num('splits', argv[++i]);
    else if (k === '--first-split') a.firstSplit = num('first-split', argv[++i]);
    else if (k === '--cuts') a.cuts = num('cuts', argv[++i]);
    else if (k === '--json') a.json = true;
    else if (k === '--save-models') a.saveModels = argv[++i];
    else if (k === '--models') a.models = argv[++i];
    else if (k === '--average') {
      const v = argv[++i] ?? '';
      a.average = v.split(',').map((x) => num('average', x));
      if (!a.average.length || a.average.some((x) => !Number.isInteger(x) || x < 1))
        throw new Error(`--average takes positive integers separated by commas, got "${v}"`);
    } else if (k === '--lift') a.opts.lift = true;
    else if (k === '--no-lift') a.opts.lift = false;
    else if (k === '--age') a.opts.age = true;
    else if (k === '--no-age') a.opts.age = false;
    else if (k === '--above-cap') {
      const v = argv[++i];
      if (v !== 'clip' && v !== 'drop') throw new Error(`--above-cap must be clip or drop, got "${v}"`);
      a.opts.aboveCap = v;
    } else if (k === '--truth-weights') {
      const v = argv[++i];
      if (v !== 'none' && v !== 'protocol') throw new Error(`--truth-weights must be none or protocol, got "${v}"`);
      a.opts.truthWeights = v;
    } else if (k === '--baseline-cycles') a.opts.baselineCycles = num('baseline-cycles', argv[++i]);
    else if (k === '--baseline-mode') {
      const v = argv[++i];
      if (v !== 'relative' && v !== 'both') throw new Error(`--baseline-mode must be relative or both, got "${v}"`);
      a.opts.baselineMode = v;
    } else if (k === '--epochs') a.opts.epochs = num('epochs', argv[++i]);
    else if (k === '--window') a.opts.window = num('window', argv[++i]);
    else if (k === '--cap') a.opts.cap = num('cap', argv[++i]);
    else if (k === '--seed') a.opts.seed = num('seed', argv[++i]);
    else if (k === '--ensemble') a.opts.ensemble = num('ensemble', argv[++i]);
    else if (k === '--conv-layers') a.opts.convLayers = num('conv-layers', argv[++i]);
    else if (k === '--filters') a.opts.filters = num('filters', argv[++i]);
    else if (k === '--kernel') a.opts.kernel = num('kernel', argv[++i]);
    else if (k === '--dense') a.opts.dense = num('dense', argv[++i]);
    else if (k === '--stride') a.opts.stride = num('stride', argv[++i]);
    else if (k === '--lr') a.opts.learningRate = num('lr', argv[++i]);
    else if (k === '--batch') a.opts.batchSize = num('batch', argv[++i]);
    else if (k === '--dropout') a.opts.dropout = num('dropout', argv[++i]);
    else if (k === '--patience') a.opts.patience = num('patience', argv[++i]);
    else if (k === '--min-cycles') a.opts.minCycles = num('min-cycles', argv[++i]);
    else if (k === '--smoothing') a.opts.smoothing = num('smoothing', argv[++i]);
    else if (k === '--validation') a.opts.validation = num('validation', argv[++i]);
    else if (k === '--schedule') a.opts.schedule = argv[++i] === 'cosine' ? 'cosine' : 'linear';
    else if (k === '--final-lr') a.opts.finalLrShare = num('final-lr', argv[++i]);
    else if (k === '--scaling') a.opts.scaling = argv[++i] === 'zscore' ? 'zscore' : 'minmax';
    else if (k === '--help' || k === '-h') {
      console.log(
        'usage: npm run eval:cmapss -- --train <train_FD001.txt> (--test <test_FD001.txt> --rul <RUL_FD001.txt> | --holdout [--splits n] [--first-split i] [--cuts n] [--save-models dir | --models dir]) [--average k[,k…]] [--json]'
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.train) throw new Error('--train <train_FD001.txt> is required');
  if (!a.holdout && (!a.test || !a.rul)) throw new Error('give --test and --rul, or --holdout');
  return a;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
  }
}

function round(v: number, d = 2): number {
  const p = 10 ** d;
  return Math.round(v * p) / p;
}

function log(args: Args, line: string): void {
  if (!args.json) console.error(line);
}

/** RMSE and mean error (predicted − true) per truth bucket of 25 cycles: where the error comes from. */
export function truthBuckets(
  pred: number[],
  truth: number[],
  width = 25
): Record<string, { n: number; rmse: number; bias: number }> {
  const acc = new Map<number, { n: number; se: number; e: number }>();
  truth.forEach((t, i) => {
    const k = Math.floor(t / width);
    const a = acc.get(k) ?? { n: 0, se: 0, e: 0 };
    const d = pred[i] - t;
    a.n++;
    a.se += d * d;
    a.e += d;
    acc.set(k, a);
  });
  const out: Record<string, { n: number; rmse: number; bias: number }> = {};
  for (const k of [...acc.keys()].sort((a, b) => a - b)) {
    const a = acc.get(k)!;
    out[`${k * width}-${k * width + width - 1}`] = {
      n: a.n,
      rmse: round(Math.sqrt(a.se / a.n)),
      bias: round(a.e / a.n),
    };
  }
  return out;
}

/** A trained bundle as JSON (typed arrays as plain arrays; Infinity as null). */
export function bundleToJson(b: RulCnnBundle): string {
  return JSON.stringify(b, (_k, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v));
}

export function bundleFromJson(text: string): RulCnnBundle {
  const b = JSON.parse(text) as RulCnnBundle;
  for (const layers of b.model.members)
    for (const l of layers) {
      l.weights = Float32Array.from(l.weights as unknown as number[]);
      l.bias = Float32Array.from(l.bias as unknown as number[]);
    }
  b.validationRmse = b.validationRmse.map((v) => (v === null ? Infinity : v));
  return b;
}

/**
 * A model saved by --save-models, with its lift as this run asks: --no-lift drops it; otherwise a model saved
 * before the lift existed gets one fitted on its training engines now, as trainRulCnn would have.
 */
function loadedBundle(file: string, train: Engine[], args: Args): RulCnnBundle {
  const b = bundleFromJson(read(file));
  if (!(args.opts.lift ?? RUL_DEFAULTS.lift)) delete b.lift;
  else if (!b.lift) fitBundleLift(b, train, { ...args.opts, average: args.average[0] });
  return b;
}

/** meta.min_history of the bundle moby-train writes: the node scores a device from this many cycles on. */
function minHistory(args: Args): number {
  return rulMinHistory(args.opts.window ?? RUL_DEFAULTS.window);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const engines = parseCmapss(read(args.train), args.train);
  const onEpoch = (e: number, loss: number, v: number, m: number) =>
    log(
      args,
      `  member ${m + 1} epoch ${e}: loss ${loss.toFixed(5)}${Number.isNaN(v) ? '' : `, validation RMSE ${v.toFixed(2)}`}`
    );
  if (!args.holdout) {
    const test = parseCmapss(read(args.test), args.test);
    const truth = parseRulList(read(args.rul));
    if (truth.length !== test.length)
      throw new Error(`${args.rul}: ${truth.length} values for ${test.length} test engines`);
    const t0 = Date.now();
    const b = trainRulCnn(engines, { ...args.opts, average: args.average[0], onEpoch });
    log(
      args,
      `trained on ${engines.length} engines (${b.windows} windows) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
    );
    const pred = predictLastCycle(b, test, args.average[0], minHistory(args));
    const out = { rmse: round(rmse(pred, truth)), score: round(phm08Score(pred, truth), 1), engines: test.length };
    if (args.json) console.log(JSON.stringify(out));
    else console.log(`C-MAPSS test, last cycle of ${out.engines} engines: RMSE ${out.rmse}, PHM08 score ${out.score}`);
    return;
  }
  type SplitResult = {
    split: number;
    rmse: number;
    score: number;
    score_per_engine: number;
    engines: number;
    cases: number;
    train_s: number;
    buckets: Record<string, { n: number; rmse: number; bias: number }>;
    rmse_truth_capped: number;
  };
  // one list of split results per --average value, all from the same trained (or loaded) models
  const byAverage: SplitResult[][] = args.average.map(() => []);
  const cap = args.opts.cap ?? RUL_DEFAULTS.cap;
  for (let s = args.firstSplit; s < args.firstSplit + args.splits; s++) {
    // 80/20 by unit: an engine's cycles never appear on both sides
    const rand = mulberry32(1000 + s);
    const order = engines.map((_, i) => i);
    shuffleInPlace(order, rand);
    const nHeld = Math.round(engines.length * 0.2);
    const held: Engine[] = order.slice(0, nHeld).map((i) => engines[i]);
    const train: Engine[] = order.slice(nHeld).map((i) => engines[i]);
    const t0 = Date.now();
    const saved = args.models ? path.join(args.models, `split-${s}.json`) : '';
    const b = saved
      ? loadedBundle(saved, train, args)
      : trainRulCnn(train, { ...args.opts, average: args.average[0], onEpoch });
    const trainS = (Date.now() - t0) / 1000;
    if (args.saveModels) {
      fs.mkdirSync(args.saveModels, { recursive: true });
      fs.writeFileSync(path.join(args.saveModels, `split-${s}.json`), bundleToJson(b));
    }
    const cases = truncateEngines(held, args.cuts, 2000 + s);
    const truth = cases.map((c) => c.truth);
    // the predictions of each case's last cycles, as the node would have made them cycle by cycle; every
    // --average value then reports what the node outputs at the case's last cycle (RulAverage)
    const recent = cases.map((c) => recentPredictions(b, c.engine, Math.max(...args.average), minHistory(args)));
    args.average.forEach((k, ai) => {
      const pred = recent.map((r) => reportedRul(b, r, k));
      // the PHM08 score is a sum: scaled to 100 engines so it compares with the test set's
      const score = phm08Score(pred, truth);
      byAverage[ai].push({
        split: s,
        rmse: rmse(pred, truth),
        // for comparison with papers that cap the test truth too; the figure of record keeps it uncapped
        rmse_truth_capped: rmse(
          pred,
          truth.map((t) => Math.min(t, cap))
        ),
        score: (score * 100) / cases.length,
        score_per_engine: score / cases.length,
        engines: held.length,
        cases: cases.length,
        train_s: trainS,
        buckets: truthBuckets(pred, truth),
      });
      log(
        args,
        `split ${s}${args.average.length > 1 || k > 1 ? `, rul_average ${k}` : ''}: ${train.length} training engines (${b.validationEngines ? `${b.validationEngines} of them for early stopping per member, ` : ''}epochs ${b.bestEpoch.join('/')} kept), ${held.length} held out × ${args.cuts} cuts: RMSE ${rmse(pred, truth).toFixed(2)}, PHM08 score per 100 engines ${((score * 100) / cases.length).toFixed(0)}, ${saved ? `model read from ${saved}` : `trained in ${trainS.toFixed(0)} s`}`
      );
    });
  }
  const summary = (splits: SplitResult[]) => {
    const mean = (k: 'rmse' | 'score') => splits.reduce((a, s) => a + s[k], 0) / splits.length;
    return {
      rmse: round(mean('rmse')),
      score: round(mean('score'), 1),
      engines: splits[0].engines,
      cases: splits[0].cases,
      splits: splits.map((s) => ({
        ...s,
        rmse: round(s.rmse),
        rmse_truth_capped: round(s.rmse_truth_capped),
        score: round(s.score, 1),
        score_per_engine: round(s.score_per_engine, 3),
        train_s: round(s.train_s, 1),
      })),
    };
  };
  const out = {
    ...summary(byAverage[0]),
    window: args.opts.window ?? RUL_DEFAULTS.window,
    cap,
    age: args.opts.age ?? RUL_DEFAULTS.age,
    baseline_cycles: args.opts.baselineCycles ?? RUL_DEFAULTS.baselineCycles,
    baseline_mode: args.opts.baselineMode ?? RUL_DEFAULTS.baselineMode,
    above_cap: args.opts.aboveCap ?? RUL_DEFAULTS.aboveCap,
    rul_average: args.average[0],
    // every --average value from the same models, when more than one was asked for
    ...(args.average.length > 1
      ? { by_average: args.average.map((k, ai) => ({ rul_average: k, ...summary(byAverage[ai]) })) }
      : {}),
  };
  if (args.json) console.log(JSON.stringify(out));
  else {
    console.log(
      `C-MAPSS holdout (${byAverage[0].length} split(s), 20 % of units, ${args.cuts} random cuts each, rul_average ${args.average[0]}): RMSE ${out.rmse}, PHM08 score per 100 engines ${out.score}`
    );
    if (args.average.length > 1)
      args.average.forEach((k, ai) => {
        const o = summary(byAverage[ai]);
        console.log(
          `  rul_average ${k}: RMSE ${o.rmse} (splits ${o.splits.map((x) => x.rmse).join(' / ')}), PHM08 ${o.score}`
        );
      });
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`eval-cmapss: ${(err as Error).message}`);
    process.exit(2);
  }
}
