// What the database refused, read from its answer and remembered for a while, so one bad line costs the
// database one request at most instead of a bisection (~2·log2(batch) requests) per batch it appears in.
//
// InfluxDB 1.x and 2.x (same storage engine, same texts) name what they refused in their 400 answer:
//   partial write: field type conflict: input field "f" on measurement "m" is type boolean, already exists as type float dropped=2
//   partial write: invalid field name: input field "time" on measurement "m" is invalid dropped=1
//   partial write: invalid tag key: input tag "time" on measurement "m" is invalid dropped=1
//   partial write: unable to parse 'm v= 17': missing field value dropped=0   (the line itself, quoted)
// Each names a refusal (measurement, field or tag key, and for a conflict the refused type) that picks out
// every line of the request the database refused for that reason — without another request. The writer
// then sends the rest again once (InfluxDB 1.x had already stored it: "partial write", measured; a server
// that refuses the whole request has not, and re-sending what was stored overwrites it with itself) and
// keeps the refusal for `ttlMs`: later lines it matches are handed to the reject output without being sent.
// Pure functions and a bounded map; no I/O.
import { escapeKey } from './line-protocol';
import { BoundedMap } from '../bounded-map';

/** The value types of line protocol, as InfluxDB names them in its messages. */
export type LineValueType = 'float' | 'integer' | 'unsigned' | 'boolean' | 'string';

/** One thing the database refuses: a field of a type (or any type: `*`), or a tag key, on a measurement. */
export interface Refusal {
  kind: 'field' | 'tag';
  measurement: string;
  key: string;
  /** fields: the type refused (`*`: the name itself, any type); tags: always `*` */
  type: LineValueType | '*';
}

/** What a 400 answer says: the refusal it names (if readable), whether the rest was stored, how many dropped. */
export interface RefusalReading {
  refusal: Refusal | null;
  /** InfluxDB said "partial write": the points it did not drop are stored */
  partial: boolean;
  /** `dropped=N` of a partial write */
  dropped?: number;
  /** lines the answer quotes as unparsable (1.x: `unable to parse '<line>': <why>`), exactly as sent */
  unparsable: string[];
}

const TYPE_CONFLICT =
  /field type conflict: input field "(.*)" on measurement "(.*)" is type (\w+), already exists as type \w+/;
const INVALID_FIELD = /invalid field name: input field "(.*)" on measurement "(.*)" is invalid/;
const INVALID_TAG = /invalid tag key: input tag "(.*)" on measurement "(.*)" is invalid/;
const DROPPED = /dropped=(\d+)\s*$/;
const UNPARSABLE = /unable to parse '(.*?)': /g;
const TYPES: ReadonlySet<string> = new Set(['float', 'integer', 'unsigned', 'boolean', 'string']);

/** Reads the refusal a database's 400 message names; `refusal` is null when it names none this code knows. */
export function readRefusal(reason: string): RefusalReading {
  const out: RefusalReading = { refusal: null, partial: reason.includes('partial write'), unparsable: [] };
  for (const u of reason.matchAll(UNPARSABLE)) out.unparsable.push(u[1]);
  const d = DROPPED.exec(reason);
  if (d) out.dropped = Number(d[1]);
  let m = TYPE_CONFLICT.exec(reason);
  if (m && TYPES.has(m[3])) {
    out.refusal = { kind: 'field', key: m[1], measurement: m[2], type: m[3] as LineValueType };
  } else if ((m = INVALID_FIELD.exec(reason))) {
    out.refusal = { kind: 'field', key: m[1], measurement: m[2], type: '*' };
  } else if ((m = INVALID_TAG.exec(reason))) {
    out.refusal = { kind: 'tag', key: m[1], measurement: m[2], type: '*' };
  }
  return out;
}

/** A line's measurement, tag keys and field keys with their value types (names unescaped), or null. */
export interface LineShape {
  measurement: string;
  tagKeys: string[];
  fields: Array<{ key: string; type: LineValueType }>;
}

// char codes of the stops
const COMMA = 44;
const SPACE = 32;
const EQUALS = 61;
const BACKSLASH = 92;
const QUOTE = 34;

/** where readName stopped (the parser is synchronous: one cursor for all) */
let at = 0;

/**
 * Reads a name from `i` up to an unescaped stop (`,`/space, or `=`), sets `at` to the stop (or the end) and
 * returns the unescaped text. Names rarely hold a backslash: then the text is one slice.
 */
function readName(line: string, i: number, untilEquals: boolean): string {
  const start = i;
  let escaped = false;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < line.length) {
      escaped = true;
      i += 2;
      continue;
    }
    if (untilEquals ? c === EQUALS : c === COMMA || c === SPACE) break;
    i++;
  }
  at = i;
  const raw = line.slice(start, i);
  return escaped ? raw.replace(/\\(.)/g, '$1') : raw;
}

/** The type of an unquoted value: booleans start with t/T/f/F (numbers never do), `i`/`u` end integers. */
function valueType(line: string, start: number, end: number): LineValueType {
  const c = line.charCodeAt(start);
  if (c === 116 || c === 84 || c === 102 || c === 70) return 'boolean';
  const last = line.charCodeAt(end - 1);
  return last === 105 ? 'integer' : last === 117 ? 'unsigned' : 'float';
}

