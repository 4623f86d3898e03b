// A real redis-server (Debian's) on a free loopback port with a throwaway dir; can be killed and restarted
// on the same port to test outages.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { canConnect, freePort, requireBinary, waitFor } from './net';
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

export interface RedisForTests {
  /** the server of the describe block (set in its before hook) */
  server: RedisServer;
  /** clients the tests opened: disconnected after the block */
  clients: Redis[];
}

/**
 * For a describe block: one redis-server for its tests (missing binary: a failure under CI, else a skip) and the
 * clients they push to `clients`, disconnected before the server stops.
 */
export function useRedisServer(): RedisForTests {
  const env = { clients: [] as Redis[] } as RedisForTests;
  before(async function () {
    env.server = await startRedis(requireBinary(this, 'redis-server'));
  });
  after(async () => {
    for (const c of env.clients) c.disconnect();
    await env.server?.stop();
  });
  return env;
}
