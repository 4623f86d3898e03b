// Status-dot helper: counts passed/rejected and refreshes the dot at most every 500 ms so a node handling
// thousands of messages per second does not flood the editor's comms channel.
//
// set() also takes a function that builds the status: it is called only when the dot is refreshed, with the
// state of that moment, so a node that reports its counters after every item builds the text at most twice a
// second, not once per item (issue 16, tenth round). The dot still settles on the last state: a pending
// refresh always runs.
import type { NodeStatus, AnyNode } from './red';

export type StatusSource = NodeStatus | (() => NodeStatus);

export class ThrottledStatus {
  private timer: NodeJS.Timeout | null = null;
  private pending: StatusSource | null = null;
  private last = 0;

  constructor(
    private readonly node: AnyNode,
    private readonly intervalMs = 500
  ) {}

  set(status: StatusSource): void {
    this.pending = status;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs - (now - this.last));
    }
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const pending = this.pending;
    if (pending) {
      this.pending = null;
      this.node.status(typeof pending === 'function' ? pending() : pending);
      this.last = Date.now();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
