// Bundle discovery and loading: <root>/<equipment_id>/<power>/<model_version>/{model.onnx,meta.json}.
// A bundle is only accepted after its meta validates, its session loads and a dry run on a zero window
// yields every declared output with the expected size; anything else is refused with the reason.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { parseJsonSafe } from '../../safe-json';
import { baselineFeatures, validateMeta, type BundleMeta } from './meta';
import { ort } from './ort';

export const MODEL_FILE = 'model.onnx';
export const META_FILE = 'meta.json';
/** meta.json is small; anything bigger is refused before parsing */
const META_MAX_BYTES = 1 << 20;
const DRY_RUN_BATCH = 2;

export interface LoadedBundle {
  /** "<equipment_id>/<power>/<model_version>" */
  id: string;
  dir: string;
  equipmentId: string;
  power: string;
  version: string;
  meta: BundleMeta;
  session: InferenceSession;
  /** sha256 over meta.json and model.onnx; an unchanged bundle is not reloaded */
  fingerprint: string;
  /** floats per input window (window × features) */
  rowSize: number;
  /** meta.baseline_cycles: positions in meta.features of the baselined features (the second input's width); else empty */
  baseCols: number[];
  /** runs in flight; a replaced bundle's session is released when this drops to 0 */
  inflight: number;
  retired: boolean;
}

