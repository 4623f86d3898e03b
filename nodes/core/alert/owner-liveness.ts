// Which MOBY instances of a cluster are still alive, as each one sees the others (docs/scale-out.md).
//
// An instance that hangs or dies with nothing restarting it used to be told by nobody: the others kept showing its
// devices as it last published them (ONLINE, with an ageing last_seen) and raised nothing, so a third of a
// 3-instance fleet went unwatched while the fleet view looked fine (cluster round 2026-12-07, a SIGSTOP of 45 s).
//
// Each instance counts a beat in Redis every tick (a hash: owner → counter). A reader keeps, per owner, the last
// counter and when (by its own clock) it last changed: an owner whose counter has not moved for `silentMs` is
// silent. Counters, not timestamps, so the instances' clocks need not agree.
//
// One report per silent owner, not one per live instance: only the live instance with the smallest name reports
// (the others would page the same news again). If it dies too, the next smallest one reports from its next tick.

/** The Redis hash of the instances' beat counters (owner → counter). */
export const INSTANCES_ALIVE_KEY = 'moby:instances:alive';
/** The rule of the alert that an instance is silent (device id `instance@<owner>`). */
export const INSTANCE_SILENT_RULE = 'instance_silent';
/** Default silence before an instance counts as silent: 15 beats of 2 s. */
export const INSTANCE_SILENT_MS = 30_000;

export interface SilentOwner {
  owner: string;
  /** ms since its counter last moved, as this instance saw it */
  silentMs: number;
}

export class OwnerLiveness {
  /** per owner: its last counter, when it last changed, and whether it moved since it was first seen */
  private readonly seen = new Map<string, { beat: string; changedAt: number; moved: boolean }>();

  constructor(
    readonly self: string,
    readonly silentMs = INSTANCE_SILENT_MS
  ) {}

  /** The beat counters read from Redis at `now` (ms, this instance's clock). */
  observe(beats: Record<string, string>, now: number): void {
    for (const [owner, beat] of Object.entries(beats)) {
      const s = this.seen.get(owner);
      if (!s) this.seen.set(owner, { beat, changedAt: now, moved: false });
      else if (s.beat !== beat) this.seen.set(owner, { beat, changedAt: now, moved: true });
    }
    // an owner whose entry was removed (a stop in order) is forgotten: it left, it did not fall silent
    for (const owner of [...this.seen.keys()]) if (!(owner in beats)) this.seen.delete(owner);
  }

  /**
   * Forgets what was seen: after this instance could not read the beats (Redis down), a counter that has not moved
   * since before that says nothing about its owner, whose beats could not reach Redis either.
   */
  reset(): void {
    this.seen.clear();
  }

  /** The other owners not heard for `silentMs`, longest silent first. */
  silent(now: number): SilentOwner[] {
    const out: SilentOwner[] = [];
    for (const [owner, s] of this.seen)
      if (this.silentFor(owner, s, now)) out.push({ owner, silentMs: now - s.changedAt });
    return out.sort((a, b) => b.silentMs - a.silentMs);
  }

  /** One rule for every question: another owner whose counter has not moved for `silentMs`. */
  private silentFor(owner: string, s: { changedAt: number } | undefined, now: number): boolean {
    return owner !== this.self && s !== undefined && now - s.changedAt >= this.silentMs;
  }

  /**
   * What is known of an owner: `silent`; `heard` (its counter moved within the silence); `gone` (it left in order,
   * or was never seen); `unknown` (seen, not moved yet: just after this instance started or Redis came back).
   */
  stateOf(owner: string, now: number): 'silent' | 'heard' | 'gone' | 'unknown' {
    const s = this.seen.get(owner);
    if (!s) return 'gone';
    if (this.silentFor(owner, s, now)) return 'silent';
    return s.moved ? 'heard' : 'unknown';
  }

  isSilent(owner: string, now: number): boolean {
    return this.silentFor(owner, this.seen.get(owner), now);
  }

  /** Whether this instance reports the silent ones: the smallest name among the owners still heard (itself too). */
  reports(now: number): boolean {
    for (const [owner, s] of this.seen) if (owner < this.self && now - s.changedAt < this.silentMs) return false;
    return true;
  }
}
