// When the writer's current database outage began, kept beside its spool: a Node-RED that crashed or was
// restarted during an outage started its clock again, so the 5-minute warning of `database_unwritable` never came
// for an outage cut by a crash (an operator round on 2026-12-06 stopped the database for 6 minutes with one
// kill -9 in the middle: nobody was paged), and a writer that crash-looped faster than that would never warn.
// The outage's log lines said "at least 3 min" for the same reason. The mark is written once when an outage
// begins and removed when a write succeeds; a restarted writer that finds the database still failing continues
// the outage from it (OutageAlert, OutageNotice `resumedSince`).
//
// Best effort, not a durability matter: it is not fsync'd, and a mark that cannot be read or written only costs
// the old behaviour (the clock starts at the restart). A mark in the future (a clock stepped back) is ignored.
import fs from 'node:fs';
import path from 'node:path';

const FILE = 'outage-since.json';

/** The time (ms) the outage of the spool in `dir` began, as a writer before this one recorded it, or null. */
export function readOutageMark(dir: string, now = Date.now()): number | null {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(dir, FILE), 'utf8')) as { since?: unknown }).since;
    return typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= now ? v : null;
  } catch {
    return null;
  }
}

/** Records that the outage began at `since` (ms), or that there is none (null). Returns an error text, if any. */
export function writeOutageMark(dir: string, since: number | null): string | null {
  const file = path.join(dir, FILE);
  try {
    if (since === null) fs.rmSync(file, { force: true });
    else {
      // a temporary file renamed over the mark: a crash mid-write leaves the old mark or the new, never half
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ since }));
      fs.renameSync(tmp, file);
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
