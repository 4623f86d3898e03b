// A real redis-server (Debian's) on a free loopback port with a throwaway dir; can be killed and restarted
// on the same port to test outages.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort, waitFor } from './net';
import { restartable } from './service';

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRedis(bin: string): Promise<RedisServer> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-redis-'));
  const { start, stop } = restartable(
    () =>
      spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      }),
    () => waitFor(() => canConnect(port), 10000, `redis-server on ${port}`),
    'SIGKILL' // an outage, not a clean shutdown
  );
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
