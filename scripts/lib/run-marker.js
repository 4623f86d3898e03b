// A marker in MOBY_HOME while `npm start` runs: written at start, removed when it stops in order. Found at the next
// start, the previous run ended without stopping (kill -9, a power cut, the OOM killer). Node-RED's own state is
// journaled and comes back, but the embedded broker keeps nothing on disk: what it had acknowledged to devices and
// not yet handed to Node-RED is gone, and the start looked exactly like a clean one (operator round of 2026-12-07).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const FILE = 'run.json';

/** Whether `pid` is a live process that looks like an `npm start` of MOBY (a reused pid after a reboot is not). */
function liveStart(pid) {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;
  }
  try {
    return /start(-cluster)?\.js/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc (not Linux): a live pid is taken as ours
  }
}

/**
 * Claims MOBY_HOME for this run. Returns what the marker of an earlier run says: `{pid, started_at,
 * embedded_broker}` and `live` (that process still runs), or null when the last run stopped in order; and
 * `unmarked` (the error) when this run's marker could not be written.
 */
function claimRun(dir, { embeddedBroker }, isLive = liveStart) {
  const file = path.join(dir, FILE);
  let previous = null;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (m && typeof m === 'object') previous = { ...m, live: isLive(m.pid) };
  } catch (err) {
    if (err.code !== 'ENOENT') previous = { pid: null, started_at: null, embedded_broker: null, live: false };
  }
  // a live other run keeps its marker: this one leaves it alone (and says so)
  if (!previous?.live) {
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(
        tmp,
        JSON.stringify({ pid: process.pid, started_at: new Date().toISOString(), embedded_broker: embeddedBroker })
      );
      fs.renameSync(tmp, file);
    } catch (err) {
      // the marker only informs the next start: a full disk (a power cut while the spool filled it) must not keep
      // the pipeline from starting, and its journals say for themselves what they could not write
      fs.rmSync(tmp, { force: true });
      return { ...(previous ?? {}), unmarked: err };
    }
  }
  return previous;
}

/** This run stopped in order: the marker goes (only ours). */
function releaseRun(dir) {
  const file = path.join(dir, FILE);
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (m.pid === process.pid) fs.rmSync(file, { force: true });
  } catch {
    /* none, or not ours */
  }
}

/** What to say at start about an earlier run's marker (null: nothing). */
function previousRunLine(previous) {
  if (!previous || previous.pid === undefined) return null;
  const which = previous.pid
    ? ` (pid ${previous.pid}${previous.started_at ? `, started ${previous.started_at}` : ''})`
    : '';
  if (previous.live)
    return `another npm start${which} uses this MOBY_HOME: two runs on one home write over each other's journals and spool; stop one, or give each its own MOBY_HOME`;
  return `the previous run${which} did not stop in order (kill -9, a power cut, the OOM killer or a crash): Node-RED's alerts, spool and replay journal are journaled and restored${
    previous.embedded_broker === false
      ? ''
      : `, but the embedded broker keeps nothing on disk: what it had acknowledged to devices and not yet handed to Node-RED (at most the pipeline's window of 1,000 messages, at the demo's rate under a second) was lost with it (docs/durability.md)`
  }`;
}

/** What to say when this run's marker could not be written (null: it was). */
function unmarkedLine(claim) {
  if (!claim?.unmarked) return null;
  const e = claim.unmarked;
  return `could not write the run marker ${FILE} in MOBY_HOME (${e.code || e.message}${
    e.code === 'ENOSPC' ? ': the disk is full' : ''
  }): starting without it, so if this run does not stop in order the next start cannot say so`;
}

module.exports = { claimRun, releaseRun, previousRunLine, unmarkedLine };
