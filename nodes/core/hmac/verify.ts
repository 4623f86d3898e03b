// Verifier for the v1 scheme (see hmac.ts): extracts the proof from either carrier, then checks in order
// malformed → device_mismatch → unknown_device/unknown_key → bad_signature → stale → replay, and only then
// parses the body. Cheap form checks run before the HMAC; freshness and the nonce only once the signature is
// proven, so unauthenticated traffic can neither be taken for a device's late data nor fill the replay cache.
import { timingSafeEqual, createHmac } from 'node:crypto';
import type { Reject } from '../contract';
import { DEVICE_ID_RULE, NONCE_PATTERN, USER_PROPERTY, isDeviceId, nowSeconds } from './scheme';
import type { KeyLookup } from './keyring';
import { duplicateKeyIn, parseJsonSafe, DEFAULT_LIMITS, type JsonLimits } from '../safe-json';
import { DEFAULT_REPLAY_CAPACITY, NonceCache, NonceCheck } from './replay';
import { TENANT_PATTERN } from '../tenant';
import { preview, previewTopic } from '../names';
import { TopicPattern, migrateDeviceLevel, topicProblemText } from '../topic';

export { NonceCache, NonceCheck, type NonceCacheOptions } from './replay';

export type VerifyRejectCode =
  | 'malformed'
  | 'unknown_device'
  | 'unknown_key'
  | 'bad_signature'
  | 'stale'
  | 'replay'
  | 'device_mismatch'
  | 'tenant_mismatch';

/** What the verifier needs from a keyring (Keyring implements it). */
export interface KeySource {
  /** with a tenant: that tenant's keys only (docs/tenants.md) */
  lookup(deviceId: string, kid?: string, tenant?: string): KeyLookup;
}

export interface VerifierOptions {
  keys: KeySource;
  /** accepted clock skew in seconds, both directions (default 300) */
  toleranceSec?: number;
  /** max remembered nonces in total (default DEFAULT_REPLAY_CAPACITY); entries also expire with the tolerance window */
  replayCacheSize?: number;
  /** max remembered nonces of one device (default 10000): a flooding device evicts only its own */
  replayPerDevice?: number;
  /** max devices in the replay cache (default 100000); the least recently active is evicted */
  replayDevices?: number;
  /** receives every replay-cache change as a record line (a crash-safe journal, see replay-journal.ts) */
  onReplayRecord?: (line: string) => void;
  /** caps for the envelope text (maxBytes) and the parsed body (all three) */
  limits?: JsonLimits;
  /**
   * topic pattern of the shared syntax (core/topic.ts), e.g. `devices/+device_id/telemetry`; enables
   * device_mismatch. `+tenant` marks the tenant level, e.g. `t/+tenant/devices/+device_id/telemetry` (then the
   * tenant comes from the topic, docs/tenants.md)
   */
  topicPattern?: string;
  /** the old form: which `+` of a pattern without `+device_id` holds the device id, 1-based (default 1) */
  topicDeviceLevel?: number;
  /**
   * the replay cache of one tenant: each tenant gets its own, so one tenant's flood of devices or nonces
   * cannot evict another tenant's nonces or raise its floors (default: an in-memory cache with the same bounds)
   */
  tenantNonces?: (tenant: string) => NonceCache;
  /** clock in Unix seconds (tests) */
  now?: () => number;
}

export interface VerifyInput {
  payload: unknown;
  userProperties?: unknown;
  topic?: unknown;
  /**
   * The transport redelivers a message it delivered before (MQTT DUP, set by the broker itself and never
   * forwarded from a publisher): a nonce already seen then passes once instead of being a replay.
   */
  redelivered?: boolean;
  /**
   * `false`: check the signature only, not the freshness window nor the replay cache (a ts in the future is
   * still refused). For a last will, which is signed at CONNECT and published by the broker any time later: its
   * replay protection is the session it is bound to (core/health/sessions.ts), and its nonce must not enter the
   * cache (a retained will is delivered again after every restart). `admit()` applies the two checks later, to
   * a result of this, without a second HMAC. Default true.
   */
  fresh?: boolean;
}

