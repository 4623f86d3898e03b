// What the verify and normalize nodes' logs say of the refusals between two of their summary lines
// (nodes/hmac/moby-hmac.ts, nodes/normalize/moby-normalize.ts): how many of each code and the last device of each.
// A summary with a total and the last line only named one device a minute: with three devices misbehaving (a
// forger, a replayer, a malformed sender), the replayer was never named in fifteen minutes of log (verification
// round 2026-12-07). Pure; codes are the node's own (a few dozen at most), so the map stays small.
import { LineWindow } from './line-window';

export class RejectTally {
  private readonly byCode = new Map<string, { count: number; last: string }>();

  /** One refusal not logged on its own: its code and the device it names (a claimed id; none for some codes). */
  note(code: string, deviceId: string | undefined): void {
    const device = deviceId ?? 'a client';
    const t = this.byCode.get(code);
    if (t) {
      t.count++;
      t.last = device;
    } else this.byCode.set(code, { count: 1, last: device });
  }

  /**
   * What was noted since the last call, most frequent code first (`bad_signature 140 (last: pump-013), replay 80
   * (last: fan-015)`), or '' when nothing was; starts a new tally.
   */
  take(): string {
    const parts = [...this.byCode.entries()]
      .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
      .map(([code, t]) => `${code} ${t.count} (last: ${t.last})`);
    this.byCode.clear();
    return parts.join(', ');
  }
}

/**
 * A node's log of refused messages: the first refusal of an episode is logged on its own, the rest are counted by
 * code and device into one summary a window (default a minute) while the episode lasts (LineWindow + RejectTally).
 * Call `summary` from a timer, so the count is told also when no further refusal comes.
 */
export class RejectLog {
  private readonly lines: LineWindow;
  private readonly tally = new RejectTally();

  constructor(o: { linesPerWindow?: number; windowMs?: number } = {}) {
    this.lines = new LineWindow({ linesPerWindow: o.linesPerWindow ?? 1, windowMs: o.windowMs ?? 60_000 });
  }

  /** One refusal at `now`: `line` when it is to be logged now, else null (counted under `code` and the device). */
  note(line: string, code: string, deviceId: string | undefined, now: number): string | null {
    const out = this.lines.note(line, now);
    if (out === null) this.tally.note(code, deviceId);
    return out;
  }

  /** Counts a refusal already told another way (its own warning) into the summary, without a line of its own. */
  count(code: string, deviceId: string | undefined, now: number): void {
    if (this.lines.note('', now) !== null) return; // the episode's one line was spent on nothing: it was told
    this.tally.note(code, deviceId);
  }

  /**
   * Once a window that counted refusals is over: how many, over how long, and per code its count and last device
   * (`bad_signature 140 (last: pump-013), replay 80 (last: fan-015)`); otherwise null.
   */
  summary(now: number): { unlogged: number; windowMs: number; byCode: string } | null {
    const s = this.lines.summary(now);
    return s ? { unlogged: s.unlogged, windowMs: s.windowMs, byCode: this.tally.take() } : null;
  }

  /** The summary as the nodes log it, or null (see summary). */
  summaryLine(now: number): string | null {
    const s = this.summary(now);
    return s
      ? `${s.unlogged} more message(s) rejected in the last ${Math.round(s.windowMs / 1000)} s (moby_rejects_total counts them): ${s.byCode}`
      : null;
  }
}
