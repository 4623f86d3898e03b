// Verifier for the v1 scheme (see hmac.ts): extracts the proof from either carrier, then checks in order
// malformed → device_mismatch → unknown_device/unknown_key → stale → bad_signature → replay, and only then
// parses the body. Cheap checks run before the HMAC; the nonce is remembered only once the signature is
// proven, so unauthenticated traffic cannot fill the replay cache.
import { timingSafeEqual, createHmac } from 'node:crypto';
import type { Reject } from './contract';
import { DEVICE_ID_PATTERN, NONCE_PATTERN, USER_PROPERTY, nowSeconds } from './hmac';
import type { KeyLookup } from './keyring';
import { parseJsonSafe, DEFAULT_LIMITS, type JsonLimits } from './safe-json';

export type VerifyRejectCode = 'malformed' | 'unknown_device' | 'unknown_key' | 'bad_signature' | 'stale' | 'replay' | 'device_mismatch';

/** What the verifier needs from a keyring (Keyring implements it). */
export interface KeySource {
  lookup(deviceId: string, kid?: string): KeyLookup;
}

export interface VerifierOptions {
  keys: KeySource;
  /** accepted clock skew in seconds, both directions (default 300) */
  toleranceSec?: number;
  /** max remembered nonces (default 100000); entries also expire with the tolerance window */
  replayCacheSize?: number;
  /** caps for the envelope text (maxBytes) and the parsed body (all three) */
  limits?: JsonLimits;
  /** MQTT topic pattern with `+`/`#`, e.g. `devices/+/telemetry`; enables device_mismatch */
  topicPattern?: string;
  /** which `+` of the pattern holds the device id, 1-based (default 1) */
  topicDeviceLevel?: number;
  /** clock in Unix seconds (tests) */
  now?: () => number;
}

export interface VerifyInput {
  payload: unknown;
  userProperties?: unknown;
  topic?: unknown;
  /**
   * DURABLE-BRANCH CONTRACT (issue #11, see docs/durability.md): the broker redelivered this message (MQTT
   * DUP flag, set by moby-mqtt-in as msg.redelivered). A nonce already seen is then the same message again,
   * not a replay: it passes, marked `redelivered`. Only the broker sets DUP on what it sends us.
   */
  redelivered?: boolean;
}

export interface Verified {
  ok: true;
  deviceId: string;
  kid: string;
  ts: number;
  body: Record<string, unknown>;
  /** a seen nonce let through because the broker flagged the message as redelivered */
  redelivered?: boolean;
}

export type VerifyResult = Verified | { ok: false; reject: Reject & { code: VerifyRejectCode } };

interface Proof {
  deviceId: string;
  kid?: string;
  /** ts exactly as it enters the MAC */
  tsText: string;
  ts: number;
  nonce: string;
  /** how many v1= values of MAC length were decoded into the verifier's scratch buffers */
  candidates: number;
  body: string;
}

const TS_TEXT_PATTERN = /^(?:0|[1-9][0-9]{0,15})$/;
const HEX_PATTERN = /^[0-9a-fA-F]+$/;
const KID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_SIGS = 8;
const MAC_BYTES = 32;
const MAC_HEX = 64;
const MAX_NONCE_CACHE = 10_000_000;

function reject(code: VerifyRejectCode, reason: string, deviceId?: string, field?: string): { ok: false; reject: Reject & { code: VerifyRejectCode } } {
  const r: Reject & { code: VerifyRejectCode } = { code, reason };
  if (deviceId !== undefined) r.device_id = deviceId;
  if (field !== undefined) r.field = field;
  return { ok: false, reject: r };
}

/**
 * Nonces seen per device, bounded by count (oldest evicted first) and by time (an entry dies when its ts
 * goes stale, after which the stale check refuses the message anyway). One Map of nonces per device, so
 * the lookup hashes the nonce string as parsed (no concatenated key); arrival order lives in a ring beside
 * the Maps, so dropping the oldest entry is O(1).
 */
export class NonceCache {
  private readonly byDevice = new Map<string, Map<string, number>>();
  private readonly ringDevices: Array<string | undefined>;
  private readonly ringNonces: Array<string | undefined>;
  private readonly ringExpiries: Float64Array;
  private head = 0;
  private count = 0;
  private entries = 0;
  evictions = 0;

  constructor(private readonly capacity: number) {
    this.ringDevices = new Array(capacity);
    this.ringNonces = new Array(capacity);
    this.ringExpiries = new Float64Array(capacity);
  }

  /** Nonces currently remembered. */
  get size(): number {
    return this.entries;
  }

