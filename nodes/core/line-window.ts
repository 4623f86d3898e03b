// A log for a problem that repeats once per message (a full disk fails every message that reaches the node):
// the first `linesPerWindow` lines of an episode are logged one by one, the rest are only counted, and at the
// end of every window that counted some `summary()` returns them as one line (how many, and the last one).
// While the episode goes on, later windows log no single lines, only their summary; a window without any line
// ends the episode. So an episode costs a few lines and one line per window instead of one per message, and
// nothing goes unsaid.

export interface LineWindowOptions {
  /** lines logged one by one at the start of an episode (default 3) */
  linesPerWindow?: number;
  /** length of a window in ms (default 10,000) */
  windowMs?: number;
}

export class LineWindow {
  private readonly linesPerWindow: number;
  readonly windowMs: number;
  private windowStart = -Infinity;
  private logged = 0;
  private unlogged = 0;
  private lastUnlogged = '';

  constructor(o: LineWindowOptions = {}) {
    this.linesPerWindow = Math.max(0, Math.floor(o.linesPerWindow ?? 3));
    this.windowMs = Math.max(1, o.windowMs ?? 10000);
  }

  /** Counts one line at `now` (ms); returns it when it is to be logged now, null when it is only counted. */
  note(line: string, now: number): string | null {
    if (now - this.windowStart >= this.windowMs && this.unlogged === 0) {
      // a new episode (or the first line after a quiet window) starts its own window
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged < this.linesPerWindow) {
      this.logged++;
      return line;
    }
    this.unlogged++;
    this.lastUnlogged = line;
    return null;
  }

  /**
   * At `now` (ms), once the window that counted lines without logging them is over: how many there were and
   * the last one (then a new window starts); otherwise null. Call it from a timer, so the count is told also
   * when no further line comes.
   */
  summary(now: number): { unlogged: number; last: string; windowMs: number } | null {
    if (this.unlogged === 0 || now - this.windowStart < this.windowMs) return null;
    const s = { unlogged: this.unlogged, last: this.lastUnlogged, windowMs: now - this.windowStart };
    this.unlogged = 0;
    this.lastUnlogged = '';
    this.windowStart = now;
    this.logged = this.linesPerWindow; // the episode goes on: its next lines are counted into the next summary
    return s;
  }
}
