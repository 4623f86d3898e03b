#!/usr/bin/env node
// `npm start`: a plant in miniature on one machine. Builds nothing itself (npm start runs the build first
// through "prestart"); prepares a project-local Node-RED userDir (.moby/, git-ignored) with this package
// linked into it and the pipeline flow from flows/, starts an embedded MQTT broker when MOBY_MQTT_URL is
// unset, the device simulator, and Node-RED from node_modules (through scripts/node-red.js, which puts
// MOBY's admin guard in front of the editor). Secrets (editor login, API token, credential key) come from
// the environment or are generated once per MOBY_HOME; see docs/security.md.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { printLines } = require('./lib/child-output');
const { demoSimArgs } = require('./lib/demo-sim');
const { wholeNumberSetting } = require('./lib/env-setting');
const { startEmbeddedBroker: startEmbeddedBrokerOn } = require('./lib/embedded-broker');
const { claimRun, releaseRun, previousRunLine, unmarkedLine } = require('./lib/run-marker');
const { tenantKeyVarClash, tenantMaster } = require('./lib/tenant-keys');
const { addNotificationChannels, keptFlowChannelsLine } = require('./lib/notify-channels');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const stateDir = path.resolve(process.env.MOBY_HOME || path.join(root, '.moby'));
const userDir = path.join(stateDir, 'userdir');
const children = [];
// `npm start -- --tenants acme,beta` (or MOBY_TENANTS): the two-tenant pipeline (flows/tenants.json) and the
// simulator's fleet once per tenant, each with its own master key (docs/tenants.md)
const tenantArg = process.argv.indexOf('--tenants');
const tenants = (tenantArg >= 0 ? process.argv[tenantArg + 1] || '' : process.env.MOBY_TENANTS || '')
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);
for (const t of tenants) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(t)) {
    console.error(`[moby] --tenants: "${t}" must be 1-64 chars of [A-Za-z0-9_-]`);
    process.exit(1);
  }
}
const keyVarClash = tenantKeyVarClash(tenants);
if (keyVarClash) {
  const { first, second, variable } = keyVarClash;
  console.error(
    `[moby] --tenants: "${first}" and "${second}" would share ${variable} (one master key for two tenants): rename one`
  );
  process.exit(1);
}

// Working defaults for every variable the pipeline flow reads (README "Configuration").
const DEFAULTS = {
  MOBY_MQTT_CLIENT_ID: 'moby-pipeline',
  MOBY_INFLUX_URL: '',
  MOBY_INFLUX_ORG: 'moby',
  MOBY_INFLUX_BUCKET: 'moby',
  MOBY_INFLUX_TOKEN: '',
  // shorter than the node's default (900) so the demo calibrates within about 30 s at a message rate a busy
  // laptop's pipeline keeps up with (the simulator's warm-up, startDemoSimArgs); eval:sim measured ~1 false alert
  // incident per 100 device-hours at 600 points, none at 900: set 900 for a long-running demo
  MOBY_TRAIN_POINTS: '600',
  MOBY_DEVICE_TIMEOUT: '15',
  // no browser origin may call the alert API by default; list Grafana's origin when the panel calls it directly
  MOBY_CORS_ORIGINS: '',
};
// what only Node-RED needs: never handed to the simulator
const NODE_RED_ONLY = [
  'MOBY_ADMIN_PASSWORD',
  'MOBY_ADMIN_PASSWORD_HASH',
  'MOBY_CREDENTIAL_SECRET',
  'MOBY_API_TOKEN',
  'MOBY_INFLUX_TOKEN',
  'MOBY_MQTT_PASSWORD',
  'MOBY_TENANT_TOKENS',
];
let stopping = false;
/** what `npm start` pages (the start log says it where the flow is prepared and again beside the login) */
let notificationsLine = null;

function log(line) {
  console.log(`[moby] ${line}`);
}

/** A port somebody else holds, said in one line with the variable that moves ours, instead of a stack. */
class PortBusyError extends Error {
  constructor(what, host, port, hint) {
    super(`port ${port} on ${host} (${what}) is already in use by another program: stop it, or ${hint}`);
    this.code = 'MOBY_PORT_BUSY';
  }
}

