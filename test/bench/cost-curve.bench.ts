// Cost curve (issue 16): does per-device state make the shipped pipeline's hot path slower as the fleet grows?
// The shipped flow (flows/pipeline.json, moby-mqtt-in, every check on) in a real Node-RED child, with a fresh
// Mosquitto and VictoriaMetrics per fleet size, the same total rate for every size:
//
//   1. warm-up (not measured): every device sends one message, so each has its state everywhere (replay
//      cache, anomaly buffer, device-health entry) before the measured phase;
//   2. measured: M messages paced at R msgs/s for every fleet size, device i mod D (so with 100k devices the
//      measured messages come from 20,000 known devices, with 1k each device sends 20), while Node-RED's
//      CPU is read from /proc: msgs per Node-RED CPU-second at the same rate is the cost of the hot path;
//   3. then: RSS of the Node-RED process, and the database must hold all D + M points (distinct (series,
//      timestamp) pairs; redeliveries after a reconnect are counted apart), or the bench exits 1.
//
// MOBY_TRAIN_POINTS is set high (BENCH_TRAIN, default 1000) so no device finishes calibrating in any size:
// every size runs the same path (verify, normalize, anomaly buffer, health, alert, writer); with the default
// 20 only the small fleets would reach scoring and the comparison would be between two different paths.
// The shipped anomaly node keeps at most 10,000 devices (maxDevices in flows/pipeline.json): beyond that it
// evicts the least recently seen, which the 100k row shows as the cost of a fleet above that bound.
//
//   npm run bench -- cost-curve      (after npm run build)
//   BENCH_COST_DEVICES (1000,10000,100000), BENCH_COST_N (M = 20000), BENCH_COST_RATE (R = 1000 msgs/s),
//   BENCH_TRAIN (1000), BENCH_CLIENTS (4), BENCH_WINDOW (200), BENCH_CPU_PROF=<dir> (V8 profile per size)
import http from 'node:http';
import { startMosquittoBroker } from '../support/mosquitto';
import { startVictoria, Victoria } from '../support/victoria';
import { sleep, which } from '../support/net';
import { fmt } from './lib';
import { oursFlow } from './pipeline-flows';
import { killAllNodeRed, startNodeRed } from './pipeline-nodered';
import { prepareLoad, publishLoad } from './pipeline-load';

const SIZES = (process.env.BENCH_COST_DEVICES || '1000,10000,100000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const M = Number(process.env.BENCH_COST_N || 20000);
const RATE = Number(process.env.BENCH_COST_RATE || 1000);
const TRAIN = Number(process.env.BENCH_TRAIN || 1000);
const CLIENTS = Number(process.env.BENCH_CLIENTS || 4);
const WINDOW = Number(process.env.BENCH_WINDOW || 200);
const MASTER = 'moby-bench-master-key-not-secret';
const METRIC = 'telemetry_motor_temperature';

function getJson(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

async function countSamples(vm: Victoria): Promise<number> {
  await getJson(`${vm.url}/internal/force_flush`).catch(() => undefined);
  const q = encodeURIComponent(`sum(count_over_time(${METRIC}[1h]))`);
  const r = await getJson(`${vm.url}/api/v1/query?query=${q}&time=${(Date.now() + 1000) / 1000}&nocache=1`);
  const v = r?.data?.result?.[0]?.value?.[1];
  return v === undefined ? 0 : Number(v);
}

/** Waits until the database holds `want` points (the writer flushes every 5 s); false after `ms`. */
async function waitStored(vm: Victoria, want: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await countSamples(vm)) >= want) return true;
    await sleep(250);
  }
  return false;
}

interface Row {
  devices: number;
  warmSec: number;
  rate: number;
  cpuSec: number;
  rssMB: number;
  heldRate: number;
  stored: number;
  distinct: number;
  want: number;
  reconnects: number;
}

