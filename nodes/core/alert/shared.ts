// One alert view for a fleet served by several pipeline instances (docs/scale-out.md). Every instance's
// engine stays the only writer of its own alerts (the instance that owns the device's partition decides
// open / repeat / resolve); this book mirrors each owner's alert records into one Redis hash so the alert API
// of any instance can list every alert, and carries operator actions (acknowledge, resolve) on an alert
// owned elsewhere to its owner through a per-owner Redis list, which the owner drains and applies to its
// engine — so an acknowledgement on instance A stops the reminders on owner B, and B's engine, not A's,
// records the change. The list is durable: an owner that is down finds the commands when it comes back.
//
// Keys (prefix default "moby:alerts"):
//   <prefix>:records        hash alert_id → {"owner", "alert"}    (the fleet's alerts; bounded by the owners)
//   <prefix>:cmd:<owner>    list of commands for that owner          (ack / resolve from other instances)
//   <prefix>:changes        pub/sub: a record changed or was removed (keeps every instance's cache fresh)
//   <prefix>:wake:<owner>   pub/sub: a command is waiting
//   <prefix>:owner:<owner>  marker: present while Redis still holds what this owner published (claimMarker)
// Pub/sub is at-most-once: a periodic reload (refresh()) heals a missed change, a periodic drain a missed wake.
//
// Everything read back from Redis (hash records, change messages) was written by some other process and is
// validated here field by field before it reaches the API: a record that does not parse as an alert or a
// device row is dropped and counted (`invalid`), never passed on. The caches are bounded (maxRecords /
// maxRows); a new entry beyond the bound evicts the oldest one instead of being refused.
import type Redis from 'ioredis';
import { ALERT_REASONS, type Alert, type DeviceState } from '../contract';
import { isTenant, scopedKey } from '../tenant';
import { isValidDeviceId } from '../health/extract';
import { isSeverity } from './engine';
import { isAlertDeviceId, isRuleName } from './inputs';
import { DEFAULT_NAME_LIMITS, textProblem } from '../names';
import { BoundedMap } from '../bounded-map';

