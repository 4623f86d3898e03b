// Every forbidden key on its own, at the top level, nested and inside a component: no case may pass just
// because another forbidden key sits beside it (a bare "constructor" must be refused by itself).
import assert from 'node:assert/strict';
import { normalize, type NormalizeResult } from '../../../../nodes/core/normalize/normalize';
import { FORBIDDEN_KEYS } from '../../../../nodes/core/safe-json';

const NOW = Date.UTC(2025, 10, 17, 10, 31, 0);

function rejectOf(r: NormalizeResult) {
  if (r.ok) assert.fail(`not rejected: ${JSON.stringify({ ...r.point.fields })}`);
  return r.reject;
}

describe('normalize (core): forbidden keys one at a time', () => {
  it('forbids exactly __proto__, constructor and prototype', () => {
    assert.deepEqual([...FORBIDDEN_KEYS].sort(), ['__proto__', 'constructor', 'prototype']);
  });

  for (const key of ['__proto__', 'constructor', 'prototype']) {
    const k = JSON.stringify(key);
    const places: Array<[string, string, string]> = [
      ['at the top level with a number', `{"device_id":"d","v":1,${k}:1}`, key],
      ['at the top level with an object', `{"device_id":"d","v":1,${k}:{"x":1}}`, key],
      ['nested in a group', `{"device_id":"d","v":1,"m":{${k}:2}}`, `m_${key}`],
      ['as a component field', `{"device_id":"d","components":{"motor":{"t":1,${k}:2}}}`, `motor_${key}`],
      ['as a component', `{"device_id":"d","components":{"motor":{"t":1},${k}:{"t":2}}}`, key],
    ];
    for (const [where, text, field] of places) {
      it(`rejects a bare "${key}" ${where}, naming the field`, () => {
        const r = rejectOf(normalize(text, {}, { now: NOW }));
        assert.equal(r.code, 'forbidden_key');
        assert.equal(r.field, field);
        assert.equal(r.device_id, 'd', 'which device: the one the payload names');
        assert.equal(({} as Record<string, unknown>).x, undefined);
      });
    }
  }

  it('names the device also when the forbidden key comes before its id, but not an id that is no valid name (newcomer round 2026-12-07)', () => {
    const early = rejectOf(
      normalize('{"components":{"motor":{"__proto__":{"t":1}}},"device_id":"pump-7"}', {}, { now: NOW })
    );
    assert.deepEqual([early.code, early.device_id], ['forbidden_key', 'pump-7']);
    const bad = rejectOf(normalize('{"__proto__":1,"device_id":""}', {}, { now: NOW }));
    assert.equal(bad.device_id, undefined);
    const custom = rejectOf(normalize('{"constructor":1,"id":"fan-2"}', { deviceIdKey: 'id' }, { now: NOW }));
    assert.equal(custom.device_id, 'fan-2');
  });
});
