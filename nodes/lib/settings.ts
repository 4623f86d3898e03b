// Editor settings as the adapters read them: numbers that may arrive as text, and text with "${VAR}"
// references Node-RED left unresolved (it substitutes a property that is exactly "${VAR}" only when VAR is set
// and leaves embedded ones alone; here an unset variable means empty, so e.g. an unset MOBY_INFLUX_URL is
// "no database").
import path from 'node:path';
import { isOneOf } from '../core/guards';

/** A file or directory setting as a path: relative ones live in the Node-RED user directory; '' is null. */
export function userDirPath(userDir: string | undefined, setting: string | undefined): string | null {
  const text = (setting || '').trim();
  if (!text) return null;
  return path.isAbsolute(text) ? text : path.join(userDir || process.cwd(), text);
}

/**
 * A finite number in [min, max] from a number or numeric text, else `fallback`. `onInvalid` hears of a value
 * that is set (not undefined, null or blank text) but not such a number, for a node that warns about it.
 */
export const numberSetting = (
  v: unknown,
  fallback: number,
  min = 0,
  max = Infinity,
  onInvalid?: (v: unknown) => void
): number => {
  const blank = v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
  const n = typeof v === 'number' ? v : typeof v === 'string' && !blank ? Number(v) : NaN;
  if (Number.isFinite(n) && n >= min && n <= max) return n;
  if (!blank) onInvalid?.(v);
  return fallback;
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
  typeof v === 'string'
    ? v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => process.env[name] ?? '').trim()
    : '';

/**
 * One of `choices` when the setting is exactly one of them, else `fallback`. `onUnknown` hears of a value that
 * is set (not undefined or '') but not a choice, for a node that warns about it.
 */
export function choiceSetting<const C extends string>(
  v: unknown,
  choices: readonly C[],
  fallback: NoInfer<C>,
  onUnknown?: (v: unknown) => void
): C {
  if (isOneOf(v, choices)) return v;
  if (onUnknown && v !== undefined && v !== '') onUnknown(v);
  return fallback;
}
