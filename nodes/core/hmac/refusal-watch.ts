// A device of the keyring whose messages are all refused — a key rotated on one side only, a wrong kid, a clock
// far off, a device replaying its buffer — was seen only in moby_rejects_total and the reject output. Device
// health then times it out ("stopped sending data") while it keeps sending, and whoever walks to the machine
// finds it running. This turns such a stretch into one warning per device that says what is refused and why.
//
// Who can raise it matters: anyone on the broker can send a bad signature in any device's name, and a keyring
// with a master key has a key for every id. A first version (operator round 2026-12-06) let a client without
// keys page 100 made-up ids in 2 s, and page a live device with a burst between two of its verified messages.
// So the warning opens only for a device that
// - was verified at least once since this node started, or within the replay window before it (its nonces in the
//   replay journal: `verifiedBefore`); a made-up id never was; `maxProven` are remembered, the oldest forgotten
//   first; and
// - has had `minRefused` messages refused in its name and **none verified for `minSilenceMs`** (default 60 s)
//   since the first of them: every verified message starts the count again, so a live device never opens it,
//   whatever a forger sends in between.
// A client without keys can therefore raise it only for a device that worked and has sent nothing verified for a
// minute (already TIMEOUT or OFFLINE): then someone is indeed sending in its name, and the text says so.
// It clears with the device's next verified message, or once nothing has been refused in its name for
// `windowMs` (`sweep`): the condition is over.
//
// With tenants (docs/tenants.md) a device is its tenant and id: a refusal counts only against the tenant it
// claims (the topic's or the envelope's), and only if that tenant's device of that id was verified, so acme's
// pump-001 working proves nothing about beta's pump-001; the signal carries the tenant, so the alert is that
// tenant's (its channels, its API token), not the tenant-less view's (newcomer round 2026-12-06).
// Which refusals count: bad_signature and unknown_key (a key exists for the device), stale and replay. Not
// unknown_device, malformed envelopes (no trustworthy device id) nor rate refusals (authentic messages).
// Bounded per tenant (TenantLru, as device health's stores): at most `maxDevices` devices of a tenant are watched
// (its least recently refused is forgotten first: its alert is delayed, never wrongly opened) and `maxProven`
// remembered as verified (its least recently verified forgotten first). One tenant verifying 100,000 made-up ids
// with its master key had pushed every other tenant's devices out of the one shared list, and their refusals
// then raised nothing (tenant red team, 2026-12-07); a live device was forgotten too, as the first ever verified.
import { span } from '../span';
import { explicitAlert } from '../system-alert';
import { TenantLru } from '../health/tenant-lru';
import { scopeHealthId } from '../tenant';

export const REFUSAL_RULE = 'messages_refused';

/**
 * moby-normalize's use of the same watch: an authenticated device whose every message normalize refuses (a clock
 * far ahead, a firmware sending bad field names or another payload shape) stored nothing and looked healthy to
 * device health, which counts verified messages; only the counters and the reject output knew (red-team round
 * 2026-12-07: 75 future timestamps in a row). Its own rule, so verify's clear (the device's messages verify) does
 * not end it.
 */
export const DATA_REFUSAL_RULE = 'data_refused';

/** The verify codes that count toward the alert. */
const WATCHED = new Set(['bad_signature', 'unknown_key', 'stale', 'replay']);

/** What an alert's text is made of. */
export interface RefusalStretch {
  /** the device, with its tenant when it has one */
  who: string;
  count: number;
  /** how long, in words */
  during: string;
  /** `code n, code n` */
  codes: string;
  /** the last refusal's reason */
  reason: string;
}

/** moby-hmac-verify's text: the key, key id or clock, or a forger. */
export function verifyRefusalText(r: RefusalStretch): string {
  return (
    `${r.count} message(s) in the name of ${r.who} refused in ${r.during} and none verified ` +
    `(${r.codes}; the last: ${r.reason}). Its key, key id or clock may be wrong (keyring, NTP), ` +
    'or someone without its key is sending in its name.'
  );
}

/** moby-normalize's text: what the device sends. */
export function normalizeRefusalText(r: RefusalStretch): string {
  return (
    `${r.count} message(s) of ${r.who} refused by moby-normalize in ${r.during} and none passed ` +
    `(${r.codes}; the last: ${r.reason}): none of its data is stored or watched. Its clock, firmware or ` +
    'payload format may be wrong.'
  );
}

export interface RefusalWatchOptions {
  /** refusals, with none verified in between, that open the alert (default 20) */
  minRefused?: number;
  /** how long the device must have sent nothing verified since the first of them, ms (default 60,000) */
  minSilenceMs?: number;
  /** refusals further apart than this (ms) do not add up; none for this long clears the alert (default 600,000) */
  windowMs?: number;
  /** devices watched at once, per tenant (default 10,000) */
  maxDevices?: number;
  /** devices remembered as verified since the start, per tenant (default 100,000) */
  maxProven?: number;
  /** the codes that count (default: verify's, WATCHED); null: every code */
  codes?: ReadonlySet<string> | null;
  /** the alert's text (default: verify's) */
  text?: (r: RefusalStretch) => string;
}

export type RefusalSignal =
  | { kind: 'open'; device_id: string; tenant?: string; message: string }
  | { kind: 'clear'; device_id: string; tenant?: string };

