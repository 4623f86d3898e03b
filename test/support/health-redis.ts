// Helpers for device-health tests against a real Redis: a fake clock shared by several service instances
// (as if they were separate Node-RED processes) and a collector of the events each one emits.
import Redis from 'ioredis';
import type { HealthEvent } from '../../nodes/core/contract';
import {
  HealthService,
  HealthTable,
  type HealthServiceOptions,
  type HealthTableOptions,
} from '../../nodes/core/health';
import { waitFor } from './net';

export interface Instance {
  service: HealthService;
  client: Redis;
  events: HealthEvent[];
  storeStates: boolean[];
}

export function fakeClock(start = 1_700_000_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

export async function startInstance(
  port: number,
  now: () => number,
  opts: HealthTableOptions = {},
  keyPrefix = 'test:',
  serviceOpts: Partial<HealthServiceOptions> = {}
): Promise<Instance> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
    lazyConnect: false,
  });
  client.on('error', () => undefined);
  const events: HealthEvent[] = [];
  const storeStates: boolean[] = [];
  const table = new HealthTable({ defaultTimeoutMs: 10_000, ...opts, now });
  const service = new HealthService({
    table,
    emit: (ev) => events.push(ev),
    redis: client,
    keyPrefix,
    now,
    connectGraceMs: 0,
    onStore: (up) => storeStates.push(up),
    ...serviceOpts,
  });
  await waitFor(() => service.storeUp, 5000, 'health service connected to redis');
  return { service, client, events, storeStates };
}

export async function stopInstance(i: Instance): Promise<void> {
  await i.service.close();
  i.client.disconnect();
}
