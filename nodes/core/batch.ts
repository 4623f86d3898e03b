// Batch mode (docs/batch-mode.md): `moby-mqtt-in` can emit up to N MQTT messages as one Node-RED message,
// `{ _msgid, batch: [item, …] }`, each item shaped like the message it would have sent on its own (`topic`,
// `payload`, `redelivered`, …). Node-RED's own work per message — send/receive, the message hooks, a
// deep clone at every fan-out — is then paid once per batch instead of once per reading.
//
// Every MOBY node runs its ordinary per-message logic on each item (`eachInBatch` wraps its input
// handler), so batch mode cannot behave differently from single-message mode item by item: the same checks,
// the same reject codes, the same completion rules. What the items send is gathered per output into one
// batch message per output and event-loop turn ("batch in, batch out": a reject inside a batch leaves on the
// reject output inside a batch, with its own `moby.reject`), and the batch is completed (`done`) only when
// every item is: the writer completes an item only once its point is durable, so the source acknowledges
// the batch's MQTT messages only when all of their points are. Any item failing fails the batch (its
// messages stay with the broker and come again; redelivered points are absorbed downstream).
//
// Pure: no Node-RED import; `send` and `done` are the runtime's functions passed in.

/** One output's message(s) as a node passes them to send(): a message, several, or nothing. */
type OutputValue = Record<string, unknown> | Array<Record<string, unknown> | null | undefined> | null | undefined;
export type SendLike = (msg: Record<string, unknown> | OutputValue[]) => void;
export type DoneLike = (err?: Error) => void;
export type InputHandler<M> = (msg: M, send: SendLike, done: DoneLike) => void;

/** A message carrying a batch: `batch` holds the items, each a message of its own shape. */
export function isBatch(msg: unknown): msg is { _msgid?: string; batch: Array<Record<string, unknown>> } {
  return typeof msg === 'object' && msg !== null && Array.isArray((msg as { batch?: unknown }).batch);
}

/**
 * Wraps a node's per-message input handler so that it also accepts batch messages: the handler runs once per
 * item; a plain message goes straight through (the single-message path costs one property check).
 */
export interface BatchOptions {
  /**
   * Outputs whose batch leaves in a send() call of its own. Node-RED deep-clones every message after the
   * first of one send() call; an output whose items share no object with the other outputs' items (a view
   * built for one consumer) is sent on its own so that it is not cloned.
   */
  ownSend?: number[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function eachInBatch<H extends (msg: any, send: any, done: any) => void>(
  handler: H,
  options: BatchOptions = {}
): H {
  const ownSend = options.ownSend ?? [];
  const wrapped = (msg: unknown, send: SendLike, done: DoneLike) => {
    if (!isBatch(msg)) {
      try {
        return handler(msg, send, done);
      } catch (err) {
        // as for an item of a batch: the message fails. Node-RED only logs a handler's throw and never
        // completes the message, so an acknowledging source would hold it until its connection goes (each
        // one a slot of its window: enough of them stop ingestion, red-team round 2026-12-05)
        return done(err instanceof Error ? err : new Error(String(err)));
      }
    }
    runBatch(msg, send, done, handler as unknown as InputHandler<Record<string, unknown>>, ownSend);
  };
  return wrapped as unknown as H;
}

function runBatch(
  msg: { _msgid?: string; batch: Array<Record<string, unknown>> },
  send: SendLike,
  done: DoneLike,
  handler: InputHandler<Record<string, unknown>>,
  ownSend: number[]
): void {
  const items = msg.batch;
  const envelope = { ...msg } as Record<string, unknown>; // what a batch output carries besides its items
  delete envelope.batch;
  let outs: Array<Array<Record<string, unknown>>> = [];
  let flushScheduled = false;
  let inLoop = true;
  let left = items.length;
  const errors: Error[] = [];

  const flush = () => {
    flushScheduled = false;
    const pending = outs;
    outs = [];
    if (!pending.length) return;
    // one batch per output that got anything; the others null, as a node with several outputs sends
    const msgs = pending.map((list) => (list && list.length ? { ...envelope, batch: list } : null));
    const own: Array<[number, Record<string, unknown>]> = [];
    for (const p of ownSend) {
      const m = msgs[p];
      if (m) {
        own.push([p, m]);
        msgs[p] = null;
      }
    }
    if (msgs.some((m) => m)) send(msgs.length === 1 ? msgs[0]! : msgs);
    for (const [p, m] of own) {
      const alone: Array<Record<string, unknown> | null> = new Array<Record<string, unknown> | null>(p + 1).fill(null);
      alone[p] = m;
      send(alone);
    }
  };
  const collect = (port: number, value: OutputValue) => {
    if (value === null || value === undefined) return;
    const list = (outs[port] ??= []);
    if (Array.isArray(value)) {
      for (const m of value) if (m) list.push(m);
    } else list.push(value);
  };
  const itemSend: SendLike = (out) => {
    if (Array.isArray(out)) for (let p = 0; p < out.length; p++) collect(p, out[p] as OutputValue);
    else collect(0, out);
    // sends made later (after a journal write, a database answer …) leave together at the end of their turn
    if (!inLoop && !flushScheduled) {
      flushScheduled = true;
      queueMicrotask(flush);
    }
  };
  const finish = () => {
    if (flushScheduled) flush(); // an item's output never trails the batch's completion
    if (!errors.length) return done();
    done(
      errors.length === 1
        ? errors[0]
        : new Error(`${errors.length} of ${items.length} items of the batch failed; first: ${errors[0].message}`)
    );
  };
  const itemDone = (err?: Error) => {
    if (err) errors.push(err instanceof Error ? err : new Error(String(err)));
    if (--left === 0 && !inLoop) finish();
  };

  for (let i = 0; i < items.length; i++) {
    // an item that is not a message (a hand-made batch of bare values) is treated as one's payload
    const raw: unknown = items[i];
    const item =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw)
        ? (raw as Record<string, unknown>)
        : { payload: raw };
    // an item carries the batch's message id: a node's error or log about an item names the message
    if (msg._msgid !== undefined) item._msgid = msg._msgid;
    let once = false;
    const doneOnce: DoneLike = (err) => {
      if (once) return;
      once = true;
      itemDone(err);
    };
    try {
      handler(item, itemSend, doneOnce);
    } catch (err) {
      // bad input never crashes the node: the item fails, so the batch is not acknowledged
      doneOnce(err as Error);
    }
  }
  inLoop = false;
  flush();
  if (left === 0) finish();
}