const EDITOR_HINT = (port) => `choose another port, e.g. MOBY_PORT=${port + 1} npm start`;
const BROKER_HINT = (port) =>
  `choose another port, e.g. MOBY_BROKER_PORT=${port + 1} npm start, or use the broker already there: MOBY_MQTT_URL=mqtt://127.0.0.1:${port} npm start`;

/** Resolves when the port can be bound on host; rejects with PortBusyError when it is taken. */
function checkPortFree(what, host, port, hint) {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err) =>
      reject(err.code === 'EADDRINUSE' || err.code === 'EACCES' ? new PortBusyError(what, host, port, hint(port)) : err)
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** Resolves once an HTTP request to url gets any answer (Node-RED owns its port and serves). */
async function answers(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(2000) }).then(
      () => true,
      () => false
    );
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Node-RED's credential file format: AES-256-CTR with sha256(secret) as key, `{"$": ivHex + base64}`. */
function encryptCredentials(secret, creds) {
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
  return { $: iv.toString('hex') + cipher.update(JSON.stringify(creds), 'utf8', 'base64') + cipher.final('base64') };
}

/** The credentials a file written by encryptCredentials holds, or null when it cannot be read with `secret`. */
function readCredentials(file, secret) {
  try {
    const { $: text } = JSON.parse(fs.readFileSync(file, 'utf8'));
    const key = crypto.createHash('sha256').update(secret).digest();
    const decipher = crypto.createDecipheriv('aes-256-ctr', key, Buffer.from(text.slice(0, 32), 'hex'));
    return JSON.parse(decipher.update(text.slice(32), 'base64', 'utf8') + decipher.final('utf8'));
  } catch {
    return null;
  }
}

/** Whether `file` holds exactly `text` (then it is not written again: a start on a full disk must not fail there). */
function holds(file, text) {
  try {
    return fs.readFileSync(file, 'utf8') === text;
  } catch {
    return false;
  }
}

// Everything below is written only when it changed: after a power cut on a full disk (the spool fills it by
// design) an unchanged user directory must not keep the pipeline from coming back (a tester's restart died
// with ENOSPC rewriting an identical flows.json, red-team 2026-12-06).
function prepareUserDir(credentialSecret, env) {
  fs.mkdirSync(path.join(userDir, 'node_modules', path.dirname(pkg.name)), { recursive: true });
  // Link the package the way `npm install <path>` would, so Node-RED finds it like any palette module.
  const link = path.join(userDir, 'node_modules', pkg.name);
  let linked = false;
  try {
    linked = fs.readlinkSync(link) === root;
  } catch {
    /* not there, or not a link */
  }
  if (!linked) {
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(root, link, 'dir');
  }
  const userPkg = JSON.stringify(
    { name: 'moby-userdir', private: true, dependencies: { [pkg.name]: `file:${root}` } },
    null,
    2
  );
  if (!holds(path.join(userDir, 'package.json'), userPkg))
    fs.writeFileSync(path.join(userDir, 'package.json'), userPkg);
  // The pipeline in flows/ is the source of truth: it replaces the deployed flow at every start unless
  // MOBY_KEEP_FLOWS=1 (edits made in the editor are kept then; export them to flows/ to share them).
  const flowFile = path.join(userDir, 'flows.json');
  const source = path.join(root, 'flows', tenants.length ? 'tenants.json' : 'pipeline.json');
  if (process.env.MOBY_KEEP_FLOWS === '1' && fs.existsSync(flowFile)) {
    log(`keeping the deployed flow in ${flowFile} (MOBY_KEEP_FLOWS=1)`);
    let kept;
    try {
      kept = JSON.parse(fs.readFileSync(flowFile, 'utf8'));
    } catch {
      kept = undefined; // Node-RED says what is wrong with it
    }
    notificationsLine = keptFlowChannelsLine(env, kept);
    log(notificationsLine);
  } else if (fs.existsSync(source)) {
    // Credentials in the shipped flow are `${ENV}` references (the alert API token, the broker login):
    // Node-RED substitutes them when it creates the node, so flows_cred.json never holds their values. It
    // only reads credentials from flows_cred.json, encrypted with the credential secret: write it so.
    const nodes = JSON.parse(fs.readFileSync(source, 'utf8'));
    notificationsLine = addNotificationChannels(nodes, env);
    log(notificationsLine);
    const creds = {};
    for (const n of nodes) {
      if (n.credentials) {
        // a reference to an unset variable is left out (no broker login: no empty user name sent)
        const c = {};
        for (const [k, v] of Object.entries(n.credentials)) {
          const ref = /^\$\{(\w+)\}$/.exec(String(v));
          if (!ref || env[ref[1]]) c[k] = v;
        }
        if (Object.keys(c).length) creds[n.id] = c;
      }
      delete n.credentials;
    }
    // replaced whole or not at all: a plain write on a full disk left a torn flows.json (red-team 2026-12-06)
    const { replaceFileSync } = require(path.join(root, 'dist', 'nodes', 'core', 'durable-file.js'));
    const flowText = JSON.stringify(nodes, null, 2);
    if (!holds(flowFile, flowText)) replaceFileSync(flowFile, flowText);
    const credFile = path.join(userDir, 'flows_cred.json');
    // encrypted with a fresh IV each time: compared by what it holds
    if (JSON.stringify(readCredentials(credFile, credentialSecret)) !== JSON.stringify(creds))
      replaceFileSync(credFile, JSON.stringify(encryptCredentials(credentialSecret, creds)), true, 0o600);
  }
}