/** Natural order for version directory names: v2 < v10, 2026-01-02 < 2026-11-20. */
export function compareVersions(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

/** Names of visible subdirectories (dot-directories are staging areas and skipped). */
function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** All candidate bundle directories under root (exactly three levels deep). Throws when root is unreadable. */
export function scanBundleDirs(
  root: string
): Array<{ dir: string; equipmentId: string; power: string; version: string }> {
  const out: Array<{ dir: string; equipmentId: string; power: string; version: string }> = [];
  for (const eq of subdirs(root)) {
    for (const power of subdirs(path.join(root, eq))) {
      for (const version of subdirs(path.join(root, eq, power))) {
        out.push({ dir: path.join(root, eq, power, version), equipmentId: eq, power, version });
      }
    }
  }
  return out;
}

/** Reads both files and returns their fingerprint, or throws naming the missing/unreadable file. */
/**
 * The largest model.onnx loaded: a file of junk dropped into the root (700 MB) stalled the event loop for 6.6 s at
 * every scan and held ~800 MB (keyed-device red team 2026-12-07). moby-train's largest bundle (the C-MAPSS RUL
 * ensemble) is 18 MB.
 */
export const MODEL_MAX_BYTES = 256 * 1024 * 1024;

export function readBundleFiles(dir: string): { metaText: Buffer; model: Buffer; fingerprint: string } {
  const metaPath = path.join(dir, META_FILE);
  const modelPath = path.join(dir, MODEL_FILE);
  if (!fs.existsSync(metaPath)) throw new Error(`${metaPath}: missing`);
  if (!fs.existsSync(modelPath)) throw new Error(`${modelPath}: missing`);
  // sizes first: a file dropped into the root is read whole, on the main thread, at every scan
  for (const [file, max] of [
    [metaPath, META_MAX_BYTES],
    [modelPath, MODEL_MAX_BYTES],
  ] as const) {
    const size = fs.statSync(file).size;
    if (size > max) throw new Error(`${file}: ${size} bytes, more than the ${max} a bundle's file may have`);
  }
  const metaText = fs.readFileSync(metaPath);
  const model = fs.readFileSync(modelPath);
  const fingerprint = crypto.createHash('sha256').update(metaText).update('\0').update(model).digest('hex');
  return { metaText, model, fingerprint };
}

export function parseMeta(metaText: Buffer, file: string): BundleMeta {
  const parsed = parseJsonSafe(metaText, { maxBytes: META_MAX_BYTES, maxDepth: 6, maxKeys: 50000 });
  if (!parsed.ok) throw new Error(`${file}: ${parsed.reject.reason}`);
  return validateMeta(parsed.value, file);
}

export function inputDims(meta: BundleMeta, batch: number): number[] {
  return meta.input.layout === 'sequence'
    ? [batch, meta.window, meta.features.length]
    : [batch, meta.window * meta.features.length];
}

/** Values per window each declared output must have (-1: one per row or two for a probability pair). */
export function expectedPerRow(meta: BundleMeta, role: keyof BundleMeta['outputs']): number[] {
  const f = meta.features.length;
  switch (role) {
    case 'reconstruction':
      return [meta.window * f];
    case 'contributions':
      return [f];
    case 'probability':
      return [1, 2];
    default:
      return [1];
  }
}

export const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  // the models are tiny; batching gives the parallelism, extra threads only add hand-off latency
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

/** Creates the session and dry-runs it on a zero window. Throws with a reason naming the file and field. */
export async function loadBundle(
  cand: { dir: string; equipmentId: string; power: string; version: string },
  files = readBundleFiles(cand.dir)
): Promise<LoadedBundle> {
  const metaFile = path.join(cand.dir, META_FILE);
  const modelFile = path.join(cand.dir, MODEL_FILE);
  const meta = parseMeta(files.metaText, metaFile);
  for (const [field, want] of [
    ['equipment_id', cand.equipmentId],
    ['power', cand.power],
    ['version', cand.version],
  ] as const) {
    const got = meta[field];
    if (got !== undefined && got !== want)
      throw new Error(`${metaFile}: ${field} is "${got}" but the bundle directory says "${want}"`);
  }
  let session: InferenceSession;
  try {
    session = await ort().InferenceSession.create(files.model, SESSION_OPTIONS);
  } catch (err) {
    throw new Error(`${modelFile}: not a loadable ONNX model: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!session.inputNames.includes(meta.input.name)) {
      throw new Error(
        `${metaFile}: input.name "${meta.input.name}" is not an input of the model (inputs: ${session.inputNames.join(', ')})`
      );
    }
    if (meta.baseline_input !== undefined && !session.inputNames.includes(meta.baseline_input))
      throw new Error(
        `${metaFile}: baseline_input "${meta.baseline_input}" is not an input of the model (inputs: ${session.inputNames.join(', ')})`
      );
    const baseCols = meta.baseline_cycles !== undefined ? baselineFeatures(meta) : [];
    const roles = Object.entries(meta.outputs) as Array<[keyof BundleMeta['outputs'], string]>;
    for (const [role, name] of roles) {
      if (!session.outputNames.includes(name))
        throw new Error(
          `${metaFile}: outputs.${role} "${name}" is not an output of the model (outputs: ${session.outputNames.join(', ')})`
        );
    }
    const rowSize = meta.window * meta.features.length;
    // two zero windows: a model exported with a fixed batch size of 1 is caught here, not on the first batch
    const dims = inputDims(meta, DRY_RUN_BATCH);
    let result: InferenceSession.OnnxValueMapType;
    try {
      result = await session.run({
        [meta.input.name]: new (ort().Tensor)('float32', new Float32Array(DRY_RUN_BATCH * rowSize), dims),
        ...(meta.baseline_input !== undefined
          ? {
              [meta.baseline_input]: new (ort().Tensor)('float32', new Float32Array(DRY_RUN_BATCH * baseCols.length), [
                DRY_RUN_BATCH,
                baseCols.length,
              ]),
            }
          : {}),
      });
    } catch (err) {
      throw new Error(
        `${modelFile}: dry run with zero windows of shape [${dims.join(', ')}] failed (the batch dimension must be dynamic): ${(err as Error).message}`,
        { cause: err }
      );
    }
    for (const [role, name] of roles) {
      const t = result[name] as Tensor;
      if (t.type !== 'float32')
        throw new Error(`${modelFile}: output "${name}" (outputs.${role}) is ${t.type}, expected float32`);
      const size = t.data.length / DRY_RUN_BATCH;
      const want = expectedPerRow(meta, role);
      if (!want.includes(size))
        throw new Error(
          `${modelFile}: output "${name}" (outputs.${role}) has ${size} values per window, expected ${want.join(' or ')}`
        );
    }
    return {
      id: `${cand.equipmentId}/${cand.power}/${cand.version}`,
      dir: cand.dir,
      equipmentId: cand.equipmentId,
      power: cand.power,
      version: cand.version,
      meta,
      session,
      fingerprint: files.fingerprint,
      rowSize,
      baseCols,
      inflight: 0,
      retired: false,
    };
  } catch (err) {
    await session.release().catch(() => undefined);
    throw err;
  }
}
