// Package entry point (package.json "main"): the pure core, so a Node.js gateway or script can sign,
// verify, normalize and score exactly as the nodes do. Node-RED loads the node files listed under
// "node-red" in package.json, not this file.
export * from './core/contract';
export * from './core/safe-json';
export * from './core/hmac/scheme';
export * from './core/hmac/keyring';
export * from './core/hmac/verify';
export * from './core/hmac/replay-journal';
export * from './core/normalize/timestamp';
export * from './core/normalize/registry';
export * from './core/normalize/normalize';
export * from './core/health';
export * from './core/anomaly';
export * from './core/anomaly/onnx';
export * from './core/alert';
export * from './core/influx';
export * from './core/http-guard';
export * from './core/mqtt/settle-tracker';
export * from './core/mqtt/topics';
export {
  TopicPattern,
  parseTopicPattern,
  topicValueProblem,
  captureProblem,
  levelsProblem,
  migrateDeviceLevel,
  migrateHealthPattern,
  migrateHealthPatterns,
  type TopicValueLimits,
  type TopicMatchOptions,
} from './core/topic';