async function startEmbeddedBroker(login) {
  const port = Number(process.env.MOBY_BROKER_PORT || 1883);
  let broker;
  try {
    broker = await startEmbeddedBrokerOn({
      login,
      port,
      maxPacketBytes: maxPacketSetting(process.env.MOBY_BROKER_MAX_PACKET),
      maxConnections: maxConnectionsSetting(process.env.MOBY_BROKER_MAX_CONNECTIONS),
      maxWillBytes: wholeNumberSetting(
        'MOBY_BROKER_MAX_WILL',
        process.env.MOBY_BROKER_MAX_WILL,
        256,
        268435455,
        ' of bytes'
      ),
      // devices are admitted once the pipeline has subscribed, and closed before the last drain at Ctrl+C:
      // in between, whatever the broker acknowledges to a device reaches Node-RED (docs/durability.md)
      waitForPipeline: true,
      log,
    });
  } catch (err) {
    throw err.code === 'EADDRINUSE' || err.code === 'EACCES'
      ? new PortBusyError('embedded MQTT broker', '127.0.0.1', port, BROKER_HINT(port))
      : err;
  }
  // aedes' default persistence is in memory: the pipeline's persistent session (moby-mqtt-in acknowledges
  // only what is stored) survives Node-RED restarts and crashes, not a restart of this script. A demo broker;
  // a plant uses Mosquitto configured like flows/mosquitto/mosquitto.conf (docs/durability.md).
  log(
    `embedded MQTT broker (aedes, sessions in memory, packets up to ${broker.maxPacket} bytes, ${broker.connections.max} connections besides the pipeline's) on ${broker.url}`
  );
  return broker;
}

/** MOBY_BROKER_MAX_PACKET: bytes of an MQTT packet's remaining length. */
function maxPacketSetting(value) {
  return wholeNumberSetting('MOBY_BROKER_MAX_PACKET', value, 1024, 268435455, ' of bytes');
}

/**
 * MOBY_BROKER_MAX_CONNECTIONS: open connections besides the pipeline's. The upper bound only catches typos: the
 * process's file descriptor limit is the real ceiling.
 */
function maxConnectionsSetting(value) {
  return wholeNumberSetting('MOBY_BROKER_MAX_CONNECTIONS', value, 1, 1000000);
}

/** A child that dies this often within RESTART_WINDOW_MS is not restarted again: the script stops instead. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 120000;

/**
 * Spawns a child; when it exits unasked, `restart` children (Node-RED) are started again — the embedded broker
 * keeps the pipeline's persistent session meanwhile, so what Node-RED had not acknowledged is delivered again
 * and nothing the broker took is lost — unless they keep dying, and every other child's exit stops everything
 * (exit code non-zero, for a supervisor to see).
 */
