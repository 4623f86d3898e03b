// InfluxDB writer throughput: MOBY points through messageToLines + InfluxWriter (batching, spool standby)
// into a write sink, next to the plain @influxdata/influxdb-client WriteApi writing the same points with
// the same batch size in the same run. Sinks: a counting HTTP server in a separate process (so it does not
// steal this process's CPU) and, when installed, a real VictoriaMetrics. Then spool append (with and
// without fdatasync) and replay rates, per-batch write latency percentiles and memory.
import { fork, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { InfluxDB, Point as ClientPoint } from '@influxdata/influxdb-client';
import { createInfluxSend, InfluxWriter, messageToLines, Spool } from '../../nodes/core/influx';
import type { Point } from '../../nodes/core/contract';
import { which } from '../support/net';
import { startVictoria } from '../support/victoria';
import { fmt, heapUsedMB, percentiles, printRates, type Rate } from './lib';

const POINTS = 200000;
const DEVICES = 100;
const BATCH = 100;

// the sink runs as a child process: counts lines of every POST, answers 204; GET /count reports the total
const SINK_SRC = `
const http = require('http');
const zlib = require('zlib');
let lines = 0;
const srv = http.createServer((req, res) => {
  if (req.method === 'GET') { res.end(String(lines)); return; }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    let n = 0;
    for (let i = 0; i < body.length; i++) if (body[i] === 10) n++;
    if (body.length && body[body.length - 1] !== 10) n++;
    lines += n;
    res.writeHead(204);
    res.end();
  });
});
srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
`;

function startSinkProcess(): Promise<{ url: string; proc: ChildProcess }> {
  const file = path.join(os.tmpdir(), `moby-bench-sink-${process.pid}.js`);
  fs.writeFileSync(file, SINK_SRC);
  const proc = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => proc.once('message', (port) => resolve({ url: `http://127.0.0.1:${port}`, proc })));
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function makePoints(base: number, offset: number): Point[] {
  const out: Point[] = [];
  for (let i = 0; i < POINTS; i++) {
    out.push({
      measurement: 'telemetry',
      tags: { device_id: `dev-${i % DEVICES}`, equipment_id: 'line-1' },
      fields: {
        temperature: 20 + (i % 50) / 10,
        vibration: (i % 97) / 1000,
        current: 3 + (i % 13) / 10,
        running: true,
      },
      timestamp: base + offset + Math.floor(i / DEVICES),
    });
  }
  return out;
}

async function runMoby(
  name: string,
  url: string,
  points: Point[],
  dir: string
): Promise<{ rate: Rate; latencies: number[] }> {
  const latencies: number[] = [];
  let written = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const writer = new InfluxWriter({
    send: createInfluxSend({ url, org: 'moby', bucket: 'bench', precision: 'ms' }),
    spool: Spool.open({ dir }),
    batchSize: BATCH,
    flushIntervalMs: 1000,
    maxQueuedBatches: 50,
    onWritten: (n, s) => {
      latencies.push(s * 1000);
      written += n;
      if (written >= points.length) done();
    },
  });
  const t0 = performance.now();
  // messages arrive in chunks (as from an MQTT client), letting the event loop run between them
  for (let i = 0; i < points.length; i += 1000) {
    for (let j = i; j < Math.min(points.length, i + 1000); j++)
      writer.add(messageToLines({ payload: points[j] }).lines);
    await new Promise((r) => setImmediate(r));
  }
  writer.flush();
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await writer.close(1000);
  return { rate: { name, ops: points.length, seconds, perSec: points.length / seconds }, latencies };
}

async function runClient(name: string, url: string, points: Point[]): Promise<Rate> {
  const api = new InfluxDB({ url }).getWriteApi('moby', 'bench', 'ms', {
    batchSize: BATCH,
    flushInterval: 1000,
    maxBufferLines: 1e6,
  });
  const t0 = performance.now();
  for (let i = 0; i < points.length; i += 1000) {
    for (let j = i; j < Math.min(points.length, i + 1000); j++) {
      const p = points[j];
      const cp = new ClientPoint(p.measurement).timestamp(p.timestamp);
      for (const k in p.tags) cp.tag(k, p.tags[k]);
      for (const k in p.fields) {
        const v = p.fields[k];
        if (typeof v === 'number') cp.floatField(k, v);
        else if (typeof v === 'boolean') cp.booleanField(k, v);
        else cp.stringField(k, v);
      }
      api.writePoint(cp);
    }
    await new Promise((r) => setImmediate(r));
  }
  await api.close(); // flushes and waits for every batch
  const seconds = (performance.now() - t0) / 1000;
  return { name, ops: points.length, seconds, perSec: points.length / seconds };
}

/**
 * CPU of this process per write request, one request at a time (a paced stream's group commits are often one
 * message each): the writer's request (createInfluxSend, core/influx/http-post.ts) against
 * @influxdata/influxdb-client's bare transport, which the writer used before (docs/benchmarks.md, sixteenth
 * round). Bodies of 1 and 100 lines, the two alternating over rounds, the same sink.
 */
async function benchRequestCpu(url: string): Promise<void> {
  const line =
    'telemetry,device_id=pump-129,equipment=pump temp=71.2,vibration=0.31,current=12.5,rpm=1480i 1764928000000';
  const path = '/api/v2/write?org=moby&bucket=plant&precision=ms';
  const client = new InfluxDB({ url, token: 'bench-token', timeout: 10000 });
  const options = { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, gzipThreshold: Infinity };
  const sides: Record<string, (body: string) => Promise<void>> = {
    'influxdb-client transport (before)': (body) =>
      new Promise((resolve, reject) =>
        client.transport.send(path, body, options, { error: reject, complete: () => resolve() })
      ),
    'moby createInfluxSend (http-post.ts)': createInfluxSend({
      url,
      org: 'moby',
      bucket: 'plant',
      precision: 'ms',
      token: 'bench-token',
      gzipThreshold: Infinity,
    }),
  };
  const REQUESTS = 3000;
  const ROUNDS = 4;
  for (const send of Object.values(sides)) for (let i = 0; i < REQUESTS; i++) await send(line); // warm-up
  console.log(
    `\nCPU per write request, one at a time (${fmt(REQUESTS)} requests × ${ROUNDS} rounds, sides alternating)`
  );
  for (const lines of [1, 100]) {
    const body = Array(lines).fill(line).join('\n');
    const us: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const names = Object.keys(sides);
      if (round % 2) names.reverse();
      for (const name of names) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < REQUESTS; i++) await sides[name](body);
        const c = process.cpuUsage(c0);
        (us[name] ??= []).push((c.user + c.system) / REQUESTS);
      }
    }
    for (const [name, xs] of Object.entries(us)) {
      const sorted = [...xs].sort((a, b) => a - b);
      const median = (sorted[ROUNDS / 2 - 1] + sorted[ROUNDS / 2]) / 2;
      console.log(
        `  ${name.padEnd(38)} ${String(lines).padStart(3)} line(s): median ${fmt(median)} µs (rounds ${xs.map((x) => fmt(x)).join(', ')})`
      );
    }
  }
}

