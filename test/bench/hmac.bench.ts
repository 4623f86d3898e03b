// hmac-verify throughput on the envelope carrier (body parsed), against a bare crypto.createHmac loop over
// the same bytes measured in the same run; then the same through the Node-RED runtime (helper-driven flow)
// against a core change node in the same runtime.
import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseKey, signEnvelope, signingString, nowSeconds } from '../../nodes/core/hmac';
import { Keyring } from '../../nodes/core/keyring';
import { Verifier } from '../../nodes/core/hmac-verify';
import { printRates, percentiles, heapUsedMB, fmt, Rate } from './lib';

const PAYLOADS: Record<string, { deviceId: string; body: string }> = {
  'pump-7 (nested)': {
    deviceId: 'pump-7',
    body: '{"device_id":"pump-7","ts":"2025-11-17T10:30:00Z","hw":"rev3","components":{"motor":{"temperature":{"value":71.2,"unit":"°C"},"current":3.4},"bearing":{"vibration":{"rms":0.12}}},"accel":[0.01,0.02,9.81]}',
  },
  'sensor_001 (flat)': {
    deviceId: 'sensor_001',
    body: '{"device_id":"sensor_001","temperature":25.3,"humidity":60.5,"vibration":0.12,"sound":45.8,"timestamp":"2025-11-17T10:30:00Z"}',
  },
};

// more distinct envelopes than the nonce cache holds: the cache runs full (evicting) and no nonce repeats
// while still remembered, which is the steady state of a busy verifier
const DISTINCT = 60000;
const NONCE_CACHE = 50000;
const ROUNDS = 3;
const MS = 700;

const ring = new Keyring().load({
  'pump-7': { k1: 'hex:' + '11'.repeat(32), k2: 'hex:' + '22'.repeat(32) },
  sensor_001: { s1: 'sensor-001-secret-key' },
});
const keyOf = (deviceId: string, kid: string) => {
  const r = ring.lookup(deviceId, kid);
  if (!r.ok) throw new Error(r.reason);
  return r.keys[0].key;
};
const kidOf: Record<string, string> = { 'pump-7': 'k2', sensor_001: 's1' };

/**
 * Like lib's measureRate but per second of this process's CPU time (user + system): the benchmark machine
 * is shared, and wall time would charge other processes' time slices to whichever loop was running.
 */
function measureCpuRate(name: string, fn: (i: number) => void, ms: number, chunk = 1000): Rate {
  for (let i = 0; i < chunk * 5; i++) fn(i);
  let ops = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < chunk; i++) fn(ops + i);
    ops += chunk;
  }
  const c = process.cpuUsage(c0);
  const seconds = (c.user + c.system) / 1e6;
  return { name, ops, seconds, perSec: ops / seconds };
}

function envelopes(deviceId: string, body: string, n: number, withKid: boolean): string[] {
  const ts = nowSeconds();
  const key = keyOf(deviceId, kidOf[deviceId]);
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = JSON.stringify(signEnvelope({ deviceId, key, body, kid: withKid ? kidOf[deviceId] : undefined, ts, nonce: `bench-nonce-${i}` }));
  }
  return out;
}

function coreBench(): Rate {
  let firstBaseline: Rate | undefined;
  for (const [label, { deviceId, body }] of Object.entries(PAYLOADS)) {
    const key = keyOf(deviceId, kidOf[deviceId]);
    const signed = signingString(deviceId, nowSeconds(), 'bench-nonce-0', body);
    const withKid = envelopes(deviceId, body, DISTINCT, true);
    const noKid = deviceId === 'pump-7' ? envelopes(deviceId, body, DISTINCT, false) : null;
    const verifier = new Verifier({ keys: ring, replayCacheSize: NONCE_CACHE });

    // the machine is shared: alternate the measurements over a few rounds and keep each one's best
    let failures = 0;
    // measureRate restarts its index after the warm-up: running counters keep nonces from repeating
    let n1 = 0;
    let n2 = 0;
    const v2 = new Verifier({ keys: ring, replayCacheSize: NONCE_CACHE });
    const best = new Map<string, Rate>();
    const keep = (r: Rate) => {
      const prev = best.get(r.name);
      if (!prev || r.perSec > prev.perSec) best.set(r.name, r);
    };
    for (let round = 0; round < ROUNDS; round++) {
      keep(measureCpuRate('bare createHmac loop (same bytes)', () => {
        createHmac('sha256', key).update(signed, 'utf8').digest();
      }, MS));
      keep(measureCpuRate('verify envelope, kid given, body parsed', () => {
        if (!verifier.verify({ payload: withKid[n1++ % DISTINCT] }).ok) failures++;
      }, MS));
      if (noKid) {
        // no kid, the matching key is the 2nd of 2: two HMACs per message (rotation worst case)
        keep(measureCpuRate('verify envelope, no kid, 2nd of 2 keys', () => {
          if (!v2.verify({ payload: noKid[n2++ % DISTINCT] }).ok) failures++;
        }, MS));
      }
      keep(measureCpuRate('reference: JSON.parse envelope + body only', (i) => {
        JSON.parse(JSON.parse(withKid[i % DISTINCT]).body);
      }, MS));
    }
    const rates = [...best.values()];
    const baseline = best.get('bare createHmac loop (same bytes)')!;
    const verify = best.get('verify envelope, kid given, body parsed')!;
    if (failures) throw new Error(`${failures} verifications failed: the benchmark would measure rejects`);

    // per-message latency on a sample
    const v3 = new Verifier({ keys: ring, replayCacheSize: NONCE_CACHE });
    const samples: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const t = performance.now();
      v3.verify({ payload: withKid[i] });
      samples.push((performance.now() - t) * 1000);
    }
    const p = percentiles(samples);
    printRates(`core, ${label}, ${Buffer.byteLength(withKid[0])} B envelope`, rates, baseline);
    console.log(`  verify latency µs (wall, per call): p50 ${fmt(p.p50, 1)}  p90 ${fmt(p.p90, 1)}  p99 ${fmt(p.p99, 1)}`);
    const share = (100 * verify.perSec) / baseline.perSec;
    console.log(`  verify = ${fmt(share, 1)} % of the bare HMAC loop (target ≥ 30 %) ${share >= 30 ? 'MET' : 'NOT MET'}`);
    firstBaseline ??= baseline;
  }
  return firstBaseline!;
}

