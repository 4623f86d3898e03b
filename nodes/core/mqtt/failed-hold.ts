// Messages a node failed on (done(err): a full disk, a journal that cannot be written) are not acknowledged,
// and MQTT 3.1.1 has the broker send an unacknowledged message again only on a new connection. Meanwhile each
// of them holds one of the broker's in-flight slots for the session (Mosquitto max_inflight_messages): left
// alone they pile up until the broker sends nothing more, and even once the cause is gone nothing moves until
// something reconnects (seen by hand: 26 failed messages stopped a broker limited to 20 for good, devices
// still sending went TIMEOUT). FailedHold counts them per connection, so the source can count them as held,
// and says when to reconnect to have them redelivered: once they take half the window, or once the oldest has
// waited `maxWaitMs` (a few failures are retried too, not only many). A reconnect while the cause lasts fails
// them again; the wait bounds that to one reconnect per `maxWaitMs` unless failures are fast.

export class FailedHold {
  private n = 0;
  private since = 0;

  constructor(
    private readonly window: number,
    private readonly maxWaitMs = 30000
  ) {}

  /** failed messages of the current connection, not acknowledged */
  get count(): number {
    return this.n;
  }

  /** `messages` failed at `now` (ms) on the current connection. */
  add(messages: number, now: number): void {
    if (messages <= 0) return;
    if (this.n === 0) this.since = now;
    this.n += messages;
  }

  /** A new connection: the broker sends them again on it, so none is held any more. */
  reset(): void {
    this.n = 0;
  }

  /** Whether to reconnect now to have them redelivered. */
  due(now: number): boolean {
    return this.n > 0 && (this.n * 2 >= this.window || now - this.since >= this.maxWaitMs);
  }
}
