// The spool under a real crash: a child process appends and acknowledges batches and is SIGKILLed at a
// random moment, three times on the same directory. Whatever it reported as appended and not acknowledged
// must be there after reopening, in order, with no gaps; what it reported as acknowledged must be gone.
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Spool } from '../../../../nodes/core/influx/spool';
import { sleep, waitFor } from '../../../support/net';

interface Report {
  ready?: boolean;
  appended?: number;
  acked?: number;
}

async function runAndKill(
  dir: string,
  mode: string,
  killAfterMs: number
): Promise<{ maxAppended: number; maxAcked: number }> {
  const child = fork(path.join(__dirname, '../../../support/influx-spool-child.ts'), [dir, mode], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let ready = false;
  let maxAppended = -1;
  let maxAcked = -1;
  child.on('message', (m: Report) => {
    if (m.ready) ready = true;
    if (m.appended !== undefined) maxAppended = Math.max(maxAppended, m.appended);
    if (m.acked !== undefined) maxAcked = Math.max(maxAcked, m.acked);
  });
  await waitFor(() => ready, 15000, 'child ready');
  await sleep(killAfterMs);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  return { maxAppended, maxAcked };
}

describe('influx spool: SIGKILL while appending and acknowledging', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-spool-crash-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['fsync', 'nofsync']) {
    it(`keeps every reported append, drops every reported ack, no gaps (${mode})`, async () => {
      let torn = 0;
      for (let round = 0; round < 3; round++) {
        const { maxAppended, maxAcked } = await runAndKill(dir, mode, 150 + Math.floor(Math.random() * 300));
        assert.ok(maxAppended > 0, 'the child appended something before the kill');
        const s = Spool.open({ dir, fsync: false });
        torn += s.corruptRecords;
        const seqs: number[] = [];
        for (let b = s.peek(); b; b = s.peek()) {
          seqs.push(Number(/seq=(\d+)/.exec(b[0])![1]));
          assert.equal(b.length, 400, 'records are whole');
          s.ack();
        }
        s.close();
        // each round starts numbering at 0 again, on top of what earlier rounds left (now drained above)
        assert.ok(seqs.length > 0 || maxAcked >= maxAppended, 'unacknowledged batches survive');
        if (seqs.length > 0) {
          assert.ok(seqs[0] > maxAcked, `acknowledged batch ${seqs[0]} came back (last reported ack ${maxAcked})`);
          assert.ok(
            seqs[seqs.length - 1] >= maxAppended,
            `reported append ${maxAppended} lost (spool ends at ${seqs[seqs.length - 1]})`
          );
          for (let k = 1; k < seqs.length; k++) assert.equal(seqs[k], seqs[k - 1] + 1, 'in order, no gaps');
        }
      }
      assert.ok(torn <= 3, `at most one torn record per crash, got ${torn}`);
    });
  }
});
