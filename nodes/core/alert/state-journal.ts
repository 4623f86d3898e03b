// Crash-safe persistence of the alert state (the engine's alerts and tracking, and the mute table) as a
// snapshot plus an append-only journal of changes, so that saving a change costs the size of the change, not
// of every alert held (the context store it replaces read, parsed, stringified and wrote the whole state on
// every change: docs/durability.md, docs/benchmarks.md "Fifth round").
//
// Layout in `dir`: `snapshot.json` = `{"v":1,"gen":<g>,"mutes":[…],"tracking":{…},"alerts":[…]}` (replaced
// atomically: temp file, fsync, rename), `journal-<g>.jsonl` = the changes since that snapshot, and `lock`
// (pid of the owner). A journal line is one group of changes written with one write() call:
// `<12 hex checksum> {"u":[{"alert":…,"tracking":…},…],"x":["<forgotten id>",…],"m":[…mutes]}\n` ("m" only
// when the mute table changed). Appends reach the kernel before flush() returns, so a kill -9 at any moment
// loses no change that was flushed; with `fsync` they are also fdatasync'd (a power cut). A crash can only
// tear the last line: on load a line without its newline is cut off, a line failing its checksum is skipped
// and counted — its changes were never reported as saved. Compaction writes the current state as the
// snapshot of the next generation and starts that generation's journal; on load only the snapshot's own
// generation is replayed, so a crash in the middle of a compaction leaves either the old snapshot with its
// journal or the new one, never a mix.
import fs from 'node:fs';
import path from 'node:path';
import { lockDir, recordChecksum, replaceFileSync, syncDir, unlockDir, writeRecordAt } from '../durable-file';
import type { Alert } from '../contract';
import type { AlertChanges, AlertRecord, EngineSnapshot } from './engine';

export interface AlertStateJournalOptions {
  dir: string;
  /** fdatasync every append (default false: an append survives a process kill either way; true also a power cut) */
  fsync?: boolean;
  /** compact once the journal is larger than this and than the snapshot (default 1 MiB) */
  compactMinBytes?: number;
}

/** The stored alert state: the engine's snapshot and the mute table. */
export interface StoredAlertState {
  snapshot: EngineSnapshot;
  mutes: unknown[];
}

export interface LoadResult {
  /** null when the directory held no state at all (a first start: the caller may migrate an older store) */
  state: StoredAlertState | null;
  /** change groups replayed from the journal */
  records: number;
  /** lines skipped: torn (cut off) or failing their checksum */
  corrupt: number;
}

const SNAPSHOT = 'snapshot.json';
const JOURNAL_RE = /^journal-(\d+)\.jsonl$/;
const journalName = (gen: number) => `journal-${gen}.jsonl`;
const ALERTS_PER_CHUNK = 500;

interface Group {
  u?: AlertRecord[];
  x?: string[];
  m?: unknown[];
}

export class AlertStateJournal {
  readonly dir: string;
  private readonly fsync: boolean;
  private readonly compactMinBytes: number;
  private gen = 0;
  private fd: number | null = null;
  private journalBytes = 0;
  private snapshotBytes = 0;
  private closed = false;
  /** changes staged for the next flush, by alert id (null = forgotten); newer stages overwrite older ones */
  private staged = new Map<string, AlertRecord | null>();
  private stagedMutes: unknown[] | undefined;
  /** change groups written since the snapshot */
  appended = 0;

  private constructor(opts: AlertStateJournalOptions) {
    this.dir = path.resolve(opts.dir);
    this.fsync = opts.fsync === true;
    this.compactMinBytes = Math.max(1024, opts.compactMinBytes ?? 1 << 20);
  }

  /** Opens (creating) the state directory and takes its lock; call load() next. */
  static open(opts: AlertStateJournalOptions): AlertStateJournal {
    const j = new AlertStateJournal(opts);
    fs.mkdirSync(j.dir, { recursive: true });
    lockDir(j.dir, 'alert state');
    return j;
  }

  /** Reads the snapshot and replays its journal; opens the journal for appending. */
  load(): LoadResult {
    let corrupt = 0;
    let records = 0;
    let found = false;
    const alerts = new Map<string, Alert>();
    const tracking: EngineSnapshot['tracking'] = {};
    let mutes: unknown[] = [];
    let text: string | null = null;
    try {
      text = fs.readFileSync(path.join(this.dir, SNAPSHOT), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      found = true;
      this.snapshotBytes = Buffer.byteLength(text);
      try {
        const s = JSON.parse(text) as {
          gen?: unknown;
          alerts?: unknown;
          tracking?: unknown;
          mutes?: unknown;
        };
        this.gen = typeof s.gen === 'number' && Number.isInteger(s.gen) && s.gen >= 0 ? s.gen : 0;
        if (Array.isArray(s.alerts))
          for (const a of s.alerts as Alert[]) if (a && typeof a.alert_id === 'string') alerts.set(a.alert_id, a);
        if (s.tracking && typeof s.tracking === 'object') Object.assign(tracking, s.tracking);
        if (Array.isArray(s.mutes)) mutes = s.mutes;
      } catch {
        corrupt++; // cannot happen through a crash (atomic rename); a damaged disk: start from the journal
      }
    }
    // journals of other generations are left over from a compaction a crash interrupted
    for (const f of fs.readdirSync(this.dir)) {
      const m = JOURNAL_RE.exec(f);
      if (!m) continue;
      if (Number(m[1]) !== this.gen) fs.rmSync(path.join(this.dir, f), { force: true });
      else found = true;
    }
    const file = path.join(this.dir, journalName(this.gen));
    let buf: Buffer | null = null;
    try {
      buf = fs.readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let pos = 0;
    if (buf) {
      while (pos < buf.length) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) {
          corrupt++; // torn tail: that group was never reported as saved
          break;
        }
        const g = parseLine(buf.toString('utf8', pos, nl));
        if (g === null) corrupt++;
        else {
          records++;
          for (const r of g.u ?? []) {
            if (!r || !r.alert || typeof r.alert.alert_id !== 'string') continue;
            alerts.set(r.alert.alert_id, r.alert); // an existing id keeps its place, as in the engine
            if (r.tracking) tracking[r.alert.alert_id] = r.tracking;
            else delete tracking[r.alert.alert_id];
          }
          for (const id of g.x ?? []) {
            alerts.delete(id);
            delete tracking[id];
          }
          if (g.m) mutes = g.m;
        }
        pos = nl + 1;
      }
    }
    this.fd = fs.openSync(file, buf ? 'r+' : 'w');
    if (buf && pos < buf.length) fs.ftruncateSync(this.fd, pos);
    this.journalBytes = pos;
    this.appended = records;
    return {
      state: found ? { snapshot: { v: 1, alerts: [...alerts.values()], tracking }, mutes } : null,
      records,
      corrupt,
    };
  }