export interface Verified {
  ok: true;
  deviceId: string;
  kid: string;
  ts: number;
  /** the signed nonce: what `admit()` checks against the replay cache */
  nonce: string;
  body: Record<string, unknown>;
  /** a broker redelivery of a message whose nonce was already accepted (passes once) */
  redelivered?: true;
  /** the device's tenant (from the topic or the signed envelope); absent without tenants */
  tenant?: string;
}

/**
 * A refused message; `tenant` is the tenant it claims (topic or envelope) once the verifier has read one that
 * passes the topic's checks: for a bad signature only claimed, for a stale or replayed message (refused after its
 * HMAC) its own. The verifier's refusal watch keys devices by it (refusal-watch.ts).
 */
export type VerifyRefusal = { ok: false; reject: Reject & { code: VerifyRejectCode }; tenant?: string };

export type VerifyResult = Verified | VerifyRefusal;

/** `refusal` with the tenant it claims, when there is one. */
function claiming(refusal: VerifyRefusal, tenant: string | undefined): VerifyRefusal {
  if (tenant !== undefined) refusal.tenant = tenant;
  return refusal;
}

interface Proof {
  deviceId: string;
  /** the tenant the message claims (envelope `tenant` or x-moby-tenant) */
  tenant?: string;
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

function reject(
  code: VerifyRejectCode,
  reason: string,
  deviceId?: string,
  field?: string
): { ok: false; reject: Reject & { code: VerifyRejectCode } } {
  const r: Reject & { code: VerifyRejectCode } = { code, reason };
  if (deviceId !== undefined) r.device_id = deviceId;
  if (field !== undefined) r.field = field;
  return { ok: false, reject: r };
}

const NO_EMPTY_LEVELS = { emptyLevels: false };

/**
 * The device id (and tenant) a topic names, by a pattern of the shared syntax (core/topic.ts): the level
 * `+device_id` holds the device, `+tenant` the tenant. The old form (a pattern with bare `+` and "device is
 * +N", `plusNumber`) is migrated to it first, so flows saved before the shared syntax behave as they did.
 */
export class TopicDevice {
  readonly pattern: TopicPattern;
  private readonly deviceLevel: number;
  /** level of `+tenant`, or -1 */
  private readonly tenantLevel: number;

  constructor(pattern: string, plusNumber = 1) {
    const migrated = migrateDeviceLevel(pattern, plusNumber);
    this.pattern = TopicPattern.compile(migrated);
    if (!this.pattern.has('device_id')) {
      throw new Error(
        migrated === pattern && pattern.includes('+')
          ? `topic pattern "${pattern}" has no '+' number ${plusNumber} for the device id`
          : topicProblemText({ code: 'missing-name', params: { pattern, name: 'device_id' } })
      );
    }
    this.deviceLevel = this.pattern.levelOf('device_id');
    this.tenantLevel = this.pattern.levelOf('tenant');
  }

  /** The device id (and tenant) in the topic, or null when the topic does not match the pattern. */
  match(topic: string): { device: string; tenant?: string } | null {
    // an empty level names nothing the verifier could check: no match
    if (!this.pattern.test(topic, NO_EMPTY_LEVELS)) return null;
    // only the captured levels are cut out, not every level (a split per message)
    const device = this.pattern.levelAt(topic, this.deviceLevel)!;
    return this.tenantLevel >= 0 ? { device, tenant: this.pattern.levelAt(topic, this.tenantLevel)! } : { device };
  }

  /** The device id in the topic, or null when the topic does not match the pattern. */
  deviceOf(topic: string): string | null {
    return this.match(topic)?.device ?? null;
  }
}

/**
 * The largest envelope (MQTT 3.1.1 carrier) the verifier reads for a body cap of `bodyMaxBytes`: the envelope
 * carries the body JSON-escaped (every quote doubles) plus ~200 bytes of proof. Also what npm start's embedded
 * broker sizes its packet cap from (core/mqtt/embedded-broker.ts).
 */
export function envelopeMaxBytes(bodyMaxBytes: number): number {
  return 2 * bodyMaxBytes + 1024;
}

export class Verifier {
  readonly nonces: NonceCache;
  private readonly keys: KeySource;
  private readonly tolerance: number;
  private readonly maxBytes: number;
  private readonly bodyLimits: Required<JsonLimits>;
  private readonly topic: TopicDevice | null;
  private readonly now: () => number;
  private readonly tenantNonceFactory: (tenant: string) => NonceCache;
  private readonly tenantCaches = new Map<string, NonceCache>();
  /** reused buffers the v1 values are decoded into: no allocation per message */
  private readonly scratch: Buffer[] = Array.from({ length: MAX_SIGS }, () => Buffer.alloc(MAC_BYTES));

