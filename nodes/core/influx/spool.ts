// Append-only, crash-safe disk queue of write batches (the "spool"), replayed in order.
//
// Layout in `dir`: segment files `seg-<12-digit seq>.jsonl`, `cursor.json` and `lock` (pid of the owner).
// Each record is one line `{"c":"<checksum>","n":<points>,"d":"<line protocol, \n-joined>"}\n`, written
// with one write() call and fdatasync'd (unless fsync=false) before append() returns. A crash can only
// tear the last line of the newest segment: on open such a line (no newline, bad JSON or checksum
// mismatch) is counted as corrupt, skipped and cut off, so later appends start on a clean line. The
// cursor (segment + byte offset of the first unacknowledged record) is replaced atomically (write temp,
// fsync, rename) on every ack; a crash between a successful write and the cursor update replays that
// request again (at-least-once with identical timestamps, which InfluxDB stores once: same series +
// timestamp overwrites).
//
// Bound: `maxBytes` over all segment files. When an append would exceed it, whole oldest segments are
// dropped (their points counted in droppedPoints) — the newest data is the most valuable for an operator
// and a sensor cannot be asked to resend, so refusing new data would lose just as much, only the wrong end.
//
// A replay request in flight while the bound drops segments: the dropped records may be the ones being sent.
// Entries carry an absolute number, so ack(batches, first) acknowledges exactly the records the request
// carried that are still here — not the same count of newer records that were never sent (which it did: a
// tester lost 7,596 newer points uncounted while the counter named 8,309 that reached the database). Points
// dropped while in flight are counted only if that request fails (sendFailed); if it succeeds they are stored;
// if the process dies first their outcome is unknown, and the reopened spool counts them lost. The cursor file
// carries the drop count, the in-flight drops and what the owner reported of them, so a crash loses no count.
import fs from 'node:fs';
import path from 'node:path';
import {
  fileSystemSpace,
  lockDir,
  recordChecksum as checksum,
  replaceFileSync,
  syncDir,
  unlockDir,
  writeRecordAt,
} from '../durable-file';

export interface SpoolOptions {
  dir: string;
  /** bound of all segment files together (default 256 MiB) */
  maxBytes?: number;
  /** a segment is closed and a new one started above this size (default maxBytes/16, 64 KiB..16 MiB) */
  segmentBytes?: number;
  /**
   * free space the spool leaves on its file system: an append that would go below it fails as a full disk
   * (default `spoolFloor()` of the file system: 2 % of its size, at least 256 KiB, at most 64 MiB; 0 = none)
   */
  minFreeBytes?: number;
  /** fdatasync each append and cursor update (default true) */
  fsync?: boolean;
}

/**
 * The free space a spool leaves by default on a file system of `sizeBytes`. The spool is the one writer that fills a
 * disk (a database down for hours); the alert state, the replay journal and the notification queue share the disk
 * and must still be written then, or a page goes out for an alert a crash then forgets, never resolved (operator
 * round 2026-12-07, MOBY_HOME on a 3 MB disk).
 */
export function spoolFloor(sizeBytes: number): number {
  return Math.min(64 << 20, Math.max(256 << 10, Math.floor(sizeBytes * 0.02)));
}

interface Entry {
  seg: number;
  offset: number;
  length: number;
  points: number;
}

interface Cursor {
  seg: number;
  offset: number;
  /** droppedPoints when it was written (absent in spools before 2026-12-06) */
  dropped?: number;
  /** points of the request in flight the bound had dropped: outcome unknown after a crash, so counted lost */
  inflight?: number;
  /** of `dropped`, how many the owner had reported (reportedDrops) */
  reported?: number;
}

const SEG_RE = /^seg-(\d{12})\.jsonl$/;
const openDirs = new Set<string>();

