// Hostile-input-safe JSON: byte cap before parsing, then one iterative walk that enforces depth and key
// caps, rejects prototype-polluting keys and non-finite numbers. JSON.parse itself never pollutes (it
// creates own properties), but downstream Object.assign/spread would, so such keys are refused outright.
import type { Reject } from './contract';

export interface JsonLimits {
  /** max UTF-8 bytes of the text (default 65536) */
  maxBytes?: number;
  /** max nesting depth of objects/arrays (default 8) */
  maxDepth?: number;
  /** max total object keys plus array items (default 500) */
  maxKeys?: number;
}

export const DEFAULT_LIMITS: Required<JsonLimits> = { maxBytes: 65536, maxDepth: 8, maxKeys: 500 };

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type SafeResult<T = unknown> = { ok: true; value: T } | { ok: false; reject: Reject };

function fail(code: string, reason: string, field?: string): { ok: false; reject: Reject } {
  return { ok: false, reject: field === undefined ? { code, reason } : { code, reason, field } };
}

/** Byte length of a string without allocating a Buffer when it is plainly ASCII-sized. */
function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Byte cap and JSON.parse only, without the structural walk: for callers (normalize) that enforce the
 * depth/key/forbidden-key/number rules in their own single pass over the value (see checkValue).
 */
export function parseJsonText(
  input: string | Buffer | Uint8Array,
  maxBytes: number = DEFAULT_LIMITS.maxBytes
): SafeResult<unknown> {
  let text: string;
  if (typeof input === 'string') {
    // a JS string's UTF-8 size is at most 3 bytes per UTF-16 unit: skip the exact count when clearly small
    if (input.length * 3 > maxBytes && utf8Length(input) > maxBytes) {
      return fail('too_large', `payload is ${utf8Length(input)} bytes, limit ${maxBytes}`);
    }
    text = input;
  } else {
    if (input.byteLength > maxBytes)
      return fail('too_large', `payload is ${input.byteLength} bytes, limit ${maxBytes}`);
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail('malformed_json', `not valid JSON: ${(err as Error).message}`);
  }
  const dup = duplicateKeyIn(text, value);
  if (dup !== null)
    return fail('duplicate_key', `key "${dup.key}" appears twice in one object at ${dup.path}`, dup.path);
  return { ok: true, value };
}

/**
 * firstDuplicateKey for `text` that JSON.parse turned into `value`, cheaply in the usual case: the text's key
 * tokens are counted (no Set, no path) and compared with the parsed value's own keys, which are fewer exactly
 * when a key was given twice; only then is the text walked again for the key and its path.
 */
export function duplicateKeyIn(text: string, value: unknown): { key: string; path: string } | null {
  if (typeof value !== 'object' || value === null) return null;
  return keyTokens(text) === ownKeys(value, 1) ? null : firstDuplicateKey(text);
}

/** The closing quote of the string that opens at `i`: the next '"' not escaped by an odd run of backslashes. */
function stringEnd(text: string, i: number): number {
  let j = text.indexOf('"', i + 1);
  for (;;) {
    let k = j - 1;
    while (text.charCodeAt(k) === 0x5c) k--;
    if ((j - 1 - k) % 2 === 0) return j;
    j = text.indexOf('"', j + 1);
  }
}

/** Strings followed by ':' in valid JSON text: its object keys, duplicates included. */
function keyTokens(text: string): number {
  let count = 0;
  for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) {
    i = stringEnd(text, i);
    let k = i + 1;
    let c = text.charCodeAt(k);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++k);
    if (c === 0x3a) count++;
  }
  return count;
}

/**
 * Own keys of every object in a parsed JSON value (JSON.parse keeps one of duplicates), or -1 for a value
 * nested deeper than FAST_MAX_DEPTH: the caller then takes the text walk, which keeps its own stack. This runs
 * before any depth cap, on text from anyone: unbounded, the recursion let a client without keys throw a
 * RangeError out of moby-hmac-verify with 60 KB of '[' (30,000 levels), which left the message unsettled and,
 * a thousand times over, stalled the source (red-team round, 2026-12-05).
 */
