// The HTTP server of `npm start` (scripts/node-red.js) under a slow-header flood, through the real runtime: a
// client without a token opened connections and sent a header byte every few seconds; with Node's defaults
// every one was held for a minute, 20,000 took every file descriptor, and the alert API, the editor and the
// journals failed (red-team round 2026-12-07). Now each address keeps at most its cap, all addresses together at
// most theirs (the longest idle goes first), and a head must arrive within 10 s, while the token holder is served.
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { startSecureNodeRed, type SecureNodeRed } from '../../support/secure-nodered';
import { waitFor } from '../../support/net';

const flow = [
  { id: 'tab', type: 'tab', label: 'http' },
  {
    id: 'alert',
    type: 'moby-alert',
    z: 'tab',
    apiEnabled: true,
    apiPrefix: '/moby',
    wires: [[], [], []],
    credentials: { apiToken: '${MOBY_API_TOKEN}' },
  },
];

/** A connection that starts a request's head and sends one more header byte every `everyMs`, never ending it. */
function slowHead(port: number, localAddress: string, everyMs: number): { socket: net.Socket; closed: () => boolean } {
  let closed = false;
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    clearInterval(timer);
  });
  socket.write('GET /moby/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ');
  const timer = setInterval(() => socket.writable && socket.write('a'), everyMs);
  return { socket, closed: () => closed };
}

