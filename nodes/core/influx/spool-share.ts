// Each device's share of a writer's disk spool. The spool has one byte bound per writer and drops whole oldest
// segments at it, every device's points together. A device with a valid key that sends at its rate limit, each
// message as wide as the caps allow (100 messages/s of 250 fields), filled a 256 MiB spool in 3.5 minutes of a
// database outage, and from then on every one of its appends pushed out its neighbours' oldest points: 27,458
// points of every device dropped (red-team round 2026-12-06).
//
// So once the spool is more than half full, the lines of a device that holds more than `factor` (2) times the even
// share of what is attributed (attributed bytes / devices attributed) are not spooled: that device loses its own
// newest points instead of pushing out everyone's oldest. Only from half: the bound drops whole oldest segments,
// which hold every device's points, so a flooder allowed up to the bound had already won (a first version checked
// only at the bound: honest devices kept 10,400 of 24,000 points, red-team round 2). Below half nothing changes,
// and a fleet of equal devices never reaches twice its even share, so it keeps the spool's rule (the newest data is
// the most valuable) as before. The price: a device well above its fleet's average (3× the even share, say) loses
// its newest points once the spool is half full, where before the bound took everyone's oldest.
// Dropped lines are counted (the writer's `droppedOverShare`, with the last such device) and acknowledged to their
// source like points the bound dropped: refusing them would have the broker deliver them again and again.
//
// What a device holds is estimated, not read back from disk: each append adds its lines' lengths to its device, and
// when the spool shrinks (acknowledged replays, segments dropped at the bound) every device's count shrinks in
// proportion. Points spooled before a restart are attributed to nobody (they count in the spool's size, not in any
// share), and so are lines without a device_id tag (a flow's own measurements: never refused). At most
// `maxDevices` devices are tracked (the least recently appended forgotten first): an untracked
// device is never refused.
import { BoundedMap } from '../bounded-map';

export interface SpoolShareOptions {
  /** a device is over its share above this many times the even share (default 2) */
  factor?: number;
  /** devices tracked at once (default 100,000) */
  maxDevices?: number;
}

export class SpoolShare {
  private readonly factor: number;
  private readonly held: BoundedMap<string, number>;
  /** attributed bytes, all devices together */
  private attributed = 0;

  constructor(o: SpoolShareOptions = {}) {
    this.factor = Math.max(1, o.factor ?? 2);
    this.held = new BoundedMap(Math.max(1, Math.floor(o.maxDevices ?? 100_000)));
  }

  /** the bytes attributed to devices */
  get total(): number {
    return this.attributed;
  }

  /** devices holding attributed bytes */
  get devices(): number {
    return this.held.size;
  }

  /** What `device` is estimated to hold in the spool (bytes). */
  bytesOf(device: string): number {
    return this.held.get(device) ?? 0;
  }

  /** `bytes` of `device` went into the spool. */
  note(device: string, bytes: number): void {
    if (!(bytes > 0)) return;
    const dropped = this.held.put(device, (this.held.get(device) ?? 0) + bytes);
    this.attributed += bytes;
    if (dropped) this.attributed -= dropped[1];
  }

  /** Whether `device` holds more than `factor` times the even share: its lines are not spooled (past half the bound). */
  overShare(device: string): boolean {
    const n = this.held.size;
    if (n < 2) return false;
    return this.bytesOf(device) > (this.factor * this.attributed) / n;
  }

  /** The spool now holds `spoolBytes`: every device's estimate shrinks in proportion when it holds less. */
  fit(spoolBytes: number): void {
    if (this.attributed <= spoolBytes) return;
    if (spoolBytes <= 0) {
      this.held.clear();
      this.attributed = 0;
      return;
    }
    const k = spoolBytes / this.attributed;
    let sum = 0;
    // over a copy: setting a key of a Map while iterating it moves the key last, where the loop meets it again
    for (const [device, bytes] of [...this.held]) {
      const v = bytes * k;
      this.held.set(device, v); // a key it has: nothing is evicted (the order is only for eviction)
      sum += v;
    }
    this.attributed = sum;
  }
}
