// Status-dot helper: counts passed/rejected and refreshes the dot at most every 500 ms so a node handling
// thousands of messages per second does not flood the editor's comms channel.
import type { NodeStatus, AnyNode } from './red';

export class ThrottledStatus {
  private timer: NodeJS.Timeout | null = null;
  private pending: NodeStatus | null = null;
  private last = 0;

  constructor(
    private readonly node: AnyNode,
    private readonly intervalMs = 500
  ) {}

  set(status: NodeStatus): void {
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
    if (this.pending) {
      this.node.status(this.pending);
      this.pending = null;
      this.last = Date.now();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
