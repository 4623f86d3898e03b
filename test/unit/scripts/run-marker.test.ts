// npm start's marker of a run in MOBY_HOME: a marker left by a run that did not stop in order is said at the next
// start (operator round 2026-12-07: after a power cut the start looked exactly like a clean one).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { claimRun, releaseRun, previousRunLine, unmarkedLine } = require('../../../scripts/lib/run-marker') as {
  claimRun(
    dir: string,
    o: { embeddedBroker: boolean },
    isLive?: (pid: number) => boolean
  ): Record<string, unknown> | null;
  releaseRun(dir: string): void;
  previousRunLine(p: Record<string, unknown> | null): string | null;
  unmarkedLine(p: Record<string, unknown> | null): string | null;
};

describe('npm start: the marker of a run', () => {
  let dir = '';
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-run-marker-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a run that stops in order leaves nothing to say; one that did not is said, with what the broker lost', () => {
    assert.equal(claimRun(dir, { embeddedBroker: true }), null, 'a fresh home');
    releaseRun(dir);
    assert.equal(fs.existsSync(path.join(dir, 'run.json')), false);
    assert.equal(claimRun(dir, { embeddedBroker: true }), null, 'after a stop in order');
    // killed: the marker stays; the next start (a new pid, the old one dead) finds it
    const marker = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...marker, pid: 999_999_999 }));
    const previous = claimRun(dir, { embeddedBroker: false }, () => false);
    assert.equal(previous!.pid, 999_999_999);
    assert.equal(previous!.live, false);
    const line = previousRunLine(previous)!;
    assert.match(line, /^the previous run \(pid 999999999, started \d{4}-\d\d-\d\dT[^)]+\) did not stop in order/);
    assert.match(line, /embedded broker keeps nothing on disk/, 'the previous run had the embedded broker');
    // this run's own marker replaced it, and says this run has no embedded broker
    const mine = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
    assert.equal(mine.pid, process.pid);
    assert.equal(mine.embedded_broker, false);
    releaseRun(dir);
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ ...mine, pid: 999_999_998 }));
    assert.doesNotMatch(previousRunLine(claimRun(dir, { embeddedBroker: true }, () => false))!, /embedded broker/);
  });

  it('a full disk does not keep the run from starting: it is said, the earlier marker is still told, no temporary file is left (operator round 2026-12-07: a raw ENOSPC stack, and no start)', function () {
    if (!fs.existsSync('/dev/full')) this.skip(); // Linux: every write to it fails with ENOSPC
    const tmp = path.join(dir, `run.json.${process.pid}.tmp`);
    fs.symlinkSync('/dev/full', tmp);
    const fresh = claimRun(dir, { embeddedBroker: true });
    assert.equal(previousRunLine(fresh), null, 'no earlier run');
    assert.equal(
      unmarkedLine(fresh),
      'could not write the run marker run.json in MOBY_HOME (ENOSPC: the disk is full): starting without it, so if this run does not stop in order the next start cannot say so'
    );
    assert.equal(fs.existsSync(tmp), false, 'the temporary file is removed');
    // killed while the disk was full: the older marker is still there, and still told
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ pid: 999_999_997, started_at: 'then' }));
    fs.symlinkSync('/dev/full', tmp);
    const after = claimRun(dir, { embeddedBroker: true }, () => false);
    assert.match(previousRunLine(after)!, /^the previous run \(pid 999999997, started then\) did not stop in order/);
    assert.match(unmarkedLine(after)!, /ENOSPC: the disk is full/);
    assert.equal(
      unmarkedLine(claimRun(dir, { embeddedBroker: true }, () => false)),
      null,
      'written once there is room'
    );
  });

  it('another live run on the same home is said and its marker kept; a torn marker counts as an unfinished run', () => {
    fs.writeFileSync(
      path.join(dir, 'run.json'),
      JSON.stringify({ pid: 4242, started_at: 'then', embedded_broker: true })
    );
    const previous = claimRun(dir, { embeddedBroker: true }, (pid) => pid === 4242);
    assert.match(previousRunLine(previous)!, /^another npm start \(pid 4242, started then\) uses this MOBY_HOME/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).pid, 4242, 'not taken over');
    releaseRun(dir);
    assert.equal(fs.existsSync(path.join(dir, 'run.json')), true, 'not ours to remove');
    fs.writeFileSync(path.join(dir, 'run.json'), '{"pid": 12');
    assert.match(
      previousRunLine(claimRun(dir, { embeddedBroker: true }, () => false))!,
      /^the previous run did not stop in order/
    );
  });
});
