// core/alert/owner-liveness.ts: which instances of a cluster still beat, as one instance sees the others, and which
// one of the live instances reports the silent ones (cluster round 2026-12-07: a hung instance was told by nobody).
import assert from 'node:assert/strict';
import { OwnerLiveness } from '../../../../nodes/core/alert/owner-liveness';

const S = 1000;

describe('OwnerLiveness', () => {
  it('an owner whose counter stops moving for the silence is silent, by this instance’s clock; it is heard again when it moves', () => {
    const l = new OwnerLiveness('moby-0', 30 * S);
    l.observe({ 'moby-0': '1', 'moby-1': '7', 'moby-2': '3' }, 0);
    for (let t = 2; t <= 40; t += 2) l.observe({ 'moby-0': String(t), 'moby-1': String(7 + t), 'moby-2': '3' }, t * S);
    assert.deepEqual(l.silent(29 * S), [], 'not before 30 s');
    assert.deepEqual(l.silent(40 * S), [{ owner: 'moby-2', silentMs: 40 * S }]);
    assert.equal(l.isSilent('moby-2', 40 * S), true);
    assert.equal(l.isSilent('moby-1', 40 * S), false);
    assert.equal(l.isSilent('moby-0', 400 * S), false, 'never itself');
    // counters, not timestamps: another instance's clock does not matter, only that its counter moves
    l.observe({ 'moby-0': '42', 'moby-1': '49', 'moby-2': '4' }, 42 * S);
    assert.deepEqual(l.silent(42 * S), []);
  });

  it('what is known of an owner: unknown until its counter moves, heard, silent, gone; a reset (Redis was down) starts over', () => {
    const l = new OwnerLiveness('a', 10 * S);
    l.observe({ a: '1', b: '5' }, 0);
    assert.equal(l.stateOf('b', 1 * S), 'unknown', 'not moved yet: an alert restored for it stays');
    l.observe({ a: '2', b: '6' }, 2 * S);
    assert.equal(l.stateOf('b', 2 * S), 'heard');
    assert.equal(l.stateOf('b', 12 * S), 'silent');
    // Redis was down for a minute: b's counter has not moved since, but neither could anyone's
    l.reset();
    l.observe({ a: '3', b: '6' }, 70 * S);
    assert.equal(l.stateOf('b', 70 * S), 'unknown');
    assert.deepEqual(l.silent(70 * S), [], 'not silent at once after the outage');
    assert.deepEqual(
      l.silent(80 * S).map((x) => x.owner),
      ['b'],
      'silent once it has not moved for the silence since'
    );
    l.observe({ a: '4' }, 81 * S);
    assert.equal(l.stateOf('b', 81 * S), 'gone');
  });

  it('an owner that left in order (its entry removed) is forgotten, not silent', () => {
    const l = new OwnerLiveness('a', 10 * S);
    l.observe({ a: '1', b: '1' }, 0);
    l.observe({ a: '2' }, 5 * S);
    assert.deepEqual(l.silent(60 * S), []);
  });

  it('only the live instance with the smallest name reports; when it falls silent the next one does', () => {
    const beats = (t: number, alive: string[]) =>
      Object.fromEntries(['a', 'b', 'c'].map((o) => [o, alive.includes(o) ? String(t) : '0']));
    const a = new OwnerLiveness('a', 10 * S);
    const b = new OwnerLiveness('b', 10 * S);
    for (const l of [a, b]) l.observe(beats(0, ['a', 'b', 'c']), 0);
    for (let t = 1; t <= 12; t++) for (const l of [a, b]) l.observe(beats(t, ['a', 'b']), t * S); // c hangs
    assert.deepEqual(
      b.silent(12 * S).map((s) => s.owner),
      ['c']
    );
    assert.equal(a.reports(12 * S), true);
    assert.equal(b.reports(12 * S), false, 'a reports it: one alert, not two');
    for (let t = 13; t <= 30; t++) b.observe(beats(t, ['b']), t * S); // a hangs too
    assert.equal(b.reports(30 * S), true);
    assert.deepEqual(
      b.silent(30 * S).map((s) => s.owner),
      ['c', 'a']
    );
  });
});