  /** True when the device already used the nonce and it has not expired; otherwise remembers it until `expiresAt`. */
  checkAndRemember(deviceId: string, nonce: string, expiresAt: number, now: number): boolean {
    // drop a few expired entries per call: arrival order ~ expiry order, so they collect at the oldest end
    for (let i = 0; i < 4 && this.count > 0 && this.ringExpiries[this.head] < now; i++) this.popOldest();
    let nonces = this.byDevice.get(deviceId);
    const seen = nonces?.get(nonce);
    if (seen !== undefined && seen >= now) return true;
    if (this.count === this.capacity) {
      this.popOldest();
      this.evictions++;
      nonces = this.byDevice.get(deviceId); // popping may have removed the device's (emptied) Map
    }
    if (!nonces) {
      nonces = new Map();
      this.byDevice.set(deviceId, nonces);
    }
    const slot = (this.head + this.count) % this.capacity;
    this.ringDevices[slot] = deviceId;
    this.ringNonces[slot] = nonce;
    this.ringExpiries[slot] = expiresAt;
    this.count++;
    // an expired entry of this nonce is overwritten, unless making room just dropped it
    if (seen === undefined || !nonces.has(nonce)) this.entries++;
    nonces.set(nonce, expiresAt);
    return false;
  }

  private popOldest(): void {
    const deviceId = this.ringDevices[this.head] as string;
    const nonce = this.ringNonces[this.head] as string;
    const nonces = this.byDevice.get(deviceId);
    // a nonce re-remembered after expiring has a newer slot: only the slot holding its current expiry owns it
    if (nonces && nonces.get(nonce) === this.ringExpiries[this.head]) {
      nonces.delete(nonce);
      this.entries--;
      if (nonces.size === 0) this.byDevice.delete(deviceId);
    }
    this.ringDevices[this.head] = undefined;
    this.ringNonces[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
  }

  clear(): void {
    this.byDevice.clear();
    this.ringDevices.fill(undefined);
    this.ringNonces.fill(undefined);
    this.head = 0;
    this.count = 0;
    this.entries = 0;
  }
}

/** Compiled MQTT topic pattern that extracts the device id from one `+` level. */
export class TopicDevice {
  private readonly levels: string[];
  private readonly deviceIndex: number;
  private readonly multi: boolean;

  constructor(pattern: string, plusNumber = 1) {
    this.levels = pattern.split('/');
    this.multi = this.levels[this.levels.length - 1] === '#';
    if (this.multi) this.levels.pop();
    if (this.levels.some((l) => l === '#' || (l.length > 1 && (l.includes('+') || l.includes('#'))))) {
      throw new Error(`topic pattern "${pattern}": '#' only as the last level, '+' only as a whole level`);
    }
    let seen = 0;
    this.deviceIndex = this.levels.findIndex((l) => l === '+' && ++seen === plusNumber);
    if (this.deviceIndex < 0) throw new Error(`topic pattern "${pattern}" has no '+' number ${plusNumber} for the device id`);
  }

  /** The device id in the topic, or null when the topic does not match the pattern. */
  deviceOf(topic: string): string | null {
    const parts = topic.split('/');
    if (this.multi ? parts.length < this.levels.length : parts.length !== this.levels.length) return null;
    for (let i = 0; i < this.levels.length; i++) {
      const l = this.levels[i];
      if (l === '+') {
        if (parts[i] === '') return null;
      } else if (l !== parts[i]) return null;
    }
    return parts[this.deviceIndex];
  }
}

export class Verifier {
  readonly nonces: NonceCache;
  private readonly keys: KeySource;
  private readonly tolerance: number;
  private readonly maxBytes: number;
  private readonly bodyLimits: Required<JsonLimits>;
  private readonly topic: TopicDevice | null;
  private readonly now: () => number;
  /** reused buffers the v1 values are decoded into: no allocation per message */
  private readonly scratch: Buffer[] = Array.from({ length: MAX_SIGS }, () => Buffer.alloc(MAC_BYTES));

  constructor(o: VerifierOptions) {
    this.keys = o.keys;
    this.tolerance = o.toleranceSec ?? 300;
    if (!(this.tolerance >= 0)) throw new Error('tolerance must be >= 0 seconds');
    this.nonces = new NonceCache(Math.min(MAX_NONCE_CACHE, Math.max(1, Math.floor(o.replayCacheSize ?? 100000))));
    this.bodyLimits = { ...DEFAULT_LIMITS, ...o.limits };
    // the envelope carries the body JSON-escaped (every quote doubles) plus ~200 bytes of proof; the body's
    // own cap is checked exactly once it is unescaped
    this.maxBytes = 2 * this.bodyLimits.maxBytes + 1024;
    this.topic = o.topicPattern ? new TopicDevice(o.topicPattern, o.topicDeviceLevel ?? 1) : null;
    this.now = o.now ?? nowSeconds;
  }