/** Parses the series key and field set of one line of line protocol (the timestamp is not needed). */
export function lineShape(line: string): LineShape | null {
  const measurement = readName(line, 0, false);
  if (!measurement) return null;
  let i = at;
  const tagKeys: string[] = [];
  while (line.charCodeAt(i) === COMMA) {
    const key = readName(line, i + 1, true);
    if (line.charCodeAt(at) !== EQUALS) return null;
    readName(line, at + 1, false);
    i = at;
    tagKeys.push(key);
  }
  if (line.charCodeAt(i) !== SPACE) return null;
  const fields: LineShape['fields'] = [];
  let sep = SPACE;
  while (line.charCodeAt(i) === sep) {
    const key = readName(line, i + 1, true);
    i = at;
    if (line.charCodeAt(i) !== EQUALS) return null;
    i++;
    if (line.charCodeAt(i) === QUOTE) {
      i++;
      while (i < line.length && line.charCodeAt(i) !== QUOTE) i += line.charCodeAt(i) === BACKSLASH ? 2 : 1;
      if (line.charCodeAt(i) !== QUOTE) return null;
      i++;
      fields.push({ key, type: 'string' });
    } else {
      const start = i;
      while (i < line.length) {
        const c = line.charCodeAt(i);
        if (c === COMMA || c === SPACE) break;
        i++;
      }
      if (i === start) return null;
      fields.push({ key, type: valueType(line, start, i) });
    }
    sep = COMMA;
  }
  return fields.length ? { measurement, tagKeys, fields } : null;
}

/** Whether a parsed line is one the refusal picks out. */
export function refusalMatches(r: Refusal, shape: LineShape): boolean {
  if (shape.measurement !== r.measurement) return false;
  if (r.kind === 'tag') return shape.tagKeys.includes(r.key);
  for (const f of shape.fields) if (f.key === r.key && (r.type === '*' || f.type === r.type)) return true;
  return false;
}

/** A refusal the writer holds, with the database's words and until when it is trusted. */
export interface RememberedRefusal {
  refusal: Refusal;
  /** HTTP status of the answer that named it */
  status: number;
  /** the database's message */
  reason: string;
  /** epoch ms when it was learned */
  since: number;
  /** epoch ms after which it is forgotten (the next such line is sent and the database asked again) */
  until: number;
  /** text that every matching line contains (the escaped key and `=`): a cheap test before parsing */
  needle: string;
}

export const DEFAULT_REFUSAL_TTL_MS = 600000;
export const DEFAULT_MAX_REFUSALS = 1000;

/**
 * Refusals learned from the database's answers, each kept for `ttlMs` (a type conflict holds for the life of
 * the shard — days — but an operator may drop the measurement or the shard may roll over; the next line after
 * expiry asks the database again). Bounded: beyond `max` entries the oldest is forgotten.
 */
export class RefusalMemory {
  /** by `kind \0 measurement \0 key \0 type`, oldest first */
  private readonly entries: BoundedMap<string, RememberedRefusal>;
  private nextPrune = 0;

  constructor(
    readonly ttlMs = DEFAULT_REFUSAL_TTL_MS,
    readonly max = DEFAULT_MAX_REFUSALS
  ) {
    this.entries = new BoundedMap(max);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Keeps a refusal (renewing it if known) and returns its entry, even with a TTL of 0 (for this answer). */
  remember(refusal: Refusal, status: number, reason: string, now: number): RememberedRefusal {
    const id = refusalId(refusal.kind, refusal.measurement, refusal.key, refusal.type);
    this.entries.delete(id);
    const entry: RememberedRefusal = {
      refusal,
      status,
      reason,
      since: now,
      until: now + this.ttlMs,
      needle: refusal.kind === 'tag' ? `,${escapeKey(refusal.key)}=` : `${escapeKey(refusal.key)}=`,
    };
    if (this.ttlMs > 0) {
      this.prune(now);
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** The unexpired refusal that picks out this line, if any. */
  match(line: string, now: number): RememberedRefusal | undefined {
    if (now >= this.nextPrune) this.prune(now);
    if (this.entries.size <= NEEDLE_SCAN_MAX) {
      // a few refusals (the usual case): a substring test each, the line parsed only when one is in it
      let shape: LineShape | null | undefined;
      for (const e of this.entries.values()) {
        if (e.until <= now || !line.includes(e.needle)) continue;
        if (shape === undefined) shape = lineShape(line);
        if (shape && refusalMatches(e.refusal, shape)) return e;
      }
      return undefined;
    }
    // many: the line is parsed once and each of its keys looked up, whatever their number
    const shape = lineShape(line);
    if (!shape) return undefined;
    const live = (e: RememberedRefusal | undefined) => (e && e.until > now ? e : undefined);
    for (const f of shape.fields) {
      const e =
        live(this.entries.get(refusalId('field', shape.measurement, f.key, f.type))) ??
        live(this.entries.get(refusalId('field', shape.measurement, f.key, '*')));
      if (e) return e;
    }
    for (const k of shape.tagKeys) {
      const e = live(this.entries.get(refusalId('tag', shape.measurement, k, '*')));
      if (e) return e;
    }
    return undefined;
  }

  /** Forgets expired refusals (at most once a second from match). */
  private prune(now: number): void {
    this.nextPrune = now + 1000;
    for (const [id, e] of this.entries) if (e.until <= now) this.entries.delete(id);
  }
}

/** Up to this many refusals, match() tests each one's text against the line; beyond, it parses the line. */
const NEEDLE_SCAN_MAX = 8;

function refusalId(kind: Refusal['kind'], measurement: string, key: string, type: Refusal['type']): string {
  return `${kind}\0${measurement}\0${key}\0${type}`;
}

/** Whether one given refusal picks out this line (for the answer just read, whatever the TTL). */
export function entryMatches(e: RememberedRefusal, line: string): boolean {
  if (!line.includes(e.needle)) return false;
  const shape = lineShape(line);
  return shape !== null && refusalMatches(e.refusal, shape);
}
