// A self-signed certificate for localhost, made with openssl for one test (nobody trusts it unless told to).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  key: Buffer;
  cert: Buffer;
  /** removes the files */
  remove(): void;
}

export function selfSignedLocalhost(): TestCert {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ],
    { stdio: 'ignore' }
  );
  return {
    key: fs.readFileSync(key),
    cert: fs.readFileSync(cert),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
