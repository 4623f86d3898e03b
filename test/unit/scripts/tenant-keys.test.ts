// The demo's per-tenant masters (scripts/lib/tenant-keys.js, used by `npm start -- --tenants`): one tenant's keys
// file must reveal neither the platform master nor another tenant's master, and two tenants must never share
// one key variable by accident.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { deriveDeviceKey, parseKey } from '../../../nodes/core/hmac/scheme';

const keys = require('../../../scripts/lib/tenant-keys.js') as {
  tenantKeyVar(t: string): string;
  tenantKeyVarClash(ts: string[]): { first: string; second: string; variable: string } | null;
  tenantMaster(env: Record<string, string | undefined>, t: string): string;
};

const PLATFORM = 'moby-development-master-key-change-me';

describe('scripts/lib/tenant-keys', () => {
  it("derives each tenant's master one way: no tenant's file holds the platform master or leads to another's", () => {
    const env = { MOBY_MASTER_KEY: PLATFORM };
    const acme = keys.tenantMaster(env, 'acme');
    const beta = keys.tenantMaster(env, 'beta');
    assert.match(acme, /^hex:[0-9a-f]{64}$/);
    assert.notEqual(acme, beta);
    assert.ok(!acme.includes(PLATFORM) && !beta.includes(PLATFORM));
    // the old scheme's edit (":acme" → ":beta") gives nothing of beta's
    assert.ok(!acme.includes('acme'));
    assert.equal(keys.tenantMaster(env, 'acme'), acme, 'the same on every start (devices keep their keys)');
    assert.notEqual(keys.tenantMaster({ MOBY_MASTER_KEY: `${PLATFORM}x` }, 'acme'), acme);
    // a device key of acme is not beta's for the same device id
    const dev = (m: string) => deriveDeviceKey(parseKey(m), 'pump-001').toString('hex');
    assert.notEqual(dev(acme), dev(beta));
  });

  it("takes a tenant's own variable when it is set", () => {
    const env = { MOBY_MASTER_KEY: PLATFORM, MOBY_MASTER_KEY_PLANT_2: 'hex:' + 'ab'.repeat(32) };
    assert.equal(keys.tenantKeyVar('plant-2'), 'MOBY_MASTER_KEY_PLANT_2');
    assert.equal(keys.tenantMaster(env, 'plant-2'), env.MOBY_MASTER_KEY_PLANT_2);
  });

  it('finds two tenants that would read one key variable, and npm start refuses them before starting anything', () => {
    assert.equal(keys.tenantKeyVarClash(['acme', 'beta', 'plant-2']), null);
    assert.deepEqual(keys.tenantKeyVarClash(['acme', 'beta', 'ACME']), {
      first: 'acme',
      second: 'ACME',
      variable: 'MOBY_MASTER_KEY_ACME',
    });
    assert.equal(keys.tenantKeyVarClash(['a-b', 'a_b'])?.variable, 'MOBY_MASTER_KEY_A_B');
    const run = spawnSync(
      process.execPath,
      [path.join(__dirname, '../../../scripts/start.js'), '--tenants', 'a-b,a_b'],
      {
        encoding: 'utf8',
        timeout: 20000,
        env: { ...process.env, MOBY_HOME: path.join(require('node:os').tmpdir(), 'moby-never-created') },
      }
    );
    assert.equal(run.status, 1);
    assert.match(run.stderr, /"a-b" and "a_b" would share MOBY_MASTER_KEY_A_B/);
  });
});
