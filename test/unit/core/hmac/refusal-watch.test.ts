// core/hmac/refusal-watch.ts: a keyring device whose messages are all refused for a while is one warning,
// cleared by its next verified message; bounded, and blind to made-up ids and malformed envelopes.
import assert from 'node:assert/strict';
import { REFUSAL_RULE, RefusalWatch } from '../../../../nodes/core/hmac/refusal-watch';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';

const S = 1000;

describe('RefusalWatch', () => {
  it('opens once at the 20th refusal within 10 minutes with none verified, saying which codes; a verified message clears it', () => {
    const w = new RefusalWatch();
    for (let i = 0; i < 19; i++)
      assert.equal(w.refused('press-1', i < 15 ? 'bad_signature' : 'stale', `reason ${i}`, i * S), null);
    const open = w.refused('press-1', 'unknown_key', 'kid k9 is not a key of press-1', 60 * S);
    assert.deepEqual(open, {
      kind: 'open',
      device_id: 'press-1',
      message:
        '20 message(s) in the name of press-1 refused in 60 s and none verified (bad_signature 15, stale 4, ' +
        'unknown_key 1; the last: kid k9 is not a key of press-1). Its key, key id or clock may be wrong ' +
        '(keyring, NTP), or someone without its key is sending in its name.',
    });
    for (let i = 0; i < 100; i++) assert.equal(w.refused('press-1', 'bad_signature', 'x', (61 + i) * S), null, 'once');
    assert.equal(w.verified('press-2'), null);
    assert.deepEqual(w.verified('press-1'), { kind: 'clear', device_id: 'press-1' });
    assert.equal(w.verified('press-1'), null, 'cleared once');
    const r = signalsFromMessage({
      alert: {
        device_id: 'press-1',
        rule: REFUSAL_RULE,
        severity: 'warning',
        message: open!.kind === 'open' ? open!.message : '',
      },
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.signals[0].rule, 'messages_refused');
  });

  it('a device that also sends verified data never opens it: each verified message starts its count again', () => {
    const w = new RefusalWatch({ minRefused: 5 });
    for (let k = 0; k < 100; k++) {
      for (let i = 0; i < 4; i++) assert.equal(w.refused('pump-1', 'stale', 'old', (k * 10 + i) * S), null);
      assert.equal(w.verified('pump-1'), null);
    }
  });

  it('refusals spread wider than the window do not add up; made-up ids, malformed envelopes and rate refusals do not count', () => {
    const w = new RefusalWatch({ minRefused: 3, windowMs: 60 * S });
    assert.equal(w.refused('a', 'bad_signature', 'x', 0), null);
    assert.equal(w.refused('a', 'bad_signature', 'x', 50 * S), null);
    assert.equal(
      w.refused('a', 'bad_signature', 'x', 70 * S),
      null,
      'the first fell out of the window: count starts again'
    );
    assert.equal(w.refused('a', 'bad_signature', 'x', 80 * S), null);
    assert.equal(w.refused('a', 'bad_signature', 'x', 90 * S)?.kind, 'open');
    for (const code of ['unknown_device', 'malformed', 'device_rate', 'tenant_rate', 'device_mismatch'])
      for (let i = 0; i < 10; i++) assert.equal(w.refused('b', code, 'x', i), null, code);
    for (let i = 0; i < 10; i++) assert.equal(w.refused(undefined, 'bad_signature', 'x', i), null);
  });

  it('watches at most maxDevices, forgetting the least recently refused (a flood of ids cannot grow it)', () => {
    const w = new RefusalWatch({ minRefused: 3, maxDevices: 100 });
    w.refused('victim', 'bad_signature', 'x', 0);
    w.refused('victim', 'bad_signature', 'x', 1);
    for (let i = 0; i < 10_000; i++) w.refused(`flood-${i}`, 'bad_signature', 'x', 2 + i);
    assert.equal(w.evicted, 10_000 + 1 - 100);
    // forgotten: its count starts again (an alert is delayed, never wrongly opened)
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_000), null);
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_001), null);
    assert.equal(w.refused('victim', 'bad_signature', 'x', 20_002)?.kind, 'open');
  });
});
