// LineWindow (nodes/core/line-window.ts): a problem that repeats per message is logged a few times, then
// counted and told once per window; a quiet window ends the episode.
import assert from 'node:assert/strict';
import { LineWindow } from '../../../nodes/core/line-window';

describe('LineWindow (log a per-message problem once per window)', () => {
  it('logs the first lines of an episode, counts the rest and tells them once the window is over', () => {
    const w = new LineWindow({ linesPerWindow: 2, windowMs: 10000 });
    const logged = Array.from({ length: 50 }, (_, i) => w.note(`m${i}`, 1000 + i * 100)).filter((l) => l !== null);
    assert.deepEqual(logged, ['m0', 'm1']);
    assert.equal(w.summary(5000), null, 'the window is not over yet');
    assert.deepEqual(w.summary(11000), { unlogged: 48, last: 'm49', windowMs: 10000 });
    assert.equal(w.summary(11500), null, 'told once');
  });

  it('while the episode goes on, later windows log no single line, only their summary', () => {
    const w = new LineWindow({ linesPerWindow: 1, windowMs: 1000 });
    assert.equal(w.note('a', 0), 'a');
    assert.equal(w.note('b', 10), null);
    assert.equal(w.summary(1000)?.unlogged, 1);
    assert.equal(w.note('c', 1100), null, 'same episode: counted');
    assert.equal(w.note('d', 1200), null);
    assert.deepEqual(w.summary(2000), { unlogged: 2, last: 'd', windowMs: 1000 });
  });

  it('a window without any line ends the episode: the next one is logged again', () => {
    const w = new LineWindow({ linesPerWindow: 1, windowMs: 1000 });
    assert.equal(w.note('a', 0), 'a');
    assert.equal(w.note('b', 10), null);
    assert.equal(w.summary(1000)?.unlogged, 1);
    assert.equal(w.summary(2000), null, 'nothing counted in this window');
    assert.equal(w.note('later', 2500), 'later', 'a new episode');
  });
});
