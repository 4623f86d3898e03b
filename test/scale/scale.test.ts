// Scale-out end to end (issue #15, docs/scale-out.md): a 3-server NATS cluster (JetStream + MQTT, device-token
// partition mappings), Redis, VictoriaMetrics and 3 Node-RED processes running the shipped pipeline with
// MOBY_PARTITION=k of 3. Signed QoS 1 telemetry from 200 devices:
//   1. every device is handled by exactly one instance (each instance's /moby/devices, disjoint, union = all)
//      and every message is stored exactly once (raw samples = distinct = acknowledged by the broker);
//   2. one incident per injected fault fleet-wide, the same list on every instance's alert API;
//   3. an acknowledgement on one instance of an alert another instance owns is seen on all three;
//   4. SIGKILL of one Node-RED process and of one NATS server mid-stream, both restarted: every message the
//      broker acknowledged to the publisher is stored.
// Waits are on conditions with generous timeouts (a loaded 2-core machine); no sleep is an assertion.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireBinary, sleep, waitFor } from '../support/net';
import { startRedis, type RedisServer } from '../support/redis';
import { startVictoria, type Victoria } from '../support/victoria';
import { nodeRedProcess, type NodeRedProcess, PROCESS_AUTH } from '../support/nodered-process';
import { signedStream, type SignedStream } from '../support/signed-stream';

const { startNatsCluster } = require('../../scripts/nats-cluster.js') as {
  startNatsCluster(o: {
    bin: string;
    size: number;
    partitions: number;
    dir: string;
    log?: (m: string) => void;
    monitoring?: boolean;
  }): Promise<NatsCluster>;
};
interface NatsCluster {
  mqttUrls: string[];
  logins: { pipeline: { username: string; password: string } };
  servers: Array<{ http: number }>;
  output(i: number): string;
  stop(i: number, signal?: NodeJS.Signals): Promise<void>;
  start(i: number): Promise<void>;
  close(): Promise<void>;
}

const root = path.resolve(__dirname, '..', '..');
const MASTER = 'moby-scale-test-master-key-not-secret';
const INSTANCES = 3;
const DEVICES = 200;
const RATE = Number(process.env.MOBY_SCALE_RATE || 150); // msgs/s over all devices
const FIELD_METRIC = 'telemetry_motor_temperature';
// faulty devices go wildly abnormal after calibration (MOBY_TRAIN_POINTS=20): one incident each, fleet-wide
const FAULTY = ['scale-007', 'scale-042', 'scale-111', 'scale-163', 'scale-198'];
const FAULT_FROM_POINT = 24;
const PHASE1_POINTS = 36;

const t0 = Date.now();
const log = (m: string) => console.log(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);

interface ApiAlert {
  alert_id: string;
  device_id: string;
  rule: string;
  status: string;
  acknowledged: boolean;
  acknowledged_by?: string;
}

