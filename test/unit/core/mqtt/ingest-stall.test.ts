// core/mqtt/ingest-stall.ts: when a durable source counts as unable to hear its devices.
import assert from 'node:assert/strict';
import { connectionLostCause, sourceCanHear, STALL_GRACE_MS } from '../../../../nodes/core/mqtt/ingest-stall';

describe('ingest stall', () => {
  const base = { connected: true, load: 10, window: 1000, lastSettledMs: 0, now: 60_000 };

  it('hears while connected with room in the window, however long ago something settled', () => {
    assert.equal(sourceCanHear(base), true);
  });

  it('a full window that keeps settling (a busy pipeline) still hears; one that stopped settling does not', () => {
    assert.equal(sourceCanHear({ ...base, load: 1000, lastSettledMs: base.now - 100 }), true);
    assert.equal(sourceCanHear({ ...base, load: 1001, lastSettledMs: base.now - STALL_GRACE_MS }), false);
    assert.equal(sourceCanHear({ ...base, load: 1000, lastSettledMs: base.now - 500, graceMs: 400 }), false);
  });

  it('no connection: nobody can be heard', () => {
    assert.equal(sourceCanHear({ ...base, connected: false }), false);
  });

  it("a lost connection's cause says the broker's end went away, whether the socket ended or was reset", () => {
    // operator round 2026-12-07: a kill -9 of Mosquitto read "the broker closed the connection", its orderly
    // stop "read ECONNRESET", the reverse of what one would guess; neither tells the two apart
    const ended = connectionLostCause(undefined);
    const reset = connectionLostCause('read ECONNRESET');
    for (const text of [ended, reset])
      assert.match(text, /the broker stopped or restarted, or it or the network dropped this client$/);
    assert.match(ended, /^the connection was closed from the broker's end/);
    assert.equal(reset.startsWith('the connection was reset (read ECONNRESET)'), true);
    assert.equal(connectionLostCause('write EPIPE').startsWith('the connection was reset (write EPIPE)'), true);
    assert.equal(connectionLostCause('keepalive timeout'), 'it stopped answering (keep-alive timeout)');
    assert.equal(connectionLostCause('Connection refused: Not authorized'), 'Connection refused: Not authorized');
    assert.equal(connectionLostCause('a\nb'), connectionLostCause('a\nb').split('\n')[0], 'one line');
  });
});
