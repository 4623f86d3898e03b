// End to end through real parts: a publisher → Mosquitto (QoS 1) → Node-RED's core `mqtt in` →
// moby-influx-write → VictoriaMetrics. While 50k points flow, the database is stopped for 30 s and
// Node-RED (the flow) is restarted once during the outage. Every point must be in the database
// afterwards, counted per series as distinct timestamps through the export API. The writer never
// duplicates in this run; the one case where it may (a batch the database acknowledged just before a
// crash, before the spool cursor moved) rewrites identical series+timestamp pairs, which InfluxDB stores
// once — so distinct timestamps are what "exactly once" means for the stored data.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { requireBinary, sleep, waitFor } from '../support/net';
import { startMosquittoBroker, MosquittoBroker } from '../support/mosquitto';
import { startVictoria, Victoria } from '../support/victoria';
import { startInfluxSink } from '../support/influx-sink';

const helper = require('node-red-node-test-helper');
const influxNode = require('../../dist/nodes/influx/moby-influx.js');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');

helper.init(require.resolve('node-red'));

// the metrics registry of the compiled nodes (the one /moby/metrics serves)
const metrics = require('../../dist/nodes/lib/metrics.js') as { metricsText(): Promise<string> };

const TOTAL = 50000;
const DEVICES = 10;

