// The per-method strategies (nodes/core/anomaly/methods.ts) against device states saved before they
// existed: test/fixtures/anomaly-states-v1.json was written by the detector as it was before the refactor
// (one switch per function), so loading it here and getting the same results, to the last bit, shows that
// persisted states and exports from earlier versions keep working and score exactly as before.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { step, validateState, AnomalyDeviceState, DetectorConfig, StepResult } from '../../nodes/core/anomaly/detector';

interface SavedCase {
  cfg: DetectorConfig;
  state: AnomalyDeviceState;
  next: number[][];
  results: StepResult[];
  stateAfter: AnomalyDeviceState;
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'anomaly-states-v1.json'), 'utf8')) as { cases: Record<string, SavedCase> };

describe('anomaly strategies: states saved before the refactor', () => {
  for (const [name, c] of Object.entries(fixture.cases)) {
    it(`${name}: a saved state validates, then scores the next points exactly as before`, () => {
      assert.equal(validateState(c.state, c.cfg), null);
      const state = structuredClone(c.state);
      const results = c.next.map((x) => JSON.parse(JSON.stringify(step(c.cfg, state, x))) as StepResult);
      assert.deepEqual(results, c.results);
      assert.deepEqual(JSON.parse(JSON.stringify(state)), c.stateAfter);
    });
  }

  it('the fixture covers every method, fitted and calibrating, with alarms raised and cleared', () => {
    const methods = new Set(Object.values(fixture.cases).map((c) => c.cfg.method));
    assert.deepEqual([...methods].sort(), ['ewma', 'l2', 'pca', 'threshold']);
    assert.ok(Object.values(fixture.cases).some((c) => c.state.model === null && (c.state.buffer?.length ?? 0) > 0), 'a calibrating state');
    for (const [name, c] of Object.entries(fixture.cases)) {
      if (c.state.model === null) continue;
      const alarms = c.results.map((r) => r.kind === 'result' && r.anomaly.alarm);
      assert.ok(alarms.includes(true) && alarms.lastIndexOf(false) > alarms.indexOf(true), `${name}: an alarm opens and clears`);
    }
  });
});
