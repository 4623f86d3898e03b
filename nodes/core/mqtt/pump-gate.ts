// Back-pressure for a source that reads from a broker which may send more than the source's in-flight window
// (a broker without an in-flight limit, e.g. aedes, or one that redelivers a resumed session's messages while
// the old connection's are still being stored). Pure logic: the Node-RED adapter (nodes/mqtt) hands it the
// packet pump's continuation after each incoming message and tells it whenever the load may have dropped.
//
// The load is everything the source holds unacknowledged: messages tracked by the settle tracker and
// messages waiting in unsent batches (docs/batch-mode.md). The gate pauses when the load goes beyond the
// window and resumes as soon as it is back within it, whatever made it drop: a tracked message settling, an
// overdue one being forgotten, a partial batch being dropped with its connection. (Resuming only when the
// tracker itself had been full missed pauses caused by buffered items, and the source stalled for good.)
// Only beyond the window, never at it: a broker that keeps its in-flight limit at the window never pauses
// the pump.

export class PumpGate {
  readonly window: number;
  private readonly load: () => number;
  private readonly held: Array<() => void> = [];

  /** `load`: the messages held unacknowledged right now (tracked + buffered). */
  constructor(window: number, load: () => number) {
    this.window = Math.max(1, Math.floor(window));
    this.load = load;
  }

  /** Whether a packet pump continuation is being held. */
  get paused(): boolean {
    return this.held.length > 0;
  }

  /** A message was taken in: continue the pump now, or hold `next` until the load is within the window. */
  admit(next: () => void): void {
    if (this.held.length > 0 || this.load() > this.window) this.held.push(next);
    else next();
  }

  /** The load may have dropped: continue held pumps while it is within the window. Cheap when not paused. */
  check(): void {
    while (this.held.length > 0 && this.load() <= this.window) this.held.shift()!();
  }

  /** Lets every held continuation go (the connection is gone: its pump is superseded; or closing). */
  releaseAll(): number {
    const cbs = this.held.splice(0);
    for (const cb of cbs) cb();
    return cbs.length;
  }
}