function spawnChild(name, args, env, onLine = null, restart = false, restarts = []) {
  // the IPC channel is how a child learns that this script died without stopping it (kill -9): it closes then
  // (scripts/node-red.js, bin/moby-sim.ts) instead of running on as an orphan holding the ports.
  // Each child leads a process group of its own (detached): a terminal's Ctrl+C signals the whole foreground group,
  // so Node-RED stopped at the same moment as the simulator, and the stop order below (the simulator, then the
  // embedded broker drained, then Node-RED) held only for a signal sent to this script alone: a real Ctrl+C left
  // the broker's unacknowledged messages to die with it ("1 unsettled message(s) left with the broker", 2026-12-06).
  const child = spawn(process.execPath, args, {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  child.mobyName = name;
  printLines(child, name, onLine);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    const now = Date.now();
    const recent = restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (restart && recent.length < MAX_RESTARTS) {
      log(
        `${name} exited (${signal || code}); starting it again${broker ? ' (the embedded broker kept its session: unacknowledged messages are delivered again)' : ''}`
      );
      children.splice(children.indexOf(child), 1);
      setTimeout(() => {
        if (!stopping) spawnChild(name, args, env, onLine, restart, [...recent, now]);
      }, 1000);
      return;
    }
    log(
      restart
        ? `${name} exited (${signal || code}) ${recent.length + 1} times within ${RESTART_WINDOW_MS / 1000} s; stopping`
        : `${name} exited (${signal || code}); stopping`
    );
    shutdown(code || 1, `${name} exited`);
  });
  children.push(child);
  return child;
}

/**
 * The embedded broker's refusals and drops (queue_full above all) for /moby/metrics: the broker runs here, the
 * metrics are served by Node-RED, so its totals go to the Node-RED child over the IPC channel every 5 s (a
 * restarted child gets them at the next tick).
 */
function reportBrokerRefusals() {
  setInterval(() => {
    for (const child of children)
      if (child.mobyName === 'node-red' && child.connected)
        child.send({ type: 'moby:broker-refusals', totals: broker.refusals.totals }, () => {}); // gone: next tick
  }, 5000).unref();
}

/** `npm start`'s demo: 20 devices, the warm-up every 50 ms per tenant (about 400 msg/s whatever the tenants). */
function startDemoSimArgs(env, tenantCount) {
  return demoSimArgs({
    devices: 20,
    trainPoints: env.MOBY_TRAIN_POINTS,
    warmupIntervalMs: 50 * Math.max(1, tenantCount),
  });
}

/**
 * Resolves once Node-RED's log says the flows started and a MOBY broker node connected (or 15 s after the
 * flows started, for a kept flow without one). Gives up waiting after 3 minutes and says so.
 */
function pipelineReady() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  let started = false;
  let connected = false;
  const settle = () => {
    clearTimeout(giveUp);
    clearTimeout(noBroker);
    resolve();
  };
  const giveUp = setTimeout(() => {
    log('Node-RED has not reported a started flow with a connected broker after 3 minutes; starting the rest anyway');
    settle();
  }, 180000);
  giveUp.unref();
  let noBroker = null;
  const onLine = (line) => {
    if (!started && /Started flows/.test(line)) {
      started = true;
      noBroker = setTimeout(settle, 15000);
      noBroker.unref();
    }
    if (!connected && /\[moby-mqtt-broker[^\]]*\] connected to /.test(line)) connected = true;
    if (started && connected) settle();
  };
  return { promise, onLine };
}

let broker = null;
/** How long the children get to close (Node-RED flushes to the database or the spool) before they are killed. */
const SHUTDOWN_GRACE_MS = 30000;
/** how long Ctrl+C waits for the embedded broker to hand Node-RED what it holds, once the simulator has stopped */
const SHUTDOWN_DRAIN_MS = 5000;
/** how long the start waits for the pipeline to subscribe to the embedded broker before it says so */
const ADMIT_WAIT_MS = 10000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/** A child that has not exited yet: one killed by a signal has exitCode null too, but a signalCode. */
function running(child) {
  return child.exitCode === null && child.signalCode === null;
}

