// Scale-out bench (issue #15, docs/scale-out.md): the shipped pipeline as ONE instance on Mosquitto (today's
// path, the baseline) against TWO instances (MOBY_PARTITION 0 and 1 of 2) on a 3-server NATS cluster with
// the device partition mapping and the shared alert view in Redis — same machine, same run, same messages.
//
// Per run: N signed messages from DEVICES devices published as fast as the broker acknowledges them;
// throughput = N / (first publish → the database holds all N points), a fresh VictoriaMetrics per run;
// CPU = user+system seconds of the Node-RED process(es) from /proc over the run. msgs per CPU-second is the
// cost figure that does not depend on how busy the shared machine is; "per-instance cost overhead" = CPU per
// message summed over the cluster's instances ÷ the single instance's − 1 (what the cluster path costs in
// Node-RED: NATS instead of Mosquitto, the partition prefix, the Redis mirror). Each run must store exactly N
// distinct points or the bench exits 1. The brokers' own CPU is not counted (three NATS servers with
// replicated JetStream do more work than one Mosquitto; they run on their own machines in a deployment).
// On a 2-core machine two instances cannot run twice as fast as one: the figure shows what the cluster path
// costs, not what N machines give.
//
//   npm run bench -- cluster      BENCH_N (20000), BENCH_DEVICES (200), BENCH_TRAIN (20), BENCH_CLIENTS (4),
//                                 BENCH_WINDOW (200), BENCH_ROUNDS (1: single, cluster; 2: ABBA)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMosquittoBroker, type MosquittoBroker } from '../support/mosquitto';
import { startVictoria, type Victoria } from '../support/victoria';
import { startRedis, type RedisServer } from '../support/redis';
import { sleep, waitFor, which } from '../support/net';
import { fmt } from './lib';
import { oursFlow } from './pipeline-flows';
import { killAllNodeRed, startNodeRed, type NodeRed } from './pipeline-nodered';
import { prepareLoad, publishLoad } from './pipeline-load';

const { startNatsCluster } = require('../../scripts/nats-cluster.js') as {
  startNatsCluster(o: { bin: string; size: number; partitions: number; dir: string; monitoring?: boolean }): Promise<{
    mqttUrls: string[];
    servers: Array<{ http: number }>;
    logins: { pipeline: { username: string; password: string } };
    close(): Promise<void>;
  }>;
};

const N = Number(process.env.BENCH_N || 20000);
const DEVICES = Number(process.env.BENCH_DEVICES || 200);
const TRAIN = Number(process.env.BENCH_TRAIN || 20);
const CLIENTS = Number(process.env.BENCH_CLIENTS || 4);
const WINDOW = Number(process.env.BENCH_WINDOW || 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 1);
const MASTER = 'moby-bench-master-key-not-secret';
const METRIC = 'telemetry_motor_temperature';
const RUN_TIMEOUT_MS = 180_000;

interface Result {
  kind: 'single' | 'cluster-2';
  instances: number;
  seconds: number;
  msgsPerSec: number;
  cpuSec: number;
  perInstance: number[];
  distinct: number;
  /** raw samples beyond the distinct ones: redeliveries the database absorbed (same series + timestamp) */
  duplicates: number;
}

function distinctStored(series: Array<{ timestamps: number[] }>): number {
  return series.reduce((n, x) => n + new Set(x.timestamps).size, 0);
}

