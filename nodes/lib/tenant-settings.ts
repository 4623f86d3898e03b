// Per-tenant JSON settings of the adapters (alert tenant tokens and channels, InfluxDB tenant targets), read
// the same way: one place decides what a tenant name may be and how a bad setting is reported.
import { FORBIDDEN_KEYS } from '../core/safe-json';
import { isTenant } from '../core/tenant';

/**
 * A per-tenant JSON setting `{"<tenant>": …}` (text, or an object the runtime already parsed) as
 * [tenant, value] pairs; empty = none. Throws naming the setting (`what`) with its `shape`, never echoing a
 * value (some are tokens).
 */
export function tenantMapSetting(v: unknown, what: string, shape: string): Array<[string, unknown]> {
  if (v === undefined || v === null || (typeof v === 'string' && !v.trim())) return [];
  let doc: unknown = v;
  // a reference Node-RED could not resolve stays as written: "not valid JSON" sent the deployer looking for a
  // syntax error in a variable that was never set (newcomer round 2026-12-07, the tenants flow outside npm start)
  const unset = typeof v === 'string' ? /^\s*\$\{(\w+)\}\s*$/.exec(v) : null;
  if (unset) throw new Error(`${what} come from the environment variable ${unset[1]}, which is not set`);
  if (typeof v === 'string') {
    try {
      doc = JSON.parse(v);
    } catch {
      throw new Error(`${what} are not valid JSON: ${shape}`);
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new Error(`${what} must be a JSON object ${shape}`);
  const entries = Object.entries(doc);
  for (const [tenant] of entries) {
    if (!isTenant(tenant) || FORBIDDEN_KEYS.has(tenant))
      throw new Error(`${what}: tenant "${tenant.slice(0, 40)}" must be 1-64 chars of [A-Za-z0-9_-]`);
  }
  return entries;
}
