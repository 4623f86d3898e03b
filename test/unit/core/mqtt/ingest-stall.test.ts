// core/mqtt/ingest-stall.ts: when a durable source counts as unable to hear its devices.
import assert from 'node:assert/strict';
import { sourceCanHear, STALL_GRACE_MS } from '../../../../nodes/core/mqtt/ingest-stall';

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
});
