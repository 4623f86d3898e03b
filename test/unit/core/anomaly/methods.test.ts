// The per-method strategies (nodes/core/anomaly/methods.ts) against device states saved before they
// existed: test/fixtures/anomaly-states-v1.json was written by the detector as it was before the refactor
// (one switch per function), so loading it here and getting the same results, to the last bit, shows that
// persisted states and exports from earlier versions keep working and score exactly as before.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  defaultsFor,
  deserialiseState,
  newState,
  serialiseState,
  stateSize,
  step,
  validateState,
  AnomalyDeviceState,
  DetectorConfig,
  StepResult,
  STAT_METHODS,
} from '../../../../nodes/core/anomaly/detector';
import { METHOD_STRATEGIES, strategyFor } from '../../../../nodes/core/anomaly/methods';
import { gaussianRows } from '../../../support/anomaly-data';

interface SavedCase {
  cfg: DetectorConfig;
  state: AnomalyDeviceState;
  next: number[][];
  results: StepResult[];
  stateAfter: AnomalyDeviceState;
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../../fixtures/anomaly-states-v1.json'), 'utf8')
) as { cases: Record<string, SavedCase> };

describe('anomaly strategies: states saved before the refactor', () => {
  for (const [name, c] of Object.entries(fixture.cases)) {
    it(`${name}: a saved state validates, then scores the next points exactly as before`, () => {
      assert.equal(validateState(c.state, c.cfg), null);
      const state = structuredClone(c.state);
      const results = c.next.map((x) => JSON.parse(JSON.stringify(step(c.cfg, state, x))) as StepResult);
      // an open alarm reports its peak since the fixture was written (incident.peak): everything else is as then
      for (const r of results) if (r.kind === 'result' && r.anomaly.incident) delete r.anomaly.incident.peak;
      assert.deepEqual(results, c.results);
      const after = JSON.parse(JSON.stringify(state)) as AnomalyDeviceState;
      // the alarm layer keeps running values per sensor that the fixture predates (incident.jab and jmp, which
      // tell spikes and jumps from broad noise; jfrom, jsize, jage, jcon and jheld, which tell a glitch from a
      // step): everything else is as saved
      for (const k of ['jab', 'jmp', 'jfrom', 'jsize', 'jage', 'jcon', 'jheld'] as const) {
        if (after.incident?.[k] === undefined) continue;
        assert.equal(after.incident[k]!.length, after.features.length);
        delete after.incident[k];
      }
      assert.deepEqual(after, c.stateAfter);
    });
  }

  it('the fixture covers every method, fitted and calibrating, with alarms raised and cleared', () => {
    const methods = new Set(Object.values(fixture.cases).map((c) => c.cfg.method));
    assert.deepEqual([...methods].sort(), ['ewma', 'l2', 'pca', 'threshold']);
    assert.ok(
      Object.values(fixture.cases).some((c) => c.state.model === null && (c.state.buffer?.length ?? 0) > 0),
      'a calibrating state'
    );
    for (const [name, c] of Object.entries(fixture.cases)) {
      if (c.state.model === null) continue;
      const alarms = c.results.map((r) => r.kind === 'result' && r.anomaly.alarm);
      assert.ok(
        alarms.includes(true) && alarms.lastIndexOf(false) > alarms.indexOf(true),
        `${name}: an alarm opens and clears`
      );
    }
  });

  it('serialise → JSON text → deserialise gives a state that scores like the original, and is a copy', () => {
    for (const [name, c] of Object.entries(fixture.cases)) {
      const live = structuredClone(c.state);
      const saved = serialiseState(live);
      // scoring the live state afterwards must not change what was serialised
      for (const x of c.next) step(c.cfg, live, x);
      const text = JSON.stringify(saved);
      const back = deserialiseState(JSON.parse(text), c.cfg);
      assert.notEqual(typeof back, 'string', `${name}: ${String(back)}`);
      const restored = back as AnomalyDeviceState;
      const results = c.next.map((x) => JSON.parse(JSON.stringify(step(c.cfg, restored, x))) as StepResult);
      for (const r of results) if (r.kind === 'result' && r.anomaly.incident) delete r.anomaly.incident.peak;
      assert.deepEqual(results, c.results, name);
    }
  });

  it('deserialise names what is wrong with a stored model', () => {
    const c = fixture.cases.pca;
    const bad = structuredClone(c.state) as AnomalyDeviceState & { model: { pca: { t2Limit: number } } };
    bad.model.pca.t2Limit = 0;
    assert.equal(deserialiseState(bad, c.cfg), 'pca limits must be positive');
    assert.equal(strategyFor('l2').deserialise({ method: 'pca' }, 3), 'model method differs from state method');
    assert.equal(
      strategyFor('l2').deserialise({ method: 'l2', l2: { center: [0, 0], scale: [1, 0], limit: 1 } }, 2),
      'l2 model needs center, positive scale and limit'
    );
    assert.equal(
      strategyFor('ewma').deserialise(
        { method: 'ewma', ewma: { mean: [0], variance: [1], minVariance: [1], limit: -1 } },
        1
      ),
      'ewma model needs mean, positive variance/minVariance and limit'
    );
  });

  it('one strategy per method, each with the whole set of operations; config validation per method', () => {
    assert.deepEqual(Object.keys(METHOD_STRATEGIES).sort(), [...STAT_METHODS].sort());
    for (const m of STAT_METHODS) {
      const s = strategyFor(m);
      assert.equal(s.method, m);
      for (const op of [
        'initialModel',
        'defaultFeatures',
        'validateConfig',
        'fit',
        'score',
        'learn',
        'centre',
        'validateModel',
        'size',
        'serialise',
        'deserialise',
      ] as const)
        assert.equal(typeof s[op], 'function', `${m}.${op}`);
    }
    assert.match(String(strategyFor('threshold').validateConfig(defaultsFor('threshold'))), /needs limits/);
    assert.equal(
      strategyFor('threshold').validateConfig({ ...defaultsFor('threshold'), limits: { t: { highWarning: 1 } } }),
      null
    );
    for (const m of ['l2', 'ewma', 'pca'] as const) assert.equal(strategyFor(m).validateConfig(defaultsFor(m)), null);
    assert.throws(() => strategyFor('nope' as never), /unknown anomaly method nope/);
  });

  it('size counts what each model retains: pca grows with its components, threshold keeps no numbers', () => {
    const rows = gaussianRows(200, 4, 3);
    const sizes: Record<string, number> = {};
    for (const m of ['l2', 'ewma', 'pca'] as const) {
      const cfg = { ...defaultsFor(m), trainSize: 200, inputWindow: 1 };
      const st = newState(cfg, ['a', 'b', 'c', 'd']);
      for (const r of rows) step(cfg, st, r);
      sizes[m] = strategyFor(m).size(st.model!);
      assert.equal(stateSize(st), (st.window.length + sizes[m]) * 8, m);
    }
    const k = (fixture.cases.pca.state.model as { pca: { components: number[][] } }).pca.components.length;
    assert.equal(strategyFor('pca').size(fixture.cases.pca.state.model!), 4 * 2 + k * 5);
    assert.deepEqual([sizes.l2, sizes.ewma], [8, 12]);
    assert.equal(strategyFor('threshold').size({ method: 'threshold' }), 0);
  });
});
