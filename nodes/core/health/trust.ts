// Who may change a device's health with an unsigned last will or status message.
//
// A will or status message is unauthenticated: any client of the broker can publish `device/lwt/pump-001
// OFFLINE`. Without a gate, that opened a critical alert for a device never seen, and 10,100 forged wills
// filled the alert cap so a real silent device got none. The gate: a will/status can change only a device
// that has *proven* itself — it sent data that moby-hmac-verify authenticated (msg.moby.auth.verified), or
// it is listed (keyring, known-devices list) — and each device may do so at a bounded rate. Everything
// else is refused with a code (and counted by the adapter). With mode 'broker' the deployer states that
// the broker authenticates publishers and its ACL limits `device/lwt/<id>` to device <id> (see
// flows/mosquitto/), so proof is not required; the rate limit still applies. With mode 'signed' only signed
// wills/births (core/health/sessions.ts) change a device: an unsigned one is `unsigned_status`, whoever sent it.
// A signed one is accepted in every mode, also for a device never seen: the signature is the proof.
//
// Both sets are bounded: one LRU of devices (proof + rate bucket), least recently active evicted. An
// evicted device proves itself again with its next signed message; until then its unsigned will is refused,
// and the data timeout still reports it (TIMEOUT instead of OFFLINE): never a lost alert, never a lockout.
// The bound holds per tenant, as the health table's (docs/tenants.md): TenantLru (tenant-lru.ts), which the
// signed sessions (sessions.ts) use too, so one tenant proving or signing for many device ids evicts only its own.
import { takeToken, type TokenBucket } from '../token-bucket';
import { TenantLru } from './tenant-lru';

export type StatusTrustMode = 'proven' | 'broker' | 'signed';

export interface StatusTrustOptions {
  /**
   * 'proven' (default): only proven or listed devices; 'broker': the broker's ACLs vouch for the topic;
   * 'signed': only signed wills/births (unsigned ones are refused for every device)
   */
  mode?: StatusTrustMode;
  /** devices remembered (proof and rate bucket) per tenant, least recently active evicted (default 100000) */
  maxDevices?: number;
  /** accepted will/status messages per device per minute, sustained (default 6; 0 = no limit) */
  ratePerMinute?: number;
  /** how many may come at once (default max(2, ratePerMinute)) */
  burst?: number;
  /** devices listed by configuration (keyring, known devices): trusted without proof */
  isListed?: (deviceId: string) => boolean;
}

export type TrustDecision =
  { ok: true } | { ok: false; code: 'untrusted_status' | 'unsigned_status' | 'status_rate_limited'; reason: string };

interface Entry extends TokenBucket {
  proven: boolean;
}

const OK: TrustDecision = { ok: true };

export class StatusTrust {
  readonly mode: StatusTrustMode;
  readonly maxDevices: number;
  private readonly perMs: number;
  private readonly burst: number;
  private readonly isListed: (id: string) => boolean;
  /** per tenant, least recently active first */
  private readonly devices: TenantLru<Entry>;
  private lastProven: string | null = null;
  /** devices whose proof was evicted to stay within their tenant's maxDevices */
  evictions = 0;

  constructor(o: StatusTrustOptions = {}) {
    this.mode = o.mode === 'broker' || o.mode === 'signed' ? o.mode : 'proven';
    this.maxDevices = Math.max(1, Math.floor(o.maxDevices ?? 100000));
    this.devices = new TenantLru<Entry>(this.maxDevices);
    const rate = Math.max(0, o.ratePerMinute ?? 6);
    this.perMs = rate / 60000;
    this.burst = rate === 0 ? Infinity : Math.max(1, o.burst ?? Math.max(2, rate));
    this.isListed = o.isListed ?? (() => false);
  }

  get size(): number {
    return this.devices.size;
  }

  /** The device sent authenticated data at `now` (ms): it may now change its own state by will/status. */
  prove(deviceId: string, now: number): void {
    // the hot path (every data message): the device that proved itself last is already at the end
    if (deviceId === this.lastProven) return;
    this.lastProven = deviceId;
    const e = this.devices.touch(deviceId);
    if (e) {
      e.proven = true;
      return;
    }
    this.insert(deviceId, { proven: true, tokens: this.burst, at: now });
  }

  isProven(deviceId: string): boolean {
    return this.devices.get(deviceId)?.proven === true;
  }

  /**
   * Whether wills/status of this device are believed at all: a signed one always; an unsigned one by proof,
   * listing or broker mode, never in signed mode.
   */
  trusted(deviceId: string, signed = false): boolean {
    if (signed || this.mode === 'broker') return true;
    if (this.mode === 'signed') return false;
    return this.devices.get(deviceId)?.proven === true || this.isListed(deviceId);
  }

  /**
   * Whether a will/status for the device may be applied now; takes one token from its bucket. `signed`: it
   * carried a verified signature (and session), so no proof is needed.
   */
  check(deviceId: string, now: number, signed = false): TrustDecision {
    let e = this.devices.get(deviceId);
    if (!signed && this.mode === 'signed') {
      return {
        ok: false,
        code: 'unsigned_status',
        reason: `unsigned will/status for ${deviceId} ignored: this node accepts only signed wills and births (statusTrust "signed")`,
      };
    }
    if (!signed && !e?.proven && this.mode === 'proven' && !this.isListed(deviceId)) {
      return {
        ok: false,
        code: 'untrusted_status',
        reason: `device ${deviceId} has not proven itself (no authenticated data, not in the keyring or known devices): its unsigned will/status is ignored`,
      };
    }
    if (!e) {
      e = { proven: false, tokens: this.burst, at: now };
      this.insert(deviceId, e);
    }
    if (this.burst !== Infinity && !takeToken(e, now, this.perMs, this.burst)) {
      return {
        ok: false,
        code: 'status_rate_limited',
        reason: `device ${deviceId} sent more than ${this.burst} will/status messages in a row (limit ${Math.round(this.perMs * 60000)}/min): flapping or forged, ignored`,
      };
    }
    return OK;
  }

  /** Proven device ids, each tenant's least recently active first (what the adapter persists). */
  provenIds(): string[] {
    const out: string[] = [];
    for (const [id, e] of this.devices.entries()) if (e.proven) out.push(id);
    return out;
  }

  /**
   * Restores persisted proofs (strings only; at most maxDevices per tenant, newest kept; a list written when
   * the bound was shared by all tenants loads the same way). Returns how many.
   */
  restore(ids: unknown, now: number, valid: (id: string) => boolean): number {
    if (!Array.isArray(ids)) return 0;
    const fresh = this.devices.newestPerTenant(ids as unknown[], (id) =>
      typeof id === 'string' && valid(id) && !this.devices.has(id) ? id : undefined
    ) as string[];
    for (const id of fresh) this.insert(id, { proven: true, tokens: this.burst, at: now });
    return fresh.length;
  }

  /** A new device, its tenant's most recently active; its tenant's least recently active one makes room. */
  private insert(deviceId: string, e: Entry): void {
    const dropped = this.devices.set(deviceId, e);
    if (!dropped) return;
    if (dropped[1].proven) this.evictions++;
    if (dropped[0] === this.lastProven) this.lastProven = null;
  }
}
