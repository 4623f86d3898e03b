// meta.json of an ONNX model bundle: JSON Schema (validated with ajv) plus the cross-field checks a
// schema cannot express (vector lengths matching the feature list). Errors name the file and the field.
import Ajv, { type ErrorObject } from 'ajv';
import { MAX_RUL_AVERAGE, type RulLift } from '../rul-average';

/** values in one device window (window × features): 4 MiB as Float32, each device of a bundle holds one */
export const MAX_WINDOW_VALUES = 1 << 20;

export type OutputKind = 'reconstruction' | 'score' | 'probability' | 'rul' | 'pca';

export interface BundleMeta {
  /** format version of this file; currently 1 */
  schema_version: 1;
  kind: OutputKind;
  /** feature names in model input order */
  features: string[];
  /** time steps per input window (1 = one sample, no history) */
  window: number;
  input: {
    name: string;
    /** "flat": [batch, window*features] (step-major); "sequence": [batch, window, features] */
    layout: 'flat' | 'sequence';
  };
  /** model output names by role */
  outputs: {
    reconstruction?: string;
    score?: string;
    contributions?: string;
    probability?: string;
    rul?: string;
    t2?: string;
    q?: string;
  };
  /** standardisation applied by the scorer before the model: z = (x - mean) / std, per feature */
  scaler?: { mean: number[]; std: number[] };
  /** anomaly threshold on the score (probability: default 0.5; pca: the score is normalised, threshold 1) */
  threshold?: number;
  /** pca: control limits of T² and Q */
  t2_limit?: number;
  q_limit?: number;
  /** the verdict uses the median of the device's last `persistence` scores (default 1: each score alone) */
  persistence?: number;
  /**
   * per-device standardisation centre follows slow drift: after a point judged normal, centre += rate ·
   * (point − centre); the scaler's mean is the starting centre (default 0: fixed scaler)
   */
  center_drift?: number;
  /** rul: unit of the predicted remaining useful life, e.g. "h", "cycles" */
  rul_unit?: string;
  /**
   * rul: a device with at least this many rows but fewer than `window` is scored on its window padded with
   * its first row (as if it had idled at its initial state), the way the C-MAPSS evaluation scores short test
   * engines (default: `window`, no padding: the device warms up for a whole window)
   */
  min_history?: number;
  /**
   * rul: the RUL reported is the mean of the predictions made over the device's last `rul_average` steps of
   * age, each minus the age elapsed since it was made (temporal ensembling, RulAverage; default 1: each
   * prediction alone)
   */
  rul_average?: number;
  /**
   * rul: the feature holding the device's age in `rul_unit` (C-MAPSS: "cycle"), which rul_average ages the
   * older predictions by and which restarts the history when it goes backwards; without it every scored
   * point counts one step
   */
  rul_age_feature?: string;
  /**
   * rul: above `from`, the RUL reported rises `slope` (≥ 1) times as fast as the (averaged) prediction
   * (liftRul): a net trained on a capped target reports engines beyond the cap short; `moby-train --lift on`
   * fits the lift on its training engines. Applied after rul_average; `raw_value` stays the window's own prediction
   */
  rul_lift?: RulLift;
  /**
   * rul: the model reads each device's own baseline, the mean of its first `baseline_cycles` rows of every
   * feature but rul_age_feature, as a second input named `baseline_input` ([batch, those features], scaled
   * with `scaler` like the window). With rul_age_feature only rows of age ≤ baseline_cycles count; a device
   * without a complete baseline gets no RUL (warming while it can still complete, else no_baseline)
   */
  baseline_cycles?: number;
  baseline_input?: string;
  /** free-form provenance: method, created_at, training stats */
  method?: string;
  created_at?: string;
  training?: Record<string, unknown>;
  equipment_id?: string;
  power?: string;
  version?: string;
}

const outputName = { type: 'string', minLength: 1, maxLength: 256 };
const finiteNumbers = { type: 'array', items: { type: 'number' }, maxItems: 4096 };