  /** Stages changes for the next flush (the mute table whole, when given). */
  stage(changes: AlertChanges, mutes?: unknown[]): void {
    for (const r of changes.upserts) this.staged.set(r.alert.alert_id, r);
    for (const id of changes.removed) this.staged.set(id, null);
    if (mutes !== undefined) this.stagedMutes = mutes;
  }

  get hasStaged(): boolean {
    return this.staged.size > 0 || this.stagedMutes !== undefined;
  }

  /**
   * Writes the staged changes as one journal line. Throws when the write fails (ENOSPC, EIO …): nothing of
   * the line stays in the file and the changes stay staged for the next flush.
   */
  flush(): void {
    if (!this.hasStaged) return;
    if (this.fd === null) throw new Error('alert state journal is not open');
    const g: Group = {};
    const u: AlertRecord[] = [];
    const x: string[] = [];
    for (const [id, r] of this.staged) {
      if (r) u.push(r);
      else x.push(id);
    }
    if (u.length) g.u = u;
    if (x.length) g.x = x;
    if (this.stagedMutes !== undefined) g.m = this.stagedMutes;
    const json = JSON.stringify(g);
    const buf = Buffer.from(`${recordChecksum(json)} ${json}\n`, 'utf8');
    writeRecordAt(this.fd, buf, this.journalBytes, this.fsync, 'alert state journal');
    this.journalBytes += buf.length;
    this.appended++;
    this.staged.clear();
    this.stagedMutes = undefined;
  }

  /** The journal has grown beyond the snapshot (and the minimum): time to compact. */
  get needsCompaction(): boolean {
    return this.journalBytes > Math.max(this.compactMinBytes, this.snapshotBytes);
  }

  get sizes(): { journalBytes: number; snapshotBytes: number; generation: number } {
    return { journalBytes: this.journalBytes, snapshotBytes: this.snapshotBytes, generation: this.gen };
  }

  /**
   * Writes `state` (the whole current state, so it supersedes whatever is staged) as the next generation's
   * snapshot and starts its empty journal. Throws on failure, leaving the current generation as it was.
   */
  compact(state: StoredAlertState): void {
    if (this.closed) throw new Error('alert state journal is closed');
    const next = this.gen + 1;
    const nextFile = path.join(this.dir, journalName(next));
    const fd = fs.openSync(nextFile, 'w');
    let bytes = 0;
    try {
      const chunks = snapshotChunks(next, state);
      const counted = (function* () {
        for (const c of chunks) {
          bytes += Buffer.byteLength(c);
          yield c;
        }
      })();
      replaceFileSync(path.join(this.dir, SNAPSHOT), counted, true);
      syncDir(this.dir);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(nextFile, { force: true });
      throw err;
    }
    const old = this.fd;
    const oldFile = path.join(this.dir, journalName(this.gen));
    this.fd = fd;
    this.gen = next;
    this.journalBytes = 0;
    this.snapshotBytes = bytes;
    this.appended = 0;
    this.staged.clear();
    this.stagedMutes = undefined;
    if (old !== null) fs.closeSync(old);
    fs.rmSync(oldFile, { force: true });
  }

  /** Closes the journal and releases the lock (staged changes are not written: flush or compact first). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    unlockDir(this.dir);
  }
}

function parseLine(line: string): Group | null {
  if (line.length < 14 || line.charCodeAt(12) !== 32) return null;
  const json = line.slice(13);
  if (recordChecksum(json) !== line.slice(0, 12)) return null;
  try {
    const g = JSON.parse(json) as Group;
    return g && typeof g === 'object' ? g : null;
  } catch {
    return null;
  }
}

/** The snapshot document in chunks of a few hundred alerts (one large document need not be one string). */
function* snapshotChunks(gen: number, state: StoredAlertState): Generator<string> {
  yield `{"v":1,"gen":${gen},"mutes":${JSON.stringify(state.mutes ?? [])},"tracking":${JSON.stringify(state.snapshot.tracking ?? {})},"alerts":[`;
  const alerts = state.snapshot.alerts;
  for (let i = 0; i < alerts.length; i += ALERTS_PER_CHUNK) {
    const part = alerts.slice(i, i + ALERTS_PER_CHUNK).map((a) => JSON.stringify(a));
    yield (i ? ',' : '') + part.join(',');
  }
  yield ']}\n';
}
