// The verify and normalize nodes' summary of refusals (core/reject-tally.ts): every code with its count and last device,
// so a summary names each misbehaving device, not only the last refused message's.
import assert from 'node:assert/strict';
import { RejectLog, RejectTally } from '../../../nodes/core/reject-tally';

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

describe('RejectLog', () => {
  it('logs the first refusal of an episode, counts the rest by code into one summary a window, and a quiet window ends the episode', () => {
    const log = new RejectLog({ windowMs: 60_000 });
    assert.equal(log.note('pump-7: first', 'future_timestamp', 'pump-7', 0), 'pump-7: first');
    for (let i = 1; i <= 3; i++) assert.equal(log.note(`pump-7: ${i}`, 'future_timestamp', 'pump-7', i * 1000), null);
    assert.equal(log.note('fan-3: x', 'bad_field_name', 'fan-3', 5000), null);
    assert.equal(log.summary(30_000), null, 'not before the window is over');
    assert.deepEqual(log.summary(60_000), {
      unlogged: 4,
      windowMs: 60_000,
      byCode: 'future_timestamp 3 (last: pump-7), bad_field_name 1 (last: fan-3)',
    });
    // the episode goes on: no single line, only the next summary
    assert.equal(log.note('pump-7: again', 'future_timestamp', 'pump-7', 70_000), null);
    assert.equal(
      log.summaryLine(120_000),
      '1 more message(s) rejected in the last 60 s (moby_rejects_total counts them): future_timestamp 1 (last: pump-7)'
    );
    assert.equal(log.summary(180_000), null, 'a quiet window');
    assert.equal(log.note('pump-7: later', 'future_timestamp', 'pump-7', 250_000), 'pump-7: later', 'a new episode');
  });

  it('count(): a refusal told by its own warning spends the line of a new episode, and is only counted otherwise', () => {
    const log = new RejectLog({ windowMs: 60_000 });
    log.count('schema_churn', 'pump-7', 0);
    assert.equal(log.note('pump-7: next', 'schema_churn', 'pump-7', 1000), null, 'the warning was the line');
    log.count('schema_churn', 'pump-8', 2000);
    assert.equal(log.summary(60_000)!.byCode, 'schema_churn 2 (last: pump-8)');
  });
});
