import assert from 'node:assert/strict';
import { parseJsonSafe, checkValue, walk } from '../../../nodes/core/safe-json';

describe('parseJsonSafe', () => {
  it('parses ordinary JSON from a string or a Buffer', () => {
    assert.deepEqual(parseJsonSafe('{"a":[1,2,{"b":true}]}'), { ok: true, value: { a: [1, 2, { b: true }] } });
    assert.deepEqual(parseJsonSafe(Buffer.from('{"x":1}')), { ok: true, value: { x: 1 } });
  });

  it('rejects each kind of hostile input with its own code', () => {
    const code = (r: ReturnType<typeof parseJsonSafe>) => (r.ok ? 'ok' : r.reject.code);
    assert.equal(code(parseJsonSafe('{"a":')), 'malformed_json');
    assert.equal(code(parseJsonSafe('"' + 'x'.repeat(100) + '"', { maxBytes: 50 })), 'too_large');
    assert.equal(code(parseJsonSafe(Buffer.alloc(60, 0x20), { maxBytes: 50 })), 'too_large');
    assert.equal(code(parseJsonSafe('{"a":{"b":{"c":1}}}', { maxDepth: 2 })), 'too_deep');
    assert.equal(code(parseJsonSafe('[1,2,3,4]', { maxKeys: 3 })), 'too_many_keys');
    assert.equal(code(parseJsonSafe('{"a":{"__proto__":{"polluted":1}}}')), 'forbidden_key');
    assert.equal(code(parseJsonSafe('{"constructor":{"prototype":{}}}')), 'forbidden_key');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('names the offending field', () => {
    const r = parseJsonSafe('{"a":{"b":[0,{"prototype":1}]}}');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.reject.field, 'a.b[1].prototype');
  });

  it('checks values built in code, including non-finite numbers', () => {
    assert.equal(checkValue({ a: NaN })?.code, 'bad_number');
    assert.equal(checkValue([1, Infinity])?.code, 'bad_number');
    assert.equal(checkValue({ a: 1 }), null);
  });

  it('checkValue names the same reject as its ordered walk on values with none, one or several problems', () => {
    let seed = 5;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const leaves = [1, -0, 2.5, 'x', true, null, NaN, Infinity, -Infinity];
    const keys = ['a', 'b', 'value', 'constructor', '__proto__', 'prototype', 'c'];
    const make = (depth: number): unknown => {
      const r = rnd();
      if (depth > 10 || r < 0.45) return r < 0.02 ? leaves[6 + Math.floor(rnd() * 3)] : leaves[Math.floor(rnd() * 6)];
      const n = Math.floor(rnd() * 5);
      if (r < 0.6) return Array.from({ length: n }, () => make(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = rnd() < 0.03 ? keys[3 + Math.floor(rnd() * 3)] : `${keys[Math.floor(rnd() * 3)]}${i}`;
        if (Object.prototype.hasOwnProperty.call(o, k)) continue;
        if (k === '__proto__') Object.defineProperty(o, k, { value: make(depth + 1), enumerable: true });
        else o[k] = make(depth + 1);
      }
      return o;
    };
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const v = make(0);
      if (typeof v !== 'object' || v === null) continue;
      for (const [maxDepth, maxKeys] of [
        [8, 500],
        [3, 500],
        [8, 12],
        [4, 2000],
      ]) {
        const want = walk(v, maxDepth, maxKeys);
        if (want) refused++;
        assert.deepEqual(checkValue(v, { maxDepth, maxKeys }), want, JSON.stringify(v));
      }
    }
    assert.ok(refused > 1000, `only ${refused} refused: the generator tests too little`);
  });
});
