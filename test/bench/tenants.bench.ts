// Tenants on vs off (issue #18), same run, same messages: msgs per CPU-second of the pipeline's own nodes in
// the real Node-RED runtime (node-red-node-test-helper, its sinon spies removed) — hmac verify → normalize →
// anomaly (PCA) → alert + influx write (spool only, no database: the writer's cost without a network).
//
//   off  topic devices/<id>/telemetry, tenant-less keys and signatures (flows as today)
//   on   topic t/<tenant>/devices/<id>/telemetry for two tenants with the same device ids, per-tenant keys
//        (tenant keys directory), the MAC covering the tenant, per-tenant anomaly/alert/replay state and one
//        writer (and spool) per tenant, and the per-tenant rate bound checked on every message (set so high
//        that it never refuses: the bench measures what the check costs, not what it drops)
//
// Messages are signed before the clock starts and injected into the verify node in chunks that wait for the
// previous chunk to reach the end of the flow. CPU = process.cpuUsage() (user + system) of this process,
// which is the Node-RED runtime and nothing else while a run lasts. Runs alternate off/on/on/off… (ABBA) on
// the shared machine; the summary takes each mode's best. Goal: "on" within 5 % of "off".
//
//   npm run bench -- tenants      BENCH_TENANT_N (20000 messages per run), BENCH_TENANT_DEVICES (200),
//                                 BENCH_TENANT_ROUNDS (2)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';
import { fmt } from './lib';

const helper = require('node-red-node-test-helper');
const root = path.resolve(__dirname, '..', '..');
const modules = [
  'hmac/moby-hmac',
  'normalize/moby-normalize',
  'anomaly/moby-anomaly',
  'alert/moby-alert',
  'alert/moby-alert-channels',
  'influx/moby-influx',
].map((m) => require(path.join(root, 'dist', 'nodes', `${m}.js`)));
helper.init(require.resolve('node-red'));

const N = Number(process.env.BENCH_TENANT_N || 20000);
const DEVICES = Number(process.env.BENCH_TENANT_DEVICES || 200);
const ROUNDS = Number(process.env.BENCH_TENANT_ROUNDS || 2);
const CHUNK = 500;
const ROOT_MASTER = 'hex:' + '11'.repeat(32);
const MASTERS: Record<string, string> = { acme: 'hex:' + '22'.repeat(32), beta: 'hex:' + '33'.repeat(32) };

type Mode = 'off' | 'on';

function flow(mode: Mode): unknown[] {
  const on = mode === 'on';
  return [
    { id: 'kr', type: 'moby-keyring', keysEnv: 'BENCH_ROOT_KEYS', ...(on ? { tenantKeysDir: 'tenant-keys' } : {}) },
    {
      id: 'v',
      type: 'moby-hmac-verify',
      keyring: 'kr',
      replayStore: 'memory',
      topicPattern: on ? 't/+tenant/devices/+device_id/telemetry' : 'devices/+/telemetry',
      ...(on ? { tenantRate: 1e9 } : {}),
      wires: [['n'], []],
    },
    { id: 'n', type: 'moby-normalize', wires: [['an'], []] },
    {
      id: 'an',
      type: 'moby-anomaly',
      method: 'pca',
      trainSize: 20,
      persistSeconds: 3600,
      wires: [['alert', 'w', 'end'], []],
    },
    { id: 'alert', type: 'moby-alert', apiEnabled: false, wires: [['w'], [], []] },
    { id: 'db', type: 'moby-influx', url: '', org: 'o', bucket: 'b', ...(on ? { tenantBucket: 'b-{tenant}' } : {}) },
    { id: 'w', type: 'moby-influx-write', influx: 'db', batchSize: 1000, flushInterval: 1, wires: [[]] },
    { id: 'end', type: 'helper' },
  ];
}

