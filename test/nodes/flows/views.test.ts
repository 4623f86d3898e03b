// Views instead of fan-outs (issue 16, docs/benchmarks.md): the shipped flow feeds device health from
// moby-hmac-verify's activity output (3) and the alert node from moby-anomaly's "for alerts" output (3),
// instead of a second wire on output 1 that makes Node-RED deep-copy every message. In the real Node-RED
// runtime, the same signed messages through both wirings (and through the view wiring in batch mode) must
// give the same points to the writer, the same device-health events and the same alerts — and the view
// wiring must really make no per-message copy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { waitFor } from '../../support/net';
import { type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const anomalyNode = require('../../../dist/nodes/anomaly/moby-anomaly.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const channelsModule = require('../../../dist/nodes/alert/moby-alert-channels.js');
const alertModule = require('../../../dist/nodes/alert/moby-alert.js');
// the runtime's own deep copy, counted: Flow.js calls it through this object for every cloned delivery
const redUtil = require('@node-red/util').util;

helper.init(require.resolve('node-red'));

const DEVICES = ['pump-1', 'pump-2', 'pump-3'];
const KEYS = Object.fromEntries(DEVICES.map((d) => [d, { k1: `${d}-device-secret-key` }]));
const POINTS = 30; // per device: 20 calibrate, the last 4 of pump-1 are far off
const TRAIN = 20;

/** The signed messages, made once so that every wiring gets the very same bytes. */
function messages(): Array<{ topic: string; payload: string }> {
  const t0 = Date.now() - 60_000;
  const out: Array<{ topic: string; payload: string }> = [];
  for (let i = 0; i < POINTS; i++) {
    for (const [k, d] of DEVICES.entries()) {
      const off = d === 'pump-1' && i >= POINTS - 4;
      const body = {
        device_id: d,
        ts: new Date(t0 + i * 1000).toISOString(),
        equipment_id: `line-${k}`,
        temperature: off ? 400 + i : 20 + Math.sin(i + k) * 2,
        current: off ? 90 : 3 + Math.cos(i * 1.3 + k) * 0.5,
        pressure: 1 + ((i * 7 + k) % 5) / 10,
      };
      const env = signEnvelope({ deviceId: d, key: parseKey(KEYS[d].k1), kid: 'k1', body: JSON.stringify(body) });
      out.push({ topic: `devices/${d}/telemetry`, payload: JSON.stringify(env) });
    }
  }
  return out;
}

type Wiring = 'fan-out' | 'views';

function flow(wiring: Wiring) {
  return [
    { id: 'kr', type: 'moby-keyring', keysEnv: '' },
    {
      id: 'v',
      type: 'moby-hmac-verify',
      keyring: 'kr',
      tolerance: 300,
      replayCache: 1000,
      replayStore: 'memory',
      topicPattern: 'devices/+device_id/telemetry',
      wires: wiring === 'fan-out' ? [['n', 'h'], ['rej']] : [['n'], ['rej'], ['h']],
    },
    {
      id: 'n',
      type: 'moby-normalize',
      registry: '',
      measurement: 'telemetry',
      tagKeys: 'equipment_id',
      wires: [['a'], ['rej']],
    },
    {
      id: 'a',
      type: 'moby-anomaly',
      method: 'pca',
      trainSize: TRAIN,
      persistSeconds: 0,
      wires: wiring === 'fan-out' ? [['al', 'pts'], ['rej']] : [['pts'], ['rej'], ['al']],
    },
    {
      id: 'h',
      type: 'moby-device-health',
      timeout: 3600,
      sweepInterval: 1,
      persist: false,
      wires: [['al', 'hev'], ['rej']],
    },
    { id: 'al', type: 'moby-alert', apiEnabled: false, autoResolvePoints: 2, wires: [['aev'], [], ['rej']] },
    { id: 'pts', type: 'helper' },
    { id: 'hev', type: 'helper' },
    { id: 'aev', type: 'helper' },
    { id: 'rej', type: 'helper' },
  ];
}

// one item of a batch message (or the message itself)
const itemsOf = (m: Msg): Msg[] => (Array.isArray(m.batch) ? (m.batch as Msg[]) : [m]);

function carriesReadings(m: unknown): boolean {
  const items = Array.isArray((m as Msg)?.batch) ? ((m as Msg).batch as Msg[]) : [m as Msg];
  return items.some((i) => {
    const p = i?.payload as Record<string, unknown> | undefined;
    return typeof p === 'object' && p !== null && (p.fields !== undefined || p.temperature !== undefined);
  });
}

interface Outcome {
  points: unknown[];
  health: unknown[];
  alerts: unknown[];
  rejects: unknown[];
  clones: number;
  /** copies of per-message traffic, views included (device health's rare state events fan out in this flow) */
  allClones: number;
}

describe('views instead of fan-outs: verify → health and anomaly → alert (Node-RED runtime)', function () {
  this.timeout(60000);
  let userDir: string;
  // signed when the tests start, not when the file loads: in a long suite a minute-old timestamp plus the
  // suite's run time can pass the verifier's freshness window and every message is rejected as stale
  let input: Array<{ topic: string; payload: string }> = [];
  const originalClone = redUtil.cloneMessage;
  let clones = 0;
  let allClones = 0;

  before(() => {
    input = messages();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-views-'));
    helper.settings({ userDir });
    // counts copies of messages that carry readings (a whole verified message or point, or a batch of
    // them), and copies of any per-message traffic: a view leaves in a send() of its own, so the runtime
    // copies not even a view (device health's state events fan out in this flow: not counted there)
    redUtil.cloneMessage = function (...args: unknown[]) {
      if ((args[0] as Msg)?.topic !== 'device-health') allClones++;
      if (carriesReadings(args[0])) clones++;
      return originalClone.apply(this, args);
    };
  });
  after(() => {
    redUtil.cloneMessage = originalClone;
    helper.settings({});
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
  });

  async function run(wiring: Wiring, batchSize = 0): Promise<Outcome> {
    await new Promise<void>((resolve) =>
      helper.load(
        [hmacNode, normalizeNode, anomalyNode, healthNode, channelsModule, alertModule],
        flow(wiring),
        { kr: { keys: JSON.stringify(KEYS) } },
        resolve
      )
    );
    const got = { pts: [] as Msg[], hev: [] as Msg[], aev: [] as Msg[], rej: [] as Msg[] };
    for (const id of ['pts', 'hev', 'aev', 'rej'] as const)
      helper.getNode(id).on('input', (m: Msg) => got[id].push(...itemsOf(m)));
    clones = 0;
    allClones = 0;
    const v = helper.getNode('v');
    if (batchSize) {
      for (let i = 0; i < input.length; i += batchSize)
        v.receive({ batch: input.slice(i, i + batchSize).map((m) => ({ ...m })) });
    } else for (const m of input) v.receive({ ...m });
    await waitFor(() => got.pts.length === input.length, 20000, `${wiring}: every point reached the writer`);
    // the last point's alert (pump-1 opened at least one) and health events settle within a few turns
    await waitFor(() => got.hev.length >= DEVICES.length && got.aev.length > 0, 10000, `${wiring}: events`);
    await new Promise((r) => setTimeout(r, 300));
    // as data: normalize builds null-prototype records and the runtime's copy turns them into plain objects
    const strip = (m: Msg) => {
      const { _msgid, ...rest } = m as Record<string, unknown>;
      void _msgid;
      return JSON.parse(JSON.stringify(rest)) as unknown;
    };
    return {
      points: got.pts.map(strip),
      // what does not depend on the wall clock or a random id
      health: got.hev.map((m) => {
        const p = m.payload as Record<string, unknown>;
        return [p.device_id, p.state, p.previous, p.reason];
      }),
      alerts: got.aev.map((m) => {
        const { event, alert: a } = m.payload as { event: string; alert: Record<string, unknown> };
        return [event, a.device_id, a.rule, a.severity, a.status, a.message, a.count, a.equipment_id, a.value];
      }),
      rejects: got.rej.map((m) => (m.moby as { reject: unknown }).reject),
      clones,
      allClones,
    };
  }

  it('the view wiring gives the writer, device health and the alert node what the fan-out wiring gives them, copying no whole message', async () => {
    const fanOut = await run('fan-out');
    await helper.unload();
    const views = await run('views');
    assert.equal(views.points.length, input.length);
    assert.deepEqual(views.points, fanOut.points, 'the same points, in the same order, for the writer');
    assert.deepEqual(views.health, fanOut.health, 'the same device-health events');
    assert.deepEqual(views.alerts, fanOut.alerts, 'the same alert events');
    assert.deepEqual(views.rejects, fanOut.rejects);
    assert.deepEqual(views.rejects, []);
    assert.ok(
      fanOut.alerts.some((a) => (a as unknown[])[1] === 'pump-1'),
      'the far-off points of pump-1 opened an alert (the comparison covers alerts)'
    );
    assert.ok(
      (fanOut.points as Msg[]).filter((p) => p.anomaly && !p.anomaly.warming).length >=
        DEVICES.length * (POINTS - TRAIN),
      `every point past calibration was scored: ${JSON.stringify((fanOut.points as Msg[]).map((p) => p.anomaly))}`
    );
    // the fan-outs copy every whole message twice; the views never copy one
    assert.ok(fanOut.clones >= 2 * input.length, `fan-out wiring: ${fanOut.clones} copies`);
    assert.equal(views.clones, 0, `view wiring: ${views.clones} copies of messages with readings`);
    // nor a view: each leaves as the first (uncopied) message of its own send() (docs/benchmarks.md, 2026-12-05)
    assert.equal(views.allClones, 0, `view wiring: ${views.allClones} copies of per-message traffic`);
  });

  it('in batch mode the view outputs leave in sends of their own: the same outcome, no copy of a batch', async () => {
    const single = await run('views');
    await helper.unload();
    const batched = await run('views', 10);
    assert.deepEqual(batched.points, single.points);
    assert.deepEqual(batched.health, single.health);
    assert.deepEqual(batched.alerts, single.alerts);
    assert.equal(batched.clones, 0, `batch mode, view wiring: ${batched.clones} copies of batches with readings`);
    assert.equal(batched.allClones, 0, `batch mode, view wiring: ${batched.allClones} copies of per-message traffic`);
  });
});