/** `cause`: what made it stop, said in the first line (an operator could not tell a Ctrl+C from a stop nobody sent) */
async function shutdown(code, cause) {
  if (stopping) {
    // a second Ctrl+C (or SIGTERM) while closing: do not make the operator reach for kill -9
    log('stopping now, without waiting for the rest to close');
    for (const child of children) if (running(child)) child.kill('SIGKILL');
    process.exit(code || 1);
  }
  stopping = true;
  log(`shutting down${cause ? ` (${cause})` : ''}`);
  const grace = setTimeout(() => {
    const stuck = children.filter(running);
    log(`${stuck.map((c) => c.mobyName).join(', ')} did not close within ${SHUTDOWN_GRACE_MS / 1000} s: killing`);
    for (const child of stuck) child.kill('SIGKILL');
  }, SHUTDOWN_GRACE_MS);
  grace.unref();
  const exit = (c) => (running(c) ? new Promise((r) => c.once('exit', r)) : null);
  // The simulator first and the embedded broker drained, then Node-RED (whose close handlers flush to the database
  // or the disk spool): stopped together, the in-memory broker lost what it had acknowledged to a device and not yet
  // handed to Node-RED (operator round 2026-12-06). The drain waits at most SHUTDOWN_DRAIN_MS.
  const devices = children.filter((c) => c.mobyName === 'sim' && running(c));
  for (const child of devices) child.kill('SIGINT');
  await Promise.all(devices.map(exit));
  if (devices.length > 0)
    log(`simulator stopped${broker ? '; the embedded broker hands Node-RED what it still holds' : ''}`);
  // other devices too: what the broker would acknowledge to them from now on could not reach Node-RED (operator
  // round 2026-12-07: 85 of 830 acknowledged messages lost across one Ctrl+C); closed, they keep it and send it
  // to the next start
  if (broker) broker.stopAdmitting();
  if (broker && !(await broker.drained(SHUTDOWN_DRAIN_MS)))
    log(
      `the embedded broker still had messages for Node-RED after ${SHUTDOWN_DRAIN_MS / 1000} s (or no Node-RED connected): they are lost with it`
    );
  for (const child of children.slice().reverse()) if (running(child)) child.kill('SIGINT');
  await Promise.all(children.map(exit));
  clearTimeout(grace);
  if (broker) await broker.close();
  releaseRun(stateDir);
  log(code ? `stopped (exit code ${code})` : 'stopped');
  process.exit(code);
}

/**
 * A broker URL with a login (`mqtts://user:pass@host`) is split: Node-RED's mqtt-broker node logs its URL
 * ("Connected to broker: id@mqtts://user:pass@host…"), so the login goes to the node's credentials.
 */
function splitMqttLogin(env) {
  let u;
  try {
    u = new URL(env.MOBY_MQTT_URL);
  } catch {
    return;
  }
  if (!u.username && !u.password) return;
  if (!env.MOBY_MQTT_USERNAME) env.MOBY_MQTT_USERNAME = decodeURIComponent(u.username);
  if (!env.MOBY_MQTT_PASSWORD) env.MOBY_MQTT_PASSWORD = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  env.MOBY_MQTT_URL = u.toString().replace(/\/$/, '');
}

