// moby-alert under load: scored messages from 10k devices, ~1 % anomalous in bursts, through the node in
// an embedded Node-RED runtime (RED.init/RED.start, no test-helper spies), with a webhook channel to a local
// receiver. Reports unpaced msgs/s against two baselines measured in the same run (a core change node with no
// rules in the same runtime = the runtime's own per-message cost; the alert core alone), then a paced run at
// 50k msgs/s with per-tick latency percentiles and memory, and checks notifications == distinct incidents.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AlertEngine } from '../../nodes/core/alert/engine';
import { signalsFromMessage } from '../../nodes/core/alert/inputs';
import { startReceiver } from '../support/alert-servers';
import { fmt, heapUsedMB, percentiles, printRates, type Rate } from './lib';

const DEVICES = 10000;
const BURST = 5; // anomalous points per incident
const MIN_GAP = 3; // normal points before a device may burst again (= autoResolvePoints)
const START_P = 0.002; // per-point chance a quiet device starts a burst → ≈1 % anomalous points
const RATE = 50000;
const PACED_SECONDS = 6;

/** Scored points round-robin over the devices with anomalous bursts; counts the incidents it creates. */
class Stream {
  private burstLeft = new Int32Array(DEVICES);
  private quiet = new Int32Array(DEVICES).fill(MIN_GAP);
  private seed = 42;
  incidents = 0;
  anomalous = 0;
  total = 0;

  private rand(): number {
    // xorshift: deterministic, cheap
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x;
    return (x >>> 0) / 4294967296;
  }

  next(i: number): Record<string, unknown> {
    const d = i % DEVICES;
    let bad = false;
    if (this.burstLeft[d] > 0) {
      bad = true;
      this.burstLeft[d]--;
    } else if (this.quiet[d] >= MIN_GAP && this.rand() < START_P) {
      bad = true;
      this.burstLeft[d] = BURST - 1;
      this.incidents++;
    }
    if (bad) {
      this.quiet[d] = 0;
      this.anomalous++;
    } else this.quiet[d]++;
    this.total++;
    const score = bad ? 0.9 + this.rand() * 0.1 : this.rand() * 0.5;
    return {
      topic: 'telemetry',
      payload: {
        measurement: 'telemetry',
        tags: { device_id: `dev-${d}` },
        fields: { vibration: score },
        timestamp: 1_700_000_000_000 + i,
      },
      anomaly: {
        score,
        threshold: 0.8,
        is_anomaly: bad,
        severity: bad ? 'warning' : 'normal',
        method: 'ewma',
        contributions: { vibration: score },
      },
    };
  }
}

function rate(name: string, ops: number, ms: number): Rate {
  return { name, ops, seconds: ms / 1000, perSec: (ops * 1000) / ms };
}

function unpaced(name: string, n: number, fn: (msg: Record<string, unknown>) => void, stream = new Stream()): Rate {
  const msgs = Array.from({ length: n }, (_, i) => stream.next(i));
  const t0 = performance.now();
  for (const m of msgs) fn(m);
  return rate(name, n, performance.now() - t0);
}

