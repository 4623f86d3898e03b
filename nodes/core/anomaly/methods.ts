// One strategy object per statistical method: everything that differs between threshold, l2, ewma and pca
// (how a model is fitted, scored, adapted, checked when it comes from outside, sized and serialised) lives
// here, so detector.ts looks the method up once and runs the same steps for all of them. A new method is a
// new entry in METHOD_STRATEGIES, not a new case in several switches.
import type { DetectorConfig, FittedModel, StatMethod } from './detector';
import { fitEwma, learnEwma, scoreEwma, type EwmaModel } from './ewma';
import { fitL2, learnL2, scoreL2, type L2Model } from './l2';
import { fitPca, learnPca, scorePca, type PcaModel } from './pca';
import { scoreThreshold } from './threshold';

export interface MethodScore {
  /** raw score of one point */
  score: number;
  /** the score above which the point is anomalous */
  threshold: number;
}

export interface MethodStrategy<M extends FittedModel = FittedModel> {
  readonly method: StatMethod;
  /** false: the method has its model from the configuration and never calibrates (threshold) */
  readonly calibrates: boolean;
  /** the model a new device starts with: null while it calibrates */
  initialModel(): M | null;
  /** Feature names for a device's first point when none are configured. */
  defaultFeatures(cfg: DetectorConfig, fields: Record<string, unknown>): string[];
  /** Why this configuration cannot run the method, or null. */
  validateConfig(cfg: DetectorConfig): string | null;
  fit(cfg: DetectorConfig, rows: number[][]): M;
  /** Scores `x` (feature order) and writes per-feature contributions (non-negative, not normalised). */
  score(cfg: DetectorConfig, features: string[], model: M, x: ArrayLike<number>, contributions: number[]): MethodScore;
  /** Adapts the model to a point judged normal. */
  learn(cfg: DetectorConfig, model: M, x: ArrayLike<number>): void;
  /** Widens (factor > 1) the model's limits in place; absent for methods whose limits are configured. */
  scaleLimits?(model: M, factor: number): void;
  /** The model's centre (moved by learning and nudges, the reference for drift), or null when it has none. */
  centre(model: M): number[] | null;
  /** Why a model from outside (context store, a loaded export) is unusable for `d` features, or null. */
  validateModel(model: M, d: number): string | null;
  /** Numbers the model retains (for the memory estimate). */
  size(model: M): number;
  /** The model as plain JSON (a copy: later learning does not change what was serialised). */
  serialise(model: M): M;
  /** A model from plain JSON, or the reason it is unusable for `d` features. */
  deserialise(raw: unknown, d: number): M | string;
}

/** A list of finite numbers (of length `len` when given). */
export function isNumArray(v: unknown, len?: number): v is number[] {
  return (
    Array.isArray(v) &&
    (len === undefined || v.length === len) &&
    v.every((n) => typeof n === 'number' && Number.isFinite(n))
  );
}

const positive = (a: unknown, d: number) => isNumArray(a, d) && a.every((v) => v > 0);

/** All finite numeric fields, sorted by name. */
function numericFields(fields: Record<string, unknown>): string[] {
  return Object.keys(fields)
    .filter((f) => typeof fields[f] === 'number' && Number.isFinite(fields[f] as number))
    .sort();
}

/**
 * The parts most methods share: they calibrate (no model at first), score every numeric field, need no
 * configuration check, serialise as a JSON copy and deserialise by checking the method, then the model.
 */
function strategy<M extends FittedModel>(
  s: Omit<
    MethodStrategy<M>,
    'calibrates' | 'initialModel' | 'defaultFeatures' | 'serialise' | 'deserialise' | 'validateConfig'
  > &
    Partial<MethodStrategy<M>>
): MethodStrategy<M> {
  return {
    calibrates: true,
    initialModel: () => null,
    defaultFeatures: (_cfg, fields) => numericFields(fields),
    validateConfig: () => null,
    serialise: (model) => JSON.parse(JSON.stringify(model)) as M,
    deserialise(raw, d) {
      if (typeof raw !== 'object' || raw === null || (raw as { method?: unknown }).method !== s.method)
        return 'model method differs from state method';
      return this.validateModel(raw as M, d) ?? (raw as M);
    },
    ...s,
  };
}

type L2Fitted = Extract<FittedModel, { method: 'l2' }>;
type EwmaFitted = Extract<FittedModel, { method: 'ewma' }>;
type PcaFitted = Extract<FittedModel, { method: 'pca' }>;
type ThresholdFitted = Extract<FittedModel, { method: 'threshold' }>;

