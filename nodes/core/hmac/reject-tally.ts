// What the verify node's log says of the refusals between two of its summary lines (nodes/hmac/moby-hmac.ts):
// how many of each code and the last device of each. A summary with a total and the last line only named one
// device a minute: with three devices misbehaving (a forger, a replayer, a malformed sender), the replayer was
// never named in fifteen minutes of log (verification round 2026-12-07). Pure; codes are the verifier's own
// (a handful), so the map stays small.

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
