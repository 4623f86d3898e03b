// The moby-mqtt node module for node-red-node-test-helper. The helper's node API lacks RED.hooks, which the
// real runtime passes (@node-red/util's hooks, the same registry Flow.js triggers) and moby-mqtt-in uses to
// learn when a message is complete: hand the module that registry, as Node-RED does.
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