function ownKeys(node: object, depth: number): number {
  if (depth > FAST_MAX_DEPTH) return -1;
  let count = 0;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v === 'object' && v !== null) {
        const n = ownKeys(v, depth + 1);
        if (n < 0) return -1;
        count += n;
      }
    }
    return count;
  }
  for (const k in node) {
    count++;
    const v = (node as Record<string, unknown>)[k];
    if (typeof v === 'object' && v !== null) {
      const n = ownKeys(v, depth + 1);
      if (n < 0) return -1;
      count += n;
    }
  }
  return count;
}

/**
 * The first key that appears twice in one object of `text`, with its path, or null. `text` must be JSON that
 * JSON.parse accepted. JSON.parse keeps the last of duplicate keys, other parsers the first: a body signed with
 * `{"temperature":1,"temperature":1e6}` (or an envelope naming two device ids) meant one thing to MOBY and may
 * mean another to any other consumer of the same bytes, and MOBY accepted it without a word (red-team round 3,
 * 2026-12-03). One pass over the text, skipping string contents; a Set per object only, a path only when found.
 */
export function firstDuplicateKey(text: string): { key: string; path: string } | null {
  // per open container: the keys seen (object) or null (array); its name in the path; an array's item index
  const seen: Array<Set<string> | null> = [];
  const names: Array<string | number> = [];
  const index: number[] = [];
  let expectKey = false;
  let lastKey = '';
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const j = stringEnd(text, i);
      if (expectKey) {
        // "a" and "\u0061" are the same key: decode escaped keys before comparing
        const raw = text.slice(i + 1, j);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        const keys = seen[seen.length - 1]!;
        if (keys.has(key)) return { key, path: pathOf(names, key) };
        keys.add(key);
        lastKey = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      // { or [: its name is the key before it, or its index in the enclosing array
      const depth = seen.length;
      names.push(depth === 0 ? '' : seen[depth - 1] === null ? index[depth - 1] : lastKey);
      seen.push(c === 0x7b ? new Set() : null);
      index.push(0);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      seen.pop();
      names.pop();
      index.pop();
    } else if (c === 0x2c) {
      const depth = seen.length;
      if (seen[depth - 1] === null) index[depth - 1]++;
      else expectKey = true;
    }
  }
  return null;
}

/** `components.motor.temperature`, `items[2].value`: the walk's path notation. */
function pathOf(names: Array<string | number>, key: string): string {
  let p = '';
  for (let k = 1; k <= names.length; k++) {
    const seg = k < names.length ? names[k] : key;
    p = typeof seg === 'number' ? `${p}[${seg}]` : p ? `${p}.${seg}` : seg;
  }
  return p;
}

/** Parses text (or a Buffer) as JSON within the limits. */
export function parseJsonSafe<T = unknown>(
  input: string | Buffer | Uint8Array,
  limits: JsonLimits = {}
): SafeResult<T> {
  const parsed = parseJsonText(input, limits.maxBytes ?? DEFAULT_LIMITS.maxBytes);
  if (!parsed.ok) return parsed;
  const bad = checkValue(parsed.value, limits);
  return bad ? { ok: false, reject: bad } : { ok: true, value: parsed.value as T };
}

/** Depth up to which the allocation-free pass recurses (deeper limits take the stack walk alone). */
const FAST_MAX_DEPTH = 64;

/**
 * The keys counted so far (`keys` plus this node's), or -1 at the first thing checkValue would refuse: too
 * deep, too many keys, a forbidden key, a non-finite number. Recursion is bounded by maxDepth.
 */
