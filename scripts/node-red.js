#!/usr/bin/env node
// Node-RED for `npm start`, embedded the documented way (RED.init with our own HTTP server and Express
// app) instead of node-red/red.js, for one reason: Node-RED's editor API answers every origin with
// `Access-Control-Allow-Origin: *` (hard-wired in @node-red/editor-api, before httpAdminMiddleware runs),
// and with the editor and the alert API both at "/" it also answered preflights for /moby/* that way. Here
// MOBY's guard runs first: /moby/* goes straight to the alert API (its own token, origin and CORS rules);
// everything else meets the admin guard (foreign origins and unknown host names refused, CORS headers
// dropped) before Node-RED's editor and admin API. Usage: node scripts/node-red.js --userDir D --settings F
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const nodeRedDir = path.dirname(require.resolve('node-red/package.json'));
// Node-RED's own Express, so the app behaves exactly like the one red.js would build
const express = require(require.resolve('express', { paths: [nodeRedDir] }));
const RED = require('node-red');
const { adminGuard, guardUpgrades } = require(path.join(root, 'dist', 'nodes', 'lib', 'admin-guard.js'));
const { loginGuard } = require(path.join(root, 'dist', 'nodes', 'lib', 'login-guard.js'));
const { adminBodyGuard } = require(path.join(root, 'dist', 'nodes', 'lib', 'admin-body-guard.js'));
const { LOOPBACK_HOSTS, allowedHostNames, hostVerdict, parseOriginList } = require(
  path.join(root, 'dist', 'nodes', 'core', 'http-guard.js')
);

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const userDir = path.resolve(arg('--userDir') || '.');
const settingsFile = path.resolve(arg('--settings') || path.join(userDir, 'settings.js'));
const settings = require(settingsFile);
settings.userDir = userDir;
settings.settingsFile = settingsFile;
settings.httpAdminRoot = settings.httpAdminRoot || '/';
settings.httpNodeRoot = settings.httpNodeRoot || '/';
const apiPrefix = (process.env.MOBY_API_PREFIX || '/moby').replace(/\/+$/, '');

// The names the server answers to (DNS-rebinding guard): loopback's, the machine's own when bound elsewhere, and
// MOBY_ALLOWED_HOSTS (allowedHostNames)
const host = settings.uiHost || '127.0.0.1';
const allowedHosts = allowedHostNames(host, (process.env.MOBY_ALLOWED_HOSTS || '').split(','), {
  hostname: os.hostname(),
  addresses: Object.values(os.networkInterfaces())
    .flat()
    .filter(Boolean)
    .map((i) => i.address),
});
if (!LOOPBACK_HOSTS.includes(host))
  console.log(
    `[moby] bound to ${host}: the editor and the alert API answer to the host names ${allowedHosts.join(', ')} ` +
      '(421 otherwise, against DNS rebinding); add the DNS names you reach this machine as to MOBY_ALLOWED_HOSTS'
  );
const guardOptions = { allowedHosts, allowedOrigins: parseOriginList(process.env.MOBY_ADMIN_ORIGINS || '') };

const app = express();
app.disable('x-powered-by');
// Short deadlines for a request's head and body, and a bound on open connections that evicts the longest idle
// (nodes/lib/http-connections.ts): a client without a token held 20,000 connections here by sending a header byte
// every 10 s, took every file descriptor, and the alert API, the editor, the journals and the spool failed
// (red-team round 2026-12-07).
const httpConnections = require(path.join(root, 'dist', 'nodes', 'lib', 'http-connections.js'));
const { LineWindow } = require(path.join(root, 'dist', 'nodes', 'core', 'line-window.js'));
const { wholeNumberSetting } = require(path.join(root, 'scripts', 'lib', 'env-setting.js'));
const server = http.createServer(httpConnections.httpServerDeadlines(), app);
const httpLimits = {
  maxConnections:
    wholeNumberSetting('MOBY_HTTP_MAX_CONNECTIONS', process.env.MOBY_HTTP_MAX_CONNECTIONS, 1, 1000000) ??
    httpConnections.HTTP_MAX_CONNECTIONS,
  maxPerAddress:
    wholeNumberSetting('MOBY_HTTP_MAX_PER_ADDRESS', process.env.MOBY_HTTP_MAX_PER_ADDRESS, 1, 1000000) ??
    httpConnections.HTTP_MAX_PER_ADDRESS,
};
const evictionLog = new LineWindow({ linesPerWindow: 1, windowMs: 60000 });
const evictionLine = (c, total) =>
  `HTTP: closed the longest idle connection (${c.address}) to admit a new one: at most ${httpLimits.maxPerAddress} per address and ${httpLimits.maxConnections} in all (MOBY_HTTP_MAX_PER_ADDRESS, MOBY_HTTP_MAX_CONNECTIONS); ${total} closed so far`;
httpConnections.boundHttpConnections(server, httpLimits, (c, total) => {
  const line = evictionLog.note(evictionLine(c, total), Date.now());
  if (line) RED.log.warn(line);
});
setInterval(() => {
  const s = evictionLog.summary(Date.now());
  if (s)
    RED.log.warn(
      `${s.unlogged} more HTTP connection(s) closed in ${Math.round(s.windowMs / 1000)} s; the last: ${s.last}`
    );
}, 10000).unref();
RED.init(server, settings);

