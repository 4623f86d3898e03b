// Steps of the host's wall clock (NTP correcting it, an operator setting it, a VM resumed with its old time).
// The wall clock and a monotonic one advance alike — an event-loop stall delays both — so the difference
// between them moves only when the wall clock is set. Components whose deadlines are wall-clock times
// (device-health timeouts, alert escalation and reminders) look before they read the time and move the times
// they hold by the step, so a step is neither counted as elapsed time nor hides it.
import { performance } from 'node:perf_hooks';

/** Default: a difference of 2 s between the clocks is a step (NTP slews at most 0.5 ms/s) */
export const CLOCK_STEP_MS = 2000;

export class ClockStepDetector {
  /** wall minus monotonic time at the last look (NaN: not looked yet) */
  private offset = NaN;
  /** steps seen so far */
  steps = 0;

  constructor(
    private readonly wall: () => number = Date.now,
    private readonly monotonic: () => number = () => performance.now(),
    private readonly thresholdMs = CLOCK_STEP_MS
  ) {}

  /**
   * The detector for a component whose wall clock may be injected (`now`, default Date.now) against
   * `monotonic` (default performance.now). An injected `now` without a monotonic clock (tests moving time by
   * hand) is compared with itself, so it is never taken for a step.
   */
  static of(now?: () => number, monotonic?: () => number, thresholdMs?: number): ClockStepDetector {
    const wall = now ?? Date.now;
    return new ClockStepDetector(wall, now && !monotonic ? wall : monotonic, thresholdMs);
  }

  /** How far the wall clock stepped since the last look (ms, negative = back), or 0. Two clock reads. */
  look(): number {
    const offset = this.wall() - this.monotonic();
    const before = this.offset;
    this.offset = offset;
    if (before !== before) return 0;
    const delta = offset - before;
    if (delta < this.thresholdMs && delta > -this.thresholdMs) return 0;
    this.steps++;
    return delta;
  }
}
