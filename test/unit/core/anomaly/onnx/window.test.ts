// SlidingWindow.encode(): what a saved device state keeps of the window, oldest first, reads back bit-exact.
import assert from 'node:assert/strict';
import { SlidingWindow } from '../../../../../nodes/core/anomaly/onnx/window';
import { mulberry32 } from '../../../../../nodes/core/prng';
import { decodeRows } from '../../../../../nodes/core/anomaly/onnx/saved-state';

describe('anomaly-onnx SlidingWindow encode()', () => {
  it('gives the steps held oldest first, and pushing them into a new window rebuilds it bit for bit', () => {
    const rand = mulberry32(9);
    for (const pushes of [0, 2, 5, 13]) {
      const w = new SlidingWindow(5, 3);
      for (let s = 0; s < pushes; s++) w.push([(rand() - 0.5) * 1e4, rand() * 1e-6, s]);
      const v = decodeRows(w.encode(), 3, 5) as Float32Array;
      assert.equal(v.length, Math.min(pushes, 5) * 3);
      // oldest first: the third feature counts the pushes
      for (let s = 0; s < v.length / 3; s++) assert.equal(v[s * 3 + 2], Math.max(0, pushes - 5) + s);
      const back = new SlidingWindow(5, 3);
      for (let off = 0; off < v.length; off += 3) back.push(v.subarray(off, off + 3));
      const a = new Float32Array(15);
      const b = new Float32Array(15);
      if (pushes) {
        w.copyTo(a, 0);
        back.copyTo(b, 0);
      }
      assert.deepEqual(b, a, `${pushes} pushes`);
      assert.equal(back.count, w.count);
    }
  });
});
