// Signed births and last wills, bound to a connection's session (docs/device-health.md, "Signed wills and
// births"). A device signs, at CONNECT, its birth `{"status":"ONLINE","session":S}` and its will
// `{"status":"OFFLINE","session":S}` with its own key, in the telemetry envelope (core/hmac/scheme.ts,
// signConnection), with a new random S per connection. The will's ts is its connect time — the broker publishes
// it any time later — so the telemetry freshness window cannot protect it; the session does:
//
// - a signed **birth** (ONLINE) is verified like telemetry (signature, fresh ts, unseen nonce) and makes S the
//   device's *current session*, unless the device already has a session with a later birth ts (an older birth,
//   replayed within its window: `stale_session`). The birth of the current session again (a retained birth
//   delivered after a restart) is known and changes nothing, fresh or not.
// - a signed **will** (OFFLINE, on the will or the status topic) is checked for its signature only and applied
//   only if S is the device's current session and not spent; then the session is spent. A will of an older
//   session (ts before the current birth's), or of the current one already applied, is `stale_session`: no
//   state change. A will whose session is not known yet (its ts is not older than the current birth's, or the
//   device has no session) is held as *pending*, one per device: its birth may still be on its way on another
//   topic; the birth of that session applies it at once.
//
// Sessions survive restarts with the health table (the adapter persists `serialize()` beside it), so the
// retained will of the current session, delivered after a Node-RED restart, still counts. Bounded: maxDevices
// sessions per tenant, least recently active evicted (TenantLru, tenant-lru.ts: the health table's per-tenant rule,
// docs/tenants.md); an evicted device's next will waits for its next birth (TIMEOUT instead of OFFLINE). Per
// tenant because a tenant that can sign births for many device ids (its master key, a gateway) evicted every
// other tenant's sessions from one shared LRU, and their devices' signed wills then waited as pending: a late
// TIMEOUT instead of an immediate OFFLINE. The births' nonces are per tenant already (Verifier.noncesOf).
// No Node-RED import: the signature check is the verify core's (keyring lookup, constant-time compare).
import type { Reject } from '../contract';
import { SESSION_PATTERN, nowSeconds } from '../hmac/scheme';
import { Verifier, type KeySource } from '../hmac/verify';
import { isPlainObject } from '../guards';
import { TenantLru } from './tenant-lru';

/** Reject codes of signed births/wills beyond the verify core's (bad_signature, stale, replay, …). */
export type SessionRejectCode = 'stale_session' | 'malformed' | 'tenant_mismatch';

interface Session {
  session: string;
  /**
   * the birth's ts, Unix seconds, but never later than when the birth arrived: a birth stamped up to the
   * freshness tolerance ahead (a device's fast clock, or a device that signs a future ts on purpose) would
   * otherwise refuse the device's next births and its sessions' wills as `stale_session` until that time
   * came (red-team round of 2026-12-06: a birth 290 s ahead blocked them for 5 minutes, so a real death
   * showed only as a late TIMEOUT)
   */
  ts: number;
  /** its will (or a signed OFFLINE) was applied: nothing of this session changes the device any more */
  spent: boolean;
  /** a will that arrived before its birth */
  pending?: { session: string; ts: number };
}

/** A signed status message, verified and judged against the device's session. */
export type SignedVerdict =
  | { ok: true; online: true; action: 'birth'; session: string; kid: string; applyPendingWill: boolean }
  | { ok: true; online: true; action: 'known'; session: string; kid: string }
  | { ok: true; online: false; action: 'will'; session: string; kid: string }
  | { ok: true; online: false; action: 'pending'; session: string; kid: string }
  | { ok: false; reject: Reject };

export interface SignedStatusOptions {
  keys: KeySource;
  /** birth freshness, seconds both ways (default 300, as telemetry) */
  toleranceSec?: number;
  /** devices whose session is remembered, per tenant (default 100000) */
  maxDevices?: number;
  /** clock in Unix seconds (tests) */
  now?: () => number;
}

