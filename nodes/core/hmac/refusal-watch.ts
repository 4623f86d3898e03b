// A device of the keyring whose messages are all refused — a key rotated on one side only, a wrong kid, a clock
// far off, a device replaying its buffer — was seen only in moby_rejects_total and the reject output. Device
// health then times it out ("stopped sending data") while it keeps sending, and whoever walks to the machine
// finds it running. This turns such a stretch into one warning per device that says what is refused and why:
// opened once `minRefused` messages in its name have been refused within `windowMs` with none verified in
// between, cleared by its next verified message.
//
// Which refusals count: those naming a device the keyring has a key for (bad_signature, unknown_key) or whose
// time or nonce is wrong (stale, replay). Not unknown_device (anyone can make up ids; a device without a key is
// not one of ours) nor malformed envelopes (no trustworthy device id). Anyone can send a bad signature in a
// device's name, so the text says that too; a device that sends verified data never has this alert (each verified
// message resets its count), so a client without keys can raise it only for a device that is silent anyway.
//
// Bounded: at most `maxDevices` devices are watched (the least recently refused is forgotten first), and a
// verified message of a device with no refusals costs one size check.
import { BoundedMap } from '../bounded-map';
import { span } from '../span';

export const REFUSAL_RULE = 'messages_refused';

/** The verify codes that count toward the alert. */
const WATCHED = new Set(['bad_signature', 'unknown_key', 'stale', 'replay']);

export interface RefusalWatchOptions {
  /** refusals within the window that open the alert (default 20) */
  minRefused?: number;
  /** ms (default 600,000) */
  windowMs?: number;
  /** devices watched at once (default 10,000) */
  maxDevices?: number;
}

export type RefusalSignal = { kind: 'open'; device_id: string; message: string } | { kind: 'clear'; device_id: string };

interface Entry {
  since: number;
  count: number;
  codes: Map<string, number>;
  lastReason: string;
  open: boolean;
}

export class RefusalWatch {
  private readonly minRefused: number;
  private readonly windowMs: number;
  private readonly devices: BoundedMap<string, Entry>;

  constructor(o: RefusalWatchOptions = {}) {
    this.minRefused = Math.max(1, Math.floor(o.minRefused ?? 20));
    this.windowMs = Math.max(1, o.windowMs ?? 600_000);
    this.devices = new BoundedMap(o.maxDevices ?? 10_000);
  }

  /** devices forgotten to stay within the bound */
  get evicted(): number {
    return this.devices.evicted;
  }

  /** A refused message in the name of `deviceId` (the claimed id), with its verify code and reason. */
  refused(deviceId: string | undefined, code: string, reason: string, now: number): RefusalSignal | null {
    if (deviceId === undefined || !WATCHED.has(code)) return null;
    let e = this.devices.get(deviceId);
    if (!e || (!e.open && now - e.since > this.windowMs)) {
      e = { since: now, count: 0, codes: new Map(), lastReason: '', open: false };
    }
    this.devices.set(deviceId, e); // also marks it the most recently refused
    e.count++;
    e.codes.set(code, (e.codes.get(code) ?? 0) + 1);
    e.lastReason = reason;
    if (e.open || e.count < this.minRefused) return null;
    e.open = true;
    const codes = [...e.codes].map(([c, n]) => `${c} ${n}`).join(', ');
    return {
      kind: 'open',
      device_id: deviceId,
      message:
        `${e.count} message(s) in the name of ${deviceId} refused in ${span(now - e.since)} and none verified ` +
        `(${codes}; the last: ${reason}). Its key, key id or clock may be wrong (keyring, NTP), ` +
        'or someone without its key is sending in its name.',
    };
  }

  /** A verified message of `deviceId`: its count starts again; an open alert is cleared. */
  verified(deviceId: string): RefusalSignal | null {
    if (this.devices.size === 0) return null;
    const e = this.devices.get(deviceId);
    if (!e) return null;
    this.devices.delete(deviceId);
    return e.open ? { kind: 'clear', device_id: deviceId } : null;
  }
}