/** Longest record or change message parsed: a bigger one is not something an instance wrote. */
const MAX_RECORD_CHARS = 64 * 1024;
/** Longest batched change message (a chunk of rows: CHUNK_ROWS rows of a few hundred bytes). */
const MAX_MESSAGE_CHARS = 8 * 1024 * 1024;
const ID = /^[\w.:@-]{1,128}$/;
/** message / summary / notes are cut at 1000 characters by the engine and the API; room for the ellipsis */
const MAX_TEXT = 2000;
const MAX_SHORT = 256;
const DEVICE_STATES: ReadonlySet<string> = new Set<DeviceState>(['UNKNOWN', 'ONLINE', 'OFFLINE', 'TIMEOUT']);
const ALERT_STATUSES: ReadonlySet<string> = new Set(['open', 'resolved']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
/** A tag value as normalize accepts it (an equipment id may be "Hall 3"), at the default tag value bound. */
const isTagText = (v: unknown): v is string =>
  typeof v === 'string' && v !== '' && textProblem(v, DEFAULT_NAME_LIMITS.tagValue) === null;
/** An owner (instance) name: what SharedAlertBookOptions.owner / os.hostname() give. */
export const isOwner = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_SHORT;

function parseJson(text: unknown, max = MAX_RECORD_CHARS): unknown {
  if (typeof text !== 'string' || !text || text.length > max) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * An alert as the engine writes it, or null: required fields with their types and enums, optional fields
 * type-checked, lengths bounded; a fresh object of the known fields only (nothing else read from Redis goes on).
 */
export function parseAlert(v: unknown): Alert | null {
  if (!isObj(v)) return null;
  if (typeof v.alert_id !== 'string' || !ID.test(v.alert_id)) return null;
  if (!isAlertDeviceId(v.device_id)) return null;
  if (!isRuleName(v.rule) || !isSeverity(v.severity)) return null;
  if (typeof v.status !== 'string' || !ALERT_STATUSES.has(v.status) || typeof v.acknowledged !== 'boolean') return null;
  if (!isText(v.message, MAX_TEXT) || !isTime(v.count) || v.count < 0) return null;
  if (!isTime(v.opened_at) || !isTime(v.updated_at)) return null;
  const a: Alert = {
    alert_id: v.alert_id,
    device_id: v.device_id,
    rule: v.rule,
    severity: v.severity,
    status: v.status as Alert['status'],
    acknowledged: v.acknowledged,
    message: v.message,
    count: v.count,
    opened_at: v.opened_at,
    updated_at: v.updated_at,
  };
  const optional: Array<[keyof Alert, (x: unknown) => boolean]> = [
    ['tenant', isTenant],
    ['equipment_id', isTagText],
    ['reason', (x) => typeof x === 'string' && (ALERT_REASONS as readonly string[]).includes(x)],
    ['sensor', isTagText],
    ['summary', (x) => isText(x, MAX_TEXT)],
    ['value', isTime],
    ['threshold', isTime],
    ['acknowledged_at', isTime],
    ['acknowledged_by', (x) => isText(x, MAX_SHORT)],
    ['ack_note', (x) => isText(x, MAX_TEXT)],
    ['resolved_at', isTime],
    ['resolved_by', (x) => isText(x, MAX_SHORT)],
    ['resolve_note', (x) => isText(x, MAX_TEXT)],
    ['escalated', (x) => typeof x === 'boolean'],
  ];
  for (const [k, ok] of optional) {
    const x = v[k];
    if (x === undefined) continue;
    if (!ok(x)) return null;
    (a as unknown as Obj)[k] = x;
  }
  return a;
}

/** The device-table row the device-health node reports (nodes/lib/device-directory.ts DeviceRow). */
export interface SharedRow {
  device_id: string;
  tenant?: string;
}

/**
 * A device row as the owner publishes it, or null: device_id and tenant as everywhere else, state an enum,
 * times numbers or null, the optional fields typed and bounded; a fresh object of the known fields only.
 */
export function parseDeviceRow(v: unknown): (SharedRow & Obj) | null {
  if (!isObj(v) || typeof v.device_id !== 'string' || !isValidDeviceId(v.device_id)) return null;
  if (typeof v.state !== 'string' || !DEVICE_STATES.has(v.state)) return null;
  if ((v.since !== null && !isTime(v.since)) || (v.last_seen !== null && !isTime(v.last_seen))) return null;
  const row: SharedRow & Obj = { device_id: v.device_id, state: v.state, since: v.since, last_seen: v.last_seen };
  const optional: Array<[string, (x: unknown) => boolean]> = [
    ['tenant', isTenant],
    ['equipment_id', isTagText],
    ['reason', (x) => isText(x, 32)],
    ['timeout_ms', isTime],
    ['source', (x) => isText(x, MAX_SHORT)],
  ];
  for (const [k, ok] of optional) {
    const x = v[k];
    if (x === undefined) continue;
    if (!ok(x)) return null;
    row[k] = x;
  }
  return row;
}

/** The hash field of a row: its device id, `<tenant>/<device_id>` for a tenant's device (core/tenant.ts). */
export function deviceKey(row: SharedRow): string {
  return scopedKey(row.tenant, row.device_id);
}

/** HSCAN of a hash in pages (never one reply of the whole hash: its size is not ours to trust). */
async function scanHash(redis: Redis, key: string, each: (field: string, value: string) => void): Promise<void> {
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 1000);
    for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i], flat[i + 1]);
    cursor = next;
  } while (cursor !== '0');
}

export interface SharedRecord {
  owner: string;
  alert: Alert;
}

export interface AlertCommand {
  op: 'ack' | 'resolve';
  alert_id: string;
  by: string;
  note?: string;
  /** the instance whose API received the action */
  from: string;
  at: number;
}

