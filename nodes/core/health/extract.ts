// Turns an incoming message into what the health table understands: a status (birth/will) for one
// device, or activity of one device at a trustworthy time, or a reject that names what was wrong.
import type { Reject } from '../contract';
import { FORBIDDEN_KEYS, checkValue, parseJsonSafe } from '../safe-json';
import { TopicPattern, migrateHealthPattern, parseTopicPattern } from '../topic';
import { isTenant } from '../tenant';
import { previewTopic } from '../names';
import { isSignedEnvelope } from './sessions';

export type { TopicPattern };

/**
 * A status, will or activity topic pattern (core/topic.ts syntax: `+device_id` names the id level), or why
 * it is not one. A pattern of the old health syntax (`{device_id}`, or the last `+` holding the id) is
 * migrated first, so flows saved before the shared syntax keep their meaning.
 */
export function compileTopicPattern(source: string): TopicPattern | string {
  const text = source.trim();
  if (!text) return 'empty topic pattern';
  return parseTopicPattern(migrateHealthPattern(text));
}

/** Matches a topic; returns the `+device_id` level's value ('' when the pattern has none), or null. */
export function matchTopicPattern(p: TopicPattern, topic: string): string | null {
  const levels = p.levels(topic);
  if (levels === null) return null;
  const at = p.levelOf('device_id');
  return at < 0 ? '' : levels[at];
}

export interface HealthReadOptions {
  statusTopics: TopicPattern[];
  lwtTopics: TopicPattern[];
  /** topics whose `{device_id}`/`+` level names the device of plain activity */
  activityTopics: TopicPattern[];
  /** a message timestamp is trusted only within this distance of the receive time, ms */
  clockSkewMs: number;
  maxIdLength: number;
}

/**
 * `tenant` (absent without tenants) is the topic's `+tenant` level or msg.moby.tenant: the device is that
 * tenant's `device_id` (the adapter keys its row with scopeHealthId, docs/tenants.md).
 */
export type HealthInput =
  | {
      kind: 'status';
      device_id: string;
      online: boolean;
      time: number;
      reason: 'status' | 'lwt';
      equipment_id?: string;
      tenant?: string;
    }
  | {
      kind: 'activity';
      device_id: string;
      time: number;
      /** the device's own stamp when `time` replaced it (too far from the receive time): see HealthTable.activity */
      stamped?: number;
      equipment_id?: string;
      verified: boolean;
      tenant?: string;
    }
  /**
   * a signed birth/will (the telemetry envelope, docs/device-health.md "Signed wills and births"), not yet
   * verified: the adapter judges it with core/health/sessions.ts
   */
  | { kind: 'signed'; device_id: string; reason: 'status' | 'lwt'; envelope: Record<string, unknown>; tenant?: string }
  | { kind: 'reject'; reject: Reject };

const ID_RE = /^[\w.:@~-]+$/;

/** A usable device id: 1..maxLength of letters, digits and . _ : @ ~ -, and never a prototype key (ids
 * become object keys in persisted tables and API responses). */
export function isValidDeviceId(id: unknown, maxLength = 128): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= maxLength && ID_RE.test(id) && !FORBIDDEN_KEYS.has(id);
}

/** Epoch ms from a number (ms, or s when small) or an ISO-8601 string; NaN when absent or unusable. */
export function looseEpochMs(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return NaN;
    return v < 1e11 ? v * 1000 : v; // 1e11 s is year 5138, 1e11 ms is 1973: smaller values are seconds
  }
  if (typeof v === 'string' && v.length <= 40 && /^\d{4}-\d\d-\d\d/.test(v)) {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : NaN;
  }
  return NaN;
}

/** The message's own time if it is plausible (within clockSkewMs of `now`), else `now`. */
export function trustedTime(candidate: number, now: number, clockSkewMs: number): number {
  return candidate === candidate && Math.abs(candidate - now) <= clockSkewMs ? candidate : now;
}

const STATUS_WORDS: Record<string, boolean> = { online: true, offline: false, connected: true, disconnected: false };

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function textOf(payload: unknown): string | null {
  if (typeof payload === 'string') return payload;
  if (Buffer.isBuffer(payload) || payload instanceof Uint8Array)
    return Buffer.from(payload as Uint8Array).toString('utf8');
  return null;
}

const TENANT_RULE = '1-64 characters of A-Z a-z 0-9 _ -';

/**
 * The tenant of a message: the `+tenant` level of the topic pattern it matched and msg.moby.tenant (set by
 * hmac-verify, or by the flow). The topic outranks nothing silently: both present and different is
 * `tenant_mismatch` (as in verify, the broker's ACL pins the topic and nobody vouches for a claim that
 * contradicts it), and either one breaking the tenant rule is `bad_tenant`: a message that names a tenant
 * must never fall into the tenant-less rows. Returns the tenant (undefined: none) or the reject.
 */
