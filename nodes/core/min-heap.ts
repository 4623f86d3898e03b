// A binary min-heap ordered by `less`. Pure; used where a bounded structure must hand out its smallest item
// without sorting the whole: the mute table's expiries and its k-way merge of per-tenant sorted lists
// (core/alert/mute.ts).
export class MinHeap<T> {
  private readonly items: T[];

  /** `items` (taken over, not copied) are put in heap order at once, in O(n). */
  constructor(
    private readonly less: (a: T, b: T) => boolean,
    items: T[] = []
  ) {
    this.items = items;
    for (let i = (items.length >>> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (!this.less(h[i], h[p])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  pop(): T | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length && last !== undefined) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  /** The top item was changed in place to a larger one: restores the order. */
  topChanged(): void {
    this.down(0);
  }

  private down(i: number): void {
    const h = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
