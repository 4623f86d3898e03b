// Crash-safe persistence of the alert state (the engine's alerts and tracking, and the mute table) as a
// snapshot plus an append-only journal of changes, so that saving a change costs the size of the change, not
// of every alert held (the context store it replaces read, parsed, stringified and wrote the whole state on
// every change: docs/durability.md, docs/benchmarks.md "Fifth round").
//
// Layout in `dir`: `snapshot.json` = `{"v":1,"gen":<g>,"mutes":[…],"tracking":{…},"alerts":[…]}` (replaced
// atomically: temp file, fsync, rename), `journal-<g>.jsonl` = the changes since that snapshot, and `lock`
// (pid of the owner). A journal line is one group of changes written with one write() call:
// `<12 hex checksum> {"u":[{"alert":…,"tracking":…},…],"x":["<forgotten id>",…],"mu":[…windows set],"mx":["<tenant/
// device>",…]}\n` ("mu"/"mx" only when mute windows were set or ended: a mute costs its own window, not the
// table; "m":[…mutes], the whole table, is written when more changed than the table holds, and read as
// written by earlier versions). Appends reach the kernel before flush() returns, so a kill -9 at any moment
// loses no change that was flushed. A crash can only tear the last line: on load a line without its newline
// is cut off, a line failing its checksum is skipped and counted — its changes were never reported as saved.
//
// A failed write (a full disk) keeps the changes staged, one entry per alert id, for the next flush, which
// writes them all. What is kept is bounded by the alerts held plus the removals of alerts the files hold,
// however many flushes fail: an alert opened and forgotten between two written flushes leaves no entry
// (AlertChanges.created says which ids are new; counted in counts.neverWritten).
//
// A `reserve` file (2 % of the file system, 64–256 KiB) holds room for appends on a disk others fill: an append
// that finds the disk full shrinks it by an eighth and tries again, so the alert that a full disk raises is still
// saved before it is paged (a page of an unsaved alert is forgotten by a crash and never resolved). The disk spool
// leaves room too, but the anomaly state, the replay journal and other programs share the disk (verification
// round 2026-12-07). It is made again once the disk has room for it three times over, at most every 10 s.
//
// Power cut (`sync`): "none" = appends are not fsync'd; "append" = each flush() fdatasyncs before it returns
// (blocks the event loop for the disk's flush time); "group" = group commit: flush() stays a synchronous,
// ordered write, and whenDurable(cb) calls cb once ONE asynchronous fdatasync (in the thread pool) has
// covered everything flushed before the call. One fdatasync is in flight at a time; callers arriving while
// it runs wait for the next one, which covers all of them. A failed fdatasync yields its error to exactly
// the callers it covered (their changes may not be on disk), and the next compaction rewrites the state
// (after a failed fdatasync the kernel may have dropped those pages, and a later one would not say so).
// An fd is never closed under an fdatasync in flight: closing it (compaction clean-up, close()) waits for it.
//
// Compaction (generation N = the newest journal's + 1): appends switch to `journal-<N>.jsonl` at once, the
// state of that moment is serialised as snapshot N, and the snapshot is written (temp file, fsync, rename);
// only then are the journals below N removed. On load the snapshot's generation G is read and every journal
// from G on is replayed in order (journals below G are left over and removed), so a crash at any step — or a
// snapshot write that fails, e.g. on a full disk — leaves snapshot + journals that replay to the same state.
// compactInBackground() serialises the snapshot a chunk of alerts per event-loop turn and writes it with
// asynchronous I/O (its write and fsync of several MB off the loop); compact() does it all at once (start-up,
// close).
import fs from 'node:fs';
import path from 'node:path';
import {
  fileSystemSpace,
  isDiskFull,
  lockDir,
  recordChecksum,
  replaceFileSync,
  syncDir,
  unlockDir,
  writeRecordAt,
} from '../durable-file';
import type { Alert } from '../contract';
import type { AlertChanges, AlertRecord, EngineSnapshot } from './engine';
import { scopedKey } from '../tenant';

