// core/influx/outage-mark.ts: when a writer's outage began, kept beside its spool across a restart or a crash.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readOutageMark, writeOutageMark } from '../../../../nodes/core/influx/outage-mark';

describe('outage mark (when the database outage began, across a restart)', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-outage-mark-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads what was written, and nothing once removed', () => {
    assert.equal(readOutageMark(dir), null);
    assert.equal(writeOutageMark(dir, 1_700_000_000_000), null);
    assert.equal(readOutageMark(dir, 1_700_000_100_000), 1_700_000_000_000);
    assert.equal(writeOutageMark(dir, null), null);
    assert.equal(readOutageMark(dir), null);
    assert.equal(writeOutageMark(dir, null), null, 'removing what is not there is no error');
  });

  it('a torn, odd or future mark reads as none (the clock then starts at the restart, as before)', () => {
    const file = path.join(dir, 'outage-since.json');
    for (const text of ['{"since": 17', '{"since": "1"}', '{"since": -5}', '[]', 'null']) {
      fs.writeFileSync(file, text);
      assert.equal(readOutageMark(dir), null, text);
    }
    fs.writeFileSync(file, JSON.stringify({ since: 2_000 }));
    assert.equal(readOutageMark(dir, 1_000), null, 'in the future: a clock stepped back');
  });

  it('a directory it cannot write says why instead of throwing', () => {
    assert.match(String(writeOutageMark(path.join(dir, 'missing', 'deeper'), 5)), /ENOENT/);
  });
});
