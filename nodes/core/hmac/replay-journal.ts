// Crash-safe persistence of a NonceCache: an append-only journal of its record lines plus a periodic compacted
// snapshot. The verify node appends the records of a batch of accepted messages with one write() *before* it
// passes those messages on, so after a kill -9 every message that was acted upon is in the file (the write has
// reached the kernel's page cache, which a dying process cannot lose). Power loss is another matter: appends
// are not fsynced (that would cost a disk flush per batch); compaction is, and renames atomically.
// Writes go through the shared crash-safe primitives (core/durable-file.ts): a full disk first answers with a
// short write, then ENOSPC, so an append that does not fit is cut off again (the file never holds a torn
// record that the next append would run into) and a compaction that does not fit leaves the old journal in
// place and no temp file eating the space the spool and the alert journal need.
//
// Compaction while running is done in slices: the whole state of a million-nonce cache is ~50 MB of lines,
// ~150-200 ms of one event-loop turn to write (plus its fsync) when done at once, a stall of every flow in the
// process each time the journal had grown enough. Instead each flush() writes its batch to the journal as
// always, then the same batch and the next slice of the snapshot to the temp file, and fsyncs that slice; the
// last slice renames the temp file over the journal. Until then the old journal holds everything, so a crash
// (or a close) mid-compaction loses nothing: the temp file is only ever a candidate. The temp file holds the
// snapshot with the batches of those flushes interleaved: load() is order-tolerant (a nonce seen twice is one,
// floors only rise), and a device snapshotted after a batch already holds what the batch added, so the result
// reads back to a state at least as strict as the cache's.
import fs from 'node:fs';
import path from 'node:path';
import { replaceFileSync, syncDir, tempFileOf, writeRecordAt } from '../durable-file';
import type { NonceCache } from './replay';

/** the fewest appended lines that start a compaction by default */
const MIN_COMPACT_AFTER = 10000;
/** snapshot lines written (and fsynced) per flush while compacting in slices: a few ms of work each */
const DEFAULT_SLICE_LINES = 8192;

/** A compaction in slices: its temp file and where the snapshot's iteration is. */
interface SlicedCompaction {
  tmp: string;
  fd: number;
  size: number;
  lines: Iterator<string>;
}

/** Up to `max` lines of `lines` as one newline-terminated text ('' when none are left), and whether that was all. */
function takeLines(lines: Iterator<string>, max: number): { text: string; done: boolean } {
  const chunk: string[] = [];
  while (chunk.length < max) {
    const r = lines.next();
    if (r.done) return { text: chunk.length ? chunk.join('\n') + '\n' : '', done: true };
    chunk.push(r.value);
  }
  return { text: chunk.join('\n') + '\n', done: false };
}

export interface ReplayJournalOptions {
  /** the journal file; its directory is created */
  file: string;
  /**
   * compact when this many lines were appended since the last compaction (default: twice the nonces the cache
   * held at the last compaction, at least 10000), so the file stays within about three times what it holds
   */
  compactAfter?: number;
  /** snapshot lines per slice of a compaction started by flush() (default 8192, at least 1) */
  sliceLines?: number;
}

export class ReplayJournal {
  readonly file: string;
  private fd: number | null = null;
  /** the journal's length: appends are written at it and cut back to it when they fail */
  private size = 0;
  /** `now` of the last rewrite tried while broken: on a full disk at most one per second, not one per batch */
  private lastRewrite = -1;
  private pending: string[] = [];
  private appended = 0;
  /** the explicit compactAfter option, else null: the threshold follows the cache (see compact()) */
  private readonly fixedCompactAfter: number | null;
  private compactAfter: number;
  /** a write failed: the file misses records, so the next flush rewrites it whole */
  private broken = false;
  /** the last write or compaction error, until one succeeds again */
  lastError: Error | null = null;
  private readonly sliceLines: number;
  private sliced: SlicedCompaction | null = null;
  /** close() is flushing: no compaction starts (it would only be dropped) */
  private closing = false;
  /** compactions started by flush() that failed (the journal kept everything; retried after as many lines again) */
  compactFailures = 0;
  /** why the last of them failed, until one succeeds */
  lastCompactError: Error | null = null;

  constructor(
    private readonly cache: NonceCache,
    o: ReplayJournalOptions
  ) {
    this.file = o.file;
    // relative to what the cache holds, not to its capacity: with the default capacity of a million nonces a
    // threshold of twice the capacity let a journal grow to ~100 MB between compactions
    this.fixedCompactAfter = o.compactAfter !== undefined ? Math.max(1000, o.compactAfter) : null;
    this.compactAfter = this.fixedCompactAfter ?? MIN_COMPACT_AFTER;
    this.sliceLines = o.sliceLines === undefined ? DEFAULT_SLICE_LINES : Math.max(1, Math.floor(o.sliceLines));
  }

  /** Whether a compaction in slices is under way (its temp file exists). */
  get compacting(): boolean {
    return this.sliced !== null;
  }