export interface AlertStateJournalOptions {
  dir: string;
  /**
   * Power-cut durability of appends (an append survives a process kill in every mode): "none" (default),
   * "append" = fdatasync in flush() (blocking), "group" = one asynchronous fdatasync for everything flushed
   * so far, awaited through whenDurable() (see the header).
   */
  sync?: JournalSync;
  /** compact once the journal is larger than this and than the snapshot (default 1 MiB) */
  compactMinBytes?: number;
  /**
   * bytes held in a `reserve` file of the directory and given up when an append finds the disk full (default
   * `reserveSize()` of the file system; 0 = none): see `flush()`
   */
  reserveBytes?: number;
}

/** The default reserve on a file system of `sizeBytes`: 2 % of it, at least 64 KiB, at most 256 KiB. */
export function reserveSize(sizeBytes: number): number {
  return Math.min(256 << 10, Math.max(64 << 10, Math.floor(sizeBytes * 0.02)));
}

const RESERVE = 'reserve';
/** a reserve is made again only with this many times its size free, and tried at most this often */
const RESERVE_ROOM_FACTOR = 3;
const RESERVE_RETRY_MS = 10_000;

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

export type JournalSync = 'none' | 'append' | 'group';

const SNAPSHOT = 'snapshot.json';
const JOURNAL_RE = /^journal-(\d+)\.jsonl$/;
const journalName = (gen: number) => `journal-${gen}.jsonl`;
const ALERTS_PER_CHUNK = 500;

interface Group {
  u?: AlertRecord[];
  x?: string[];
  /** the whole mute table */
  m?: unknown[];
  /** mute windows set or replaced, and the keys (scopedKey) of those ended, applied after "m" */
  mu?: unknown[];
  mx?: string[];
}

/** Mute changes for stage(): the whole table (an array), or what was set and ended (core/alert/mute.ts). */
export type StagedMutes = unknown[] | { upserts: unknown[]; removed: string[] } | { all: unknown[] };

/** The key of a stored mute window (as MuteTable keys it); undefined for a malformed one (restore skips it). */
function muteKey(m: unknown): string | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const v = m as { device_id?: unknown; tenant?: unknown };
  if (typeof v.device_id !== 'string') return undefined;
  return scopedKey(typeof v.tenant === 'string' ? v.tenant : undefined, v.device_id);
}

export class AlertStateJournal {
  readonly dir: string;
  private readonly sync: JournalSync;
  private readonly compactMinBytes: number;
  /** generation of the snapshot on disk */
  private snapshotGen = 0;
  /** generation of the journal appends go to (≥ snapshotGen) */
  private writeGen = 0;
  private fd: number | null = null;
  /** journals switched away from, still needed until a snapshot of a later generation is on disk */
  private olderFds = new Map<number, number>();
  private journalBytes = 0;
  private snapshotBytes = 0;
  private closed = false;
  private inFlight: Promise<void> | null = null;
  /**
   * changes staged for the next flush, by alert id (null = forgotten); newer stages overwrite older ones. While
   * flushes fail (a full disk) this is all that is kept, so it must stay bounded by the alerts, not by the
   * failed attempts: an alert opened since the last flush (in `stagedNew`) and forgotten before the next one
   * leaves no entry at all — without that, a long episode kept one removal per alert opened and forgotten
   * meanwhile (docs/durability.md, "Full disk")
   */
  private staged = new Map<string, AlertRecord | null>();
  /** staged ids the files do not hold: opened since the last flush that was written (or compaction switch) */
  private stagedNew = new Set<string>();
  /** the whole mute table, when staged so (then the window changes below apply after it) */
  private stagedMutes: unknown[] | undefined;
  /** mute windows set (the window) or ended (null) since the last flush, by key */
  private stagedMuteChanges = new Map<string, unknown>();
  /** change groups written since the last compaction started */
  appended = 0;
  // ---- group commit ("group") ----
  /** fds appended to since the last fdatasync started */
  private dirtyFds = new Set<number>();
  /** a journal file was created since the last directory fsync (its entry must be durable too) */
  private dirDirty = false;
  /** the fdatasync in flight: the fds it syncs, the flushes it covers and who waits for it */
  private syncing: { fds: number[]; upTo: number; waiters: Array<(err?: Error) => void> } | null = null;
  /** callers waiting for the next fdatasync */
  private nextWaiters: Array<(err?: Error) => void> = [];
  /** flushes close() fdatasync'd itself */
  private closeSynced = 0;
  /** fds to close once the fdatasync in flight returns */
  private closeAfterSync = new Set<number>();
  /** a failed fdatasync: the next compaction must rewrite the state (cleared once a later snapshot is installed) */
  private resyncGen: number | null = null;
  /**
   * counters: flushes written; flushes nobody need wait for any more (covered by a completed fdatasync or a
   * snapshot; with sync "none" or "append" every flush at once); fdatasyncs completed and failed ("group");
   * alerts opened and forgotten between two written flushes, so never written (nothing of them to remove)
   */
  readonly counts = { flushes: 0, durable: 0, syncs: 0, syncFailures: 0, neverWritten: 0 };

