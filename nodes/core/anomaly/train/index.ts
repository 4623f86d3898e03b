// moby-train's building blocks: ONNX graph builder, exporters and trainers, CSV reader, bundle writer.
export * from './onnx-builder';
export * from './pca-export';
export * from './autoencoder';
export * from './rul';
export * from './convnet';
export * from './conv-autoencoder';
export * from './cmapss';
export * from './rul-cnn';
export * from './windows';
export * from './csv';
export * from './bundle-writer';
export {
  trainBundle,
  trainConvAutoencoderBundle,
  trainAutoencoderBundle,
  type TrainOptions,
  type TrainReport,
  type ConvAutoencoderTrainOptions,
  type ConvAutoencoderTrained,
  type AutoencoderBundleOptions,
  type AutoencoderTrained,
  type HeldOutTrainOptions,
  type HeldOutTrained,
} from './train';
