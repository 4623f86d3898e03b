// Per-device HMAC keys by key id (kid), for rotation: a device may hold several keys, inactive ones are
// kept only so a kid naming a retired key gets a precise answer. Master keys derive per-device keys as
// HMAC-SHA256(master, device_id), so a large fleet needs one secret. Key bytes stay inside this module;
// errors name the device and kid, never the secret.
import { deriveDeviceKey, parseKey, isDeviceId, DEVICE_ID_RULE } from './scheme';
import { FORBIDDEN_KEYS } from '../safe-json';
import { isPlainObject } from '../guards';
import { TENANT_PATTERN } from '../tenant';
import { BoundedMap } from '../bounded-map';

/**
 * Key of the bulk JSON holding per-tenant keyrings: `{ "@tenants": { "<tenant>": { "<device_id>": {…},
 * "*": {…} } } }`. '@' is not a device-id character, so the key can never be mistaken for a device.
 */
export const TENANTS_KEY = '@tenants';

export interface KeyEntry {
  kid: string;
  key: Buffer;
  active: boolean;
  /** the key the sign node uses when no kid is asked for */
  primary: boolean;
}

/** Written form of one key in the bulk JSON: a secret string, or an object with flags. */
export type KeySpec = string | { secret: string; active?: boolean; primary?: boolean };

/**
 * Bulk format: `{ "<device_id>": { "<kid>": KeySpec, ... }, "*": { "<kid>": KeySpec } }`.
 * The device id "*" holds master keys; optionally wrapped as `{ "devices": {...} }`.
 */
export type KeyringJson = Record<string, Record<string, KeySpec>>;

export type KeyLookup =
  { ok: true; keys: readonly KeyEntry[] } | { ok: false; code: 'unknown_device' | 'unknown_key'; reason: string };

export const MASTER_DEVICE = '*';
const KID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_DEVICES = 1_000_000;

export class Keyring {
  private readonly devices = new Map<string, KeyEntry[]>();
  private readonly masters: KeyEntry[] = [];
  /** derived keys per device, bounded: an attacker can name any device id once masters exist */
  private readonly derived: BoundedMap<string, KeyEntry[]>;
  /**
   * one keyring per tenant (docs/tenants.md): its own device keys and master keys, so a tenant's keys derive
   * nothing for another tenant and replacing one tenant's ring (rotation) leaves every other one untouched
   */
  private readonly tenants = new Map<string, Keyring>();

  constructor(private readonly derivedCacheSize = 10000) {
    this.derived = new BoundedMap(derivedCacheSize);
  }

