// A real VictoriaMetrics (Debian's single-node binary) on a free loopback port with a throwaway
// -storageDataPath. It takes InfluxDB line protocol at /api/v2/write and exports raw samples at
// /api/v1/export; it can be stopped and started again on the same port and data dir to test outages.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { freePort, waitFor } from './net';
import { restartable } from './service';

export interface Victoria {
  port: number;
  url: string;
  /** SIGTERM (VictoriaMetrics flushes what it acknowledged) and wait for exit */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** raw samples per series of `metric` (forces a flush first) */
  export(match: string): Promise<Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>>;
  close(): Promise<void>;
}

function get(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function startVictoria(bin: string): Promise<Victoria> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-victoria-'));
  const url = `http://127.0.0.1:${port}`;
  const { start, stop } = restartable(
    () =>
      spawn(
        bin,
        [
          `-httpListenAddr=127.0.0.1:${port}`,
          `-storageDataPath=${dir}`,
          '-retentionPeriod=100y',
          '-loggerLevel=ERROR',
          '-search.latencyOffset=0s',
        ],
        {
          stdio: 'ignore',
        }
      ),
    () => waitFor(async () => (await get(`${url}/health`)).status === 200, 20000, `victoria-metrics on ${port}`, 100)
  );
  await start();
  return {
    port,
    url,
    start,
    stop,
    async export(match: string) {
      await get(`${url}/internal/force_flush`);
      const res = await get(`${url}/api/v1/export?match[]=${encodeURIComponent(match)}&start=0`);
      if (res.status !== 200) throw new Error(`export: ${res.status} ${res.body}`);
      return res.body
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l));
    },
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
