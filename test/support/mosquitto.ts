// A real Mosquitto broker (Debian's) on a free loopback port with a generated config whose queue for
// offline persistent sessions is large enough for an outage test (the default keeps only 1000 messages).
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canConnect, freePort, waitFor } from './net';

export interface MosquittoBroker {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startMosquittoBroker(
  bin: string,
  opts: {
    maxQueuedMessages?: number;
    /** unacknowledged messages in flight per client (Mosquitto's default: 20) */ maxInflight?: number;
    /** keep sessions in mosquitto.db */ persistence?: boolean;
  } = {}
): Promise<MosquittoBroker> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...(opts.persistence
        ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 5']
        : ['persistence false']),
      ...(opts.maxInflight !== undefined ? [`max_inflight_messages ${opts.maxInflight}`] : []),
      `max_queued_messages ${opts.maxQueuedMessages ?? 200000}`,
      'max_queued_bytes 0',
      'log_dest none',
      '',
    ].join('\n')
  );
  const proc: ChildProcess = spawn(bin, ['-c', conf], { stdio: 'ignore' });
  await waitFor(() => canConnect(port), 10000, `mosquitto on ${port}`);
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        };
        if (proc.exitCode !== null) return done();
        proc.once('exit', done);
        proc.kill('SIGTERM');
      }),
  };
}
