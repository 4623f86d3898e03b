// The one topic-pattern syntax of every MOBY node that reads ids from MQTT topics (hmac verify, normalize,
// device health): MQTT's own wildcards, with a name after `+` to capture that level.
//   devices/+device_id/telemetry            the device id is the second level
//   t/+tenant/devices/+device_id/#          tenant and device id; `#` matches the rest (also nothing)
//   factory/+site/+/+device_id/telemetry    `+site` becomes a tag, the bare `+` matches any one level
// Before this syntax the nodes spoke three dialects (verify: `+` plus "device is +N"; health: `{device_id}`
// or the last `+`); the migrate* functions below turn those settings into this syntax when an old flow loads,
// in the node constructors and (through the twin in resources/moby-editor.js) in the edit dialogs.
import { FORBIDDEN_KEYS } from './safe-json';
import { nameProblem, tagValueProblem } from './names';
import { TENANT_PATTERN } from './tenant';

/** A capture name: what may follow `+` (it becomes a tag key, so it is a plain identifier). */
const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** Longer patterns are a mistake, not a topic layout (MQTT allows 65535 bytes; nobody types that). */
const MAX_PATTERN_LENGTH = 1024;

export interface TopicValueLimits {
  /** device ids, default 128 (names.ts DEFAULT_NAME_LIMITS.name) */
  name?: number;
  /** other captured tags, default 256 (DEFAULT_NAME_LIMITS.tagValue) */
  tagValue?: number;
}

export interface TopicMatchOptions {
  /**
   * Whether a wildcard matches an empty level (`devices//telemetry`), as MQTT's `+` does (default true).
   * The verifier says false: an empty level never names a device or tenant it could check.
   */
  emptyLevels?: boolean;
}

/** A compiled topic pattern: validated once (at deploy), then matched per message without allocation per level. */
export class TopicPattern {
  readonly source: string;
  /** capture names in level order */
  readonly names: readonly string[];
  /** per level: the literal text, or null for a wildcard */
  private readonly literals: (string | null)[];
  /** per level: the capture name of a named wildcard, else null (kept for debugging; names/nameLevels are read) */
  private readonly captures: (string | null)[];
  /** ends in `#` */
  private readonly rest: boolean;

  /** level index of each name in `names` (same order) */
  readonly nameLevels: readonly number[];

  private constructor(source: string, literals: (string | null)[], captures: (string | null)[], rest: boolean) {
    this.source = source;
    this.literals = literals;
    this.captures = captures;
    this.rest = rest;
    const names: string[] = [];
    const nameLevels: number[] = [];
    captures.forEach((c, i) => {
      if (c !== null) {
        names.push(c);
        nameLevels.push(i);
      }
    });
    this.names = names;
    this.nameLevels = nameLevels;
  }

  /** Compiles `source`, or throws an Error whose message says what is wrong and where. */
  static compile(source: string): TopicPattern {
    const p = parseTopicPattern(source);
    if (typeof p === 'string') throw new Error(p);
    return p;
  }