  /** Adds one key; throws on a bad device id, kid, duplicate or short key. `*` adds a master key. */
  add(deviceId: string, kid: string, spec: KeySpec): void {
    if (deviceId !== MASTER_DEVICE && !isDeviceId(deviceId))
      throw new Error(`device id "${truncate(deviceId)}" must be ${DEVICE_ID_RULE}`);
    if (!KID_PATTERN.test(kid))
      throw new Error(`kid "${truncate(kid)}" of ${deviceId} must be 1-64 chars of [A-Za-z0-9_.:-]`);
    let secret: unknown;
    let active = true;
    let primary = false;
    if (typeof spec === 'string') secret = spec;
    else if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
      secret = spec.secret;
      if (spec.active !== undefined && typeof spec.active !== 'boolean')
        throw new Error(`key ${deviceId}/${kid}: "active" must be true or false`);
      if (spec.primary !== undefined && typeof spec.primary !== 'boolean')
        throw new Error(`key ${deviceId}/${kid}: "primary" must be true or false`);
      active = spec.active ?? true;
      primary = spec.primary ?? false;
    }
    if (typeof secret !== 'string')
      throw new Error(`key ${deviceId}/${kid}: secret must be a string ("hex:…", "base64:…" or text)`);
    let key: Buffer;
    try {
      key = parseKey(secret);
    } catch (err) {
      throw new Error(`key ${deviceId}/${kid}: ${(err as Error).message}`, { cause: err });
    }
    const list = deviceId === MASTER_DEVICE ? this.masters : (this.devices.get(deviceId) ?? []);
    if (list.some((e) => e.kid === kid)) throw new Error(`key ${deviceId}/${kid} is defined twice`);
    if (list !== this.masters && list.length === 0) {
      if (this.devices.size >= MAX_DEVICES) throw new Error(`more than ${MAX_DEVICES} devices`);
      this.devices.set(deviceId, list);
    }
    list.push({ kid, key, active, primary });
    this.derived.clear();
  }

  /** Adds every key of a bulk document (text or parsed); throws with the first problem found. */
  load(doc: string | KeyringJson | { devices: KeyringJson }): this {
    let value: unknown = doc;
    if (typeof doc === 'string') {
      try {
        value = JSON.parse(doc);
      } catch (err) {
        throw new Error(`keys are not valid JSON: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!isPlainObject(value)) throw new Error('keys must be a JSON object of device id → { kid: secret }');
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'devices' && isPlainObject(value.devices)) value = value.devices;
    for (const [deviceId, kids] of Object.entries(value as Record<string, unknown>)) {
      if (deviceId === TENANTS_KEY) {
        if (!isPlainObject(kids)) throw new Error(`"${TENANTS_KEY}" must be an object of tenant → keys`);
        for (const [tenant, doc] of Object.entries(kids)) {
          if (!TENANT_PATTERN.test(tenant))
            throw new Error(`tenant "${truncate(tenant)}" must be 1-64 chars of [A-Za-z0-9_-]`);
          if (!isPlainObject(doc))
            throw new Error(`keys of tenant ${tenant} must be an object of device id → { kid: secret }`);
          let ring = this.tenants.get(tenant);
          if (!ring) {
            ring = new Keyring(this.derivedCacheSize);
            this.tenants.set(tenant, ring);
          }
          try {
            ring.load(doc as KeyringJson);
          } catch (err) {
            throw new Error(`tenant ${tenant}: ${(err as Error).message}`, { cause: err });
          }
        }
        continue;
      }
      if (FORBIDDEN_KEYS.has(deviceId)) throw new Error(`forbidden device id "${deviceId}"`);
      if (!isPlainObject(kids)) throw new Error(`keys of ${deviceId} must be an object of kid → secret`);
      for (const [kid, spec] of Object.entries(kids)) this.add(deviceId, kid, spec as KeySpec);
    }
    return this;
  }

  /**
   * Replaces (or with null removes) one tenant's keyring as a whole: key rotation of one tenant, e.g. from
   * its watched keys file, without a redeploy and without touching any other tenant's keys.
   */
  setTenant(tenant: string, ring: Keyring | null): void {
    if (!TENANT_PATTERN.test(tenant))
      throw new Error(`tenant "${truncate(tenant)}" must be 1-64 chars of [A-Za-z0-9_-]`);
    if (ring) this.tenants.set(tenant, ring);
    else this.tenants.delete(tenant);
  }

  /** The keyring of one tenant, if it has keys. */
  tenant(tenant: string): Keyring | undefined {
    return this.tenants.get(tenant);
  }

  /**
   * Pairs of tenants holding the same master key (a keys file copied for a new tenant): a holder of one tenant's
   * master key then signs as every device of the other, and the tenant boundary is gone (tenant red team
   * 2026-12-07: accepted without a word). Each pair once, in the order the tenants were set.
   */
  tenantsSharingMasters(): Array<[string, string]> {
    const owners = new Map<string, string[]>();
    const out: Array<[string, string]> = [];
    for (const [tenant, ring] of this.tenants)
      for (const m of ring.masters) {
        const k = m.key.toString('base64');
        const seen = owners.get(k) ?? [];
        for (const other of seen)
          if (other !== tenant && !out.some(([a, b]) => a === other && b === tenant)) out.push([other, tenant]);
        if (!seen.includes(tenant)) owners.set(k, [...seen, tenant]);
      }
    return out;
  }

  /** Names of the tenants that have keys. */
  tenantNames(): string[] {
    return [...this.tenants.keys()];
  }

  get deviceCount(): number {
    return this.devices.size;
  }

  /** Whether the device has keys of its own (master-derived keys do not count: they exist for any id). */
  hasDevice(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  get hasMasters(): boolean {
    return this.masters.length > 0;
  }

  /** Counts of devices and explicit keys, and the master kids: for logs, never the secrets. */
  describe(): { devices: number; keys: number; masters: string[]; tenants?: string[] } {
    let keys = 0;
    let devices = this.devices.size;
    for (const list of this.devices.values()) keys += list.length;
    for (const ring of this.tenants.values()) {
      const d = ring.describe();
      devices += d.devices;
      keys += d.keys;
    }
    const out: { devices: number; keys: number; masters: string[]; tenants?: string[] } = {
      devices,
      keys,
      masters: this.masters.map((m) => m.kid),
    };
    if (this.tenants.size) out.tenants = [...this.tenants.keys()];
    return out;
  }

  /**
   * Candidate keys for verifying: with a kid, exactly that key (if active); without, every active key of
   * the device, explicit ones first, then master-derived.
   */
  lookup(deviceId: string, kid?: string, tenant?: string): KeyLookup {
    if (tenant !== undefined) {
      // a tenant's device is looked up only in that tenant's ring: never in the tenant-less keys or masters
      const ring = this.tenants.get(tenant);
      if (!ring) return { ok: false, code: 'unknown_device', reason: `no keys configured for tenant ${tenant}` };
      const r = ring.lookup(deviceId, kid);
      return r.ok ? r : { ...r, reason: `tenant ${tenant}: ${r.reason}` };
    }
    const keys = this.keysOf(deviceId);
    if (!keys) return { ok: false, code: 'unknown_device', reason: `no key configured for device ${deviceId}` };
    if (kid !== undefined) {
      for (const e of keys) {
        if (e.kid === kid) {
          return e.active
            ? { ok: true, keys: [e] }
            : { ok: false, code: 'unknown_key', reason: `key ${kid} of ${deviceId} is retired (inactive)` };
        }
      }
      return { ok: false, code: 'unknown_key', reason: `device ${deviceId} has no key ${kid}` };
    }
    // the common case (no retired keys) hands out the stored list itself: no allocation per message
    const active = keys.every((e) => e.active) ? keys : keys.filter((e) => e.active);
    if (active.length === 0) return { ok: false, code: 'unknown_key', reason: `device ${deviceId} has no active key` };
    return { ok: true, keys: active };
  }

  /** The key a signer uses: the kid asked for, else the one marked primary, else the first active one. */
  signingKey(deviceId: string, kid?: string, tenant?: string): KeyLookup & { key?: KeyEntry } {
    const found = this.lookup(deviceId, kid, tenant);
    if (!found.ok) return found;
    const key = found.keys.find((e) => e.primary) ?? found.keys[0];
    return { ok: true, keys: [key], key };
  }

  private keysOf(deviceId: string): readonly KeyEntry[] | undefined {
    const explicit = this.devices.get(deviceId);
    if (this.masters.length === 0) return explicit;
    const cached = this.derived.get(deviceId);
    if (cached) return cached;
    if (!isDeviceId(deviceId)) return explicit;
    const list = (explicit ?? []).concat(
      this.masters
        .filter((m) => !explicit || !explicit.some((e) => e.kid === m.kid))
        .map((m) => ({
          kid: m.kid,
          key: deriveDeviceKey(m.key, deviceId),
          active: m.active,
          primary: m.primary && !explicit?.some((e) => e.primary),
        }))
    );
    this.derived.set(deviceId, list);
    return list;
  }
}

function truncate(s: string): string {
  return typeof s === 'string' && s.length > 40 ? `${s.slice(0, 40)}…` : String(s);
}
