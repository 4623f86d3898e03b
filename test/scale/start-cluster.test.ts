// `npm run start:cluster` (scripts/start-cluster.js) stopped by a terminal's Ctrl+C, which signals the whole
// foreground process group. Its children were in that group: each instance got SIGINT from the terminal and again
// from the script's own shutdown, took the second for "stop now, without waiting" and skipped its orderly stop,
// and Redis and NATS stopped with the instances instead of after them (verification round 2026-12-07).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, requireBinary, waitFor } from '../support/net';

const root = path.resolve(__dirname, '..', '..');

describe('npm run start:cluster and a terminal’s Ctrl+C', function () {
  this.timeout(300_000);

  it('stops every instance once, in order, before Redis and NATS, and exits 0', async function () {
    for (const bin of ['nats-server', 'redis-server']) requireBinary(this, bin);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-cluster-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MOBY_CLUSTER_HOME: home,
      MOBY_CLUSTER_INSTANCES: '1',
      MOBY_PORT: String(await freePort()),
      MOBY_SIM: '0',
    };
    for (const k of ['MOBY_REDIS_URL', 'MOBY_INFLUX_URL', 'MOBY_MQTT_URL', 'MOBY_HOME']) delete env[k];
    // the script leads a process group of its own, as in a terminal
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'start-cluster.js')], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /press Ctrl\+C to stop everything/.test(output), 180_000, 'the cluster up', 500).catch(
        (err: Error) => {
          throw new Error(`${err.message}:\n${output.slice(-3000)}`);
        }
      );
      process.kill(-child.pid!, 'SIGINT'); // what a terminal sends on Ctrl+C: to the whole group
      const code = await Promise.race([
        exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000).unref()),
      ]);
      assert.equal(code, 0, `exit code; output:\n${output.slice(-3000)}`);
      assert.doesNotMatch(output, /stopping now, without waiting/, 'no instance took a second SIGINT');
      assert.doesNotMatch(output, /You insist/, 'Redis was stopped once');
      const instanceStop = output.search(/\[moby-0\].*shutting down/);
      assert.ok(instanceStop >= 0, `the instance stopped in order:\n${output.slice(-3000)}`);
      // the pipeline's client id is a secret here (NATS 2.9 hands an MQTT session to whoever names its id): the
      // instance logs the id it connected as, and the script prints that line with the id hidden
      const { MOBY_MQTT_CLIENT_ID: clientId } = JSON.parse(
        fs.readFileSync(path.join(home, 'cluster-secrets.json'), 'utf8')
      );
      assert.ok(clientId.length > 20, 'a secret client id was made');
      assert.ok(!output.includes(clientId), 'the output never shows the pipeline client id');
      assert.match(output, /\[moby-0\].*connected to .* as <the pipeline client id in cluster-secrets\.json>/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      // after a failure: the servers it started (their own process groups) name the cluster home in their arguments
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let cmd: string;
        try {
          cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue;
        }
        if (cmd.includes(home))
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* gone */
          }
      }
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