describe('influx writer: MQTT → Node-RED → VictoriaMetrics through a database outage and a Node-RED restart', function () {
  this.timeout(180000);
  let broker: MosquittoBroker;
  let vm: Victoria;
  let userDir: string;

  before(async function () {
    const vmBin = requireBinary(this, 'victoria-metrics');
    const mosquittoBin = requireBinary(this, 'mosquitto');
    [broker, vm] = await Promise.all([startMosquittoBroker(mosquittoBin), startVictoria(vmBin)]);
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-influx-it-'));
    helper.settings({ userDir });
  });
  after(async () => {
    helper.settings({});
    await helper.unload();
    await Promise.all([broker?.close(), vm?.close()]);
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  function flow(dbUrl: string, topic = 'moby/it/+') {
    return [
      // a persistent session (fixed client id, clean session off) so Mosquitto queues QoS 1 messages while
      // Node-RED restarts, exactly as a production flow would be configured
      {
        id: 'broker',
        type: 'mqtt-broker',
        broker: '127.0.0.1',
        port: String(broker.port),
        clientid: `moby-it-${topic.length}`,
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '30',
        cleansession: false,
      },
      {
        id: 'in',
        type: 'mqtt in',
        topic,
        qos: '1',
        datatype: 'json',
        broker: 'broker',
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        wires: [['w']],
      },
      { id: 'db', type: 'moby-influx', url: dbUrl, org: 'moby', bucket: 'plant', precision: 'ms' },
      {
        id: 'w',
        type: 'moby-influx-write',
        influx: 'db',
        batchSize: 100,
        flushInterval: 0.5,
        retryMaxDelay: 2,
        wires: [['rej']],
      },
      { id: 'rej', type: 'helper' },
    ];
  }
  const load = (f: unknown[]) => helper.load([influxNode, mqttNode], f);
  const connected = () =>
    waitFor(
      () => (helper.getNode('broker') as { connected?: boolean } | null)?.connected,
      10000,
      'mqtt in connected',
      50
    );

  it('stores all 50k points exactly once (distinct timestamps per series)', async () => {
    await load(flow(vm.url));
    await connected();
    const base = Date.now() - 10 * 60 * 1000; // recent enough for retention, distinct per point
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'moby-it-publisher', clean: true });
    const log = (m: string) => console.log(`      [${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);
    const t0 = Date.now();
    // ~1250 points/s for ~40 s, so points keep arriving before, during and after the outage
    const publishing = (async () => {
      for (let i = 0; i < TOTAL; i += 125) {
        const sends: Promise<unknown>[] = [];
        for (let j = i; j < Math.min(TOTAL, i + 125); j++) {
          const device = `dev-${j % DEVICES}`;
          const point = { measurement: 'it', tags: { device_id: device }, fields: { seq: j }, timestamp: base + j };
          sends.push(pub.publishAsync(`moby/it/${device}`, JSON.stringify(point), { qos: 1 }));
        }
        await Promise.all(sends);
        await sleep(100);
      }
      log(`published ${TOTAL}`);
    })();
    let spooledDuringOutage = 0;
    const outage = (async () => {
      await sleep(5000);
      await vm.stop();
      log('database stopped');
      await sleep(10000);
      spooledDuringOutage = Number(/moby_influx_spooled_points (\d+)/.exec(await metrics.metricsText())?.[1] ?? 0);
      log(`${spooledDuringOutage} points spooled to disk`);
      await helper.unload();
      log(`Node-RED flow stopped; spool: ${fs.readdirSync(path.join(userDir, 'moby-spool', 'db', 'w')).join(', ')}`);
      await sleep(2000);
      await load(flow(vm.url));
      await connected();
      log('Node-RED flow started again');
      await sleep(18000);
      await vm.start();
      log('database started again');
    })();
    await Promise.all([publishing, outage]);
    await pub.endAsync();

    let distinct = 0;
    let raw = 0;
    let perSeries = new Map<string, Set<number>>();
    await waitFor(
      async () => {
        const series = await vm.export('it_seq');
        perSeries = new Map(series.map((s) => [s.metric.device_id, new Set(s.timestamps)]));
        distinct = [...perSeries.values()].reduce((n, s) => n + s.size, 0);
        raw = series.reduce((n, s) => n + s.timestamps.length, 0);
        return distinct >= TOTAL;
      },
      90000,
      'all points in VictoriaMetrics',
      1000
    ).catch((err) => {
      throw new Error(`${(err as Error).message}: ${distinct} of ${TOTAL} distinct points stored`);
    });
    log(`stored: ${distinct} distinct points, ${raw} raw samples (${raw - distinct} rewritten duplicates)`);
    assert.equal(perSeries.size, DEVICES);
    for (let d = 0; d < DEVICES; d++) {
      const got = perSeries.get(`dev-${d}`)!;
      assert.equal(got.size, TOTAL / DEVICES, `dev-${d}`);
      for (let j = d; j < TOTAL; j += DEVICES) assert.ok(got.has(base + j), `dev-${d} has point ${j}`);
    }
    assert.equal(distinct, TOTAL);
    assert.ok(spooledDuringOutage > 5000, 'the outage went through the disk spool');
    // the writer has drained its spool: the gauges served on /moby/metrics say so
    await waitFor(
      async () => /moby_influx_spooled_points 0\b/.test(await metrics.metricsText()),
      10000,
      'spool drained'
    );
    const text = await metrics.metricsText();
    assert.match(text, /moby_influx_buffered_points 0\b/);
    const out = /moby_messages_total\{node_type="moby-influx-write",outcome="out"\} (\d+)/.exec(text);
    assert.ok(out && Number(out[1]) >= TOTAL, `points acknowledged by the database: ${out?.[1]}`);
  });

  it('a point refused with 400 comes out of the reject output with the server reason (InfluxDB stand-in)', async () => {
    // VictoriaMetrics answers 204 even to malformed line protocol (it logs and skips the line), so the
    // 400 path uses a local stand-in answering like InfluxDB does for a field type conflict.
    await helper.unload();
    const sink = await startInfluxSink();
    try {
      sink.refuseLine = (l) =>
        /seq="/.test(l)
          ? 'partial write: field type conflict: input field "seq" on measurement "it" is type string, already exists as type float dropped=1'
          : null;
      await load(flow(sink.url, 'moby/it400/+'));
      await connected();
      const rejected: Array<{
        payload: string;
        moby: { reject: { code: string; reason: string; device_id?: string } };
      }> = [];
      helper.getNode('rej').on('input', (m: (typeof rejected)[number]) => rejected.push(m));
      const pub = await mqtt.connectAsync(broker.url, { clientId: 'moby-it-publisher-400', clean: true });
      const now = Date.now();
      for (let j = 0; j < 10; j++) {
        const point = {
          measurement: 'it',
          tags: { device_id: 'dev-x' },
          fields: { seq: j === 4 ? 'four' : j },
          timestamp: now + j,
        };
        await pub.publishAsync('moby/it400/dev-x', JSON.stringify(point), { qos: 1 });
      }
      await pub.endAsync();
      await waitFor(() => rejected.length === 1 && sink.accepted.length === 9, 10000, 'one rejected, nine written');
      assert.equal(rejected[0].moby.reject.code, 'influx_400');
      assert.equal(rejected[0].moby.reject.device_id, 'dev-x');
      assert.match(rejected[0].moby.reject.reason, /field type conflict/);
      assert.match(rejected[0].payload, /seq="four"/);
    } finally {
      await helper.unload();
      await sink.close();
    }
  });
});
