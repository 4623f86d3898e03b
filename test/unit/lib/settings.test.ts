import assert from 'node:assert/strict';
import { choiceSetting } from '../../../nodes/lib/settings';

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
