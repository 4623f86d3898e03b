// The secrets `npm start` needs, per state directory (MOBY_HOME): the editor login, the alert API token, the
// key that encrypts Node-RED's credentials and the devices' master key. Nothing is built in: each is taken
// from the environment or generated on the first start and kept in <MOBY_HOME>/secrets/ (directory 0700,
// files 0600). The password and the token are stored only as hashes, so they are shown once, when generated.
// The master key was a development key built into start.js until the red-team round of 2026-12-06: it is in the
// public repository, so any local broker client could sign as any simulated device (forged wills and births
// opened critical OFFLINE alerts on live machines, forged telemetry was accepted).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hashToken } from '../core/http-guard';

export type Source = 'env' | 'file' | 'generated';

export interface LocalSecrets {
  dir: string;
  /** bcrypt hash for adminAuth */
  adminHash: string;
  adminSource: Source;
  /** the generated password, present only on the start that created it */
  adminPassword?: string;
  /** what Node-RED gets as MOBY_API_TOKEN: the token from the environment, or "sha256:<hex>" of a stored one */
  apiToken: string;
  apiSource: Source;
  /** the generated token, present only on the start that created it */
  apiTokenPlain?: string;
  credentialSecret: string;
  credentialSource: Source;
  /** the master key the simulator's device keys derive from (`hex:` + 64 hex digits when generated) */
  masterKey: string;
  masterKeySource: Source;
  /** files (narrowed to 0600) and directories (0700) that were open to group/others */
  fixedModes: string[];
  files: { admin: string; api: string; credential: string; master: string };
}

/** 32 random bytes as base64url (43 characters, 256 bits). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

function readSecret(file: string, fixed: string[]): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    fs.chmodSync(file, 0o600);
    fixed.push(file);
  }
  const v = fs.readFileSync(file, 'utf8').trim();
  return v || undefined;
}

/**
 * Creates `dir` owner-only (0700), or narrows it to that when it exists open to group/others (listed in `fixed`).
 * Node-RED writes its user directory's files with the process's umask (`.sessions.json`, the editor's live login
 * tokens, 0644), so only the directory keeps other local users out: a MOBY_HOME that existed as 0755 left the
 * tokens readable by any local user (red-team round 2026-12-06).
 */
export function privateDir(dir: string, fixed: string[]): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  if ((fs.statSync(dir).mode & 0o077) !== 0) {
    fs.chmodSync(dir, 0o700);
    fixed.push(dir);
  }
}

function writeSecret(file: string, value: string): void {
  // 'wx': never overwrite a secret another start wrote in the meantime; mode applies on creation
  fs.writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
}

/**
 * One secret: the environment's value when set, else the stored file's, else a new one (made by
 * `generate`, which may keep the plain text for the first-start banner) written to the file.
 */
function resolveSecret(
  fromEnv: string | undefined,
  file: string,
  fixedModes: string[],
  generate: () => string
): { value: string; source: Source } {
  if (fromEnv) return { value: fromEnv, source: 'env' };
  const stored = readSecret(file, fixedModes);
  if (stored) return { value: stored, source: 'file' };
  const value = generate();
  writeSecret(file, value);
  return { value, source: 'generated' };
}

/**
 * Resolves the four secrets. `hashPassword` makes a bcrypt hash (Node-RED's bcryptjs), passed in so this
 * module needs no dependency of its own. Environment: MOBY_ADMIN_PASSWORD_HASH, else MOBY_ADMIN_PASSWORD;
 * MOBY_API_TOKEN; MOBY_CREDENTIAL_SECRET; MOBY_MASTER_KEY.
 */
export function prepareSecrets(
  home: string,
  env: NodeJS.ProcessEnv,
  hashPassword: (pw: string) => string
): LocalSecrets {
  const dir = path.join(home, 'secrets');
  const fixedModes: string[] = [];
  privateDir(dir, fixedModes);
  // Node-RED's user directory (scripts/start.js): login sessions, flow credentials, the spool's telemetry
  privateDir(path.join(home, 'userdir'), fixedModes);
  const files = {
    admin: path.join(dir, 'admin-password.bcrypt'),
    api: path.join(dir, 'api-token.sha256'),
    credential: path.join(dir, 'credential-secret'),
    master: path.join(dir, 'device-master-key'),
  };

  let adminPassword: string | undefined;
  let adminFromEnv: string | undefined;
  if (env.MOBY_ADMIN_PASSWORD_HASH) {
    if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(env.MOBY_ADMIN_PASSWORD_HASH))
      throw new Error('MOBY_ADMIN_PASSWORD_HASH is not a bcrypt hash (make one with `npx node-red admin hash-pw`)');
    adminFromEnv = env.MOBY_ADMIN_PASSWORD_HASH;
  } else if (env.MOBY_ADMIN_PASSWORD) {
    if (env.MOBY_ADMIN_PASSWORD.length < 12) throw new Error('MOBY_ADMIN_PASSWORD must be at least 12 characters');
    adminFromEnv = hashPassword(env.MOBY_ADMIN_PASSWORD);
  }
  const admin = resolveSecret(adminFromEnv, files.admin, fixedModes, () => {
    adminPassword = randomSecret(18); // 24 characters, 144 bits
    return hashPassword(adminPassword);
  });

  if (env.MOBY_API_TOKEN && env.MOBY_API_TOKEN.length < 16 && !env.MOBY_API_TOKEN.startsWith('sha256:'))
    throw new Error('MOBY_API_TOKEN must be at least 16 characters');
  let apiTokenPlain: string | undefined;
  const api = resolveSecret(env.MOBY_API_TOKEN, files.api, fixedModes, () => {
    apiTokenPlain = randomSecret();
    return hashToken(apiTokenPlain);
  });

  const credential = resolveSecret(env.MOBY_CREDENTIAL_SECRET, files.credential, fixedModes, () => randomSecret());
  // kept in plain text: the simulator (and any device the integrator provisions from it) needs the key itself
  const master = resolveSecret(
    env.MOBY_MASTER_KEY,
    files.master,
    fixedModes,
    () => `hex:${randomBytes(32).toString('hex')}`
  );
  return {
    dir,
    adminHash: admin.value,
    adminSource: admin.source,
    adminPassword,
    apiToken: api.value,
    apiSource: api.source,
    apiTokenPlain,
    credentialSecret: credential.value,
    credentialSource: credential.source,
    masterKey: master.value,
    masterKeySource: master.source,
    fixedModes,
    files,
  };
}
