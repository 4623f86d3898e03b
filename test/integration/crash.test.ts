// Crash durability end to end (issue #11): a steady stream of signed QoS 1 telemetry → Mosquitto (persistent
// sessions) → the shipped pipeline (flows/pipeline.json: moby-mqtt-in → verify → normalize → anomaly → alert
// / influx write) in a real Node-RED process → VictoriaMetrics. Node-RED's whole process group is SIGKILLed
// at random moments and started again on the same user directory. Every message the broker acknowledged to
// the publisher must end up stored once per (series, timestamp), and no alert may be opened twice.
// The second case does the same with the writer's spool on a 2 MB tmpfs while the database is down: the
// disk fills, the writer says so and stops acknowledging, the broker holds the rest, and once the database is
// back everything arrives.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { mountTmpfs, requireBinary, sleep, unmountTmpfs, waitFor } from '../support/net';
import { startMosquittoBroker, MosquittoBroker } from '../support/mosquitto';
import { startVictoria, Victoria } from '../support/victoria';
import { nodeRedProcess, NodeRedProcess, PROCESS_AUTH } from '../support/nodered-process';
import { deriveDeviceKey, parseKey, signEnvelope } from '../../nodes/core/hmac/scheme';
import { MachineModel, Reading, telemetryBody, EQUIPMENT_TYPES } from '../../bin/lib/sim-model';

const root = path.resolve(__dirname, '..', '..');
const MASTER = 'moby-crash-test-master-key-not-secret';
const RATE = 200; // msgs/s, the rate of the report
const DEVICES = 10;
const FIELD_METRIC = 'telemetry_motor_temperature';
// device ids are crash-<run>-NN, a prefix per test so the tests' points in the shared database stay apart
// device NN = 00 of each run goes wildly abnormal after its calibration: one alert that stays open
const anomalousOf = (prefix: string) => `${prefix}00`;

const log = (t0: number, m: string) => console.log(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);

interface Stream {
  /** messages the broker acknowledged (PUBACK): the ones that must be stored */
  acked: Array<{ device: string; ts: number }>;
  stop(): Promise<void>;
  done: Promise<void>;
}