export interface SharedAlertBookOptions {
  /** this instance's stable name (survives restarts: its command list is found by it) */
  owner: string;
  prefix?: string;
  /** most records of the fleet kept (other owners' included); default 100,000 */
  maxRecords?: number;
}

/** A record as published ({owner, alert}) for the alert `id`, or null. */
function parseRecord(v: unknown, id: string): SharedRecord | null {
  if (!isObj(v) || !isOwner(v.owner)) return null;
  const alert = parseAlert(v.alert);
  return alert && alert.alert_id === id ? { owner: v.owner, alert } : null;
}

/** A command from another instance, or null; its `by` and `note` end up in an alert, so bounded like the alert's. */
function parseCommand(text: string): AlertCommand | null {
  const c = parseJson(text);
  if (!isObj(c) || (c.op !== 'ack' && c.op !== 'resolve')) return null;
  if (typeof c.alert_id !== 'string' || !ID.test(c.alert_id) || !isText(c.by, MAX_SHORT) || !c.by) return null;
  if (c.note !== undefined && !isText(c.note, MAX_TEXT)) return null;
  const cmd: AlertCommand = {
    op: c.op,
    alert_id: c.alert_id,
    by: c.by,
    from: isOwner(c.from) ? c.from : '?',
    at: isTime(c.at) ? c.at : 0,
  };
  if (c.note !== undefined) cmd.note = c.note as string;
  return cmd;
}

export class SharedAlertBook {
  readonly owner: string;
  private readonly prefix: string;
  /** every record of the fleet as last seen (this instance's own included) */
  private readonly cache: BoundedMap<string, SharedRecord>;
  /** ids this instance has published and not removed: what it must delete when its engine forgets them */
  private readonly mine = new Set<string>();
  /** records and change messages from Redis dropped because they were not valid */
  invalid = 0;

  constructor(
    private readonly redis: Redis,
    opts: SharedAlertBookOptions
  ) {
    this.owner = opts.owner;
    this.prefix = opts.prefix ?? 'moby:alerts';
    this.cache = new BoundedMap(Math.max(1, opts.maxRecords ?? 100_000));
  }

  /** records evicted from the cache to stay within maxRecords */
  get evicted(): number {
    return this.cache.evicted;
  }
  get markerKey(): string {
    return `${this.prefix}:owner:${this.owner}`;
  }

  /**
   * Sets this owner's marker key if it is missing and answers whether it was: true at the first start and
   * after Redis lost its data (restart without persistence, FLUSHALL), when the caller must republish every
   * alert it owns. The marker is set before that republish, so a flush during it is seen at the next check.
   */
  async claimMarker(): Promise<boolean> {
    return (await this.redis.set(this.markerKey, '1', 'NX')) === 'OK';
  }

  get recordsKey(): string {
    return `${this.prefix}:records`;
  }
  get changesChannel(): string {
    return `${this.prefix}:changes`;
  }
  commandsKey(owner = this.owner): string {
    return `${this.prefix}:cmd:${owner}`;
  }
  wakeChannel(owner = this.owner): string {
    return `${this.prefix}:wake:${owner}`;
  }

  /** Reloads the whole hash (at start and periodically, to heal missed change messages). */
  async refresh(): Promise<void> {
    const fresh: SharedRecord[] = [];
    await scanHash(this.redis, this.recordsKey, (id, text) => {
      const r = parseRecord(parseJson(text), id);
      if (!r) this.invalid++;
      else if (fresh.length < this.cache.max) fresh.push(r);
      else this.cache.evicted++;
    });
    this.cache.clear();
    for (const r of fresh) {
      this.cache.set(r.alert.alert_id, r);
      if (r.owner === this.owner) this.mine.add(r.alert.alert_id);
    }
  }

  /** Applies a message from the changes channel: {id, record} or {id, record: null} (removed). */
  onChange(text: string): void {
    const m = parseJson(text);
    if (!isObj(m) || typeof m.id !== 'string') {
      this.invalid++;
      return;
    }
    if (m.record === null) {
      this.cache.delete(m.id);
      return;
    }
    const r = parseRecord(m.record, m.id);
    if (r) this.cache.set(m.id, r);
    else this.invalid++;
  }

