// The embedded broker's bound on what it sends the pipeline without an acknowledgement (scripts/lib/
// embedded-broker.js). aedes writes every QoS 1 message to a subscriber as soon as the socket takes it, however far
// the subscriber is behind, and keeps each one in a list it scans from the start on every send and every PUBACK
// (16 % of the broker's time in a profile at 8,000 simulated devices, where `npm start` grew to 4 GB); past
// 65,535 unacknowledged it would reuse packet ids still in use. Mosquitto bounds the same thing with
// max_inflight_messages and queues the rest; this gate does it for aedes, at the pipeline node's window.
// Pure: the adapter says when a delivery would start, when a message was sent and when one was acknowledged.

/** A delivery waiting for room: `start` sends it, `skip` gives up its turn without sending. */
interface Parked {
  start: () => void;
  skip: () => void;
  /** the connection it was to go out on */
  owner: unknown;
}

/** What the broker sends the pipeline unacknowledged by default: the pipeline node's own window. */
export const EMBEDDED_BROKER_MAX_INFLIGHT = 1000;

/**
 * At most `max` deliveries started or sent and not yet acknowledged; the others wait in arrival order. Keyed by
 * message (its packet id to the pipeline), so a message sent again (a reconnect resends what is unacknowledged)
 * holds one slot, and an acknowledgement of a message the gate never saw frees none.
 */
export class InflightGate {
  /** messages written to the pipeline and not acknowledged */
  private readonly unacked = new Set<string>();
  /** deliveries started and not yet finished (written, or dropped by the broker without a write) */
  private starting = 0;
  private parked: Parked[] = [];
  private head = 0;

  constructor(readonly max = EMBEDDED_BROKER_MAX_INFLIGHT) {
    if (!(max >= 1)) throw new Error('max in flight must be at least 1');
  }

  get inflight(): number {
    return this.unacked.size + this.starting;
  }

  get waiting(): number {
    return this.parked.length - this.head;
  }

  /**
   * Starts a delivery now when there is room, else when an acknowledgement makes room. `start` receives the
   * callback to call once the delivery has finished (the message written, or not sent at all).
   */
  admit(start: (finished: () => void) => void, skip: () => void, owner?: unknown): void {
    const run = () => {
      this.starting++;
      let once = false;
      start(() => {
        if (once) return;
        once = true;
        this.starting--;
        this.pump();
      });
    };
    if (this.waiting === 0 && this.inflight < this.max) run();
    else this.parked.push({ start: run, skip, owner });
  }

  /** A message was written to the pipeline (with a packet id): it holds a slot until acknowledged. */
  sent(key: string): void {
    this.unacked.add(key);
  }

  /** The pipeline acknowledged a message: its slot goes to the longest waiting delivery. */
  acked(key: string): void {
    if (this.unacked.delete(key)) this.pump();
  }

  /**
   * A connection closed: its waiting deliveries give up their turn (their messages are in the session, which
   * resends them when the pipeline connects again). Deliveries of another connection (the one that took the
   * session over) keep theirs; the unacknowledged messages stay counted until acknowledged.
   */
  abandonWaiting(owner?: unknown): number {
    const waiting = this.parked.slice(this.head);
    const gone = waiting.filter((p) => p.owner === owner);
    this.parked = waiting.filter((p) => p.owner !== owner);
    this.head = 0;
    for (const p of gone) p.skip();
    this.pump();
    return gone.length;
  }

  private pump(): void {
    while (this.waiting > 0 && this.inflight < this.max) {
      const next = this.parked[this.head++];
      if (this.head > 1024 && this.head * 2 > this.parked.length) {
        this.parked = this.parked.slice(this.head);
        this.head = 0;
      }
      next.start();
    }
  }
}
