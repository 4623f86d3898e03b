#!/usr/bin/env node
// `npm start`: a plant in miniature on one machine. Builds nothing itself (npm start runs the build first
// through "prestart"); prepares a project-local Node-RED userDir (.moby/, git-ignored) with this package
// linked into it and the pipeline flow from flows/, starts an embedded MQTT broker when MOBY_MQTT_URL is
// unset, the device simulator, and Node-RED from node_modules.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const stateDir = path.resolve(process.env.MOBY_HOME || path.join(root, '.moby'));
const userDir = path.join(stateDir, 'userdir');
const children = [];

// Working defaults for every variable the pipeline flow reads (README "Configuration").
const DEFAULTS = {
  MOBY_MASTER_KEY: 'moby-development-master-key-change-me',
  MOBY_MQTT_CLIENT_ID: 'moby-pipeline',
  MOBY_INFLUX_URL: '',
  MOBY_INFLUX_ORG: 'moby',
  MOBY_INFLUX_BUCKET: 'moby',
  MOBY_INFLUX_TOKEN: '',
  // shorter than the node's default (900) so the demo calibrates within about a minute at a message rate a
  // busy laptop's pipeline keeps up with (the simulator's warm-up, below); eval:sim measured ~1 false alert
  // incident per 100 device-hours at 600 points, none at 900: set 900 for a long-running demo
  MOBY_TRAIN_POINTS: '600',
  MOBY_DEVICE_TIMEOUT: '15',
  MOBY_CORS_ORIGINS: '*',
};
let stopping = false;

function log(line) {
  console.log(`[moby] ${line}`);
}

function prepareUserDir() {
  fs.mkdirSync(path.join(userDir, 'node_modules', path.dirname(pkg.name)), { recursive: true });
  // Link the package the way `npm install <path>` would, so Node-RED finds it like any palette module.
  const link = path.join(userDir, 'node_modules', pkg.name);
  try {
    fs.rmSync(link, { recursive: true, force: true });
  } catch {
    /* not there */
  }
  fs.symlinkSync(root, link, 'dir');
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'moby-userdir', private: true, dependencies: { [pkg.name]: `file:${root}` } }, null, 2),
  );
  // The pipeline in flows/ is the source of truth: it replaces the deployed flow at every start unless
  // MOBY_KEEP_FLOWS=1 (edits made in the editor are kept then; export them to flows/ to share them).
  const flowFile = path.join(userDir, 'flows.json');
  const source = path.join(root, 'flows', 'pipeline.json');
  if (process.env.MOBY_KEEP_FLOWS === '1' && fs.existsSync(flowFile)) {
    log(`keeping the deployed flow in ${flowFile} (MOBY_KEEP_FLOWS=1)`);
  } else if (fs.existsSync(source)) {
    fs.copyFileSync(source, flowFile);
    fs.rmSync(path.join(userDir, 'flows_cred.json'), { force: true });
  }
}

async function startEmbeddedBroker() {
  const { Aedes } = require('aedes');
  const broker = await Aedes.createBroker();
  const port = Number(process.env.MOBY_BROKER_PORT || 1883);
  const server = net.createServer(broker.handle);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  log(`embedded MQTT broker (aedes) on mqtt://127.0.0.1:${port}`);
  return { url: `mqtt://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => broker.close(r))) };
}

function spawnChild(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (line) => `[${name}] ${line}`;
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        console.log(prefix(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal || code}); stopping`);
      shutdown(code || 1);
    }
  });
  children.push(child);
  return child;
}

let broker = null;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  log('shutting down');
  // Node-RED first, so its close handlers flush buffers to the database or the disk spool.
  for (const child of children.slice().reverse()) child.kill('SIGINT');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  if (broker) await broker.close();
  process.exit(code);
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'nodes'))) {
    console.error('dist/ is missing: run `npm run build` (npm start does it for you)');
    process.exit(1);
  }
  prepareUserDir();
  const env = { ...DEFAULTS, ...process.env, MOBY_ROOT: root, MOBY_USERDIR: userDir };
  if (!process.env.MOBY_MASTER_KEY) log('using the built-in development master key: set MOBY_MASTER_KEY (or MOBY_HMAC_KEYS) for real devices');
  // the keyring node reads MOBY_HMAC_KEYS; by default it holds only the master key the simulator derives from
  if (!env.MOBY_HMAC_KEYS) env.MOBY_HMAC_KEYS = JSON.stringify({ '*': { m1: env.MOBY_MASTER_KEY } });
  if (!env.MOBY_MQTT_URL) {
    broker = await startEmbeddedBroker();
    env.MOBY_MQTT_URL = broker.url;
  } else {
    log(`using MQTT broker ${env.MOBY_MQTT_URL}`);
  }
  const port = Number(env.MOBY_PORT || 1880);
  env.MOBY_PORT = String(port);
  spawnChild('node-red', [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', path.join(root, 'flows', 'settings.js')], env);

  const simBin = path.join(root, 'dist', 'bin', 'moby-sim.js');
  if (env.MOBY_SIM !== '0' && fs.existsSync(simBin)) {
    // while the pipeline calibrates, the simulator sends each device's first points every 100 ms (the signal
    // still advances 1 s per point): 20 devices × 10 msg/s, so the demo calibrates in about a minute
    const warmup = Math.max(0, Math.round(Number(env.MOBY_TRAIN_POINTS) || 0)) + 10;
    const simArgs = (env.MOBY_SIM_ARGS || `--devices 20 --faults demo --warmup ${warmup} --warmup-interval 100`).split(/\s+/).filter(Boolean);
    spawnChild('sim', [simBin, '--url', env.MOBY_MQTT_URL, ...simArgs], env);
  }
  const host = env.MOBY_HOST || '127.0.0.1';
  log(env.MOBY_INFLUX_URL ? `InfluxDB: ${env.MOBY_INFLUX_URL} (org ${env.MOBY_INFLUX_ORG}, bucket ${env.MOBY_INFLUX_BUCKET})` : `no MOBY_INFLUX_URL: the writer spools points to disk under ${userDir}/moby-spool until a database is configured`);
  log(`Node-RED editor: http://${host}:${port}/`);
  log(`alert API:       http://${host}:${port}/moby/alerts  (devices: /moby/devices, metrics: /moby/metrics)`);
  log('press Ctrl+C to stop');
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
main().catch((err) => {
  console.error(err);
  shutdown(1);
});
