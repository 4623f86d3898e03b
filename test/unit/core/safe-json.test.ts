import assert from 'node:assert/strict';
import { parseJsonSafe, checkValue } from '../../../nodes/core/safe-json';

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
});
