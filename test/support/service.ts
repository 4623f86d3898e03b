// A service process the tests can stop and start again on the same port and data dir (outage tests).
import { ChildProcess } from 'node:child_process';

export interface Restartable {
  start(): Promise<void>;
  /** Stops the process (no-op when it is not running) and waits for it to exit. */
  stop(): Promise<void>;
}

export function restartable(
  spawnProcess: () => ChildProcess,
  ready: () => Promise<unknown>,
  signal: NodeJS.Signals = 'SIGTERM'
): Restartable {
  let proc: ChildProcess | null = null;
  return {
    async start() {
      proc = spawnProcess();
      await ready();
    },
    async stop() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill(signal);
      });
    },
  };
}
