// The anomaly node's saved state as a document of per-device entries kept between saves
// (nodes/core/anomaly/state-document.ts): what a save writes, what it serialises again, and that the string
// it stores restores like the object older versions stored. test/nodes/anomaly/anomaly.test.ts restarts a
// flow from what the periodic saves wrote.
import assert from 'node:assert/strict';
import { defaultsFor, newState, step, type AnomalyDeviceState } from '../../../../nodes/core/anomaly/detector';
import { restoreStates } from '../../../../nodes/core/anomaly/messages';
import { parseStoredStates, StateDocument } from '../../../../nodes/core/anomaly/state-document';
import { gaussianRows } from '../../../support/anomaly-data';

const cfg = { ...defaultsFor('l2'), trainSize: 50, inputWindow: 1 };
const rows = gaussianRows(60, 3, 9);

function fleet(n: number): Array<[string, AnomalyDeviceState]> {
  const out: Array<[string, AnomalyDeviceState]> = [];
  for (let i = 0; i < n; i++) {
    const s = newState(cfg, ['a', 'b', 'c']);
    for (const r of rows.slice(0, 50 + (i % 5))) step(cfg, s, r);
    out.push([`dev-${i}`, s]);
  }
  return out;
}

describe('anomaly state document', () => {
  it('is the JSON of the object of states, in the order given, and only changed states are serialised again', () => {
    const states = fleet(6);
    const doc = new StateDocument<AnomalyDeviceState>();
    const first = doc.document(states);
    assert.equal(first, JSON.stringify(Object.fromEntries(states)));
    assert.deepEqual(doc.stats, { serialised: 6, reused: 0 });

    // dev-2 scores a point; nothing else moves
    step(cfg, states[2][1], rows[55]);
    doc.changed(states[2][1]);
    const second = doc.document(states);
    assert.equal(second, JSON.stringify(Object.fromEntries(states)), 'the document holds dev-2 as it is now');
    assert.notEqual(second, first);
    assert.deepEqual(doc.stats, { serialised: 7, reused: 5 });
  });

  it('a state mutated without changed() keeps its last saved text (every mutation must call it)', () => {
    const states = fleet(2);
    const doc = new StateDocument<AnomalyDeviceState>();
    const first = doc.document(states);
    step(cfg, states[0][1], rows[56]);
    assert.equal(doc.document(states), first);
  });

  it('built in slices it is the same document, with the event loop yielded between slices', async () => {
    const states = fleet(40);
    const doc = new StateDocument<AnomalyDeviceState>();
    let turns = 0;
    // a zero budget: a slice ends at every 16th entry
    const text = await doc.documentInSlices(states, 0, async () => {
      turns++;
    });
    assert.equal(text, JSON.stringify(Object.fromEntries(states)));
    assert.equal(turns, 2);
    // a second save reuses every entry
    assert.equal(await doc.documentInSlices(states, 0), text);
    assert.deepEqual(doc.stats, { serialised: 40, reused: 40 });
  });

  it('within its bound in characters: the most recently active devices, the others left out and counted, none serialised past the first that does not fit', async () => {
    const states = fleet(10); // least recently active first
    const whole = JSON.stringify(Object.fromEntries(states));
    const entryChars = (whole.length - 2) / states.length; // about: the states differ by a few rows
    const bound = Math.floor(entryChars * 4.5);
    const expected = JSON.stringify(Object.fromEntries(states.slice(-4)));
    assert.ok(expected.length <= bound && JSON.stringify(Object.fromEntries(states.slice(-5))).length > bound);

    const doc = new StateDocument<AnomalyDeviceState>(bound);
    assert.equal(doc.document(states), expected, 'the last four, in the order given');
    assert.equal(doc.leftOut, 6);
    assert.equal(doc.saved, 4);
    // four taken and the fifth that did not fit: the five oldest were never serialised
    assert.deepEqual(doc.stats, { serialised: 5, reused: 0 });

    // in slices (a slice ends at every 16th entry with a zero budget), the same document and counts
    const sliced = new StateDocument<AnomalyDeviceState>(bound);
    assert.equal(await sliced.documentInSlices(states, 0, async () => undefined), expected);
    assert.equal(sliced.leftOut, 6);
    // one device that alone passes the bound: an empty document, still JSON
    const tiny = new StateDocument<AnomalyDeviceState>(10);
    assert.equal(tiny.document(states), '{}');
    assert.equal(tiny.leftOut, 10);
    // all of them fit again: nothing left out
    assert.equal(new StateDocument<AnomalyDeviceState>(whole.length).document(states), whole);
    const exact = new StateDocument<AnomalyDeviceState>(whole.length);
    await exact.documentInSlices(states, 0, async () => undefined);
    assert.equal(exact.leftOut, 0);
  });

  it("the calibration rows (the growing field) are serialised once each: every save's text is JSON.stringify's, through growth, a fit and a new buffer", async () => {
    const c = { ...defaultsFor('pca'), trainSize: 80 };
    const rows80 = gaussianRows(200, 4, 21);
    const states: Array<[string, AnomalyDeviceState]> = [0, 1, 2].map((i) => [
      `dev-${i}`,
      newState(c, ['a', 'b', 'c', 'd']),
    ]);
    const plain = new StateDocument<AnomalyDeviceState>();
    const growing = new StateDocument<AnomalyDeviceState>(undefined, 'buffer');
    let k = 0;
    for (let round = 0; round < 60; round++) {
      // each device takes a few points (the first fits at 80 rows and then scores), then both documents save
      for (const [i, [, st]] of states.entries()) {
        for (let p = 0; p < 1 + i; p++) {
          step(c, st, rows80[k++ % rows80.length]);
          plain.changed(st);
          growing.changed(st);
        }
      }
      if (round === 40) {
        // another array in place of a calibrating buffer (a failed fit starts one), longer and with other
        // rows, then a missing row (written null); and a long buffer where there was none
        states[0][1].buffer = rows80.slice(100, 145).map((r) => r.slice());
        (states[0][1].buffer as unknown[]).push(undefined);
        states[2][1].buffer = rows80.slice(150, 190).map((r) => r.slice());
        plain.changed(states[2][1]);
        growing.changed(states[2][1]);
        plain.changed(states[0][1]);
        growing.changed(states[0][1]);
      }
      if (round === 50) {
        // the same array cut short in place: its kept text starts again
        (states[0][1].buffer as unknown[]).length = 34;
        plain.changed(states[0][1]);
        growing.changed(states[0][1]);
      }
      const expected = JSON.stringify(Object.fromEntries(states));
      assert.equal(plain.document(states), expected);
      assert.equal(
        round % 2 ? await growing.documentInSlices(states, 0, async () => undefined) : growing.document(states),
        expected,
        `round ${round}`
      );
    }
    assert.ok(
      states.some(([, st]) => st.model !== null),
      'a device fitted during the run'
    );
    assert.ok(
      states.some(([, st]) => st.buffer !== null && st.buffer.length > 32),
      'a device still calibrating'
    );
  });

  it('a device renamed or moved to another key is written under its key', () => {
    const [[, s]] = fleet(1);
    const doc = new StateDocument<AnomalyDeviceState>();
    doc.document([['a', s]]);
    assert.equal(doc.document([['b', s]]), JSON.stringify({ b: s }));
  });

  it('restores from the stored string exactly as from the object older versions stored', () => {
    const states = fleet(3);
    const text = new StateDocument<AnomalyDeviceState>().document(states);
    const fromString = restoreStates(text, cfg, 10);
    const fromObject = restoreStates(JSON.parse(text), cfg, 10);
    assert.deepEqual(fromString, fromObject);
    assert.deepEqual(
      fromString.accepted.map(([k]) => k),
      ['dev-0', 'dev-1', 'dev-2']
    );
    assert.equal(parseStoredStates(undefined), undefined);
    assert.equal(parseStoredStates('{not json'), null);
    assert.deepEqual(restoreStates('{not json', cfg, 10), { accepted: [], refused: 0, tooWide: 0, unreadable: true });
  });
});