function acceptable(node: object, depth: number, keys: number, maxDepth: number, maxKeys: number): number {
  if (depth > maxDepth) return -1;
  if (Array.isArray(node)) {
    keys += node.length;
    if (keys > maxKeys) return -1;
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v === 'object' && v !== null) {
        keys = acceptable(v, depth + 1, keys, maxDepth, maxKeys);
        if (keys < 0) return -1;
      } else if (typeof v === 'number' && !Number.isFinite(v)) return -1;
    }
    return keys;
  }
  for (const k in node) {
    if (!Object.prototype.hasOwnProperty.call(node, k)) continue;
    if (++keys > maxKeys || FORBIDDEN_KEYS.has(k)) return -1;
    const v = (node as Record<string, unknown>)[k];
    if (typeof v === 'object' && v !== null) {
      keys = acceptable(v, depth + 1, keys, maxDepth, maxKeys);
      if (keys < 0) return -1;
    } else if (typeof v === 'number' && !Number.isFinite(v)) return -1;
  }
  return keys;
}

/**
 * Checks an already-parsed value (e.g. an object handed over by an upstream node) against the same caps.
 * Returns null when it is acceptable, else the reject.
 */
export function checkValue(value: unknown, limits: JsonLimits = {}): Reject | null {
  const maxDepth = limits.maxDepth ?? DEFAULT_LIMITS.maxDepth;
  const maxKeys = limits.maxKeys ?? DEFAULT_LIMITS.maxKeys;
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'number' && !Number.isFinite(value)
      ? { code: 'bad_number', reason: 'number is not finite' }
      : null;
  }
  // acceptance does not depend on the order of the walk, the reject named does: an acceptable value (almost
  // every message) is confirmed by a recursive pass that allocates nothing; anything else is walked again
  // below, in the order that decides which reject is named
  if (maxDepth <= FAST_MAX_DEPTH && acceptable(value as object, 1, 0, maxDepth, maxKeys) >= 0) return null;
  return walk(value as object, maxDepth, maxKeys);
}

/** @internal checkValue's ordered walk alone (exported so a test can hold the fast pass to it). */
export function walk(value: object, maxDepth: number, maxKeys: number): Reject | null {
  let keys = 0;
  // explicit stack instead of recursion: depth is capped anyway, but a caller may pass a structure built in
  // code that is deeper than any JSON text we would accept. Three parallel arrays rather than a tuple per
  // entry, and a key's path is built only for an object it descends into or for the reject: this walk runs
  // several times on every message (verify, anomaly, alert, health), and a path string per leaf plus a tuple
  // per object were most of what it allocated (issue 16, seventh round)
  const nodes: object[] = [value as object];
  const depths: number[] = [1];
  const paths: string[] = [''];
  while (nodes.length) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    const path = paths.pop()!;
    if (depth > maxDepth)
      return {
        code: 'too_deep',
        reason: `nesting deeper than ${maxDepth} at ${path || '(root)'}`,
        field: path || undefined,
      };
    if (Array.isArray(node)) {
      keys += node.length;
      if (keys > maxKeys)
        return { code: 'too_many_keys', reason: `more than ${maxKeys} keys/items`, field: path || undefined };
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        if (typeof v === 'object' && v !== null) {
          nodes.push(v);
          depths.push(depth + 1);
          paths.push(`${path}[${i}]`);
        } else if (typeof v === 'number' && !Number.isFinite(v))
          return { code: 'bad_number', reason: `non-finite number at ${path}[${i}]`, field: `${path}[${i}]` };
      }
    } else {
      for (const k in node) {
        if (!Object.prototype.hasOwnProperty.call(node, k)) continue;
        if (++keys > maxKeys)
          return { code: 'too_many_keys', reason: `more than ${maxKeys} keys/items`, field: path || undefined };
        if (FORBIDDEN_KEYS.has(k)) {
          const p = path ? `${path}.${k}` : k;
          return { code: 'forbidden_key', reason: `forbidden key "${k}" at ${p}`, field: p };
        }
        const v = (node as Record<string, unknown>)[k];
        if (typeof v === 'object' && v !== null) {
          nodes.push(v);
          depths.push(depth + 1);
          paths.push(path ? `${path}.${k}` : k);
        } else if (typeof v === 'number' && !Number.isFinite(v)) {
          const p = path ? `${path}.${k}` : k;
          return { code: 'bad_number', reason: `non-finite number at ${p}`, field: p };
        }
      }
    }
  }
  return null;
}
