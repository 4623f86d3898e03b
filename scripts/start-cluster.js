#!/usr/bin/env node
// `npm run start:cluster`: the scale-out setup of docs/scale-out.md on one machine — a 3-server NATS cluster
// (JetStream + MQTT, devices partitioned by subject mapping), Redis (shared alert view), VictoriaMetrics when
// installed, N Node-RED instances (each `npm start`'s scripts/start.js with MOBY_PARTITION=k of N and its own
// MOBY_HOME) and the device simulator. Prints the URLs; Ctrl+C stops everything it started.
// Settings: MOBY_CLUSTER_INSTANCES (default 3), MOBY_CLUSTER_HOME (default .moby-cluster/), MOBY_PORT (first
// instance's port, default 1880; the others count up), MOBY_REDIS_URL (use an existing Redis instead),
// MOBY_INFLUX_URL (use an existing database instead), MOBY_SIM_ARGS (simulator arguments).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const { freePort } = require('./lib/free-port');
const { printLines } = require('./lib/child-output');
const { demoSimArgs } = require('./lib/demo-sim');
const path = require('node:path');
const { startNatsCluster } = require('./nats-cluster');

const root = path.resolve(__dirname, '..');
const home = path.resolve(process.env.MOBY_CLUSTER_HOME || path.join(root, '.moby-cluster'));
const instances = Math.max(1, Math.floor(Number(process.env.MOBY_CLUSTER_INSTANCES || 3)));
const firstPort = Number(process.env.MOBY_PORT || 1880);
const children = [];
let nats = null;
let stopping = false;
/** Secret strings the children may print (an instance logs the client id it connected as), and what stands in for them. */
const hidden = [];
const hideSecrets = (line) => hidden.reduce((l, [secret, label]) => l.split(secret).join(label), line);

const log = (line) => console.log(`[cluster] ${line}`);