  constructor(o: VerifierOptions) {
    this.keys = o.keys;
    this.tolerance = o.toleranceSec ?? 300;
    if (!(this.tolerance >= 0)) throw new Error('tolerance must be >= 0 seconds');
    const cacheOptions = {
      windowSec: this.tolerance,
      capacity: Math.min(MAX_NONCE_CACHE, Math.max(1, Math.floor(o.replayCacheSize ?? DEFAULT_REPLAY_CAPACITY))),
      perDevice: o.replayPerDevice,
      maxDevices: o.replayDevices,
    };
    this.nonces = new NonceCache({ ...cacheOptions, onRecord: o.onReplayRecord });
    this.tenantNonceFactory = o.tenantNonces ?? (() => new NonceCache(cacheOptions));
    this.bodyLimits = { ...DEFAULT_LIMITS, ...o.limits };
    // the body's own cap is checked exactly once it is unescaped
    this.maxBytes = envelopeMaxBytes(this.bodyLimits.maxBytes);
    this.topic = o.topicPattern ? new TopicDevice(o.topicPattern, o.topicDeviceLevel ?? 1) : null;
    this.now = o.now ?? nowSeconds;
  }

  /** The replay cache of a tenant (created on its first verified-key message); the tenant-less one is `nonces`. */
  noncesOf(tenant: string | undefined): NonceCache {
    if (tenant === undefined) return this.nonces;
    let cache = this.tenantCaches.get(tenant);
    if (!cache) {
      cache = this.tenantNonceFactory(tenant);
      this.tenantCaches.set(tenant, cache);
    }
    return cache;
  }

  /** The tenants' replay caches created so far. */
  tenantNonceCaches(): ReadonlyMap<string, NonceCache> {
    return this.tenantCaches;
  }

  verify(input: VerifyInput): VerifyResult {
    const proof = this.extract(input);
    if ('ok' in proof) {
      // an envelope refused before its device id was read (too large, not JSON) is named by its topic's device
      // level, in the reason and marked unverified: not as `device_id`, which only the envelope's claim fills (a
      // keyless client must not pin refusals on a device by its topic) (red-team round 2026-12-07)
      if (proof.reject.device_id === undefined && this.topic && typeof input.topic === 'string') {
        const named = this.topic.deviceOf(input.topic);
        if (named !== null) proof.reject.reason += ` (its topic names device "${preview(named, 80)}", unverified)`;
      }
      return proof;
    }
    const { deviceId } = proof;
    let tenant = proof.tenant;

    if (this.topic) {
      const topic = typeof input.topic === 'string' ? input.topic : '';
      const fromTopic = this.topic.match(topic);
      if (fromTopic === null)
        return reject(
          'device_mismatch',
          `topic "${previewTopic(topic)}" does not match the device topic pattern`,
          deviceId,
          'topic'
        );
      if (fromTopic.device !== deviceId)
        return reject(
          'device_mismatch',
          `topic names device ${previewTopic(fromTopic.device)} but the message is signed for ${deviceId}`,
          deviceId,
          'topic'
        );
      if (fromTopic.tenant !== undefined) {
        // the broker's ACL decides who may publish below t/<tenant>/: the topic's tenant is the one that counts
        if (!TENANT_PATTERN.test(fromTopic.tenant))
          return reject(
            'malformed',
            `tenant level of topic "${previewTopic(topic)}" must be 1-64 chars of [A-Za-z0-9_-]`,
            deviceId,
            'topic'
          );
        if (tenant !== undefined && tenant !== fromTopic.tenant)
          return reject(
            'tenant_mismatch',
            `topic names tenant ${fromTopic.tenant} but the message claims tenant ${tenant}`,
            deviceId,
            'tenant'
          );
        tenant = fromTopic.tenant;
      }
    }

    const found = this.keys.lookup(deviceId, proof.kid, tenant);
    if (!found.ok)
      return claiming(
        reject(found.code, found.reason, deviceId, found.code === 'unknown_key' ? 'kid' : 'device_id'),
        tenant
      );

    const candidates = proof.candidates;
    const signed =
      tenant === undefined
        ? `${deviceId}.${proof.tsText}.${proof.nonce}.${proof.body}`
        : `t/${tenant}/${deviceId}.${proof.tsText}.${proof.nonce}.${proof.body}`;
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
      return claiming(
        reject(
          'bad_signature',
          `signature does not match key${found.keys.length > 1 ? 's' : ''} ${tried}`,
          deviceId,
          'sig'
        ),
        tenant
      );
    }