/** Heap held by a full nonce cache at the default size: full, then emptied again, read back to back. */
function memoryBench(): void {
  const size = 100000;
  const { deviceId, body } = PAYLOADS['sensor_001 (flat)'];
  const all = envelopes(deviceId, body, size, true);
  const verifier = new Verifier({ keys: ring, replayCacheSize: size });
  for (const e of all) if (!verifier.verify({ payload: e }).ok) throw new Error('verification failed');
  const entries = verifier.nonces.size;
  global.gc?.(); // the first collection only runs the finalisers of the Hmac objects left behind
  const full = heapUsedMB();
  verifier.nonces.clear();
  global.gc?.();
  const empty = heapUsedMB();
  // the ring arrays (two references and one float per slot) stay allocated: 24 bytes per slot
  console.log(`memory: nonce cache with ${fmt(entries)} entries (the default size) holds ${fmt(full - empty + (size * 24) / 1048576, 1)} MB of heap (${fmt(all.length)} envelopes verified)`);
}

async function runtimeBench(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const helper = require('node-red-node-test-helper');
  const hmacNode = require('../../dist/nodes/hmac/moby-hmac.js');
  const changeNode = require('@node-red/nodes/core/function/15-change.js');
  helper.init(require.resolve('node-red'));
  const { deviceId, body } = PAYLOADS['pump-7 (nested)'];
  const keys = { 'pump-7': { k2: 'hex:' + '22'.repeat(32) } };
  const N = 50000;
  const BATCH = 1000;

  async function drive(first: string, name: string, payloads: unknown[]): Promise<Rate> {
    const out = helper.getNode('out');
    const rejected = helper.getNode('rej');
    let arrived = 0;
    let rejects = 0;
    let wake: (() => void) | null = null;
    out.on('input', () => {
      arrived++;
      if (wake && arrived % BATCH === 0) wake();
    });
    rejected?.on('input', () => rejects++);
    const node = helper.getNode(first);
    const t0 = performance.now();
    for (let sent = 0; sent < payloads.length; sent += BATCH) {
      const done = new Promise<void>((r) => (wake = r));
      for (let i = sent; i < sent + BATCH; i++) node.receive({ payload: payloads[i], topic: 'devices/pump-7/telemetry' });
      await done;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (rejects) throw new Error(`${rejects} messages rejected in the runtime bench`);
    return { name, ops: arrived, seconds, perSec: arrived / seconds };
  }

  const signed = envelopes(deviceId, body, N, true);
  await new Promise<void>((r) => helper.load([hmacNode], [
    { id: 'kr', type: 'moby-keyring', keysEnv: '' },
    { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', tolerance: 300, replayCache: 100000, wires: [['out'], ['rej']] },
    { id: 'out', type: 'helper' },
    { id: 'rej', type: 'helper' },
  ], { kr: { keys: JSON.stringify(keys) } }, r));
  await drive('v', 'warm-up', signed.slice(0, 5000));
  await helper.unload();
  await new Promise<void>((r) => helper.load([hmacNode], [
    { id: 'kr', type: 'moby-keyring', keysEnv: '' },
    { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', tolerance: 300, replayCache: 100000, wires: [['out'], ['rej']] },
    { id: 'out', type: 'helper' },
    { id: 'rej', type: 'helper' },
  ], { kr: { keys: JSON.stringify(keys) } }, r));
  const verifyRate = await drive('v', 'Node-RED: inject → hmac-verify → out', signed);
  await helper.unload();

  await new Promise<void>((r) => helper.load([changeNode], [
    { id: 'c', type: 'change', rules: [{ t: 'set', p: 'moby', pt: 'msg', to: '{}', tot: 'json' }], wires: [['out']] },
    { id: 'out', type: 'helper' },
  ], {}, r));
  const changeRate = await drive('c', 'Node-RED: inject → change (set msg.moby) → out', signed);
  await helper.unload();
  await helper.stopServer?.();
  printRates(`Node-RED runtime (test helper), pump-7 envelope, ${fmt(N)} messages`, [changeRate, verifyRate], changeRate);
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${fmt(DISTINCT)} distinct envelopes per payload, nonce cache ${fmt(NONCE_CACHE)}, best of ${ROUNDS} alternating rounds; core rates per CPU-second`);
  memoryBench();
  coreBench();
  await runtimeBench();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
