// npm run eval:cmapss end to end on synthetic C-MAPSS-format files (the real data never enters the repo):
// the --test/--rul mode prints {"rmse", "score", "engines"} and the figures are those of the predictions;
// --holdout scores several rul_average values from one training and saved models again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { syntheticCmapss, tmpRoot } from '../../support/anomaly-onnx-fixtures';

const ROOT = path.resolve(__dirname, '../../..');

function evalCmapss(args: string[]) {
  return spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'scripts', 'eval-cmapss.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8' }
  );
}

describe('eval:cmapss', function () {
  // trains a tiny CNN in a child process: slow on a loaded machine, not a speed check
  this.timeout(180000);

  it('--test/--rul: one prediction per test engine at its last cycle, RMSE and PHM08 score in the JSON', () => {
    const dir = tmpRoot('moby-cmapss-');
    try {
      const train = path.join(dir, 'train.txt');
      const test = path.join(dir, 'test.txt');
      const rul = path.join(dir, 'rul.txt');
      fs.writeFileSync(train, syntheticCmapss([60, 80, 70, 90, 75, 65], 3));
      // test engines: the first cycles of other run-to-failure engines; the truth is what was cut off
      const lives = [70, 85, 60];
      const kept = [40, 50, 35];
      const full = syntheticCmapss(lives, 8).trim().split('\n');
      fs.writeFileSync(
        test,
        full.filter((l) => Number(l.split(' ')[1]) <= kept[Number(l.split(' ')[0]) - 1]).join('\n') + '\n'
      );
      fs.writeFileSync(rul, lives.map((n, i) => n - kept[i]).join('\n') + '\n');
      const r = evalCmapss([
        '--train',
        train,
        '--test',
        test,
        '--rul',
        rul,
        '--json',
        '--epochs',
        '3',
        '--window',
        '10',
        '--cap',
        '40',
      ]);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(out), ['rmse', 'score', 'engines']);
      assert.equal(out.engines, 3);
      assert.ok(out.rmse > 0 && Number.isFinite(out.score), r.stdout);
      const bad = evalCmapss(['--train', train, '--test', test, '--rul', train]);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /RUL file: line 1 is not a number|values for 3 test engines/);
      assert.match(evalCmapss(['--train', train]).stderr, /give --test and --rul, or --holdout/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--holdout --average: several rul_average values from one training; --save-models / --models score the same models again', () => {
    const dir = tmpRoot('moby-cmapss-');
    try {
      const train = path.join(dir, 'train.txt');
      fs.writeFileSync(train, syntheticCmapss([60, 80, 70, 90, 75, 65, 85, 70, 95, 80], 4));
      const tiny = ['--epochs', '2', '--window', '10', '--cap', '40', '--ensemble', '1', '--cuts', '3', '--json'];
      const models = path.join(dir, 'models');
      const first = evalCmapss(['--train', train, '--holdout', ...tiny, '--average', '1,3', '--save-models', models]);
      assert.equal(first.status, 0, first.stderr);
      const a = JSON.parse(first.stdout);
      assert.ok(fs.existsSync(path.join(models, 'split-0.json')));
      assert.deepEqual(
        a.by_average.map((x: { rul_average: number }) => x.rul_average),
        [1, 3]
      );
      // the figure printed is the first value's
      assert.equal(a.rul_average, 1);
      assert.equal(a.rmse, a.by_average[0].rmse);
      // averaging changes the predictions of engines cut after their first cycles
      assert.notEqual(a.by_average[1].rmse, a.by_average[0].rmse);
      const again = evalCmapss(['--train', train, '--holdout', ...tiny, '--average', '3', '--models', models]);
      assert.equal(again.status, 0, again.stderr);
      const b = JSON.parse(again.stdout);
      assert.equal(b.rul_average, 3);
      assert.equal(b.by_average, undefined);
      assert.deepEqual(b.splits[0].buckets, a.by_average[1].splits[0].buckets);
      assert.equal(b.rmse, a.by_average[1].rmse);
      // --lift on the saved models: a lift fitted on each split's training engines, what the node would report
      const lifted = evalCmapss([
        '--train',
        train,
        '--holdout',
        ...tiny,
        '--average',
        '3',
        '--models',
        models,
        '--lift',
      ]);
      assert.equal(lifted.status, 0, lifted.stderr);
      const l = JSON.parse(lifted.stdout);
      assert.notEqual(l.rmse, b.rmse, 'this under-trained net is lifted');
      const bad = evalCmapss(['--train', train, '--holdout', '--average', '0,3']);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /--average takes positive integers/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
