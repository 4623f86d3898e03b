// The rule that keeps a busy connection: mqtt.js's keep-alive check fires half a keep-alive after its ping.
import assert from 'node:assert/strict';
import { receivingSince } from '../../../../nodes/core/mqtt/keepalive';

describe('keep-alive: a connection delivering packets is alive', () => {
  it('a packet since the ping (within half a keep-alive) keeps it; older silence does not', () => {
    const now = 100_000;
    assert.equal(receivingSince(now - 14_000, now, 30), true, '14 s ago, keep-alive 30 s: after the ping at 15 s');
    assert.equal(receivingSince(now - 15_000, now, 30), true, 'at the ping');
    assert.equal(receivingSince(now - 15_001, now, 30), false, 'before the ping: nothing proves the link since');
    assert.equal(receivingSince(now - 600, now, 1), false, 'keep-alive 1 s: the window is half a second');
    assert.equal(receivingSince(now - 400, now, 1), true);
  });
});
