// SignedStatus (nodes/core/health/sessions.ts): signed births and wills bound to a connection's session.
import assert from 'node:assert/strict';
import { SignedStatus } from '../../../../nodes/core/health/sessions';
import { StatusTrust } from '../../../../nodes/core/health/trust';
import { Keyring } from '../../../../nodes/core/hmac/keyring';
import {
  deriveDeviceKey,
  parseKey,
  signConnection,
  signEnvelope,
  statusBody,
} from '../../../../nodes/core/hmac/scheme';

const SECRET = 'pump-7-device-secret-key';
const KEY = parseKey(SECRET);
const plain = (e: object) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>;

function setup(now = { t: 1_763_375_400 }) {
  const ring = new Keyring().load({ 'pump-7': { k1: SECRET } });
  const s = new SignedStatus({ keys: ring, now: () => now.t });
  return { s, now };
}

describe('health: signed wills and births (sessions)', () => {
  it('a signed birth costs one key lookup and one HMAC: freshness and the nonce are checked on the verified birth', () => {
    // before: the birth was verified twice (once without freshness, then again in full), two lookups and
    // two HMACs per birth. The verifier looks the key up once per HMAC check, so lookups count the HMACs.
    const ring = new Keyring().load({ 'pump-7': { k1: SECRET } });
    let lookups = 0;
    const now = { t: 1_763_375_400 };
    const s = new SignedStatus({
      keys: {
        lookup: (deviceId, kid, tenant) => {
          lookups++;
          return ring.lookup(deviceId, kid, tenant);
        },
      },
      now: () => now.t,
    });
    const c = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', ts: now.t });
    const b = s.judge(plain(c.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(b.ok && b.action === 'birth');
    assert.equal(lookups, 1, 'one signed birth');
    // freshness still applies to a new session: a later connection's birth that arrives 399 s old is stale
    now.t += 400;
    const late = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', ts: now.t - 399 });
    const r = s.judge(plain(late.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(!r.ok && r.reject.code === 'stale', JSON.stringify(r));
    assert.equal(lookups, 2);
    const n = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', ts: now.t });
    assert.ok(s.judge(plain(n.birth), 'pump-7', 'pump-7', undefined).ok);
    const again = s.judge(plain(n.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(again.ok && again.action === 'known');
    assert.equal(lookups, 4, 'one per message: a new, a stale, a new and a known birth');
  });

  it('a birth sets the session, its will applies once, then the session is spent', () => {
    const { s, now } = setup();
    const c = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', ts: now.t });
    const b = s.judge(plain(c.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(b.ok && b.action === 'birth' && !b.applyPendingWill);
    assert.equal(s.currentSession('pump-7'), c.session);
    now.t += 3600; // the broker publishes the will an hour later: its ts (connect time) is not fresh, no matter
    const w = s.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(w.ok && w.action === 'will');
    s.spend('pump-7');
    const again = s.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!again.ok && again.reject.code === 'stale_session', 'a replayed will of a spent session');
  });

  it('a will of an older session changes nothing (stale_session); a replayed older birth does not bring it back', () => {
    const { s, now } = setup();
    const old = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    assert.ok(s.judge(plain(old.birth), 'pump-7', 'pump-7', undefined).ok);
    now.t += 10;
    const cur = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    assert.ok(s.judge(plain(cur.birth), 'pump-7', 'pump-7', undefined).ok);
    const w = s.judge(plain(old.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!w.ok && w.reject.code === 'stale_session');
    const rb = s.judge(plain(old.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(!rb.ok && rb.reject.code === 'stale_session', 'the older birth, replayed within its window');
    assert.equal(s.currentSession('pump-7'), cur.session);
  });

  it('a new birth must be fresh and unseen; the known session again is fine even when not fresh', () => {
    const { s, now } = setup();
    const c = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t - 301 });
    const r = s.judge(plain(c.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(!r.ok && r.reject.code === 'stale');
    const d = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    assert.ok(s.judge(plain(d.birth), 'pump-7', 'pump-7', undefined).ok);
    now.t += 1000;
    const k = s.judge(plain(d.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(k.ok && k.action === 'known', 'a retained birth of the current session delivered again');
  });

  it('a reconnect within the same second as the current session is refused (stale_session), fail safe', () => {
    const { s, now } = setup();
    const a = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    const b = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    assert.ok(s.judge(plain(a.birth), 'pump-7', 'pump-7', undefined).ok);
    const rb = s.judge(plain(b.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(!rb.ok && rb.reject.code === 'stale_session');
    const rw = s.judge(plain(b.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!rw.ok && rw.reject.code === 'stale_session', 'its will cannot be told from a replay either');
    assert.equal(s.currentSession('pump-7'), a.session);
  });

  it('a birth stamped ahead of the clock does not refuse the next session (its time counts as when it arrived)', () => {
    // red-team round of 2026-12-06: a birth 290 s ahead (within the freshness tolerance) became the current
    // session at its own ts, and the device's real births and wills were stale_session until that time came
    const { s, now } = setup();
    const ahead = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t + 290 });
    const a = s.judge(plain(ahead.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(a.ok && a.action === 'birth');
    now.t += 5;
    const real = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    const b = s.judge(plain(real.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(b.ok && b.action === 'birth', JSON.stringify(b));
    assert.equal(s.currentSession('pump-7'), real.session);
    const w = s.judge(plain(real.will), 'pump-7', 'pump-7', undefined);
    assert.ok(w.ok && w.action === 'will', "the real session's will counts at once");
    // the ahead session's will is now of an older session: no state change
    const old = s.judge(plain(ahead.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!old.ok || old.action === 'pending', JSON.stringify(old));
  });

  it('a will before its birth waits; its birth applies it', () => {
    const { s, now } = setup();
    const c = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    const w = s.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(w.ok && w.action === 'pending');
    const b = s.judge(plain(c.birth), 'pump-7', 'pump-7', undefined);
    assert.ok(b.ok && b.action === 'birth' && b.applyPendingWill);
    const again = s.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!again.ok && again.reject.code === 'stale_session', 'applied once');
  });

  it('refuses forged, other-device, unknown and malformed signed statuses with the verify codes', () => {
    const { s, now } = setup();
    const c = signConnection({ deviceId: 'pump-7', key: parseKey('not-the-device-key-at-all'), ts: now.t });
    const f = s.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!f.ok && f.reject.code === 'bad_signature');
    const u = s.judge(
      plain(signConnection({ deviceId: 'pump-8', key: KEY, ts: now.t }).will),
      'pump-8',
      'pump-8',
      undefined
    );
    assert.ok(!u.ok && u.reject.code === 'unknown_device');
    const other = s.judge(
      plain(signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t }).will),
      'pump-9',
      'pump-9',
      undefined
    );
    assert.ok(!other.ok && other.reject.code === 'device_mismatch');
    const long = signEnvelope({
      deviceId: 'pump-7',
      key: KEY,
      ts: now.t,
      body: JSON.stringify({ status: 'OFFLINE', session: 'x'.repeat(65) }),
    });
    const m = s.judge(plain(long), 'pump-7', 'pump-7', undefined);
    assert.ok(!m.ok && m.reject.code === 'malformed' && m.reject.field === 'body.session', 'session length is capped');
    const noSession = signEnvelope({ deviceId: 'pump-7', key: KEY, ts: now.t, body: '{"status":"OFFLINE"}' });
    const n = s.judge(plain(noSession), 'pump-7', 'pump-7', undefined);
    assert.ok(!n.ok && n.reject.code === 'malformed');
    assert.throws(() => statusBody('OFFLINE', 'short'));
  });

  it("tenants: the tenant's key and the topic's tenant; master-derived keys; key rotation", () => {
    const now = { t: 1_763_375_400 };
    const master = parseKey('hex:' + '11'.repeat(32));
    const ring = new Keyring().load({ '*': { m1: 'hex:' + '11'.repeat(32) } });
    ring.setTenant('beta', new Keyring().load({ 'pump-7': { k1: SECRET } }));
    const s = new SignedStatus({ keys: ring, now: () => now.t });
    const derived = signConnection({ deviceId: 'any-9', key: deriveDeviceKey(master, 'any-9'), kid: 'm1', ts: now.t });
    assert.ok(
      s.judge(plain(derived.birth), 'any-9', 'any-9', undefined).ok,
      'a master-derived key signs for its device'
    );
    const beta = signConnection({ deviceId: 'pump-7', key: KEY, tenant: 'beta', ts: now.t });
    assert.ok(s.judge(plain(beta.birth), 'beta~pump-7', 'pump-7', 'beta').ok);
    const elsewhere = s.judge(plain(beta.will), 'pump-7', 'pump-7', undefined);
    assert.ok(!elsewhere.ok && elsewhere.reject.code === 'tenant_mismatch', "beta's will on a tenant-less topic");
    const unclaimed = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    const r = s.judge(plain(unclaimed.will), 'acme~pump-7', 'pump-7', 'acme');
    assert.ok(!r.ok && r.reject.code === 'unknown_device', "acme has no keys: the topic's tenant is what is verified");
    // rotation: a will signed with the key in force at connect still verifies while that key is active
    const rot = new Keyring().load({ 'pump-7': { k2: 'the-new-pump-7-secret-key', k1: SECRET } });
    const s2 = new SignedStatus({ keys: rot, now: () => now.t });
    const c = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', ts: now.t });
    assert.ok(s2.judge(plain(c.birth), 'pump-7', 'pump-7', undefined).ok);
    const w = s2.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(w.ok && w.kid === 'k1');
  });

  it('sessions survive serialize/restore: the retained will of the current session still counts', () => {
    const { s, now } = setup();
    const c = signConnection({ deviceId: 'pump-7', key: KEY, ts: now.t });
    assert.ok(s.judge(plain(c.birth), 'pump-7', 'pump-7', undefined).ok);
    const rows = JSON.parse(JSON.stringify(s.serialize()));
    const { s: s2 } = setup(now);
    assert.equal(
      s2.restore([...rows, ['bad id!', 'x', 1, 0], 'junk'], (k) => /^[\w.:@~-]+$/.test(k)),
      1
    );
    const w = s2.judge(plain(c.will), 'pump-7', 'pump-7', undefined);
    assert.ok(w.ok && w.action === 'will');
  });

  it("tenants: one tenant's births beyond Max devices evict only its own sessions; another tenant's will counts at once", () => {
    // the red-team case: acme signs births for maxDevices + 1 ids with its master key; beta's device then dies
    // with a valid signed will. One LRU shared by all tenants evicted beta's session, so the will waited as
    // `pending` (a late TIMEOUT instead of an immediate OFFLINE).
    const now = { t: 1_763_375_400 };
    const acmeMaster = 'hex:' + '22'.repeat(32);
    const ring = new Keyring();
    ring.setTenant('acme', new Keyring().load({ '*': { m1: acmeMaster } }));
    ring.setTenant('beta', new Keyring().load({ 'pump-7': { k1: SECRET } }));
    const maxDevices = 100;
    const s = new SignedStatus({ keys: ring, maxDevices, now: () => now.t });
    const beta = signConnection({ deviceId: 'pump-7', key: KEY, kid: 'k1', tenant: 'beta', ts: now.t });
    assert.ok(s.judge(plain(beta.birth), 'beta~pump-7', 'pump-7', 'beta').ok);
    const master = parseKey(acmeMaster);
    const acme: Array<ReturnType<typeof signConnection>> = [];
    for (let i = 0; i <= maxDevices; i++) {
      const id = `gw-${i}`;
      const c = signConnection({
        deviceId: id,
        key: deriveDeviceKey(master, id),
        kid: 'm1',
        tenant: 'acme',
        ts: now.t,
      });
      const v = s.judge(plain(c.birth), `acme~${id}`, id, 'acme');
      assert.ok(v.ok && v.action === 'birth', JSON.stringify(v));
      acme.push(c);
    }
    assert.equal(s.currentSession('beta~pump-7'), beta.session, "beta's session is still there");
    now.t += 3600; // the broker publishes beta's will an hour later
    const w = s.judge(plain(beta.will), 'beta~pump-7', 'pump-7', 'beta');
    assert.ok(w.ok && w.action === 'will', `beta's will counts at once: ${JSON.stringify(w)}`);
    // acme's flood evicted acme's own least recently active session, and only that one
    assert.equal(s.evictions, 1);
    assert.equal(s.size, maxDevices + 1, "acme's bound plus beta's one session");
    assert.equal(s.currentSession('acme~gw-0'), undefined);
    const gone = s.judge(plain(acme[0].will), 'acme~gw-0', 'gw-0', 'acme');
    assert.ok(gone.ok && gone.action === 'pending', "acme's evicted device waits for its next birth, as before");
    const kept = s.judge(plain(acme[maxDevices].will), `acme~gw-${maxDevices}`, `gw-${maxDevices}`, 'acme');
    assert.ok(kept.ok && kept.action === 'will');
  });

  it('without tenants the bound is one LRU of Max devices sessions, as before', () => {
    const now = { t: 1_763_375_400 };
    const master = 'hex:' + '33'.repeat(32);
    const s = new SignedStatus({ keys: new Keyring().load({ '*': { m1: master } }), maxDevices: 3, now: () => now.t });
    const c = (id: string) =>
      signConnection({ deviceId: id, key: deriveDeviceKey(parseKey(master), id), kid: 'm1', ts: now.t });
    const a = c('a');
    for (const [id, conn] of [
      ['a', a],
      ['b', c('b')],
      ['c', c('c')],
    ] as const)
      assert.ok(s.judge(plain(conn.birth), id, id, undefined).ok);
    assert.ok(
      s.judge(plain(a.birth), 'a', 'a', undefined).ok,
      "a's retained birth again: a is the most recently active"
    );
    assert.ok(s.judge(plain(c('d').birth), 'd', 'd', undefined).ok);
    assert.equal(s.size, 3);
    assert.equal(s.evictions, 1);
    assert.equal(s.currentSession('b'), undefined, 'the least recently active device (b) made room');
    assert.equal(s.currentSession('a'), a.session);
    assert.deepEqual(
      s.serialize().map((r) => r[0]),
      ['c', 'a', 'd'],
      'persisted least recently active first'
    );
  });

  it('restore keeps the newest Max devices sessions per tenant, also from a list written with one shared bound', () => {
    // what is on disk from before: one list for all tenants, least recently active first. A shared cut to the
    // newest maxDevices rows dropped beta's session behind acme's; per tenant, beta's is kept.
    const onDisk = [
      ['beta~pump-7', 'sess-beta-7', 1_763_375_000, 0],
      ['acme~gw-1', 'sess-acme-1', 1_763_375_001, 0],
      ['pump-9', 'sess-plain-9', 1_763_375_002, 1],
      ['acme~gw-2', 'sess-acme-2', 1_763_375_003, 0],
      ['acme~gw-3', 'sess-acme-3', 1_763_375_004, 0],
      ['acme~gw-2', 'sess-acme-2b', 1_763_375_005, 0],
    ];
    const s = new SignedStatus({ keys: new Keyring(), maxDevices: 2 });
    assert.equal(
      s.restore(onDisk, (k) => /^[\w.:@~-]+$/.test(k)),
      4
    );
    assert.equal(s.currentSession('beta~pump-7'), 'sess-beta-7');
    assert.equal(s.currentSession('pump-9'), 'sess-plain-9');
    assert.equal(s.currentSession('acme~gw-1'), undefined, "acme's oldest is cut, acme's only");
    assert.equal(s.currentSession('acme~gw-2'), 'sess-acme-2b', 'a key twice: the newest row wins');
    assert.equal(s.evictions, 0, 'a restore trims, it evicts nothing that was live');
    const again = new SignedStatus({ keys: new Keyring(), maxDevices: 2 });
    assert.equal(
      again.restore(JSON.parse(JSON.stringify(s.serialize())), () => true),
      4,
      'what serialize() writes loads back whole'
    );
    assert.deepEqual(again.serialize(), s.serialize());
  });

  it("trust: 'signed' mode refuses unsigned status as unsigned_status; a signed one needs no proof in any mode", () => {
    for (const mode of ['signed', 'proven'] as const) {
      const t = new StatusTrust({ mode });
      assert.equal(t.check('never-seen', 0, true).ok, true, mode);
      assert.equal(t.trusted('never-seen', true), true);
    }
    const t = new StatusTrust({ mode: 'signed' });
    t.prove('pump-7', 0);
    const r = t.check('pump-7', 0);
    assert.ok(!r.ok && r.code === 'unsigned_status', 'even for a proven device');
    assert.equal(t.trusted('pump-7'), false);
  });
});