const threshold = strategy<ThresholdFitted>({
  method: 'threshold',
  calibrates: false,
  initialModel: () => ({ method: 'threshold' }),
  // only fields with limits can score; the rest would always be 0
  defaultFeatures: (cfg, fields) =>
    Object.keys(cfg.limits)
      .filter((f) => typeof fields[f] === 'number')
      .sort(),
  validateConfig: (cfg) =>
    Object.keys(cfg.limits).length ? null : 'method threshold needs limits for at least one field',
  fit: () => ({ method: 'threshold' }),
  score(cfg, features, _model, x, contributions) {
    const s = scoreThreshold(features, cfg.limits, x);
    for (let j = 0; j < s.contributions.length; j++) contributions[j] = s.contributions[j];
    return { score: s.score, threshold: 1 };
  },
  learn: () => undefined,
  centre: () => null,
  validateModel: () => null,
  size: () => 0,
});

const l2 = strategy<L2Fitted>({
  method: 'l2',
  fit: (cfg, rows) => ({
    method: 'l2',
    l2: fitL2(rows, { alpha: cfg.alpha, limitScale: cfg.limitScale, scaling: cfg.scaling }),
  }),
  score: (_cfg, _features, m, x, contributions) => ({ score: scoreL2(m.l2, x, contributions), threshold: m.l2.limit }),
  learn(cfg, m, x) {
    if (cfg.adaptRate > 0) learnL2(m.l2, x, cfg.adaptRate);
  },
  scaleLimits(m, factor) {
    m.l2.limit *= factor;
  },
  centre: (m) => m.l2.center,
  validateModel: ({ l2: l }: { l2?: Partial<L2Model> }, d) =>
    l && isNumArray(l.center, d) && positive(l.scale, d) && (l.limit as number) > 0
      ? null
      : 'l2 model needs center, positive scale and limit',
  size: (m) => m.l2.center.length * 2,
});

const ewma = strategy<EwmaFitted>({
  method: 'ewma',
  fit: (cfg, rows) => ({ method: 'ewma', ewma: fitEwma(rows, { alpha: cfg.alpha, limitScale: cfg.limitScale }) }),
  score: (_cfg, _features, m, x, contributions) => ({
    score: scoreEwma(m.ewma, x, contributions),
    threshold: m.ewma.limit,
  }),
  // the running mean/variance is the method itself, so it learns whatever adaptRate says
  learn: (cfg, m, x) => learnEwma(m.ewma, x, cfg.ewmaLambda),
  scaleLimits(m, factor) {
    m.ewma.limit *= factor;
  },
  centre: (m) => m.ewma.mean,
  validateModel: ({ ewma: e }: { ewma?: Partial<EwmaModel> }, d) =>
    e && isNumArray(e.mean, d) && positive(e.variance, d) && positive(e.minVariance, d) && (e.limit as number) > 0
      ? null
      : 'ewma model needs mean, positive variance/minVariance and limit',
  size: (m) => m.ewma.mean.length * 3,
});

const pca = strategy<PcaFitted>({
  method: 'pca',
  fit: (cfg, rows) => ({
    method: 'pca',
    pca: fitPca(rows, {
      alpha: cfg.alpha,
      limitScale: cfg.limitScale,
      varianceShare: cfg.varianceShare,
      scaling: cfg.scaling,
    }),
  }),
  score(_cfg, _features, m, x, contributions) {
    // one verdict from both statistics: each relative to its own limit, the larger wins (threshold 1)
    const s = scorePca(m.pca, x, contributions);
    return { score: Math.max(s.t2 / m.pca.t2Limit, s.q / m.pca.qLimit), threshold: 1 };
  },
  learn(cfg, m, x) {
    if (cfg.adaptRate > 0) learnPca(m.pca, x, cfg.adaptRate);
  },
  scaleLimits(m, factor) {
    m.pca.t2Limit *= factor;
    m.pca.qLimit *= factor;
  },
  centre: (m) => m.pca.mean,
  validateModel(m, d) {
    const p: Partial<PcaModel> | undefined = m.pca;
    if (!p || !isNumArray(p.mean, d) || !positive(p.std, d)) return 'pca model needs mean and positive std per feature';
    const k = Array.isArray(p.components) ? p.components.length : 0;
    if (k < 1 || k > d || !p.components!.every((c) => isNumArray(c, d))) return 'pca components must be k × d numbers';
    if (!isNumArray(p.eigenvalues, k) || !p.eigenvalues.every((v) => v > 0))
      return 'pca needs one positive eigenvalue per component';
    if (!((p.t2Limit as number) > 0) || !((p.qLimit as number) > 0)) return 'pca limits must be positive';
    return null;
  },
  size: (m) => m.pca.mean.length * 2 + m.pca.components.length * (m.pca.mean.length + 1),
});

export const METHOD_STRATEGIES: { readonly [K in StatMethod]: MethodStrategy<Extract<FittedModel, { method: K }>> } = {
  threshold,
  l2,
  ewma,
  pca,
};

/** The strategy of a method (the one place the method name is looked up). */
export function strategyFor(method: StatMethod): MethodStrategy {
  const s = METHOD_STRATEGIES[method] as MethodStrategy | undefined;
  if (!s) throw new Error(`unknown anomaly method ${String(method)}`);
  return s;
}
