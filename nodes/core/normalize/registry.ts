// Component registry: what a device may report. Per component the allowed hardware revisions, per field
// its unit, type and physical range. Compiled once into maps keyed by the flat field name normalize
// produces (for a given separator), so the hot path does one Map lookup per field.
//
// Format (JSON):
//   { "components": { "motor": { "hw": ["rev2","rev3"],
//                                 "fields": { "temperature": {"unit":"°C","type":"float","min":-40,"max":150} } } },
//     "fields": { "temperature": {"unit":"°C","min":-40,"max":125} } }
// "components" describes the objects under the payload's components key; field paths inside a component
// (and top-level "fields" paths) are written with "." between levels, e.g. "vibration.rms", "accel.x".
import { FORBIDDEN_KEYS } from '../safe-json';
import { isPlainObject } from '../guards';

export type FieldType = 'float' | 'int' | 'bool' | 'string';

export interface FieldSpec {
  unit?: string;
  type?: FieldType;
  min?: number;
  max?: number;
}

export interface ComponentSpec {
  /** allowed hardware revisions; absent = any */
  hw?: string[];
  fields?: Record<string, FieldSpec>;
}

export interface RegistryDoc {
  components?: Record<string, ComponentSpec>;
  fields?: Record<string, FieldSpec>;
}

export interface CompiledComponent {
  name: string;
  hw: ReadonlySet<string> | null;
}

export interface CompiledRegistry {
  /** the registry has a "components" section: components not in it are unknown */
  hasComponents: boolean;
  components: ReadonlyMap<string, CompiledComponent>;
  /** flat field name (with the compile-time separator) → spec */
  fields: ReadonlyMap<string, Readonly<FieldSpec>>;
  separator: string;
}

const TYPES: ReadonlySet<string> = new Set(['float', 'int', 'bool', 'string']);

export class RegistryError extends Error {}

function checkName(name: string, where: string): void {
  if (FORBIDDEN_KEYS.has(name) || name.length === 0) throw new RegistryError(`${where}: invalid name "${name}"`);
}

function compileField(where: string, raw: unknown): FieldSpec {
  if (!isPlainObject(raw)) throw new RegistryError(`${where}: field spec must be an object`);
  const spec: FieldSpec = {};
  for (const key of Object.keys(raw)) {
    const v = raw[key];
    switch (key) {
      case 'unit':
        if (typeof v !== 'string') throw new RegistryError(`${where}.unit must be a string`);
        spec.unit = v;
        break;
      case 'type':
        if (typeof v !== 'string' || !TYPES.has(v))
          throw new RegistryError(`${where}.type must be one of float, int, bool, string`);
        spec.type = v as FieldType;
        break;
      case 'min':
      case 'max':
        if (typeof v !== 'number' || !Number.isFinite(v))
          throw new RegistryError(`${where}.${key} must be a finite number`);
        spec[key] = v;
        break;
      case 'description':
        break;
      default:
        throw new RegistryError(`${where}: unknown property "${key}" (unit, type, min, max, description)`);
    }
  }
  if (spec.min !== undefined && spec.max !== undefined && spec.min > spec.max)
    throw new RegistryError(`${where}: min > max`);
  return Object.freeze(spec);
}

function flatName(path: string, separator: string): string {
  const parts = path.split('.');
  for (const p of parts) checkName(p, `field path "${path}"`);
  return parts.join(separator);
}

/** Validates a registry document and compiles it for one separator. Throws RegistryError when invalid. */
export function compileRegistry(doc: unknown, separator = '_'): CompiledRegistry {
  if (!isPlainObject(doc)) throw new RegistryError('registry must be a JSON object');
  for (const key of Object.keys(doc)) {
    if (key !== 'components' && key !== 'fields' && key !== 'description' && key !== 'version') {
      throw new RegistryError(`unknown top-level property "${key}" (components, fields)`);
    }
  }
  const components = new Map<string, CompiledComponent>();
  const fields = new Map<string, Readonly<FieldSpec>>();
  const add = (name: string, spec: FieldSpec, where: string) => {
    if (fields.has(name)) throw new RegistryError(`${where}: field "${name}" defined twice`);
    fields.set(name, spec);
  };
  if (doc.components !== undefined) {
    if (!isPlainObject(doc.components)) throw new RegistryError('"components" must be an object');
    for (const [name, raw] of Object.entries(doc.components)) {
      checkName(name, 'component');
      if (!isPlainObject(raw)) throw new RegistryError(`component "${name}" must be an object`);
      let hw: Set<string> | null = null;
      if (raw.hw !== undefined) {
        if (!Array.isArray(raw.hw) || !raw.hw.every((h) => typeof h === 'string'))
          throw new RegistryError(`component "${name}".hw must be an array of strings`);
        hw = new Set(raw.hw as string[]);
      }
      components.set(name, { name, hw });
      if (raw.fields !== undefined) {
        if (!isPlainObject(raw.fields)) throw new RegistryError(`component "${name}".fields must be an object`);
        for (const [path, spec] of Object.entries(raw.fields)) {
          add(
            name + separator + flatName(path, separator),
            compileField(`components.${name}.fields.${path}`, spec),
            `component "${name}"`
          );
        }
      }
      for (const key of Object.keys(raw)) {
        if (key !== 'hw' && key !== 'fields' && key !== 'description')
          throw new RegistryError(`component "${name}": unknown property "${key}" (hw, fields)`);
      }
    }
  }
  if (doc.fields !== undefined) {
    if (!isPlainObject(doc.fields)) throw new RegistryError('"fields" must be an object');
    for (const [path, spec] of Object.entries(doc.fields))
      add(flatName(path, separator), compileField(`fields.${path}`, spec), 'fields');
  }
  return { hasComponents: doc.components !== undefined, components, fields, separator };
}

/** Parses registry JSON text and compiles it; throws RegistryError with a readable message. */
export function parseRegistry(text: string, separator = '_'): CompiledRegistry {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RegistryError(`registry is not valid JSON: ${(err as Error).message}`);
  }
  return compileRegistry(doc, separator);
}

/**
 * Checks one value against its spec. Returns null when acceptable, else [code, reason].
 * Type mismatches report 'bad_type'; range violations 'out_of_range'.
 */
export function checkField(spec: Readonly<FieldSpec>, value: number | boolean | string): [string, string] | null {
  switch (spec.type) {
    case 'bool':
      if (typeof value !== 'boolean') return ['bad_type', `expected a boolean, got ${typeof value}`];
      return null;
    case 'string':
      if (typeof value !== 'string') return ['bad_type', `expected a string, got ${typeof value}`];
      return null;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        return ['bad_type', `expected an integer, got ${JSON.stringify(value)}`];
      break;
    case 'float':
      if (typeof value !== 'number') return ['bad_type', `expected a number, got ${typeof value}`];
      break;
    default:
      if (typeof value !== 'number') return null;
  }
  const n = value as number;
  if (spec.min !== undefined && n < spec.min)
    return ['out_of_range', `${n} is below the physical minimum ${spec.min}${spec.unit ? ' ' + spec.unit : ''}`];
  if (spec.max !== undefined && n > spec.max)
    return ['out_of_range', `${n} is above the physical maximum ${spec.max}${spec.unit ? ' ' + spec.unit : ''}`];
  return null;
}
