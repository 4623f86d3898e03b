// A local NATS cluster for the partitioned pipeline (docs/scale-out.md): N nats-server processes in one
// cluster, JetStream on each (MQTT sessions and their QoS 1 messages live in replicated streams), MQTT on
// each, and the subject mappings that give every device exactly one partition. Used by
// `npm run start:cluster` (scripts/start-cluster.js), the scale test and the cluster bench.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { freePort } = require('./lib/free-port');

/**
 * The MQTT topics a device publishes, as NATS subjects (MQTT "/" is NATS "."), with the token that names the
 * device. Every one is mapped to `p.<partition>.<original subject>`: the pipeline of partition k subscribes
 * to `p/<k>/<its usual filter>`. partition(n, 1) hashes the first wildcard — the device id — so a device's
 * telemetry, will and status all land on the same partition.
 */
const PARTITIONED_SUBJECTS = ['devices.*.telemetry', 'device.lwt.*', 'device.status.*'];

/** The `mappings` block of a NATS config for `partitions` partitions. */
function partitionMappings(partitions) {
  const n = Math.floor(Number(partitions));
  if (!Number.isInteger(n) || n < 1) throw new Error(`partition count must be a whole number ≥ 1, got ${partitions}`);
  const lines = PARTITIONED_SUBJECTS.map((s) => {
    let w = 0;
    const target = s
      .split('.')
      .map((t) => (t === '*' ? `{{wildcard(${++w})}}` : t))
      .join('.');
    return `  "${s}": "p.{{partition(${n},1)}}.${target}"`;
  });
  return `mappings = {\n${lines.join('\n')}\n}\n`;
}

/**
 * Config text of server `i` of a cluster. `servers` = [{client, cluster, mqtt, http}] ports; `storeDir` is
 * this server's JetStream directory.
 */
function serverConfig({ i, servers, storeDir, partitions, clusterName = 'moby', host = '127.0.0.1' }) {
  const me = servers[i];
  const routes = servers.filter((_, j) => j !== i).map((s) => `nats-route://${host}:${s.cluster}`);
  return [
    `server_name: moby-nats-${i + 1}`,
    `listen: ${host}:${me.client}`,
    me.http ? `http: ${host}:${me.http}` : '',
    `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 64MB, max_file_store: 2GB }`,
    `cluster { name: ${clusterName}, listen: ${host}:${me.cluster}, routes: [${routes.join(', ')}] }`,
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
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function httpOk(url) {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/**
 * Starts `size` servers in `dir` (one sub-directory each). Returns { servers: [{mqttUrl, ...}], mqttUrls,
 * stop(i), start(i), close() }. Resolves once every server's JetStream answers healthy (the cluster has a
 * meta leader: MQTT sessions can be created).
 */
async function startNatsCluster({
  bin = '/usr/sbin/nats-server',
  size = 3,
  partitions = size,
  dir,
  log = () => {},
  signal = 'SIGTERM',
}) {
  const ports = [];
  for (let i = 0; i < size; i++)
    ports.push({
      client: await freePort(),
      cluster: await freePort(),
      mqtt: await freePort(),
      http: await freePort(),
    });
  const procs = new Array(size).fill(null);
  const outputs = new Array(size).fill('');
  const configs = ports.map((_, i) => {
    const d = path.join(dir, `n${i + 1}`);
    fs.mkdirSync(d, { recursive: true });
    const file = path.join(d, 'nats.conf');
    fs.writeFileSync(file, serverConfig({ i, servers: ports, storeDir: path.join(d, 'jetstream'), partitions }));
    return file;
  });
  function spawnOne(i) {
    const p = spawn(bin, ['-c', configs[i]], { stdio: ['ignore', 'pipe', 'pipe'] });
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
        if (
          !(await canConnect(ports[i].mqtt)) ||
          !(await httpOk(`http://127.0.0.1:${ports[i].http}/healthz?js-enabled-only=true`))
        )
          ok = false;
      }
      // JetStream has a meta leader when /jsz reports one
      if (ok) {
        try {
          const jsz = await (await fetch(`http://127.0.0.1:${ports[indices[0]].http}/jsz`)).json();
          if (jsz.meta_cluster && jsz.meta_cluster.leader) return;
        } catch {
          /* not yet */
        }
      }
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

module.exports = { PARTITIONED_SUBJECTS, partitionMappings, serverConfig, startNatsCluster };
