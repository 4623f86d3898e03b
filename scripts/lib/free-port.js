'use strict';
// Free loopback ports for the processes a test or the local cluster starts. A probed port is free only until
// its probe socket closes, and the kernel may hand the same port out again to the next probe (seen twice in
// CI: one NATS server given the same port for two listeners, then VictoriaMetrics given a NATS server's
// port). Every port handed out by this process is remembered, so no two callers — whichever helper they use —
// ever get the same one.
const net = require('node:net');

const handedOut = new Set();

function probe() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port;
      srv.close(() => resolve(port));
    });
  });
}

/** A loopback port nothing listens on now and that this process has not handed out before. */
async function freePort() {
  for (;;) {
    const port = await probe();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

module.exports = { freePort };
