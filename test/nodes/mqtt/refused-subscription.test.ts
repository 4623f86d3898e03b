// A subscription the broker refuses (SUBACK 0x80) leaves the connection up and nothing ever arrives: the
// in-node says so on its status instead of "connected" in green (integrator review 2026-12-06: a config node
// without the pipeline's login, against npm start's embedded broker, which lets only that login subscribe).
// Real embedded broker (scripts/lib/embedded-broker.js; needs `npm run build`), real Node-RED runtime.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '../../support/net';
import { mobyBroker, mobyIn, mqttNodes } from '../../support/mqtt-red';

const helper = require('node-red-node-test-helper');
const { startEmbeddedBroker } = require('../../../scripts/lib/embedded-broker.js');

helper.init(require.resolve('node-red'));

describe('moby-mqtt-in: a subscription the broker refuses (embedded broker, Node-RED runtime)', function () {
  this.timeout(20000);
  const login = { clientId: 'moby-pipeline', username: 'moby-pipeline', password: 'pipeline-secret-123456' };
  let broker: { url: string; close(): Promise<void> };
  let userDir: string;
  beforeEach(async () => {
    broker = await startEmbeddedBroker({ login, port: await freePort(), log: () => undefined });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mqtt-refused-'));
    helper.settings({ userDir });
  });
  after(() => helper.settings({}));
  afterEach(async () => {
    await helper.unload();
    await broker.close();
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('shows the refusal on the in-node (red) and in the error, and green once the login may subscribe', async () => {
    const statuses = (id: string) => {
      const seen: Array<{ fill?: string; text?: string }> = [];
      helper
        .getNode(id)
        .on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => seen.push(call.args[0]));
      return seen;
    };
    const errors: string[] = [];
    // without the login: connected as a device would be, its subscription refused
    await helper.load(mqttNodes, [
      mobyBroker(broker.url, { clientId: 'someone' }),
      mobyIn('in', 'devices/+/telemetry', [[]]),
    ]);
    const seen = statuses('in');
    helper.getNode('b').on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    await waitFor(() => seen.some((s) => s?.fill === 'red'), 5000, `a red status (have ${JSON.stringify(seen)})`);
    assert.match(seen.filter((s) => s?.fill === 'red').at(-1)!.text!, /subscription refused/);
    assert.ok(!seen.some((s) => s?.fill === 'green'), JSON.stringify(seen));
    assert.match(helper.getNode('b').describe().lastError, /refused the subscription to devices\/\+\/telemetry/);
    await helper.unload();
    // with it: green
    await helper.load(
      mqttNodes,
      [mobyBroker(broker.url, { clientId: login.clientId }), mobyIn('in', 'devices/+/telemetry', [[]])],
      { b: { user: login.username, password: login.password } }
    );
    const ok = statuses('in');
    const b = helper.getNode('b');
    await waitFor(() => b.describe().connected, 5000, 'connected with the login');
    helper.getNode('in').brokerStatus(); // the status as of now (the first one may have come before the spy)
    await waitFor(() => ok.some((s) => s?.fill === 'green'), 5000, `a green status (have ${JSON.stringify(ok)})`);
    assert.equal(b.describe().refused.size, 0);
  });
});
