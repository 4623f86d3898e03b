// Editor settings as the adapters read them: numbers that may arrive as text, and text with "${VAR}"
// references Node-RED left unresolved (it substitutes a property that is exactly "${VAR}" only when VAR is set
// and leaves embedded ones alone; here an unset variable means empty, so e.g. an unset MOBY_INFLUX_URL is
// "no database").
import { FORBIDDEN_KEYS } from '../core/safe-json';
import { isTenant } from '../core/tenant';

/** A finite number in [min, max] from a number or numeric text, else `fallback`. */
export const numberSetting = (v: unknown, fallback: number, min = 0, max = Infinity): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= min && n <= max ? n : fallback;
};

/** An integer in [min, max] from a number or numeric text, else `fallback`. */
export const integerSetting = (v: unknown, fallback: number, min: number, max: number): number => {
  const n = numberSetting(v, NaN, min, max);
  return Number.isInteger(n) ? n : fallback;
};

/** A duration given in seconds (≥ minSeconds), as milliseconds; empty or invalid gives `fallbackMs`. */
export const secondsSetting = (v: unknown, fallbackMs: number, minSeconds = 0): number => {
  const n = numberSetting(v, NaN, minSeconds);
  return Number.isNaN(n) ? fallbackMs : Math.round(n * 1000);
};

/** Trimmed text with every ${VAR} replaced by its environment value (unset = empty); non-text = empty. */
export const textSetting = (v: unknown): string =>
  typeof v === 'string' ? v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => process.env[name] ?? '').trim() : '';

/**
 * A per-tenant JSON setting `{"<tenant>": …}` (text, or an object the runtime already parsed) as
 * [tenant, value] pairs; empty = none. Throws naming the setting (`what`) with its `shape`, never echoing a
 * value (some are tokens).
 */
export function tenantMapSetting(v: unknown, what: string, shape: string): Array<[string, unknown]> {
  if (v === undefined || v === null || (typeof v === 'string' && !v.trim())) return [];
  let doc: unknown = v;
  if (typeof v === 'string') {
    try {
      doc = JSON.parse(v);
    } catch {
      throw new Error(`${what} are not valid JSON: ${shape}`);
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${what} must be a JSON object ${shape}`);
  const entries = Object.entries(doc);
  for (const [tenant] of entries) {
    if (!isTenant(tenant) || FORBIDDEN_KEYS.has(tenant)) throw new Error(`${what}: tenant "${tenant.slice(0, 40)}" must be 1-64 chars of [A-Za-z0-9_-]`);
  }
  return entries;
}
