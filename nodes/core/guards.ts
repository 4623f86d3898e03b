// Type guards every layer needs when it reads untrusted JSON or editor settings.

/** A JSON object (not null, not an array) whose keys can be read. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exactly one of `choices` (no trimming, no case folding). */
export function isOneOf<C extends string>(v: unknown, choices: readonly C[]): v is C {
  return typeof v === 'string' && (choices as readonly string[]).includes(v);
}

/**
 * A copy of plain data (objects, arrays, primitives) sharing no object with the original, for a message a
 * node builds for another consumer (docs/benchmarks.md, "Views instead of fan-outs"). Below `depth` levels
 * the values are copied; deeper ones (or a cycle) are passed by reference, where the consumer's own
 * depth checks reject them anyway. Buffers and class instances other than Object/Array keep their reference.
 */
export function copyPlain(v: unknown, depth = 8): unknown {
  if (typeof v !== 'object' || v === null || depth <= 0) return v;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copyPlain(v[i], depth - 1);
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const k in v as Record<string, unknown>) out[k] = copyPlain((v as Record<string, unknown>)[k], depth - 1);
  return out;
}
