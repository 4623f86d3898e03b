// onnxruntime-node, loaded on first use: the package entry point re-exports this module, and importing it
// must not load the native runtime for users who never score with ONNX.
import type * as Ort from 'onnxruntime-node';

let cached: typeof Ort | null = null;

export function ort(): typeof Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not at import
  if (!cached) cached = require('onnxruntime-node') as typeof Ort;
  return cached;
}