function which(bin) {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/bin', '/sbin'])
    if (fs.existsSync(path.join(dir, bin))) return path.join(dir, bin);
  try {
    return execFileSync('which', [bin], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

async function waitPort(port, what, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up on port ${port}`);
}

function spawnChild(name, cmd, args, env, { critical = true, onLine = null, service = false, stdin = false } = {}) {
  // a process group of its own: a terminal's Ctrl+C reaches this script only, whose shutdown() stops the children
  // once each and in order. In the terminal's group each instance got SIGINT twice (the terminal's and ours) and took
  // the second for "stop now, without waiting", and Redis and NATS stopped with the instances instead of after
  // them (verification round 2026-12-07). npm start spawns its Node-RED the same way.
  const child = spawn(cmd, args, {
    cwd: root,
    env,
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  printLines(child, name, onLine, hideSecrets);
  child.on('exit', (code, signal) => {
    if (!stopping && critical) {
      log(`${name} exited (${signal || code}); stopping everything`);
      shutdown(code || 1);
    }
  });
  child.service = service;
  children.push(child);
  return child;
}

/**
 * One set of secrets for every instance: one API token, one editor login and one devices' master key for the
 * whole cluster (each instance's start.js would otherwise generate a master key of its own).
 */
function clusterSecrets() {
  const file = path.join(home, 'cluster-secrets.json');
  if (fs.existsSync(file)) {
    const kept = JSON.parse(fs.readFileSync(file, 'utf8'));
    // a file written before the master key or the client id was kept here: add them (the development key it
    // used is public; the fixed client id could be taken over)
    const missing = { ...laterSecrets(), ...kept };
    if (Object.keys(missing).length !== Object.keys(kept).length) {
      fs.writeFileSync(file, JSON.stringify(missing, null, 2), { mode: 0o600 });
    }
    return { ...missing, fresh: false };
  }
  const s = {
    MOBY_API_TOKEN: crypto.randomBytes(24).toString('base64url'),
    MOBY_ADMIN_PASSWORD: crypto.randomBytes(12).toString('base64url'),
    MOBY_CREDENTIAL_SECRET: crypto.randomBytes(32).toString('hex'),
    ...laterSecrets(),
  };
  fs.writeFileSync(file, JSON.stringify(s, null, 2), { mode: 0o600 });
  return { ...s, fresh: true };
}

/**
 * Secrets added to the file after its first version. The pipeline's client id: NATS 2.9 lets any client take an
 * MQTT session over by its client id, whatever its login, and the taken session lost what it queued for the
 * pipeline (red-team round 2026-12-07, with `moby-pipeline-0`). The id must stay the same across starts (the
 * session holds what arrived while the instance was down), so it is kept here, and the servers run without
 * their monitoring port, which lists client ids.
 */
function laterSecrets() {
  return {
    MOBY_MASTER_KEY: `hex:${crypto.randomBytes(32).toString('hex')}`,
    MOBY_MQTT_CLIENT_ID: `moby-pipeline-${crypto.randomBytes(12).toString('hex')}`,
  };
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  log('stopping');
  // the simulator and the Node-RED instances first (they flush to the database and acknowledge to NATS),
  // then Redis and the database
  const stop = async (list) => {
    for (const c of list) if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
    await Promise.all(
      list.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null))
    );
  };
  await stop(children.filter((c) => !c.service));
  await stop(children.filter((c) => c.service));
  if (nats) await nats.close();
  process.exit(code);
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'nodes'))) {
    console.error('dist/ is missing: run `npm run build` (npm run start:cluster does it for you)');
    process.exit(1);
  }
  const natsBin = which('nats-server');
  if (!natsBin) {
    console.error('nats-server is not installed (Debian/Ubuntu: apt-get install nats-server)');
    process.exit(1);
  }
  fs.mkdirSync(home, { recursive: true });
  // said before the wait: JetStream's first leader election can take a while, and nothing was printed until then
  log(`starting a NATS cluster of 3 servers in ${path.join(home, 'nats')} (JetStream elects its leader first)`);
  nats = await startNatsCluster({ bin: natsBin, size: 3, partitions: instances, dir: path.join(home, 'nats'), log });
  const mqttUrls = nats.mqttUrls;

  let redisUrl = process.env.MOBY_REDIS_URL;
  if (!redisUrl) {
    const bin = which('redis-server');
    if (!bin) {
      console.error('redis-server is not installed and MOBY_REDIS_URL is not set (the shared alert view needs Redis)');
      await shutdown(1);
    }
    const port = await freePort();
    const dir = path.join(home, 'redis');
    fs.mkdirSync(dir, { recursive: true });
    // a password per start: the shared alert view and device table are not every local process's to write
    // (red-team round 2026-12-07); given on stdin as a config line, not on the command line `ps` shows
    const password = crypto.randomBytes(24).toString('hex');
    const redis = spawnChild(
      'redis',
      bin,
      ['-', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes'],
      process.env,
      { service: true, stdin: true }
    );
    redis.stdin.end(`requirepass ${password}\n`);
    await waitPort(port, 'redis-server');
    redisUrl = `redis://:${password}@127.0.0.1:${port}`;
  }

  let influxUrl = process.env.MOBY_INFLUX_URL || '';
  const vmBin = !influxUrl && which('victoria-metrics');
  if (vmBin) {
    const port = await freePort();
    spawnChild(
      'victoria',
      vmBin,
      [
        `-httpListenAddr=127.0.0.1:${port}`,
        `-storageDataPath=${path.join(home, 'victoria')}`,
        '-loggerLevel=ERROR',
        // a redelivery (an instance stalled past NATS's ack_wait, or killed) writes the same points again: one
        // sample per series and timestamp, or count/sum over raw samples counts them twice (cluster round
        // 2026-12-07: 7 samples of 20 devices stored twice after a 45 s stall)
        '-dedup.minScrapeInterval=1ms',
      ],
      process.env,
      { service: true }
    );
    await waitPort(port, 'victoria-metrics');
    influxUrl = `http://127.0.0.1:${port}`;
  }

  const secrets = clusterSecrets();
  hidden.push([secrets.MOBY_MQTT_CLIENT_ID, '<the pipeline client id in cluster-secrets.json>']);
  const ports = [];
  const ready = [];
  for (let k = 0; k < instances; k++) {
    const port = firstPort + k;
    ports.push(port);
    // each instance lists "its" server first; mqtt.js moves down the list when one is unreachable
    const urls = [...mqttUrls.slice(k % mqttUrls.length), ...mqttUrls.slice(0, k % mqttUrls.length)].join(',');
    const env = {
      ...process.env,
      MOBY_HOME: path.join(home, `instance-${k}`),
      MOBY_PORT: String(port),
      MOBY_MQTT_URL: urls,
      MOBY_MQTT_CLIENT_ID: secrets.MOBY_MQTT_CLIENT_ID,
      MOBY_MQTT_USERNAME: nats.logins.pipeline.username,
      MOBY_MQTT_PASSWORD: nats.logins.pipeline.password,
      MOBY_PARTITION: String(k),
      MOBY_PARTITIONS: String(instances),
      MOBY_INSTANCE: `moby-${k}`,
      MOBY_REDIS_URL: redisUrl,
      MOBY_INFLUX_URL: influxUrl,
      MOBY_API_TOKEN: secrets.MOBY_API_TOKEN,
      MOBY_ADMIN_PASSWORD: secrets.MOBY_ADMIN_PASSWORD,
      MOBY_CREDENTIAL_SECRET: secrets.MOBY_CREDENTIAL_SECRET,
      MOBY_MASTER_KEY: process.env.MOBY_MASTER_KEY || secrets.MOBY_MASTER_KEY,
      MOBY_SIM: '0', // one simulator for the whole cluster, below
    };
    let resolve;
    ready.push(new Promise((r) => (resolve = r)));
    spawnChild(`moby-${k}`, process.execPath, [path.join(root, 'scripts', 'start.js')], env, {
      onLine: (line) => {
        if (/press Ctrl\+C to stop/.test(line)) resolve();
      },
    });
  }
  await Promise.all(ready);

  const simBin = path.join(root, 'dist', 'bin', 'moby-sim.js');
  if (process.env.MOBY_SIM !== '0' && fs.existsSync(simBin)) {
    // 60 devices over the instances, the warm-up every 100 ms (about 200 msg/s per instance while they calibrate)
    const demo = demoSimArgs({
      devices: 60,
      trainPoints: process.env.MOBY_TRAIN_POINTS || 600,
      warmupIntervalMs: 100,
    });
    const args = (process.env.MOBY_SIM_ARGS || demo).split(/\s+/).filter(Boolean);
    const simEnv = {
      ...process.env,
      MOBY_MASTER_KEY: process.env.MOBY_MASTER_KEY || secrets.MOBY_MASTER_KEY,
    };
    // every server, tried in turn at each reconnect: with one, a NATS outage of that server cut the simulator off
    // while the rest of the cluster ran (cluster round 2026-12-07)
    spawnChild('sim', process.execPath, [simBin, '--url', mqttUrls.join(','), ...args], simEnv, { critical: false });
  }

  log('---------------------------------------------------------------------------');
  log(`NATS MQTT servers: ${mqttUrls.join('  ')}`);
  log(`Redis (shared alerts): ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}`);
  log(
    influxUrl
      ? `database: ${influxUrl}`
      : 'no database (victoria-metrics not installed, MOBY_INFLUX_URL unset): each instance spools to disk'
  );
  ports.forEach((p, k) =>
    log(
      `instance moby-${k} (partition ${k} of ${instances}): editor http://127.0.0.1:${p}/  alert API http://127.0.0.1:${p}/moby/alerts`
    )
  );
  log(
    `every instance's alert API lists the whole fleet; API token${secrets.fresh ? '' : ` (kept in ${path.join(home, 'cluster-secrets.json')})`}: ${secrets.MOBY_API_TOKEN}`
  );
  log(
    `editor login: admin / ${secrets.fresh ? secrets.MOBY_ADMIN_PASSWORD : `(in ${path.join(home, 'cluster-secrets.json')})`}`
  );
  log('press Ctrl+C to stop everything');
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
main().catch((err) => {
  console.error(err);
  shutdown(1);
});