async function getJson<T>(url: string): Promise<T | null> {
  try {
    const r = await fetch(url, { headers: PROCESS_AUTH });
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

/** The devices an instance lists: its own (its device-health node's rows) and all (with the other instances' rows from Redis). */
async function devicesOf(
  nr: NodeRedProcess
): Promise<{ own: string[]; all: string[]; remote: Map<string, string> } | null> {
  const rows = await getJson<Array<{ device_id: string; source?: string }>>(`${nr.url}/moby/devices?limit=1000`);
  return rows
    ? {
        own: rows.filter((r) => !String(r.source).startsWith('redis:')).map((r) => r.device_id),
        all: rows.map((r) => r.device_id),
        // another instance's row: the source names its owner (redis:<instance>)
        remote: new Map(rows.filter((r) => String(r.source).startsWith('redis:')).map((r) => [r.device_id, r.source!])),
      }
    : null;
}

async function alertsOf(nr: NodeRedProcess): Promise<ApiAlert[] | null> {
  return getJson<ApiAlert[]>(`${nr.url}/moby/alerts?limit=1000`);
}

/** Distinct (device, timestamp) and raw samples of the telemetry field for the given devices. */
async function stored(vm: Victoria): Promise<{ perDevice: Map<string, Set<number>>; raw: number; distinct: number }> {
  const series = (await vm.export(FIELD_METRIC)).filter((s) => s.metric.device_id?.startsWith('scale-'));
  const perDevice = new Map<string, Set<number>>();
  let raw = 0;
  for (const s of series) {
    const set = perDevice.get(s.metric.device_id) ?? new Set<number>();
    for (const ts of s.timestamps) set.add(ts);
    perDevice.set(s.metric.device_id, set);
    raw += s.timestamps.length;
  }
  const distinct = [...perDevice.values()].reduce((n, s) => n + s.size, 0);
  return { perDevice, raw, distinct };
}

async function waitAllStored(
  vm: Victoria,
  acked: SignedStream['acked'],
  timeoutMs: number
): Promise<{ raw: number; distinct: number }> {
  let last = { raw: 0, distinct: 0 };
  let missing: SignedStream['acked'] = [];
  await waitFor(
    async () => {
      const s = await stored(vm);
      last = { raw: s.raw, distinct: s.distinct };
      missing = acked.filter((a) => !s.perDevice.get(a.device)?.has(a.ts));
      return missing.length === 0;
    },
    timeoutMs,
    'every acknowledged message stored',
    2000
  ).catch((err) => {
    throw new Error(
      `${(err as Error).message}: ${missing.length} of ${acked.length} missing, e.g. ${JSON.stringify(missing.slice(0, 5))}`
    );
  });
  return last;
}

describe('scale-out: 3 Node-RED instances on a 3-server NATS cluster, shared alerts in Redis', function () {
  this.timeout(600000);
  let dir: string;
  let nats: NatsCluster;
  let redis: RedisServer;
  let vm: Victoria;
  const nrs: NodeRedProcess[] = [];

  before(async function () {
    const natsBin = requireBinary(this, 'nats-server');
    const redisBin = requireBinary(this, 'redis-server');
    const vmBin = requireBinary(this, 'victoria-metrics');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-scale-'));
    [nats, redis, vm] = await Promise.all([
      // the monitoring port for /jsz (the test reads the consumers); npm run start:cluster runs without it
      startNatsCluster({ bin: natsBin, size: 3, partitions: INSTANCES, dir, log, monitoring: true }),
      startRedis(redisBin),
      startVictoria(vmBin),
    ]);
    const flow = JSON.parse(fs.readFileSync(path.join(root, 'flows', 'pipeline.json'), 'utf8')) as unknown[];
    for (let k = 0; k < INSTANCES; k++) {
      // each instance lists the servers starting with "its" one; mqtt.js moves on down the list on failure
      const urls = [...nats.mqttUrls.slice(k), ...nats.mqttUrls.slice(0, k)].join(',');
      nrs.push(
        await nodeRedProcess({
          name: `scale-${k}`,
          flow,
          readyPattern: new RegExp(`connected to .* as moby-pipeline-${k} \\(partition ${k} of ${INSTANCES}\\)`),
          env: {
            MOBY_MQTT_URL: urls,
            MOBY_MQTT_CLIENT_ID: 'moby-pipeline',
            // the cluster's pipeline login: a client without one may only publish as a device
            MOBY_MQTT_USERNAME: nats.logins.pipeline.username,
            MOBY_MQTT_PASSWORD: nats.logins.pipeline.password,
            MOBY_PARTITION: String(k),
            MOBY_PARTITIONS: String(INSTANCES),
            MOBY_INSTANCE: `moby-${k}`,
            MOBY_REDIS_URL: redis.url,
            MOBY_INFLUX_URL: vm.url,
            MOBY_INFLUX_ORG: 'moby',
            MOBY_INFLUX_BUCKET: 'moby',
            MOBY_INFLUX_TOKEN: '',
            MOBY_HMAC_KEYS: JSON.stringify({ '*': { m1: MASTER } }),
            MOBY_TRAIN_POINTS: '20',
            MOBY_DEVICE_TIMEOUT: '3600',
            MOBY_CORS_ORIGINS: '',
          },
        })
      );
    }
    await Promise.all(nrs.map((nr) => nr.start()));
    // the persistent sessions' JetStream consumers exist (one per instance and filter): from now on the
    // cluster keeps every partition's messages
    await waitFor(
      async () => {
        const jsz = (await (await fetch(`http://127.0.0.1:${nats.servers[0].http}/jsz?consumers=true`)).json()) as {
          account_details?: unknown[];
        };
        const consumers = (
          (jsz.account_details ?? []) as Array<{ stream_detail?: Array<{ name: string; consumer_detail?: unknown[] }> }>
        )
          .flatMap((a) => a.stream_detail ?? [])
          .filter((s) => s.name === '$MQTT_msgs')
          .reduce((n, s) => n + (s.consumer_detail?.length ?? 0), 0);
        return consumers >= INSTANCES * 3;
      },
      120000,
      "the instances' MQTT subscriptions in JetStream",
      500
    );
    log('NATS cluster, Redis, VictoriaMetrics and 3 Node-RED instances up, subscriptions in place');
  });

  after(async () => {
    for (const nr of nrs) await nr.close().catch(() => undefined);
    await Promise.all([nats?.close(), redis?.stop(), vm?.close()].map((p) => p?.catch(() => undefined)));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let phase1: SignedStream;
  const owners = new Map<string, number>();

  it('gives every device to exactly one instance and stores every message exactly once', async () => {
    phase1 = await signedStream({
      url: nats.mqttUrls.join(','),
      devices: DEVICES,
      perDevice: PHASE1_POINTS,
      rate: RATE,
      prefix: 'scale-',
      master: MASTER,
      faulty: FAULTY,
      faultFrom: FAULT_FROM_POINT,
    });
    await phase1.done;
    log(`published ${phase1.acked.length} (acknowledged by NATS), ${phase1.failed} publishes failed`);
    assert.equal(phase1.acked.length + phase1.failed, DEVICES * PHASE1_POINTS);
    assert.ok(phase1.acked.length >= DEVICES * PHASE1_POINTS * 0.9, 'the cluster took the stream');
    const r = await waitAllStored(vm, phase1.acked, 180000);
    log(`stored: ${r.distinct} distinct (device, timestamp), ${r.raw} raw samples`);
    assert.equal(r.distinct, phase1.acked.length, 'distinct stored = acknowledged');
    assert.equal(r.raw, r.distinct, "no message stored twice (no instance processed another one's message)");

    const lists = await waitFor(
      async () => {
        const l = await Promise.all(nrs.map(devicesOf));
        return l.every((x) => x && x.all.length >= DEVICES) && l.reduce((n, x) => n + x!.own.length, 0) >= DEVICES
          ? l.map((x) => x!.own)
          : null;
      },
      60000,
      'device tables of all instances, each listing the whole fleet',
      1000
    );
    lists.forEach((ids, k) => ids.forEach((id) => owners.set(id, (owners.has(id) ? -100 : 0) + k)));
    const split = lists.map((l) => l.length);
    log(`devices per instance: ${split.join(' / ')}`);
    assert.equal(owners.size, DEVICES, 'every device seen');
    assert.deepEqual(
      [...owners.entries()].filter(([, k]) => k < 0),
      [],
      'no device seen by two instances'
    );
    for (const n of split) assert.ok(n > 0, 'every instance owns devices');
    // each remote row names the instance that owns it (before 2026-12-07: the instance reading it)
    const views = await Promise.all(nrs.map(devicesOf));
    views.forEach((v, k) => {
      const wrong = [...v!.remote].filter(([id, source]) => source !== `redis:moby-${owners.get(id)}`);
      assert.deepEqual(wrong.slice(0, 3), [], `instance ${k}: remote rows name their owner`);
      assert.ok(v!.remote.size > 0);
    });
    // each instance counted only its own messages at its source
    const counted = await Promise.all(
      nrs.map(async (nr) => {
        const text = await (await fetch(`${nr.url}/moby/metrics`, { headers: PROCESS_AUTH })).text();
        return Number(/moby_messages_total\{node_type="moby-mqtt-in",outcome="in"\} (\d+)/.exec(text)?.[1] ?? NaN);
      })
    );
    log(`messages received per instance: ${counted.join(' / ')}`);
    assert.equal(
      counted.reduce((a, b) => a + b, 0),
      phase1.acked.length,
      'every message received by exactly one instance'
    );
  });

  it('opens one incident per injected fault fleet-wide and every instance lists the same alerts', async () => {
    let lists: ApiAlert[][] = [];
    await waitFor(
      async () => {
        const l = await Promise.all(nrs.map(alertsOf));
        if (!l.every((x) => x)) return false;
        lists = l as ApiAlert[][];
        return (
          FAULTY.every((d) => lists[0].some((a) => a.device_id === d && a.status === 'open')) &&
          lists.every((x) => x.length === lists[0].length)
        );
      },
      120000,
      'an open alert for every faulty device, on every instance',
      1000
    );
    for (const d of FAULTY) {
      const mine = lists[0].filter(
        (a) =>
          a.device_id === d &&
          a.rule === lists[0].find((x) => x.device_id === d && x.status === 'open')!.rule &&
          a.status === 'open'
      );
      assert.equal(mine.length, 1, `${d}: one open incident fleet-wide, got ${JSON.stringify(mine)}`);
    }
    const ids = lists.map((l) => l.map((a) => a.alert_id).sort());
    assert.deepEqual(ids[1], ids[0], 'instance 1 lists what instance 0 lists');
    assert.deepEqual(ids[2], ids[0], 'instance 2 lists what instance 0 lists');
    log(`${lists[0].length} alert(s) fleet-wide, ${FAULTY.length} faulty devices each with one open incident`);
  });

  it('an acknowledgement on one instance of an alert another instance owns is seen on all', async () => {
    const all = (await alertsOf(nrs[0]))!;
    const target = all.find(
      (a) => FAULTY.includes(a.device_id) && a.status === 'open' && owners.get(a.device_id) !== 0
    );
    assert.ok(target, 'an open alert owned by instance 1 or 2');
    const owner = owners.get(target.device_id)!;
    const res = await fetch(`${nrs[0].url}/moby/alerts/${target.alert_id}/ack`, {
      method: 'POST',
      headers: { ...PROCESS_AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'operator-on-0', note: 'scale test' }),
    });
    assert.equal(res.status, 200, await res.text());
    await waitFor(
      async () => {
        const l = await Promise.all(nrs.map(alertsOf));
        return l.every((x) => x?.find((a) => a.alert_id === target.alert_id)?.acknowledged_by === 'operator-on-0');
      },
      30000,
      'the acknowledgement on all instances',
      500
    );
    // the owner's engine applied it: its own output (the alert events it writes) carries the ack
    await waitFor(
      async () =>
        (await vm.export('moby_alerts_acknowledged')).some(
          (s) => s.metric.alert_id === target.alert_id && s.values.includes(1)
        ),
      30000,
      'the owner wrote the ack event',
      1000
    );
    log(
      `acknowledged ${target.device_id}'s alert (owner instance ${owner}) on instance 0: seen on all, ack event written by the owner`
    );
  });

  it('loses nothing when one Node-RED process and one NATS server are SIGKILLed mid-stream and restarted', async () => {
    const s = await signedStream({
      url: nats.mqttUrls.join(','),
      devices: DEVICES,
      perDevice: 30,
      rate: RATE,
      prefix: 'scale-',
      master: MASTER,
      startAfter: phase1.lastTs,
    });
    await waitFor(() => s.acked.length >= DEVICES * 8, 120000, 'stream under way', 200);
    const victim = 1;
    const natsVictim = 2; // not the publisher's server; instance 2 lists it first
    await Promise.all([nrs[victim].kill(), nats.stop(natsVictim, 'SIGKILL')]);
    log(
      `SIGKILL of Node-RED instance ${victim} and NATS server ${natsVictim + 1} (${s.acked.length} messages acknowledged so far)`
    );
    await sleep(3000); // both stay down while the stream goes on
    await Promise.all([nrs[victim].start(), nats.start(natsVictim)]);
    log('both restarted');
    await s.done;
    log(
      `published ${s.acked.length} (acknowledged by NATS), ${s.failed} publishes failed (never acknowledged: not owed)`
    );
    assert.equal(s.acked.length + s.failed, DEVICES * 30);
    assert.ok(s.acked.length >= DEVICES * 30 * 0.5, 'the cluster took the stream through the failures');
    const all = [...phase1.acked, ...s.acked];
    const r = await waitAllStored(vm, all, 240000);
    log(
      `stored ${r.distinct} distinct of ${all.length} acknowledged (${r.raw - r.distinct} redelivered duplicates absorbed)`
    );
    assert.equal(r.distinct, all.length, 'stored count = published count');
    assert.match(nrs[victim].output(), /session resumed/, 'the restarted instance resumed its persistent session');
  });

  it('a hung instance is told: its devices turn UNKNOWN elsewhere and one instance raises instance_silent, resolved when it runs again (cluster round 2026-12-07: nobody was told)', async () => {
    const hung = 2;
    const hungDevices = [...owners.entries()].filter(([, k]) => k === hung).map(([id]) => id);
    nrs[hung].signal('SIGSTOP');
    log(`SIGSTOP of instance ${hung} (${hungDevices.length} devices)`);
    try {
      const silentAlerts = async () =>
        ((await alertsOf(nrs[0])) ?? []).filter(
          (a) => a.device_id === `instance@moby-${hung}` && a.rule === 'instance_silent' && a.status === 'open'
        );
      // after 30 s without its beat (the default), checked every 2 s
      await waitFor(async () => (await silentAlerts()).length > 0, 90000, 'the instance_silent alert', 1000);
      log('instance_silent open');
      const rows = await getJson<Array<{ device_id: string; state: string }>>(`${nrs[0].url}/moby/devices?limit=1000`);
      const states = new Set(rows!.filter((r) => hungDevices.includes(r.device_id)).map((r) => r.state));
      assert.deepEqual([...states], ['UNKNOWN'], "the hung instance's devices, on instance 0");
      await sleep(5000);
      const onOne = ((await alertsOf(nrs[1])) ?? []).filter(
        (a) => a.device_id === `instance@moby-${hung}` && a.status === 'open'
      );
      assert.equal(onOne.length, 1, 'one alert fleet-wide (instance 0 reports, instance 1 lists it)');
    } finally {
      nrs[hung].signal('SIGCONT');
    }
    await waitFor(
      async () =>
        ((await alertsOf(nrs[0])) ?? []).some(
          (a) => a.device_id === `instance@moby-${hung}` && a.status === 'resolved'
        ),
      60000,
      'resolved once it runs again',
      1000
    );
    log('instance_silent resolved after SIGCONT');
  });
});
