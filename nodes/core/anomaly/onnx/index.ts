// ONNX model bundles: discovery/validation, per-device windows, micro-batched scoring; and the trainers
// and exporters moby-train uses to write bundles.
export {
  BundleScorer,
  interpret,
  deviceStateBytes,
  DEFAULT_MAX_STATE_BYTES,
  STATE_OVERHEAD_BYTES,
  type BudgetCap,
  type BundleScorerOptions,
  type LoadReport,
  type ModelRef,
  type PowerBucket,
  type ScoreOutcome,
  type ScoreRequest,
} from './bundle-scorer';
export { compareVersions, scanBundleDirs, loadBundle, type LoadedBundle } from './bundles';
export { META_SCHEMA, validateMeta, type BundleMeta, type OutputKind } from './meta';
export { SlidingWindow } from './window';
export { MicroBatcher } from './batcher';
export { PersistenceFilter } from './persistence';
export * from '../train';
