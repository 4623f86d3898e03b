// The verify node's summary of refusals (core/hmac/reject-tally.ts): every code with its count and last device,
// so a summary names each misbehaving device, not only the last refused message's.
import assert from 'node:assert/strict';
import { RejectTally } from '../../../../nodes/core/hmac/reject-tally';

describe('RejectTally', () => {
  it('counts each code with its last device, most frequent first, and starts again after take()', () => {
    const t = new RejectTally();
    for (let i = 0; i < 3; i++) t.note('bad_signature', 'pump-013');
    t.note('replay', 'fan-015');
    t.note('malformed', undefined);
    t.note('replay', 'fan-016');
    t.note('bad_signature', 'pump-014');
    assert.equal(t.take(), 'bad_signature 4 (last: pump-014), replay 2 (last: fan-016), malformed 1 (last: a client)');
    assert.equal(t.take(), '', 'nothing since');
    t.note('unknown_key', 'ghost-1');
    assert.equal(t.take(), 'unknown_key 1 (last: ghost-1)');
  });

  it('orders codes of equal counts by name, so the line reads the same every time', () => {
    const t = new RejectTally();
    t.note('replay', 'a');
    t.note('bad_signature', 'b');
    assert.equal(t.take(), 'bad_signature 1 (last: b), replay 1 (last: a)');
  });
});