  /**
   * Reads the journal into the cache (a missing file is an empty journal), compacts it and opens it for
   * appending. When the compaction fails (a full disk: Node-RED restarted, e.g. after a kill -9, on the disk
   * that filled) the journal just read is still whole — a failed compaction leaves it as it was — so it is
   * kept and appended to, its torn last line cut off; `lastError` says why it was not compacted. It throws
   * only when the journal can be neither read nor opened (the node then refuses to verify).
   */
  open(now: number): { loaded: number } {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    let loaded = 0;
    let raw = Buffer.alloc(0);
    try {
      raw = fs.readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // a torn last line (killed mid-write) fails to parse and is skipped: its messages were never passed on
    if (raw.length) loaded = this.cache.load(raw.toString('utf8').split('\n'), now);
    try {
      this.compact(now);
    } catch (err) {
      const fd = fs.openSync(this.file, 'a');
      try {
        // cut the torn tail (shrinking needs no space), so the next append starts on a line of its own
        const whole = raw.lastIndexOf(0x0a) + 1;
        if (whole < raw.length) fs.ftruncateSync(fd, whole);
        this.size = fs.fstatSync(fd).size;
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
      this.fd = fd;
      this.lastError = err as Error;
    }
    return { loaded };
  }

  /** Queues one record line (the cache's onRecord). */
  record(line: string): void {
    this.pending.push(line);
  }

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Writes the queued lines with one write(), or nothing of them, and throws (a short write counts as a
   * failure). The cache holds the records in memory either way: on failure they are dropped from the queue
   * (bounded memory) and a later flush rewrites the whole state instead — tried at most once per second of
   * `now` while the disk is failing; in between a flush throws the last error without touching the disk.
   */
  flush(now: number): void {
    if (this.pending.length === 0) return;
    if (this.fd === null) throw new Error('replay journal is not open');
    const text = this.pending.join('\n') + '\n';
    const lines = this.pending.length;
    this.pending.length = 0;
    let buf: Buffer | null = null;
    try {
      if (this.broken) {
        if (now === this.lastRewrite && this.lastError) throw this.lastError;
        this.lastRewrite = now;
        this.compact(now); // drops a compaction in slices first
      } else {
        buf = Buffer.from(text, 'utf8');
        writeRecordAt(this.fd, buf, this.size, false, 'replay journal');
        this.size += buf.length;
      }
    } catch (err) {
      this.broken = true;
      this.lastError = err as Error;
      throw err;
    }
    this.broken = false;
    this.appended += lines;
    this.lastError = null;
    // the batch is in the journal: what follows only builds the next one, and its failure loses nothing
    if (this.sliced) this.continueSliced(buf);
    else if (this.appended >= this.compactAfter && !this.closing) this.startSliced(now);
  }

  private startSliced(now: number): void {
    const tmp = tempFileOf(this.file);
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'w');
    } catch (err) {
      this.compactFailed(err as Error);
      return;
    }
    this.sliced = { tmp, fd, size: 0, lines: this.cache.snapshot(now)[Symbol.iterator]() };
    this.continueSliced(null);
  }

  /** Appends the batch just journaled (if any) and the next slice of the snapshot; the last slice installs it. */
  private continueSliced(batch: Buffer | null): void {
    const c = this.sliced!;
    try {
      if (batch) {
        writeRecordAt(c.fd, batch, c.size, false, 'replay journal compaction');
        c.size += batch.length;
      }
      const slice = takeLines(c.lines, this.sliceLines);
      if (slice.text) {
        const buf = Buffer.from(slice.text, 'utf8');
        // fsynced slice by slice (the batch above with it): the rename then waits for a slice, not the whole file
        writeRecordAt(c.fd, buf, c.size, true, 'replay journal compaction');
        c.size += buf.length;
      } else if (batch) fs.fdatasyncSync(c.fd); // the snapshot ended with the last slice: the batch still needs it
      if (!slice.done) return;
      fs.renameSync(c.tmp, this.file);
      syncDir(path.dirname(this.file));
    } catch (err) {
      this.abortSliced();
      this.compactFailed(err as Error);
      return;
    }
    // installed: the temp file's descriptor is the journal's now
    this.sliced = null;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = c.fd;
    this.size = c.size;
    this.compacted();
  }

  /** Drops a compaction in slices (the journal still holds everything): closes and removes its temp file. */
  private abortSliced(): void {
    const c = this.sliced;
    if (!c) return;
    this.sliced = null;
    try {
      fs.closeSync(c.fd);
    } catch {
      /* already gone */
    }
    try {
      fs.rmSync(c.tmp, { force: true });
    } catch {
      /* the next compaction's open truncates it anyway */
    }
  }

  private compactFailed(err: Error): void {
    this.compactFailures++;
    this.lastCompactError = err;
    // retried once as many lines were appended again, not at every flush: on a disk that has room for
    // appends but not for a copy, trying at each batch wrote a whole snapshot per batch before failing
    this.appended = 0;
  }

  private compacted(): void {
    this.appended = 0;
    this.lastCompactError = null;
    if (this.fixedCompactAfter === null) this.compactAfter = Math.max(MIN_COMPACT_AFTER, 2 * this.cache.size);
  }

  /**
   * Rewrites the journal as the cache's current state (temp file, fsync, rename, directory fsync) and reopens
   * it. On failure (a full disk) the old journal stays as it was, the temp file is removed, and it throws.
   */
  compact(now: number): void {
    this.abortSliced();
    const cache = this.cache;
    // records queued but not yet flushed belong after the snapshot (the snapshot already contains them,
    // replaying them again is harmless); they stay queued for the next flush
    replaceFileSync(
      this.file,
      (function* chunks() {
        const lines = cache.snapshot(now)[Symbol.iterator]();
        for (let c = takeLines(lines, 4096); c.text; c = takeLines(lines, 4096)) yield c.text;
      })()
    );
    syncDir(path.dirname(this.file));
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'r+');
    this.size = fs.fstatSync(this.fd).size;
    this.compacted();
  }

  /** Flushes what is queued and closes; a compaction in slices is dropped (the journal holds everything). */
  close(now: number): void {
    this.closing = true;
    try {
      if (this.fd !== null) this.flush(now);
    } finally {
      this.closing = false;
      this.abortSliced();
      if (this.fd !== null) fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