  /**
   * Publishes this owner's changed alerts and removes the records of alerts its engine no longer holds
   * (`holds` answers for an id). One MULTI, then one change message per record.
   */
  async publish(changed: Alert[], holds: (id: string) => boolean): Promise<void> {
    const changedIds = new Set(changed.map((a) => a.alert_id));
    const gone = [...this.mine].filter((id) => !holds(id) && !changedIds.has(id));
    if (!changed.length && !gone.length) return;
    const m = this.redis.multi();
    const messages: string[] = [];
    for (const alert of changed) {
      const record: SharedRecord = { owner: this.owner, alert };
      m.hset(this.recordsKey, alert.alert_id, JSON.stringify(record));
      messages.push(JSON.stringify({ id: alert.alert_id, record }));
    }
    if (gone.length) m.hdel(this.recordsKey, ...gone);
    for (const id of gone) messages.push(JSON.stringify({ id, record: null }));
    for (const msg of messages) m.publish(this.changesChannel, msg);
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('redis transaction discarded');
    for (const alert of changed) {
      this.cache.set(alert.alert_id, { owner: this.owner, alert });
      this.mine.add(alert.alert_id);
    }
    for (const id of gone) {
      this.cache.delete(id);
      this.mine.delete(id);
    }
  }

  /** Every alert of the fleet except this owner's (those the caller has from its engine, fresher). */
  others(): Alert[] {
    const out: Alert[] = [];
    for (const r of this.cache.values()) if (r.owner !== this.owner) out.push(r.alert);
    return out;
  }

  get(id: string): SharedRecord | undefined {
    return this.cache.get(id);
  }

  /**
   * Queues an action for the owner of a record and updates the local copy the way the owner will (so an
   * immediate re-read on this instance shows it); the owner's engine decides and republishes the record.
   * Returns the expected alert at once and the Redis write as a promise.
   */
  send(
    record: SharedRecord,
    cmd: Omit<AlertCommand, 'from' | 'at'>,
    now = Date.now()
  ): { alert: Alert; written: Promise<unknown> } {
    const full: AlertCommand = { ...cmd, from: this.owner, at: now };
    const written = this.redis
      .multi()
      .rpush(this.commandsKey(record.owner), JSON.stringify(full))
      .publish(this.wakeChannel(record.owner), '1')
      .exec();
    const a: Alert = { ...record.alert, updated_at: now };
    if (cmd.op === 'ack') {
      a.acknowledged = true;
      a.acknowledged_at = now;
      a.acknowledged_by = cmd.by;
      if (cmd.note !== undefined) a.ack_note = cmd.note;
    } else {
      a.status = 'resolved';
      a.resolved_at = now;
      a.resolved_by = cmd.by;
      if (cmd.note !== undefined) a.resolve_note = cmd.note;
    }
    this.cache.set(a.alert_id, { owner: record.owner, alert: a });
    return { alert: a, written };
  }

  /**
   * Up to `max` commands addressed to this owner, oldest first, left in the list: the caller applies them to
   * its engine, saves, and only then drops them (dropCommands), so a crash in between re-applies them
   * (harmless: an alert already acknowledged or resolved answers so) instead of losing an acknowledgement.
   * Only the owner reads its list, so nobody else takes or drops them.
   */
  async peekCommands(max = 100): Promise<{ commands: AlertCommand[]; taken: number }> {
    const items = await this.redis.lrange(this.commandsKey(), 0, max - 1);
    const commands: AlertCommand[] = [];
    for (const t of items) {
      const c = parseCommand(t);
      if (c) commands.push(c);
    }
    return { commands, taken: items.length };
  }

  /** Removes the first `taken` commands (after they were applied and saved). */
  async dropCommands(taken: number): Promise<void> {
    if (taken > 0) await this.redis.ltrim(this.commandsKey(), taken, -1);
  }
}

