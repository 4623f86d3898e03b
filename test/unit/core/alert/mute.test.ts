// Mute windows under load (security round of 2026-12-05): each tenant (and the tenant-less scope) has its own
// budget, so one tenant filling its own cannot refuse another's mute; GET /devices pages the muted devices no
// health node reports like every other row (the limit holds on every page, each row exactly once); a mute
// change is journalled as that window alone, not the whole table, and a restart (clean or kill -9) restores
// every window as before.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import { deviceRowKey, handleAlertApi, type ApiHost, type ApiRequest } from '../../../../nodes/core/alert/api';
import { MAX_MUTES_PER_TENANT, MAX_MUTES_TENANTLESS, MuteTable, type Mute } from '../../../../nodes/core/alert/mute';
import { AlertStateJournal } from '../../../../nodes/core/alert/state-journal';

const NOW = Date.UTC(2026, 11, 5);
const ADMIN = 'admin-token-0123456789';
const ACME = 'acme-token-0123456789';
const BETA = 'beta-token-0123456789';

function host(mutes: MuteTable): ApiHost {
  const engine = new AlertEngine();
  return {
    list: (f) => engine.list(f),
    get: (id) => engine.get(id),
    acknowledge: (id, by) => engine.acknowledge(id, by),
    resolve: (id, by) => engine.resolve(id, by),
    mutes,
    token: ADMIN,
    tenantTokens: [
      { tenant: 'acme', token: ACME },
      { tenant: 'beta', token: BETA },
    ],
  };
}