async function runSize(devices: number, mosquittoBin: string, vmBin: string): Promise<Row> {
  const [broker, vm] = await Promise.all([
    startMosquittoBroker(mosquittoBin, { maxInflight: 1000 }),
    startVictoria(vmBin),
  ]);
  const load = prepareLoad(devices + M, devices, MASTER);
  const nr = await startNodeRed(
    `cost-${devices}`,
    oursFlow('durable'),
    {
      MOBY_MQTT_URL: broker.url,
      MOBY_MQTT_CLIENT_ID: `moby-bench-cost-${devices}-${process.pid}`,
      MOBY_INFLUX_URL: vm.url,
      MOBY_INFLUX_ORG: 'moby',
      MOBY_INFLUX_BUCKET: 'moby',
      MOBY_INFLUX_TOKEN: '',
      MOBY_HMAC_KEYS: JSON.stringify({ '*': { m1: MASTER } }),
      MOBY_TRAIN_POINTS: String(TRAIN),
      MOBY_DEVICE_TIMEOUT: '3600',
      MOBY_CORS_ORIGINS: '*',
    },
    /\] connected to mqtt/
  );
  try {
    // 1. warm-up: one message per device, as fast as the broker takes them, then wait until all are stored
    const w0 = Date.now();
    await publishLoad(broker.url, load, {
      clients: CLIENTS,
      window: WINDOW,
      tag: `cost-${devices}-warm`,
      count: devices,
    });
    // new devices are the expensive case (state created everywhere): allow 5 ms each, at least 3 minutes
    const warmLimitMs = Math.max(180_000, devices * 5);
    if (!(await waitStored(vm, devices, warmLimitMs)))
      throw new Error(`${devices} devices: warm-up not stored within ${warmLimitMs / 1000} s`);
    const warmSec = (Date.now() - w0) / 1000;
    global.gc?.();
    await sleep(1000);
    // 2. measured: M messages at RATE/s; CPU from the first publish until the database holds them all
    const u0 = nr.usage();
    const t0 = Date.now();
    await publishLoad(broker.url, load, {
      clients: CLIENTS,
      window: WINDOW,
      tag: `cost-${devices}-paced`,
      count: M,
      rate: RATE,
    });
    const sent = Date.now();
    const complete = await waitStored(vm, devices + M, 120_000);
    const u1 = nr.usage();
    // the writer's 5 s flush timer runs idle at the end: the CPU it adds is the same for every size
    const heldRate = M / ((sent - t0) / 1000);
    await sleep(1000);
    const series = await vm.export(METRIC);
    const stored = series.reduce((n, s) => n + s.timestamps.length, 0);
    const distinct = series.reduce((n, s) => n + new Set(s.timestamps).size, 0);
    if (!complete) console.log(`  ${devices} devices: only ${stored} of ${devices + M} points after 120 s`);
    const reconnects = nr
      .output()
      .split('\n')
      .filter((l) => /\] disconnected|session resumed/.test(l)).length;
    return {
      devices,
      warmSec,
      rate: RATE,
      cpuSec: u1.cpuSec - u0.cpuSec,
      rssMB: u1.rssMB,
      heldRate,
      stored,
      distinct,
      want: devices + M,
      reconnects,
    };
  } finally {
    await nr.stop();
    await Promise.all([broker.close(), vm.close()]);
  }
}

async function main(): Promise<number> {
  const mosquittoBin = which('mosquitto');
  const vmBin = which('victoria-metrics');
  if (!mosquittoBin || !vmBin) {
    console.error('cost-curve bench needs mosquitto and victoria-metrics');
    return 1;
  }
  console.log(
    `cost curve: the shipped pipeline, fleets of ${SIZES.map((s) => fmt(s)).join(' / ')} devices; one warm-up message per device, then ${fmt(M)} messages at ${fmt(RATE)}/s; calibration ${TRAIN} points (no device scores)`
  );
  const rows: Row[] = [];
  let failed = false;
  for (const d of SIZES) {
    const r = await runSize(d, mosquittoBin, vmBin);
    rows.push(r);
    // every point once (distinct = sent) is the guarantee; more raw samples than that are redeliveries after
    // an MQTT reconnect (at least once: the database holds the same (series, timestamp) twice), reported
    const lost = r.distinct !== r.want;
    if (lost) failed = true;
    const redelivered = r.stored - r.distinct;
    console.log(
      `  ${fmt(d)} devices: warm-up ${fmt(r.warmSec, 1)} s; ${fmt(M)} at ${fmt(r.heldRate)}/s held, Node-RED CPU ${fmt(r.cpuSec, 2)} s, RSS ${fmt(r.rssMB)} MB; ` +
        `${r.distinct} distinct of ${r.want}${redelivered ? ` (+${redelivered} redelivered after ${r.reconnects} reconnect(s))` : ''}${lost ? '  <-- LOSS' : ''}`
    );
  }
  console.log(
    '\ndevices    msgs/s held   msgs per CPU-s   µs CPU/msg   RSS MB   vs smallest   stored / sent   reconnects'
  );
  const first = rows[0];
  for (const r of rows) {
    console.log(
      `${fmt(r.devices).padStart(7)} ${fmt(r.heldRate).padStart(13)} ${fmt(M / r.cpuSec).padStart(16)} ${fmt((1e6 * r.cpuSec) / M).padStart(12)} ${fmt(r.rssMB).padStart(8)} ${fmt(first.cpuSec / r.cpuSec, 2).padStart(12)}× ${`${r.distinct} / ${r.want}`.padStart(15)} ${String(r.reconnects).padStart(12)}`
    );
  }
  console.log(
    `load average at the end: ${require('node:os')
      .loadavg()
      .map((l: number) => l.toFixed(1))
      .join(' ')}`
  );
  return failed ? 1 : 0;
}

const hardStop = setTimeout(() => {
  console.error('cost-curve bench: over 25 minutes, giving up');
  killAllNodeRed();
  process.exit(2);
}, 1_500_000);
hardStop.unref();
process.once('SIGINT', () => {
  killAllNodeRed();
  process.exit(130);
});
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    killAllNodeRed();
    process.exit(1);
  }
);