export interface SharedDeviceRowsOptions {
  /** most rows of other instances kept, like the local device table's bound; default 100,000 */
  maxRows?: number;
  /** rows per pipeline (one HSET and one change message each); default 1,000 */
  chunkRows?: number;
}

/**
 * The device table (GET /moby/devices) across instances, the same way: each instance mirrors the rows of its
 * own device-health nodes into `<prefix>:rows` (device key → {owner, row}) when they change and announces
 * them on `<prefix>:changes`; every instance keeps a copy of the others' rows. Each device has one owner
 * (its partition), so rows never conflict; a row the owner no longer holds (evicted) is deleted.
 *
 * A big table (100k devices whose last_seen changes all the time) is published in chunks of `chunkRows`
 * rows, each one HSET of many fields plus one change message carrying the chunk, so a publish never builds
 * one transaction of the whole table; and one publish at a time: a call while one is out writes nothing
 * (the next call sends what changed meanwhile, as everything not yet recorded as published).
 *
 * Change messages: {"v":2,"owner":…,"rows":[row…]} and {"v":2,"owner":…,"gone":[key…]}. An instance of an
 * older version reads only {"id","owner","row"} messages, ignores these and catches up by its 30 s reload;
 * this version still reads the old form.
 */
export class SharedDeviceRows<Row extends SharedRow = SharedRow> {
  private readonly cache: BoundedMap<string, { owner: string; row: Row }>;
  /** what this owner last published, by device key (JSON), to send only changes */
  private readonly published = new Map<string, string>();
  private readonly chunkRows: number;
  private inflight: Promise<number> | null = null;
  /** rows and change messages from Redis dropped because they were not valid */
  invalid = 0;
  /** publish calls that found one still out and wrote nothing */
  skipped = 0;

  constructor(
    private readonly redis: Redis,
    readonly owner: string,
    private readonly prefix = 'moby:devices',
    opts: SharedDeviceRowsOptions = {}
  ) {
    this.cache = new BoundedMap(Math.max(1, opts.maxRows ?? 100_000));
    this.chunkRows = Math.max(1, opts.chunkRows ?? 1000);
  }

  get rowsKey(): string {
    return `${this.prefix}:rows`;
  }
  get changesChannel(): string {
    return `${this.prefix}:changes`;
  }
  get markerKey(): string {
    return `${this.prefix}:owner:${this.owner}`;
  }
  /** rows evicted from the cache to stay within maxRows */
  get evicted(): number {
    return this.cache.evicted;
  }
  /** a publish is out: the caller need not even build the rows for another */
  get busy(): boolean {
    return this.inflight !== null;
  }

  /** Forgets what was published, so the next publish writes every row (after a reconnect: Redis may have lost them). */
  resync(): void {
    this.published.clear();
  }

  async refresh(): Promise<void> {
    const fresh: Array<[string, { owner: string; row: Row }]> = [];
    await scanHash(this.redis, this.rowsKey, (key, text) => {
      const v = parseJson(text);
      const row = isObj(v) && isOwner(v.owner) ? parseDeviceRow(v.row) : null;
      if (!row || deviceKey(row) !== key) {
        this.invalid++;
        return;
      }
      const owner = (v as Obj).owner as string;
      if (owner === this.owner) {
        // this owner's rows from before a restart: known as published (a stale one is deleted as gone)
        if (!this.published.has(key) && this.published.size < this.cache.max)
          this.published.set(key, JSON.stringify(row));
      } else if (fresh.length < this.cache.max) fresh.push([key, { owner, row: row as Row }]);
      else this.cache.evicted++;
    });
    this.cache.clear();
    for (const [key, r] of fresh) this.cache.set(key, r);
  }