function loadBcrypt() {
  // Node-RED's own dependency, the hash format its adminAuth checks
  return require(require.resolve('bcryptjs', { paths: [path.dirname(require.resolve('node-red/package.json'))] }));
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'nodes'))) {
    console.error('dist/ is missing: run `npm run build` (npm start does it for you)');
    process.exit(1);
  }
  const { prepareSecrets } = require(path.join(root, 'dist', 'nodes', 'lib', 'local-secrets.js'));
  const { redactUrl } = require(path.join(root, 'dist', 'nodes', 'core', 'http-guard.js'));
  let secrets;
  try {
    const bcrypt = loadBcrypt();
    secrets = prepareSecrets(stateDir, process.env, (pw) => bcrypt.hashSync(pw, 10));
  } catch (err) {
    console.error(`[moby] ${err.message}`);
    process.exit(1);
  }
  for (const f of secrets.fixedModes) log(`${f} was open to other users; narrowed it to its owner only`);
  const env = { ...DEFAULTS, ...process.env, MOBY_ROOT: root, MOBY_USERDIR: userDir };
  delete env.MOBY_ADMIN_PASSWORD;
  env.MOBY_ADMIN_PASSWORD_HASH = secrets.adminHash;
  env.MOBY_API_TOKEN = secrets.apiToken;
  env.MOBY_CREDENTIAL_SECRET = secrets.credentialSecret;
  // the devices' master key: MOBY_MASTER_KEY, else one generated per MOBY_HOME (never a key built into the code)
  env.MOBY_MASTER_KEY = secrets.masterKey;
  if (secrets.masterKeySource === 'generated')
    log(
      `generated the devices' master key in ${secrets.files.master}: the simulator derives its devices' keys from it`
    );
  // the keyring node reads MOBY_HMAC_KEYS; by default it holds only the master key the simulator derives from
  if (!env.MOBY_HMAC_KEYS) env.MOBY_HMAC_KEYS = JSON.stringify({ '*': { m1: env.MOBY_MASTER_KEY } });
  const port = Number(env.MOBY_PORT || 1880);
  const host = env.MOBY_HOST || '127.0.0.1';
  // before anything starts: Node-RED would otherwise die with a raw EADDRINUSE stack after its slow start
  await checkPortFree('Node-RED editor', host, port, EDITOR_HINT);
  const claim = claimRun(stateDir, { embeddedBroker: !env.MOBY_MQTT_URL });
  const previousRun = previousRunLine(claim);
  if (previousRun) log(previousRun);
  const unmarked = unmarkedLine(claim);
  if (unmarked) log(unmarked);
  if (!env.MOBY_MQTT_URL) {
    // a login for the pipeline generated per start, handed to Node-RED only (MOBY_MQTT_PASSWORD is NODE_RED_ONLY)
    if (!env.MOBY_MQTT_USERNAME) env.MOBY_MQTT_USERNAME = 'moby-pipeline';
    if (!env.MOBY_MQTT_PASSWORD) env.MOBY_MQTT_PASSWORD = crypto.randomBytes(24).toString('base64url');
    broker = await startEmbeddedBroker({
      clientId: env.MOBY_MQTT_CLIENT_ID,
      username: env.MOBY_MQTT_USERNAME,
      password: env.MOBY_MQTT_PASSWORD,
    });
    env.MOBY_MQTT_URL = broker.url;
  } else {
    const simUrl = env.MOBY_MQTT_URL;
    splitMqttLogin(env);
    env.MOBY_SIM_MQTT_URL = simUrl;
    log(`using MQTT broker ${redactUrl(simUrl)}`);
  }
  if (tenants.length) {
    // one keys file per tenant (the keyring polls the directory: edit a file to rotate that tenant's keys);
    // the demo derives each tenant's master from MOBY_MASTER_KEY (one way) unless MOBY_MASTER_KEY_<TENANT> is set
    const keysDir = path.join(userDir, 'tenant-keys');
    fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    for (const t of tenants) {
      const master = tenantMaster(env, t);
      fs.writeFileSync(path.join(keysDir, `${t}.json`), JSON.stringify({ '*': { m1: master } }), { mode: 0o600 });
    }
    // tenant operator tokens: MOBY_TENANT_TOKENS, or new ones at every start (printed below)
    if (!env.MOBY_TENANT_TOKENS) {
      env.MOBY_TENANT_TOKENS = JSON.stringify(
        Object.fromEntries(tenants.map((t) => [t, crypto.randomBytes(24).toString('base64url')]))
      );
      env.MOBY_TENANT_TOKENS_GENERATED = '1';
    }
    if (!env.MOBY_SIM_ARGS) env.MOBY_SIM_ARGS = startDemoSimArgs(env, tenants.length);
    env.MOBY_SIM_ARGS += ` --tenants ${tenants.join(',')} --tenant-keys-dir ${keysDir}`;
    log(`tenants: ${tenants.join(', ')} (keys in ${keysDir}, points to bucket moby-<tenant>)`);
  }
  prepareUserDir(secrets.credentialSecret, env);
  env.MOBY_PORT = String(port);
  // The simulator starts, and the URLs are printed, only once Node-RED has started the flow and its broker
  // node is connected: a device's retained will or birth that arrives before the pipeline has ever seen the
  // device's signed data is refused by the last-will trust rules (docs/security-devices.md), so a simulator
  // that ran ahead would hide the demo's OFFLINE device; and a URL printed before it answers helps nobody.
  const ready = pipelineReady();
  const onLine = (line) => {
    ready.onLine(line);
    // someone took the port between our check and Node-RED's listen
    if (/Unable to listen on|port in use|EADDRINUSE/.test(line))
      log(new PortBusyError('Node-RED editor', host, port, EDITOR_HINT(port)).message);
  };
  spawnChild(
    'node-red',
    [
      path.join(root, 'scripts', 'node-red.js'),
      '--userDir',
      userDir,
      '--settings',
      path.join(root, 'flows', 'settings.js'),
    ],
    env,
    onLine,
    true
  );
  if (broker) reportBrokerRefusals();
  await ready.promise;
  if (broker && !(await Promise.race([broker.admitted().then(() => true), sleep(ADMIT_WAIT_MS).then(() => false)])))
    log(
      `the pipeline has not subscribed to the embedded broker within ${ADMIT_WAIT_MS / 1000} s: devices are held without an answer until it does (a flow without moby-mqtt-in nodes never does)`
    );
  // bound to every address: the URLs name the machine (a browser cannot open http://0.0.0.0/, and the host check
  // answers to the machine's own names: allowedHostNames)
  const wildcard = host === '0.0.0.0' || host === '::';
  const reachable = wildcard ? os.hostname().toLowerCase() : host;
  const shown = reachable.includes(':') ? `[${reachable}]` : reachable;
  // "Started flows" is logged before the HTTP server is certain to answer: print no URL that does not
  if (!(await answers(wildcard ? `http://127.0.0.1:${port}/` : `http://${shown}:${port}/`, 60000)))
    log(`Node-RED does not answer on http://${shown}:${port}/ yet; the URLs below may need a moment`);

  const simBin = path.join(root, 'dist', 'bin', 'moby-sim.js');
  if (env.MOBY_SIM !== '0' && fs.existsSync(simBin)) {
    const simArgs = (env.MOBY_SIM_ARGS || startDemoSimArgs(env, 1)).split(/\s+/).filter(Boolean);
    const simEnv = { ...env };
    for (const k of NODE_RED_ONLY) delete simEnv[k];
    // stopped with MOBY (Ctrl+C), the demo devices leave without announcing OFFLINE: switching the demo off is not
    // a plant failing, and each stop opened a critical alert per device (bin/lib/simulator.ts, stop)
    simEnv.MOBY_SIM_QUIET_STOP = '1';
    // the fleet's progress in MOBY_HOME: a restarted npm start continues the machines instead of starting them
    // over (every sensor jumping back at once would be a fleet of genuine anomalies)
    if (!simArgs.includes('--state')) simArgs.push('--state', path.join(stateDir, 'sim-state.json'));
    spawnChild('sim', [simBin, '--url', env.MOBY_SIM_MQTT_URL || env.MOBY_MQTT_URL, ...simArgs], simEnv);
  }
  log(
    env.MOBY_INFLUX_URL
      ? `InfluxDB: ${redactUrl(env.MOBY_INFLUX_URL)} (org ${env.MOBY_INFLUX_ORG}, bucket ${env.MOBY_INFLUX_BUCKET})`
      : `no MOBY_INFLUX_URL: the writer spools points to disk under ${userDir}/moby-spool until a database is configured`
  );
  log(`Node-RED editor: http://${shown}:${port}/  (user ${env.MOBY_ADMIN_USER || 'admin'})`);
  if (secrets.adminPassword) {
    log(`  password (shown only now; only its hash is kept in ${secrets.files.admin}): ${secrets.adminPassword}`);
  } else if (secrets.adminSource === 'file') {
    log(
      `  password: the one printed at the first start; to reset it delete ${secrets.files.admin} (a new one is printed) or set MOBY_ADMIN_PASSWORD`
    );
  } else {
    log('  password: from MOBY_ADMIN_PASSWORD / MOBY_ADMIN_PASSWORD_HASH');
  }
  log(`alert API:       http://${shown}:${port}/moby/alerts  (devices: /moby/devices, metrics: /moby/metrics)`);
  if (secrets.apiTokenPlain) {
    log(`  API token (shown only now; only its hash is kept in ${secrets.files.api}): ${secrets.apiTokenPlain}`);
    log(`  e.g. curl -H "Authorization: Bearer ${secrets.apiTokenPlain}" http://${shown}:${port}/moby/alerts`);
  } else if (secrets.apiSource === 'file') {
    log(
      `  API token: the one printed at the first start; to reset it delete ${secrets.files.api} or set MOBY_API_TOKEN`
    );
  } else {
    log('  API token: from MOBY_API_TOKEN (send it as "Authorization: Bearer <token>")');
  }
  if (tenants.length && env.MOBY_TENANT_TOKENS_GENERATED) {
    for (const [t, token] of Object.entries(JSON.parse(env.MOBY_TENANT_TOKENS)))
      log(`  tenant ${t} API token (this start only; set MOBY_TENANT_TOKENS to keep them): ${token}`);
  }
  if (secrets.credentialSource === 'generated')
    log(
      `credential secret generated in ${secrets.files.credential} (keep it with the user directory; set MOBY_CREDENTIAL_SECRET to choose one)`
    );
  // said again here, where the login and the token are: the first one scrolled away among Node-RED's lines
  if (notificationsLine) log(notificationsLine);
  log('press Ctrl+C to stop');
}

