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
