// Loaded first by every mocha run (test/mocharc.*.json, scripts/test-node-red-5.js). Tests make their
// directories with fs.mkdtempSync(os.tmpdir() + prefix): about 3,000 per full run (Node-RED user dirs,
// spools, journals, brokers' and databases' data). Few of them remove their own, so a CI machine kept every
// run's (1.5 GB in /tmp after a day). Pointing TMPDIR at one directory per mocha process gathers them, child
// processes included (they inherit TMPDIR), and the process removes it when it exits, failed tests or not.
// MOBY_KEEP_TEST_TMP=1 keeps it to look into a failure; its path is printed then.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-tests-'));
// mkdtemp makes it 0700; services a test starts as root that drop to their own user (Mosquitto) must be able to
// pass through it to the directory the test opened for them. Search only, no listing.
fs.chmodSync(root, 0o711);
process.env.TMPDIR = root;
if (os.tmpdir() !== root) throw new Error(`temp-root: os.tmpdir() is ${os.tmpdir()}, not ${root}`);

process.on('exit', () => {
  if (process.env.MOBY_KEEP_TEST_TMP === '1') {
    process.stderr.write(`temp-root: kept ${root}\n`);
    return;
  }
  try {
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 2 });
  } catch (e) {
    // a child process still writing into it: say so rather than fail a green run
    process.stderr.write(`temp-root: could not remove ${root}: ${(e as Error).message}\n`);
  }
});
