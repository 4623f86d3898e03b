// Wills (last-will messages) wait a moment before they take a device OFFLINE. A broker that shuts down in order
// (a planned Mosquitto restart) publishes the will of every client it had, the pipeline's subscription receives
// them, and a moment later the broker closes the pipeline's own connection. Taken at once, each will opened a
// critical "device offline" alert, resolved seconds later when the devices reconnected: 8 false incidents in
// the alert history of one restart (operator round 2026-12-07). Held for `graceMs`, the wills that arrived just
// before the pipeline stopped hearing the broker are dropped instead; the devices that really went stay silent
// and time out once the pipeline hears again. A will of a device that dies on its own, with the broker up, takes
// it OFFLINE `graceMs` later, with the will's own time.
//
// Per device at most one will waits (a later one replaces it); a later status or data of the same device
// releases its will first, so their order is kept (data stamped before the will arrived does not: it was sent
// before it). The holds are bounded (a device table's worth): beyond that
// the oldest is released at once rather than refused. Pure: the caller passes the clock and applies what it is
// given, and moves the held times by a step of that clock (shiftTime), as the device table's times are moved.

/**
 * moby-device-health's default grace, s: Mosquitto closes the pipeline's connection milliseconds after the wills
 * of its shutdown, and the node sweeps (and looks whether it hears the broker) every second.
 */
export const DEFAULT_WILL_GRACE_S = 3;

export interface HeldWill<T> {
  readonly id: string;
  /** what the caller needs to apply it (its time, equipment) */
  readonly will: T;
  /** when it arrived (the caller's clock, ms) */
  readonly heldAt: number;
}

export class WillHold<T> {
  /** insertion order = arrival order, so the due ones are at the front */
  private readonly held = new Map<string, HeldWill<T>>();
  readonly graceMs: number;
  readonly max: number;
  /** wills dropped because the pipeline stopped hearing the broker while they waited */
  dropped = 0;

  constructor(graceMs: number, max = 100_000) {
    this.graceMs = Math.max(0, graceMs);
    this.max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.held.size;
  }

  /** Holds a will; returns one to apply now when the bound pushed it out (the oldest), else null. */
  hold(id: string, will: T, now: number): HeldWill<T> | null {
    this.held.delete(id); // a newer will of the same device replaces it and waits from now
    this.held.set(id, { id, will, heldAt: now });
    if (this.held.size <= this.max) return null;
    const oldest = this.held.values().next().value as HeldWill<T>;
    this.held.delete(oldest.id);
    return oldest;
  }

  /**
   * The caller's clock stepped by `deltaMs` (core/clock-step.ts): the held times move with it, so a step back
   * does not hold the wills longer by the step and a step forward does not make them due at once. `moveWill`
   * moves what the will carries too, for a caller whose other times follow the step.
   */
  shiftTime(deltaMs: number, moveWill?: (will: T) => T): void {
    if (deltaMs === 0 || this.held.size === 0) return;
    for (const [id, h] of this.held) {
      this.held.set(id, { id, will: moveWill ? moveWill(h.will) : h.will, heldAt: h.heldAt + deltaMs });
    }
  }

  /**
   * The device's held will, taken out (to apply before a later status or data of it), or null. `sentAt`: data's
   * own stamp. Data stamped before the will arrived was sent before it and leaves it held: a reading in flight on
   * the telemetry path (the verifier and the rest) reached the health node after the will of a broker's shutdown
   * and applied it at once, a critical "offline" alert for 1 of 19 devices (operator round 2026-12-07).
   */
  take(id: string, sentAt?: number): HeldWill<T> | null {
    const h = this.held.get(id);
    if (!h || (sentAt !== undefined && sentAt < h.heldAt)) return null;
    this.held.delete(id);
    return h;
  }

  /**
   * At `now`: while the pipeline hears the broker, the wills that have waited `graceMs`, in arrival order; while
   * it does not, none, and every held will is dropped (counted).
   */
  due(now: number, listening: boolean): HeldWill<T>[] {
    if (!listening) {
      this.dropped += this.held.size;
      this.held.clear();
      return [];
    }
    const out: HeldWill<T>[] = [];
    for (const h of this.held.values()) {
      if (now - h.heldAt < this.graceMs) break;
      out.push(h);
    }
    for (const h of out) this.held.delete(h.id);
    return out;
  }
}