  onChange(text: string): void {
    const m = parseJson(text, MAX_MESSAGE_CHARS);
    if (!isObj(m)) {
      this.invalid++;
      return;
    }
    if (m.v === 2) {
      if (
        !isOwner(m.owner) ||
        (m.rows !== undefined && !Array.isArray(m.rows)) ||
        (m.gone !== undefined && !Array.isArray(m.gone))
      ) {
        this.invalid++;
        return;
      }
      const owner = m.owner;
      if (owner === this.owner) return;
      for (const v of (m.rows as unknown[] | undefined) ?? []) {
        const row = parseDeviceRow(v);
        if (row) this.cache.set(deviceKey(row), { owner, row: row as Row });
        else this.invalid++;
      }
      // only a row's owner removes it
      for (const key of (m.gone as unknown[] | undefined) ?? [])
        if (typeof key === 'string' && this.cache.get(key)?.owner === owner) this.cache.delete(key);
      return;
    }
    // the form of earlier versions: one row per message
    if (typeof m.id !== 'string') {
      this.invalid++;
      return;
    }
    if (m.row === null || m.row === undefined) {
      this.cache.delete(m.id);
      return;
    }
    const row = isOwner(m.owner) ? parseDeviceRow(m.row) : null;
    if (row && deviceKey(row) === m.id) {
      if (m.owner !== this.owner) this.cache.set(m.id, { owner: m.owner as string, row: row as Row });
    } else this.invalid++;
  }

  /**
   * Publishes the rows of this owner that changed since the last call and deletes the ones it dropped, in
   * chunks; answers how many rows it wrote or deleted (0 when a publish was still out).
   */
  publish(rows: Row[]): Promise<number> {
    if (this.inflight) {
      this.skipped++;
      return Promise.resolve(0);
    }
    const p = this.write(rows).finally(() => {
      this.inflight = null;
    });
    this.inflight = p;
    return p;
  }

  private async write(rows: Row[]): Promise<number> {
    // Redis without this owner's marker lost its data (or never had it): write everything again
    if ((await this.redis.set(this.markerKey, '1', 'NX')) === 'OK') this.published.clear();
    const seen = new Set<string>();
    const changed: Array<[string, string]> = [];
    for (const row of rows) {
      const key = deviceKey(row);
      seen.add(key);
      const text = JSON.stringify(row);
      if (this.published.get(key) !== text) changed.push([key, text]);
    }
    const gone: string[] = [];
    for (const key of this.published.keys()) if (!seen.has(key)) gone.push(key);
    const owner = JSON.stringify(this.owner);
    let written = 0;
    for (let i = 0; i < changed.length; i += this.chunkRows) {
      const chunk = changed.slice(i, i + this.chunkRows);
      const fields: string[] = [];
      for (const [key, text] of chunk) fields.push(key, `{"owner":${owner},"row":${text}}`);
      await this.run(
        this.redis
          .pipeline()
          .hset(this.rowsKey, ...fields)
          .publish(this.changesChannel, `{"v":2,"owner":${owner},"rows":[${chunk.map(([, t]) => t).join(',')}]}`)
      );
      // recorded chunk by chunk: a failure later leaves only the rest to send again
      for (const [key, text] of chunk) this.published.set(key, text);
      written += chunk.length;
    }
    for (let i = 0; i < gone.length; i += this.chunkRows) {
      const chunk = gone.slice(i, i + this.chunkRows);
      await this.run(
        this.redis
          .pipeline()
          .hdel(this.rowsKey, ...chunk)
          .publish(this.changesChannel, JSON.stringify({ v: 2, owner: this.owner, gone: chunk }))
      );
      for (const key of chunk) this.published.delete(key);
      written += chunk.length;
    }
    return written;
  }

  private async run(p: ReturnType<Redis['pipeline']>): Promise<void> {
    const res = await p.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('redis pipeline discarded');
  }

  /** Rows of the other instances. */
  others(): Row[] {
    return this.othersWithOwner().map((r) => r.row);
  }

  /** The other owners' rows, each with the instance that owns it. */
  othersWithOwner(): Array<{ owner: string; row: Row }> {
    const out: Array<{ owner: string; row: Row }> = [];
    for (const r of this.cache.values()) if (r.owner !== this.owner) out.push(r);
    return out;
  }
}