export function tenantOf(
  topic: string,
  match: { pattern: TopicPattern; levels: string[] } | null,
  moby: Record<string, unknown> | null,
  deviceId?: string
): { tenant: string | undefined } | Reject {
  const at = match ? match.pattern.levelOf('tenant') : -1;
  const fromTopic = at < 0 ? undefined : match!.levels[at];
  if (fromTopic !== undefined && !isTenant(fromTopic)) {
    return rejectOf(
      'bad_tenant',
      `tenant level of topic "${previewTopic(topic)}" must be ${TENANT_RULE}`,
      deviceId,
      'topic'
    );
  }
  const claimed = moby?.tenant ?? undefined; // null counts as absent, like a field that was never set
  if (claimed !== undefined && !isTenant(claimed)) {
    return rejectOf('bad_tenant', `msg.moby.tenant must be ${TENANT_RULE}`, deviceId, 'moby.tenant');
  }
  if (fromTopic !== undefined && claimed !== undefined && claimed !== fromTopic) {
    return rejectOf(
      'tenant_mismatch',
      `topic "${previewTopic(topic)}" names tenant ${fromTopic} but msg.moby.tenant is ${claimed}: the message is ignored`,
      deviceId,
      'moby.tenant'
    );
  }
  return { tenant: fromTopic ?? claimed };
}

function rejectOf(code: string, reason: string, device_id?: string, field?: string): Reject {
  const r: Reject = { code, reason };
  if (device_id !== undefined) r.device_id = device_id;
  if (field !== undefined) r.field = field;
  return r;
}

/** The first pattern that matches the topic, with the topic's levels. */
function firstMatch(patterns: TopicPattern[], topic: string): { pattern: TopicPattern; levels: string[] } | null {
  for (const pattern of patterns) {
    const levels = pattern.levels(topic);
    if (levels !== null) return { pattern, levels };
  }
  return null;
}

/** Reads one message. `now` is the receive time. */
export function readHealthMessage(
  msg: { topic?: unknown; payload?: unknown; moby?: unknown },
  now: number,
  opts: HealthReadOptions
): HealthInput {
  const input = readUnscoped(msg, now, opts);
  // '~' joins a tenant and its device in the table's ids (scopeHealthId): a tenant-less id holding one would
  // be a tenant's row. A keyless client's will on `device/lwt/acme~pump-001` marked acme's pump-001 from
  // outside acme's topics (red-team round 2026-12-06); signed and tenant ids never contain '~'.
  if (input.kind !== 'reject' && input.tenant === undefined && input.device_id.includes('~'))
    return {
      kind: 'reject',
      reject: rejectOf(
        'bad_device_id',
        "a device id without a tenant must not contain '~' (it joins a tenant and its device ids)",
        input.device_id,
        'device_id'
      ),
    };
  return input;
}

