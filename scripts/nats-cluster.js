// A local NATS cluster for the partitioned pipeline (docs/scale-out.md): N nats-server processes in one
// cluster, JetStream on each (MQTT sessions and their QoS 1 messages live in replicated streams), MQTT on
// each, and the subject mappings that give every device exactly one partition. Used by
// `npm run start:cluster` (scripts/start-cluster.js), the scale test and the cluster bench.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const mqtt = require('mqtt');
const { freePort } = require('./lib/free-port');

/**
 * The MQTT topics a device publishes, as NATS subjects (MQTT "/" is NATS "."), with the token that names the
 * device. Every one is mapped to `p.<partition>.<original subject>`: the pipeline of partition k subscribes
 * to `p/<k>/<its usual filter>`. partition(n, 1) hashes the first wildcard — the device id — so a device's
 * telemetry, will and status all land on the same partition.
 */
const PARTITIONED_SUBJECTS = ['devices.*.telemetry', 'device.lwt.*', 'device.status.*'];

/** `subject` as a mapping's destination: its `*` tokens become {{wildcard(k)}}, k counting on from `before`. */
function wildcardTarget(subject, before = 0) {
  let w = before;
  return subject
    .split('.')
    .map((t) => (t === '*' ? `{{wildcard(${++w})}}` : t))
    .join('.');
}

/** The `mappings` block of a NATS config for `partitions` partitions. */
function partitionMappings(partitions) {
  const n = Math.floor(Number(partitions));
  if (!Number.isInteger(n) || n < 1) throw new Error(`partition count must be a whole number ≥ 1, got ${partitions}`);
  const lines = PARTITIONED_SUBJECTS.map((s) => `  "${s}": "p.{{partition(${n},1)}}.${wildcardTarget(s)}"`);
  return `mappings = {\n${[...lines, ...unroutedMappings()].join('\n')}\n}\n`;
}

/**
 * A publish straight to a partition's subject (`p/1/devices/<id>/telemetry`) is not mapped, so it would reach
 * that partition whatever device it names: a client without keys replayed envelopes captured on one partition
 * onto another, whose replay cache had not seen them, and that instance opened 18 false "device offline"
 * alerts for devices it does not own (red-team round 2026-12-07). These mappings move such publishes to
 * `unrouted.p.…`, which nobody subscribes to and devices may not publish to. NATS maps a subject once, so what
 * the partition mappings produce is not moved again.
 */
function unroutedMappings() {
  // the partition token is the source's first wildcard
  return PARTITIONED_SUBJECTS.map((s) => `  "p.*.${s}": "unrouted.p.{{wildcard(1)}}.${wildcardTarget(s, 1)}"`);
}

/** A fresh secret for a generated login. */
const secret = () => crypto.randomBytes(24).toString('base64url');

/**
 * The logins of a cluster: the pipeline's (MOBY_MQTT_USERNAME / MOBY_MQTT_PASSWORD of every instance), the one
 * the servers' routes use between them, and the devices' user, which clients without a login become.
 */
function clusterLogins() {
  return {
    pipeline: { username: 'moby-pipeline', password: secret() },
    route: { username: 'moby-route', password: secret() },
    // nobody logs in as it (no_auth_user): a password nobody knows
    device: { username: 'moby-device', password: secret() },
  };
}

/**
 * Who may do what. Before, every client could connect without a login and do anything (red-team round
 * 2026-12-07): subscribe to `#` and read every device's telemetry, use the JetStream API (list, and so purge,
 * the streams holding every queued message), or join the cluster as a route. Now:
 * - the pipeline logs in (a login generated per start) and may do everything;
 * - a client without a login is `moby-device`: it may publish a device's telemetry, status and will (as
 *   mapped: NATS checks the subject after the mapping) and subscribe to nothing. The JetStream API, `#`,
 *   `$SYS` and other subjects are closed to it;
 * - the servers' routes need their own login.
 * What stays open to a client without a login: taking the pipeline's MQTT session over with its client id (NATS
 * 2.9 has no per-client-id permission). `npm run start:cluster` gives the pipeline a secret client id for that
 * reason and runs the servers without their HTTP monitoring port, whose /connz lists the client ids
 * (docs/scale-out.md, "Securing the cluster").
 */
function authorizationConfig(logins) {
  const q = JSON.stringify;
  const devicePublish = PARTITIONED_SUBJECTS.map((s) => q(`p.*.${s}`)).join(', ');
  return [
    'authorization {',
    '  users = [',
    `    { user: ${q(logins.pipeline.username)}, password: ${q(logins.pipeline.password)} }`,
    `    { user: ${q(logins.device.username)}, password: ${q(logins.device.password)}, permissions: { publish: { allow: [${devicePublish}] }, subscribe: { deny: ">" } } }`,
    '  ]',
    '}',
    `no_auth_user: ${q(logins.device.username)}`,
  ].join('\n');
}

/**
 * Config text of server `i` of a cluster. `servers` = [{client, cluster, mqtt, http}] ports (`http` 0: no
 * monitoring port); `storeDir` is this server's JetStream directory; `logins` from clusterLogins().
 */
