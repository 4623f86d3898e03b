// The onnx scorer's saved device state is input (a context file, a document from another node): every entry
// is checked for shape and finite values before the scorer looks at it.
import assert from 'node:assert/strict';
import { decodeRows, parseSavedDevice, parseSavedStates } from '../../../../../nodes/core/anomaly/onnx/saved-state';

/** Window rows as the scorer saves them: base64 of little-endian float32. */
const f32 = (values: number[]): string => {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b.toString('base64');
};

const GOOD = {
  bundle: 'eq/p/v1',
  features: ['a', 'b'],
  scaler: { mean: [0, 1], std: [1, 2] },
  window: 3,
  rows: f32([0.1, 0.2, 0.3, 0.4]),
  t: 1700000000000,
  scores: [0.5, 0.25],
  center: [0.01, 1.2],
};

describe('anomaly-onnx saved device state', () => {
  it('accepts a state as the scorer saves it, with or without scaler, scores and centre', () => {
    assert.deepEqual(parseSavedDevice(GOOD), GOOD);
    const { scores: _s, center: _c, ...rest } = GOOD;
    const bare = { ...rest, scaler: null, rows: '' };
    assert.deepEqual(parseSavedDevice(bare), bare);
  });

  it('rejects garbage, naming what is wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /not an object/],
      [[GOOD], /not an object/],
      [{ ...GOOD, bundle: '' }, /bundle/],
      [{ ...GOOD, features: [] }, /features/],
      [{ ...GOOD, features: ['a', 3] }, /features/],
      [{ ...GOOD, window: 0 }, /window/],
      [{ ...GOOD, window: 2.5 }, /window/],
      [{ ...GOOD, scaler: { mean: [0], std: [1] } }, /scaler needs 2/],
      [{ ...GOOD, scaler: { mean: [0, 1], std: [1, NaN] } }, /scaler/],
      [{ ...GOOD, scaler: undefined }, /scaler/],
      [{ ...GOOD, rows: f32([1, 2, 3]) }, /rows/],
      [{ ...GOOD, rows: f32(new Array(8).fill(0)) }, /rows/],
      [{ ...GOOD, rows: f32([0, Infinity]) }, /rows/],
      [{ ...GOOD, rows: f32([0, NaN]) }, /rows/],
      [{ ...GOOD, rows: [0.1, 0.2] }, /rows/],
      [{ ...GOOD, rows: 'not base64!' }, /rows/],
      [{ ...GOOD, rows: 'A'.repeat(1e6) }, /rows/],
      [{ ...GOOD, t: 'now' }, /\bt\b/],
      [{ ...GOOD, scores: [NaN] }, /scores/],
      [{ ...GOOD, center: [0] }, /center/],
      [{ ...GOOD, center: [0, -Infinity] }, /center/],
    ];
    for (const [v, why] of cases) {
      const r = parseSavedDevice(v);
      assert.equal(typeof r, 'string', JSON.stringify(v));
      assert.match(r as string, why);
    }
  });

  it('the RUL averaging history (version 2): kept when RulAverage could have held it, else refused naming the field', () => {
    const rul = { k: 3, ages: [14, 16], preds: [80.5, 77] };
    assert.deepEqual(parseSavedDevice({ ...GOOD, rul }), { ...GOOD, rul });
    assert.deepEqual(parseSavedDevice({ ...GOOD, rul: { k: 2, ages: [], preds: [] } }), {
      ...GOOD,
      rul: { k: 2, ages: [], preds: [] },
    });
    const cases: Array<[unknown, string]> = [
      [null, 'rul must be {k, ages, preds}'],
      [[14, 16], 'rul must be {k, ages, preds}'],
      [{ ...rul, k: 0 }, 'rul.k must be an integer from 1 to 1000'],
      [{ ...rul, k: 1001 }, 'rul.k must be an integer from 1 to 1000'],
      [{ ...rul, k: '3' }, 'rul.k must be an integer from 1 to 1000'],
      [{ ...rul, ages: [13, 14, 15, 16], preds: [1, 2, 3, 4] }, 'rul.ages must be at most 3 finite numbers'],
      [{ ...rul, ages: [14, NaN] }, 'rul.ages must be at most 3 finite numbers'],
      [{ ...rul, ages: undefined }, 'rul.ages must be at most 3 finite numbers'],
      [{ ...rul, preds: [80.5] }, 'rul.preds must be finite numbers, one per age'],
      [{ ...rul, preds: [80.5, Infinity] }, 'rul.preds must be finite numbers, one per age'],
      [{ ...rul, preds: [80.5, '77'] }, 'rul.preds must be finite numbers, one per age'],
      [{ ...rul, ages: [16, 14] }, 'rul.ages must be strictly increasing'],
      [{ ...rul, ages: [14, 14] }, 'rul.ages must be strictly increasing'],
      [{ ...rul, ages: [14, 17] }, 'rul.ages must span fewer than 3 steps'],
    ];
    for (const [v, why] of cases) assert.equal(parseSavedDevice({ ...GOOD, rul: v }), why, JSON.stringify(v));
  });

  it('decodeRows reads the window rows back exactly', () => {
    const v = [0.1, -3e7, 1e-30, 0];
    assert.deepEqual(decodeRows(f32(v), 2, 2), Float32Array.from(v));
    assert.deepEqual(decodeRows('', 2, 2), new Float32Array(0));
    assert.equal(typeof decodeRows(f32(v), 2, 1), 'string', 'more rows than the window');
  });

  it('reads the document string the node stores, or an object; skips prototype keys; says when it is not JSON', () => {
    const text = JSON.stringify({ d1: GOOD, d2: { nope: 1 } });
    const r = parseSavedStates(text);
    assert.deepEqual(
      r.entries.map(([k, v]) => [k, typeof v]),
      [
        ['d1', 'object'],
        ['d2', 'string'],
      ]
    );
    assert.deepEqual(parseSavedStates(JSON.parse('{"__proto__": {"x": 1}}')).entries, []);
    assert.deepEqual(parseSavedStates('{truncated'), { entries: [], unreadable: true });
    assert.deepEqual(parseSavedStates(undefined), { entries: [] });
  });
});
