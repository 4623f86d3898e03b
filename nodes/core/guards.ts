// Type guards every layer needs when it reads untrusted JSON or editor settings.

/** A JSON object (not null, not an array) whose keys can be read. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