  /** @internal used by parseTopicPattern */
  static fromParts(
    source: string,
    literals: (string | null)[],
    captures: (string | null)[],
    rest: boolean
  ): TopicPattern {
    return new TopicPattern(source, literals, captures, rest);
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  /** The level index a name captures, or -1. */
  levelOf(name: string): number {
    const i = this.names.indexOf(name);
    return i < 0 ? -1 : this.nameLevels[i];
  }

  /**
   * The topic's levels when it matches (read a capture as `levels[levelOf(name)]`), or null. The hot path of
   * the nodes: one split, no other allocation.
   */
  levels(topic: string, options?: TopicMatchOptions): string[] | null {
    // a topic that does not match is refused without splitting it: device health tries every status, LWT and
    // activity pattern on each message, and most of them miss (issue 16, seventh round)
    return this.test(topic, options) ? topic.split('/') : null;
  }

  /** Whether the topic matches, allocating nothing (the levels are compared in place). */
  test(topic: string, options?: TopicMatchOptions): boolean {
    const literals = this.literals;
    const n = literals.length;
    const allowEmpty = options?.emptyLevels !== false;
    let start = 0; // where level i begins; -1 once the topic has no more levels
    for (let i = 0; i < n; i++) {
      if (start < 0) return false; // fewer levels than the pattern
      const slash = topic.indexOf('/', start);
      const end = slash < 0 ? topic.length : slash;
      const literal = literals[i];
      if (literal === null) {
        if (!allowEmpty && end === start) return false;
      } else if (literal.length !== end - start || !topic.startsWith(literal, start)) return false;
      start = slash < 0 ? -1 : slash + 1;
    }
    return this.rest || start < 0; // without `#`, no level may follow
  }

  /** Level `index` of a topic (as `topic.split('/')[index]`, without the split), or undefined. */
  levelAt(topic: string, index: number): string | undefined {
    let start = 0;
    for (let i = 0; i < index; i++) {
      const slash = topic.indexOf('/', start);
      if (slash < 0) return undefined;
      start = slash + 1;
    }
    const slash = topic.indexOf('/', start);
    return topic.slice(start, slash < 0 ? topic.length : slash);
  }

  /**
   * The named levels of a matching topic (values as they are, possibly '' when empty levels match), or null
   * when the topic does not match. Values are not checked here: see captureProblem.
   */
  match(topic: string, options?: TopicMatchOptions): Record<string, string> | null {
    const parts = this.levels(topic, options);
    if (parts === null) return null;
    const out: Record<string, string> = {};
    for (let i = 0; i < this.names.length; i++) out[this.names[i]] = parts[this.nameLevels[i]];
    return out;
  }
}

/**
 * Why a text is not a topic pattern: a code and its values. The runtime reads it in English
 * (`topicProblemText`); the edit dialogs read the same code from the message catalogue
 * (`nodes/mqtt/locales/<lang>/moby-mqtt.json`, `topicPattern.errors.<code>`), so a Korean dialog says it in
 * Korean. The English texts below and the en-US catalogue are one text (test/unit/resources/topic-editor.test.ts).
 */
export interface TopicProblem {
  code: TopicProblemCode;
  params: Record<string, string | number>;
}

/** English text of each problem; `__name__` is a value (Node-RED's i18n interpolation syntax). */
export const TOPIC_PROBLEM_TEXT = {
  empty: 'empty topic pattern',
  'too-long': 'topic pattern "__pattern__" is __length__ characters long, limit __limit__',
  nul: 'topic pattern "__pattern__" contains U+0000, which MQTT forbids in topics',
  'hash-not-last':
    'topic pattern "__pattern__", level __level__ "__text__": \'#\' only as the whole last level (it must be the last level)',
  'partial-wildcard':
    "topic pattern \"__pattern__\", level __level__ \"__text__\": wildcards must fill a whole level ('+', '+name' or a final '#')",
  'old-device-syntax':
    'topic pattern "__pattern__", level __level__ "__text__": write +device_id (the {device_id} form is the old device-health syntax)',
  'bad-name':
    "topic pattern \"__pattern__\", level __level__ \"__text__\": after '+' comes a name of letters, digits, '_', '.' or '-' starting with a letter or '_' (at most 64), e.g. +device_id; wildcards must fill a whole level",
  'forbidden-name': 'topic pattern "__pattern__", level __level__ "__text__": "__name__" cannot be a tag name',
  'duplicate-name': 'topic pattern "__pattern__", level __level__ "__text__": +__name__ appears twice',
  'missing-name': 'topic pattern "__pattern__" names no +__name__ level',
} as const;

export type TopicProblemCode = keyof typeof TOPIC_PROBLEM_TEXT;

/** The problem in English, as logged and thrown at deploy. */
export function topicProblemText(problem: TopicProblem): string {
  return TOPIC_PROBLEM_TEXT[problem.code].replace(/__([a-z]+)__/g, (whole, key: string) =>
    key in problem.params ? String(problem.params[key]) : whole
  );
}

/** Compiles a pattern; returns the compiled pattern or why it is not one (shown at deploy). */
export function topicPatternProblem(source: string): TopicPattern | TopicProblem {
  const pattern = source.length > 80 ? `${source.slice(0, 80)}…` : source;
  if (source.trim() === '') return { code: 'empty', params: {} };
  if (source.length > MAX_PATTERN_LENGTH)
    return { code: 'too-long', params: { pattern, length: source.length, limit: MAX_PATTERN_LENGTH } };
  if (source.includes('\u0000')) return { code: 'nul', params: { pattern } };
  const levels = source.split('/');
  const rest = levels[levels.length - 1] === '#';
  if (rest) levels.pop();
  const literals: (string | null)[] = [];
  const captures: (string | null)[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    const at = (code: TopicProblemCode, name?: string): TopicProblem => ({
      code,
      params:
        name === undefined ? { pattern, level: i + 1, text: level } : { pattern, level: i + 1, text: level, name },
    });
    if (level === '#' || (level.includes('#') && !level.startsWith('+')))
      return at(level === '#' ? 'hash-not-last' : 'partial-wildcard');
    if (level === '{device_id}') return at('old-device-syntax');
    if (level.startsWith('+')) {
      const name = level.slice(1);
      if (name === '') {
        literals.push(null);
        captures.push(null);
        continue;
      }
      if (!CAPTURE_NAME.test(name)) return at('bad-name');
      if (FORBIDDEN_KEYS.has(name)) return at('forbidden-name', name);
      if (seen.has(name)) return at('duplicate-name', name);
      seen.add(name);
      literals.push(null);
      captures.push(name);
    } else if (level.includes('+') || level.includes('{') || level.includes('}')) {
      return at('partial-wildcard');
    } else {
      literals.push(level);
      captures.push(null);
    }
  }
  return TopicPattern.fromParts(source, literals, captures, rest);
}

/** Compiles a pattern; returns the compiled pattern or the reason it is not one, in English (shown at deploy). */
export function parseTopicPattern(source: string): TopicPattern | string {
  const p = topicPatternProblem(source);
  return p instanceof TopicPattern ? p : topicProblemText(p);
}

/**
 * Why a captured value cannot be used, or null. The same rules as the values' other sources: a device id is a
 * name (names.ts: printable, no whitespace), a tenant a tenant name (tenant.ts), any other tag a text.
 */
export function topicValueProblem(name: string, value: string, limits: TopicValueLimits = {}): string | null {
  if (name === 'device_id') return nameProblem(value, limits.name ?? 128);
  if (name === 'tenant') return TENANT_PATTERN.test(value) ? null : 'must be 1-64 characters of A-Z a-z 0-9 _ -';
  return tagValueProblem(value, limits.tagValue ?? 256);
}

/** The first captured value (in level order) that is unusable, with why; empty values are skipped. */
export function captureProblem(
  captures: Record<string, string>,
  limits: TopicValueLimits = {}
): { name: string; problem: string } | null {
  for (const name of Object.keys(captures)) {
    const value = captures[name];
    if (value === '') continue;
    const problem = topicValueProblem(name, value, limits);
    if (problem) return { name, problem };
  }
  return null;
}

/** captureProblem for the levels of a matching topic (TopicPattern.levels), without building the captures. */
export function levelsProblem(
  pattern: TopicPattern,
  levels: readonly string[],
  limits: TopicValueLimits = {}
): { name: string; problem: string } | null {
  const { names, nameLevels } = pattern;
  for (let i = 0; i < names.length; i++) {
    const value = levels[nameLevels[i]];
    if (value === '') continue;
    const problem = topicValueProblem(names[i], value, limits);
    if (problem) return { name: names[i], problem };
  }
  return null;
}

// ---- migration of the settings saved before this syntax --------------------------------------------------

/**
 * The verify node's old pair (pattern, "device is +N") as one pattern: the N-th `+` level that is not
 * `+tenant` becomes `+device_id`. A pattern that already names `+device_id` is returned as it is (so the
 * function is safe to run on every load); one with no such level too (compiling it then says why).
 */
export function migrateDeviceLevel(pattern: string, level?: number | string): string {
  const levels = pattern.split('/');
  if (pattern === '' || levels.includes('+device_id')) return pattern;
  const wanted = level === undefined || level === '' || level === null ? 1 : Number(level);
  let seen = 0;
  const at = levels.findIndex((l) => l.startsWith('+') && l !== '+tenant' && ++seen === wanted);
  if (at < 0) return pattern;
  levels[at] = '+device_id';
  return levels.join('/');
}

/**
 * One device-health pattern of the old syntax (`{device_id}` marks the id level, else the last `+` holds
 * it) in this syntax. Patterns that already capture by name (other than `+tenant`) are returned as they are. Without any
 * wildcard nothing changes: such a pattern never gave an id from the topic, and still does not.
 */
export function migrateHealthPattern(pattern: string): string {
  const levels = pattern.split('/');
  if (levels.includes('{device_id}')) return levels.map((l) => (l === '{device_id}' ? '+device_id' : l)).join('/');
  // `+tenant` names the tenant, not the device: `t/+tenant/device/lwt/+` still has its id in the last `+`
  if (levels.some((l) => l.length > 1 && l.startsWith('+') && l !== '+tenant')) return pattern;
  const last = levels.lastIndexOf('+');
  if (last < 0) return pattern;
  levels[last] = '+device_id';
  return levels.join('/');
}

/** A device-health pattern list (comma- or newline-separated) with every pattern migrated, separators kept. */
export function migrateHealthPatterns(text: string): string {
  return text
    .split(/([,\n])/)
    .map((part, i) => {
      if (i % 2 === 1) return part; // a separator
      const lead = /^\s*/.exec(part)![0];
      const trail = /\s*$/.exec(part.slice(lead.length))![0];
      const core = part.slice(lead.length, part.length - trail.length);
      return core ? lead + migrateHealthPattern(core) + trail : part;
    })
    .join('');
}