function printLatency(title: string, ms: number[]): void {
  const p = percentiles(ms, [50, 90, 99]);
  console.log(
    `  ${title.padEnd(48)} p50 ${fmt(p.p50, 2)} ms  p90 ${fmt(p.p90, 2)} ms  p99 ${fmt(p.p99, 2)} ms  (${ms.length} batches)`
  );
}

function benchSpool(dir: string, fsync: boolean): Rate[] {
  const batch = Array.from(
    { length: BATCH },
    (_, i) =>
      `telemetry,device_id=dev-${i},equipment_id=line-1 temperature=21.5,vibration=0.012,current=3.4,running=true ${1795307652874 + i}`
  );
  const spool = Spool.open({ dir, fsync, maxBytes: 1 << 30 });
  const batches = fsync ? 500 : 5000;
  let t0 = performance.now();
  for (let i = 0; i < batches; i++) spool.append(batch);
  const appendS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  let n = 0;
  // as the writer replays: whole batches combined up to 5000 lines per request, one cursor update each
  for (let got = spool.peekBatches(5000); got; got = spool.peekBatches(5000)) {
    n += got.lines.length;
    spool.ack(got.batches);
  }
  const replayS = (performance.now() - t0) / 1000;
  spool.close();
  const label = fsync ? 'fdatasync per batch' : 'no fsync';
  return [
    { name: `spool append (${label})`, ops: batches * BATCH, seconds: appendS, perSec: (batches * BATCH) / appendS },
    { name: `spool replay, 5000-line reads (${label})`, ops: n, seconds: replayS, perSec: n / replayS },
  ];
}

