// The MOBY signing scheme (v1), shared by devices, gateways, the simulator and the hmac-sign/-verify nodes:
//   MAC = lowercase hex HMAC-SHA256(secret, `<device_id>.<ts>.<nonce>.<body>`)
// and for a device of a tenant (docs/tenants.md) the tenant is covered too:
//   MAC = lowercase hex HMAC-SHA256(secret, `t/<tenant>/<device_id>.<ts>.<nonce>.<body>`)
// (a device id never contains '/', so no tenant-less string can equal a tenant's one).
// ts = integer Unix seconds written in plain decimal, nonce = 8-64 chars of [A-Za-z0-9_-], body = the exact
// raw telemetry JSON text. Two carriers: a JSON envelope (MQTT 3.1.1) or raw body + MQTT 5 user properties.
// No Node-RED import: this module is the package's public signing API (see README "Signing messages").
import { createHmac, randomBytes } from 'node:crypto';
import { TENANT_PATTERN } from '../tenant';
import { FORBIDDEN_KEYS } from '../safe-json';

export const MIN_KEY_BYTES = 16;
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
/** device ids are topic-safe: no MQTT wildcards, separators or whitespace */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** what a device id may be, for error texts */
export const DEVICE_ID_RULE = '1-128 chars of [A-Za-z0-9_.:-], not __proto__, constructor or prototype';

/**
 * A device id MOBY accepts: DEVICE_ID_PATTERN, and none of the names an object's prototype answers to. Ids become
 * keys of per-device tables and documents; device health always refused these three, the verifier (and a master
 * key, which has a key for every id) did not, so such a device's points were stored and scored while device health
 * never listed it, timed it out or saw its will (red-team round 2026-12-06).
 */
export function isDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID_PATTERN.test(id) && !FORBIDDEN_KEYS.has(id);
}

/** MQTT 5 user property names of the properties carrier. */
export const USER_PROPERTY = {
  device: 'x-moby-device',
  kid: 'x-moby-kid',
  ts: 'x-moby-ts',
  nonce: 'x-moby-nonce',
  sig: 'x-moby-sig',
  tenant: 'x-moby-tenant',
} as const;

const HEX_PATTERN = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

/**
 * Turns a written secret into key bytes: `hex:…` and `base64:…` give binary keys, anything else is used as
 * its UTF-8 bytes. Throws (without echoing the secret) when the encoding is invalid or the key is shorter
 * than 16 bytes.
 */
export function parseKey(text: string): Buffer {
  if (typeof text !== 'string') throw new TypeError('key must be a string');
  let key: Buffer;
  if (text.startsWith('hex:')) {
    const hex = text.slice(4).trim();
    if (!HEX_PATTERN.test(hex)) throw new Error('hex: key is not an even-length hexadecimal string');
    key = Buffer.from(hex, 'hex');
  } else if (text.startsWith('base64:')) {
    const b64 = text.slice(7).trim();
    if (!BASE64_PATTERN.test(b64)) throw new Error('base64: key is not valid base64');
    key = Buffer.from(b64, 'base64');
  } else {
    key = Buffer.from(text, 'utf8');
  }
  if (key.length < MIN_KEY_BYTES) throw new Error(`key is ${key.length} bytes, at least ${MIN_KEY_BYTES} required`);
  return key;
}

/** Per-device key from a master key: the raw 32 bytes of HMAC-SHA256(master, device_id). */
export function deriveDeviceKey(master: Buffer, deviceId: string): Buffer {
  return createHmac('sha256', master).update(deviceId, 'utf8').digest();
}

/** The exact bytes that are MACed; with a tenant they start `t/<tenant>/`. */
export function signingString(
  deviceId: string,
  ts: number | string,
  nonce: string,
  body: string,
  tenant?: string
): string {
  return tenant ? `t/${tenant}/${deviceId}.${ts}.${nonce}.${body}` : `${deviceId}.${ts}.${nonce}.${body}`;
}

/** Raw 32-byte MAC (the verifier compares these, not hex strings). */
export function computeMacBytes(
  key: Buffer,
  deviceId: string,
  ts: number | string,
  nonce: string,
  body: string,
  tenant?: string
): Buffer {
  return createHmac('sha256', key)
    .update(signingString(deviceId, ts, nonce, body, tenant), 'utf8')
    .digest();
}

/** Lowercase hex MAC of `<device_id>.<ts>.<nonce>.<body>` (prefixed `t/<tenant>/` for a tenant's device). */
export function computeMac(
  key: Buffer,
  deviceId: string,
  ts: number,
  nonce: string,
  body: string,
  tenant?: string
): string {
  return computeMacBytes(key, deviceId, ts, nonce, body, tenant).toString('hex');
}

/** 22 chars of base64url from 16 random bytes: within the nonce alphabet and length. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export interface Envelope {
  device_id: string;
  kid?: string;
  ts: number;
  nonce: string;
  /** `v1=<hex>` or several comma-separated `v1=<hex>` values (one per key during rotation) */
  sig: string;
  /** the exact telemetry JSON text that was signed */
  body: string;
  /** the device's tenant (docs/tenants.md); covered by the signature */
  tenant?: string;
}

