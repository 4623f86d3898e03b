// Durable-branch contract with hmac-verify (issue #11): a message the broker flags as redelivered (MQTT DUP,
// msg.redelivered from moby-mqtt-in) whose nonce was already seen passes, marked redelivered; without the
// flag it is still a replay. Kept in its own file so a merge with the replay work can pick one version.
import assert from 'node:assert/strict';
import { parseKey, signEnvelope } from '../../../../nodes/core/hmac/scheme';
import { Keyring } from '../../../../nodes/core/hmac/keyring';
import { Verifier } from '../../../../nodes/core/hmac/verify';
import { PUMP_BODY } from '../../../support/payloads';

describe('hmac verifier: redelivered messages (durable source contract)', () => {
  const NOW = 1763375400;
  const ring = new Keyring().load({ 'pump-7': { k1: 'pump-7-key-one-0001' } });
  const env = JSON.stringify(
    signEnvelope({ deviceId: 'pump-7', key: parseKey('pump-7-key-one-0001'), kid: 'k1', body: PUMP_BODY, ts: NOW })
  );

  it('lets a seen nonce through when the broker redelivered the message, and still rejects a replay', () => {
    const v = new Verifier({ keys: ring, now: () => NOW });
    const first = v.verify({ payload: env });
    assert.ok(first.ok && !first.redelivered);
    const again = v.verify({ payload: env, redelivered: true });
    assert.ok(again.ok, 'redelivered copy passes');
    assert.equal(again.ok && again.redelivered, true);
    const replay = v.verify({ payload: env });
    assert.equal(replay.ok ? 'ok' : replay.reject.code, 'replay');
  });

  it('a redelivered message never seen before is just verified (not marked)', () => {
    const v = new Verifier({ keys: ring, now: () => NOW });
    const r = v.verify({ payload: env, redelivered: true });
    assert.ok(r.ok && r.redelivered === undefined);
  });
});
