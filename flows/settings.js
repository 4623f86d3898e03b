// Node-RED settings used by `npm start` (scripts/start.js passes --settings and --userDir).
// Everything a deployment changes comes from environment variables; see README "Configuration".
'use strict';
const env = process.env;

module.exports = {
  uiPort: Number(env.MOBY_PORT || 1880),
  uiHost: env.MOBY_HOST || '127.0.0.1',
  flowFile: 'flows.json',
  flowFilePretty: true,
  // Credentials (keyring secrets, tokens) are encrypted in flows_cred.json with this key.
  credentialSecret: env.MOBY_CREDENTIAL_SECRET || 'moby-dev-only-change-me',
  // File-backed context so alert, device-health and anomaly state survive a restart.
  contextStorage: {
    default: { module: 'localfilesystem', config: { flushInterval: 5 } },
    memory: { module: 'memory' },
    // Written through on every set, in its own directory: state the durable pipeline acknowledges MQTT
    // messages on must be on disk before the acknowledgement (the alert state; docs/durability.md).
    durable: { module: 'localfilesystem', config: { cache: false, base: 'context-durable' } },
  },
  httpNodeCors: undefined,
  logging: { console: { level: env.MOBY_LOG_LEVEL || 'info', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false }, tours: false },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  functionExternalModules: false,
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
};
