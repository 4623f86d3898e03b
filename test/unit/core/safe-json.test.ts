import assert from 'node:assert/strict';
import { parseJsonSafe, checkValue, duplicateKeyIn, firstDuplicateKey, walk } from '../../../nodes/core/safe-json';

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

  it('refuses a key given twice in one object, naming it and its path (escaped spellings of a key are the same key)', () => {
    assert.deepEqual(parseJsonSafe('{"device_id":"x","temperature":1,"temperature":1e6}'), {
      ok: false,
      reject: {
        code: 'duplicate_key',
        reason: 'key "temperature" appears twice in one object at temperature',
        field: 'temperature',
      },
    });
    const cases: Array<[string, string | null]> = [
      ['{"a":1,"a":2}', 'a'],
      ['{"a":1,"\\u0061":2}', 'a'],
      ['{"a":{"b":1,"c":{"b":2}},"d":[{"x":1},{"x":2,"y":"\\"x\\":","x":3}]}', 'd[1].x'],
      ['[1,{"a":[{"k":1,"k":2}]}]', '[1].a[0].k'],
      ['{"x":"\\\\","x":1}', 'x'],
      // the same key in sibling or nested objects, and look-alikes inside strings, are not duplicates
      ['{"s":"a,\\"b\\":{","b":1}', null],
      ['{"a":1,"b":[1,2,{"a":1}],"c":{"a":{}}}', null],
      ['{}', null],
      ['"a"', null],
      [' { "a" : 1 , "b" : { "a" : [ { "a" : 1 } ] } } ', null],
    ];
    for (const [text, path] of cases) {
      JSON.parse(text); // every case is valid JSON
      assert.equal(firstDuplicateKey(text)?.path ?? null, path, text);
      // the counting fast path the parsers use decides the same
      assert.equal(duplicateKeyIn(text, JSON.parse(text))?.path ?? null, path, text);
    }
    // JSON.stringify never writes a duplicate: the scanner agrees on whatever it writes
    for (const v of [{ a: [1, { b: 'x"y,"b":' }], c: { d: null } }, [[], {}, [{}]], { '': 1, ' ': { '': 2 } }])
      assert.equal(firstDuplicateKey(JSON.stringify(v, null, 1)), null);
  });

  it('the duplicate-key check takes any depth JSON.parse takes, without recursion (before: 30,000 levels of [ threw a RangeError, red-team round 2026-12-05)', () => {
    const levels = 30_000;
    const arrays = '['.repeat(levels) + ']'.repeat(levels);
    assert.equal(duplicateKeyIn(arrays, JSON.parse(arrays)), null);
    const deepDup = '{"a":'.repeat(levels / 2) + '{"x":1,"x":2}' + '}'.repeat(levels / 2);
    const found = duplicateKeyIn(deepDup, JSON.parse(deepDup));
    assert.equal(found?.key, 'x');
    assert.equal(found?.path, `${'a.'.repeat(levels / 2)}x`);
    const deepClean = '{"a":'.repeat(levels / 2) + '{"x":1,"y":2}' + '}'.repeat(levels / 2);
    assert.equal(duplicateKeyIn(deepClean, JSON.parse(deepClean)), null);
    // what the nodes call: refused as too deep, with a code
    for (const text of [arrays, deepClean]) {
      const r = parseJsonSafe(text, { maxBytes: 1 << 20 });
      assert.equal(r.ok, false);
      if (!r.ok) assert.equal(r.reject.code, 'too_deep');
    }
    const dup = parseJsonSafe(deepDup, { maxBytes: 1 << 20 });
    assert.equal(dup.ok, false);
    if (!dup.ok) assert.equal(dup.reject.code, 'duplicate_key');
    // at the fast path's depth bound and just past it, the same answer as the text walk
    for (const d of [63, 64, 65, 66]) {
      const t = '{"a":'.repeat(d) + '{"x":1,"x":2}' + '}'.repeat(d);
      assert.equal(duplicateKeyIn(t, JSON.parse(t))?.key, 'x', `depth ${d}`);
      const c = '['.repeat(d) + '{"x":1}' + ']'.repeat(d);
      assert.equal(duplicateKeyIn(c, JSON.parse(c)), null, `depth ${d}`);
    }
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