const isApi = (p) => p === apiPrefix || p.startsWith(apiPrefix + '/');
const jsonError = (res, status, code, message) => {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // refusals do not read a request's body: the connection closes after the answer instead of draining it
  res.setHeader('Connection', 'close');
  res.end(JSON.stringify({ error: { code, message } }));
};
// DNS rebinding against the API too: a rebound page could send wrong tokens from 127.0.0.1 (locking out
// Prometheus and Grafana there with 429) and read every answer; origins are the API's own business (CORS)
app.use((req, res, next) => {
  if (!isApi(req.path)) return next();
  const host = hostVerdict(req.headers, allowedHosts);
  if (!host.ok) return jsonError(res, host.status, host.code, host.message);
  RED.httpNode(req, res, next);
});
app.use((req, res, next) => (isApi(req.path) ? jsonError(res, 404, 'not_found', 'no such route') : next()));
app.use(adminGuard(guardOptions));
// Node-RED's login: bounded body, credentials checked here, failures limited per address (nodes/lib/login-guard.ts)
const adminUsers = settings.adminAuth && Array.isArray(settings.adminAuth.users) ? settings.adminAuth.users : null;
if (adminUsers && adminUsers.length) {
  // the bcrypt Node-RED itself compares with (editor-api's users.js: @node-rs/bcrypt, else bcryptjs)
  const editorApiDir = path.dirname(require.resolve('@node-red/editor-api/package.json', { paths: [nodeRedDir] }));
  let bcrypt;
  try {
    bcrypt = require(require.resolve('@node-rs/bcrypt', { paths: [editorApiDir] }));
  } catch {
    bcrypt = require(require.resolve('bcryptjs', { paths: [editorApiDir] }));
  }
  const authenticate = async (username, password) => {
    const user = adminUsers.find((u) => u.username === username);
    // an unknown user name costs a comparison too, so the answer's timing does not tell which names exist
    const ok = await bcrypt.compare(password, (user || adminUsers[0]).password);
    return Boolean(user) && ok;
  };
  app.post(
    path.posix.join(settings.httpAdminRoot, 'auth', 'token'),
    loginGuard({ authenticate, log: (line) => RED.log.warn(line) })
  );
  // A body to the editor API is read only for a login Node-RED knows (nodes/lib/admin-body-guard.ts): it read
  // bodies of up to 5 MB before looking at the login, and 700 unfinished ones without any login exhausted its
  // heap (red-team round 2026-12-07). The sessions are Node-RED's own (editor-api's token store, the instance
  // Node-RED itself uses).
  const tokensFile = path.join(editorApiDir, 'lib', 'auth', 'tokens.js');
  if (fs.existsSync(tokensFile)) {
    const tokens = require(tokensFile);
    app.use(
      settings.httpAdminRoot,
      adminBodyGuard({ lookup: (token) => Promise.resolve(tokens.get(token)).then((session) => Boolean(session)) })
    );
  } else
    RED.log.warn(
      `editor API: no token store at ${tokensFile} (another Node-RED layout): bodies are read before the login is checked`
    );
}
app.use(settings.httpAdminRoot, RED.httpAdmin);
app.use(settings.httpNodeRoot, RED.httpNode);
// Errors that reach the top never leave as Express's HTML page with a stack trace and server paths.
app.use((err, req, res, _next) => {
  const status = Number(err && (err.status || err.statusCode)) || 500;
  if (res.headersSent) return res.end();
  jsonError(
    res,
    status >= 400 && status < 600 ? status : 500,
    status === 413 ? 'too_large' : status < 500 ? 'bad_request' : 'internal_error',
    status < 500 ? 'bad request' : 'internal error'
  );
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  RED.stop()
    .catch((err) => RED.log.error(err))
    .then(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Started by npm start (scripts/start.js) with an IPC channel: when that script dies without stopping us (kill -9,
// a crash, the OOM killer choosing it), close as on Ctrl+C (the writer keeps its points in the spool) instead of
// running on as an orphan that holds the editor's port and the user directory, so the next npm start can start.
if (process.channel) {
  // once that script is gone, so is the reader of our stdout and stderr: a log line written while the flows stop
  // must not end the process with EPIPE before they have stopped and the context store is written
  require(path.join(root, 'dist', 'nodes', 'core', 'broken-pipe.js')).ignoreBrokenPipes(process.stdout, process.stderr);
  // npm start's embedded broker (in that script, not here) reports its refusals and drops for /moby/metrics
  const { setBrokerRefusals } = require(path.join(root, 'dist', 'nodes', 'lib', 'metrics.js'));
  process.on('message', (m) => {
    if (m && m.type === 'moby:broker-refusals') setBrokerRefusals(m.totals);
  });
  process.channel.unref();
  process.on('disconnect', stop);
}
process.on('uncaughtException', (err) => {
  RED.log.error(`uncaught exception: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

RED.start()
  .then(() => {
    guardUpgrades(server, guardOptions);
    server.on('error', (err) => {
      RED.log.error(err.code === 'EADDRINUSE' ? `port ${settings.uiPort} is in use` : String(err));
      process.exit(1);
    });
    server.listen(settings.uiPort, host, () => {
      const shown = host.includes(':') ? `[${host}]` : host;
      RED.log.info(`Server now running at http://${shown}:${server.address().port}${settings.httpAdminRoot}`);
    });
  })
  .catch((err) => {
    RED.log.error(`failed to start: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
