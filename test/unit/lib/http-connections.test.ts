// nodes/lib/http-connections.ts on a real HTTP server (no Node-RED): which connections the bound passes over when
// it must evict one. A deploy with its body still coming and an upgraded WebSocket sending frames are active; a
// connection that never sent a whole head is not, however many bytes of it arrived.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { boundHttpConnections } from '../../../nodes/lib/http-connections';
import { sleep, waitFor } from '../../support/net';

/** A connection that sends the start of a request's head and nothing more. */
function slowHead(port: number): { socket: net.Socket; closed: () => boolean } {
  let closed = false;
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  socket.write('GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: aaaa');
  return { socket, closed: () => closed };
}

describe('nodes/lib/http-connections: what the bound keeps when it evicts', () => {
  let server: http.Server;
  let port = 0;
  const sockets: net.Socket[] = [];
  const evictions: string[] = [];

  beforeEach(async () => {
    evictions.length = 0;
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += String(d)));
      req.on('end', () => res.end(`got ${body.length}`));
    });
    // as scripts/node-red.js: bound first, the WebSocket's 'upgrade' listener added later (by RED.init)
    boundHttpConnections(server, { maxConnections: 100, maxPerAddress: 10 }, (c) => evictions.push(c.address));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** `n` connections that sent part of a head, once the server has read what they sent */
  const heads = async (n: number) => {
    const out = Array.from({ length: n }, () => slowHead(port));
    for (const h of out) sockets.push(h.socket);
    await sleep(300);
    return out;
  };

  it('a request whose body is still coming is kept, though 8 connections with unread bytes came before it (before: closed)', async () => {
    const early = await heads(8);
    const upload = net.connect({ host: '127.0.0.1', port });
    sockets.push(upload);
    let answer = '';
    let closed = false;
    upload.on('data', (d) => (answer += String(d)));
    upload.on('close', () => (closed = true));
    upload.on('error', () => {});
    upload.write('POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n0123456789');
    await sleep(300);
    // the 10th fills the address's cap; the 11th and 12th make the bound evict
    await heads(3);
    await waitFor(() => evictions.length >= 2, 5000, 'two evictions');
    assert.equal(closed, false, 'the upload is open');
    assert.ok(early.filter((h) => h.closed()).length >= 2, 'bare heads were closed instead');
    upload.write('0123456789');
    await waitFor(() => /got 20$/.test(answer), 5000, `the upload's answer (have ${JSON.stringify(answer)})`);
  });

  it('an upgraded connection sending frames is kept; its listener added after the bound', async () => {
    server.on('upgrade', (_req, socket: net.Socket) => {
      sockets.push(socket); // detached from the server: closeAllConnections does not close it
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', () => {});
    });
    const ws = net.connect({ host: '127.0.0.1', port });
    sockets.push(ws);
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => {});
    ws.write('GET /comms HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n');
    await sleep(200);
    // frames keep coming while a flood of bare heads pushes the address over its cap many times
    const frames = setInterval(() => ws.writable && ws.write('frame'), 50);
    try {
      for (let i = 0; i < 4; i++) await heads(6);
      assert.ok(evictions.length >= 10, `evictions: ${evictions.length}`);
      assert.equal(closed, false, 'the upgraded connection is open');
    } finally {
      clearInterval(frames);
    }
  });

  it('a server without an upgrade listener still answers an upgrade request as a request', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, headers: { upgrade: 'test', connection: 'upgrade' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    assert.equal(res, 200);
  });
});
