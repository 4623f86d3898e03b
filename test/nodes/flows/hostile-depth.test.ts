// Deeply nested input at every MOBY node that takes messages, in the real Node-RED runtime (compiled nodes from
// dist/). Red-team round, 2026-12-05: 60 KB of '[' (30,000 levels) published by a broker client without keys
// made moby-hmac-verify throw a RangeError (the duplicate-key check counted the parsed value's keys by
// recursion, before any depth cap). The runtime logs a throw, but the node's done() is never called, so the
// message never settled: a thousand of them filled moby-mqtt-in's window and ingestion stopped for good. Each
// node here must finish every such message (done without an error: a reject output, or nothing to do) and
// name no stack overflow; every item is refused with a reject, counted. Completions are read from the runtime's onComplete hook: a Complete or Catch node
// would get a deep clone of the message, and Node-RED's own clone overflows on 30,000 levels. The same text is fed as a string, a Buffer and the value JSON.parse makes of it (what
// an `mqtt in` in JSON mode hands on).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../../support/net';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
const normalizeNode = require('../../../dist/nodes/normalize/moby-normalize.js');
const anomalyNode = require('../../../dist/nodes/anomaly/moby-anomaly.js');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const alertNode = require('../../../dist/nodes/alert/moby-alert.js');
const channelsNode = require('../../../dist/nodes/alert/moby-alert-channels.js');
const influxNode = require('../../../dist/nodes/influx/moby-influx.js');
const { hooks } = require('@node-red/util');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'), {
  userDir: fs.mkdtempSync(path.join(os.tmpdir(), 'moby-hostile-depth-test-')),
});

const LEVELS = 30_000;
const ARRAYS = '['.repeat(LEVELS) + ']'.repeat(LEVELS);
const OBJECTS = '{"a":'.repeat(LEVELS / 2) + '1' + '}'.repeat(LEVELS / 2);
/** what each node is fed, as the source would hand it on */
const INPUTS: Array<[string, () => unknown]> = [
  ['arrays as text', () => ARRAYS],
  ['objects as text', () => OBJECTS],
  ['arrays as a Buffer', () => Buffer.from(ARRAYS)],
  ['arrays parsed', () => JSON.parse(ARRAYS)],
  ['objects parsed', () => JSON.parse(OBJECTS)],
];

const KEY = 'hex:' + '5d'.repeat(32);

/** [node config, topic]: each node as a flow would wire it, its outputs to nowhere */
const NODES: Array<[Record<string, unknown>, string]> = [
  [
    {
      id: 'n',
      type: 'moby-hmac-verify',
      keyring: 'kr',
      tolerance: 300,
      replayCache: 1000,
      topicPattern: 'devices/+device_id/telemetry',
      wires: [[], []],
    },
    'devices/pump-1/telemetry',
  ],
  [
    {
      id: 'n',
      type: 'moby-hmac-sign',
      keyring: 'kr',
      deviceId: 'pump-1',
      kid: '',
      carrier: 'envelope',
      wires: [[], []],
    },
    'devices/pump-1/telemetry',
  ],
  [{ id: 'n', type: 'moby-normalize', wires: [[], []] }, 'devices/pump-1/telemetry'],
  [{ id: 'n', type: 'moby-anomaly', method: 'pca', trainSize: 20, wires: [[], []] }, 'devices/pump-1/telemetry'],
  [{ id: 'n', type: 'moby-device-health', persist: false, wires: [[], []] }, 'device/lwt/pump-1'],
  [{ id: 'n', type: 'moby-device-health', persist: false, wires: [[], []] }, 'device/status/pump-1'],
  [{ id: 'n', type: 'moby-alert', name: 'alerts', apiPrefix: '/moby-depth', persist: false, wires: [[], [], []] }, ''],
  [{ id: 'n', type: 'moby-influx-write', wires: [[]] }, 'devices/pump-1/telemetry'],
];

describe('deeply nested input at every MOBY node (red-team round, 2026-12-05)', function () {
  this.timeout(60_000);
  const finished: Array<{ error?: unknown }> = [];
  before(() =>
    hooks.add('onComplete.mobyDepthTest', (ev: { node: { id: string }; error?: unknown }) => {
      if (ev.node.id === 'n') finished.push({ error: ev.error });
    })
  );
  after(() => hooks.remove('*.mobyDepthTest'));
  afterEach(async () => {
    await helper.unload();
    finished.length = 0;
  });

  for (const [config, topic] of NODES) {
    it(`${config.type}${topic ? ` on ${topic}` : ''}: every message finishes, none overflows the stack`, async () => {
      const flow = [{ id: 'kr', type: 'moby-keyring', name: 'fleet', keysEnv: '' }, config];
      await new Promise<void>((resolve, reject) =>
        helper.load(
          [hmacNode, normalizeNode, anomalyNode, healthNode, channelsNode, alertNode, influxNode],
          flow,
          { kr: { keys: JSON.stringify({ 'pump-1': { k1: KEY } }) }, n: { apiToken: 'depth-test-token-0123456789' } },
          (err?: Error) => (err ? reject(err) : resolve())
        )
      );
      const n = helper.getNode('n');
      const rejected = async () =>
        Number(
          new RegExp(`moby_messages_total\\{node_type="${config.type}",outcome="rejected"\\} (\\d+)`).exec(
            await metricsText()
          )?.[1] ?? 0
        );
      const rejectedBefore = await rejected();
      // what the runtime logs for a handler that threw (node.error(err, msg)) or a done(err)
      const errors = () =>
        (n.error as { getCalls(): Array<{ args: unknown[] }> }).getCalls().map((c) => String(c.args[0]));
      for (const [, make] of INPUTS) n.receive({ topic, payload: make() });
      // and the same items in one batch (docs/batch-mode.md), as moby-mqtt-in sends them in batch mode
      if (config.type !== 'moby-hmac-sign')
        n.receive({ batch: INPUTS.map(([, make]) => ({ topic, payload: make() })) });
      const expected = INPUTS.length + (config.type !== 'moby-hmac-sign' ? 1 : 0);
      await waitFor(
        () => finished.length >= expected || errors().some((e) => /call stack/i.test(e)),
        20_000,
        'every message finished'
      );
      assert.deepEqual(
        errors().filter((e) => /call stack/i.test(e)),
        [],
        'no stack overflow'
      );
      // finished as a reject or as nothing to do (done()), not as a failure: done(err) would leave it with the
      // broker, which sends it again on every new connection, and the same bytes fail the same way
      assert.deepEqual(
        finished.map((f) => (f.error === undefined ? 'done' : String(f.error))),
        Array.from({ length: expected }, () => 'done')
      );
      // and none vanished: each item (alone or in the batch) was refused with a reject, counted
      const items = INPUTS.length * (config.type !== 'moby-hmac-sign' ? 2 : 1);
      assert.equal((await rejected()) - rejectedBefore, items, 'every item rejected and counted');
    });
  }
});
