#!/usr/bin/env node
// moby-train: fits an anomaly or RUL model on a CSV of normal operation and writes an ONNX model bundle
// (<root>/<equipment_id>/<power>/<model_version>/ with model.onnx and meta.json) for the moby-anomaly node.
import { parseArgs } from 'node:util';
import { RUL_AVERAGE, RUL_DEFAULTS, trainBundle, type TrainMethod } from '../nodes/core/anomaly/train/train';

const USAGE = `usage: moby-train --method pca|autoencoder|conv-autoencoder|rul --csv <file> --out <root>/<equipment>/<power>/<version>
                  [--features a,b,c] [--sep ';'] [--window 30] [--epochs 30] [--target <column>]
options:
  --method      pca (T²/Q, one sample), autoencoder (dense, over windows), conv-autoencoder (1-D convolutions
                over windows); both autoencoders set their threshold on held-out windows; rul (C-MAPSS run-to-failure file: windowed 1-D CNN;
                CSV with --target: linear regression over windows)
  --csv         training data: header row, numeric columns; non-numeric and anomaly/changepoint columns are dropped;
                for rul also a C-MAPSS train_FD00x.txt (space-separated, 26 columns, no header)
  --out         bundle directory to create (refused if it exists, unless --force)
  --features    columns to use, in order (default: all numeric columns)
  --sep         field separator (default: detected from the header: ; , or tab)
  --window      steps per window (autoencoder/rul default 30; rul on C-MAPSS 60; conv-autoencoder 32, a multiple of 4)
  --stride      rows between training window starts (default 1; rul on C-MAPSS 2)
  --epochs      autoencoder and C-MAPSS rul training epochs (default 30)
  --hidden, --bottleneck, --lr, --seed   autoencoder size, learning rate, random seed
  --alpha       pca false-alarm rate for the T²/Q limits (default 0.01)
  --holdout     autoencoders: share of rows (the last ones) held out to set the threshold (default 0.25)
  --quantile, --margin  autoencoders: threshold = margin × this quantile of the held-out windows' errors
                (defaults 2 and 0.99)
  --persistence autoencoders: the node alarms on the median of this many window scores (default 15 for
                autoencoder, 5 for conv-autoencoder)
  --center-drift autoencoders: each device's standardisation centre follows slow drift at this rate
                after points judged normal (default 0.01; 0 = fixed scaler)
  --cap         rul on C-MAPSS: cap of the piece-wise linear target (default 125)
  --ensemble    rul on C-MAPSS: networks trained with seeds seed…seed+n−1 and averaged in one graph (default 3)
  --age         rul on C-MAPSS: on|off, the engine's cycle number (its age) as an input feature named "cycle"
                that the device must send (default on)
  --rul-average rul on C-MAPSS: the node reports the mean of the predictions of a device's last n cycles, each
                aged by the cycles since (meta.rul_average; default ${RUL_AVERAGE}; 1 = each prediction alone)
  --baseline-cycles rul on C-MAPSS: the net also reads each sensor's offset from the mean of the engine's first
                n cycles, a baseline the node keeps per device (meta.baseline_cycles; default
                ${RUL_DEFAULTS.baselineCycles}; 0 = off)
  --lift        rul on C-MAPSS: on|off, fit meta.rul_lift on the training engines: above the cap's reach the
                reported RUL rises faster than the prediction (default off: it did not hold on every holdout split)
  --target      rul: column holding the remaining useful life
  --unit        rul: unit of the target (default steps)
  --threshold   rul: alarm when the predicted RUL is below this
  --force       replace an existing bundle directory`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${v}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        method: { type: 'string' },
        csv: { type: 'string' },
        out: { type: 'string' },
        features: { type: 'string' },
        sep: { type: 'string' },
        window: { type: 'string' },
        stride: { type: 'string' },
        epochs: { type: 'string' },
        hidden: { type: 'string' },
        bottleneck: { type: 'string' },
        lr: { type: 'string' },
        seed: { type: 'string' },
        quantile: { type: 'string' },
        alpha: { type: 'string' },
        holdout: { type: 'string' },
        margin: { type: 'string' },
        persistence: { type: 'string' },
        'center-drift': { type: 'string' },
        cap: { type: 'string' },
        ensemble: { type: 'string' },
        age: { type: 'string' },
        'rul-average': { type: 'string' },
        'baseline-cycles': { type: 'string' },
        lift: { type: 'string' },
        target: { type: 'string' },
        unit: { type: 'string' },
        threshold: { type: 'string' },
        force: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`moby-train: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const s = (k: string) => values[k] as string | undefined;
  const method = s('method');
  if (!method || !s('csv') || !s('out')) {
    console.error(`moby-train: --method, --csv and --out are required\n${USAGE}`);
    return 2;
  }
  if (!['pca', 'autoencoder', 'conv-autoencoder', 'rul'].includes(method)) {
    console.error(`moby-train: --method must be pca, autoencoder, conv-autoencoder or rul, got "${method}"`);
    return 2;
  }
  const age = s('age');
  if (age !== undefined && age !== 'on' && age !== 'off') {
    console.error(`moby-train: --age must be on or off, got "${age}"`);
    return 2;
  }
  const lift = s('lift');
  if (lift !== undefined && lift !== 'on' && lift !== 'off') {
    console.error(`moby-train: --lift must be on or off, got "${lift}"`);
    return 2;
  }
  try {
    const sep = s('sep') === '\\t' ? '\t' : s('sep');
    const report = await trainBundle({
      method: method as TrainMethod,
      csv: s('csv')!,
      out: s('out')!,
      features: s('features')
        ?.split(',')
        .map((f) => f.trim())
        .filter(Boolean),
      sep,
      window: num('window', s('window')),
      stride: num('stride', s('stride')),
      epochs: num('epochs', s('epochs')),
      hidden: num('hidden', s('hidden')),
      bottleneck: num('bottleneck', s('bottleneck')),
      learningRate: num('lr', s('lr')),
      seed: num('seed', s('seed')),
      quantile: num('quantile', s('quantile')),
      alpha: num('alpha', s('alpha')),
      holdout: num('holdout', s('holdout')),
      margin: num('margin', s('margin')),
      persistence: num('persistence', s('persistence')),
      centerDrift: num('center-drift', s('center-drift')),
      cap: num('cap', s('cap')),
      ensemble: num('ensemble', s('ensemble')),
      age: age === undefined ? undefined : age === 'on',
      rulAverage: num('rul-average', s('rul-average')),
      baselineCycles: num('baseline-cycles', s('baseline-cycles')),
      lift: lift === undefined ? undefined : lift === 'on',
      target: s('target'),
      unit: s('unit'),
      threshold: num('threshold', s('threshold')),
      force: values.force === true,
      log: values.quiet ? undefined : (line) => console.error(line),
    });
    console.log(
      `wrote ${report.dir} (${report.meta.kind}, ${report.meta.features.length} features, window ${report.meta.window})`
    );
    return 0;
  } catch (err) {
    console.error(`moby-train: ${(err as Error).message}`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