function messages(mode: Mode): Array<{ topic: string; payload: string }> {
  const tenants = mode === 'on' ? Object.keys(MASTERS) : [undefined];
  const keys = new Map<string, Buffer>();
  const out: Array<{ topic: string; payload: string }> = [];
  const ts = Math.floor(Date.now() / 1000);
  for (let i = 0; i < N; i++) {
    const tenant = tenants[i % tenants.length];
    const id = `pump-${String(Math.floor(i / tenants.length) % DEVICES).padStart(3, '0')}`;
    const k = `${tenant ?? ''}/${id}`;
    let key = keys.get(k);
    if (!key) keys.set(k, (key = deriveDeviceKey(parseKey(tenant ? MASTERS[tenant] : ROOT_MASTER), id)));
    const body = JSON.stringify({
      device_id: id,
      ts: Date.now(),
      motor: { temperature: 60 + Math.sin(i / 7) * 3 + (i % 13) * 0.1, current: 12 + Math.cos(i / 5) },
      flow: 30 + (i % 7) * 0.2,
    });
    const env = signEnvelope({ deviceId: id, key, kid: 'm1', body, ts, tenant });
    out.push({
      topic: tenant ? `t/${tenant}/devices/${id}/telemetry` : `devices/${id}/telemetry`,
      payload: JSON.stringify(env),
    });
  }
  return out;
}

async function run(
  mode: Mode
): Promise<{ mode: Mode; msgsPerCpuSec: number; msgsPerSec: number; cpu: number; wall: number }> {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-bench-tenants-'));
  fs.mkdirSync(path.join(userDir, 'tenant-keys'));
  for (const [t, m] of Object.entries(MASTERS))
    fs.writeFileSync(path.join(userDir, 'tenant-keys', `${t}.json`), JSON.stringify({ '*': { m1: m } }));
  process.env.BENCH_ROOT_KEYS = JSON.stringify({ '*': { m1: ROOT_MASTER } });
  helper.settings({ userDir });
  await helper.load(modules, flow(mode));
  helper._sandbox.restore(); // the helper's per-call spies would dominate the figures
  const msgs = messages(mode);
  let ended = 0;
  helper.getNode('end').on('input', () => ended++);
  const verify = helper.getNode('v');
  global.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < msgs.length; i += CHUNK) {
    for (let j = i; j < Math.min(msgs.length, i + CHUNK); j++) verify.receive({ ...msgs[j] });
    while (ended < Math.min(msgs.length, i + CHUNK) - CHUNK) await new Promise((r) => setImmediate(r));
  }
  while (ended < msgs.length) await new Promise((r) => setTimeout(r, 1));
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  await helper.unload();
  fs.rmSync(userDir, { recursive: true, force: true });
  return { mode, msgsPerCpuSec: msgs.length / cpu, msgsPerSec: msgs.length / wall, cpu, wall };
}

async function main(): Promise<void> {
  console.log(
    `tenants on vs off: ${N} messages per run, ${DEVICES} device ids (per tenant when on), ${ROUNDS} ABBA rounds`
  );
  const results: Awaited<ReturnType<typeof run>>[] = [];
  // a warm-up run (JIT, module loading) that is not counted
  await run('off');
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of (r % 2 === 0 ? ['off', 'on'] : ['on', 'off']) as Mode[]) {
      const x = await run(mode);
      results.push(x);
      console.log(
        `  ${mode.padEnd(3)}  ${fmt(x.msgsPerCpuSec, 0).padStart(8)} msgs/CPU-s  ${fmt(x.msgsPerSec, 0).padStart(8)} msgs/s  (cpu ${fmt(x.cpu, 2)} s, wall ${fmt(x.wall, 2)} s)`
      );
    }
  }
  const best = (m: Mode) => Math.max(...results.filter((x) => x.mode === m).map((x) => x.msgsPerCpuSec));
  const off = best('off');
  const on = best('on');
  const ratio = on / off;
  console.log(
    `best: off ${fmt(off, 0)} msgs/CPU-s, on ${fmt(on, 0)} msgs/CPU-s → on/off ${fmt(ratio, 3)} (goal ≥ 0.95: ${ratio >= 0.95 ? 'met' : 'NOT met'})`
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
