// The shared port allocator: callers in one process never get the same port, whichever helper they use and
// whether they ask one after another or at the same moment, and a handed-out port is free to listen on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort } from '../../support/net';

const { freePort: scriptFreePort } = require('../../../scripts/lib/free-port.js') as {
  freePort(): Promise<number>;
};

describe('scripts/lib/free-port', () => {
  it('never hands out a port twice, though the kernel repeats a probed port within a few hundred probes', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 1500; i++) ports.push(await (i % 2 === 0 ? freePort() : scriptFreePort()));
    assert.equal(new Set(ports).size, ports.length);
  });

  it('hands out distinct ports to concurrent callers, through the test helper and the scripts alike', async () => {
    const ports = await Promise.all(
      Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? freePort() : scriptFreePort()))
    );
    assert.equal(new Set(ports).size, ports.length);
  });

  it('hands out a port that can be listened on', async () => {
    const port = await freePort();
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});
