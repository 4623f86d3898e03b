import assert from 'node:assert/strict';
import { isOneOf } from '../../../nodes/core/guards';

describe('guards: isOneOf', () => {
  const states = ['ok', 'late', 'offline'] as const;

  it('is true for exactly one of the choices', () => {
    for (const s of states) assert.equal(isOneOf(s, states), true);
  });

  it('is false for anything else, including other case, padding, non-text and an empty list', () => {
    for (const v of ['OK', ' ok', 'ok ', '', undefined, null, 0, ['ok'], { ok: 1 }, 'constructor'])
      assert.equal(isOneOf(v, states), false, String(v));
    assert.equal(isOneOf('ok', []), false);
  });
});