function readUnscoped(
  msg: { topic?: unknown; payload?: unknown; moby?: unknown },
  now: number,
  opts: HealthReadOptions
): HealthInput {
  const topic = typeof msg.topic === 'string' ? msg.topic : '';
  const moby = obj(msg.moby);
  const reject = (code: string, reason: string, device_id?: string, field?: string): HealthInput => ({
    kind: 'reject',
    reject: rejectOf(code, reason, device_id, field),
  });

  // status / will topics first
  let statusKind: 'status' | 'lwt' | null = null;
  let statusMatch = firstMatch(opts.lwtTopics, topic);
  if (statusMatch) statusKind = 'lwt';
  else {
    statusMatch = firstMatch(opts.statusTopics, topic);
    if (statusMatch) statusKind = 'status';
  }
  if (statusKind) {
    const idLevel = statusMatch!.pattern.levelOf('device_id');
    const topicId = idLevel < 0 ? '' : statusMatch!.levels[idLevel];
    // the tenant first: a will whose tenant cannot be told must not reach any row
    const scope = tenantOf(topic, statusMatch, moby, isValidDeviceId(topicId, opts.maxIdLength) ? topicId : undefined);
    if ('code' in scope) return { kind: 'reject', reject: scope };
    let body: unknown = msg.payload;
    const text = textOf(body);
    let word: string | null = null;
    if (text !== null) {
      const trimmed = text.trim();
      if (trimmed.startsWith('{')) {
        const parsed = parseJsonSafe(trimmed, { maxBytes: 4096, maxDepth: 4, maxKeys: 50 });
        if (!parsed.ok)
          return reject(
            parsed.reject.code,
            `status message: ${parsed.reject.reason}`,
            isValidDeviceId(topicId, opts.maxIdLength) ? topicId : undefined,
            'payload'
          );
        body = parsed.value;
      } else {
        word = trimmed.replace(/^"|"$/g, '');
        body = word;
      }
    } else if (obj(body)) {
      const bad = checkValue(body, { maxDepth: 4, maxKeys: 50 });
      if (bad)
        return reject(
          bad.code,
          `status message: ${bad.reason}`,
          undefined,
          bad.field ? `payload.${bad.field}` : 'payload'
        );
    }
    const o = obj(body);
    let id: unknown = topicId;
    let time = now;
    let equipment: string | undefined;
    if (o) {
      const claimed = o.device_id ?? o.device_uuid;
      // the topic names the device: the broker's ACL can vouch for a topic, nobody vouches for a payload
      if (topicId && claimed !== undefined && claimed !== topicId) {
        return reject(
          'device_mismatch',
          `status message on ${previewTopic(topic)} names another device in its payload: the topic decides, the message is ignored`,
          isValidDeviceId(topicId, opts.maxIdLength) ? topicId : undefined,
          o.device_id !== undefined ? 'payload.device_id' : 'payload.device_uuid'
        );
      }
      id = topicId || claimed;
      if (isSignedEnvelope(o)) {
        if (!isValidDeviceId(id, opts.maxIdLength))
          return reject(
            'bad_device_id',
            `signed status message on ${previewTopic(topic)} names no usable device id`,
            undefined,
            'topic'
          );
        const signed: HealthInput = { kind: 'signed', device_id: id, reason: statusKind, envelope: o };
        if (scope.tenant !== undefined) signed.tenant = scope.tenant;
        return signed;
      }
      word = typeof o.status === 'string' ? o.status : typeof o.state === 'string' ? o.state : null;
      time = trustedTime(looseEpochMs(o.timestamp ?? o.ts ?? o.time), now, opts.clockSkewMs);
      if (typeof o.equipment_id === 'string' && isValidDeviceId(o.equipment_id, opts.maxIdLength))
        equipment = o.equipment_id;
    } else if (typeof body === 'boolean') {
      word = body ? 'online' : 'offline';
    }
    if (!isValidDeviceId(id, opts.maxIdLength)) {
      return reject(
        id === undefined || id === '' ? 'no_device_id' : 'bad_device_id',
        `status message on ${previewTopic(topic)} names no usable device id`,
        undefined,
        o ? 'payload.device_id' : 'topic'
      );
    }
    const online = word === null ? undefined : STATUS_WORDS[word.toLowerCase()];
    if (online === undefined) {
      return reject(
        'bad_status',
        `status must be ONLINE or OFFLINE, got ${word === null ? typeof body : JSON.stringify(word.slice(0, 40))}`,
        id,
        o ? 'payload.status' : 'payload'
      );
    }
    const out: HealthInput = { kind: 'status', device_id: id, online, time, reason: statusKind };
    if (equipment) out.equipment_id = equipment;
    if (scope.tenant !== undefined) out.tenant = scope.tenant;
    return out;
  }

  // activity: msg.moby.device_id, payload.tags.device_id, payload.device_id, or a topic level
  const payload = obj(msg.payload);
  const tags = payload ? obj(payload.tags) : null;
  let id: unknown = moby?.device_id ?? tags?.device_id ?? payload?.device_id;
  let field =
    moby?.device_id !== undefined
      ? 'moby.device_id'
      : tags?.device_id !== undefined
        ? 'payload.tags.device_id'
        : 'payload.device_id';
  // the activity pattern the topic matches: it names the device (when the message does not) and, with
  // `+tenant`, the tenant (always: unsigned data on a tenant's topic is that tenant's device's)
  let activityMatch: { pattern: TopicPattern; levels: string[] } | null = null;
  for (const pattern of opts.activityTopics) {
    const levels = pattern.levels(topic);
    if (levels === null) continue;
    const at = pattern.levelOf('device_id');
    if ((at >= 0 && levels[at] !== '') || pattern.has('tenant')) {
      activityMatch = { pattern, levels };
      break;
    }
  }
  if (id === undefined && activityMatch) {
    const at = activityMatch.pattern.levelOf('device_id');
    if (at >= 0 && activityMatch.levels[at] !== '') {
      id = activityMatch.levels[at];
      field = 'topic';
    }
  }
  if (id === undefined)
    return reject(
      'no_device_id',
      `no device id in msg.moby.device_id, payload.tags.device_id, payload.device_id or the topic${topic ? ` (${previewTopic(topic)})` : ''}`
    );
  if (!isValidDeviceId(id, opts.maxIdLength))
    return reject(
      'bad_device_id',
      `device id must be 1-${opts.maxIdLength} characters of letters, digits and . _ : @ ~ -`,
      undefined,
      field
    );
  const scope = tenantOf(topic, activityMatch, moby, id);
  if ('code' in scope) return { kind: 'reject', reject: scope };
  const stamp = looseEpochMs(moby?.timestamp ?? payload?.timestamp ?? payload?.ts);
  // authenticated by moby-hmac-verify upstream (which drops any msg.moby.auth it did not set itself)
  const auth = obj(moby?.auth);
  const time = trustedTime(stamp, now, opts.clockSkewMs);
  const out: HealthInput = {
    kind: 'activity',
    device_id: id,
    time,
    verified: auth?.verified === true && field === 'moby.device_id',
  };
  if (time !== stamp && stamp === stamp) out.stamped = stamp;
  const eq = moby?.equipment_id ?? tags?.equipment_id;
  if (typeof eq === 'string' && isValidDeviceId(eq, opts.maxIdLength)) out.equipment_id = eq;
  if (scope.tenant !== undefined) out.tenant = scope.tenant;
  return out;
}

