// npm run eval:skab: the fold plans (leave-one-file-out, k-fold, grouped), the selection inside each fold, and the
// command end to end on synthetic SKAB-format files (the real data is GPL and never enters the repository).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { crossValidate, groupedFolds, moduloFolds, type Candidate, type Counts } from '../../../scripts/eval-skab';
import { seededRandom } from '../../support/anomaly-data';
import { tmpRoot } from '../../support/anomaly-onnx-fixtures';

const ROOT = path.resolve(__dirname, '../../..');

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('eval:skab fold plans', () => {
  it('leave-one-file-out and k-fold by index keep every fold’s FAR check on all anomaly-free pieces', () => {
    const lofo = moduloFolds(16, 16);
    assert.equal(lofo.test.length, 16);
    assert.deepEqual(lofo.test[3], [3]);
    assert.equal(lofo.free, null);
    assert.deepEqual(moduloFolds(6, 3).test, [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
  });

  it('--groups n: n blocks of consecutive files, the anomaly-free pieces split into as many blocks', () => {
    const two = groupedFolds('2', 16, 8);
    assert.deepEqual(two.test, [range(0, 7), range(8, 15)]);
    assert.deepEqual(two.free, [range(0, 3), range(4, 7)]);
    const four = groupedFolds('4', 16, 8);
    assert.deepEqual(four.test, [range(0, 3), range(4, 7), range(8, 11), range(12, 15)]);
    assert.deepEqual(four.free, [
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
    ]);
    assert.match(four.name, /grouped 4-fold \(0–3 \| 4–7 \| 8–11 \| 12–15\)/);
  });

  it('--groups with explicit ranges; overlaps, bad ranges and a single group are refused', () => {
    const plan = groupedFolds('0-2,5,6-7', 8, 3);
    assert.deepEqual(plan.test, [[0, 1, 2], [5], [6, 7]]);
    assert.deepEqual(plan.free, [[0], [1], [2]]);
    assert.throws(() => groupedFolds('0-4,3-7', 8, 2), /in two groups/);
    assert.throws(() => groupedFolds('0-8,9', 8, 2), /not a range/);
    assert.throws(() => groupedFolds('0-7', 8, 2), /at least 2 groups/);
    assert.throws(() => groupedFolds('1', 8, 2), /2 to 8 groups/);
    assert.throws(() => groupedFolds('a-b', 8, 2), /expected n/);
  });
});

describe('eval:skab cross-validation', () => {
  const c = (tp: number, fp: number, fn: number, tn: number): Counts => ({ tp, fp, fn, tn });
  const good = c(90, 0, 10, 100);
  const bad = c(10, 0, 90, 100);
  const noisy = c(90, 60, 10, 40);

  it('each fold chooses on the other groups only, and scores the held-out files and pieces with that choice', () => {
    // A is good on files 0–1 and bad on 2–3, B the reverse; B raises false alarms on anomaly-free piece 0
    const a: Candidate = { label: 'A', counts: [good, good, bad, bad], free: [c(0, 0, 0, 100), c(0, 0, 0, 100)] };
    const b: Candidate = { label: 'B', counts: [bad, bad, good, good], free: [c(0, 50, 0, 50), c(0, 0, 0, 100)] };
    const r = crossValidate([a, b], [0, 1, 2, 3].map(fileNamed), groupedFolds('2', 4, 2), 10);
    // fold 0 holds out files 0–1 and piece 0: chosen on files 2–3 and piece 1, where B wins and is quiet
    assert.equal(r.folds[0].chosen, 'B');
    assert.equal(r.folds[0].far_anomaly_free, 50, 'B’s false alarms on the held-out piece are reported, not hidden');
    assert.ok(r.folds[0].f1 < 0.2, 'B on the files it was not chosen on');
    // fold 1 holds out files 2–3 and piece 1: chosen on files 0–1 and piece 0, where only A is under the cap
    assert.equal(r.folds[1].chosen, 'A');
    assert.equal(r.folds[1].far_anomaly_free, 0);
    assert.ok(r.pooled.f1 < 0.2, 'out of fold both folds picked the setting that fails on the held-out group');
    assert.equal(r.pooledFreeFar, 25);
    // on all files B's false alarms on piece 0 exclude it: A is the one setting
    assert.equal(r.final.chosen, 'A');
    assert.equal(r.final.folds_agreeing, 1);
  });

  it('a setting over the FAR cap loses to one under it, whatever its F1', () => {
    const quiet: Candidate = { label: 'quiet', counts: [good, bad, good], free: [] };
    const loud: Candidate = { label: 'loud', counts: [noisy, noisy, noisy], free: [] };
    const r = crossValidate([loud, quiet], [0, 1, 2].map(fileNamed), moduloFolds(3, 3), 10);
    assert.deepEqual(
      r.folds.map((f) => f.chosen),
      ['quiet', 'quiet', 'quiet']
    );
    assert.equal(r.pooledFreeFar, undefined, 'leave-one-file-out holds out no anomaly-free piece');
  });
});

function fileNamed(i: number) {
  return { file: `/skab/${i}.csv`, features: ['a'], rows: [], labels: [] };
}

/** A SKAB-format CSV: 8 sensors at 1 Hz, a lasting shift of two sensors from `faultAt` on (labelled). */
function skabCsv(rows: number, faultAt: number | null, seed: number): string {
  const rand = seededRandom(seed);
  const head = ['datetime', 'A1', 'A2', 'Current', 'Pressure', 'Temp', 'Thermo', 'Voltage', 'Flow'];
  const lines = [(faultAt === null ? head : [...head, 'anomaly', 'changepoint']).join(';')];
  for (let i = 0; i < rows; i++) {
    const fault = faultAt !== null && i >= faultAt && i < faultAt + 150;
    const base = rand.normal();
    const v = [base, 2 * base + 0.1 * rand.normal(), 3, 1, 70, 25, 230, 32].map((x, j) =>
      j >= 2 ? x + 0.2 * rand.normal() + (fault && j >= 6 ? 3 : 0) : x
    );
    const t = new Date(Date.UTC(2020, 2, 9, 10, 0, i)).toISOString().replace('T', ' ').slice(0, 19);
    const cells = [t, ...v.map((x) => x.toFixed(4))];
    if (faultAt !== null) cells.push(fault ? '1.0' : '0.0', i === faultAt ? '1.0' : '0.0');
    lines.push(cells.join(';'));
  }
  return lines.join('\n') + '\n';
}

describe('eval:skab command', function () {
  // child processes under ts-node: slow on a loaded machine, not a speed check
  this.timeout(120000);
  let dir = '';

  before(() => {
    dir = tmpRoot('moby-skab-');
    fs.mkdirSync(path.join(dir, 'valve'));
    // names that sort differently as text (10 before 2): groups follow the recording order
    for (const [i, name] of ['1', '2', '10', '11'].entries())
      fs.writeFileSync(path.join(dir, 'valve', `${name}.csv`), skabCsv(700, 500, i + 1));
    fs.writeFileSync(path.join(dir, 'anomaly-free.csv'), skabCsv(1400, null, 9));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[]) =>
    spawnSync(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'scripts', 'eval-skab.ts'), '--data', dir, ...args],
      { cwd: ROOT, encoding: 'utf8' }
    );

  it('plain --json keeps its shape: {files, test_rows, methods: {name: {f1, far, mar, far_anomaly_free}}}', () => {
    const r = run(['--json', '--methods', 'l2,ewma']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['files', 'test_rows', 'methods']);
    assert.equal(out.files, 4);
    assert.equal(
      out.test_rows,
      4 * (700 - 399),
      'each file scores from the row that completes its 400-row calibration'
    );
    assert.deepEqual(Object.keys(out.methods), ['l2', 'ewma']);
    for (const m of Object.values(out.methods) as Array<Record<string, number>>) {
      assert.deepEqual(Object.keys(m), ['f1', 'far', 'mar', 'far_anomaly_free']);
      assert.ok(m.f1 > 0.5, 'a 3σ shift of two sensors is found');
    }
  });

  it('--cv --groups 2 --json: folds of consecutive files in recording order, held-out anomaly-free FAR', () => {
    const grid = ['limitScale=1,2', 'inputWindow=3', 'smoothing=5', 'adaptRate=0.02', 'calibrationHoldout=0,0.25'];
    const r = run(['--cv', '--groups', '2', '--json', '--methods', 'l2', ...grid.flatMap((g) => ['--grid', g])]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.protocol, 'grouped 2-fold (0–1 | 2–3)');
    const l2 = out.cv.l2;
    assert.deepEqual(
      l2.folds.map((f: { test: string }) => f.test),
      ['1.csv,2.csv', '10.csv,11.csv']
    );
    for (const f of l2.folds) assert.equal(typeof f.far_anomaly_free, 'number');
    assert.equal(typeof l2.pooled_far_anomaly_free, 'number');
    assert.match(l2.final.chosen, /calibrationHoldout=/, 'a --grid axis the default grid lacks is added');
  });

  it('--folds and --groups together are refused', () => {
    const r = run(['--cv', '--folds', '2', '--groups', '2', '--methods', 'l2']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--folds or --groups/);
  });
});
