// Rules for text a device chooses that becomes a name in storage: field names, tag values, units, hardware
// revisions, kept string values. A signed device is authentic, not harmless: before these rules its field
// names and tags reached the spool as sent, HTML, NUL, U+202E (right-to-left override) and a 60 KB tag
// included. What reaches InfluxDB, Grafana, alert messages and logs must be printable and short.
//
// A name (field-name segment, device id) is 1..max characters with no whitespace, in Unicode NFC; a text (tag value, unit,
// hw, string value) may contain plain spaces. Neither may contain
//   - control characters (C0, DEL, C1: NUL, tab, newline, ESC …),
//   - format characters (Cf: the bidi embeddings/overrides/isolates U+202A–U+202E, U+2066–U+2069, the marks
//     U+200E/U+200F/U+061C, zero-width U+200B–U+200D, BOM U+FEFF, soft hyphen …),
//   - the other characters Unicode says to draw as nothing (Default_Ignorable_Code_Point: the combining grapheme
//     joiner, variation selectors, the Hangul fillers …) and the braille blank U+2800,
//   - lone surrogates, private-use and non-characters, line/paragraph separators, and spaces other than
//     U+0020 (no-break, ideographic, …: they look like a space and are not one),
//   - the characters that mean something to HTML or to an escaping layer: < > & " ' ` \
// Prose (what a person writes through the alert API: who acknowledged, a note) follows the text rules but
// may contain those last characters. Letters and symbols of every script stay allowed (°C, µm, m/s², 温度, Überdruck). Lengths count UTF-16
// code units (JavaScript's length).

export interface NameLimits {
  /** field names (joined path) and device ids, default 128 */
  name?: number;
  /** tag values and hw, default 256 */
  tagValue?: number;
  /** units, default 32 */
  unit?: number;
  /** kept string field values, default 1024 */
  string?: number;
}

export const DEFAULT_NAME_LIMITS: Required<NameLimits> = { name: 128, tagValue: 256, unit: 32, string: 1024 };

// ASCII: 1 = allowed in a name, 2 = also in a text (the space), 3 = also in prose (the characters that mean
// something to HTML or an escaping layer), 0 = never (control characters)
const NAME = 1;
const TEXT = 2;
const PROSE = 3;
const ASCII = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) ASCII[c] = NAME;
for (const ch of '<>&"\'`\\') ASCII[ch.charCodeAt(0)] = PROSE;
ASCII[0x20] = TEXT;

const NOT_COMPOSED =
  'is not in Unicode NFC (a letter and its combining mark where one composed character exists, as macOS file names write them): write the name composed';

// Default_Ignorable_Code_Point: characters drawn as nothing in other categories than Cf: the combining grapheme
// joiner U+034F, variation selectors U+FE00–U+FE0F, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, Khmer's
// inherent vowels U+17B4/U+17B5 (a keyed device stored `motor_temp` + U+034F beside `motor_temp`, and
// `pump` + U+3164 as a second equipment shown as "pump": red-team round 2026-12-07); U+2800, the braille blank,
// is drawn as a blank without being a space
const BAD_UNICODE =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u00A0\u1680\u2000-\u200A\u202F\u205F\u2800\u3000\uFFFE\uFFFF]/u;

/** Why `s` is not a usable name/text/prose, or null when it is. `level`: the widest ASCII class allowed. */
function problem(s: string, max: number, level: number, composed = level === NAME): string | null {
  const n = s.length;
  if (n === 0) return 'is empty';
  if (n > max) return `is ${n} characters long, limit ${max}`;
  let unicode = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) {
      const a = ASCII[c];
      if (a !== 0 && a <= level) continue;
      return c === 0x20
        ? 'contains a space'
        : c < 0x20 || c === 0x7f
          ? `contains control character U+${hex(c)}`
          : `contains "${String.fromCharCode(c)}"`;
    }
    unicode = true;
  }
  if (unicode) {
    const m = BAD_UNICODE.exec(s);
    if (m) return `contains U+${hex(m[0].codePointAt(0)!)} (control, format/bidi, invisible or unusual space)`;
    // a name (or a tag value) is a key in storage: "Druck_ü" spelt u + U+0308 and spelt U+00FC look the same everywhere a person
    // reads them and were two fields (two series) of one device, or two device ids (a red-team finding). Refused, not
    // recomposed, as the other name rules (normalize.md): the reject names the device and the field
    if (composed && s.normalize('NFC') !== s) return NOT_COMPOSED;
  }
  return null;
}

