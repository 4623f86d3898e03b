// The anomaly node's saved state as one JSON document kept per device (issue 16, fourth round).
//
// Before: every save handed the context store the whole fleet as live objects, and Node-RED's
// localfilesystem store serialised all of it (json-stringify-safe: a replacer call per value, indented) in
// one synchronous turn at its next flush — every state of every device, changed or not, on the event loop
// that moves the messages. Now each device's entry (`"key":{…}`) is kept as JSON text from the save it was
// last written in; a save serialises only the devices whose state changed since (the node calls `changed()`
// wherever it mutates one), in slices of bounded time with the event loop free between them, and joins the
// entries into one string. The store then writes one string (native escaping, no walk of the states).
//
// The document is the same JSON object as before (least recently active device first), only stored as a
// string; `parseStoredStates` reads either form, so a state saved by an older version loads as it did.
import { performance } from 'node:perf_hooks';

interface Entry {
  key: string;
  text: string;
}

export interface StateDocumentStats {
  /** entries serialised anew (changed or never saved) since construction */
  serialised: number;
  /** entries taken from the text kept from an earlier save */
  reused: number;
}

export class StateDocument<S extends object> {
  /** each state's entry text as of the save it was last serialised in; gone once the state changes */
  private readonly texts = new WeakMap<S, Entry>();
  readonly stats: StateDocumentStats = { serialised: 0, reused: 0 };

  /** The state was mutated (or replaced in place): its next save serialises it again. */
  changed(state: S): void {
    this.texts.delete(state);
  }

  /** The whole document at once (closing, control messages: the save must hold everything now). */
  document(entries: Iterable<[string, S]>): string {
    const parts: string[] = [];
    for (const [key, state] of entries) parts.push(this.entry(key, state));
    return `{${parts.join(',')}}`;
  }

  /**
   * The same document built in slices: at most `sliceMs` of serialising per event-loop turn (a turn that
   * only reuses kept entries is not cut), the loop free in between. The entries are the ones present when
   * it is called; a state that changes after its slice was written is marked by `changed()` and goes into
   * the next save.
   */
  async documentInSlices(
    entries: Iterable<[string, S]>,
    sliceMs = 4,
    yieldTurn: () => Promise<void> = () => new Promise((r) => setImmediate(r))
  ): Promise<string> {
    const all = Array.from(entries);
    const parts: string[] = new Array(all.length);
    let i = 0;
    while (i < all.length) {
      const until = performance.now() + sliceMs;
      for (; i < all.length; i++) {
        const [key, state] = all[i];
        parts[i] = this.entry(key, state);
        if ((i & 15) === 15 && performance.now() >= until) {
          i++;
          break;
        }
      }
      if (i < all.length) await yieldTurn();
    }
    return `{${parts.join(',')}}`;
  }

  private entry(key: string, state: S): string {
    const kept = this.texts.get(state);
    if (kept !== undefined && kept.key === key) {
      this.stats.reused++;
      return kept.text;
    }
    const text = `${JSON.stringify(key)}:${JSON.stringify(state)}`;
    this.texts.set(state, { key, text });
    this.stats.serialised++;
    return text;
  }
}

/**
 * What the context store returned, as the object of device states: the document string this version saves,
 * or the object older versions saved. Undefined for nothing stored; `null` for a string that is not JSON.
 */
export function parseStoredStates(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return null;
  }
}