const segName = (seq: number) => `seg-${String(seq).padStart(12, '0')}.jsonl`;
/** a count read from the cursor file: a non-negative safe integer, else 0 */
const storedCount = (v: unknown): number => (Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : 0);

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  private readonly fsync: boolean;
  private entries: Entry[] = [];
  private head = 0;
  /** absolute number of entries[0]: entries ever removed before it (acknowledged, dropped, compacted away) */
  private base = 0;
  /** the entries peekBatches handed out for the request in flight, by absolute number [first, end) */
  private sending: { first: number; end: number } | null = null;
  /** points of in-flight entries dropped by the bound: lost only if their request fails */
  private sendingDropped = 0;
  private livePoints = 0;
  private segSizes = new Map<number, number>();
  private writeSeq = 0;
  /** the floor of free space (see SpoolOptions), settled at open from the file system when not given */
  private minFreeBytes: number | undefined;
  private writeFd: number | null = null;
  private readFds = new Map<number, number>();
  private closed = false;
  /**
   * points lost because the bound was hit (oldest segments dropped), since the spool was created: kept in the
   * cursor file, so a crash loses neither the count nor the drops of a request it cut short
   */
  droppedPoints = 0;
  /**
   * of droppedPoints, how many the owner has counted (its metric): set with markReported, kept in the cursor,
   * so drops a crash kept from being counted are counted after the restart, and none twice
   */
  reportedDrops = 0;
  /** records skipped because they were torn or failed their checksum */
  corruptRecords = 0;
  /** the last cursor update that failed (the cursor on disk lags: a crash would replay, not lose), or null */
  cursorError: string | null = null;

  private constructor(opts: SpoolOptions) {
    this.dir = path.resolve(opts.dir);
    this.maxBytes = Math.max(1024, opts.maxBytes ?? 256 * 1024 * 1024);
    this.segmentBytes = Math.min(
      this.maxBytes,
      opts.segmentBytes ?? Math.min(16 << 20, Math.max(64 << 10, Math.floor(this.maxBytes / 16)))
    );
    this.fsync = opts.fsync !== false;
    this.minFreeBytes = opts.minFreeBytes;
  }

  /** Opens (creating) the spool in dir, recovering its contents. One open spool per directory per process. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    if (openDirs.has(s.dir)) throw new Error(`spool ${s.dir} is already open in this process`);
    fs.mkdirSync(s.dir, { recursive: true });
    lockDir(s.dir, 'spool');
    if (s.minFreeBytes === undefined) {
      const fsStat = fileSystemSpace(s.dir);
      s.minFreeBytes = fsStat ? spoolFloor(fsStat.size) : 0;
    }
    s.recover();
    openDirs.add(s.dir);
    return s;
  }

  get points(): number {
    return this.livePoints;
  }

  get batches(): number {
    return this.entries.length - this.head;
  }

  get bytes(): number {
    let total = 0;
    for (const v of this.segSizes.values()) total += v;
    return total;
  }

  private recover(): void {
    const segs = fs
      .readdirSync(this.dir)
      .map((f) => SEG_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const cursor = this.readCursor() ?? { seg: segs[0] ?? 1, offset: 0 };
    // a request in flight when the process died: whether the database took what the bound dropped of it is
    // unknown, so it counts as lost (as close() counts it)
    this.droppedPoints = storedCount(cursor.dropped) + storedCount(cursor.inflight);
    this.reportedDrops = Math.min(this.droppedPoints, storedCount(cursor.reported));
    for (const seq of segs) {
      const file = path.join(this.dir, segName(seq));
      if (seq < cursor.seg) {
        fs.rmSync(file, { force: true }); // fully acknowledged before a crash, not yet removed
        continue;
      }
      const buf = fs.readFileSync(file);
      let pos = 0;
      while (pos < buf.length) {
        const nl = buf.indexOf(10, pos);
        if (nl < 0) {
          // torn tail: the record never finished; cut it so the next append starts on a fresh line
          this.corruptRecords++;
          fs.truncateSync(file, pos);
          break;
        }
        const skip = seq === cursor.seg && pos < cursor.offset;
        if (!skip) {
          const points = this.parseRecord(buf.toString('utf8', pos, nl));
          if (points === null) this.corruptRecords++;
          else {
            this.entries.push({ seg: seq, offset: pos, length: nl + 1 - pos, points });
            this.livePoints += points;
          }
        }
        pos = nl + 1;
      }
      this.segSizes.set(seq, Math.min(pos, buf.length));
    }
    const last = segs.length ? segs[segs.length - 1] : 0;
    this.writeSeq = last > 0 && (this.segSizes.get(last) ?? 0) < this.segmentBytes ? last : last + 1;
    if (this.entries.length === 0) this.reset();
  }

  /** Points of a valid record line, or null when it is torn or corrupt. */
  private parseRecord(text: string): number | null {
    try {
      const r = JSON.parse(text) as { c?: unknown; n?: unknown; d?: unknown };
      if (typeof r.d !== 'string' || typeof r.n !== 'number' || r.c !== checksum(r.d)) return null;
      return r.n;
    } catch {
      return null;
    }
  }

  private readCursor(): Cursor | null {
    try {
      const c = JSON.parse(fs.readFileSync(path.join(this.dir, 'cursor.json'), 'utf8')) as Cursor;
      return Number.isInteger(c.seg) && Number.isInteger(c.offset) ? c : null;
    } catch {
      return null;
    }
  }

  private writeCursor(c: Cursor): void {
    c.dropped = this.droppedPoints;
    if (this.sendingDropped > 0) c.inflight = this.sendingDropped;
    c.reported = this.reportedDrops;
    replaceFileSync(path.join(this.dir, 'cursor.json'), JSON.stringify(c), this.fsync);
  }

  /** Empty spool: remove every segment and start over with a fresh one. */
  private reset(): void {
    this.closeWriteFd();
    for (const seq of [...this.segSizes.keys()]) this.removeSegment(seq);
    this.base += this.entries.length;
    this.entries = [];
    this.head = 0;
    this.livePoints = 0;
    this.writeSeq = Math.max(1, this.writeSeq + 1);
    this.writeCursorLenient({ seg: this.writeSeq, offset: 0 });
  }

  private closeWriteFd(): void {
    if (this.writeFd !== null) fs.closeSync(this.writeFd);
    this.writeFd = null;
  }

  private removeSegment(seq: number): void {
    const fd = this.readFds.get(seq);
    if (fd !== undefined) fs.closeSync(fd);
    this.readFds.delete(seq);
    this.segSizes.delete(seq);
    fs.rmSync(path.join(this.dir, segName(seq)), { force: true });
  }

  /** Appends one batch durably. Returns the points dropped (oldest first) to stay within maxBytes. */
  append(lines: readonly string[]): number {
    if (this.closed) throw new Error('spool is closed');
    if (lines.length === 0) return 0;
    const data = lines.join('\n');
    const buf = Buffer.from(`${JSON.stringify({ c: checksum(data), n: lines.length, d: data })}\n`, 'utf8');
    if (buf.length > this.maxBytes) {
      this.droppedPoints += lines.length;
      return lines.length;
    }
    const curSize = this.segSizes.get(this.writeSeq) ?? 0;
    if (curSize > 0 && curSize + buf.length > this.segmentBytes) {
      this.closeWriteFd();
      this.writeSeq++;
    }
    let dropped = 0;
    while (this.bytes + buf.length > this.maxBytes) {
      const oldest = Math.min(...this.segSizes.keys());
      if (oldest === this.writeSeq) {
        // only the segment being written is left: start a new one so the old can go
        this.closeWriteFd();
        this.writeSeq++;
      }
      dropped += this.dropSegment(oldest);
    }
    // after the bound's drops: a spool at its bound replaces its oldest points and needs no more room
    if (this.minFreeBytes) {
      const fsStat = fileSystemSpace(this.dir);
      if (fsStat && fsStat.free - buf.length < this.minFreeBytes)
        throw Object.assign(
          new Error(
            `ENOSPC: no space left on device for the spool: it leaves ${Math.round(this.minFreeBytes / 1024)} KiB free for the alert state and journals`
          ),
          { code: 'ENOSPC' }
        );
    }
    if (this.writeFd === null) {
      const file = path.join(this.dir, segName(this.writeSeq));
      const isNew = !fs.existsSync(file);
      // not O_APPEND: records are written at the offset we track, so a failed write can be cut off again
      this.writeFd = fs.openSync(file, isNew ? 'w' : 'r+');
      this.segSizes.set(this.writeSeq, this.segSizes.get(this.writeSeq) ?? 0);
      // a new file's directory entry must survive a power loss too, or the whole segment could vanish
      if (isNew && this.fsync) syncDir(this.dir);
    }
    const offset = this.segSizes.get(this.writeSeq) ?? 0;
    writeRecordAt(this.writeFd, buf, offset, this.fsync, 'spool');
    this.segSizes.set(this.writeSeq, offset + buf.length);
    this.entries.push({ seg: this.writeSeq, offset, length: buf.length, points: lines.length });
    this.livePoints += lines.length;
    return dropped;
  }

  private dropSegment(seq: number): number {
    let dropped = 0;
    while (this.head < this.entries.length && this.entries[this.head].seg === seq) {
      const abs = this.base + this.head;
      const { points } = this.entries[this.head];
      if (this.sending && abs >= this.sending.first && abs < this.sending.end) this.sendingDropped += points;
      else dropped += points;
      this.livePoints -= points;
      this.head++;
    }
    // counted now, not after the append that needed the room: that append may still fail (a full disk), and
    // these records are gone either way (a tester lost 890 points uncounted that way)
    this.droppedPoints += dropped;
    this.removeSegment(seq);
    this.writeCursorLenient(this.cursorHere());
    this.compact();
    return dropped;
  }

  /** The oldest unacknowledged batch, read back from disk and verified; null when empty. */
  peek(): string[] | null {
    return this.peekBatches(0)?.lines ?? null;
  }

  /**
   * The oldest unacknowledged batches, as many whole batches as fit in maxLines (always at least one), so
   * a replay after an outage sends few large requests. `first` numbers them: acknowledge them with
   * ack(batches, first) once the database has them, or call sendFailed() when the request failed.
   */
  peekBatches(maxLines: number): { lines: string[]; batches: number; first: number } | null {
    let lines: string[] = [];
    let batches = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (batches > 0 && lines.length + e.points > maxLines) break;
      const got = this.readEntry(e);
      if (got === null) {
        if (batches > 0) break; // let the next call meet it at the head
        this.corruptRecords++; // damaged on disk after it was written: skip it
        this.ack(1);
        i = this.head - 1;
        continue;
      }
      lines = batches === 0 ? got : lines.concat(got);
      batches++;
    }
    if (batches === 0) return null;
    const first = this.base + this.head;
    this.sendFailed(); // a peek without an outcome for the last one (tests, a closed writer): counted lost
    this.sending = { first, end: first + batches };
    return { lines, batches, first };
  }

  /**
   * The owner has counted `n` of droppedPoints. Kept in the cursor at once: an idle spool writes no cursor, and a
   * count kept only in memory was counted again after every restart (a tester saw the same 24,784 drops added to
   * the metric at each of four restarts).
   */
  markReported(n: number): void {
    const reported = Math.min(this.droppedPoints, Math.max(0, Math.floor(n)));
    if (reported === this.reportedDrops || this.closed) return;
    this.reportedDrops = reported;
    this.writeCursorLenient(this.cursorHere());
  }

  /** The cursor as it stands: the oldest batch still here, else the end of what was written. */
  private cursorHere(): Cursor {
    const next = this.head < this.entries.length ? this.entries[this.head] : null;
    return next
      ? { seg: next.seg, offset: next.offset }
      : { seg: this.writeSeq, offset: this.segSizes.get(this.writeSeq) ?? 0 };
  }

  /** The request carrying the last peekBatches() failed: its records dropped meanwhile by the bound are lost. */
  sendFailed(): void {
    this.droppedPoints += this.sendingDropped;
    this.sendingDropped = 0;
    this.sending = null;
  }

  private readEntry(e: Entry): string[] | null {
    let fd = this.readFds.get(e.seg);
    if (fd === undefined) {
      fd = fs.openSync(path.join(this.dir, segName(e.seg)), 'r');
      this.readFds.set(e.seg, fd);
    }
    const buf = Buffer.allocUnsafe(e.length);
    fs.readSync(fd, buf, 0, e.length, e.offset);
    try {
      const r = JSON.parse(buf.toString('utf8')) as { c: string; d: string };
      if (r.c === checksum(r.d)) return r.d.split('\n');
    } catch {
      /* not JSON any more */
    }
    return null;
  }

  /**
   * Removes the oldest `batches` batches (after the database acknowledged them), with one cursor write. With
   * `first` (from peekBatches), only those of the batches first..first+batches-1 still here: the bound may have
   * dropped some of them meanwhile, and the count must not run on into newer batches that were never sent.
   */
  ack(batches = 1, first?: number): void {
    if (first !== undefined) {
      batches = Math.max(0, batches - Math.max(0, this.base + this.head - first));
      // the request succeeded: what the bound dropped of it meanwhile is in the database, not lost
      this.sendingDropped = 0;
      this.sending = null;
    }
    for (let n = 0; n < batches && this.head < this.entries.length; n++) {
      const e = this.entries[this.head++];
      this.livePoints -= e.points;
      const next = this.entries[this.head];
      if (next !== undefined && next.seg !== e.seg) this.removeSegment(e.seg);
    }
    if (this.head >= this.entries.length) {
      this.reset();
      return;
    }
    const next = this.entries[this.head];
    this.writeCursorLenient({ seg: next.seg, offset: next.offset });
    this.compact();
  }

  /**
   * Moves the cursor on disk, tolerating a full or failing disk: the cursor only ever lags behind the truth
   * (a crash then replays batches the database already has, which it stores once), while throwing here
   * would stall the replay that is about to free the space.
   */
  private writeCursorLenient(c: Cursor): void {
    try {
      this.writeCursor(c);
      this.cursorError = null;
    } catch (err) {
      this.cursorError = (err as Error).message;
      try {
        fs.rmSync(path.join(this.dir, 'cursor.json.tmp'), { force: true });
      } catch {
        /* nothing to clean */
      }
    }
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.base += this.head;
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sendFailed(); // a request still out has no outcome we will learn: what the bound dropped of it is lost
    this.closeWriteFd();
    for (const fd of this.readFds.values()) fs.closeSync(fd);
    this.readFds.clear();
    unlockDir(this.dir);
    openDirs.delete(this.dir);
  }
}
