// How far behind the devices the pipeline hears them. A device's last-seen time is its message's own time
// (when plausible), so when messages arrive late — a broker or a flow behind its input, a backlog delivered
// after a restart — every device looks silent by that lag, and a sweep against the wall clock timed out the
// whole fleet as soon as the lag passed the timeout (measured: `npm start` on Mosquitto with 15,000 devices,
// more than two cores carry: all 15,000 TIMEOUT and 1,000+ device_offline alerts while every device kept
// sending; docs/device-health.md). The sweep
// therefore measures silence up to the time the pipeline has heard to: the wall clock minus the smallest lag
// among the messages of the last few seconds.
//
// Why the smallest: the freshest message says how far the pipeline has got, and one device cannot raise the
// minimum of the whole fleet's lags — a device whose clock is behind looks late only itself. A device whose
// clock is ahead has a negative lag, which makes the estimate 0: the sweep is then the wall clock's, as before
// this existed. A message whose time was not plausible is stamped with its receive time (lag exactly 0) and
// says nothing about the pipeline, so a lag of 0 is not taken. The lag is at most the clock skew the reader
// accepts (older message times are replaced by the receive time), so a dead device is reported at most that
// much later; that happens only while every device still heard is that late (a fleet that died but for one
// device whose clock is behind). With no message for two windows the lag is 0.

/** Window of one bucket (ms); the estimate covers the last one to two buckets. */
export const INGEST_LAG_BUCKET_MS = 2500;

export class IngestLag {
  private current = Infinity;
  private previous = Infinity;
  private bucketStart = -Infinity;

  constructor(private readonly bucketMs = INGEST_LAG_BUCKET_MS) {}

  /** One message received at `now` that the device stamped `lagMs` earlier. */
  note(lagMs: number, now: number): void {
    if (now - this.bucketStart >= this.bucketMs) this.roll(now);
    if (lagMs !== 0 && lagMs < this.current) this.current = lagMs;
  }

  /** The smallest lag of the last one to two buckets, ms; 0 without one, or when it is negative. */
  estimate(now: number): number {
    if (now - this.bucketStart >= this.bucketMs) this.roll(now);
    const m = this.current < this.previous ? this.current : this.previous;
    return m === Infinity || m < 0 ? 0 : m;
  }

  /** Forgets what was seen (the host's clock stepped: lags measured across the step mean nothing). */
  reset(): void {
    this.current = this.previous = Infinity;
    this.bucketStart = -Infinity;
  }

  private roll(now: number): void {
    // a bucket older than one window ago says nothing about now
    this.previous = now - this.bucketStart < 2 * this.bucketMs ? this.current : Infinity;
    this.current = Infinity;
    this.bucketStart = now;
  }
}
