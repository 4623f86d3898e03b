// A real Node-RED process for crash tests: `node node_modules/node-red/red.js --userDir <dir> --settings
// <generated>` in its own process group (so the whole group can be SIGKILLed like `docker kill` or the OOM
// killer would), with this package linked into the user directory as scripts/start.js does and settings =
// flows/settings.js with a free port. The same user directory (flows, context, spool) is reused on restart.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, waitFor } from './net';
import { encryptCredentials } from './secure-nodered';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string };

/** The alert API token these processes get (MOBY_API_TOKEN, which the pipeline's alert node takes as credential). */
export const PROCESS_API_TOKEN = 'nodered-process-token-0123456789abcdef';
export const PROCESS_AUTH = { authorization: `Bearer ${PROCESS_API_TOKEN}` };

export interface NodeRedProcess {
  port: number;
  url: string;
  userDir: string;
  /** output of the current run */
  output(): string;
  /** output of every run so far */
  allOutput(): string;
  running(): boolean;
  /** starts Node-RED and waits until `readyPattern` appears in this run's output */
  start(): Promise<void>;
  /** SIGKILLs the whole process group and waits for the exit */
  kill(): Promise<void>;
  /** sends `signal` to the process group and returns (SIGSTOP / SIGCONT: a hung process and its recovery) */
  signal(signal: NodeJS.Signals): void;
  /** SIGINT (Node-RED closes its nodes) and waits; SIGKILL after 15 s */
  stop(): Promise<void>;
  /** stops and removes the user directory */
  close(): Promise<void>;
}

export async function nodeRedProcess(opts: {
  name: string;
  flow: unknown[];
  env: NodeJS.ProcessEnv;
  readyPattern: RegExp;
  userDir?: string;
}): Promise<NodeRedProcess> {
  const port = await freePort();
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `moby-nr-${opts.name}-`));
  const link = path.join(userDir, 'node_modules', pkg.name);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(root, link, 'dir');
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'moby-test-userdir', private: true, dependencies: { [pkg.name]: `file:${root}` } })
  );
  // flows/settings.js has no built-in secrets (issue #10): a credential secret and an editor login of this
  // run's own, and the flow's `credentials` blocks (environment references) written to flows_cred.json the
  // way scripts/start.js writes them
  const secret = randomBytes(32).toString('hex');
  const bcrypt = require(
    require.resolve('bcryptjs', { paths: [path.dirname(require.resolve('node-red/package.json'))] })
  );
  const adminHash: string = bcrypt.hashSync(randomBytes(18).toString('base64'), 4);
  const creds: Record<string, Record<string, string>> = {};
  const flow = (opts.flow as Array<Record<string, unknown>>).map((n) => {
    if (!n.credentials) return n;
    const { credentials, ...rest } = n;
    creds[n.id as string] = credentials as Record<string, string>;
    return rest;
  });
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow, null, 2));
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(encryptCredentials(secret, creds)));
  const settingsFile = path.join(userDir, 'test-settings.js');
  fs.writeFileSync(
    settingsFile,
    [
      "'use strict';",
      `const base = require(${JSON.stringify(path.join(root, 'flows', 'settings.js'))});`,
      `module.exports = { ...base, uiPort: ${port}, uiHost: '127.0.0.1', flowFile: 'flows.json', logging: { console: { level: 'info', metrics: false, audit: false } } };`,
      '',
    ].join('\n')
  );
  let child: ChildProcess | null = null;
  let out = '';
  let all = '';
  let exited: Promise<void> = Promise.resolve();
  const alive = () => child !== null && child.exitCode === null && child.signalCode === null;

  const killGroup = async (signal: NodeJS.Signals, graceMs?: number) => {
    if (!child || !alive()) return;
    const c = child;
    try {
      process.kill(-c.pid!, signal);
    } catch {
      c.kill(signal);
    }
    let t: NodeJS.Timeout | undefined;
    if (graceMs) t = setTimeout(() => killGroup('SIGKILL'), graceMs);
    await exited;
    if (t) clearTimeout(t);
  };

  const api: NodeRedProcess = {
    signal: (signal) => {
      if (child && alive()) process.kill(-child.pid!, signal);
    },
    port,
    url: `http://127.0.0.1:${port}`,
    userDir,
    output: () => out,
    allOutput: () => all,
    running: alive,
    async start() {
      out = '';
      const c = spawn(
        process.execPath,
        [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', settingsFile],
        {
          cwd: userDir,
          env: {
            ...process.env,
            MOBY_CREDENTIAL_SECRET: secret,
            MOBY_ADMIN_PASSWORD_HASH: adminHash,
            MOBY_API_TOKEN: PROCESS_API_TOKEN,
            ...opts.env,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true, // own process group: kill() takes everything Node-RED started
        }
      );
      child = c;
      exited = new Promise<void>((r) => c.once('exit', () => r()));
      const take = (d: Buffer) => {
        out += d;
        all += d;
      };
      c.stdout!.on('data', take);
      c.stderr!.on('data', take);
      await waitFor(
        () => {
          if (c.exitCode !== null)
            throw new Error(`Node-RED (${opts.name}) exited with ${c.exitCode}\n${out.slice(-3000)}`);
          // red.js starts the flows first and only then listens: "Started flows" alone raced the first request
          // (ECONNREFUSED in CI); "Server now running at" is logged from the listen callback
          return /Started flows/.test(out) && /Server now running at/.test(out) && opts.readyPattern.test(out);
        },
        90000,
        `Node-RED (${opts.name}) started`,
        100
      );
    },
    kill: () => killGroup('SIGKILL'),
    stop: () => killGroup('SIGINT', 15000),
    async close() {
      await killGroup('SIGKILL');
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
  return api;
}
