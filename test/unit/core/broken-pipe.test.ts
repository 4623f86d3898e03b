// ignoreBrokenPipes with real pipes: a child whose stdout reader is gone (npm start killed with kill -9) keeps
// running to its own end instead of dying of EPIPE on its next log line. Without it (the control), the same
// child is ended by the error, which is what cut Node-RED's shutdown short before its context store was written.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const helper = path.resolve(__dirname, '..', '..', '..', 'nodes', 'core', 'broken-pipe.ts');

/** Runs a child that logs every 10 ms, closes its stdout's reader after the first line, and says how it ended. */
function runChild(ignore: boolean): Promise<{ code: number | null; finished: boolean }> {
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'moby-pipe-')), 'finished');
  const script = `
    ${ignore ? `require(${JSON.stringify(helper)}).ignoreBrokenPipes(process.stdout, process.stderr);` : ''}
    const t = setInterval(() => console.log('a log line while stopping'), 10);
    setTimeout(() => { clearInterval(t); require('fs').writeFileSync(${JSON.stringify(marker)}, 'yes'); process.exit(0); }, 400);
  `;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  child.stdout!.once('data', () => child.stdout!.destroy()); // the reader dies (as start.js under kill -9)
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, finished: fs.existsSync(marker) })));
}

describe('ignoreBrokenPipes (a child whose log reader died)', function () {
  this.timeout(30000);

  it('the child runs to its own end and exits 0', async () => {
    assert.deepEqual(await runChild(true), { code: 0, finished: true });
  });

  it('control: without it, the next log line ends the child before it finishes', async () => {
    const r = await runChild(false);
    assert.notEqual(r.code, 0);
    assert.equal(r.finished, false);
  });
});