/**
 * The watch's key of a device: its id, or its tenant and id as device health writes them (`<tenant>~<device>`,
 * the partition TenantLru bounds by). A device id holds no '~' (DEVICE_ID_PATTERN), so the two never meet.
 */
function keyOf(deviceId: string, tenant: string | undefined): string {
  return tenant === undefined ? deviceId : scopeHealthId(tenant, deviceId);
}

interface Entry {
  deviceId: string;
  tenant: string | undefined;
  since: number;
  last: number;
  count: number;
  codes: Map<string, number>;
  lastReason: string;
  open: boolean;
}

export class RefusalWatch {
  private readonly minRefused: number;
  private readonly minSilenceMs: number;
  private readonly windowMs: number;
  private readonly devices: TenantLru<Entry>;
  /** devices verified since the start, per tenant the least recently verified first */
  private readonly proven: TenantLru<true>;
  private readonly codes: ReadonlySet<string> | null;
  private readonly text: (r: RefusalStretch) => string;

  constructor(o: RefusalWatchOptions = {}) {
    this.minRefused = Math.max(1, Math.floor(o.minRefused ?? 20));
    this.minSilenceMs = Math.max(0, o.minSilenceMs ?? 60_000);
    this.windowMs = Math.max(1, o.windowMs ?? 600_000);
    this.devices = new TenantLru(o.maxDevices ?? 10_000);
    this.proven = new TenantLru(o.maxProven ?? 100_000);
    this.codes = o.codes === undefined ? WATCHED : o.codes;
    this.text = o.text ?? verifyRefusalText;
  }

  /** devices forgotten to stay within a tenant's bound */
  get evicted(): number {
    return this.devices.evicted;
  }

  /**
   * A refused message in the name of `deviceId` (the claimed id) and `tenant` (the claimed tenant, with tenants),
   * with its verify code and reason.
   */
  refused(
    deviceId: string | undefined,
    code: string,
    reason: string,
    now: number,
    tenant?: string
  ): RefusalSignal | null {
    if (deviceId === undefined || (this.codes !== null && !this.codes.has(code))) return null;
    const key = keyOf(deviceId, tenant);
    if (!this.proven.has(key)) return null;
    let e = this.devices.get(key);
    if (!e || (!e.open && now - e.last > this.windowMs)) {
      e = { deviceId, tenant, since: now, last: now, count: 0, codes: new Map(), lastReason: '', open: false };
    }
    this.devices.set(key, e); // also marks it the most recently refused
    e.count++;
    e.last = now;
    e.codes.set(code, (e.codes.get(code) ?? 0) + 1);
    e.lastReason = reason;
    if (e.open || e.count < this.minRefused || now - e.since < this.minSilenceMs) return null;
    e.open = true;
    const codes = [...e.codes].map(([c, n]) => `${c} ${n}`).join(', ');
    const who = tenant === undefined ? deviceId : `${deviceId} (tenant ${tenant})`;
    return {
      ...signalOf(e),
      kind: 'open',
      message: this.text({ who, count: e.count, during: span(now - e.since), codes, reason }),
    };
  }

  /**
   * A device verified before this node started, as its replay journal shows (its nonces are remembered only from
   * authentic messages): it counts as having worked, and nothing else changes. Without this a restart forgot every
   * device, and a key rotated on one side during the restart (an upgrade, a maintenance window) raised nothing.
   */
  verifiedBefore(deviceId: string, tenant?: string): void {
    const key = keyOf(deviceId, tenant);
    if (!this.proven.has(key)) this.proven.set(key, true);
  }

  /** A verified message of `deviceId` (of `tenant`, with tenants): its count starts again; an open alert is cleared. */
  verified(deviceId: string, tenant?: string): RefusalSignal | null {
    const key = keyOf(deviceId, tenant);
    // made its tenant's most recently verified: a device that keeps working is never the one forgotten
    if (this.proven.touch(key) === undefined) this.proven.set(key, true);
    if (this.devices.size === 0) return null;
    const e = this.devices.get(key);
    if (!e) return null;
    this.devices.delete(key);
    return e.open ? { ...signalOf(e), kind: 'clear' } : null;
  }

  /** The clears of alerts whose device has had nothing refused for `windowMs`; forgets such devices. */
  sweep(now: number): RefusalSignal[] {
    const out: RefusalSignal[] = [];
    for (const [id, e] of this.devices.entries()) {
      if (now - e.last <= this.windowMs) continue;
      this.devices.delete(id);
      if (e.open) out.push({ ...signalOf(e), kind: 'clear' });
    }
    return out;
  }
}

/**
 * The message for moby-alert a signal becomes: an explicit warning (or its clear) of rule `rule`, the tenant's with
 * tenants (moby-alert keeps one engine per tenant).
 */
export function refusalAlertMessage(topic: string, rule: string, sig: RefusalSignal) {
  return explicitAlert(
    topic,
    sig.device_id,
    rule,
    sig.kind === 'clear' ? sig : { kind: 'open', severity: 'warning', message: sig.message },
    sig.tenant !== undefined ? { moby: { tenant: sig.tenant } } : {}
  );
}

/** The device (and tenant) a signal is about. */
function signalOf(e: Entry): { device_id: string; tenant?: string } {
  return e.tenant === undefined ? { device_id: e.deviceId } : { device_id: e.deviceId, tenant: e.tenant };
}
