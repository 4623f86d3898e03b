// A real InfluxDB 1.x (Debian's `influxd`, package `influxdb`) on free loopback ports with a throwaway
// meta/data/wal directory: it takes line protocol at the v1 `/write` API and answers InfluxQL at `/query`,
// which is what the provisioned Grafana dashboards are tested against.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './net';

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxDb1 {
  url: string;
  port: number;
  /** runs InfluxQL (GET /query, epoch=ms) and returns the first statement's series; throws on an error */
  query(q: string, db?: string): Promise<InfluxSeries[]>;
  close(): Promise<void>;
}

export interface InfluxDb1Options {
  /** enable authentication with this admin user (created through InfluxQL before the first write) */
  admin?: { username: string; password: string };
}

export async function startInfluxDb1(bin: string, opts: InfluxDb1Options = {}): Promise<InfluxDb1> {
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-influxd-'));
  const config = path.join(dir, 'influxdb.conf');
  // everything that would open another port or phone home is switched off
  fs.writeFileSync(
    config,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${dir}/meta"`,
      '[data]',
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      '  query-log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${httpPort}"`,
      '  log-enabled = false',
      `  auth-enabled = ${opts.admin ? 'true' : 'false'}`,
      '[continuous_queries]',
      '  enabled = false',
      '[subscriber]',
      '  enabled = false',
      '',
    ].join('\n')
  );
  const url = `http://127.0.0.1:${httpPort}`;
  const output: string[] = [];
  const proc: ChildProcess = spawn(bin, ['-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  proc.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null) throw new Error(`influxd exited ${proc.exitCode}: ${output.join('').slice(-2000)}`);
        return (await fetch(`${url}/ping`)).status === 204;
      },
      30000,
      `influxd on ${httpPort}`,
      100
    );
  } catch (err) {
    proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const headers: Record<string, string> = opts.admin
    ? { authorization: `Basic ${Buffer.from(`${opts.admin.username}:${opts.admin.password}`).toString('base64')}` }
    : {};
  const db1: InfluxDb1 = {
    url,
    port: httpPort,
    async query(q: string, db?: string) {
      const params = new URLSearchParams({ q, epoch: 'ms' });
      if (db) params.set('db', db);
      const res = await fetch(`${url}/query`, { method: 'POST', body: params, headers });
      const body = (await res.json()) as {
        error?: string;
        results?: Array<{ error?: string; series?: InfluxSeries[] }>;
      };
      const err = body.error ?? body.results?.find((r) => r.error)?.error;
      if (res.status !== 200 || err) throw new Error(`InfluxQL ${JSON.stringify(q)}: ${res.status} ${err ?? ''}`);
      return body.results?.[0]?.series ?? [];
    },
    async close() {
      if (proc.exitCode === null) {
        await new Promise<void>((resolve) => {
          proc.once('exit', () => resolve());
          proc.kill('SIGTERM');
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  // with auth enabled InfluxDB accepts exactly one unauthenticated statement: creating the first admin
  if (opts.admin)
    await db1.query(`CREATE USER "${opts.admin.username}" WITH PASSWORD '${opts.admin.password}' WITH ALL PRIVILEGES`);
  return db1;
}