/** A signed envelope: what readHealthMessage hands over as `kind: 'signed'`. */
export function isSignedEnvelope(v: unknown): boolean {
  return isPlainObject(v) && v.sig !== undefined && v.body !== undefined;
}

function rejectOf(code: string, reason: string, deviceId: string, field: string): { ok: false; reject: Reject } {
  return { ok: false, reject: { code, reason, device_id: deviceId, field } };
}

export class SignedStatus {
  readonly maxDevices: number;
  private readonly verifier: Verifier;
  private readonly tolerance: number;
  private readonly now: () => number;
  /** scoped device id → session, per tenant, least recently active first */
  private readonly sessions: TenantLru<Session>;
  /** sessions dropped to stay within their tenant's maxDevices */
  evictions = 0;

  constructor(o: SignedStatusOptions) {
    this.tolerance = o.toleranceSec ?? 300;
    this.now = o.now ?? nowSeconds;
    this.maxDevices = Math.max(1, Math.floor(o.maxDevices ?? 100000));
    this.sessions = new TenantLru<Session>(this.maxDevices);
    // births' nonces: in memory (a restart forgets them; the persisted session's birth ts then refuses older
    // births, and a birth that is still fresh after a restart can only re-set the session it already set);
    // these bounds hold per tenant, each tenant having its own nonce cache
    this.verifier = new Verifier({
      keys: o.keys,
      toleranceSec: this.tolerance,
      replayCacheSize: Math.min(1_000_000, this.maxDevices * 4),
      replayDevices: this.maxDevices,
      replayPerDevice: 64,
      limits: { maxBytes: 1024, maxDepth: 2, maxKeys: 8 },
      now: o.now,
    });
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The device's current session id (tests, snapshot), or undefined. */
  currentSession(key: string): string | undefined {
    return this.sessions.get(key)?.session;
  }

  /**
   * Verifies a signed status envelope of device `deviceId` (as the topic names it; `tenant` as the topic or
   * msg.moby.tenant gives it) and judges it against the device's session, kept under `key` (the health
   * table's scoped id). Changes nothing yet for a will: call `spend(key)` once the OFFLINE is applied (the
   * adapter checks its rate limit in between, so a refused replay never costs the device a rate token).
   */
  judge(envelope: Record<string, unknown>, key: string, deviceId: string, tenant: string | undefined): SignedVerdict {
    // the tenant is the topic's (or msg.moby.tenant): a claim in the envelope must agree, and the signature
    // covers it either way
    const claimed = envelope.tenant ?? undefined;
    if (claimed !== undefined && claimed !== '' && claimed !== tenant)
      return rejectOf(
        'tenant_mismatch',
        `the signed status claims tenant ${String(claimed).slice(0, 64)} but its topic is ${tenant === undefined ? 'no tenant' : `tenant ${tenant}`}'s`,
        deviceId,
        'tenant'
      );
    const env = tenant === undefined ? envelope : { ...envelope, tenant };
    const signed = this.verifier.verify({ payload: env, fresh: false });
    if (!signed.ok) return { ok: false, reject: { ...signed.reject, device_id: deviceId } };
    if (signed.deviceId !== deviceId)
      return rejectOf(
        'device_mismatch',
        `status topic names ${deviceId}, signed for ${signed.deviceId}`,
        deviceId,
        'device_id'
      );
    const body = signed.body;
    const status = typeof body.status === 'string' ? body.status.toUpperCase() : '';
    if (status !== 'ONLINE' && status !== 'OFFLINE')
      return rejectOf(
        'bad_status',
        'a signed status body must be {"status":"ONLINE"|"OFFLINE","session":"…"}',
        deviceId,
        'body.status'
      );
    const session = body.session;
    if (typeof session !== 'string' || !SESSION_PATTERN.test(session))
      return rejectOf('malformed', 'session must be 8-64 chars of [A-Za-z0-9_-]', deviceId, 'body.session');
    const cur = this.sessions.get(key);
    const kid = signed.kid;
    if (status === 'ONLINE') {
      if (cur && cur.session === session) {
        this.sessions.touch(key);
        return { ok: true, online: true, action: 'known', session, kid };
      }
      // strictly later: a birth of the same second as the current one cannot be told from a replay once the
      // nonce cache is gone (a restart); refusing it is safe, the data timeout still reports the device
      if (cur && cur.session && signed.ts <= cur.ts)
        return rejectOf(
          'stale_session',
          `birth of session ${session} (ts ${signed.ts}) is not later than the device's current session (ts ${cur.ts}): replayed, or a reconnect within the same second`,
          deviceId,
          'body.session'
        );
      // a new session: admitted like telemetry (fresh, unseen nonce); the signature was checked above, once
      const fresh = this.verifier.admit(signed);
      if (!fresh.ok) return { ok: false, reject: { ...fresh.reject, device_id: deviceId } };
      const next: Session = { session, ts: Math.min(signed.ts, Math.floor(this.now())), spent: false };
      const applyPendingWill = cur?.pending?.session === session;
      if (cur?.pending && !applyPendingWill && cur.pending.ts > signed.ts) next.pending = cur.pending;
      if (applyPendingWill) next.spent = true;
      this.set(key, next);
      return { ok: true, online: true, action: 'birth', session, kid, applyPendingWill };
    }
    if (cur && cur.session === session) {
      if (cur.spent)
        return rejectOf(
          'stale_session',
          `session ${session} already ended (its will was applied)`,
          deviceId,
          'body.session'
        );
      return { ok: true, online: false, action: 'will', session, kid };
    }
    if (cur && cur.session && signed.ts <= cur.ts)
      return rejectOf(
        'stale_session',
        `will of session ${session} (connected at ts ${signed.ts}) is not of a later connection than the current session (ts ${cur.ts})`,
        deviceId,
        'body.session'
      );
    // not known yet: its birth may still come (another topic, another order); hold the newest such will
    const holder: Session = cur ?? { session: '', ts: -1, spent: true };
    if (!holder.pending || holder.pending.ts <= signed.ts) holder.pending = { session, ts: signed.ts };
    this.set(key, holder);
    return { ok: true, online: false, action: 'pending', session, kid };
  }

  /** The current session's OFFLINE was applied: the session is spent. */
  spend(key: string): void {
    const cur = this.sessions.get(key);
    if (cur) cur.spent = true;
  }

  /**
   * Sessions as persisted beside the health table: `[key, session, ts, spent]`, each tenant's least recently
   * active first (the format of one list for all tenants, so either loads into either).
   */
  serialize(): Array<[string, string, number, 0 | 1]> {
    const out: Array<[string, string, number, 0 | 1]> = [];
    for (const [key, s] of this.sessions.entries()) if (s.session) out.push([key, s.session, s.ts, s.spent ? 1 : 0]);
    return out;
  }

  /**
   * Restores what serialize() wrote (anything malformed skipped; the newest maxDevices per tenant kept, also
   * from a list written when the bound was shared by all tenants). Returns how many.
   */
  restore(rows: unknown, valid: (key: string) => boolean): number {
    if (!Array.isArray(rows)) return 0;
    const sane = this.sessions.newestPerTenant(rows as unknown[], (r) => {
      if (!Array.isArray(r) || r.length !== 4) return undefined;
      const [key, session, ts] = r as unknown[];
      if (typeof key !== 'string' || !valid(key) || typeof session !== 'string' || !SESSION_PATTERN.test(session))
        return undefined;
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) return undefined;
      return key;
    }) as Array<[string, string, number, unknown]>;
    for (const [key, session, ts, spent] of sane) this.set(key, { session, ts, spent: spent === 1 });
    return sane.length;
  }

  private set(key: string, s: Session): void {
    if (this.sessions.set(key, s)) this.evictions++;
  }
}
