// Loads the compiled moby-alert node files into the real Node-RED runtime (node-red-node-test-helper) and
// captures RED.httpNode, which the helper builds per load but does not serve, so the alert API can be
// exercised with supertest against it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mountTmpfs } from './net';
import { anomalyMsg as scoredPoint } from './anomaly-msg';

export const helper = require('node-red-node-test-helper');
const supertest = require('supertest');
const channelsModule = require('../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../dist/nodes/alert/moby-alert.js');

helper.init(require.resolve('node-red'), { userDir: fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-test-')) });

/** Points the runtime at a new, empty userDir (where the delivery journal lives) for the next load. */
export function freshUserDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-test-'));
  helper.settings({ userDir: dir });
  return dir;
}

/**
 * A fresh userDir (as freshUserDir) whose moby-alert state directory is a 64 KiB tmpfs, for full-disk tests;
 * returns that directory, to fill and to unmount (net.ts unmountTmpfs). Skips outside CI when it cannot mount.
 */
export function alertStateOnTmpfs(ctx: Mocha.Context): string {
  const stateRoot = path.join(freshUserDir(), 'moby-alert');
  fs.mkdirSync(stateRoot, { recursive: true });
  mountTmpfs(ctx, stateRoot, '64k');
  return stateRoot;
}

let httpNode: unknown = null;
function captureHttpNode(RED: { httpNode: unknown }): void {
  httpNode = RED.httpNode;
}

export interface Msg {
  topic?: string;
  payload?: any;
  moby?: { reject?: { code: string; reason: string; device_id?: string; field?: string }; [k: string]: unknown };
  [k: string]: unknown;
}

/** The API token every moby-alert node of a test flow gets unless the test gives its own credentials. */
export const TEST_TOKEN = 'test-token-0123456789';

export function loadAlertFlow(
  flow: unknown[],
  creds: Record<string, unknown> = {},
  otherNodes: unknown[] = []
): Promise<void> {
  // the API refuses everything without a token (issue #10), so test flows get one by default
  const all: Record<string, unknown> = {};
  for (const n of flow as Array<{ id: string; type: string }>)
    if (n.type === 'moby-alert') all[n.id] = { apiToken: TEST_TOKEN };
  Object.assign(all, creds);
  return new Promise((resolve, reject) =>
    helper.load([channelsModule, alertModule, captureHttpNode, ...otherNodes], flow, all, (err?: Error) =>
      err ? reject(err) : resolve()
    )
  );
}

/** supertest agent for the runtime's httpNode (where the alert API is mounted), sending the test token. */
export function api(token: string | null = TEST_TOKEN): any {
  if (!httpNode) throw new Error('no flow loaded');
  const agent = supertest.agent(httpNode);
  return token ? agent.set('authorization', `Bearer ${token}`) : agent;
}

export function collect(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}

/** A moby-alert node wired to three helper nodes: ev (events), fail (delivery failed), rej (rejects). */
export function alertFlow(opts: Record<string, unknown> = {}, extra: unknown[] = []): unknown[] {
  return [
    {
      id: 'alert',
      type: 'moby-alert',
      name: 'alerts',
      apiPrefix: '/moby',
      wires: [['ev'], ['fail'], ['rej']],
      ...opts,
    },
    { id: 'ev', type: 'helper' },
    { id: 'fail', type: 'helper' },
    { id: 'rej', type: 'helper' },
    ...extra,
  ];
}

/** A scored point (test/support/anomaly-msg.ts), typed as this module's messages. */
export const anomalyMsg = (...args: Parameters<typeof scoredPoint>): Msg => scoredPoint(...args);
