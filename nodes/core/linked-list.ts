// An intrusive doubly-linked list: the items carry their own prev/next pointers, so a bounded table can keep
// its entries in recency order beside a Map (or without one) and relink, append or drop an entry in O(1) with
// no allocation and no hash operation. Used where the least recently active entry has to be found at once:
// the anomaly node's device states (anomaly/device-states.ts) and the embedded broker's connection table
// (mqtt/connection-table.ts).

/** What an item of an IntrusiveList carries; the list owns these two fields while the item is in it. */
export interface Linked<T> {
  prev: T | null;
  next: T | null;
}

/** Items from head (oldest appended) to tail (newest). An item is in at most one list at a time. */
export class IntrusiveList<T extends Linked<T>> {
  head: T | null = null;
  tail: T | null = null;
  size = 0;

  /** Appends `item` at the tail (it must not be in a list). */
  push(item: T): void {
    item.prev = this.tail;
    item.next = null;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.size++;
  }

  /** Unlinks `item`, which must be in this list. */
  remove(item: T): void {
    if (item.prev) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.prev = item.prev;
    else this.tail = item.prev;
    item.prev = item.next = null;
    this.size--;
  }

  /** Moves `item` (in this list) to the tail: the most recent. */
  moveToTail(item: T): void {
    if (this.tail === item) return;
    this.remove(item);
    this.push(item);
  }

  /** Forgets every item (their pointers are left as they are: the caller drops the items too). */
  clear(): void {
    this.head = this.tail = null;
    this.size = 0;
  }
}
