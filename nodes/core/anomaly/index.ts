// Public API of the statistical anomaly core (the ONNX part is exported from ./onnx).
export * from './detector';
export * from './device-states';
export * from './state-document';
export { METHOD_STRATEGIES, strategyFor, type MethodScore, type MethodStrategy } from './methods';
export * from './pca';
export * from './l2';
export * from './ewma';
export * from './threshold';
export * from './smoothing';
export * from './severity';
export * from './scaling';
export { symmetricEigen, quantile } from './linalg';
