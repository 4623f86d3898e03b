// The moby-mqtt node module for node-red-node-test-helper. The helper's node API lacks RED.hooks, which the
// real runtime passes (@node-red/util's hooks, the same registry Flow.js triggers) and moby-mqtt-in uses to
// learn when a message is complete: hand the module that registry, as Node-RED does. Also the flow JSON of
// MOBY's broker and in nodes, and the broker + user directory every moby-mqtt node test starts per test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAedes, type Broker } from './aedes';

const mqttModule = require('../../dist/nodes/mqtt/moby-mqtt.js');

export const mqttNodes = (RED: any) =>
  mqttModule(
    Object.assign(Object.create(RED), {
      hooks: require('@node-red/util').hooks,
      nodes: RED.nodes,
      util: RED.util,
      settings: RED.settings,
    })
  );

/** A moby-mqtt-broker config node (id "b") on `url`; every field can be overridden. */
export function mobyBroker(url: string, opts: Record<string, unknown> = {}) {
  return { id: 'b', type: 'moby-mqtt-broker', urls: url, ...opts };
}

/** A moby-mqtt-in node on broker "b": QoS 1, text payloads; every field can be overridden. */
export function mobyIn(id: string, topic: string, wires: string[][], opts: Record<string, unknown> = {}) {
  return { id, type: 'moby-mqtt-in', broker: 'b', topic, qos: '1', datatype: 'utf8', wires, ...opts };
}

/** node-red-node-test-helper, as far as useAedesRuntime needs it. */
interface TestHelper {
  settings(s: Record<string, unknown>): void;
  unload(): Promise<void>;
}

export interface AedesRuntime {
  /** this test's broker (set in beforeEach) */
  broker: Broker;
  /** this test's Node-RED user directory, where the broker node keeps its session state */
  userDir: string;
}

/**
 * For a describe block of moby-mqtt node tests: before each test an embedded aedes broker (recording the
 * PUBACKs of client `recordAcksOf`) and a fresh Node-RED user directory; after each, the flows unloaded, the
 * broker closed and the directory removed.
 */
export function useAedesRuntime(helper: TestHelper, dirPrefix: string, recordAcksOf?: string): AedesRuntime {
  const env = {} as AedesRuntime;
  beforeEach(async () => {
    env.broker = await startAedes(undefined, recordAcksOf);
    env.userDir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
    helper.settings({ userDir: env.userDir });
  });
  after(() => helper.settings({}));
  afterEach(async () => {
    await helper.unload();
    await env.broker.close();
    fs.rmSync(env.userDir, { recursive: true, force: true });
  });
  return env;
}
