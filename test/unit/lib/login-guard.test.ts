import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loginGuard, parseLoginBody } from '../../../nodes/lib/login-guard';

type Reply = { status: number; body: Record<string, unknown>; headers: http.IncomingHttpHeaders };

describe('login guard (npm start, in front of Node-RED /auth/token)', () => {
  let server: http.Server;
  let port = 0;
  let passed: Array<Record<string, string>> = [];
  let compared = 0;
  let clock = 1_000_000;
  const logged: string[] = [];

  before(async () => {
    const guard = loginGuard({
      authenticate: async (u, p) => {
        compared++;
        return u === 'admin' && p === 'right-password';
      },
      now: () => clock,
      log: (line) => logged.push(line),
    });
    server = http.createServer((req, res) => {
      // what Node-RED would get: only requests the guard passes on, with the body it read
      guard(req as never, res as never, (err?: unknown) => {
        if (err) {
          res.statusCode = 500;
          return res.end();
        }
        passed.push((req as unknown as { body: Record<string, string> }).body);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ access_token: 'from-node-red' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    passed = [];
    compared = 0;
    clock += 3_600_000; // every test starts after the previous one's window
  });

  function post(body: string | Buffer, o: { type?: string; from?: string; chunked?: boolean } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': o.type ?? 'application/x-www-form-urlencoded' };
      if (!o.chunked) headers['content-length'] = Buffer.byteLength(body);
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/auth/token', headers, localAddress: o.from ?? '127.0.0.1' },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {}, headers: res.headers })
          );
        }
      );
      req.on('error', reject);
      if (o.chunked) {
        // sent in pieces without a length: the guard must stop reading past its bound on its own
        const b = Buffer.from(body);
        for (let i = 0; i < b.length; i += 65536) req.write(b.subarray(i, i + 65536));
        req.end();
      } else req.end(body);
    });
  }
  const form = (username: string, password: string) =>
    new URLSearchParams({
      client_id: 'node-red-editor',
      grant_type: 'password',
      scope: '*',
      username,
      password,
    }).toString();

  it('passes the right login on to Node-RED with the body it read (form and JSON alike)', async () => {
    assert.equal((await post(form('admin', 'right-password'))).status, 200);
    const json = JSON.stringify({
      client_id: 'node-red-admin',
      grant_type: 'password',
      scope: '*',
      username: 'admin',
      password: 'right-password',
    });
    assert.equal((await post(json, { type: 'application/json' })).status, 200);
    assert.equal(passed.length, 2);
    assert.equal(passed[0].username, 'admin');
    assert.equal(passed[1].client_id, 'node-red-admin');
  });

  it('answers wrong credentials itself, as Node-RED would: Node-RED never sees them (its per-user lock and its list of attempts)', async () => {
    const r = await post(form('admin', 'wrong'));
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal(passed.length, 0);
  });

  it('refuses a login body over 4 KiB before reading it, declared or chunked (before: 4 MB user names kept by Node-RED for 10 minutes)', async () => {
    const huge = form('x'.repeat(4_000_000), 'wrong');
    const declared = await post(huge);
    assert.equal(declared.status, 413);
    assert.equal(declared.headers.connection, 'close');
    const chunked = await post(huge, { chunked: true });
    assert.equal(chunked.status, 413);
    assert.equal(compared, 0, 'no password was compared');
    assert.equal(passed.length, 0);
    // just under the bound still works
    assert.equal((await post(form('admin', 'right-password') + '&pad=' + 'p'.repeat(3900))).status, 200);
  });

  it('after 5 failures an address waits (429, no comparison) while the right login from another address works, and a pair that logged in from the locked address before keeps working there', async () => {
    assert.equal((await post(form('admin', 'right-password'), { from: '127.0.0.3' })).status, 200);
    for (let i = 0; i < 5; i++)
      assert.equal((await post(form('admin', `guess-${i}`), { from: '127.0.0.3' })).status, 403);
    const before = compared;
    const locked = await post(form('admin', 'guess-5'), { from: '127.0.0.3' });
    assert.equal(locked.status, 429);
    // the lock is in the log, once (verification round 2026-12-07: no line for a guessing attack)
    assert.deepEqual(
      logged.filter((l) => l.includes('127.0.0.3')),
      [
        'editor login: 127.0.0.3 sent 5 wrong logins and is refused (429) for 600 s; a login that worked from that address before still does (among the first 5 tried during the lock)',
      ]
    );
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assert.equal(compared, before, 'a locked address gets no comparison');
    // the operator elsewhere is not locked out (Node-RED's own lock is per user name, from anywhere)
    assert.equal((await post(form('admin', 'right-password'), { from: '127.0.0.2' })).status, 200);
    // the pair proven from 127.0.0.3 before the guessing still logs in there
    assert.equal((await post(form('admin', 'right-password'), { from: '127.0.0.3' })).status, 200);
    // once the window has passed, the address may try again
    clock += 600_001;
    assert.equal((await post(form('admin', 'guess-6'), { from: '127.0.0.3' })).status, 403);
  });

  it('a locked address is no oracle: the pair proven there passes only among the first 5 distinct pairs tried during the lock (before: 3,000 guesses in 2 s, each answered 429, the right one 200)', async () => {
    const from = '127.0.0.4';
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await post(form('admin', `guess-${i}`), { from })).status, 403);
    // the operator's own pair, tried again and again, spends one of the lock's 5
    for (let i = 0; i < 3; i++) assert.equal((await post(form('admin', 'right-password'), { from })).status, 200);
    const answers: number[] = [];
    for (let i = 0; i < 40; i++) answers.push((await post(form('admin', `locked-guess-${i}`), { from })).status);
    assert.deepEqual(new Set(answers), new Set([429]), 'every guess while locked is 429');
    // four distinct guesses filled the lock's budget: now even the right pair is not looked up
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 200, 'already among the 5');
    assert.equal((await post(form('admin', 'right-password2'), { from })).status, 429);
    const lateRight = await post(form('other', 'right-password'), { from });
    assert.equal(lateRight.status, 429);
    // the window ends: a fresh budget
    clock += 600_001;
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 200);
  });

  it('a locked address that guesses first gets no answer for the proven pair until the window ends', async () => {
    const from = '127.0.0.5';
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await post(form('admin', `guess-${i}`), { from })).status, 403);
    for (let i = 0; i < 5; i++) assert.equal((await post(form('admin', `locked-${i}`), { from })).status, 429);
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 429, 'the budget is spent');
    assert.equal((await post(form('admin', 'right-password'), { from: '127.0.0.6' })).status, 200, 'elsewhere: fine');
    clock += 600_001;
    assert.equal((await post(form('admin', 'right-password'), { from })).status, 200);
  });

  it('refuses bodies it cannot read as Node-RED would read them', async () => {
    assert.equal((await post('{"username":', { type: 'application/json' })).status, 400);
    assert.equal((await post('[]', { type: 'application/json' })).status, 400);
    assert.equal((await post('username=admin', { type: 'text/plain' })).status, 415);
    assert.equal(
      (await post(form('admin', 'right-password'), { type: 'application/x-www-form-urlencoded; charset=utf-16' }))
        .status,
      415
    );
    assert.equal(passed.length, 0);
    // not a password grant: Node-RED answers it (no credentials to check here)
    assert.equal((await post('grant_type=refresh_token')).status, 200);
  });

  it('parseLoginBody takes the first of repeated form fields and only string JSON fields', () => {
    const f = parseLoginBody('application/x-www-form-urlencoded', Buffer.from('username=a&username=b&password=p'));
    assert.deepEqual(f, { ok: true, fields: { username: 'a', password: 'p' } });
    const j = parseLoginBody('application/json; charset=utf-8', Buffer.from('{"username":"a","password":{"x":1}}'));
    assert.deepEqual(j, { ok: true, fields: { username: 'a' } });
  });
});