function call(
  hosts: ApiHost[],
  token: string,
  method: string,
  p: string,
  opts: { body?: string; query?: Record<string, string>; devices?: () => Array<Record<string, unknown>> } = {}
) {
  const req: ApiRequest = {
    method,
    path: p,
    query: opts.query ?? {},
    headers: {
      authorization: `Bearer ${token}`,
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body,
  };
  const devices = opts.devices ?? (() => []);
  return handleAlertApi(hosts, req, { devices: devices as never, now: () => NOW })!;
}

const mute = (hosts: ApiHost[], token: string, id: string, query?: Record<string, string>) =>
  call(hosts, token, 'POST', `/devices/${id}/mute`, { body: '{"minutes": 60, "note": "work"}', query });

describe('mute windows: a budget per tenant', () => {
  it("a tenant that fills its budget gets 409 too_many_mutes naming the bound; another tenant's mute still succeeds", () => {
    const t = new MuteTable(() => NOW);
    const hosts = [host(t)];
    // acme mutes made-up device ids until it is refused (before budgets: at the table's cap of 100,000, for
    // every tenant at once)
    let muted = 0;
    let full = mute(hosts, ACME, 'ghost-0');
    while (full.status === 200 && muted < 200_000) full = mute(hosts, ACME, `ghost-${++muted}`);
    // beta is not affected (before: 409 too_many_mutes, the table was full of acme's ghosts)
    assert.equal(mute(hosts, BETA, 'pump-001').status, 200, "beta's mute");
    assert.equal(muted, MAX_MUTES_PER_TENANT, 'refused at its own budget');
    assert.equal(full.status, 409);
    const err = (full.body as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'too_many_mutes');
    assert.match(err.message, new RegExp(`tenant acme .*${MAX_MUTES_PER_TENANT}.* per tenant`));
    assert.equal(t.isMuted(`ghost-${muted}`, 'acme'), false, 'a refusal changes nothing');
    // nor the tenant-less scope (admin), nor the admin naming beta
    assert.equal(mute(hosts, ADMIN, 'pump-001').status, 200, 'a tenant-less mute');
    assert.equal(mute(hosts, ADMIN, 'pump-002', { tenant: 'beta' }).status, 200, "the admin muting beta's device");
    // the admin naming acme uses acme's budget
    assert.equal(mute(hosts, ADMIN, 'pump-009', { tenant: 'acme' }).status, 409);
    // replacing one of acme's windows is no new window; an unmute makes room
    assert.equal(mute(hosts, ACME, 'ghost-7').status, 200, 'a window can always be replaced');
    assert.equal(call(hosts, ACME, 'POST', '/devices/ghost-7/unmute').status, 200);
    assert.equal(mute(hosts, ACME, `ghost-${muted}`).status, 200, 'room after an unmute');
    assert.equal(t.count(), MAX_MUTES_PER_TENANT + 3);
  });

  it('a request naming one tenant in ?tenant= and another in the body is refused, nothing muted (tenant red team 2026-12-07: the query silently won)', () => {
    const t = new MuteTable(() => NOW);
    const hosts = [host(t)];
    const both = (query: string, body: string) =>
      call(hosts, ADMIN, 'POST', '/devices/pump-001/mute', { body, query: { tenant: query } });
    const r = both('acme', '{"minutes": 60, "tenant": "beta"}');
    assert.equal(r.status, 400);
    assert.match(
      (r.body as { error: { message: string } }).error.message,
      /\?tenant=acme and the body.s tenant differ/
    );
    assert.equal(t.get('pump-001', 'acme'), undefined);
    assert.equal(t.get('pump-001', 'beta'), undefined);
    // the same tenant twice, or only one of them, is fine
    assert.equal(both('acme', '{"minutes": 60, "tenant": "acme"}').status, 200);
    assert.equal(both('', '{"minutes": 60, "tenant": "beta"}').status, 200, 'an empty ?tenant= names none');
    assert.ok(t.get('pump-001', 'acme') && t.get('pump-001', 'beta'));
  });

  it('windows that ended make room; the tenant-less scope keeps the whole old bound; the number of tenants is bounded', () => {
    let now = NOW;
    const t = new MuteTable(() => now, { perTenant: 3, tenantless: 5, tenants: 2 });
    for (let i = 0; i < 3; i++)
      assert.ok(t.set({ device_id: `d${i}`, tenant: 'acme', until: now + 1000 + i, by: 'a', at: now }));
    assert.match(t.refusal('d9', 'acme') ?? '', /tenant acme already has 3 devices muted/);
    assert.equal(t.set({ device_id: 'd9', tenant: 'acme', until: now + 5000, by: 'a', at: now }), false);
    now += 1000; // d0's window ended
    assert.equal(t.set({ device_id: 'd9', tenant: 'acme', until: now + 5000, by: 'a', at: now }), true);
    for (let i = 0; i < 5; i++) assert.ok(t.set({ device_id: `n${i}`, until: now + 9000, by: 'a', at: now }));
    assert.match(t.refusal('n9') ?? '', /5 tenant-less devices are already muted/);
    assert.ok(t.set({ device_id: 'p', tenant: 'beta', until: now + 9000, by: 'a', at: now }));
    assert.match(t.refusal('p', 'gamma') ?? '', /2 tenants already hold mute windows/);
    assert.equal(MAX_MUTES_TENANTLESS, 100_000, 'tenant-less pipelines keep the bound of before');
  });

  it('a restore keeps each scope within its budget and says how many it left out', () => {
    const t = new MuteTable(() => NOW, { perTenant: 2 });
    const snap: Mute[] = ['a', 'b', 'c'].map((d) => ({
      device_id: d,
      tenant: 'acme',
      until: NOW + 1000,
      by: 'x',
      at: NOW,
    }));
    snap.push({ device_id: 'a', tenant: 'beta', until: NOW + 1000, by: 'x', at: NOW });
    assert.equal(t.restore(snap), 3);
    assert.equal(t.restoreDropped, 1);
    assert.equal(t.isMuted('a', 'beta'), true);
  });
});

describe('GET /devices pages muted devices no health node reports like every other row', () => {
  /** every page of GET /devices for a token, following X-Next-Cursor */
  function allPages(hosts: ApiHost[], token: string, limit: number, devices: () => Array<Record<string, unknown>>) {
    const pages: Array<Array<Record<string, unknown>>> = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 10000; guard++) {
      const query: Record<string, string> = { limit: String(limit) };
      if (cursor !== undefined) query.cursor = cursor;
      const r = call(hosts, token, 'GET', '/devices', { query, devices });
      assert.equal(r.status, 200);
      pages.push(r.body as Array<Record<string, unknown>>);
      cursor = r.headers['X-Next-Cursor'];
      if (cursor === undefined) return pages;
    }
    throw new Error('no last page');
  }

  it('every page holds at most limit rows; seen and unseen devices come exactly once, in row order', () => {
    const a = new MuteTable(() => NOW);
    const b = new MuteTable(() => NOW);
    const hosts = [host(a), host(b)]; // two alert nodes sharing the prefix: a window set through the API is on both
    // the health table: 60 devices, every third of tenant acme, every third of beta, the rest tenant-less
    const table: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 60; i++) {
      const row: Record<string, unknown> = { device_id: `dev-${String(i).padStart(3, '0')}`, state: 'ONLINE' };
      if (i % 3 === 1) row.tenant = 'acme';
      if (i % 3 === 2) row.tenant = 'beta';
      table.push(row);
    }
    // the same id in two tenants: two rows, right after each other
    table.push({ device_id: 'dev-059', tenant: 'acme', state: 'ONLINE' });
    table.sort((x, y) => (deviceRowKey(x as never) < deviceRowKey(y as never) ? -1 : 1));
    const devices = () => table;
    // 500 muted devices no health node reports (of acme, beta and none), interleaved by id with the seen ones,
    // and a few seen devices muted
    for (let i = 0; i < 500; i++) {
      const id = i % 2 ? `dev-${String(i % 60).padStart(3, '0')}x${i}` : `ghost-${i}`;
      if (i % 3 === 0) assert.equal(mute(hosts, ACME, id).status, 200);
      else if (i % 3 === 1) assert.equal(mute(hosts, BETA, id).status, 200);
      else assert.equal(mute(hosts, ADMIN, id).status, 200);
    }
    for (const id of ['dev-001', 'dev-004', 'dev-059']) assert.equal(mute(hosts, ACME, id).status, 200);
    // a window only one host holds (a node deployed after it was set) is listed too
    b.set({ device_id: 'only-b', tenant: 'acme', until: NOW + 60000, by: 'x', at: NOW });

    const key = (r: Record<string, unknown>) => deviceRowKey(r as { device_id: string; tenant?: unknown });
    for (const [token, expected] of [
      [ADMIN, 61 + 500 + 1],
      [ACME, 21 + 167 + 1],
      [BETA, 20 + 167],
    ] as const) {
      for (const limit of [1, 7, 50, 1000]) {
        const pages = allPages(hosts, token, limit, devices);
        for (const p of pages) assert.ok(p.length <= limit, `${token} limit ${limit}: a page of ${p.length}`);
        const rows = pages.flat();
        const keys = rows.map(key);
        assert.equal(new Set(keys).size, keys.length, `${token} limit ${limit}: each row once`);
        assert.equal(rows.length, expected, `${token} limit ${limit}: every row`);
        assert.deepEqual(keys, [...keys].sort(), 'one order for seen and unseen rows (code units)');
        if (limit < expected) assert.ok(pages.every((p) => p.length === limit || p === pages[pages.length - 1]));
        // a tenant token sees only its own tenant's rows and windows
        if (token !== ADMIN) assert.ok(rows.every((r) => r.tenant === (token === ACME ? 'acme' : 'beta')));
        // the marks: seen devices with a window keep their state; unseen ones are UNKNOWN
        const byKey = new Map(rows.map((r) => [key(r), r]));
        if (token === ACME) {
          assert.equal(byKey.get('dev-001\u0000acme')?.state, 'ONLINE');
          assert.equal(byKey.get('dev-001\u0000acme')?.muted, true);
          assert.equal(byKey.get('dev-059\u0000acme')?.muted, true);
          assert.equal(byKey.get('dev-007\u0000acme')?.muted, undefined);
          assert.equal(byKey.get('ghost-0\u0000acme')?.state, 'UNKNOWN');
          assert.equal(byKey.get('only-b\u0000acme')?.muted, true);
        }
        if (token === ADMIN)
          assert.equal(byKey.get('dev-059\u0000beta')?.muted, undefined, "beta's dev-059 is not acme's");
      }
    }
  });

  it('the default page stays at 1000 rows with thousands of unseen muted devices', () => {
    const t = new MuteTable(() => NOW);
    const hosts = [host(t)];
    for (let i = 0; i < 3263; i++) assert.equal(mute(hosts, ACME, `ghost-${i}`).status, 200);
    const first = call(hosts, ACME, 'GET', '/devices', { query: { limit: '1000' } });
    assert.equal((first.body as unknown[]).length, 1000);
    assert.ok(first.headers['X-Next-Cursor']);
    const dflt = call(hosts, ACME, 'GET', '/devices');
    assert.equal((dflt.body as unknown[]).length, 1000, 'the default limit');
  });

  it('thousands of windows set and lifted in random order still page in order, each once', () => {
    const t = new MuteTable(() => NOW, { tenantless: 20_000 });
    let x = 7;
    const rand = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const held = new Set<string>();
    for (let i = 0; i < 12_000; i++) {
      const id = `m-${Math.floor(rand() * 6000)}`;
      if (held.has(id) && rand() < 0.4) {
        t.clear(id);
        held.delete(id);
      } else {
        t.set({ device_id: id, until: NOW + 60_000, by: 'x', at: NOW });
        held.add(id);
      }
    }
    const hosts = [host(t)];
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const r = call(hosts, ADMIN, 'GET', '/devices', { query: cursor ? { limit: '333', cursor } : { limit: '333' } });
      assert.ok((r.body as unknown[]).length <= 333);
      ids.push(...(r.body as Mute[]).map((m) => m.device_id));
      cursor = r.headers['X-Next-Cursor'];
    } while (cursor);
    assert.deepEqual(ids, [...held].sort());
    assert.equal(t.count(), held.size);
  });

  it('a window that ends between two pages is left out; the cursor still goes on', () => {
    let now = NOW;
    const t = new MuteTable(() => now);
    const h = [host(t)];
    for (const [d, until] of [
      ['a', NOW + 100],
      ['b', NOW + 100],
      ['c', NOW + 60_000],
      ['d', NOW + 60_000],
    ] as const)
      t.set({ device_id: d, until, by: 'x', at: NOW });
    const get = (query: Record<string, string>) =>
      handleAlertApi(
        h,
        { method: 'GET', path: '/devices', query, headers: { authorization: `Bearer ${ADMIN}` } },
        {
          devices: () => [],
          now: () => now,
        }
      )!;
    const p1 = get({ limit: '1' });
    assert.deepEqual(
      (p1.body as Mute[]).map((r) => r.device_id),
      ['a']
    );
    now += 1000; // a and b end
    const p2 = get({ limit: '1', cursor: p1.headers['X-Next-Cursor'] });
    assert.deepEqual(
      (p2.body as Mute[]).map((r) => r.device_id),
      ['c']
    );
    const p3 = get({ limit: '1', cursor: p2.headers['X-Next-Cursor'] });
    assert.deepEqual(
      (p3.body as Mute[]).map((r) => r.device_id),
      ['d']
    );
    assert.equal(p3.headers['X-Next-Cursor'], undefined);
  });
});