async function countSamples(vm: Victoria): Promise<number> {
  try {
    await fetch(`${vm.url}/internal/force_flush`);
    const q = encodeURIComponent(`sum(count_over_time(${METRIC}[1h]))`);
    const r = (await (
      await fetch(`${vm.url}/api/v1/query?query=${q}&time=${(Date.now() + 1000) / 1000}&nocache=1`)
    ).json()) as { data?: { result?: Array<{ value: [number, string] }> } };
    return Number(r.data?.result?.[0]?.value?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function consumers(httpPort: number): Promise<number> {
  const jsz = (await (await fetch(`http://127.0.0.1:${httpPort}/jsz?consumers=true`)).json()) as {
    account_details?: Array<{ stream_detail?: Array<{ name: string; consumer_detail?: unknown[] }> }>;
  };
  return (jsz.account_details ?? [])
    .flatMap((a) => a.stream_detail ?? [])
    .filter((s) => s.name === '$MQTT_msgs')
    .reduce((n, s) => n + (s.consumer_detail?.length ?? 0), 0);
}

async function main(): Promise<void> {
  const bins = {
    mosquitto: which('mosquitto'),
    vm: which('victoria-metrics'),
    nats: which('nats-server'),
    redis: which('redis-server'),
  };
  for (const [k, v] of Object.entries(bins)) if (!v) throw new Error(`${k} is not installed`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-bench-cluster-'));
  const broker: MosquittoBroker = await startMosquittoBroker(bins.mosquitto!, {
    persistence: true,
    maxInflight: 1000,
    maxQueuedMessages: 200000,
  });
  const nats = await startNatsCluster({ bin: bins.nats!, size: 3, partitions: 2, dir, monitoring: true });
  const redis: RedisServer = await startRedis(bins.redis!);
  const load = prepareLoad(N, DEVICES, MASTER);
  const results: Result[] = [];
  let run = 0;

  async function once(kind: Result['kind']): Promise<Result> {
    run++;
    const vm = await startVictoria(bins.vm!);
    const instances = kind === 'single' ? 1 : 2;
    const nrs: NodeRed[] = [];
    try {
      const before = kind === 'single' ? 0 : await consumers(nats.servers[0].http);
      for (let k = 0; k < instances; k++) {
        const env: NodeJS.ProcessEnv = {
          MOBY_MQTT_URL:
            kind === 'single' ? broker.url : [...nats.mqttUrls.slice(k), ...nats.mqttUrls.slice(0, k)].join(','),
          MOBY_MQTT_CLIENT_ID: `moby-bench-${run}-${process.pid}`,
          ...(kind === 'single'
            ? {}
            : { MOBY_MQTT_USERNAME: nats.logins.pipeline.username, MOBY_MQTT_PASSWORD: nats.logins.pipeline.password }),
          MOBY_INFLUX_URL: vm.url,
          MOBY_INFLUX_ORG: 'moby',
          MOBY_INFLUX_BUCKET: 'moby',
          MOBY_INFLUX_TOKEN: '',
          MOBY_HMAC_KEYS: JSON.stringify({ '*': { m1: MASTER } }),
          MOBY_TRAIN_POINTS: String(TRAIN),
          MOBY_DEVICE_TIMEOUT: '3600',
          MOBY_CORS_ORIGINS: '',
          ...(kind === 'single'
            ? {}
            : {
                MOBY_PARTITION: String(k),
                MOBY_PARTITIONS: '2',
                MOBY_REDIS_URL: redis.url,
                MOBY_INSTANCE: `bench-${run}-${k}`,
              }),
        };
        nrs.push(await startNodeRed(`${kind}-${k}`, oursFlow('durable'), env, /\] connected to mqtt/));
      }
      if (kind === 'single')
        await sleep(500); // SUBACK
      else
        await waitFor(
          async () => (await consumers(nats.servers[0].http)) >= before + 3 * instances,
          120000,
          "the instances' subscriptions in JetStream",
          500
        );
      const u0 = nrs.map((n) => n.usage().cpuSec);
      let firstAt = 0;
      let pubErr: unknown = null;
      const url = kind === 'single' ? broker.url : nats.mqttUrls[0];
      const publishing = publishLoad(url, load, {
        clients: CLIENTS,
        window: WINDOW,
        tag: `${kind}-${run}`,
        count: N,
        onFirst: (t) => (firstAt = t),
      });
      publishing.catch((e) => (pubErr = e));
      let doneAt = 0;
      const deadline = Date.now() + RUN_TIMEOUT_MS;
      while (!doneAt && Date.now() < deadline) {
        if (pubErr) throw pubErr;
        await sleep(250);
        // the raw count may include redeliveries (same series + timestamp): done when N distinct are stored
        if ((await countSamples(vm)) >= N && distinctStored(await vm.export(METRIC)) >= N) doneAt = Date.now();
      }
      await publishing;
      const u1 = nrs.map((n) => n.usage().cpuSec);
      if (!doneAt) throw new Error(`${kind}: not all ${N} points stored within ${RUN_TIMEOUT_MS / 1000} s`);
      await sleep(1000);
      const series = await vm.export(METRIC);
      const distinct = distinctStored(series);
      const raw = series.reduce((n, x) => n + x.timestamps.length, 0);
      if (distinct !== N) throw new Error(`${kind}: ${distinct} distinct points stored, expected ${N}`);
      const perInstance = u1.map((c, i) => c - u0[i]);
      const cpuSec = perInstance.reduce((a, b) => a + b, 0);
      const seconds = (doneAt - firstAt) / 1000;
      return {
        kind,
        instances,
        seconds,
        msgsPerSec: N / seconds,
        cpuSec,
        perInstance,
        distinct,
        duplicates: raw - distinct,
      };
    } finally {
      for (const n of nrs) await n.stop();
      await vm.close();
    }
  }

  try {
    const order: Result['kind'][] =
      ROUNDS >= 2 ? ['single', 'cluster-2', 'cluster-2', 'single'] : ['single', 'cluster-2'];
    for (const kind of order) {
      const r = await once(kind);
      results.push(r);
      console.log(
        `  ${kind.padEnd(9)} ${r.instances} instance(s): ${fmt(r.msgsPerSec)} msgs/s (${fmt(r.seconds, 1)} s to store ${N}), ` +
          `Node-RED CPU ${fmt(r.cpuSec, 1)} s [${r.perInstance.map((c) => fmt(c, 1)).join(' + ')}] = ${fmt(N / r.cpuSec)} msgs per CPU-second, ${r.distinct} stored (${r.duplicates} redelivered duplicates)`
      );
    }
  } finally {
    killAllNodeRed();
    await nats.close();
    await redis.stop();
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const best = (k: Result['kind']) =>
    results.filter((r) => r.kind === k).sort((a, b) => b.msgsPerSec - a.msgsPerSec)[0];
  const cheapest = (k: Result['kind']) => results.filter((r) => r.kind === k).sort((a, b) => a.cpuSec - b.cpuSec)[0];
  const s = best('single');
  const c = best('cluster-2');
  const sc = cheapest('single');
  const cc = cheapest('cluster-2');
  console.log(`\n  summary (${N} msgs, ${DEVICES} devices, ${os.cpus().length} cores, same run):`);
  console.log(
    `    msgs/s               single ${fmt(s.msgsPerSec)}   2 instances ${fmt(c.msgsPerSec)}   ratio ${fmt(c.msgsPerSec / s.msgsPerSec, 2)}×`
  );
  console.log(
    `    msgs per CPU-second  single ${fmt(N / sc.cpuSec)}   2 instances ${fmt(N / cc.cpuSec)} (all instances)   ratio ${fmt(sc.cpuSec / cc.cpuSec, 2)}×`
  );
  console.log(
    `    per-instance cost overhead of the cluster path: ${fmt((cc.cpuSec / sc.cpuSec - 1) * 100, 0)} % more Node-RED CPU per message`
  );
}

main().catch((err) => {
  console.error(err);
  killAllNodeRed();
  process.exit(1);
});