function hex(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}

/** A field-name segment or id: no whitespace. */
export function nameProblem(s: string, max: number): string | null {
  return problem(s, max, NAME);
}

/** A tag value, unit, hw or string value: plain spaces allowed. */
export function textProblem(s: string, max: number): string | null {
  return problem(s, max, TEXT);
}

/**
 * A tag value (an equipment, a line, a site): a text, and composed (NFC) as a name is, since it keys a series: "liné"
 * spelt e + U+0301 was a second equipment beside "liné" (verification round 2026-12-07). Units and string values are
 * read, not keyed, and stay as sent.
 */
export function tagValueProblem(s: string, max: number): string | null {
  return problem(s, max, TEXT, true);
}

/**
 * What a person writes through the alert API (who acknowledged, a note): a text that may also hold
 * `< > & " ' \` \` (O'Brien, "pump <3> again"), since every place that shows it escapes them (the panel,
 * Slack, line protocol), but, like a device's texts, no control, format/bidi, invisible or unusual-space
 * character: a U+202E in `by` reordered the "acknowledged by" the panel and notifications show, and a NUL
 * reached InfluxDB (red-team round 3, 2026-12-04).
 */
export function proseProblem(s: string, max: number): string | null {
  return problem(s, max, PROSE);
}

/**
 * A printable stand-in for an untrusted string in reasons and reject fields: at most `max` characters, with
 * everything outside printable ASCII written as \uXXXX (so a bidi override cannot reorder a log line and
 * HTML cannot reach a page that shows the reject).
 */
export function preview(s: string, max = 40, level = TEXT): string {
  let out = '';
  const n = Math.min(s.length, max);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && ASCII[c] <= level ? s[i] : `\\u${hex(c)}`;
  }
  return s.length > max ? `${out}…(${s.length} chars)` : out;
}

/**
 * An error text a server or a library sent, for a log line or an alert: folded to one line, cut at `max`
 * characters and escaped as preview() does, except the characters prose may hold (quotes, < > & ` \): an alert
 * read `{\u0022error\u0022:\u0022internal\u0022}` for the database's own answer (operator round 2026-12-07). The
 * alert's text follows a person's note's rules anyway (inputs.ts), which every channel and the panel escape.
 */
export function oneLine(s: string, max: number): string {
  return preview(s.replace(/\s+/g, ' ').slice(0, max), max, PROSE);
}

const BAD_UNICODE_ALL = new RegExp(BAD_UNICODE.source, 'gu');

/**
 * Text in any script for a log line a person reads (an alert's message, a note): folded to one line, cut at `max`,
 * and only what could forge or reorder the line escaped as \uXXXX (control, format/bidi, invisible and unusual-space
 * characters); °C, ×, 温度 stay as they are. oneLine() escapes everything beyond ASCII: the alert lines of
 * 2026-12-07 read "moving 21.1\u00D7 as much" (verification round).
 */
export function readableLine(s: string, max: number): string {
  return s
    .replace(/\s+/g, ' ')
    .slice(0, max)
    .replace(BAD_UNICODE_ALL, (ch) => `\\u${hex(ch.charCodeAt(0))}`);
}

/**
 * A topic (or one of its levels) in a reject reason: MQTT lets any client publish on a topic of its own making,
 * any UTF-8 up to 64 KiB, and checks such as device_mismatch run before the signature, so before red-team round
 * 3 (2026-12-04) a client without keys put a U+202E, HTML or 60 KB into the reasons of verify and device health.
 */
export function previewTopic(topic: string): string {
  return preview(topic, 120);
}

/**
 * Names the time-series databases keep for themselves, as field or tag keys: InfluxDB 2.x and 3.x reserve
 * every name starting with `_` (`_measurement`, `_field`, `_time`, `_start` … are columns of their query
 * results), and InfluxDB 1.x refuses a field or tag key `time` ("invalid field name", measured against 1.6;
 * it stores `_`-prefixed ones). A point carrying one is refused by some of them, or shadows a column.
 */
export function isReservedKey(name: string): boolean {
  return name.charCodeAt(0) === 0x5f /* _ */ || name === 'time';
}

/** Why a reserved key is reserved, for a reject's reason. */
export const RESERVED_KEY_RULE = 'InfluxDB keeps names starting with "_" and the name "time" for itself';
