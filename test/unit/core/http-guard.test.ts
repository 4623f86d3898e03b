// The pure request checks behind the alert API, /moby/metrics and npm start's editor guard, and the
// per-MOBY_HOME secrets of npm start.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  adminVerdict,
  allowedHostNames,
  carriesBody,
  authorize,
  classifyOrigin,
  FailureLimiter,
  corsHeaders,
  hashToken,
  hostName,
  hostVerdict,
  isJsonContentType,
  originOf,
  parseOriginList,
  redactUrl,
  requestOrigin,
  tokenMatches,
} from '../../../nodes/core/http-guard';
import { prepareSecrets } from '../../../nodes/lib/local-secrets';
import { parseKey } from '../../../nodes/core/hmac/scheme';

describe('http guard', () => {
  it('derives request origins from Origin, else Referer; "null" and junk count as foreign', () => {
    assert.equal(originOf('HTTP://Grafana.Local:3000/d/abc?x=1'), 'http://grafana.local:3000');
    assert.equal(originOf('https://g.example:443/'), 'https://g.example');
    assert.equal(originOf('file:///etc/passwd'), null);
    assert.equal(requestOrigin({}), undefined);
    assert.equal(requestOrigin({ referer: 'http://evil.example/a/b' }), 'http://evil.example');
    assert.equal(requestOrigin({ origin: 'null' }), 'null');
    assert.equal(requestOrigin({ origin: 'not a url' }), 'null');
    const own = { host: '127.0.0.1:1880' };
    assert.equal(classifyOrigin(own, []), 'none', 'curl, Prometheus: no browser page involved');
    assert.equal(classifyOrigin({ ...own, origin: 'http://127.0.0.1:1880' }, []), 'same');
    assert.equal(
      classifyOrigin({ ...own, origin: 'http://localhost:1880' }, []),
      'foreign',
      'another name is another origin'
    );
    assert.equal(classifyOrigin({ ...own, origin: 'http://grafana:3000' }, ['http://grafana:3000']), 'allowed');
    assert.equal(
      classifyOrigin({ ...own, origin: 'http://grafana:3000' }, ['*']),
      'foreign',
      'a wildcard never allows a state change'
    );
    assert.equal(classifyOrigin({ ...own, origin: 'null' }, ['null']), 'foreign');
    assert.deepEqual(parseOriginList(' http://a:1/ , *, junk, http://a:1'), ['http://a:1', '*']);
  });

  it('a browser request without Origin and Referer is foreign when its Fetch Metadata says it crosses sites (before: none, so a no-referrer frame loaded the editor)', () => {
    const own = { host: '127.0.0.1:1880' };
    for (const site of ['cross-site', 'same-site'])
      assert.equal(classifyOrigin({ ...own, 'sec-fetch-site': site }, []), 'foreign', site);
    // typed URL or bookmark, the editor's own requests, and clients that send no Fetch Metadata
    for (const site of ['none', 'same-origin', undefined])
      assert.equal(classifyOrigin({ ...own, 'sec-fetch-site': site }, []), 'none', String(site));
    // Origin or Referer, when present, still decides
    assert.equal(
      classifyOrigin({ ...own, origin: 'http://127.0.0.1:1880', 'sec-fetch-site': 'same-origin' }, []),
      'same'
    );
    assert.equal(
      classifyOrigin({ ...own, origin: 'http://grafana:3000', 'sec-fetch-site': 'cross-site' }, [
        'http://grafana:3000',
      ]),
      'allowed'
    );
    assert.equal(adminVerdict({ ...own, 'sec-fetch-site': 'cross-site' }).ok, false);
  });

  it('tells a request that announces a body (chunked or Content-Length above 0)', () => {
    assert.equal(carriesBody({}), false);
    assert.equal(carriesBody({ 'content-length': '0' }), false);
    assert.equal(carriesBody({ 'content-length': '12' }), true);
    assert.equal(carriesBody({ 'transfer-encoding': 'chunked' }), true);
    assert.equal(carriesBody({ 'content-length': 'junk' }), false);
  });

  it('gives CORS headers only to listed origins, echoed, and POST only to exact entries', () => {
    assert.deepEqual(corsHeaders('http://evil.example', ['http://grafana:3000']), {});
    assert.deepEqual(corsHeaders(undefined, ['*']), {});
    assert.deepEqual(corsHeaders('null', ['*']), {});
    const exact = corsHeaders('http://grafana:3000', ['http://grafana:3000']);
    assert.equal(exact['Access-Control-Allow-Origin'], 'http://grafana:3000');
    assert.match(exact['Access-Control-Allow-Methods'], /POST/);
    const star = corsHeaders('http://x.example', ['*']);
    assert.equal(star['Access-Control-Allow-Origin'], 'http://x.example');
    assert.doesNotMatch(star['Access-Control-Allow-Methods'], /POST/);
  });

  it('accepts only application/json bodies (the types an HTML form can send are refused)', () => {
    assert.equal(isJsonContentType('application/json'), true);
    assert.equal(isJsonContentType('Application/JSON; charset=utf-8'), true);
    for (const t of [
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain',
      'application/jsonp',
      undefined,
      '',
    ])
      assert.equal(isJsonContentType(t), false, String(t));
  });

  it('compares tokens against the token or its sha256 form', () => {
    const h = hashToken('s3cret-token-value');
    assert.match(h, /^sha256:[0-9a-f]{64}$/);
    assert.equal(tokenMatches('s3cret-token-value', h), true);
    assert.equal(tokenMatches('s3cret-token-valuE', h), false);
    assert.equal(tokenMatches(h, h), false, 'the hash itself is not the token');
    assert.equal(tokenMatches('x', 'x'), true);
  });

  it('guards the editor: foreign origins 403, unknown host names 421 (DNS rebinding), same-origin and curl pass', () => {
    const hosts = ['localhost', '127.0.0.1', '::1'];
    assert.deepEqual(adminVerdict({ host: '127.0.0.1:1880' }, { allowedHosts: hosts }), { ok: true });
    assert.deepEqual(adminVerdict({ host: '[::1]:1880', origin: 'http://[::1]:1880' }, { allowedHosts: hosts }), {
      ok: true,
    });
    assert.equal(
      (
        adminVerdict(
          { host: 'rebind.evil.example:1880', origin: 'http://rebind.evil.example:1880' },
          { allowedHosts: hosts }
        ) as { status: number }
      ).status,
      421
    );
    assert.equal(
      (
        adminVerdict({ host: '127.0.0.1:1880', origin: 'http://evil.example' }, { allowedHosts: hosts }) as {
          status: number;
        }
      ).status,
      403
    );
    assert.equal(
      (adminVerdict({ host: '127.0.0.1:1880', referer: 'http://evil.example/x' }) as { status: number }).status,
      403
    );
    assert.deepEqual(
      adminVerdict({ host: 'plant-pc:1880', origin: 'http://plant-pc:1880' }),
      { ok: true },
      'no host list: not checked'
    );
    assert.equal(hostName('LocalHost:1880'), 'localhost');
    assert.equal(hostName(undefined), undefined);
  });

  it('counts only presented tokens as failures: tokenless requests (any cross-site <img>) cannot lock the token holder out', () => {
    const limiter = new FailureLimiter({ max: 3, windowMs: 60000, now: () => 0 });
    const tokens = [hashToken('right')];
    const o = { client: '127.0.0.1', limiter };
    for (let i = 0; i < 50; i++) {
      const r = authorize({ referer: 'http://evil.example/' }, tokens, o);
      assert.equal(r.ok ? 200 : r.status, 401, `tokenless request ${i}`);
    }
    for (let i = 0; i < 10; i++)
      assert.equal((authorize({ authorization: 'Basic Zm9vOmJhcg==' }, tokens, o) as { status: number }).status, 401);
    assert.equal(authorize({ authorization: 'Bearer right' }, tokens, o).ok, true, 'the token holder still gets in');
    assert.equal(limiter.size(), 0, 'nothing was counted');
    // wrong tokens are guesses and still lock the address out (429 even for a right one not used from it before)
    for (let i = 0; i < 3; i++) authorize({ authorization: `Bearer guess-${i}` }, [...tokens, 'never-used'], o);
    const blocked = authorize({ authorization: 'Bearer never-used' }, [...tokens, 'never-used'], o);
    assert.equal(blocked.ok ? 200 : blocked.status, 429);
  });

  it('a locked address still lets in a token proven from it; guesses stay limited (shared Grafana, red-team 2026-12-05)', () => {
    let now = 0;
    const limiter = new FailureLimiter({ max: 3, windowMs: 60000, provenMs: 3600_000, now: () => now });
    const tokens = [hashToken('grafana-admin-token'), 'beta-tenant-token-0001'];
    const grafana = { client: '10.0.0.5', limiter };
    // Grafana's data source proxy has used both tokens from its address
    assert.equal(authorize({ authorization: 'Bearer grafana-admin-token' }, tokens, grafana).ok, true);
    assert.equal(authorize({ authorization: 'Bearer beta-tenant-token-0001' }, tokens, grafana).ok, true);
    // another user of the same address sends a mistyped token again and again: the address is locked
    for (let i = 0; i < 25; i++) authorize({ authorization: 'Bearer grafana-admin-tokem' }, tokens, grafana);
    const status = (r: ReturnType<typeof authorize>) => (r.ok ? 200 : r.status);
    assert.equal(status(authorize({ authorization: 'Bearer grafana-admin-tokem' }, tokens, grafana)), 429);
    // … but not for the tokens that worked there before
    assert.equal(status(authorize({ authorization: 'Bearer grafana-admin-token' }, tokens, grafana)), 200);
    assert.equal(status(authorize({ authorization: 'Bearer beta-tenant-token-0001' }, tokens, grafana)), 200);
    // a token proven elsewhere is not proven here; a token revoked since is refused; a proof expires
    const other = { client: '10.0.0.6', limiter };
    assert.equal(status(authorize({ authorization: 'Bearer grafana-admin-token' }, tokens, other)), 200);
    for (let i = 0; i < 3; i++) authorize({ authorization: `Bearer wrong-${i}` }, tokens, other);
    assert.equal(status(authorize({ authorization: 'Bearer beta-tenant-token-0001' }, tokens, other)), 429);
    assert.equal(status(authorize({ authorization: 'Bearer beta-tenant-token-0001' }, [tokens[0]], grafana)), 429);
    now = 3600_000 + 1;
    for (let i = 0; i < 3; i++) authorize({ authorization: `Bearer wrong-${i}` }, tokens, grafana);
    assert.equal(status(authorize({ authorization: 'Bearer grafana-admin-token' }, tokens, grafana)), 429);
  });

  it('a locked address is no oracle for the API token: only the first max distinct tokens tried during the lock are looked up (red-team round 2026-12-07: 5,000 guesses in 2.7 s, the right one 200)', () => {
    const limiter = new FailureLimiter({ max: 3, windowMs: 60000, now: () => 0 });
    const tokens = [hashToken('prometheus-scrape-token')];
    const o = { client: '127.0.0.1', limiter };
    const status = (r: ReturnType<typeof authorize>) => (r.ok ? 200 : r.status);
    assert.equal(status(authorize({ authorization: 'Bearer prometheus-scrape-token' }, tokens, o)), 200);
    for (let i = 0; i < 3; i++) authorize({ authorization: `Bearer wrong-${i}` }, tokens, o);
    // Prometheus scraping through the lock with its one token: one of the 3, however often
    for (let i = 0; i < 10; i++)
      assert.equal(status(authorize({ authorization: 'Bearer prometheus-scrape-token' }, tokens, o)), 200);
    const guesses = Array.from({ length: 1000 }, (_, i) =>
      status(authorize({ authorization: `Bearer guess-${i}` }, tokens, o))
    );
    assert.ok(guesses.every((s) => s === 429));
    assert.equal(status(authorize({ authorization: 'Bearer prometheus-scrape-token' }, tokens, o)), 200);
    // a token first tried after two guesses filled the budget is not looked up, right or wrong
    const fresh = new FailureLimiter({ max: 3, windowMs: 60000, now: () => 0 });
    const p = { client: '127.0.0.1', limiter: fresh };
    assert.equal(status(authorize({ authorization: 'Bearer prometheus-scrape-token' }, tokens, p)), 200);
    for (let i = 0; i < 6; i++) authorize({ authorization: `Bearer wrong-${i}` }, tokens, p);
    assert.equal(status(authorize({ authorization: 'Bearer prometheus-scrape-token' }, tokens, p)), 429);
  });

  it('tells onLock once when a client is locked, with the seconds the lock lasts', () => {
    let now = 0;
    const locks: Array<[string, number]> = [];
    const limiter = new FailureLimiter({
      max: 3,
      windowMs: 60000,
      now: () => now,
      onLock: (c, s) => locks.push([c, s]),
    });
    const o = { client: '10.0.0.9', limiter };
    for (let i = 0; i < 10; i++) {
      now = i * 1000;
      authorize({ authorization: `Bearer wrong-${i}` }, ['right-token-0000001'], o);
    }
    assert.deepEqual(locks, [['10.0.0.9', 58]], 'locked at the third failure, 2 s into the window');
    now = 61_000;
    for (let i = 0; i < 3; i++) authorize({ authorization: `Bearer again-${i}` }, ['right-token-0000001'], o);
    assert.deepEqual(locks[1], ['10.0.0.9', 60], 'a new window, a new lock');
  });

  it('a token valid elsewhere (a tenant token on /moby/metrics) is 403 and not counted as a guess', () => {
    const limiter = new FailureLimiter({ max: 3, windowMs: 60000, now: () => 0 });
    const o = { client: '10.0.0.5', limiter, otherTokens: ['acme-tenant-token-001'] };
    for (let i = 0; i < 30; i++) {
      const r = authorize({ authorization: 'Bearer acme-tenant-token-001' }, ['admin-token-0000001'], o);
      assert.equal(r.ok ? 200 : r.status, 403);
    }
    assert.equal(limiter.size(), 0);
    const fresh = authorize({ authorization: 'Bearer admin-token-0000001' }, ['admin-token-0000001'], o);
    assert.equal(fresh.ok, true, 'the address was never locked');
  });

  it('checks the Host name alone for the API (DNS rebinding): 421 outside the list, no check with an empty list', () => {
    const hosts = ['localhost', '127.0.0.1', '::1'];
    assert.deepEqual(hostVerdict({ host: '127.0.0.1:1880' }, hosts), { ok: true });
    assert.deepEqual(hostVerdict({ host: '[::1]:1880' }, hosts), { ok: true });
    for (const host of ['rebind.example:1880', 'localhost.evil.example', '127.0.0.1.nip.io', undefined]) {
      const v = hostVerdict(host === undefined ? {} : { host }, hosts);
      assert.equal(v.ok ? 200 : v.status, 421, String(host));
    }
    assert.deepEqual(hostVerdict({ host: 'anything.example' }, []), { ok: true });
    // a foreign Origin is not the host check's business (the API's CORS rules decide)
    assert.deepEqual(hostVerdict({ host: 'localhost:1880', origin: 'http://grafana.example' }, hosts), { ok: true });
  });

  it("bound off loopback, the host check keeps the machine's own names instead of switching off (red-team round 2026-12-07: MOBY_HOST=0.0.0.0 let a rebound page use the login)", () => {
    const machine = { hostname: 'Line2-GW.plant.example', addresses: ['127.0.0.1', '10.1.2.3', '::1', 'fe80::1%eth0'] };
    const any = allowedHostNames('0.0.0.0', [''], machine);
    for (const host of ['10.1.2.3:1880', 'line2-gw:1880', 'line2-gw.plant.example', '[fe80::1]:1880', 'localhost'])
      assert.deepEqual(hostVerdict({ host }, any), { ok: true }, host);
    for (const host of ['rebind.attacker.example:1880', '10.1.2.4', undefined]) {
      const v = hostVerdict(host === undefined ? {} : { host }, any);
      assert.equal(v.ok ? 200 : v.status, 421, String(host));
    }
    // a DNS name of the machine is the deployer's to list; a specific bind address counts too
    const named = allowedHostNames('192.168.7.9', ['MOBY.plant.example '], { hostname: 'gw', addresses: [] });
    assert.deepEqual(hostVerdict({ host: 'moby.plant.example:1880' }, named), { ok: true });
    assert.deepEqual(hostVerdict({ host: '192.168.7.9:1880' }, named), { ok: true });
    // on loopback: the loopback names and the listed ones only, as before
    assert.deepEqual(allowedHostNames('127.0.0.1', ['grafana-host'], machine).sort(), [
      '127.0.0.1',
      '::1',
      'grafana-host',
      'localhost',
    ]);
  });

  it('redacts passwords and secret query parameters from URLs before they are logged', () => {
    assert.equal(redactUrl('mqtts://moby:p%40ss:word@broker:8883'), 'mqtts://moby:***@broker:8883');
    assert.equal(
      redactUrl('http://user:secret@influx:8086/api?org=x&token=abc&x=1'),
      'http://user:***@influx:8086/api?org=x&token=***&x=1'
    );
    assert.equal(redactUrl('mqtt://127.0.0.1:1883'), 'mqtt://127.0.0.1:1883');
    assert.equal(redactUrl('using ws://a:b@h/x and http://c:d@i'), 'using ws://a:***@h/x and http://c:***@i');
  });
});