    // freshness only once the message is authentic: checked before the HMAC (as until 2026-12-06), a forged
    // message with an old ts was refused as `stale` in the name of the device it claimed, and the stale log line
    // advised raising the tolerance, i.e. a client without keys could make a live device look as if it lost
    // data (red-team round 2026-12-06). The order saved no HMAC an attacker could not cost anyway: a forged
    // message with a fresh ts gets one. A ts in the future is refused even without freshness.
    const now = this.now();
    const fresh = input.fresh !== false;
    if ((fresh && proof.ts < now - this.tolerance) || proof.ts > now + this.tolerance)
      return claiming(this.stale(proof.ts, now, deviceId), tenant);

    const seen = fresh
      ? this.checkNonce(deviceId, tenant, proof.nonce, proof.ts, now, input.redelivered === true)
      : NonceCheck.Fresh;
    if (typeof seen !== 'number') return claiming(seen, tenant);

    const body = parseJsonSafe<unknown>(proof.body, this.bodyLimits);
    if (!body.ok) {
      const field = body.reject.field ? `body.${body.reject.field}` : 'body';
      return reject('malformed', `body: ${body.reject.reason} (${body.reject.code})`, deviceId, field);
    }
    if (typeof body.value !== 'object' || body.value === null || Array.isArray(body.value)) {
      return reject('malformed', 'body must be a JSON object', deviceId, 'body');
    }
    // a body that does not parse was still authentic: its nonce stays used (a redelivery of it fails the same way)
    const ok: Verified = {
      ok: true,
      deviceId,
      kid,
      ts: proof.ts,
      nonce: proof.nonce,
      body: body.value as Record<string, unknown>,
    };
    if (seen === NonceCheck.Redelivered) ok.redelivered = true;
    if (tenant !== undefined) ok.tenant = tenant;
    return ok;
  }

  /**
   * The second half of `verify` for a message verified with `fresh: false`: the freshness window, then the
   * replay cache (the nonce is remembered from here on). For a message whose signature alone decides some
   * cases and freshness only others (a signed birth, core/health/sessions.ts): its HMAC is computed once.
   * Same rejects, reasons and order as `verify` with `fresh: true`, whose signature check passed already.
   */
  admit(v: Verified, redelivered = false): VerifyResult {
    const now = this.now();
    if (v.ts < now - this.tolerance || v.ts > now + this.tolerance) return this.stale(v.ts, now, v.deviceId);
    const seen = this.checkNonce(v.deviceId, v.tenant, v.nonce, v.ts, now, redelivered);
    if (typeof seen !== 'number') return seen;
    return seen === NonceCheck.Redelivered ? { ...v, redelivered: true } : v;
  }

  private stale(ts: number, now: number, deviceId: string): { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    return reject(
      'stale',
      `timestamp ${ts} is ${ts < now ? now - ts : ts - now} s ${ts < now ? 'old' : 'in the future'}, tolerance ${this.tolerance} s`,
      deviceId,
      'ts'
    );
  }

