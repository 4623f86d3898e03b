// core/hmac/refusal-watch.ts: a device that worked and whose messages are now all refused for a while is one
// warning, cleared by its next verified message or once nothing is refused for 10 minutes; a client without
// keys can raise it neither for made-up ids nor for a device that keeps sending verified data.
import assert from 'node:assert/strict';
import {
  DATA_REFUSAL_RULE,
  REFUSAL_RULE,
  RefusalWatch,
  normalizeRefusalText,
} from '../../../../nodes/core/hmac/refusal-watch';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';

const S = 1000;

describe('RefusalWatch', () => {
  it('a device verified before, then 20+ refusals and nothing verified for a minute: one warning saying which codes; a verified message clears it', () => {
    const w = new RefusalWatch();
    assert.equal(w.verified('press-1'), null, 'it worked once');
    // its key rotated on the server only: every message from now on is refused, one a second
    const got = [];
    for (let t = 1; t <= 70; t++) {
      const s = w.refused('press-1', t <= 55 ? 'bad_signature' : 'unknown_key', `reason ${t}`, t * S);
      if (s) got.push([t, s]);
    }
    assert.equal(got.length, 1, 'once');
    const [at, open] = got[0] as [number, { kind: string; message: string }];
    assert.equal(at, 61, 'after a minute without anything verified, not at the 20th refusal');
    assert.equal(
      open.message,
      '61 message(s) in the name of press-1 refused in 60 s and none verified (bad_signature 55, unknown_key 6; ' +
        'the last: reason 61). Its key, key id or clock may be wrong (keyring, NTP), or someone without its key ' +
        'is sending in its name.'
    );
    assert.deepEqual(w.verified('press-1'), { kind: 'clear', device_id: 'press-1' });
    assert.equal(w.verified('press-1'), null, 'cleared once');
    const r = signalsFromMessage({
      alert: { device_id: 'press-1', rule: REFUSAL_RULE, severity: 'warning', message: open.message },
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.signals[0].rule, 'messages_refused');
  });

  it("normalize's watch: every code counts, with its own text and rule (red-team round 2026-12-07: 75 future timestamps in a row, no alert)", () => {
    const w = new RefusalWatch({ codes: null, text: normalizeRefusalText });
    assert.notEqual(DATA_REFUSAL_RULE, REFUSAL_RULE, "verify's clear must not end it");
    w.verifiedBefore('press-1'); // authenticated by moby-hmac-verify
    let open = null;
    for (let t = 1; t <= 61 && !open; t++)
      open = w.refused('press-1', t % 2 ? 'future_timestamp' : 'bad_field_name', `reason ${t}`, t * S);
    assert.ok(open && open.kind === 'open');
    assert.equal(
      (open as { message: string }).message,
      '61 message(s) of press-1 refused by moby-normalize in 60 s and none passed (future_timestamp 31, ' +
        'bad_field_name 30; the last: reason 61): none of its data is stored or watched. Its clock, firmware or ' +
        'payload format may be wrong.'
    );
    assert.deepEqual(w.verified('press-1'), { kind: 'clear', device_id: 'press-1' });
    // verify's watch ignores those codes
    const v = new RefusalWatch();
    v.verifiedBefore('press-1');
    for (let t = 1; t <= 100; t++) assert.equal(v.refused('press-1', 'future_timestamp', 'r', t * S), null);
  });

  it('a device the replay journal shows verified before the start counts as having worked; it clears nothing and counts nothing', () => {
    const w = new RefusalWatch({ minRefused: 3, minSilenceMs: 0 });
    w.verifiedBefore('press-2');
    w.verifiedBefore('mill-1', 'acme');
    assert.equal(w.refused('press-2', 'bad_signature', 'x', 1 * S), null);
    w.verifiedBefore('press-2'); // a tenant journal read later, say: the count goes on
    assert.equal(w.refused('press-2', 'bad_signature', 'x', 2 * S), null);
    assert.equal(w.refused('press-2', 'bad_signature', 'x', 3 * S)?.kind, 'open');
    assert.equal(w.refused('mill-1', 'bad_signature', 'x', 1 * S), null, 'not the tenant-less mill-1');
    for (let t = 1; t <= 5; t++) assert.equal(w.refused('mill-1', 'bad_signature', 'x', t * S), null);
    for (let t = 1; t <= 2; t++) assert.equal(w.refused('mill-1', 'bad_signature', 'x', t * S, 'acme'), null);
    assert.equal(w.refused('mill-1', 'bad_signature', 'x', 3 * S, 'acme')?.kind, 'open');
  });

  it('ATTACK: made-up ids (a master key has a key for each) never open it (first version: 100 ids paged in 2 s)', () => {
    const w = new RefusalWatch();
    for (let i = 0; i < 100; i++)
      for (let k = 0; k < 100; k++) assert.equal(w.refused(`spoof-${i}`, 'bad_signature', 'x', k * S), null);
  });

  it('ATTACK: bursts of forgeries between the verified messages of a live device never open it (first version: 60 in 0.5 s did)', () => {
    const w = new RefusalWatch();
    for (let t = 0; t < 600; t += 10) {
      assert.equal(w.verified('motor-4'), null); // the device: once every 10 s
      for (let k = 0; k < 60; k++) assert.equal(w.refused('motor-4', 'bad_signature', 'x', (t + 5) * S + k), null);
    }
  });

  it('refusals further apart than the window do not add up; malformed, unknown_device and rate refusals do not count', () => {
    const w = new RefusalWatch({ minRefused: 3, minSilenceMs: 0, windowMs: 60 * S });
    w.verified('a');
    assert.equal(w.refused('a', 'bad_signature', 'x', 0), null);
    assert.equal(w.refused('a', 'bad_signature', 'x', 50 * S), null);
    assert.equal(w.refused('a', 'bad_signature', 'x', 120 * S), null, '70 s after the last: count starts again');
    assert.equal(w.refused('a', 'bad_signature', 'x', 130 * S), null);
    assert.equal(w.refused('a', 'bad_signature', 'x', 140 * S)?.kind, 'open');
    w.verified('b');
    for (const code of ['unknown_device', 'malformed', 'device_rate', 'tenant_rate', 'device_mismatch'])
      for (let i = 0; i < 10; i++) assert.equal(w.refused('b', code, 'x', i), null, code);
    for (let i = 0; i < 10; i++) assert.equal(w.refused(undefined, 'bad_signature', 'x', i), null);
  });

  it('sweep: nothing refused for the window clears an open alert and forgets the device', () => {
    const w = new RefusalWatch({ minRefused: 2, minSilenceMs: 0, windowMs: 600 * S });
    w.verified('dead-1');
    w.refused('dead-1', 'stale', 'x', 0);
    assert.equal(w.refused('dead-1', 'stale', 'x', S)?.kind, 'open');
    assert.deepEqual(w.sweep(600 * S), [], 'still within the window');
    assert.deepEqual(w.sweep(602 * S), [{ kind: 'clear', device_id: 'dead-1' }]);
    assert.deepEqual(w.sweep(700 * S), []);
  });

  it('watches at most maxDevices, forgetting the least recently refused (a flood cannot grow it)', () => {
    const w = new RefusalWatch({ minRefused: 3, minSilenceMs: 0, maxDevices: 100, maxProven: 200 });
    for (let i = 0; i < 10_000; i++) w.verified(`dev-${i}`); // only the last 200 are remembered
    w.verified('victim');
    w.refused('victim', 'bad_signature', 'x', 0);
    w.refused('victim', 'bad_signature', 'x', 1);
    for (let i = 9_850; i < 10_000; i++) w.refused(`dev-${i}`, 'bad_signature', 'x', 2 + i);
    assert.ok(w.evicted > 0);
    // forgotten: its count starts again (an alert is delayed, never wrongly opened)
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_000), null);
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_001), null);
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_002)?.kind, 'open');
    for (let k = 0; k < 10; k++)
      assert.equal(w.refused('dev-5', 'bad_signature', 'x', 30_000 + k), null, 'an id verified long ago is forgotten');
  });

  it("with tenants a device is its tenant and id: another tenant's device of the same id proves nothing, and the signals carry the tenant (newcomer round 2026-12-06: tenant-less alert, ids shared across tenants)", () => {
    const w = new RefusalWatch({ minRefused: 3, minSilenceMs: 0 });
    w.verified('pump-001', 'acme');
    for (let t = 0; t < 10; t++)
      assert.equal(w.refused('pump-001', 'bad_signature', 'x', t, 'beta'), null, "beta's pump-001 never verified");
    for (let t = 0; t < 10; t++)
      assert.equal(w.refused('pump-001', 'bad_signature', 'x', t), null, 'nor a tenant-less one');
    let open = null;
    for (let t = 0; t < 3; t++) open = w.refused('pump-001', 'bad_signature', 'x', t, 'acme');
    assert.equal(open?.kind, 'open');
    assert.equal(open?.device_id, 'pump-001');
    assert.equal(open?.tenant, 'acme');
    assert.match(open!.kind === 'open' ? open!.message : '', /in the name of pump-001 \(tenant acme\) refused/);
    assert.equal(w.verified('pump-001', 'beta'), null, "beta's device verifying does not clear acme's");
    assert.deepEqual(w.verified('pump-001', 'acme'), { kind: 'clear', device_id: 'pump-001', tenant: 'acme' });
    // the sweep's clear carries it too
    for (let t = 0; t < 3; t++) w.refused('pump-001', 'stale', 'y', 100 + t, 'acme');
    assert.deepEqual(w.sweep(100 + 600_001 + 2), [{ kind: 'clear', device_id: 'pump-001', tenant: 'acme' }]);
  });

  it("ATTACK: one tenant's flood of verified made-up ids forgets none of another tenant's devices, and a device that keeps verifying is not forgotten by its own tenant's flood (tenant red team 2026-12-07: one shared list of 100,000, a live device aged out as the first ever verified)", () => {
    const w = new RefusalWatch({ minRefused: 3, minSilenceMs: 0, maxDevices: 50, maxProven: 100 });
    w.verified('bx-vic', 'beta');
    w.verified('live', 'acme');
    for (let i = 0; i < 1_000; i++) {
      w.verified(`flood-${i}`, 'acme'); // acme's master key signs for every id it makes up
      if (i % 50 === 0) w.verified('live', 'acme'); // its real device keeps sending
    }
    let open = null;
    for (let t = 0; t < 3; t++) open = w.refused('bx-vic', 'bad_signature', 'x', t, 'beta');
    assert.equal(open?.kind, 'open', "beta's device is still known to have worked");
    open = null;
    for (let t = 0; t < 3; t++) open = w.refused('live', 'bad_signature', 'x', t, 'acme');
    assert.equal(open?.kind, 'open', "acme's live device was not forgotten");
    // refusals of many of acme's ids: beta's watched device stays watched
    const w2 = new RefusalWatch({ minRefused: 3, minSilenceMs: 0, maxDevices: 50, maxProven: 1_000 });
    w2.verified('bx-vic', 'beta');
    w2.refused('bx-vic', 'bad_signature', 'x', 0, 'beta');
    w2.refused('bx-vic', 'bad_signature', 'x', 1, 'beta');
    for (let i = 0; i < 500; i++) w2.verified(`flood-${i}`, 'acme');
    for (let i = 0; i < 500; i++) w2.refused(`flood-${i}`, 'bad_signature', 'x', 2, 'acme');
    assert.ok(w2.evicted >= 450, "acme's own watched devices were evicted");
    assert.equal(w2.refused('bx-vic', 'bad_signature', 'x', 3, 'beta')?.kind, 'open', "beta's count was kept");
  });
});
