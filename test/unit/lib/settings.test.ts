import assert from 'node:assert/strict';
import { choiceSetting, numberSetting } from '../../../nodes/lib/settings';

describe('choiceSetting (editor drop-downs: one of a fixed list, else the default)', () => {
  const choices = ['fdatasync', 'none'] as const;

  it('takes a setting that is exactly one of the choices', () => {
    assert.equal(choiceSetting('none', choices, 'fdatasync'), 'none');
    assert.equal(choiceSetting('fdatasync', choices, 'fdatasync'), 'fdatasync');
  });

  it('falls back on anything else: unset, empty, other case, padded, not text, inherited names', () => {
    for (const v of [
      undefined,
      null,
      '',
      'None',
      ' none',
      'none ',
      0,
      1,
      true,
      {},
      ['none'],
      'constructor',
      'toString',
    ])
      assert.equal(choiceSetting(v, choices, 'fdatasync'), 'fdatasync', String(v));
  });

  it('the fallback need not be the first choice', () => {
    assert.equal(choiceSetting('robust', ['std', 'robust'], 'std'), 'robust');
    assert.equal(choiceSetting('mad', ['std', 'robust'], 'robust'), 'robust');
  });

  it('tells onUnknown of a set value that is not a choice, not of an unset or empty one', () => {
    const heard: unknown[] = [];
    const onUnknown = (v: unknown) => heard.push(v);
    for (const v of [undefined, '', 'none', 'fdatasync']) choiceSetting(v, choices, 'fdatasync', onUnknown);
    assert.deepEqual(heard, []);
    for (const v of ['fsync', null, 0, 'NONE']) choiceSetting(v, choices, 'fdatasync', onUnknown);
    assert.deepEqual(heard, ['fsync', null, 0, 'NONE']);
  });
});

describe('numberSetting (numbers that may arrive as text, within bounds, else the default)', () => {
  it('takes numbers and numeric text in range; tells onInvalid of a set value it cannot use, not of a blank one', () => {
    const heard: unknown[] = [];
    const n = (v: unknown) => numberSetting(v, 7, 1, 10, (x) => heard.push(x));
    assert.deepEqual([n(3), n(' 4 '), n(10), n(1)], [3, 4, 10, 1]);
    assert.deepEqual([n(undefined), n(null), n(''), n('   ')], [7, 7, 7, 7]);
    assert.deepEqual(heard, [], 'blank means the default, nothing to say');
    assert.deepEqual([n(0), n(11), n('x'), n(true), n(Number.NaN), n('Infinity')], [7, 7, 7, 7, 7, 7]);
    assert.deepEqual(heard, [0, 11, 'x', true, Number.NaN, 'Infinity']);
    assert.equal(numberSetting('x', 5), 5, 'without onInvalid: the default, silently');
  });
});
