'use strict';
// The keys `npm start -- --tenants a,b` gives each tenant of the demo (docs/tenants.md, "The demo's keys").
const crypto = require('node:crypto');

/** The variable that may hold a tenant's own master key. */
function tenantKeyVar(tenant) {
  return `MOBY_MASTER_KEY_${tenant.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Two tenants of `tenants` that would read one MOBY_MASTER_KEY_<TENANT> variable (acme and ACME, a-b and a_b):
 * they would share a master without anyone choosing it. Null when there are none.
 */
function tenantKeyVarClash(tenants) {
  const seen = new Map();
  for (const t of tenants) {
    const other = seen.get(tenantKeyVar(t));
    if (other !== undefined) return { first: other, second: t, variable: tenantKeyVar(t) };
    seen.set(tenantKeyVar(t), t);
  }
  return null;
}

/**
 * The demo's master for a tenant without its own variable: HMAC-SHA256 of the platform master over the tenant's
 * name, so holding one tenant's master (its keys file, a device vendor's provisioning tool) reveals neither the
 * platform master nor another tenant's. (It was the platform master with ":<tenant>" appended: acme's file held
 * the platform master in plain text and beta's was one edit away — red-team round 2026-12-05.)
 */
function derivedTenantMaster(platformMaster, tenant) {
  return `hex:${crypto.createHmac('sha256', platformMaster).update(`moby tenant master\0${tenant}`).digest('hex')}`;
}

/** The master a tenant's keys file holds: its own variable, else the one derived from the platform master. */
function tenantMaster(env, tenant) {
  return env[tenantKeyVar(tenant)] || derivedTenantMaster(env.MOBY_MASTER_KEY, tenant);
}

module.exports = { tenantKeyVar, tenantKeyVarClash, derivedTenantMaster, tenantMaster };
