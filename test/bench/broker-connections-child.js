'use strict';
// The broker process of broker-connections.bench.ts: npm start's embedded broker from the tree given as the
// first argument (this checkout, or an older one to compare against), with the connection cap given as the
// second (empty: that tree's default). Prints {"port"} once it listens; answers each line "mem" on stdin with
// its memory after a full GC and its open file descriptors.
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const [root, cap] = process.argv.slice(2);
const { startEmbeddedBroker } = require(path.join(path.resolve(root), 'scripts', 'lib', 'embedded-broker.js'));
const login = { clientId: 'moby-pipeline', username: 'moby-pipeline', password: 'bench-pipeline-secret' };

startEmbeddedBroker({
  login,
  port: 0,
  maxConnections: cap ? Number(cap) : undefined,
  log: () => undefined,
}).then((broker) => {
  process.stdout.write(JSON.stringify({ port: broker.port }) + '\n');
  readline.createInterface({ input: process.stdin }).on('line', () => {
    global.gc();
    global.gc();
    const m = process.memoryUsage();
    const fds = fs.readdirSync('/proc/self/fd').length;
    process.stdout.write(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, fds }) + '\n');
  });
});
