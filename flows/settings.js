// Node-RED settings used by `npm start` (scripts/start.js passes --settings and --userDir and resolves the
// secrets below first). Everything a deployment changes comes from environment variables; see README
// "Configuration" and docs/security.md.
'use strict';
const path = require('node:path');
const env = process.env;

/** The secrets have no built-in defaults: start through `npm start`, which generates or reads them. */
function required(name) {
  const v = env[name];
  if (!v)
    throw new Error(
      `${name} is not set: start MOBY with \`npm start\` (it generates it under MOBY_HOME), or set it yourself`
    );
  return v;
}

let adminGuard = null;
try {
  // second line of defence when these settings are used with node-red/red.js instead of scripts/node-red.js
  ({ adminGuard } = require(path.join(__dirname, '..', 'dist', 'nodes', 'lib', 'admin-guard.js')));
} catch {
  /* not built */
}

module.exports = {
  uiPort: Number(env.MOBY_PORT || 1880),
  uiHost: env.MOBY_HOST || '127.0.0.1',
  flowFile: 'flows.json',
  flowFilePretty: true,
  // Credentials (keyring secrets, tokens) are encrypted in flows_cred.json with this key: generated per
  // MOBY_HOME (secrets/credential-secret, 0600) unless MOBY_CREDENTIAL_SECRET is set.
  credentialSecret: required('MOBY_CREDENTIAL_SECRET'),
  // The editor and admin API need a login: one admin user whose bcrypt hash comes from
  // MOBY_ADMIN_PASSWORD_HASH (npm start derives it from MOBY_ADMIN_PASSWORD or the generated password).
  adminAuth: {
    type: 'credentials',
    users: [
      { username: env.MOBY_ADMIN_USER || 'admin', password: required('MOBY_ADMIN_PASSWORD_HASH'), permissions: '*' },
    ],
  },
  httpAdminMiddleware: adminGuard ? adminGuard({}) : undefined,
  // the token /moby/metrics accepts besides the alert nodes' own (npm start: "sha256:<hex>" of it)
  mobyApiToken: env.MOBY_API_TOKEN || undefined,
  // File-backed context so alert, device-health and anomaly state survive a restart.
  contextStorage: {
    default: { module: 'localfilesystem', config: { flushInterval: 5 } },
    memory: { module: 'memory' },
    // Written through on every set, in its own directory: state the durable pipeline acknowledges MQTT
    // messages on must be on disk before the acknowledgement (docs/durability.md). The shipped alert node keeps
    // its state in a journal of its own and reads this store once, to move the state older versions kept here;
    // alert nodes set to persist in the context store (flows from before the journal) still write here.
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