  verify(input: VerifyInput): VerifyResult {
    const proof = this.extract(input);
    if ('ok' in proof) return proof;
    const { deviceId } = proof;

    if (this.topic) {
      const topic = typeof input.topic === 'string' ? input.topic : '';
      const fromTopic = this.topic.deviceOf(topic);
      if (fromTopic === null) return reject('device_mismatch', `topic "${topic}" does not match the device topic pattern`, deviceId, 'topic');
      if (fromTopic !== deviceId) return reject('device_mismatch', `topic names device ${fromTopic} but the message is signed for ${deviceId}`, deviceId, 'topic');
    }

    const found = this.keys.lookup(deviceId, proof.kid);
    if (!found.ok) return reject(found.code, found.reason, deviceId, found.code === 'unknown_key' ? 'kid' : 'device_id');

    const now = this.now();
    if (proof.ts < now - this.tolerance || proof.ts > now + this.tolerance) {
      return reject('stale', `timestamp ${proof.ts} is ${proof.ts < now ? now - proof.ts : proof.ts - now} s ${proof.ts < now ? 'old' : 'in the future'}, tolerance ${this.tolerance} s`, deviceId, 'ts');
    }

    const candidates = proof.candidates;
    const signed = `${deviceId}.${proof.tsText}.${proof.nonce}.${proof.body}`;
    let kid: string | undefined;
    for (const entry of found.keys) {
      if (candidates === 0) break;
      const mac = createHmac('sha256', entry.key).update(signed, 'utf8').digest();
      let match = false;
      // every candidate is compared (no early exit) so timing does not tell which value matched
      for (let i = 0; i < candidates; i++) if (timingSafeEqual(this.scratch[i], mac)) match = true;
      if (match) {
        kid = entry.kid;
        break;
      }
    }
    if (kid === undefined) {
      const tried = found.keys.map((k) => k.kid).join(', ');
      return reject('bad_signature', `signature does not match key${found.keys.length > 1 ? 's' : ''} ${tried}`, deviceId, 'sig');
    }

    let redelivered = false;
    if (this.nonces.checkAndRemember(deviceId, proof.nonce, proof.ts + this.tolerance, now)) {
      if (input.redelivered !== true) return reject('replay', `nonce ${proof.nonce} was already used by ${deviceId}`, deviceId, 'nonce');
      redelivered = true; // durable-branch contract: see VerifyInput.redelivered
    }

    const body = parseJsonSafe<unknown>(proof.body, this.bodyLimits);
    if (!body.ok) {
      const field = body.reject.field ? `body.${body.reject.field}` : 'body';
      return reject('malformed', `body: ${body.reject.reason} (${body.reject.code})`, deviceId, field);
    }
    if (typeof body.value !== 'object' || body.value === null || Array.isArray(body.value)) {
      return reject('malformed', 'body must be a JSON object', deviceId, 'body');
    }
    const verified: Verified = { ok: true, deviceId, kid, ts: proof.ts, body: body.value as Record<string, unknown> };
    if (redelivered) verified.redelivered = true;
    return verified;
  }

  /** Reads the proof from MQTT 5 user properties when present, else from the envelope. */
  private extract(input: VerifyInput): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    const up = input.userProperties;
    if (typeof up === 'object' && up !== null && !Array.isArray(up) && Object.prototype.hasOwnProperty.call(up, USER_PROPERTY.sig)) {
      return this.fromUserProperties(up as Record<string, unknown>, input.payload);
    }
    return this.fromEnvelope(input.payload);
  }

