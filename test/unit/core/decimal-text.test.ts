import assert from 'node:assert/strict';
import { isDecimalText } from '../../../nodes/core/decimal-text';
import { normalize } from '../../../nodes/core/normalize/normalize';
import { newStateFor, textNumberFields } from '../../../nodes/core/anomaly/messages';
import { defaultsFor, type AnomalyDeviceState } from '../../../nodes/core/anomaly/detector';
import type { Point } from '../../../nodes/core/contract';

// moby-anomaly's warning about numbers sent as text tells the integrator to turn on moby-normalize's coerce:
// both must read the same text as a number, or the advice would not fix what the warning names
const SAMPLES = [
  '1.5',
  '-2e3',
  '+.5',
  '7.',
  '00012',
  ' 7 ',
  '7 ',
  '0x10',
  '0b11',
  '0o7',
  '',
  '.',
  '-',
  'NaN',
  'Infinity',
  '1_000',
  '1,5',
  '1'.repeat(41),
];

describe('decimal text: one rule for coerce and the anomaly warning', () => {
  it('reads decimal numbers only', () => {
    assert.deepEqual(SAMPLES.filter(isDecimalText), ['1.5', '-2e3', '+.5', '7.', '00012']);
  });

  it('names in the warning exactly the fields that coerce turns into numbers', () => {
    const fields = Object.fromEntries(SAMPLES.map((s, i) => [`f${i}`, s]));
    const r = normalize({ device_id: 'd', ...fields }, { coerceNumericStrings: true, keepStrings: false });
    assert.ok(r.ok);
    const coerced = Object.keys(r.point.fields).filter((k) => typeof r.point.fields[k] === 'number');
    const cfg = defaultsFor('pca');
    const point = { measurement: 't', tags: { device_id: 'd' }, fields: { ...fields, n: 1 }, timestamp: 1 } as Point;
    const state = newStateFor(cfg, point, 64) as AnomalyDeviceState;
    assert.deepEqual(textNumberFields(cfg, point, state.features, 100), coerced);
    assert.deepEqual(coerced, ['f0', 'f1', 'f2', 'f3', 'f4']);
  });
});
