// `npm start` with a port somebody else holds: one line saying which port, what it was for and which
// variable moves ours (MOBY_PORT for the editor, MOBY_BROKER_PORT for the embedded broker), exit code 1,
// and no EADDRINUSE stack trace; nothing is left running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/net';

const root = path.resolve(__dirname, '..', '..');

function runStart(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += String(d)));
    child.stderr!.on('data', (d) => (output += String(d)));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('npm start with a busy port', function () {
  this.timeout(60000);
  let holder: net.Server;
  let busy = 0;
  let home = '';
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    busy = (holder.address() as net.AddressInfo).port;
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-start-ports-'));
    env = { ...process.env, MOBY_HOME: home, MOBY_SIM: '0' };
    for (const k of ['MOBY_MQTT_URL', 'MOBY_HOST', 'MOBY_PORT', 'MOBY_BROKER_PORT']) delete env[k];
  });
  afterEach(async () => {
    await new Promise((r) => holder.close(r));
    fs.rmSync(home, { recursive: true, force: true });
  });

  function assertOneLine(output: string, port: number, what: RegExp, variable: string) {
    const lines = output.split('\n').filter((l) => /already in use/.test(l));
    assert.equal(lines.length, 1, output);
    assert.match(
      lines[0],
      new RegExp(`^\\[moby\\] port ${port} on 127\\.0\\.0\\.1 \\(${what.source}\\) is already in use`)
    );
    assert.match(lines[0], new RegExp(`${variable}=${port + 1} npm start`));
    assert.doesNotMatch(output, /EADDRINUSE|^\s+at /m, 'no raw error or stack trace');
    assert.doesNotMatch(output, /Node-RED editor: http/, 'no URL printed');
  }

  it('editor port taken: names MOBY_PORT and starts nothing', async () => {
    const { code, output } = await runStart({
      ...env,
      MOBY_PORT: String(busy),
      MOBY_BROKER_PORT: String(await freePort()),
    });
    assert.equal(code, 1);
    assertOneLine(output, busy, /Node-RED editor/, 'MOBY_PORT');
    assert.doesNotMatch(output, /embedded MQTT broker \(aedes/, 'checked before the broker starts');
  });

  it('embedded broker port taken: names MOBY_BROKER_PORT and MOBY_MQTT_URL', async () => {
    const { code, output } = await runStart({
      ...env,
      MOBY_PORT: String(await freePort()),
      MOBY_BROKER_PORT: String(busy),
    });
    assert.equal(code, 1);
    assertOneLine(output, busy, /embedded MQTT broker/, 'MOBY_BROKER_PORT');
    assert.match(output, new RegExp(`MOBY_MQTT_URL=mqtt://127\\.0\\.0\\.1:${busy}`));
  });
});