  private fromEnvelope(payload: unknown): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    let env: unknown = payload;
    if (typeof payload === 'string' || Buffer.isBuffer(payload) || payload instanceof Uint8Array) {
      const size = typeof payload === 'string' ? (payload.length * 3 > this.maxBytes ? Buffer.byteLength(payload) : 0) : payload.byteLength;
      if (size > this.maxBytes) return reject('malformed', `envelope is ${size} bytes, limit ${this.maxBytes}`);
      try {
        env = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
      } catch (err) {
        return reject('malformed', `envelope is not valid JSON: ${(err as Error).message}`);
      }
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env)) {
      return reject('malformed', 'payload must be a signed envelope {device_id, ts, nonce, sig, body} or carry MQTT 5 x-moby-* user properties');
    }
    const e = env as Record<string, unknown>;
    const deviceId = e.device_id;
    if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) return reject('malformed', 'device_id must be 1-128 chars of [A-Za-z0-9_.:-]', undefined, 'device_id');
    const ts = e.ts;
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) return reject('malformed', 'ts must be integer Unix seconds', deviceId, 'ts');
    if (typeof e.body !== 'string') {
      return reject('malformed', e.body === undefined ? 'body is missing' : 'body must be the raw telemetry JSON text (a string), not parsed JSON', deviceId, 'body');
    }
    if (e.body.length * 3 > this.bodyLimits.maxBytes && Buffer.byteLength(e.body) > this.bodyLimits.maxBytes) return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
    return this.common(deviceId, e.kid, String(ts), ts, e.nonce, e.sig, e.body);
  }

  private fromUserProperties(up: Record<string, unknown>, payload: unknown): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    const one = (name: string): unknown => {
      const v = up[name];
      return Array.isArray(v) && v.length === 1 ? v[0] : v;
    };
    const deviceId = one(USER_PROPERTY.device);
    if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) return reject('malformed', `${USER_PROPERTY.device} must be 1-128 chars of [A-Za-z0-9_.:-]`, undefined, USER_PROPERTY.device);
    const tsText = one(USER_PROPERTY.ts);
    if (typeof tsText !== 'string' || !TS_TEXT_PATTERN.test(tsText)) return reject('malformed', `${USER_PROPERTY.ts} must be integer Unix seconds`, deviceId, USER_PROPERTY.ts);
    let sig = up[USER_PROPERTY.sig];
    // a repeated user property arrives as an array: each may hold one or more v1= values
    if (Array.isArray(sig) && sig.length <= MAX_SIGS && sig.every((s) => typeof s === 'string')) sig = sig.join(',');
    let body: string;
    if (typeof payload === 'string') body = payload;
    else if (Buffer.isBuffer(payload)) {
      if (payload.byteLength > this.bodyLimits.maxBytes) return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
      body = payload.toString('utf8');
    } else {
      return reject('malformed', 'with MQTT 5 properties the payload must be the raw body text: set the mqtt in node to output a String or Buffer', deviceId, 'body');
    }
    if (body.length * 3 > this.bodyLimits.maxBytes && Buffer.byteLength(body) > this.bodyLimits.maxBytes) {
      return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
    }
    return this.common(deviceId, one(USER_PROPERTY.kid), tsText, Number(tsText), one(USER_PROPERTY.nonce), sig, body);
  }

  private common(deviceId: string, kid: unknown, tsText: string, ts: number, nonce: unknown, sig: unknown, body: string): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    if (kid !== undefined && kid !== null && kid !== '' && (typeof kid !== 'string' || !KID_PATTERN.test(kid))) return reject('malformed', 'kid must be 1-64 chars of [A-Za-z0-9_.:-]', deviceId, 'kid');
    if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return reject('malformed', 'nonce must be 8-64 chars of [A-Za-z0-9_-]', deviceId, 'nonce');
    if (typeof sig !== 'string' || sig.length > MAX_SIGS * 140) return reject('malformed', 'sig must be "v1=<hex>" (comma-separated for several)', deviceId, 'sig');
    // the common case, one v1 value: no split, no trim (anything unusual takes the general path below)
    if (sig.length === MAC_HEX + 3 && sig.startsWith('v1=') && this.scratch[0].write(sig.slice(3), 'hex') === MAC_BYTES) {
      return { deviceId, kid: typeof kid === 'string' && kid !== '' ? kid : undefined, tsText, ts, nonce, candidates: 1, body };
    }
    const parts = sig.split(',');
    if (parts.length > MAX_SIGS) return reject('malformed', `more than ${MAX_SIGS} signatures`, deviceId, 'sig');
    let v1 = 0;
    let candidates = 0;
    for (const raw of parts) {
      const part = raw.trim();
      if (!part.startsWith('v1=')) continue; // other scheme versions: not ours to judge
      v1++;
      const hex = part.slice(3);
      // MAC-length values are decoded straight into reused buffers (a short write means a non-hex char);
      // other lengths can never match, so they are only checked for being hex (length checked before compare)
      if (hex.length === MAC_HEX ? this.scratch[candidates].write(hex, 'hex') !== MAC_BYTES : hex.length === 0 || hex.length > 128 || !HEX_PATTERN.test(hex)) {
        return reject('malformed', 'a v1 signature must be hexadecimal', deviceId, 'sig');
      }
      if (hex.length === MAC_HEX) candidates++;
    }
    if (v1 === 0) return reject('malformed', 'sig has no v1= value', deviceId, 'sig');
    return { deviceId, kid: typeof kid === 'string' && kid !== '' ? kid : undefined, tsText, ts, nonce, candidates, body };
  }
}