process.on('SIGINT', () => shutdown(0, 'SIGINT: Ctrl+C or kill -INT'));
process.on('SIGTERM', () => shutdown(0, 'SIGTERM: a supervisor, docker stop or kill'));
// The embedded broker runs in this process and reads what any local client sends. An exception nobody caught
// (a broker bug, a library's) ended the script at once: Node-RED and the simulator closed through their IPC
// channel, but what the broker held for Node-RED died with it. Stop in order instead (simulator, the broker's
// hand-over, Node-RED) and exit 1 for a supervisor to start it again; during a stop, the rest is killed at once.
function crashed(what, err) {
  console.error(`[moby] ${what}: ${err && err.stack ? err.stack : err}`);
  log('stopping everything in order after this error (exit code 1)');
  shutdown(1, what);
}
process.on('uncaughtException', (err) => crashed('uncaught exception', err));
process.on('unhandledRejection', (err) => crashed('unhandled promise rejection', err));

/** How often the script looks whether npm, which started it, is still its parent. */
const PARENT_CHECK_MS = 1000;

// Under `npm start` this script is not npm's child but a shell's (`sh -c "node scripts/start.js"`). A SIGTERM to npm
// alone (a process supervisor, `kill <npm pid>`) is forwarded to that shell, which dies of it without passing it on;
// npm exits with it and this script ran on as an orphan with Node-RED, the broker and the simulator (operator round,
// 2026-12-06). When the shell is gone the script is re-parented: it then stops as on SIGTERM. Only under npm
// (npm_lifecycle_event): `nohup node scripts/start.js &` from a shell that then exits must keep running.
if (process.env.npm_lifecycle_event) {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid === parent || stopping) return;
    log(`npm, which started this script, has gone (parent ${parent}): stopping as on SIGTERM`);
    shutdown(0, 'npm has gone');
  }, PARENT_CHECK_MS).unref();
}
main().catch((err) => {
  if (err && err.code === 'MOBY_PORT_BUSY') console.error(`[moby] ${err.message}`);
  else console.error(err);
  shutdown(1, 'it could not start');
});
