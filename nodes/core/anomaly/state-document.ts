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
//
// Bounded: one string can hold at most V8's maximum length (2^29 − 24 characters), and a device still
// calibrating saves its calibration rows (900 rows × 8 features ≈ 137 KB of JSON), so ~4,000 devices
// calibrating at once made a document V8 cannot build — `join` threw, and with nothing catching the
// periodic save's rejection Node-RED exited; it crashed again at the same point after every restart. A
// document now holds at most `maxChars`: built from the most recently active device back, the devices
// that do not fit (the least recently active) are left out of that save, counted in `leftOut`, and nothing
// more is serialised once one does not fit. A device left out is not lost while the runtime runs; after a
// restart it calibrates again.
import { performance } from 'node:perf_hooks';

/**
 * The largest document saved, in characters: well under V8's string limit (536,870,888), since the context
 * store builds its file from it with escapes and keeps a copy (docs/anomaly.md, *Bounds*).
 */
export const SAVED_STATE_MAX_CHARS = 256 * 1024 * 1024;

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
  /** entries the last document left out (the least recently active ones): they would have passed maxChars */
  leftOut = 0;
  /** entries the last document holds */
  saved = 0;

  /** the growing field's rows as JSON text so far, per state (see the constructor) */
  private readonly rowTexts = new WeakMap<S, RowText>();

  /**
   * `maxChars`: the longest document built (SAVED_STATE_MAX_CHARS unless a caller bounds it further).
   * `growingField`: an array field of the states that only grows by appended rows, or is replaced by another
   * array or null (the calibration buffer: up to 900 rows, one more per point, so a calibrating device is
   * "changed" at every point and was serialised whole at every save, ~137 KB each, ~2 s of CPU per save for
   * 2,000 devices calibrating). Its rows are serialised once each and kept as text; a save adds the new rows
   * and serialises the rest of the state. The text is the same as JSON.stringify's.
   */
  constructor(
    private readonly maxChars = SAVED_STATE_MAX_CHARS,
    private readonly growingField?: string
  ) {}

  /** The state was mutated (or replaced in place): its next save serialises it again. */
  changed(state: S): void {
    this.texts.delete(state);
  }

  /** The whole document at once (closing, control messages: the save must hold everything now). */
  document(entries: Iterable<[string, S]>): string {
    const all = Array.from(entries);
    const build = new Build(all.length, this.maxChars);
    for (let i = all.length - 1; i >= 0 && build.add(this.entry(all[i][0], all[i][1])); i--);
    return this.finish(build);
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
    const build = new Build(all.length, this.maxChars);
    // most recently active first, so the bound leaves out the least recently active
    let i = all.length - 1;
    let n = 0;
    while (i >= 0 && !build.full) {
      const until = performance.now() + sliceMs;
      for (; i >= 0; i--, n++) {
        if (!build.add(this.entry(all[i][0], all[i][1]))) break;
        if ((n & 15) === 15 && performance.now() >= until) {
          i--;
          n++;
          break;
        }
      }
      if (i >= 0 && !build.full) await yieldTurn();
    }
    return this.finish(build);
  }

  private finish(build: Build): string {
    this.saved = build.parts.length;
    this.leftOut = build.total - this.saved;
    // the document lists the least recently active first, as a reload into a smaller bound expects
    return `{${build.parts.reverse().join(',')}}`;
  }

  private entry(key: string, state: S): string {
    const kept = this.texts.get(state);
    if (kept !== undefined && kept.key === key) {
      this.stats.reused++;
      return kept.text;
    }
    const text = `${JSON.stringify(key)}:${this.stateText(state)}`;
    this.texts.set(state, { key, text });
    this.stats.serialised++;
    return text;
  }

  /** JSON.stringify(state), with the growing field's rows taken from the text kept for them. */
  private stateText(state: S): string {
    const field = this.growingField;
    const record = state as Record<string, unknown>;
    const rows = field === undefined ? undefined : record[field];
    if (!Array.isArray(rows) || rows.length < GROWING_MIN_ROWS) {
      if (field !== undefined) this.rowTexts.delete(state);
      return JSON.stringify(state);
    }
    let kept = this.rowTexts.get(state);
    // another array, or one that shrank (a failed fit starts a new buffer): its text starts again
    if (kept === undefined || kept.rows !== rows || kept.count > rows.length) {
      kept = { rows, count: 0, inner: '' };
      this.rowTexts.set(state, kept);
    }
    if (kept.count < rows.length) {
      // the new rows joined once (appending them one by one made the first save twice as slow); an element
      // JSON has no text for is written null, as in an array
      const added: string[] = [];
      for (let i = kept.count; i < rows.length; i++) added.push(JSON.stringify(rows[i]) ?? 'null');
      kept.inner += (kept.count ? ',' : '') + added.join(',');
      kept.count = rows.length;
    }
    // the object's own keys in their order, as JSON.stringify writes a plain object (undefined values skipped)
    const parts: string[] = [];
    for (const k of Object.keys(record)) {
      if (k === field) {
        parts.push(`${JSON.stringify(k)}:[${kept.inner}]`);
        continue;
      }
      const v = JSON.stringify(record[k]);
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  }
}

/** The JSON text of a growing field's first `count` rows (without the brackets), for the array `rows`. */
interface RowText {
  rows: unknown[];
  count: number;
  inner: string;
}

/** Below this many rows the field is serialised with the rest (the kept text would not pay for itself). */
const GROWING_MIN_ROWS = 32;

/** The entries of one document, most recently active first, within its bound. */
class Build {
  readonly parts: string[] = [];
  /** characters so far: the braces, the entries and their commas */
  private chars = 2;
  full = false;

  constructor(
    readonly total: number,
    private readonly maxChars: number
  ) {}

  /** Takes the entry if it fits; false (and full from then on) if not. */
  add(text: string): boolean {
    const more = text.length + (this.parts.length ? 1 : 0);
    if (this.chars + more > this.maxChars) {
      this.full = true;
      return false;
    }
    this.chars += more;
    this.parts.push(text);
    return true;
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
