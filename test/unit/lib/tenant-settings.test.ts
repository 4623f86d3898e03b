// nodes/lib/tenant-settings.ts: the per-tenant JSON settings (alert tenant tokens and channels, InfluxDB tenant
// targets) are read by one function, which names the setting and never echoes a value.
import assert from 'node:assert/strict';
import { tenantMapSetting } from '../../../nodes/lib/tenant-settings';

describe('settings: tenantMapSetting', () => {
  const read = (v: unknown) => tenantMapSetting(v, 'tenant tokens', '{"<tenant>": "<token>"}');

  it('reads JSON text or an already parsed object; empty means none', () => {
    assert.deepEqual(read(' {"acme": "a", "beta-2": ["b", "c"]} '), [
      ['acme', 'a'],
      ['beta-2', ['b', 'c']],
    ]);
    assert.deepEqual(read({ acme: { bucket: 'x' } }), [['acme', { bucket: 'x' }]]);
    for (const empty of [undefined, null, '', '   ']) assert.deepEqual(read(empty), []);
  });

  it('names the setting and shows the shape, never the value', () => {
    assert.throws(
      () => read('{"acme": "secret-token-value'),
      (e: Error) => e.message === 'tenant tokens are not valid JSON: {"<tenant>": "<token>"}'
    );
    assert.throws(
      () => read('["secret-token-value"]'),
      (e: Error) => e.message === 'tenant tokens must be a JSON object {"<tenant>": "<token>"}'
    );
    assert.throws(() => read('"secret-token-value"'), /must be a JSON object/);
    assert.throws(
      () => read('{"bad/tenant": "secret-token-value"}'),
      (e: Error) =>
        e.message === 'tenant tokens: tenant "bad/tenant" must be 1-64 chars of [A-Za-z0-9_-]' &&
        !e.message.includes('secret')
    );
  });

  it('names an environment variable that was never set instead of calling it invalid JSON (newcomer round 2026-12-07)', () => {
    assert.throws(
      () => read('${MOBY_TENANT_TOKENS}'),
      (e: Error) =>
        e.message === 'tenant tokens come from the environment variable MOBY_TENANT_TOKENS, which is not set'
    );
    // text that merely contains a reference is the deployer's JSON, judged as such
    assert.throws(() => read('{"acme": ${X}}'), /not valid JSON/);
  });

  it('refuses prototype keys as tenant names, which the name pattern alone lets through', () => {
    assert.throws(() => read('{"__proto__": "x"}'), /tenant "__proto__" must be/);
    assert.throws(() => read('{"constructor": "x"}'), /tenant "constructor" must be/);
  });
});
