// Defaults of the onnx scorer that the node adapter needs too. Kept in a module without imports so that the
// adapter can read them without loading the scorer (and with it onnxruntime-node), which it loads lazily.

/** Default byte budget for per-device state (windows and the rest) of one scorer, in MiB (node setting). */
export const DEFAULT_MAX_STATE_MIB = 256;

/** The same budget in bytes, as the scorer's `maxStateBytes` option takes it. */
export const DEFAULT_MAX_STATE_BYTES = DEFAULT_MAX_STATE_MIB * 1024 * 1024;
