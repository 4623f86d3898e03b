// Messages that reach a node while it is still reading its saved state from a context store. They wait in
// arrival order, bounded, and each one ends exactly once: handled when the state is there, or failed with
// done(err) when the node closes first — never left without done(), which would hold its broker
// acknowledgement (moby-mqtt-in) until the connection drops.
import type { DoneFn, NodeMessage, SendFn } from './red';

export type InputHandler = (msg: NodeMessage, send: SendFn, done: DoneFn) => void;

/** The bound the anomaly, alert and device-health nodes share. */
export const MAX_EARLY_INPUTS = 10_000;

export class EarlyQueue {
  private items: Array<[NodeMessage, SendFn, DoneFn]> = [];

  constructor(private readonly max = MAX_EARLY_INPUTS) {}

  get size(): number {
    return this.items.length;
  }

  /** Queues the message; false when full (the caller refuses it, saying why). */
  offer(msg: NodeMessage, send: SendFn, done: DoneFn): boolean {
    if (this.items.length >= this.max) return false;
    this.items.push([msg, send, done]);
    return true;
  }

  /** Hands every queued message, in arrival order, to the handler and empties the queue. */
  drain(handler: InputHandler): void {
    const waiting = this.items;
    this.items = [];
    for (const [msg, send, done] of waiting) handler(msg, send, done);
  }

  /** Fails every queued message with done(err) and empties the queue. */
  failAll(reason: string): void {
    const waiting = this.items;
    this.items = [];
    for (const [, , done] of waiting) done(new Error(reason));
  }
}