/** Top-level payload fields readHealthMessage reads (status and activity), and the tag fields. */
const VIEW_PAYLOAD_KEYS = ['device_id', 'device_uuid', 'status', 'state', 'timestamp', 'ts', 'time', 'equipment_id'];
const VIEW_TAG_KEYS = ['device_id', 'equipment_id'];
const VIEW_MOBY_KEYS = ['device_id', 'tenant', 'timestamp', 'equipment_id'];

function pick(from: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

/**
 * The part of a message that readHealthMessage reads, as a new message that shares no object with it:
 * moby-hmac-verify sends it on its "activity" output so that device health gets its own small message
 * instead of a deep clone of the whole telemetry message at a fan-out (Node-RED clones every message after
 * the first of one send(); docs/benchmarks.md). `_msgid` is kept, so a source that acknowledges on
 * completion still waits for device health as it did for the clone. For activity the reading is the same
 * as of the message itself (test/unit/core/health/extract.test.ts); on a status or will topic the view
 * keeps only the status fields, so a status body's key-count limit applies to those fields alone — status
 * and will messages reach device health from their own MQTT inputs, not through the verifier.
 */
export function healthView(msg: { _msgid?: unknown; topic?: unknown; payload?: unknown; moby?: unknown }): {
  _msgid?: unknown;
  topic?: unknown;
  payload?: unknown;
  moby?: Record<string, unknown>;
} {
  const out: { _msgid?: unknown; topic?: unknown; payload?: unknown; moby?: Record<string, unknown> } = {};
  if (msg._msgid !== undefined) out._msgid = msg._msgid;
  if (msg.topic !== undefined) out.topic = msg.topic;
  const moby = obj(msg.moby);
  if (moby) {
    const m = pick(moby, VIEW_MOBY_KEYS);
    const auth = obj(moby.auth);
    if (auth) m.auth = { verified: auth.verified };
    out.moby = m;
  }
  const p = msg.payload;
  if (Buffer.isBuffer(p) || p instanceof Uint8Array) out.payload = Buffer.from(p as Uint8Array);
  else if (Array.isArray(p)) out.payload = [];
  else if (obj(p)) {
    const po = p as Record<string, unknown>;
    const v = pick(po, VIEW_PAYLOAD_KEYS);
    const tags = obj(po.tags);
    if (tags) v.tags = pick(tags, VIEW_TAG_KEYS);
    out.payload = v;
  } else if (p !== undefined) out.payload = p;
  return out;
}

/**
 * Parses "id=seconds" lines (blank and # lines ignored) into ms. Keys prefixed "equipment:" go to the
 * equipment map. Returns the maps or the first bad line.
 */
export function parseTimeoutOverrides(
  text: string
): { devices: Map<string, number>; equipment: Map<string, number> } | string {
  const devices = new Map<string, number>();
  const equipment = new Map<string, number>();
  const lines = (text || '').split(/\r?\n|,|;/);
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(equipment:)?([\w.:@~-]+)\s*=\s*(\d+(?:\.\d+)?)\s*s?$/.exec(line);
    if (!m || Number(m[3]) <= 0)
      return `timeout override "${line}" is not "device_id=seconds" or "equipment:id=seconds"`;
    (m[1] ? equipment : devices).set(m[2], Math.round(Number(m[3]) * 1000));
  }
  return { devices, equipment };
}

/** Parses the known-device list: one "device_id" or "device_id equipment_id" per line (or comma-separated ids). */
export function parseKnownDevices(
  text: string,
  maxIdLength = 128
): Array<{ device_id: string; equipment_id?: string }> | string {
  const out: Array<{ device_id: string; equipment_id?: string }> = [];
  for (const raw of (text || '').split(/\r?\n|,/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [id, eq, extra] = line.split(/\s+/);
    if (
      extra !== undefined ||
      !isValidDeviceId(id, maxIdLength) ||
      (eq !== undefined && !isValidDeviceId(eq, maxIdLength))
    )
      return `known device "${line}" is not "device_id [equipment_id]"`;
    out.push(eq ? { device_id: id, equipment_id: eq } : { device_id: id });
  }
  return out;
}