function serverConfig({ i, servers, storeDir, partitions, logins, clusterName = 'moby', host = '127.0.0.1' }) {
  if (!logins) throw new Error('serverConfig needs the logins (clusterLogins())');
  const me = servers[i];
  const r = logins.route;
  const routeAuth = `${encodeURIComponent(r.username)}:${encodeURIComponent(r.password)}@`;
  const routes = servers.filter((_, j) => j !== i).map((s) => `nats-route://${routeAuth}${host}:${s.cluster}`);
  return [
    `server_name: moby-nats-${i + 1}`,
    `listen: ${host}:${me.client}`,
    me.http ? `http: ${host}:${me.http}` : '',
    `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 64MB, max_file_store: 2GB }`,
    authorizationConfig(logins),
    `cluster { name: ${clusterName}, listen: ${host}:${me.cluster}, authorization { user: ${JSON.stringify(r.username)}, password: ${JSON.stringify(r.password)} }, routes: [${routes.join(', ')}] }`,
    // sessions and their queued messages replicated on every server (up to 3): losing one server loses
    // nothing; max_ack_pending ≤ the moby-mqtt-broker window (1000), so the source never has to pause reading
    `mqtt { listen: ${host}:${me.mqtt}, max_ack_pending: 1000, stream_replicas: ${Math.min(3, servers.length)}, ack_wait: "60s" }`,
    partitionMappings(partitions),
  ]
    .filter(Boolean)
    .join('\n');
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Whether the server takes an MQTT session with QoS 1 now, as the pipeline's login: that needs JetStream with a
 * meta leader (sessions live in replicated streams), so it is what "ready" means for the pipeline. A clean
 * session under a client id of its own, gone when it disconnects.
 */
async function mqttSessionOk(port, login) {
  let client = null;
  try {
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: `moby-ready-${process.pid}-${crypto.randomBytes(4).toString('hex')}`,
      clean: true,
      username: login.username,
      password: login.password,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    // a server whose JetStream has no meta leader yet may hold the SUBACK for good: unbounded, this wait hung
    // waitReady past its deadline, and `npm run start:cluster` printed nothing for minutes (CI, 2026-12-07)
    let timer;
    const granted = await Promise.race([
      client.subscribeAsync('moby/ready', { qos: 1 }),
      new Promise((resolve) => (timer = setTimeout(() => resolve(null), 5000))),
    ]).finally(() => clearTimeout(timer));
    return granted !== null && granted.length === 1 && granted[0].qos === 1;
  } catch {
    return false;
  } finally {
    if (client) await client.endAsync(true).catch(() => {});
  }
}

/**
 * Starts `size` servers in `dir` (one sub-directory each). Returns { servers: [{mqttUrl, ...}], mqttUrls,
 * logins, stop(i), start(i), close() }; `logins.pipeline` is the login the instances use (MOBY_MQTT_USERNAME,
 * MOBY_MQTT_PASSWORD). Resolves once every server takes an MQTT session with QoS 1 under that login (JetStream
 * has a meta leader). `monitoring`: give each server its HTTP monitoring port (`servers[i].http`, for tests and
 * benches reading /jsz); off by default, since /connz lists every client id, the pipeline's too.
 */
async function startNatsCluster({
  bin = '/usr/sbin/nats-server',
  size = 3,
  partitions = size,
  dir,
  log = () => {},
  signal = 'SIGTERM',
  monitoring = false,
  logins = clusterLogins(),
}) {
  const ports = [];
  for (let i = 0; i < size; i++)
    ports.push({
      client: await freePort(),
      cluster: await freePort(),
      mqtt: await freePort(),
      http: monitoring ? await freePort() : 0,
    });
  const procs = new Array(size).fill(null);
  const outputs = new Array(size).fill('');
  const configs = ports.map((_, i) => {
    const d = path.join(dir, `n${i + 1}`);
    fs.mkdirSync(d, { recursive: true });
    const file = path.join(d, 'nats.conf');
    // the config holds the logins: readable by this user only
    fs.writeFileSync(
      file,
      serverConfig({ i, servers: ports, storeDir: path.join(d, 'jetstream'), partitions, logins }),
      {
        mode: 0o600,
      }
    );
    fs.chmodSync(file, 0o600); // a config left by an earlier start keeps its mode otherwise
    return file;
  });
  function spawnOne(i) {
    // its own process group: a terminal's Ctrl+C to npm run start:cluster must not stop the servers before the
    // instances have acknowledged what they hold (start-cluster.js stops the servers last)
    const p = spawn(bin, ['-c', configs[i]], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    outputs[i] = '';
    const take = (c) => {
      outputs[i] += c;
      if (outputs[i].length > 200000) outputs[i] = outputs[i].slice(-100000);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    procs[i] = p;
    return p;
  }
  async function waitReady(indices, timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok = true;
      for (const i of indices) {
        const p = procs[i];
        if (!p || p.exitCode !== null) throw new Error(`nats-server ${i + 1} exited: ${outputs[i].slice(-2000)}`);
        if (!(await canConnect(ports[i].mqtt)) || !(await mqttSessionOk(ports[i].mqtt, logins.pipeline))) ok = false;
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`NATS cluster not ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const all = ports.map((_, i) => i);
  all.forEach(spawnOne);
  await waitReady(all);
  log(`NATS cluster of ${size} (JetStream + MQTT, ${partitions} partitions) ready`);
  const stopOne = (i, sig = signal) =>
    new Promise((resolve) => {
      const p = procs[i];
      procs[i] = null;
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill(sig);
    });
  return {
    servers: ports.map((p) => ({ ...p, mqttUrl: `mqtt://127.0.0.1:${p.mqtt}` })),
    mqttUrls: ports.map((p) => `mqtt://127.0.0.1:${p.mqtt}`),
    logins,
    output: (i) => outputs[i],
    /** SIGKILL (default for a crash) or SIGTERM server i */
    stop: stopOne,
    async start(i) {
      spawnOne(i);
      await waitReady([i]);
    },
    async close() {
      await Promise.all(all.map((i) => stopOne(i, 'SIGTERM')));
    },
  };
}

module.exports = { PARTITIONED_SUBJECTS, clusterLogins, partitionMappings, serverConfig, startNatsCluster };
