// normalize throughput on the two example payloads, as they arrive from MQTT (JSON text and Buffer),
// against a bare JSON.parse loop over the same payload measured in the same run (target: ≥ 25 % of it);
// then the same through the Node-RED runtime (helper-driven flow) against the core json node.
import { performance } from 'node:perf_hooks';
import { Normalizer } from '../../nodes/core/normalize/normalize';
import { parseJsonSafe } from '../../nodes/core/safe-json';
import { compileRegistry } from '../../nodes/core/normalize/registry';
import { measureRate, printRates, percentiles, heapUsedMB, fmt, Rate } from './lib';
import { PUMP_BODY, SENSOR_BODY } from '../support/payloads';

const PAYLOADS: Record<string, string> = {
  'pump-7 (nested)': PUMP_BODY,
  'sensor_001 (flat)': SENSOR_BODY,
};

const REGISTRY = compileRegistry({
  components: {
    motor: {
      hw: ['rev2', 'rev3'],
      fields: {
        temperature: { unit: '°C', type: 'float', min: -40, max: 150 },
        current: { unit: 'A', min: 0, max: 50 },
      },
    },
    bearing: { fields: { 'vibration.rms': { unit: 'g', min: 0, max: 16 } } },
  },
  fields: { temperature: { unit: '°C', min: -40, max: 125 }, humidity: { unit: '%', min: 0, max: 100 } },
});

const TARGET = 25;
const ROUNDS = 5;
let sink = 0; // consumed results, so the JIT cannot drop the work

/**
 * Measures every series in ROUNDS interleaved rounds and keeps each one's median: on a shared 2-core machine a
 * burst of other work then hits all series alike instead of skewing whichever happened to run during it.
 */
function interleaved(series: Array<[string, (i: number) => void]>): Rate[] {
  const runs: Rate[][] = series.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    series.forEach(([name, fn], i) => runs[i].push(measureRate(name, fn, 400)));
  }
  return runs.map((r) => {
    const sorted = [...r].sort((a, b) => a.perSec - b.perSec);
    return sorted[Math.floor(sorted.length / 2)];
  });
}

function coreBench(): void {
  const plain = new Normalizer({ arrays: { accel: ['x', 'y', 'z'] } });
  const withRegistry = new Normalizer({
    arrays: { accel: ['x', 'y', 'z'] },
    registry: REGISTRY,
    tagKeys: ['equipment_id', 'tenant', 'location'],
  });
  const now = Date.parse('2025-11-17T10:31:00Z');
  const ctx = { now };
  for (const [label, text] of Object.entries(PAYLOADS)) {
    const buf = Buffer.from(text);
    for (const r of [plain.normalize(text, ctx), withRegistry.normalize(buf, ctx)]) {
      if (!r.ok) throw new Error(`${label} was rejected (${r.reject.code}): the benchmark would measure rejects`);
    }
    const heap0 = heapUsedMB();
    const [baseText, baseBuf, safe, normText, normBuf, normReg] = interleaved([
      [
        'bare JSON.parse(text) loop',
        () => {
          sink += JSON.parse(text) ? 1 : 0;
        },
      ],
      [
        'bare JSON.parse(buffer.toString()) loop',
        () => {
          sink += JSON.parse(buf.toString('utf8')) ? 1 : 0;
        },
      ],
      [
        'reference: parseJsonSafe (parse + caps walk)',
        () => {
          sink += parseJsonSafe(text).ok ? 1 : 0;
        },
      ],
      [
        'normalize, JSON text',
        () => {
          sink += plain.normalize(text, ctx).ok ? 1 : 0;
        },
      ],
      [
        'normalize, Buffer',
        () => {
          sink += plain.normalize(buf, ctx).ok ? 1 : 0;
        },
      ],
      [
        'normalize, Buffer, registry + tag keys',
        () => {
          sink += withRegistry.normalize(buf, ctx).ok ? 1 : 0;
        },
      ],
    ]);
    const samples: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const t = performance.now();
      withRegistry.normalize(buf, ctx);
      samples.push((performance.now() - t) * 1000);
    }
    const p = percentiles(samples);
    printRates(
      `core, ${label}, ${buf.length} B, median of ${ROUNDS} interleaved rounds (shares against the text baseline)`,
      [baseText, baseBuf, safe, normText, normBuf, normReg],
      baseText
    );
    console.log(
      `  normalize latency µs (Buffer, registry): p50 ${fmt(p.p50, 2)}  p90 ${fmt(p.p90, 2)}  p99 ${fmt(p.p99, 2)};  heap after: ${fmt(heapUsedMB() - heap0, 1)} MB over start`
    );
    const shareText = (100 * normText.perSec) / baseText.perSec;
    const shareBuf = (100 * normBuf.perSec) / baseBuf.perSec;
    const shareReg = (100 * normReg.perSec) / baseBuf.perSec;
    const verdict = (s: number) => (s >= TARGET ? 'MET' : 'NOT MET');
    console.log(
      `  normalize text   = ${fmt(shareText, 1)} % of bare JSON.parse(text)      (target ≥ ${TARGET} %) ${verdict(shareText)}`
    );
    console.log(
      `  normalize Buffer = ${fmt(shareBuf, 1)} % of bare JSON.parse(buffer)    (target ≥ ${TARGET} %) ${verdict(shareBuf)}`
    );
    console.log(
      `  with registry    = ${fmt(shareReg, 1)} % of bare JSON.parse(buffer)    (target ≥ ${TARGET} %) ${verdict(shareReg)}`
    );
  }
}