/** Publishes `total` signed messages at `rate`/s round-robin over the devices, QoS 1, one connection. */
async function stream(url: string, total: number, rate: number, prefix: string): Promise<Stream> {
  const masterKey = parseKey(MASTER);
  const devices = Array.from({ length: DEVICES }, (_, i) => {
    const id = `${prefix}${String(i).padStart(2, '0')}`;
    return {
      id,
      equipment: `${EQUIPMENT_TYPES[i % EQUIPMENT_TYPES.length]}-${i}`,
      key: deriveDeviceKey(masterKey, id),
      model: new MachineModel(i, 100 + i, []),
      lastTs: 0,
      sent: 0,
    };
  });
  const client: MqttClient = await mqtt.connectAsync(url, {
    clientId: `crash-pub-${process.pid}-${Date.now()}`,
    clean: true,
    reconnectPeriod: 0,
  });
  const acked: Stream['acked'] = [];
  let sent = 0;
  let stopped = false;
  let pending = 0;
  const start = Date.now();
  const done = new Promise<void>((resolve, reject) => {
    const tick = () => {
      if (stopped) return resolve();
      const due = Math.min(total, Math.floor(((Date.now() - start) * rate) / 1000) + 1);
      while (sent < due) {
        const i = sent++;
        const dev = devices[i % DEVICES];
        const now = Date.now();
        const ts = now > dev.lastTs ? now : dev.lastTs + 1;
        dev.lastTs = ts;
        let r: Reading = dev.model.step(1 / (rate / DEVICES));
        // after calibration (MOBY_TRAIN_POINTS=20 per device) the anomalous device runs hot and shakes
        if (dev.id === anomalousOf(prefix) && dev.sent >= 60)
          r = { ...r, temperature: r.temperature + 90, vibration: r.vibration * 12, current: r.current * 2.5 };
        dev.sent++;
        const body = telemetryBody(dev.id, dev.equipment, r, ts);
        const env = signEnvelope({ deviceId: dev.id, key: dev.key, kid: 'm1', body });
        pending++;
        client.publish(`devices/${dev.id}/telemetry`, JSON.stringify(env), { qos: 1 }, (err) => {
          pending--;
          if (err) return reject(err);
          acked.push({ device: dev.id, ts });
        });
      }
      if (sent >= total) {
        const wait = () => (pending === 0 ? resolve() : setTimeout(wait, 20));
        return wait();
      }
      setTimeout(tick, 5);
    };
    tick();
  }).finally(() => client.endAsync());
  return {
    acked,
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function metricsText(nr: NodeRedProcess): Promise<string> {
  try {
    const res = await fetch(`${nr.url}/moby/metrics`, { headers: PROCESS_AUTH });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}

/** Samples of the telemetry field in the database now (force_flush first, so just-ingested rows count). */
async function countSamples(vm: Victoria, prefix: string): Promise<number> {
  try {
    await fetch(`${vm.url}/internal/force_flush`);
    const q = encodeURIComponent(`sum(count_over_time(${FIELD_METRIC}{device_id=~"${prefix}.*"}[1h]))`);
    const r = (await (
      await fetch(`${vm.url}/api/v1/query?query=${q}&time=${(Date.now() + 1000) / 1000}&nocache=1`)
    ).json()) as { data?: { result?: Array<{ value: [number, string] }> } };
    return Number(r.data?.result?.[0]?.value?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function pipelineFlow(): unknown[] {
  return JSON.parse(fs.readFileSync(path.join(root, 'flows', 'pipeline.json'), 'utf8')) as unknown[];
}

/** The shipped pipeline with its telemetry input in batch mode (docs/batch-mode.md): 100 messages or 20 ms. */
function batchModeFlow(): unknown[] {
  const flow = pipelineFlow() as Array<Record<string, unknown>>;
  const input = flow.find((n) => n.id === 'moby.in.telemetry');
  assert.ok(input, 'flows/pipeline.json has its telemetry input');
  Object.assign(input, { batchSize: 100, batchMs: 20 });
  return flow;
}

/** Checks that VictoriaMetrics holds exactly the acknowledged messages, one distinct timestamp each. */
async function assertAllStored(
  vm: Victoria,
  acked: Stream['acked'],
  prefix: string,
  t0: number,
  timeoutMs: number
): Promise<{ raw: number; distinct: number; at: number }> {
  let distinct = 0;
  let raw = 0;
  let perSeries = new Map<string, Set<number>>();
  await waitFor(
    async () => {
      const series = (await vm.export(FIELD_METRIC)).filter((se) => se.metric.device_id?.startsWith(prefix));
      perSeries = new Map(series.map((s) => [s.metric.device_id, new Set(s.timestamps)]));
      distinct = [...perSeries.values()].reduce((n, s) => n + s.size, 0);
      raw = series.reduce((n, s) => n + s.timestamps.length, 0);
      return distinct >= acked.length;
    },
    timeoutMs,
    'every acknowledged message stored',
    1000
  ).catch((err) => {
    throw new Error(`${(err as Error).message}: ${distinct} of ${acked.length} distinct points stored`);
  });
  const at = Date.now();
  const missing = acked.filter((a) => !perSeries.get(a.device)?.has(a.ts));
  log(
    t0,
    `stored ${distinct} distinct (series, timestamp) of ${acked.length} acknowledged; ${raw - distinct} raw samples more than distinct (redelivered after a kill; InfluxDB overwrites the same series + timestamp)`
  );
  assert.equal(missing.length, 0, `missing: ${JSON.stringify(missing.slice(0, 5))}`);
  assert.equal(distinct, acked.length, 'distinct (series, timestamp) = messages the broker acknowledged');
  return { raw, distinct, at };
}

describe('crash durability: SIGKILL of Node-RED mid-stream (Mosquitto → pipeline → VictoriaMetrics)', function () {
  this.timeout(240000);
  let broker: MosquittoBroker;
  let vm: Victoria;
  let nr: NodeRedProcess | null = null;
  let tmpfsDir: string | null = null;

  before(async function () {
    const vmBin = requireBinary(this, 'victoria-metrics');
    const mosquittoBin = requireBinary(this, 'mosquitto');
    [broker, vm] = await Promise.all([
      startMosquittoBroker(mosquittoBin, { persistence: true, maxInflight: 1000, maxQueuedMessages: 200000 }),
      startVictoria(vmBin),
    ]);
  });
  afterEach(async () => {
    // the tmpfs goes before close() cleans the user directory; killed first, so nothing writes to it
    if (nr && tmpfsDir) await nr.kill();
    unmountTmpfs(tmpfsDir);
    tmpfsDir = null;
    if (nr) {
      await nr.close();
      nr = null;
    }
  });
  after(async () => {
    await Promise.all([broker?.close(), vm?.close()]);
  });

  const env = (clientId: string): NodeJS.ProcessEnv => ({
    MOBY_MQTT_URL: broker.url,
    MOBY_MQTT_CLIENT_ID: clientId,
    MOBY_INFLUX_URL: vm.url,
    MOBY_INFLUX_ORG: 'moby',
    MOBY_INFLUX_BUCKET: 'moby',
    MOBY_INFLUX_TOKEN: '',
    MOBY_HMAC_KEYS: JSON.stringify({ '*': { m1: MASTER } }),
    MOBY_TRAIN_POINTS: '20',
    MOBY_DEVICE_TIMEOUT: '3600',
    MOBY_CORS_ORIGINS: '*',
  });
  const ready = /\[moby-mqtt-broker:[^\]]*\] connected to /;

  for (const [mode, prefix, flow] of [
    ['single-message', 'crash-a-', pipelineFlow],
    ['batch mode', 'crash-batch-', batchModeFlow],
  ] as const)
    it(`${mode}: loses nothing and opens no alert twice when Node-RED is SIGKILLed twice at random moments`, async () => {
      await killTwice(prefix, flow());
    });

  async function killTwice(prefix: string, flow: unknown[]): Promise<void> {
    const anomalousId = anomalousOf(prefix);
    const t0 = Date.now();
    nr = await nodeRedProcess({
      name: `crash-${prefix}`,
      flow,
      env: env(`moby-${prefix}${process.pid}`),
      readyPattern: ready,
    });
    await nr.start();
    await sleep(500); // SUBACK: the persistent session now queues for us
    log(t0, 'Node-RED up; streaming');
    const total = RATE * 30;
    const s = await stream(broker.url, total, RATE, prefix);
    const kills: number[] = [];
    for (let k = 0; k < 2; k++) {
      const wait = 4000 + Math.floor(Math.random() * 6000); // a random moment 4–10 s into each running period
      await sleep(wait);
      await nr.kill();
      kills.push(s.acked.length);
      log(
        t0,
        `SIGKILL #${k + 1} of the Node-RED process group (${s.acked.length} messages acknowledged by the broker so far)`
      );
      await nr.start();
      log(t0, `Node-RED restarted`);
    }
    await s.done;
    log(t0, `published ${s.acked.length} (all acknowledged by Mosquitto)`);
    assert.equal(s.acked.length, total);
    await assertAllStored(vm, s.acked, prefix, t0, 90000);

    // no alert opened twice: every incident in the database is one the engine knows (a state lost in the
    // crash and re-opened by a redelivered message would show up as a second alert_id), and the
    // anomalous device has exactly one alert, still open
    const alerts = (await (
      await fetch(`${nr.url}/moby/alerts?limit=1000`, { headers: PROCESS_AUTH })
    ).json()) as Array<{ alert_id: string; device_id: string; rule: string; status: string; count: number }>;
    const known = new Set(alerts.map((a) => a.alert_id));
    // this run's devices only: the database is shared by the runs
    const stored = (await vm.export('moby_alerts_count')).filter((se) => se.metric.device_id?.startsWith(prefix));
    const idsByKey = new Map<string, Set<string>>();
    for (const se of stored) {
      const key = `${se.metric.device_id}/${se.metric.rule}`;
      idsByKey.set(key, (idsByKey.get(key) ?? new Set()).add(se.metric.alert_id));
    }
    const strangers = stored.map((se) => se.metric.alert_id).filter((id) => !known.has(id));
    assert.deepEqual([...new Set(strangers)], [], 'alert ids in the database the engine does not know (opened twice)');
    const openPerKey = new Map<string, number>();
    for (const a of alerts.filter((x) => x.status === 'open'))
      openPerKey.set(`${a.device_id}/${a.rule}`, (openPerKey.get(`${a.device_id}/${a.rule}`) ?? 0) + 1);
    for (const [k, n] of openPerKey) assert.equal(n, 1, `${k} has ${n} open alerts`);
    // the anomalous device: one open alert, and the database has exactly the incidents the engine has
    // (calibration noise may open and auto-resolve short ones before the fault starts: separate incidents)
    const anomalous = alerts.filter((a) => a.device_id === anomalousId);
    const open = anomalous.filter((a) => a.status === 'open');
    assert.equal(open.length, 1, `open alerts of ${anomalousId}: ${JSON.stringify(open)}`);
    assert.deepEqual(
      [...(idsByKey.get(`${anomalousId}/${open[0].rule}`) ?? [])].sort(),
      anomalous
        .filter((a) => a.rule === open[0].rule)
        .map((a) => a.alert_id)
        .sort()
    );
    log(
      t0,
      `alerts: ${alerts.length} known, ${anomalousId} has one open (count ${open[0].count}), none opened twice; kills at ${kills.join(', ')} messages`
    );
  }

  it('with the spool on a 2 MB tmpfs and the database down: disk full is visible, nothing is lost, everything arrives afterwards', async function () {
    const t0 = Date.now();
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-nr-tmpfs-'));
    const spoolRoot = path.join(userDir, 'moby-spool');
    fs.mkdirSync(spoolRoot);
    // mounted before the database stops, so a skip (no root outside CI) leaves the database running
    mountTmpfs(this, spoolRoot, '2m');
    tmpfsDir = spoolRoot;
    await vm.stop();
    log(t0, 'database stopped');
    nr = await nodeRedProcess({
      name: 'tmpfs',
      flow: pipelineFlow(),
      env: env(`moby-crash-tmpfs-${process.pid}`),
      readyPattern: ready,
      userDir,
    });
    await nr.start();
    await sleep(500);
    const total = RATE * 40;
    const s = await stream(broker.url, total, RATE, 'crash-b-');
    log(t0, 'streaming with the database down');
    let sawFull = false;
    let maxInflight = 0;
    const watch = (async () => {
      while (!s.acked.length || s.acked.length < total) {
        const text = await metricsText(nr!);
        if (/moby_influx_spool_failing 1\b/.test(text) && !sawFull) {
          sawFull = true;
          log(
            t0,
            `disk full: moby_influx_spool_failing 1, ${/moby_influx_buffered_points (\d+)/.exec(text)?.[1]} points held in memory`
          );
        }
        maxInflight = Math.max(maxInflight, Number(/moby_mqtt_inflight_messages (\d+)/.exec(text)?.[1] ?? 0));
        if (s.acked.length >= total) break;
        await sleep(500);
      }
    })();
    // one SIGKILL while the disk is full and the broker holds the backlog
    await waitFor(() => sawFull, 60000, 'spool full', 200);
    await sleep(2000 + Math.floor(Math.random() * 3000));
    await nr.kill();
    log(t0, `SIGKILL while the disk is full (${s.acked.length} acknowledged by the broker so far)`);
    await nr.start();
    log(t0, 'Node-RED restarted on the full spool');
    await s.done;
    await watch;
    log(t0, `published ${s.acked.length}; max ${maxInflight} messages waiting to be stored`);
    assert.ok(sawFull, 'the full disk was visible in /moby/metrics');
    const spoolErrors = (nr.allOutput().match(/ENOSPC/g) ?? []).length;
    assert.ok(spoolErrors >= 1, 'ENOSPC was logged');
    await sleep(3000);
    const dbStart = Date.now();
    await vm.start();
    log(t0, 'database started again');
    // drain: from the database answering to every point stored, and from the first point written
    let firstAt = 0;
    let allAt = 0;
    await waitFor(
      async () => {
        const n = await countSamples(vm, 'crash-b-');
        if (process.env.MOBY_TEST_TRACE) log(t0, `${n} stored`);
        if (n > 0 && !firstAt) firstAt = Date.now();
        if (n >= total) allAt = Date.now();
        return allAt > 0;
      },
      150000,
      'all points in the database',
      200
    );
    const r = await assertAllStored(vm, s.acked, 'crash-b-', t0, 30000);
    const fromStart = (allAt - dbStart) / 1000;
    const fromFirst = Math.max(0.001, (allAt - firstAt) / 1000);
    log(
      t0,
      `drained ${r.distinct} points ${fromStart.toFixed(1)} s after the database came back (first write after ${((firstAt - dbStart) / 1000).toFixed(1)} s), ` +
        `${(r.distinct / fromFirst).toFixed(0)} points/s from the first write = ${(r.distinct / fromFirst / RATE).toFixed(1)}× the ${RATE} msgs/s ingest rate ` +
        `(${(r.distinct / fromStart / RATE).toFixed(1)}× counting the reconnect); ENOSPC logged ${spoolErrors}×`
    );
    await waitFor(
      async () => /moby_influx_spool_failing 0\b/.test(await metricsText(nr!)),
      20000,
      'spool writable again',
      500
    );
    const text = await metricsText(nr);
    assert.match(text, /moby_influx_spool_dropped_points_total 0\b/, 'no point dropped');
  });
});
