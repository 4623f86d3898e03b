// Crash-safe file primitives shared by the disk queues (the writer's spool, the alert state journal): record
// checksums, a whole-record write at a known offset that is cut off again when it fails (so a file never
// holds a torn record in the middle), an atomic replace (temp file, fsync, rename), a directory fsync and a
// one-process-per-directory lock.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';

/** Short checksum of a record's payload (12 hex digits of MD5): detects torn or damaged records, not tampering. */
export const recordChecksum = (data: string): string => createHash('md5').update(data).digest('hex').slice(0, 12);

/**
 * Writes one whole record at `offset` and (with fsync) makes it durable, or leaves the file as it was and
 * throws. fs.writeSync may write fewer bytes than asked (a full disk does that before it says ENOSPC), and a
 * failed fdatasync means the page cache may not reach the disk: in both cases the partial record is cut
 * off again, so the next append starts at a record boundary and nothing after it is misread as torn.
 */
export function writeRecordAt(fd: number, buf: Buffer, offset: number, fsync: boolean, what = 'file'): void {
  try {
    let done = 0;
    while (done < buf.length) {
      const n = fs.writeSync(fd, buf, done, buf.length - done, offset + done);
      if (n <= 0)
        throw Object.assign(new Error(`short write to ${what} (${done} of ${buf.length} bytes)`), { code: 'EIO' });
      done += n;
    }
    if (fsync) fs.fdatasyncSync(fd);
  } catch (err) {
    try {
      fs.ftruncateSync(fd, offset);
    } catch {
      /* the next open's recovery cuts a torn tail anyway */
    }
    throw err;
  }
}

/** fsyncs a directory, so a file created or renamed in it survives a power cut. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The temp file a replacement of `file` is written to before it is renamed over it. */
export const tempFileOf = (file: string): string => `${file}.tmp`;

/**
 * Replaces `file` atomically with `data`: written to `<file>.tmp`, fsync'd (with fsync), renamed over it.
 * A crash leaves either the old or the new file, never a mix; a failure removes the temp file and throws.
 * Data may be given as chunks, written one after the other (large documents need not be one string). `mode`:
 * the new file's permissions (before the umask), e.g. 0o600 for a secret.
 */
export function replaceFileSync(file: string, data: string | Iterable<string>, fsync = true, mode?: number): void {
  const tmp = tempFileOf(file);
  try {
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      if (typeof data === 'string') writeAll(fd, data);
      else for (const chunk of data) writeAll(fd, chunk);
      if (fsync) fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* nothing to clean */
    }
    throw err;
  }
}

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let done = 0;
  while (done < buf.length) {
    const n = fs.writeSync(fd, buf, done, buf.length - done);
    if (n <= 0) throw Object.assign(new Error(`short write (${done} of ${buf.length} bytes)`), { code: 'EIO' });
    done += n;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, just not ours to signal
  }
}

/**
 * One process per directory: a `lock` file with our pid; a lock left by a dead process is taken over.
 * Throws when another live process holds it. `what` names the directory's owner in the error.
 * On a full disk (ENOSPC, EDQUOT) the pid cannot be written: the directory is used without its lock rather than
 * not at all. Refusing to open meant a restart on a full disk restored no alerts and failed every message until
 * the next restart, also after space came back (operator round 2026-12-07); opened, its writes fail and are
 * retried like any write on a full disk.
 */
export function lockDir(dir: string, what: string): void {
  const file = path.join(dir, 'lock');
  try {
    const pid = Number(fs.readFileSync(file, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new Error(`${what} ${dir} is in use by process ${pid}`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    fs.writeFileSync(file, String(process.pid));
  } catch (err) {
    if (!isDiskFull(err)) throw err;
  }
}

/** True for the errors of a write that found no room: the disk is full (ENOSPC) or the user's quota is (EDQUOT). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Size and space available to this process of the file system holding `dir`; null where it cannot be read. */
export function fileSystemSpace(dir: string): { size: number; free: number } | null {
  try {
    const st = fs.statfsSync(dir);
    return { size: st.blocks * st.bsize, free: st.bavail * st.bsize };
  } catch {
    return null;
  }
}

/** Removes the lock taken by lockDir. */
export function unlockDir(dir: string): void {
  fs.rmSync(path.join(dir, 'lock'), { force: true });
}