describe('the HTTP server of npm start bounds its connections (scripts/node-red.js, nodes/lib/http-connections.ts)', function () {
  this.timeout(90000);
  let nr: SecureNodeRed;
  const held: Array<ReturnType<typeof slowHead>> = [];

  before(async () => {
    nr = await startSecureNodeRed(flow, { MOBY_HTTP_MAX_PER_ADDRESS: '20', MOBY_HTTP_MAX_CONNECTIONS: '50' });
  });
  afterEach(() => {
    for (const h of held.splice(0)) h.socket.destroy();
  });
  after(async () => {
    await nr?.stop();
  });

  const alerts = async (): Promise<number> =>
    (await fetch(`${nr.url}/moby/alerts`, { headers: { authorization: `Bearer ${nr.token}` } })).status;

  it('one address holding slow heads keeps at most its cap open; other addresses are not evicted for it', async () => {
    for (let i = 0; i < 100; i++) held.push(slowHead(nr.port, '127.0.0.2', 500));
    await waitFor(() => held.filter((h) => !h.closed()).length <= 20, 10000, 'the flood to be cut to its cap', 100);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(held.filter((h) => !h.closed()).length <= 20, 'still within the cap');
    assert.equal(await alerts(), 200, 'the token holder is served meanwhile');
    // a slow client of another address that came before the flood is not what the flood evicts
    const other = slowHead(nr.port, '127.0.0.3', 500);
    held.push(other);
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 50; i++) held.push(slowHead(nr.port, '127.0.0.2', 500));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(other.closed(), false, "another address's connection survives the flood");
    assert.match(nr.output.join(''), /HTTP: closed the longest idle connection \(127\.0\.0\.2\)/);
  });

  it('a deploy whose body is still coming outlives a flood of bare connections from its own address (red-team round 2: evicted after 100)', async () => {
    const token = await nr.login();
    const body = JSON.stringify(flow);
    const upload = net.connect({ host: '127.0.0.1', port: nr.port, localAddress: '127.0.0.5' });
    let answer = '';
    let closedAt = 0;
    upload.on('data', (d) => (answer += String(d)));
    upload.on('error', () => {});
    upload.on('close', () => (closedAt = Date.now()));
    upload.write(
      `POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nNode-RED-Deployment-Type: full\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
        body.slice(0, 10)
    );
    await new Promise((r) => setTimeout(r, 300));
    // a slow link: the rest comes a second later, while 60 bare connections arrive from the same address
    for (let i = 0; i < 60; i++) held.push(slowHead(nr.port, '127.0.0.5', 5000));
    await new Promise((r) => setTimeout(r, 1000));
    const sentAt = Date.now();
    upload.write(body.slice(10));
    // a wait, not a bound: a deploy restarts the flows, slower on a loaded machine; an eviction shows as the
    // connection closed without an answer (a negative time: during the flood), said in the failure. Failed twice
    // with no answer (2026-12-07, once beside another job, once in CI under Node-RED 5), the second time with the
    // close listener added too late to see an eviction during the flood: see test/unit/lib/http-connections.test.ts
    await waitFor(() => /^HTTP\/1\.1 \d+/.test(answer), 20000, 'the deploy answered').catch((err) => {
      throw new Error(
        `${(err as Error).message}; closed ${closedAt ? `${closedAt - sentAt} ms after the body's rest was sent` : 'no'}; answer ${JSON.stringify(answer.slice(0, 80))}`
      );
    });
    assert.match(answer, /^HTTP\/1\.1 204 /, 'the deploy went through');
    upload.destroy();
  });

  it("the editor's WebSocket, sending, outlives floods of bare connections from its own address (before: closed)", async () => {
    const token = await nr.login();
    const ws = new WebSocket(`ws://127.0.0.1:${nr.port}/comms`, { localAddress: '127.0.0.6' });
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('error', () => {});
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ auth: token }));
    // the editor subscribes and pings while the flood comes in bursts
    const frames = setInterval(() => ws.send(JSON.stringify({ subscribe: 'status/#' })), 100);
    try {
      for (let burst = 0; burst < 4; burst++) {
        for (let i = 0; i < 15; i++) held.push(slowHead(nr.port, '127.0.0.6', 5000));
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(held.filter((h) => h.closed()).length >= 30, 'the flood was cut');
      assert.equal(closed, false, 'the WebSocket is open');
    } finally {
      clearInterval(frames);
      ws.terminate();
    }
  });

  it('many addresses together keep at most the overall cap, the token holder still served', async () => {
    for (let a = 2; a <= 9; a++) for (let i = 0; i < 20; i++) held.push(slowHead(nr.port, `127.0.0.${a}`, 500));
    await waitFor(() => held.filter((h) => !h.closed()).length <= 50, 10000, 'the flood to be cut to the cap', 100);
    assert.equal(await alerts(), 200);
  });

  it('a body to the editor API without a login Node-RED knows is refused before it is read (red team: 700 unfinished 5 MB bodies to POST /flows exhausted the heap)', async () => {
    /** Sends a head announcing 5 MB and 1 KB of body; resolves with the answer's status line and how it ended. */
    const unfinished = (auth?: string) =>
      new Promise<{ status: string; closed: boolean }>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: nr.port });
        let text = '';
        socket.on('data', (d) => (text += String(d)));
        socket.on('error', () => {});
        socket.on('close', () => resolve({ status: text.split('\r\n')[0], closed: true }));
        socket.write(
          'POST /flows HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5242880\r\n' +
            (auth ? `Authorization: ${auth}\r\n` : '') +
            '\r\n' +
            '['.padEnd(1024, ' ')
        );
        setTimeout(() => {
          resolve({ status: text.split('\r\n')[0], closed: false });
          socket.destroy();
        }, 3000);
      });
    for (const auth of [undefined, 'Bearer made-up-token', 'Basic YWRtaW46YWRtaW4=']) {
      const r = await unfinished(auth);
      assert.equal(r.status, 'HTTP/1.1 401 Unauthorized', `answered at once (${auth ?? 'no login'})`);
      assert.equal(r.closed, true, 'and the connection closed, the body unread');
    }
    // a login Node-RED knows: the body is read (this one never ends, so no answer comes)
    const token = await nr.login();
    assert.deepEqual(await unfinished(`Bearer ${token}`), { status: '', closed: false });
    // the editor's own requests: a deploy with its login works, a read without a body is Node-RED's business
    const flows = await fetch(`${nr.url}/flows`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(flows.status, 200);
    const deploy = await fetch(`${nr.url}/flows`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'node-red-deployment-type': 'full',
      },
      body: JSON.stringify(flow),
    });
    assert.equal(deploy.status, 204, await deploy.text()); // Node-RED's answer to a deploy
    assert.equal((await fetch(`${nr.url}/flows`)).status, 401, 'no login, no body: Node-RED refuses as before');
  });

  it('a head that does not arrive whole within 10 s is cut off, however slowly it trickles (Node: 60 s)', async () => {
    const one = slowHead(nr.port, '127.0.0.4', 1000);
    held.push(one);
    const t0 = Date.now();
    await waitFor(() => one.closed(), 20000, 'the slow head to be cut off', 100);
    const took = Date.now() - t0;
    assert.ok(took >= 9000, `not before its deadline (${took} ms)`);
  });
});
