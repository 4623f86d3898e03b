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
// Pub/sub is at-most-once: a periodic reload (refresh()) heals a missed change, a periodic drain a missed wake.
import type Redis from 'ioredis';
import type { Alert } from '../contract';

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
}

function parseRecord(text: string | null | undefined): SharedRecord | null {
  if (!text) return null;
  try {
    const r = JSON.parse(text) as SharedRecord;
    return r && typeof r.owner === 'string' && r.alert && typeof r.alert.alert_id === 'string' ? r : null;
  } catch {
    return null;
  }
}

function parseCommand(text: string): AlertCommand | null {
  try {
    const c = JSON.parse(text) as AlertCommand;
    return c && (c.op === 'ack' || c.op === 'resolve') && typeof c.alert_id === 'string' && typeof c.by === 'string'
      ? c
      : null;
  } catch {
    return null;
  }
}

export class SharedAlertBook {
  readonly owner: string;
  private readonly prefix: string;
  /** every record of the fleet as last seen (this instance's own included) */
  private readonly cache = new Map<string, SharedRecord>();
  /** ids this instance has published and not removed: what it must delete when its engine forgets them */
  private readonly mine = new Set<string>();

  constructor(
    private readonly redis: Redis,
    opts: SharedAlertBookOptions
  ) {
    this.owner = opts.owner;
    this.prefix = opts.prefix ?? 'moby:alerts';
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
    const all = await this.redis.hgetall(this.recordsKey);
    this.cache.clear();
    for (const [id, text] of Object.entries(all)) {
      const r = parseRecord(text);
      if (r) this.cache.set(id, r);
    }
    for (const [id, r] of this.cache) if (r.owner === this.owner) this.mine.add(id);
  }

  /** Applies a message from the changes channel. */
  onChange(text: string): void {
    try {
      const m = JSON.parse(text) as { id?: string; record?: SharedRecord | null };
      if (typeof m.id !== 'string') return;
      const r = m.record ? parseRecord(JSON.stringify(m.record)) : null;
      if (r) this.cache.set(m.id, r);
      else this.cache.delete(m.id);
    } catch {
      /* not ours */
    }
  }

  /**
   * Publishes this owner's changed alerts and removes the records of alerts its engine no longer holds
   * (`holds` answers for an id). One MULTI, then one change message per record.
   */
  async publish(changed: Alert[], holds: (id: string) => boolean): Promise<void> {
    const gone = [...this.mine].filter((id) => !holds(id) && !changed.some((a) => a.alert_id === id));
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

/**
 * The device table (GET /moby/devices) across instances, the same way: each instance mirrors the rows of its
 * own device-health nodes into `<prefix>:rows` (device id → {owner, row}) when they change and announces
 * them on `<prefix>:changes`; every instance keeps a copy of the others' rows. Each device has one owner
 * (its partition), so rows never conflict; a row the owner no longer holds (evicted) is deleted.
 */
export class SharedDeviceRows<Row extends { device_id: string }> {
  private readonly cache = new Map<string, { owner: string; row: Row }>();
  /** what this owner last published, by device id (JSON), to send only changes */
  private readonly published = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    readonly owner: string,
    private readonly prefix = 'moby:devices'
  ) {}

  get rowsKey(): string {
    return `${this.prefix}:rows`;
  }
  get changesChannel(): string {
    return `${this.prefix}:changes`;
  }

  async refresh(): Promise<void> {
    const all = await this.redis.hgetall(this.rowsKey);
    this.cache.clear();
    for (const [id, text] of Object.entries(all)) {
      try {
        const r = JSON.parse(text) as { owner: string; row: Row };
        if (r && typeof r.owner === 'string' && r.row && r.row.device_id === id) {
          this.cache.set(id, r);
          if (r.owner === this.owner && !this.published.has(id)) this.published.set(id, JSON.stringify(r.row));
        }
      } catch {
        /* skip */
      }
    }
  }

  onChange(text: string): void {
    try {
      const m = JSON.parse(text) as { id?: string; owner?: string; row?: Row | null };
      if (typeof m.id !== 'string') return;
      if (m.row && typeof m.owner === 'string') this.cache.set(m.id, { owner: m.owner, row: m.row });
      else this.cache.delete(m.id);
    } catch {
      /* not ours */
    }
  }

  /** Publishes the rows of this owner that changed since the last call and deletes the ones it dropped. */
  async publish(rows: Row[]): Promise<number> {
    const now = new Map(rows.map((r) => [r.device_id, r]));
    const changed: Array<[string, string]> = [];
    for (const [id, row] of now) {
      const text = JSON.stringify(row);
      if (this.published.get(id) !== text) changed.push([id, text]);
    }
    const gone = [...this.published.keys()].filter((id) => !now.has(id));
    if (!changed.length && !gone.length) return 0;
    const m = this.redis.multi();
    for (const [id, text] of changed) {
      m.hset(this.rowsKey, id, `{"owner":${JSON.stringify(this.owner)},"row":${text}}`);
      m.publish(
        this.changesChannel,
        `{"id":${JSON.stringify(id)},"owner":${JSON.stringify(this.owner)},"row":${text}}`
      );
    }
    if (gone.length) m.hdel(this.rowsKey, ...gone);
    for (const id of gone) m.publish(this.changesChannel, JSON.stringify({ id, row: null }));
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('redis transaction discarded');
    for (const [id, text] of changed) this.published.set(id, text);
    for (const id of gone) this.published.delete(id);
    return changed.length + gone.length;
  }

  /** Rows of the other instances. */
  others(): Row[] {
    const out: Row[] = [];
    for (const r of this.cache.values()) if (r.owner !== this.owner) out.push(r.row);
    return out;
  }
}
