// Tenant identity shared by every node (issue #18): one pipeline serving several plants or customers, each
// with its own devices, keys, data and operators. A tenant is a short name; a device id is unique only
// within its tenant, so every per-device table keys a tenant's device as `<tenant>/<device_id>` (a device
// id never contains '/', so the scoped key of one tenant can never equal a device id or another tenant's
// key). Messages without a tenant keep their plain device id: tenants off behaves exactly as before.
import type { Reject } from './contract';

/** Tenant names: topic-safe and tag-safe, no '/', '.', ':' or wildcards. */
export const TENANT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isTenant(v: unknown): v is string {
  return typeof v === 'string' && TENANT_PATTERN.test(v);
}

/** The key a per-device table uses: the plain device id without a tenant, `<tenant>/<device>` with one. */
export function scopedKey(tenant: string | undefined, deviceId: string): string {
  return tenant ? `${tenant}/${deviceId}` : deviceId;
}

/** Inverse of scopedKey. */
export function splitScoped(key: string): { tenant?: string; device_id: string } {
  const i = key.indexOf('/');
  return i < 0 ? { device_id: key } : { tenant: key.slice(0, i), device_id: key.slice(i + 1) };
}

/** The partition (tenant) of a scoped key; '' for keys without a tenant. */
export function partitionOf(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The tenant a message belongs to: msg.moby.tenant (set by hmac-verify from the authenticated topic or
 * envelope), else the point's tags.tenant, an alert event's alert.tenant or a health event's tenant.
 * Undefined when the message has none (tenants off) or when the value is not a valid tenant name.
 */
export function tenantOfMessage(msg: { moby?: unknown; payload?: unknown }): string | undefined {
  const moby = msg.moby;
  if (isObject(moby) && moby.tenant !== undefined) return isTenant(moby.tenant) ? moby.tenant : undefined;
  const p = msg.payload;
  if (!isObject(p)) return undefined;
  if (isObject(p.tags) && p.tags.tenant !== undefined) return isTenant(p.tags.tenant) ? p.tags.tenant : undefined;
  if (isObject(p.alert) && p.alert.tenant !== undefined) return isTenant(p.alert.tenant) ? p.alert.tenant : undefined;
  return isTenant(p.tenant) ? p.tenant : undefined;
}

/**
 * The reject for a point that names a tenant its authentication did not give it, else null. hmac-verify puts a
 * tenant's device's tenant in msg.moby.tenant; a device it verified *without* a tenant (a mixed keyring: keys
 * outside `@tenants` next to tenants' keys) has none there, and every later node (anomaly, alert, the writer's
 * tenant routing) would fall back to the point's `tags.tenant` (tenantOfMessage): a payload or topic saying
 * `tenant: acme` would put that device's points into acme's bucket and its alerts into acme's view and
 * channels. `tenant` is the authenticated tenant ('' for none), `claimed` the point's tags.tenant.
 */
export function unearnedTenant(claimed: unknown, tenant: string, deviceId: string | undefined): Reject | null {
  if (tenant || claimed === undefined) return null;
  const shown = typeof claimed === 'string' ? JSON.stringify(claimed.slice(0, 64)) : typeof claimed;
  return {
    code: 'tenant_mismatch',
    reason:
      `the point names tenant ${shown} but ${deviceId !== undefined ? `device ${deviceId}` : 'its device'} ` +
      'was authenticated without a tenant: a tenant comes only from verification (docs/tenants.md)',
    ...(deviceId !== undefined ? { device_id: deviceId } : {}),
    field: 'tags.tenant',
  };
}

/**
 * The device-health table's id of a tenant's device: `<tenant>~<device_id>`. The health table's ids allow
 * '~' but not '/', and a signed device id never contains '~', so the tenant is recovered unambiguously.
 */
export function scopeHealthId(tenant: string, deviceId: string): string {
  return `${tenant}~${deviceId}`;
}

const SCOPED_HEALTH_ID = /^([A-Za-z0-9_-]{1,64})~([A-Za-z0-9_.:-]{1,128})$/;

/** Inverse of scopeHealthId; ids of tenant-less devices come back as they are. */
export function unscopeHealthId(id: string): { tenant?: string; device_id: string } {
  const m = SCOPED_HEALTH_ID.exec(id);
  return m ? { tenant: m[1], device_id: m[2] } : { device_id: id };
}

/** A health event with a scoped id turned into device_id + tenant. */
export function unscopeEvent<E extends { device_id: string; tenant?: string }>(ev: E): E {
  const id = unscopeHealthId(ev.device_id);
  return id.tenant === undefined ? ev : { ...ev, device_id: id.device_id, tenant: id.tenant };
}
