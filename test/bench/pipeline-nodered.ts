// A real Node-RED child process for the end-to-end bench: `node node_modules/node-red/red.js --userDir
// <tmp> --settings <generated>` on a free loopback port, with this package linked into the user directory
// the way scripts/start.js does, and node-red-contrib-influxdb linked beside it for the baseline flow.
// Settings = flows/settings.js (what `npm start` uses: file-backed default context, memory store) with the
// port replaced and `crypto` in functionGlobalContext for the baseline's hand-written HMAC check.
import { spawn, ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep, waitFor } from '../support/net';
import type { FlowJson } from './pipeline-flows';
// a bcrypt hash of a password nobody knows: the bench never logs in to the editor
const BENCH_ADMIN_HASH: string = require(
  require.resolve('bcryptjs', { paths: [path.dirname(require.resolve('node-red/package.json'))] })
).hashSync(randomBytes(18).toString('base64'), 4);

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string };
const TICKS = 100; // USER_HZ on Linux

export interface NodeRed {
  pid: number;
  port: number;
  url: string;
  userDir: string;
  /** everything the child printed */
  output(): string;
  /** resident set size (MB), user+system CPU seconds of the process and of its main thread, from /proc */
  usage(): { rssMB: number; cpuSec: number; mainCpuSec: number };
  stop(): Promise<void>;
}

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.rmSync(at, { recursive: true, force: true });
  fs.symlinkSync(target, at, 'dir');
}

const running = new Map<ChildProcess, string>();

/** SIGKILLs every Node-RED child still running and removes its user directory (the bench's hard stop). */
export function killAllNodeRed(): void {
  for (const [c, dir] of running) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startNodeRed(
  name: string,
  flow: FlowJson,
  env: NodeJS.ProcessEnv,
  readyPattern: RegExp,
  /** another build of this package to run (a directory with package.json, dist/, resources/) */
  packageRoot = root,
  /** options for the Node-RED child's node (e.g. V8 flags), before red.js */
  nodeArgs: string[] = [],
  /** Node-RED settings on top of flows/settings.js (e.g. runtimeSyncDelivery) */
  extraSettings: Record<string, unknown> = {}
): Promise<NodeRed> {
  const port = await freePort();
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), `moby-bench-${name}-`));
  link(packageRoot, path.join(userDir, 'node_modules', pkg.name));
  link(
    path.join(root, 'node_modules', 'node-red-contrib-influxdb'),
    path.join(userDir, 'node_modules', 'node-red-contrib-influxdb')
  );
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify(
      {
        name: 'moby-bench-userdir',
        private: true,
        dependencies: { [pkg.name]: `file:${packageRoot}`, 'node-red-contrib-influxdb': '*' },
      },
      null,
      2
    )
  );
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow, null, 2));
  const settingsFile = path.join(userDir, 'bench-settings.js');
  fs.writeFileSync(
    settingsFile,
    [
      "'use strict';",
      // flows/settings.js has no built-in secrets (issue #10): the bench gets throw-away ones
      `process.env.MOBY_CREDENTIAL_SECRET = process.env.MOBY_CREDENTIAL_SECRET || ${JSON.stringify(randomBytes(32).toString('hex'))};`,
      `process.env.MOBY_ADMIN_PASSWORD_HASH = process.env.MOBY_ADMIN_PASSWORD_HASH || ${JSON.stringify(BENCH_ADMIN_HASH)};`,
      `const base = require(${JSON.stringify(path.join(root, 'flows', 'settings.js'))});`,
      'module.exports = {',
      '  ...base,',
      `  uiPort: ${port},`,
      "  uiHost: '127.0.0.1',",
      "  flowFile: 'flows.json',",
      // the event-loop / GC / context-flush probe (nodered-probe.js), read at GET /bench/probe
      `  functionGlobalContext: { crypto: require('node:crypto'), benchProbe: require(${JSON.stringify(path.join(__dirname, 'nodered-probe.js'))}) },`,
      "  logging: { console: { level: 'info', metrics: false, audit: false } },",
      ...Object.entries(extraSettings).map(([k, v]) => `  ${k}: ${JSON.stringify(v)},`),
      '};',
      '',
    ].join('\n')
  );
  let out = '';
  const child: ChildProcess = spawn(
    process.execPath,
    // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each Node-RED child, written when it exits
    [
      ...(process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, `--cpu-prof-name=${name}.cpuprofile`]
        : []),
      ...nodeArgs,
      require.resolve('node-red/red.js'),
      '--userDir',
      userDir,
      '--settings',
      settingsFile,
    ],
    { cwd: userDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  running.set(child, userDir);
  child.once('exit', () => running.delete(child));
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // Node-RED closes its nodes (our writer flushes) and exits
      const t = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`Node-RED (${name}) exited with ${child.exitCode}`);
        // red.js listens only after the flows started: wait for its listen callback's line too
        return /Started flows/.test(out) && /Server now running at/.test(out) && readyPattern.test(out);
      },
      60000,
      `Node-RED (${name}) started and connected`,
      100
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- Node-RED output ---\n${out.slice(-4000)}`, { cause: err });
  }
  await sleep(500); // the SUBSCRIBE follows the CONNACK
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    userDir,
    output: () => out,
    usage: () => procUsage(child.pid!),
    stop,
  };
}

/** resident set size (MB) and user+system CPU seconds of a process and of its main thread, from /proc */
function procUsage(pid: number): { rssMB: number; cpuSec: number; mainCpuSec: number } {
  const cpuOf = (statFile: string) => {
    const stat = fs.readFileSync(statFile, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14, 15)
  };
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
    // the main thread (the event loop) apart from the rest: V8's platform workers (parallel scavenges,
    // concurrent marking, compilation) and libuv's thread pool (fs, crypto) are CPU of the process too
    let main = NaN;
    try {
      main = cpuOf(`/proc/${pid}/task/${pid}/stat`);
    } catch {
      // no per-thread figures here
    }
    return { rssMB: rss, cpuSec: cpuOf(`/proc/${pid}/stat`), mainCpuSec: main };
  } catch {
    return { rssMB: NaN, cpuSec: NaN, mainCpuSec: NaN };
  }
}

/**
 * Floor (a): the raw mqtt.js subscriber of pipeline-raw.ts in its own process (so its CPU and RSS are its
 * own), behind the same interface as a Node-RED child.
 */
export async function startRawSubscriber(mqttUrl: string, clientId: string, topic: string): Promise<NodeRed> {
  const port = await freePort();
  let out = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, '--cpu-prof-name=floor-raw.cpuprofile']
        : []),
      '-r',
      'ts-node/register/transpile-only',
      path.join(__dirname, 'pipeline-raw.ts'),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        BENCH_RAW_URL: mqttUrl,
        BENCH_RAW_PORT: String(port),
        BENCH_RAW_CLIENT_ID: clientId,
        BENCH_RAW_TOPIC: topic,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  );
  running.set(child, '');
  child.once('exit', () => running.delete(child));
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`raw subscriber exited with ${child.exitCode}`);
        return /Connected to broker/.test(out);
      },
      60000,
      'raw subscriber connected',
      100
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${out.slice(-4000)}`, { cause: err });
  }
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    userDir: '',
    output: () => out,
    usage: () => procUsage(child.pid!),
    stop,
  };
}