describe('npm start secrets (per MOBY_HOME)', () => {
  const hash = (pw: string) =>
    `$2b$10$${Buffer.from(pw)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '')
      .padEnd(53, 'x')
      .slice(0, 53)}`;

  it('generates password, token and credential secret once (0600, only hashes of the first two), then reuses them', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-secrets-'));
    try {
      const first = prepareSecrets(home, {}, hash);
      assert.equal(first.adminSource, 'generated');
      assert.ok(first.adminPassword && first.adminPassword.length >= 24);
      assert.ok(first.apiTokenPlain && first.apiTokenPlain.length >= 43);
      assert.equal(first.apiToken, hashToken(first.apiTokenPlain));
      for (const f of Object.values(first.files)) {
        if (process.platform !== 'win32') assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
        const text = fs.readFileSync(f, 'utf8');
        assert.ok(
          !text.includes(first.adminPassword!) && !text.includes(first.apiTokenPlain!),
          `${f} holds no plain password or token`
        );
      }
      if (process.platform !== 'win32') assert.equal(fs.statSync(first.dir).mode & 0o777, 0o700);
      fs.chmodSync(first.files.credential, 0o644);
      if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(home, 'userdir')).mode & 0o777, 0o700);
      const second = prepareSecrets(home, {}, hash);
      assert.equal(second.adminSource, 'file');
      assert.equal(second.adminPassword, undefined, 'never shown again');
      assert.equal(second.apiTokenPlain, undefined);
      assert.equal(second.apiToken, first.apiToken);
      assert.equal(second.credentialSecret, first.credentialSecret);
      assert.deepEqual(second.fixedModes, [first.files.credential], 'a too open file is narrowed and reported');
      const other = prepareSecrets(fs.mkdtempSync(path.join(os.tmpdir(), 'moby-secrets-')), {}, hash);
      assert.notEqual(other.credentialSecret, first.credentialSecret, 'per MOBY_HOME, no shared default');
      // the devices' master key: generated per MOBY_HOME (it was a development key in the public repository,
      // so any broker client could sign as any simulated device), kept, and a usable HMAC key
      assert.equal(first.masterKeySource, 'generated');
      assert.match(first.masterKey, /^hex:[0-9a-f]{64}$/);
      assert.equal(parseKey(first.masterKey).length, 32);
      assert.equal(fs.readFileSync(first.files.master, 'utf8').trim(), first.masterKey);
      assert.equal(second.masterKeySource, 'file');
      assert.equal(second.masterKey, first.masterKey);
      assert.notEqual(other.masterKey, first.masterKey, 'per MOBY_HOME, no shared default');
      assert.deepEqual(
        [prepareSecrets(home, { MOBY_MASTER_KEY: 'hex:' + 'ab'.repeat(32) }, hash).masterKey],
        ['hex:' + 'ab'.repeat(32)],
        'the environment first'
      );
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("narrows Node-RED's user directory in an existing MOBY_HOME open to others: it holds the editor's live login tokens, written 0644 by Node-RED (red-team 2026-12-06: a 0755 MOBY_HOME left them readable)", function () {
    if (process.platform === 'win32') this.skip();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-secrets-'));
    try {
      fs.chmodSync(home, 0o755);
      fs.mkdirSync(path.join(home, 'userdir'), { mode: 0o755 });
      fs.chmodSync(path.join(home, 'userdir'), 0o755);
      fs.writeFileSync(path.join(home, 'userdir', '.sessions.json'), '{}', { mode: 0o644 });
      const s = prepareSecrets(home, {}, hash);
      assert.equal(fs.statSync(path.join(home, 'userdir')).mode & 0o777, 0o700);
      assert.deepEqual(s.fixedModes, [path.join(home, 'userdir')], 'reported (npm start logs it)');
      assert.deepEqual(prepareSecrets(home, {}, hash).fixedModes, [], 'once');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('takes the environment first and refuses weak or malformed values', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-secrets-'));
    try {
      const s = prepareSecrets(
        home,
        {
          MOBY_ADMIN_PASSWORD: 'correct horse battery',
          MOBY_API_TOKEN: 'a-token-of-sixteen+',
          MOBY_CREDENTIAL_SECRET: 'cred',
        },
        hash
      );
      assert.equal(s.adminHash, hash('correct horse battery'));
      assert.equal(s.apiToken, 'a-token-of-sixteen+');
      assert.equal(s.credentialSecret, 'cred');
      assert.equal(fs.existsSync(s.files.admin), false, 'nothing generated');
      assert.throws(() => prepareSecrets(home, { MOBY_ADMIN_PASSWORD: 'short' }, hash), /at least 12/);
      assert.throws(() => prepareSecrets(home, { MOBY_ADMIN_PASSWORD_HASH: 'plain-text' }, hash), /bcrypt/);
      assert.throws(() => prepareSecrets(home, { MOBY_API_TOKEN: 'abc' }, hash), /at least 16/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