/** Database down: memory must stay bounded while everything goes to the spool. */
async function benchOutageMemory(dir: string, base: number): Promise<void> {
  const deadPort = await new Promise<number>((resolve) => {
    const srv = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
  const writer = new InfluxWriter({
    send: createInfluxSend({ url: `http://127.0.0.1:${deadPort}`, org: 'moby', bucket: 'bench', precision: 'ms' }),
    spool: Spool.open({ dir, maxBytes: 1 << 30 }),
    batchSize: BATCH,
    flushIntervalMs: 1000,
  });
  const heapBefore = heapUsedMB();
  const t0 = performance.now();
  let peakBuffered = 0;
  for (let i = 0; i < POINTS; i += 1000) {
    for (let j = i; j < i + 1000; j++) {
      const p: Point = {
        measurement: 'telemetry',
        tags: { device_id: `dev-${j % DEVICES}` },
        fields: { temperature: 20 + (j % 50) / 10, running: true },
        timestamp: base + j,
      };
      writer.add(messageToLines({ payload: p }).lines);
    }
    peakBuffered = Math.max(peakBuffered, writer.stats().buffered);
    await new Promise((r) => setImmediate(r));
  }
  writer.flush();
  await new Promise((r) => setImmediate(r));
  const seconds = (performance.now() - t0) / 1000;
  const stats = writer.stats();
  const heapAfter = heapUsedMB();
  await writer.close(100);
  console.log('\ndatabase down (connection refused): everything to the spool');
  console.log(
    `  ${fmt(POINTS)} points in ${fmt(seconds, 2)} s = ${fmt(POINTS / seconds)} points/s; spooled ${fmt(stats.spooled)}, peak in memory ${fmt(peakBuffered)} points`
  );
  console.log(`  heap ${fmt(heapBefore, 1)} → ${fmt(heapAfter, 1)} MB while ${fmt(stats.spooled)} points wait on disk`);
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-influx-bench-'));
  const base = Date.now() - 3600 * 1000;
  console.log(
    `${fmt(POINTS)} points (4 fields, 2 tags, ${DEVICES} devices), batches of ${BATCH}, one process, Node ${process.version}`
  );
  const heap0 = heapUsedMB();
  const rss0 = process.memoryUsage().rss / 1048576;

  const sink = await startSinkProcess();
  try {
    const points = makePoints(base, 0);
    // warm-up of both paths (JIT, sockets)
    await runClient('warm-up', sink.url, points.slice(0, 20000));
    await runMoby('warm-up', sink.url, points.slice(0, 20000), path.join(tmp, 'warm'));
    const before = Number(await getText(`${sink.url}/count`));
    const client = await runClient('@influxdata WriteApi (baseline)', sink.url, points);
    const moby = await runMoby('moby: messageToLines + InfluxWriter', sink.url, points, path.join(tmp, 'spool-sink'));
    const counted = Number(await getText(`${sink.url}/count`)) - before;
    printRates('into a counting HTTP sink (separate process)', [client, moby.rate], client);
    printLatency('moby per-batch write latency', moby.latencies);
    console.log(`  sink counted ${fmt(counted)} lines (expected ${fmt(2 * POINTS)}: both runs, every point once)`);
    await benchRequestCpu(sink.url);
  } finally {
    sink.proc.kill();
  }

  const vmBin = which('victoria-metrics');
  if (vmBin) {
    const vm = await startVictoria(vmBin);
    try {
      const client = await runClient('@influxdata WriteApi (baseline)', vm.url, makePoints(base, 0));
      const moby = await runMoby(
        'moby: messageToLines + InfluxWriter',
        vm.url,
        makePoints(base, 1800 * 1000),
        path.join(tmp, 'spool-vm')
      );
      printRates('into VictoriaMetrics (/api/v2/write)', [client, moby.rate], client);
      printLatency('moby per-batch write latency', moby.latencies);
    } finally {
      await vm.close();
    }
  } else {
    console.log('\n(victoria-metrics not installed: skipped the database run)');
  }

  await benchOutageMemory(path.join(tmp, 'outage'), base);

  const spoolRates = [...benchSpool(path.join(tmp, 's1'), false), ...benchSpool(path.join(tmp, 's2'), true)];
  printRates('disk spool (100-point batches)', spoolRates);

  console.log(
    `\nmemory: heap ${fmt(heap0, 1)} → ${fmt(heapUsedMB(), 1)} MB after the runs, rss ${fmt(rss0, 0)} → ${fmt(process.memoryUsage().rss / 1048576, 0)} MB`
  );
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