  /** The replay cache's verdict on an authentic message's nonce (remembered when new), or its replay reject. */
  private checkNonce(
    deviceId: string,
    tenant: string | undefined,
    nonce: string,
    ts: number,
    now: number,
    redelivered: boolean
  ): NonceCheck | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    const nonces = tenant === undefined ? this.nonces : this.noncesOf(tenant);
    const seen = nonces.check(deviceId, nonce, ts, now, redelivered);
    if (seen === NonceCheck.Replay)
      return reject('replay', `nonce ${nonce} was already used by ${deviceId}`, deviceId, 'nonce');
    if (seen === NonceCheck.BelowFloor) {
      return reject(
        'replay',
        `ts ${ts} is below ${deviceId}'s replay floor ${nonces.floorOf(deviceId)}: nonces of that time were dropped to keep the cache bounded, so the message cannot be proven new`,
        deviceId,
        'ts'
      );
    }
    return seen;
  }

  /** Reads the proof from MQTT 5 user properties when present, else from the envelope. */
  private extract(input: VerifyInput): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    const up = input.userProperties;
    if (
      typeof up === 'object' &&
      up !== null &&
      !Array.isArray(up) &&
      Object.prototype.hasOwnProperty.call(up, USER_PROPERTY.sig)
    ) {
      return this.fromUserProperties(up as Record<string, unknown>, input.payload);
    }
    return this.fromEnvelope(input.payload);
  }

  private fromEnvelope(payload: unknown): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    let env: unknown = payload;
    if (typeof payload === 'string' || Buffer.isBuffer(payload) || payload instanceof Uint8Array) {
      const size =
        typeof payload === 'string'
          ? payload.length * 3 > this.maxBytes
            ? Buffer.byteLength(payload)
            : 0
          : payload.byteLength;
      if (size > this.maxBytes) return reject('malformed', `envelope is ${size} bytes, limit ${this.maxBytes}`);
      const text =
        typeof payload === 'string'
          ? payload
          : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
      try {
        env = JSON.parse(text);
      } catch (err) {
        return reject('malformed', `envelope is not valid JSON: ${(err as Error).message}`);
      }
      // JSON.parse keeps the last of two device_id (or sig, body …) keys, other parsers the first: refused
      const dup = duplicateKeyIn(text, env);
      if (dup !== null)
        return reject(
          'malformed',
          `envelope: key "${dup.key}" appears twice in one object at ${dup.path}`,
          // the device is named when the envelope names one (not when device_id itself is the key given twice)
          dup.key !== 'device_id' && isDeviceId((env as Record<string, unknown>)?.device_id)
            ? (env as Record<string, string>).device_id
            : undefined,
          dup.path
        );
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env)) {
      return reject(
        'malformed',
        'payload must be a signed envelope {device_id, ts, nonce, sig, body} or carry MQTT 5 x-moby-* user properties'
      );
    }
    const e = env as Record<string, unknown>;
    const deviceId = e.device_id;
    if (!isDeviceId(deviceId))
      return reject('malformed', `device_id must be ${DEVICE_ID_RULE}`, undefined, 'device_id');
    const ts = e.ts;
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0)
      return reject('malformed', 'ts must be integer Unix seconds', deviceId, 'ts');
    if (typeof e.body !== 'string') {
      return reject(
        'malformed',
        e.body === undefined
          ? 'body is missing'
          : 'body must be the raw telemetry JSON text (a string), not parsed JSON',
        deviceId,
        'body'
      );
    }
    if (e.body.length * 3 > this.bodyLimits.maxBytes && Buffer.byteLength(e.body) > this.bodyLimits.maxBytes)
      return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
    const claimed = this.claimedTenant(e.tenant, deviceId, 'tenant');
    if (claimed !== undefined && typeof claimed !== 'string') return claimed;
    const proof = this.common(deviceId, e.kid, String(ts), ts, e.nonce, e.sig, e.body);
    if (claimed !== undefined && !('ok' in proof)) proof.tenant = claimed;
    return proof;
  }

  private fromUserProperties(
    up: Record<string, unknown>,
    payload: unknown
  ): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    const one = (name: string): unknown => {
      const v = up[name];
      return Array.isArray(v) && v.length === 1 ? v[0] : v;
    };
    const deviceId = one(USER_PROPERTY.device);
    if (!isDeviceId(deviceId))
      return reject('malformed', `${USER_PROPERTY.device} must be ${DEVICE_ID_RULE}`, undefined, USER_PROPERTY.device);
    const tsText = one(USER_PROPERTY.ts);
    if (typeof tsText !== 'string' || !TS_TEXT_PATTERN.test(tsText))
      return reject('malformed', `${USER_PROPERTY.ts} must be integer Unix seconds`, deviceId, USER_PROPERTY.ts);
    let sig = up[USER_PROPERTY.sig];
    // a repeated user property arrives as an array: each may hold one or more v1= values
    if (Array.isArray(sig) && sig.length <= MAX_SIGS && sig.every((s) => typeof s === 'string')) sig = sig.join(',');
    let body: string;
    if (typeof payload === 'string') body = payload;
    else if (Buffer.isBuffer(payload)) {
      if (payload.byteLength > this.bodyLimits.maxBytes)
        return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
      body = payload.toString('utf8');
    } else {
      return reject(
        'malformed',
        'with MQTT 5 properties the payload must be the raw body text: set the mqtt in node to output a String or Buffer',
        deviceId,
        'body'
      );
    }
    if (body.length * 3 > this.bodyLimits.maxBytes && Buffer.byteLength(body) > this.bodyLimits.maxBytes) {
      return reject('malformed', `body is larger than ${this.bodyLimits.maxBytes} bytes`, deviceId, 'body');
    }
    const claimed = this.claimedTenant(one(USER_PROPERTY.tenant), deviceId, USER_PROPERTY.tenant);
    if (claimed !== undefined && typeof claimed !== 'string') return claimed;
    const proof = this.common(
      deviceId,
      one(USER_PROPERTY.kid),
      tsText,
      Number(tsText),
      one(USER_PROPERTY.nonce),
      sig,
      body
    );
    if (claimed !== undefined && !('ok' in proof)) proof.tenant = claimed;
    return proof;
  }

  /** The tenant a message claims: undefined when absent, the name, or a malformed reject. */
  private claimedTenant(
    v: unknown,
    deviceId: string,
    field: string
  ): string | undefined | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || !TENANT_PATTERN.test(v))
      return reject('malformed', 'tenant must be 1-64 chars of [A-Za-z0-9_-]', deviceId, field);
    return v;
  }

  private common(
    deviceId: string,
    kid: unknown,
    tsText: string,
    ts: number,
    nonce: unknown,
    sig: unknown,
    body: string
  ): Proof | { ok: false; reject: Reject & { code: VerifyRejectCode } } {
    if (kid !== undefined && kid !== null && kid !== '' && (typeof kid !== 'string' || !KID_PATTERN.test(kid)))
      return reject('malformed', 'kid must be 1-64 chars of [A-Za-z0-9_.:-]', deviceId, 'kid');
    if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce))
      return reject('malformed', 'nonce must be 8-64 chars of [A-Za-z0-9_-]', deviceId, 'nonce');
    if (typeof sig !== 'string' || sig.length > MAX_SIGS * 140)
      return reject('malformed', 'sig must be "v1=<hex>" (comma-separated for several)', deviceId, 'sig');
    // the common case, one v1 value: no split, no trim (anything unusual takes the general path below)
    if (
      sig.length === MAC_HEX + 3 &&
      sig.startsWith('v1=') &&
      this.scratch[0].write(sig.slice(3), 'hex') === MAC_BYTES
    ) {
      return {
        deviceId,
        kid: typeof kid === 'string' && kid !== '' ? kid : undefined,
        tsText,
        ts,
        nonce,
        candidates: 1,
        body,
      };
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
      if (
        hex.length === MAC_HEX
          ? this.scratch[candidates].write(hex, 'hex') !== MAC_BYTES
          : hex.length === 0 || hex.length > 128 || !HEX_PATTERN.test(hex)
      ) {
        return reject('malformed', 'a v1 signature must be hexadecimal', deviceId, 'sig');
      }
      if (hex.length === MAC_HEX) candidates++;
    }
    if (v1 === 0) return reject('malformed', 'sig has no v1= value', deviceId, 'sig');
    return {
      deviceId,
      kid: typeof kid === 'string' && kid !== '' ? kid : undefined,
      tsText,
      ts,
      nonce,
      candidates,
      body,
    };
  }
}
