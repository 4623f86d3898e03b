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
  const out: RefusalReading = { refusal: null, partial: reason.startsWith('partial write'), unparsable: [] };
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

/** Reads up to an unescaped stop character; returns [unescaped text, index of the stop or the end]. */
function readName(line: string, i: number, stops: string): [string, number] {
  let out = '';
  while (i < line.length) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      out += line[i + 1];
      i += 2;
      continue;
    }
    if (stops.includes(c)) break;
    out += c;
    i++;
  }
  return [out, i];
}

function valueType(v: string): LineValueType {
  if (/^(?:t|T|true|True|TRUE|f|F|false|False|FALSE)$/.test(v)) return 'boolean';
  const last = v[v.length - 1];
  if (last === 'i') return 'integer';
  if (last === 'u') return 'unsigned';
  return 'float';
}

/** Parses the series key and field set of one line of line protocol (the timestamp is not needed). */
export function lineShape(line: string): LineShape | null {
  const [measurement, start] = readName(line, 0, ', ');
  if (!measurement) return null;
  let i = start;
  const tagKeys: string[] = [];
  while (line[i] === ',') {
    let key: string;
    [key, i] = readName(line, i + 1, '=');
    if (line[i] !== '=') return null;
    [, i] = readName(line, i + 1, ', ');
    tagKeys.push(key);
  }
  if (line[i] !== ' ') return null;
  const fields: LineShape['fields'] = [];
  let sep = ' ';
  while (line[i] === sep) {
    let key: string;
    [key, i] = readName(line, i + 1, '=');
    if (line[i] !== '=') return null;
    i++;
    if (line[i] === '"') {
      i++;
      while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
      if (line[i] !== '"') return null;
      i++;
      fields.push({ key, type: 'string' });
    } else {
      const start = i;
      while (i < line.length && line[i] !== ',' && line[i] !== ' ') i++;
      if (i === start) return null;
      fields.push({ key, type: valueType(line.slice(start, i)) });
    }
    sep = ',';
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
  private readonly entries = new Map<string, RememberedRefusal>();

  constructor(
    readonly ttlMs = DEFAULT_REFUSAL_TTL_MS,
    readonly max = DEFAULT_MAX_REFUSALS
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Keeps a refusal (renewing it if known) and returns its entry, even with a TTL of 0 (for this answer). */
  remember(refusal: Refusal, status: number, reason: string, now: number): RememberedRefusal {
    const id = `${refusal.kind}\0${refusal.measurement}\0${refusal.key}\0${refusal.type}`;
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
      while (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** The unexpired refusal that picks out this line, if any (expired ones are dropped on the way). */
  match(line: string, now: number): RememberedRefusal | undefined {
    let shape: LineShape | null | undefined;
    for (const [id, e] of this.entries) {
      if (e.until <= now) {
        this.entries.delete(id);
        continue;
      }
      if (!line.includes(e.needle)) continue;
      if (shape === undefined) shape = lineShape(line);
      if (shape && refusalMatches(e.refusal, shape)) return e;
    }
    return undefined;
  }
}

/** Whether one given refusal picks out this line (for the answer just read, whatever the TTL). */
export function entryMatches(e: RememberedRefusal, line: string): boolean {
  if (!line.includes(e.needle)) return false;
  const shape = lineShape(line);
  return shape !== null && refusalMatches(e.refusal, shape);
}
