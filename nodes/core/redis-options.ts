// The ioredis options every MOBY user of the shared Redis connection (moby-redis) relies on, in one place so
// the tests run the same client the node builds.
import type { RedisOptions } from 'ioredis';

/**
 * A command without an answer for this long fails (ioredis `commandTimeout`). Without it a Redis that hangs
 * instead of closing the connection (SIGSTOP, a network partition without a reset, a server stuck on a slow
 * script) kept every command pending forever: device health neither decided in Redis nor fell back to memory,
 * so a device that died was never reported, and nothing said why (red-team round 2 of 2026-12-03).
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5000;

/** ioredis reports a command that outlived commandTimeout with this message. */
export function isRedisTimeout(err: unknown): boolean {
  return err instanceof Error && /command timed out/i.test(err.message);
}

export function mobyRedisOptions(): RedisOptions {
  return {
    // fail fast while disconnected: users fall back to memory instead of piling up commands
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
}