  /** the reserve's size (0: none), settled at open from the file system when not given */
  private reserveBytes: number;
  /** bytes of the reserve file in place (it shrinks as appends need them), and when it was last made */
  private reserveHeld = 0;
  private reserveTriedAt = -Infinity;
  /** appends that went through only because the reserve was given up for them */
  reserveReleases = 0;

  private constructor(opts: AlertStateJournalOptions) {
    this.reserveBytes = opts.reserveBytes ?? -1;
    this.dir = path.resolve(opts.dir);
    this.sync = opts.sync ?? 'none';
    this.compactMinBytes = Math.max(1024, opts.compactMinBytes ?? 1 << 20);
  }

  /** Opens (creating) the state directory and takes its lock; call load() next. */
  static open(opts: AlertStateJournalOptions): AlertStateJournal {
    const j = new AlertStateJournal(opts);
    fs.mkdirSync(j.dir, { recursive: true });
    lockDir(j.dir, 'alert state');
    if (j.reserveBytes < 0) {
      // no statfs: no reserve
      const size = fileSystemSpace(j.dir)?.size ?? 0;
      j.reserveBytes = size > 0 ? reserveSize(size) : 0;
    }
    j.keepReserve(Date.now());
    return j;
  }

  /**
   * Makes the reserve file when it is missing and the disk has room for it several times over (not the last
   * bytes of a disk filling up), at most every RESERVE_RETRY_MS.
   */
  private keepReserve(now: number): void {
    const want = this.reserveBytes;
    if (want <= 0 || this.reserveHeld >= want || now - this.reserveTriedAt < RESERVE_RETRY_MS) return;
    this.reserveTriedAt = now;
    const file = path.join(this.dir, RESERVE);
    try {
      // one left by an earlier run (a restart on a full disk finds it there)
      this.reserveHeld = fs.statSync(file).size;
      if (this.reserveHeld >= want) return;
    } catch {
      /* none yet */
    }
    const space = fileSystemSpace(this.dir);
    if (!space || space.free < RESERVE_ROOM_FACTOR * want) return;
    try {
      fs.writeFileSync(file, Buffer.alloc(want));
      this.reserveHeld = want;
    } catch {
      fs.rmSync(file, { force: true });
      this.reserveHeld = 0;
    }
  }

  /**
   * Frees part of the reserve (a full disk): an eighth of it, at least 4 KiB, so that each of several appends
   * gets room while the others filling the disk get little. False when nothing is left to free.
   */
  private releaseReserve(): boolean {
    if (this.reserveHeld <= 0) return false;
    const left = Math.max(0, this.reserveHeld - Math.max(4096, Math.ceil(this.reserveBytes / 8)));
    try {
      fs.truncateSync(path.join(this.dir, RESERVE), left);
    } catch {
      this.reserveHeld = 0;
      return false;
    }
    this.reserveHeld = left;
    return true;
  }