async function runtimeBench(): Promise<void> {
  const helper = require('node-red-node-test-helper');
  const normalizeNode = require('../../dist/nodes/normalize/moby-normalize.js');
  const jsonNode = require('@node-red/nodes/core/parsers/70-JSON.js');
  helper.init(require.resolve('node-red'));
  const N = 30000;
  const BATCH = 1000;

  async function drive(name: string, flow: unknown[], payload: Buffer): Promise<Rate> {
    await new Promise<void>((resolve) => helper.load([normalizeNode, jsonNode], flow, resolve));
    // the test helper wraps Node.prototype.send/receive/status… in sinon spies that record every call; remove
    // them so the figures are the runtime's and the nodes', not the spies' (heap grows by the message count otherwise)
    helper._sandbox.restore();
    const out = helper.getNode('out');
    let arrived = 0;
    let rejected = 0;
    let wake: (() => void) | null = null;
    out.on('input', () => {
      arrived++;
      if (wake && arrived % BATCH === 0) wake();
    });
    const rej = helper.getNode('rej');
    if (rej) rej.on('input', () => rejected++);
    const first = helper.getNode('first');
    const send = async (count: number) => {
      for (let sent = 0; sent < count; sent += BATCH) {
        const target = arrived + BATCH;
        const waiting = new Promise<void>((resolve) => (wake = resolve));
        for (let i = 0; i < BATCH; i++) first.receive({ payload, topic: 'factory/busan/pump-7/telemetry' });
        await waiting;
        wake = null;
        if (arrived < target) throw new Error('lost messages');
      }
    };
    await send(5 * BATCH); // warm-up
    const t0 = performance.now();
    arrived = 0;
    await send(N);
    const seconds = (performance.now() - t0) / 1000;
    await helper.unload();
    if (rejected) throw new Error(`${rejected} messages rejected: the benchmark would measure rejects`);
    return { name, ops: N, seconds, perSec: N / seconds };
  }

  const median = (rates: Rate[]) => [...rates].sort((a, b) => a.perSec - b.perSec)[Math.floor(rates.length / 2)];
  for (const [label, text] of Object.entries(PAYLOADS)) {
    const buf = Buffer.from(text);
    const baselineRuns: Rate[] = [];
    const normalizeRuns: Rate[] = [];
    // alternate the two flows, three times each, and keep the medians (the machine is shared and noisy)
    for (let round = 0; round < 3; round++) {
      baselineRuns.push(
        await drive(
          'core json node → helper',
          [
            { id: 'first', type: 'json', action: 'obj', property: 'payload', wires: [['out']] },
            { id: 'out', type: 'helper' },
          ],
          buf
        )
      );
      normalizeRuns.push(
        await drive(
          'moby-normalize → helper',
          [
            { id: 'first', type: 'moby-normalize', arrays: 'accel: x,y,z', maxFuture: 1e9, wires: [['out'], ['rej']] },
            { id: 'out', type: 'helper' },
            { id: 'rej', type: 'helper' },
          ],
          buf
        )
      );
    }
    const baseline = median(baselineRuns);
    printRates(
      `Node-RED runtime, ${label}, Buffer payload, ${fmt(N)} msgs per run, median of 3 alternating runs`,
      [baseline, median(normalizeRuns)],
      baseline
    );
    console.log(`  heap used after the runs (after GC): ${fmt(heapUsedMB(), 1)} MB`);
  }
}

(async () => {
  coreBench();
  await runtimeBench();
  if (sink < 0) console.log(sink);
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
