// A real Node-RED process (node_modules/node-red/red.js) with the compiled alert nodes (nodesDir) and the
// file-backed context store, which can be stopped (SIGTERM or SIGKILL) and started again on the same
// userDir: what "restart" means for persistence tests.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './net';

const root = path.resolve(__dirname, '..', '..');

/** The API token every moby-alert node of these flows gets (the API refuses everything without one). */
export const NR_TOKEN = 'nodered-test-token-0123456789';
export const NR_AUTH = { authorization: `Bearer ${NR_TOKEN}` };

export interface NodeRedProcess {
  url: string;
  userDir: string;
  output: string[];
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function nodeRedWithFlow(
  flow: unknown[],
  credentials: Record<string, unknown> = {},
  /** the alert API prefix that answers once Node-RED is up (the alert example serves its own) */
  apiPrefix = '/moby'
): Promise<NodeRedProcess> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-nr-'));
  const port = await freePort();
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow));
  credentials = { ...credentials };
  for (const n of flow as Array<{ id: string; type: string }>)
    if (n.type === 'moby-alert' && !credentials[n.id]) credentials[n.id] = { apiToken: NR_TOKEN };
  if (Object.keys(credentials).length)
    fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify(credentials));
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = ${JSON.stringify({
      uiPort: port,
      uiHost: '127.0.0.1',
      flowFile: 'flows.json',
      credentialSecret: false,
      nodesDir: [path.join(root, 'dist', 'nodes', 'alert')],
      contextStorage: { default: { module: 'localfilesystem', config: { flushInterval: 1 } } },
      logging: { console: { level: 'warn' } },
      editorTheme: { tours: false },
      diagnostics: { enabled: false },
      telemetry: { enabled: false },
    })};\n`
  );
  const output: string[] = [];
  let proc: ChildProcess | null = null;
  const url = `http://127.0.0.1:${port}`;
  const start = async () => {
    proc = spawn(
      process.execPath,
      [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')],
      {
        cwd: userDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    );
    proc.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    proc.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    await waitFor(
      async () => {
        if (proc && proc.exitCode !== null) throw new Error(`node-red exited: ${output.join('')}`);
        const r = await fetch(`${url}${apiPrefix}/alerts`, { headers: NR_AUTH }).catch(() => null);
        return r !== null && r.status === 200;
      },
      20000,
      `Node-RED serving ${apiPrefix}/alerts`,
      100
    );
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  };
  return { url, userDir, output, start, stop };
}

/** POSTs `body` as JSON to `path` of the process (with the API token; the http-in routes ignore it). */
export function postJson(nr: NodeRedProcess, path: string, body: unknown): Promise<Response> {
  return fetch(`${nr.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...NR_AUTH },
    body: JSON.stringify(body),
  });
}

/**
 * On tab "tab": http in POST /in → change (each of payload.<moved> → msg.<moved>) → moby-alert "alert" (API
 * under /moby, state saved every 0.5 s), answered 204 by node "resp"; `alertProps` and the `extra` nodes added.
 */
export function postInAlertFlow(
  alertProps: Record<string, unknown> = {},
  extra: unknown[] = [],
  moved: string[] = ['alert', 'moby']
): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'alerts' },
    { id: 'in', type: 'http in', z: 'tab', url: '/in', method: 'post', wires: [['mv', 'resp']] },
    { id: 'resp', type: 'http response', z: 'tab', statusCode: '204', wires: [] },
    {
      id: 'mv',
      type: 'change',
      z: 'tab',
      rules: moved.map((p) => ({ t: 'move', p: `payload.${p}`, pt: 'msg', to: p, tot: 'msg' })),
      wires: [['alert']],
    },
    {
      id: 'alert',
      type: 'moby-alert',
      z: 'tab',
      apiPrefix: '/moby',
      persistSec: 0.5,
      wires: [[], [], []],
      ...alertProps,
    },
    ...extra,
  ];
}

/** What a test leaves running: its Node-RED process (killed) and a receiver (closed), for its afterEach. */
export async function tearDownAlertTest(
  nr: NodeRedProcess | null,
  receiver: { close(): Promise<void> } | null
): Promise<void> {
  await nr?.stop('SIGKILL');
  await receiver?.close();
}