async function main(): Promise<void> {
  const receiver = await startReceiver();
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-alert-bench-'));
  const flow = [
    { id: 'tab', type: 'tab', label: 'bench' },
    { id: 'baseline', type: 'change', z: 'tab', rules: [], wires: [] },
    {
      id: 'alert',
      type: 'moby-alert',
      z: 'tab',
      apiPrefix: '/moby',
      autoResolvePoints: MIN_GAP,
      updateEventSec: 1,
      notifyOpen: true,
      notifyResolve: false,
      notifyEscalate: false,
      maxOpen: DEVICES,
      queueSize: 100000,
      webhook: 'wh',
      retryBaseSec: 0.05,
      wires: [['sink'], [], []],
    },
    { id: 'sink', type: 'change', z: 'tab', rules: [], wires: [] },
    { id: 'wh', type: 'moby-webhook', url: `${receiver.url}/hook`, timeout: 5 },
  ];
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow));
  const RED = require('node-red');
  RED.init(http.createServer(), {
    userDir,
    flowFile: 'flows.json',
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: '/',
    nodesDir: [path.resolve(__dirname, '..', '..', 'dist', 'nodes', 'alert')],
    logging: { console: { level: 'warn' } },
    editorTheme: { tours: false },
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
  });
  await RED.start();
  const waitNode = async (id: string) => {
    for (let i = 0; i < 200 && !RED.nodes.getNode(id); i++) await new Promise((r) => setTimeout(r, 50));
    return RED.nodes.getNode(id);
  };
  const baselineNode = await waitNode('baseline');
  const alertNode = await waitNode('alert');
  await new Promise((r) => setTimeout(r, 200)); // state restore callback

  const N = 200000;
  const heap0 = heapUsedMB();
  const base = unpaced('baseline: core change node (same runtime)', N, (m) => baselineNode.receive(m));
  const engine = new AlertEngine({ autoResolvePoints: MIN_GAP, maxOpen: DEVICES });
  const core = unpaced('baseline: alert core alone (map + engine)', N, (m) => {
    const r = signalsFromMessage(m);
    if (r.ok) for (const s of r.signals) engine.apply(s);
  });
  // the bounded engine in CPU time, fresh engine and stream each, three runs (the first measurement of
  // anything here also pays for JIT warm-up). The figures before the bound are in docs/alerts.md.
  const cpuOf = (E: typeof AlertEngine): number => {
    const e = new E({ autoResolvePoints: MIN_GAP, maxOpen: DEVICES });
    const stream = new Stream();
    const msgs = Array.from({ length: N }, (_, i) => stream.next(i));
    const c0 = process.cpuUsage();
    for (const m of msgs) {
      const r = signalsFromMessage(m);
      if (r.ok) for (const s of r.signals) e.apply(s);
    }
    const c = process.cpuUsage(c0);
    return N / ((c.user + c.system) / 1e6);
  };
  const newCpu: number[] = [];
  for (let round = 0; round < 3; round++) newCpu.push(cpuOf(AlertEngine));
  const med3 = (a: number[]) => [...a].sort((x, y) => x - y)[1];
  const warm = new Stream();
  const node = unpaced('moby-alert node, unpaced', N, (m) => alertNode.receive(m), warm);
  printRates(
    `moby-alert: ${fmt(N)} msgs, ${fmt(DEVICES)} devices, ~1 % anomalous in bursts of ${BURST}`,
    [node, core],
    base
  );
  console.log(`\nalert core (signals + engine) per CPU-second, fresh engine and stream, median of 3 runs`);
  console.log(
    `  engine (bounded, evicting)                    ${fmt(med3(newCpu)).padStart(10)} /s  (${newCpu.map((v) => fmt(v)).join(', ')})`
  );
  // memory per open alert and a flood of 100k new (device, rule) pairs into a bound of 10k
  {
    const h0 = heapUsedMB();
    const flooded = new AlertEngine({ maxOpen: 10_000, maxResolved: 1000 });
    const t0 = process.cpuUsage();
    for (let k = 0; k < 100_000; k++)
      flooded.apply({ kind: 'trigger', device_id: `flood-${k}`, rule: 'device_offline' });
    const c = process.cpuUsage(t0);
    const perAlert = ((heapUsedMB() - h0) * 1048576) / (flooded.openCount() + 1000);
    console.log(
      `\nflood of 100,000 new alerts into a bound of 10,000 open: ${fmt(flooded.openCount())} open, ${fmt(flooded.evictions)} evicted, ${fmt(100_000 / ((c.user + c.system) / 1e6))} per CPU-second, ${fmt(perAlert)} bytes per held alert`
    );
  }

  // paced: RATE msgs/s in 10 ms ticks, continuing the same per-device stream
  const stream = warm;
  const perTick = RATE / 100;
  const tickMs: number[] = [];
  const lag: number[] = [];
  let i = N;
  const t0 = performance.now();
  const ticks = PACED_SECONDS * 100;
  for (let k = 0; k < ticks; k++) {
    const due = t0 + k * 10;
    const now = performance.now();
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
    const start = performance.now();
    lag.push(start - due);
    for (let j = 0; j < perTick; j++) alertNode.receive(stream.next(i++));
    tickMs.push(performance.now() - start);
  }
  const elapsed = performance.now() - t0;
  const sent = ticks * perTick;
  const heap1 = heapUsedMB();

  // all notifications delivered? one per incident (opens only; resolve/escalate notifications off here)
  const deadline = Date.now() + 30000;
  while (receiver.delivered().length < stream.incidents && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500));
  const delivered = receiver.delivered().length;
  const ids = new Set(receiver.delivered().map((r) => r.headers['webhook-id']));

  const tp = percentiles(tickMs);
  const lp = percentiles(lag);
  console.log(`\npaced ${fmt(RATE)} msgs/s for ${PACED_SECONDS} s through moby-alert`);
  console.log(
    `  sustained                         ${fmt(sent / (elapsed / 1000)).padStart(14)} msgs/s (target ${fmt(RATE)})`
  );
  console.log(
    `  busy time per 10 ms tick (${fmt(perTick)} msgs) p50 ${fmt(tp.p50, 2)} ms  p90 ${fmt(tp.p90, 2)} ms  p99 ${fmt(tp.p99, 2)} ms`
  );
  console.log(
    `  schedule lag                      p50 ${fmt(lp.p50, 2)} ms  p90 ${fmt(lp.p90, 2)} ms  p99 ${fmt(lp.p99, 2)} ms`
  );
  console.log(
    `  heap used                          ${fmt(heap0, 1)} MB before → ${fmt(heap1, 1)} MB after (${fmt(stream.total)} msgs, rss ${fmt(process.memoryUsage().rss / 1048576, 0)} MB)`
  );
  console.log(
    `  anomalous points                   ${fmt(stream.anomalous)} of ${fmt(stream.total)} (${fmt((100 * stream.anomalous) / stream.total, 2)} %)`
  );
  console.log(`  distinct incidents                 ${fmt(stream.incidents)}`);
  console.log(
    `  webhook notifications delivered    ${fmt(delivered)} (${fmt(ids.size)} distinct ids, ${fmt(receiver.requests.length)} requests)`
  );
  const ok = delivered === stream.incidents && ids.size === delivered;
  console.log(`  notifications == incidents         ${ok ? 'yes' : 'NO'}`);

  await RED.stop();
  await receiver.close();
  if (!ok) process.exitCode = 1;
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