export const META_SCHEMA = {
  $id: 'https://moby-iot.github.io/schemas/onnx-bundle-meta.json',
  type: 'object',
  additionalProperties: false,
  required: ['schema_version', 'kind', 'features', 'window', 'input', 'outputs'],
  properties: {
    schema_version: { const: 1 },
    kind: { enum: ['reconstruction', 'score', 'probability', 'rul', 'pca'] },
    features: {
      type: 'array',
      minItems: 1,
      maxItems: 4096,
      uniqueItems: true,
      items: { type: 'string', minLength: 1, maxLength: 256 },
    },
    window: { type: 'integer', minimum: 1, maximum: 100000 },
    input: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: outputName, layout: { enum: ['flat', 'sequence'] } },
    },
    outputs: {
      type: 'object',
      additionalProperties: false,
      properties: {
        reconstruction: outputName,
        score: outputName,
        contributions: outputName,
        probability: outputName,
        rul: outputName,
        t2: outputName,
        q: outputName,
      },
    },
    scaler: {
      type: 'object',
      additionalProperties: false,
      required: ['mean', 'std'],
      properties: { mean: finiteNumbers, std: finiteNumbers },
    },
    threshold: { type: 'number' },
    t2_limit: { type: 'number', exclusiveMinimum: 0 },
    q_limit: { type: 'number', exclusiveMinimum: 0 },
    persistence: { type: 'integer', minimum: 1, maximum: 1000 },
    center_drift: { type: 'number', minimum: 0, maximum: 1 },
    rul_unit: { type: 'string', maxLength: 32 },
    min_history: { type: 'integer', minimum: 1, maximum: 100000 },
    rul_average: { type: 'integer', minimum: 1, maximum: MAX_RUL_AVERAGE },
    rul_age_feature: { type: 'string', minLength: 1, maxLength: 256 },
    rul_lift: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'slope'],
      properties: { from: { type: 'number', minimum: 0 }, slope: { type: 'number', minimum: 1, maximum: 10 } },
    },
    baseline_cycles: { type: 'integer', minimum: 1, maximum: 100000 },
    baseline_input: outputName,
    method: { type: 'string', maxLength: 64 },
    created_at: { type: 'string', maxLength: 64 },
    training: { type: 'object' },
    equipment_id: { type: 'string' },
    power: { type: 'string' },
    version: { type: 'string' },
  },
  allOf: [
    {
      if: { properties: { kind: { const: 'reconstruction' } } },
      then: {
        required: ['threshold'],
        properties: { outputs: { anyOf: [{ required: ['reconstruction'] }, { required: ['score'] }] } },
      },
    },
    {
      if: { properties: { kind: { const: 'score' } } },
      then: { required: ['threshold'], properties: { outputs: { required: ['score'] } } },
    },
    {
      if: { properties: { kind: { const: 'probability' } } },
      then: { properties: { outputs: { required: ['probability'] } } },
    },
    { if: { properties: { kind: { const: 'rul' } } }, then: { properties: { outputs: { required: ['rul'] } } } },
    {
      if: { properties: { kind: { const: 'pca' } } },
      then: { required: ['t2_limit', 'q_limit'], properties: { outputs: { required: ['t2', 'q'] } } },
    },
  ],
} as const;

let validator: ReturnType<Ajv['compile']> | null = null;

function describe(e: ErrorObject): string {
  const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(root)';
  if (e.keyword === 'additionalProperties')
    return `${where}: unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
  if (e.keyword === 'required')
    return `${where}: missing field "${(e.params as { missingProperty: string }).missingProperty}"`;
  if (e.keyword === 'enum')
    return `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${where}: ${e.message ?? e.keyword}`;
}

/**
 * Validates a parsed meta.json. Returns the typed meta or throws an Error whose message names `file` and
 * every offending field.
 */
export function validateMeta(value: unknown, file = 'meta.json'): BundleMeta {
  if (!validator) validator = new Ajv({ allErrors: true, strict: false }).compile(META_SCHEMA);
  if (!validator(value)) {
    // if/then branches repeat the underlying error with an unhelpful "must match then schema" line
    const msgs = (validator.errors ?? []).filter((e) => e.keyword !== 'if' && e.keyword !== 'anyOf').map(describe);
    throw new Error(`${file}: ${[...new Set(msgs)].join('; ') || 'invalid'}`);
  }
  const meta = value as BundleMeta;
  const n = meta.features.length;
  const problems: string[] = [];
  // each bound alone let window 100000 × 4096 features through: a 3.3 GB dry-run input before anything could
  // refuse it, and 1.6 GB per device window after
  if (meta.window * n > MAX_WINDOW_VALUES)
    problems.push(
      `window × features is ${meta.window} × ${n} = ${meta.window * n} values per device window, limit ${MAX_WINDOW_VALUES} (4 MiB)`
    );
  if (meta.scaler) {
    if (meta.scaler.mean.length !== n)
      problems.push(`scaler.mean has ${meta.scaler.mean.length} values for ${n} features`);
    if (meta.scaler.std.length !== n)
      problems.push(`scaler.std has ${meta.scaler.std.length} values for ${n} features`);
    meta.scaler.std.forEach((s, i) => {
      if (!(s > 0)) problems.push(`scaler.std[${i}] (${meta.features[i]}) must be > 0, got ${s}`);
    });
  }
  if (meta.min_history !== undefined && meta.kind !== 'rul')
    problems.push(`min_history applies to rul bundles only (kind is ${meta.kind})`);
  if (meta.min_history !== undefined && meta.min_history > meta.window)
    problems.push(`min_history (${meta.min_history}) exceeds window (${meta.window})`);
  for (const f of ['rul_average', 'rul_age_feature', 'rul_lift'] as const)
    if (meta[f] !== undefined && meta.kind !== 'rul')
      problems.push(`${f} applies to rul bundles only (kind is ${meta.kind})`);
  if (meta.rul_age_feature !== undefined && !meta.features.includes(meta.rul_age_feature))
    problems.push(`rul_age_feature "${meta.rul_age_feature}" is not one of the features`);
  if ((meta.baseline_cycles === undefined) !== (meta.baseline_input === undefined))
    problems.push('baseline_cycles and baseline_input go together');
  else if (meta.baseline_cycles !== undefined) {
    if (meta.kind !== 'rul') problems.push(`baseline_cycles applies to rul bundles only (kind is ${meta.kind})`);
    if (meta.baseline_input === meta.input.name)
      problems.push(`baseline_input "${meta.baseline_input}" is the window's input`);
    if (!baselineFeatures(meta).length) problems.push('baseline_cycles needs a feature other than rul_age_feature');
  }
  if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  return { ...meta, input: { ...meta.input, layout: meta.input.layout ?? 'flat' } };
}

/** Positions in meta.features of the features a device's baseline is kept of: all but rul_age_feature. */
export function baselineFeatures(meta: Pick<BundleMeta, 'features' | 'rul_age_feature'>): number[] {
  const out: number[] = [];
  meta.features.forEach((f, i) => {
    if (f !== meta.rul_age_feature) out.push(i);
  });
  return out;
}
