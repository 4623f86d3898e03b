// Node-RED the way `npm start` runs it — scripts/node-red.js (the admin guard in front) with
// flows/settings.js (adminAuth, credential secret, MOBY's token) — but with a test flow instead of the
// pipeline, the package linked into a temporary userDir, and known secrets: the attack tests talk to the
// real runtime with exactly the shipped security settings.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './net';
import { hashToken } from '../../nodes/core/http-guard';

const root = path.resolve(__dirname, '..', '..');

export interface SecureNodeRed {
  url: string;
  port: number;
  userDir: string;
  password: string;
  token: string;
  credentialSecret: string;
  output: string[];
  /** an admin API bearer token obtained with the password (the editor's login) */
  login(): Promise<string>;
  stop(): Promise<void>;
}

/** Writes flows_cred.json the way Node-RED does with a credential secret (AES-256-CTR, sha256 key). */
export function encryptCredentials(secret: string, creds: unknown): { $: string } {
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = crypto.randomBytes(16);
  const c = crypto.createCipheriv('aes-256-ctr', key, iv);
  return { $: iv.toString('hex') + c.update(JSON.stringify(creds), 'utf8', 'base64') + c.final('base64') };
}

export function decryptCredentials(secret: string, file: { $: string }): unknown {
  const key = crypto.createHash('sha256').update(secret).digest();
  const d = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(file.$.slice(0, 32), 'hex'));
  return JSON.parse(d.update(file.$.slice(32), 'base64', 'utf8') + d.final('utf8'));
}

function bcryptHash(pw: string): string {
  const bcrypt = require(
    require.resolve('bcryptjs', { paths: [path.dirname(require.resolve('node-red/package.json'))] })
  );
  return bcrypt.hashSync(pw, 8);
}

export async function startSecureNodeRed(
  flow: Array<Record<string, unknown>>,
  env: NodeJS.ProcessEnv = {}
): Promise<SecureNodeRed> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-secure-nr-'));
  const port = await freePort();
  const password = crypto.randomBytes(18).toString('base64url');
  const token = crypto.randomBytes(32).toString('base64url');
  const credentialSecret = crypto.randomBytes(32).toString('base64url');
  fs.mkdirSync(path.join(userDir, 'node_modules', '@moby-iot'), { recursive: true });
  fs.symlinkSync(root, path.join(userDir, 'node_modules', '@moby-iot', 'node-red-moby'), 'dir');
  const creds: Record<string, unknown> = {};
  const nodes = flow.map((n) => {
    const { credentials, ...rest } = n;
    if (credentials) creds[n.id as string] = credentials;
    return rest;
  });
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(nodes));
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(encryptCredentials(credentialSecret, creds)));
  const output: string[] = [];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      path.join(root, 'scripts', 'node-red.js'),
      '--userDir',
      userDir,
      '--settings',
      path.join(root, 'flows', 'settings.js'),
    ],
    {
      cwd: userDir,
      env: {
        ...process.env,
        MOBY_PORT: String(port),
        MOBY_HOST: '127.0.0.1',
        MOBY_LOG_LEVEL: 'warn',
        MOBY_CREDENTIAL_SECRET: credentialSecret,
        MOBY_ADMIN_PASSWORD_HASH: bcryptHash(password),
        // as npm start hands it over: only the hash of the token
        MOBY_API_TOKEN: hashToken(token),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  );
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`node-red exited: ${output.join('')}`);
      const r = await fetch(`${url}/moby/alerts`, { headers: { authorization: `Bearer ${token}` } }).catch(() => null);
      return r !== null && r.status === 200;
    },
    30000,
    'Node-RED serving /moby/alerts',
    100
  );
  return {
    url,
    port,
    userDir,
    password,
    token,
    credentialSecret,
    output,
    async login() {
      const r = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: 'node-red-admin',
          grant_type: 'password',
          scope: '*',
          username: 'admin',
          password,
        }),
      });
      if (r.status !== 200) throw new Error(`login: HTTP ${r.status}`);
      return ((await r.json()) as { access_token: string }).access_token;
    },
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}
