// moby-train's building blocks: ONNX graph builder, exporters and trainers, CSV reader, bundle writer.
export * from './onnx-builder';
export * from './pca-export';
export * from './autoencoder';
export * from './rul';
export * from './windows';
export * from './csv';
export * from './bundle-writer';
export { trainBundle, type TrainOptions, type TrainReport } from './train';