  /** Reads the snapshot and replays the journals from its generation on; opens the newest for appending. */
  load(): LoadResult {
    let corrupt = 0;
    let records = 0;
    let found = false;
    const alerts = new Map<string, Alert>();
    const tracking: EngineSnapshot['tracking'] = {};
    // by key, so a journal line of windows set or ended applies to it; malformed entries kept for restore()
    let mutes = new Map<string, unknown>();
    let malformed: unknown[] = [];
    const replaceMutes = (list: unknown[]) => {
      mutes = new Map();
      malformed = [];
      for (const m of list) {
        const k = muteKey(m);
        if (k === undefined) malformed.push(m);
        else mutes.set(k, m);
      }
    };
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
        const s = JSON.parse(text) as { gen?: unknown; alerts?: unknown; tracking?: unknown; mutes?: unknown };
        this.snapshotGen = typeof s.gen === 'number' && Number.isInteger(s.gen) && s.gen >= 0 ? s.gen : 0;
        if (Array.isArray(s.alerts))
          for (const a of s.alerts as Alert[]) if (a && typeof a.alert_id === 'string') alerts.set(a.alert_id, a);
        if (s.tracking && typeof s.tracking === 'object') Object.assign(tracking, s.tracking);
        if (Array.isArray(s.mutes)) replaceMutes(s.mutes);
      } catch {
        corrupt++; // cannot happen through a crash (atomic rename); a damaged disk: start from the journals
      }
    }
    const gens: number[] = [];
    for (const f of fs.readdirSync(this.dir)) {
      const m = JOURNAL_RE.exec(f);
      if (!m) continue;
      // below the snapshot's generation: left over from a compaction whose clean-up a crash interrupted
      if (Number(m[1]) < this.snapshotGen) fs.rmSync(path.join(this.dir, f), { force: true });
      else gens.push(Number(m[1]));
    }
    gens.sort((a, b) => a - b);
    if (gens.length) found = true;
    this.writeGen = gens.length ? gens[gens.length - 1] : this.snapshotGen;
    for (const gen of gens.length ? gens : [this.writeGen]) {
      const file = path.join(this.dir, journalName(gen));
      let buf: Buffer | null = null;
      try {
        buf = fs.readFileSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      let pos = 0;
      while (buf && pos < buf.length) {
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
          if (Array.isArray(g.m)) replaceMutes(g.m);
          for (const k of Array.isArray(g.mx) ? g.mx : []) mutes.delete(k);
          for (const m of Array.isArray(g.mu) ? g.mu : []) {
            const k = muteKey(m);
            if (k !== undefined) mutes.set(k, m);
          }
        }
        pos = nl + 1;
      }
      const fd = fs.openSync(file, buf ? 'r+' : 'w');
      if (!buf) this.dirDirty = true;
      if (buf && pos < buf.length) fs.ftruncateSync(fd, pos);
      if (gen === this.writeGen) {
        this.fd = fd;
        this.journalBytes = pos;
      } else this.olderFds.set(gen, fd);
    }
    this.appended = records;
    return {
      state: found
        ? { snapshot: { v: 1, alerts: [...alerts.values()], tracking }, mutes: [...mutes.values(), ...malformed] }
        : null,
      records,
      corrupt,
    };
  }

  /**
   * Stages changes for the next flush: the alerts' and the mute table's — whole (an array or `{all}`), or the
   * windows set and the keys of those ended (`{upserts, removed}`, what MuteTable.takeChanges() returns).
   */
  stage(changes: AlertChanges, mutes?: StagedMutes): void {
    for (const id of changes.created ?? []) this.stagedNew.add(id);
    for (const r of changes.upserts) this.staged.set(r.alert.alert_id, r);
    for (const id of changes.removed) {
      if (this.stagedNew.delete(id)) {
        // never written: the files replay to a state without it already
        this.staged.delete(id);
        this.counts.neverWritten++;
      } else this.staged.set(id, null);
    }
    if (mutes === undefined) return;
    if (Array.isArray(mutes) || 'all' in mutes) {
      this.stagedMutes = Array.isArray(mutes) ? mutes : mutes.all;
      this.stagedMuteChanges.clear();
      return;
    }
    for (const k of mutes.removed) this.stagedMuteChanges.set(k, null);
    for (const m of mutes.upserts) {
      const k = muteKey(m);
      if (k !== undefined) this.stagedMuteChanges.set(k, m);
    }
  }

  /**
   * Mute window changes staged and not yet written (while flushes fail): when they outnumber the table, the
   * caller stages the whole table instead (it replaces them), so a long full disk keeps no more than the table.
   */
  get stagedMuteChangeCount(): number {
    return this.stagedMuteChanges.size;
  }

  get hasStaged(): boolean {
    return this.staged.size > 0 || this.stagedMutes !== undefined || this.stagedMuteChanges.size > 0;
  }

  /** What waits for the next flush: alert records and removals (bounded by the alerts, however many flushes failed). */
  get stagedCounts(): { records: number; removals: number } {
    let removals = 0;
    for (const r of this.staged.values()) if (r === null) removals++;
    return { records: this.staged.size - removals, removals };
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
    const mu: unknown[] = [];
    const mx: string[] = [];
    for (const [k, m] of this.stagedMuteChanges) {
      if (m === null) mx.push(k);
      else mu.push(m);
    }
    if (mu.length) g.mu = mu;
    if (mx.length) g.mx = mx;
    const json = JSON.stringify(g);
    const buf = Buffer.from(`${recordChecksum(json)} ${json}\n`, 'utf8');
    try {
      writeRecordAt(this.fd, buf, this.journalBytes, this.sync === 'append', 'alert state journal');
    } catch (err) {
      // a full disk: the reserve is given up for this append. Other writers share the disk (the spool leaves room
      // for the rest, but the anomaly state, the replay journal, other programs fill it too): an alert paged and
      // not saved is forgotten by a crash, its page never resolved (verification round 2026-12-07)
      let failed = err as NodeJS.ErrnoException;
      for (;;) {
        if (!isDiskFull(failed) || !this.releaseReserve()) throw failed;
        try {
          writeRecordAt(this.fd, buf, this.journalBytes, this.sync === 'append', 'alert state journal');
          break;
        } catch (again) {
          failed = again as NodeJS.ErrnoException;
        }
      }
      this.reserveReleases++;
    }
    this.journalBytes += buf.length;
    this.keepReserve(Date.now());
    this.appended++;
    this.counts.flushes++;
    if (this.sync === 'group') this.dirtyFds.add(this.fd);
    else this.counts.durable = this.counts.flushes;
    this.staged.clear();
    this.stagedNew.clear();
    this.stagedMutes = undefined;
    this.stagedMuteChanges.clear();
  }

  /**
   * Calls `cb` once every change flushed before this call is durable: at once (synchronously) when there is
   * nothing to wait for (sync "none" or "append", or everything already synced); with "group" after the
   * asynchronous fdatasync that covers it — started now if none is in flight, else the next one, started
   * when the one in flight returns. `cb(err)` when that fdatasync failed or the journal closed without it.
   */
  whenDurable(cb: (err?: Error) => void): void {
    if (this.counts.durable >= this.counts.flushes) return cb();
    if (this.syncing && this.syncing.upTo >= this.counts.flushes) {
      this.syncing.waiters.push(cb);
      return;
    }
    if (this.closed) return cb(new Error('alert state journal is closed before its changes were synced'));
    this.nextWaiters.push(cb);
    if (!this.syncing) this.startSync();
  }

  /** One fdatasync of every fd appended to (and of the directory, when a journal file was created). */
  private startSync(): void {
    const waiters = this.nextWaiters;
    this.nextWaiters = [];
    const fds = [...this.dirtyFds];
    this.dirtyFds.clear();
    const dir = this.dirDirty;
    this.dirDirty = false;
    const run = { fds, upTo: this.counts.flushes, waiters };
    this.syncing = run;
    const jobs: Array<Promise<void>> = fds.map(
      (fd) => new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())))
    );
    if (dir)
      jobs.push(
        fs.promises
          .open(this.dir, 'r')
          .then((dh) => dh.sync().finally(() => dh.close()))
          .catch((err: Error) => {
            this.dirDirty = true;
            throw err;
          })
      );
    // settled, not all: no fd is closed while another fdatasync of the same run still uses one
    void Promise.allSettled(jobs).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      this.syncDone(run, failed ? (failed.reason as Error) : undefined);
    });
  }

  private syncDone(run: NonNullable<AlertStateJournal['syncing']>, err?: Error): void {
    this.syncing = null;
    for (const fd of run.fds) {
      if (!this.closeAfterSync.delete(fd)) continue;
      try {
        fs.closeSync(fd);
      } catch {
        /* nothing left to do with it */
      }
    }
    if (err) {
      this.counts.syncFailures++;
      this.resyncGen ??= this.writeGen;
    } else {
      this.counts.syncs++;
      this.counts.durable = Math.max(this.counts.durable, run.upTo);
    }
    this.counts.durable = Math.max(this.counts.durable, this.closeSynced);
    // the next group first, so the disk is kept busy while the waiters complete their messages
    if (this.nextWaiters.length) {
      if (this.closed) this.failWaiters(this.nextWaiters.splice(0), new Error('alert state journal is closed'));
      else this.startSync();
    }
    for (const w of run.waiters) callSafely(w, err);
  }

  private failWaiters(waiters: Array<(err?: Error) => void>, err?: Error): void {
    for (const w of waiters) callSafely(w, err);
  }

  /** Closes `fd`, or (when the fdatasync in flight uses it) as soon as that returns. */
  private closeFd(fd: number): void {
    this.dirtyFds.delete(fd);
    if (this.syncing?.fds.includes(fd)) this.closeAfterSync.add(fd);
    else fs.closeSync(fd);
  }

  /** Everything flushed so far is durable another way (a snapshot fsync'd in this turn): release the waiters. */
  private allDurable(): void {
    this.counts.durable = this.counts.flushes;
    this.dirtyFds.clear();
    this.dirDirty = false;
    if (this.nextWaiters.length) this.failWaiters(this.nextWaiters.splice(0));
  }

  /**
   * The journal has grown beyond the snapshot (and the minimum), or an fdatasync failed since the last
   * snapshot, and no compaction is running.
   */
  /**
   * An fdatasync failed since the last snapshot: what it covered may not be on disk, and a later fdatasync would not
   * say so (see the header). Until the next compaction's snapshot, "durable" is not to be believed for it.
   */
  get resyncPending(): boolean {
    return this.resyncGen !== null;
  }

  get needsCompaction(): boolean {
    return (
      this.inFlight === null &&
      (this.resyncGen !== null || this.journalBytes > Math.max(this.compactMinBytes, this.snapshotBytes))
    );
  }

  /** A background compaction is writing its snapshot. */
  get compacting(): boolean {
    return this.inFlight !== null;
  }

  get sizes(): { journalBytes: number; snapshotBytes: number; generation: number; journals: number } {
    return {
      journalBytes: this.journalBytes,
      snapshotBytes: this.snapshotBytes,
      generation: this.snapshotGen,
      journals: this.olderFds.size + 1,
    };
  }

  /** Appends go to a new generation's journal from here on; returns that generation. */
  private switchJournal(): number {
    const next = this.writeGen + 1;
    const fd = fs.openSync(path.join(this.dir, journalName(next)), 'w');
    this.dirDirty = true;
    if (this.fd !== null) this.olderFds.set(this.writeGen, this.fd);
    this.fd = fd;
    this.writeGen = next;
    this.journalBytes = 0;
    this.appended = 0;
    // `state` given to the compaction is the whole current state: it supersedes what is staged
    this.staged.clear();
    this.stagedNew.clear();
    this.stagedMutes = undefined;
    this.stagedMuteChanges.clear();
    return next;
  }

  /** Snapshot `gen` is on disk: the journals below it are no longer needed. */
  private installed(gen: number, bytes: number): void {
    this.snapshotGen = gen;
    this.snapshotBytes = bytes;
    if (this.resyncGen !== null && this.resyncGen < gen) this.resyncGen = null;
    for (const [g, fd] of this.olderFds) {
      if (g >= gen) continue;
      // its appends are in the snapshot, fsync'd: an fdatasync of it still in flight may finish first
      this.closeFd(fd);
      this.olderFds.delete(g);
      fs.rmSync(path.join(this.dir, journalName(g)), { force: true });
    }
  }

  /**
   * Writes `state` (the whole current state) as a new snapshot, all in this turn. Throws on failure; the
   * journals then still replay to the state (appends continue in the new generation's journal).
   */
  compact(state: StoredAlertState): void {
    if (this.closed) throw new Error('alert state journal is closed');
    const gen = this.switchJournal();
    const chunks = [...snapshotChunks(gen, state)];
    replaceFileSync(path.join(this.dir, SNAPSHOT), chunks, true);
    syncDir(this.dir);
    this.installed(
      gen,
      chunks.reduce((n, c) => n + Buffer.byteLength(c), 0)
    );
    // everything flushed before the switch is in that snapshot, on disk (the directory too)
    this.allDurable();
  }

  /**
   * Like compact(), but only the switch happens in this turn: the snapshot is serialised a few hundred
   * alerts per turn and written, fsync'd and renamed with asynchronous I/O; `state` must be a copy nobody
   * changes meanwhile (AlertEngine.snapshot() is). One at a time (returns the running one); a compact() that
   * overtakes it wins (the older snapshot is then not installed). Rejects on failure, harmlessly.
   */
  compactInBackground(state: StoredAlertState): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.closed) return Promise.reject(new Error('alert state journal is closed'));
    const gen = this.switchJournal();
    const tmp = path.join(this.dir, `${SNAPSHOT}.${gen}.tmp`);
    let bytes = 0;
    const run = (async () => {
      try {
        const fh = await fs.promises.open(tmp, 'w');
        try {
          // serialised a chunk of alerts at a time, each written before the next: the loop turns between
          // chunks (`state` holds copies, so what the engine does meanwhile does not reach it)
          for (const chunk of snapshotChunks(gen, state)) {
            const buf = Buffer.from(chunk, 'utf8');
            bytes += buf.length;
            await fh.write(buf);
          }
          await fh.datasync();
        } finally {
          await fh.close();
        }
        const dh = await fs.promises.open(this.dir, 'r');
        // synchronously from the check on: a compact() that ran meanwhile installed a newer snapshot
        if (this.closed || this.snapshotGen >= gen) {
          await dh.close();
          await fs.promises.rm(tmp, { force: true });
          return;
        }
        fs.renameSync(tmp, path.join(this.dir, SNAPSHOT));
        try {
          await dh.sync(); // the rename is durable before the journals it replaces go
        } finally {
          await dh.close();
        }
        if (!this.closed && this.snapshotGen < gen) this.installed(gen, bytes);
      } catch (err) {
        await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    })();
    this.inFlight = run.finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /**
   * Closes the journals and releases the lock (staged changes are not written: flush or compact first).
   * With "group", what was flushed but not yet synced is fdatasync'd here (blocking, once) and its waiters
   * complete; an fdatasync in flight keeps its fd open until it returns, then completes its own waiters.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sync === 'group' && (this.dirtyFds.size || this.dirDirty || this.nextWaiters.length)) {
      let err: Error | undefined;
      try {
        for (const fd of this.dirtyFds) fs.fdatasyncSync(fd);
        if (this.dirDirty) syncDir(this.dir);
      } catch (e) {
        err = e as Error;
      }
      this.dirtyFds.clear();
      this.dirDirty = false;
      // (an fdatasync in flight still reports on the flushes it covers, to its own waiters, then counts these)
      if (!err) this.closeSynced = this.counts.flushes;
      if (!err && !this.syncing) this.counts.durable = this.counts.flushes;
      this.failWaiters(this.nextWaiters.splice(0), err);
    }
    if (this.fd !== null) this.closeFd(this.fd);
    this.fd = null;
    for (const fd of this.olderFds.values()) this.closeFd(fd);
    this.olderFds.clear();
    unlockDir(this.dir);
  }
}

/** Calls a waiter; one that throws does not keep the others from completing (its error is rethrown apart). */
function callSafely(w: (err?: Error) => void, err?: Error): void {
  try {
    w(err);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
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