export interface SignOptions {
  deviceId: string;
  key: Buffer;
  body: string;
  kid?: string;
  /** Unix seconds; default now */
  ts?: number;
  /** default newNonce() */
  nonce?: string;
  /** the device's tenant: the signature then covers it (docs/tenants.md) */
  tenant?: string;
}

function checkSignInput(o: SignOptions): { ts: number; nonce: string } {
  if (!isDeviceId(o.deviceId)) throw new Error(`device id "${o.deviceId}" must be ${DEVICE_ID_RULE}`);
  if (!Buffer.isBuffer(o.key) || o.key.length < MIN_KEY_BYTES)
    throw new Error(`key must be a Buffer of at least ${MIN_KEY_BYTES} bytes`);
  if (typeof o.body !== 'string') throw new TypeError('body must be the telemetry JSON text');
  const ts = o.ts ?? nowSeconds();
  if (!Number.isSafeInteger(ts) || ts < 0) throw new Error('ts must be a non-negative integer (Unix seconds)');
  const nonce = o.nonce ?? newNonce();
  if (!NONCE_PATTERN.test(nonce)) throw new Error('nonce must be 8-64 chars of [A-Za-z0-9_-]');
  if (o.tenant !== undefined && o.tenant !== '' && !TENANT_PATTERN.test(o.tenant))
    throw new Error('tenant must be 1-64 chars of [A-Za-z0-9_-]');
  return { ts, nonce };
}

/** Signs a body into the MQTT 3.1.1 envelope carrier; JSON.stringify(result) is the MQTT payload. */
export function signEnvelope(o: SignOptions): Envelope {
  const { ts, nonce } = checkSignInput(o);
  const tenant = o.tenant || undefined;
  const sig = `v1=${computeMac(o.key, o.deviceId, ts, nonce, o.body, tenant)}`;
  const env: Envelope =
    o.kid === undefined || o.kid === ''
      ? { device_id: o.deviceId, ts, nonce, sig, body: o.body }
      : { device_id: o.deviceId, kid: o.kid, ts, nonce, sig, body: o.body };
  if (tenant) env.tenant = tenant;
  return env;
}

/** Signs a body into the MQTT 5 carrier: the payload is the raw body, the proof travels in user properties. */
export function signUserProperties(o: SignOptions): { payload: string; userProperties: Record<string, string> } {
  const { ts, nonce } = checkSignInput(o);
  const tenant = o.tenant || undefined;
  const userProperties: Record<string, string> = { [USER_PROPERTY.device]: o.deviceId };
  if (tenant) userProperties[USER_PROPERTY.tenant] = tenant;
  if (o.kid !== undefined && o.kid !== '') userProperties[USER_PROPERTY.kid] = o.kid;
  userProperties[USER_PROPERTY.ts] = String(ts);
  userProperties[USER_PROPERTY.nonce] = nonce;
  userProperties[USER_PROPERTY.sig] = `v1=${computeMac(o.key, o.deviceId, ts, nonce, o.body, tenant)}`;
  return { payload: o.body, userProperties };
}

/** A connection's session id: 8-64 chars of [A-Za-z0-9_-] (the nonce alphabet), random per connection. */
export const SESSION_PATTERN = NONCE_PATTERN;

/** A new random session id (22 chars of base64url from 16 random bytes). */
export function newSession(): string {
  return randomBytes(16).toString('base64url');
}

/** The body of a signed birth or will: `{"status":"ONLINE"|"OFFLINE","session":"…"}`. */
export function statusBody(status: 'ONLINE' | 'OFFLINE', session: string): string {
  if (!SESSION_PATTERN.test(session)) throw new Error('session must be 8-64 chars of [A-Za-z0-9_-]');
  return JSON.stringify({ status, session });
}

export interface SignedConnection {
  /** the connection's random session id */
  session: string;
  /** the connect time, Unix seconds: the ts of both envelopes */
  ts: number;
  /** publish retained on the status topic once connected (`device/status/<id>`) */
  birth: Envelope;
  /** set as the CONNECT packet's will (`device/lwt/<id>`, retained, QoS 1) */
  will: Envelope;
}

/**
 * Signs a connection's birth and last will with the device's key, both bound to one new random session
 * (docs/signing.md, "Signed wills and births"). Call it for every CONNECT, reconnects included: the health
 * node applies a will only if its session is the one of the device's latest birth, so a will of an earlier
 * connection (retained, recorded) changes nothing.
 */
export function signConnection(o: Omit<SignOptions, 'body' | 'nonce'> & { session?: string }): SignedConnection {
  const session = o.session ?? newSession();
  const ts = o.ts ?? nowSeconds();
  const base = { deviceId: o.deviceId, key: o.key, kid: o.kid, tenant: o.tenant, ts };
  return {
    session,
    ts,
    birth: signEnvelope({ ...base, body: statusBody('ONLINE', session) }),
    will: signEnvelope({ ...base, body: statusBody('OFFLINE', session) }),
  };
}
