// Small helpers shared by tests: free loopback ports, polling, and the rule that service-backed tests
// fail (not skip) in CI when the service binary is missing.
import net from 'node:net';
import { execFileSync } from 'node:child_process';

// one allocator for the whole test process, shared with the cluster scripts, so no two services started
// side by side (e.g. a NATS cluster, Redis and VictoriaMetrics in Promise.all) are given the same port
const { freePort: sharedFreePort } = require('../../scripts/lib/free-port.js') as { freePort(): Promise<number> };

export function freePort(): Promise<number> {
  return sharedFreePort();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'condition',
  everyMs = 20
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}

/** True when something accepts TCP connections on the loopback port (a started service is ready). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Absolute path of a binary, or null. */
export function which(bin: string): string | null {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin', '/sbin']) {
    try {
      execFileSync('test', ['-x', `${dir}/${bin}`]);
      return `${dir}/${bin}`;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

/**
 * Resolves a service binary for a test suite. Outside CI a missing binary skips the suite (a newcomer
 * without redis-server can still run `npm test`); with CI=true it fails, so CI can never go green by
 * silently skipping.
 */
export function requireBinary(ctx: Mocha.Context, bin: string): string {
  const found = which(bin);
  if (found) return found;
  return requiredInCi(ctx, `${bin} is required in CI but was not found (apt-get install it in .ci/run)`);
}

/** True when the tests run under CI (`.ci/run` exports CI=true), where a missing service fails instead of skipping. */
export function inCi(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** Something a test needs is missing: with CI=true the test fails with `why`; elsewhere it is skipped. */
export function requiredInCi(ctx: Mocha.Context, why: string): never {
  if (inCi()) throw new Error(why);
  ctx.skip();
  throw new Error('unreachable');
}

/**
 * Mounts a fresh tmpfs of `size` (mount's syntax: '64k', '2m') on the existing directory `dir`, for tests
 * of a full disk. Mounting needs root: CI runs as root, so there a failure fails the test; elsewhere it
 * skips. Undo with `unmountTmpfs`.
 */
export function mountTmpfs(ctx: Mocha.Context, dir: string, size: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    requiredInCi(ctx, `cannot mount a tmpfs (CI runs as root): ${(err as Error).message}`);
  }
}

/** Unmounts what `mountTmpfs` mounted; nothing when `dir` is null or no longer mounted. */
export function unmountTmpfs(dir: string | null): void {
  if (!dir) return;
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    /* already gone */
  }
}