describe('mute windows in the alert state journal', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mute-journal-'));

  /** what the adapter does after a mute change (moby-alert.ts persistChanges): the changes, appended */
  function persist(engine: AlertEngine, t: MuteTable, j: AlertStateJournal): void {
    j.stage(engine.takeChanges(), t.takeChanges());
    j.flush();
  }

  const sorted = (list: unknown[]) =>
    (list as Mute[]).map((m) => `${m.tenant ?? ''}/${m.device_id}/${m.until}/${m.note ?? ''}`).sort();

  it('a mute appends that window only (its line does not grow with the table); a kill -9 and a restart restore every window', () => {
    let now = NOW;
    const dir = tmp();
    const engine = new AlertEngine();
    const t = new MuteTable(() => now);
    const j = AlertStateJournal.open({ dir });
    j.load();
    const file = path.join(dir, 'journal-0.jsonl');
    const lineBytes: number[] = [];
    for (let i = 0; i < 600; i++) {
      const before = fs.statSync(file).size;
      t.set({
        device_id: `ghost-${i}`,
        tenant: i % 2 ? 'acme' : undefined,
        until: now + 3600_000,
        by: 'kim',
        note: 'n'.repeat(900),
        at: now,
      });
      persist(engine, t, j);
      lineBytes.push(fs.statSync(file).size - before);
    }
    assert.ok(
      lineBytes[599] < 2 * lineBytes[0],
      `the 600th mute's line (${lineBytes[599]} B) is as small as the first's (${lineBytes[0]} B)`
    );
    // unmute, replace, and a window that ends (not written: a restart drops ended windows by itself)
    t.clear('ghost-3', 'acme');
    t.set({ device_id: 'ghost-4', until: now + 7200_000, by: 'ann', note: 'longer', at: now });
    t.set({ device_id: 'short', until: now + 1000, by: 'ann', at: now });
    persist(engine, t, j);
    assert.ok(t.isMuted('short'));
    // kill -9: no close, no compaction; the next start opens the same directory
    const j2 = AlertStateJournal.open({ dir });
    const st = j2.load().state!;
    now += 2000; // the restart takes a while: the short window ended meanwhile
    const back = new MuteTable(() => now);
    back.restore(st.mutes);
    assert.deepEqual(sorted(back.snapshot()), sorted(t.snapshot()));
    assert.equal(back.isMuted('ghost-3', 'acme'), false, 'the unmute was kept');
    assert.equal(back.get('ghost-4')?.note, 'longer', 'the replaced window');
    assert.equal(back.isMuted('short'), false);
    assert.equal(back.count(), 599);
    // a compaction, then more changes on top of its snapshot, then a clean restart
    back.discardChanges();
    j2.compact({ snapshot: engine.snapshot(), mutes: back.snapshot() });
    back.clear('ghost-1', 'acme');
    back.set({ device_id: 'late', tenant: 'beta', until: now + 60_000, by: 'x', at: now });
    persist(engine, back, j2);
    j2.close();
    const j3 = AlertStateJournal.open({ dir });
    const again = new MuteTable(() => now);
    again.restore(j3.load().state!.mutes);
    j3.close();
    assert.deepEqual(sorted(again.snapshot()), sorted(back.snapshot()));
    assert.equal(again.isMuted('late', 'beta'), true);
    assert.equal(again.isMuted('ghost-1', 'acme'), false);
    j.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a journal written whole ("m", earlier versions) still loads, and window changes apply on top of it', () => {
    const dir = tmp();
    const engine = new AlertEngine();
    const j = AlertStateJournal.open({ dir });
    j.load();
    const whole: Mute[] = [
      { device_id: 'a', until: NOW + 60_000, by: 'x', at: NOW },
      { device_id: 'b', tenant: 'acme', until: NOW + 60_000, by: 'x', at: NOW },
    ];
    j.stage(engine.takeChanges(), whole);
    j.flush();
    const t = new MuteTable(() => NOW);
    t.restore(whole);
    t.set({ device_id: 'c', until: NOW + 60_000, by: 'x', at: NOW });
    t.clear('b', 'acme');
    t.set({ device_id: 'b', tenant: 'acme', until: NOW + 1, by: 'x', at: NOW }); // set again
    t.clear('b', 'acme'); // and ended: the last state wins
    j.stage(engine.takeChanges(), t.takeChanges());
    j.flush();
    j.close();
    const j2 = AlertStateJournal.open({ dir });
    const back = new MuteTable(() => NOW);
    back.restore(j2.load().state!.mutes);
    j2.close();
    assert.deepEqual(
      back.list().map((m) => `${m.tenant ?? ''}/${m.device_id}`),
      ['/a', '/c']
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('many changes without a save (a journal that cannot be written) stage the whole table, not every change', () => {
    const t = new MuteTable(() => NOW);
    for (let i = 0; i < 3000; i++) {
      t.set({ device_id: `g-${i}`, until: NOW + 60_000, by: 'x', at: NOW });
      t.clear(`g-${i}`);
    }
    const c = t.takeChanges()!;
    assert.ok('all' in c && c.all.length === 0, 'the whole (empty) table instead of 6000 changes');
    assert.equal(t.takeChanges(), undefined);
    // the journal's side: changes staged while flushes fail are counted, and the whole table replaces them
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-mute-journal-'));
    const j = AlertStateJournal.open({ dir });
    j.load();
    const engine = new AlertEngine();
    for (let i = 0; i < 50; i++) {
      t.set({ device_id: `h-${i}`, until: NOW + 60_000, by: 'x', at: NOW });
      j.stage(engine.takeChanges(), t.takeChanges());
    }
    assert.equal(j.stagedMuteChangeCount, 50);
    j.stage(engine.takeChanges(), { all: t.snapshot() });
    assert.equal(j.stagedMuteChangeCount, 0);
    j.flush();
    j.close();
    const j2 = AlertStateJournal.open({ dir });
    assert.equal(j2.load().state!.mutes.length, 50);
    j2.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
