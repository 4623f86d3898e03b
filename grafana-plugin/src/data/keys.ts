// One device of one tenant (MOBY docs/tenants.md): device ids are unique only within a tenant, so an admin
// dashboard over two tenants has two `pump-001`. Every per-device map of the panel is keyed by this, never
// by the bare device id, or both machines would merge into one card.

/** `<tenant>/<device_id>` for a tenant's device, the plain device id without a tenant ('/' never occurs in a device id). */
export function deviceKey(d: { deviceId: string; tenant?: string }): string {
  return d.tenant ? `${d.tenant}/${d.deviceId}` : d.deviceId;
}
