// Writes a bundle directory atomically: model.onnx and meta.json go to a hidden staging directory next to
// the target (skipped by bundle discovery), are loaded and dry-run exactly as the scorer would, and only
// then renamed into place, so a watcher never sees a half-written bundle.
import fs from 'node:fs';
import path from 'node:path';
import { loadBundle } from '../onnx/bundles';
import { validateMeta, type BundleMeta } from '../onnx/meta';

export interface WriteBundleOptions {
  /** replace an existing bundle directory */
  force?: boolean;
}

/** `out` is <root>/<equipment_id>/<power>/<model_version>; returns the meta as written. */
export async function writeBundle(
  out: string,
  model: Uint8Array,
  meta: Omit<BundleMeta, 'equipment_id' | 'power' | 'version'>,
  opts: WriteBundleOptions = {}
): Promise<BundleMeta> {
  const dir = path.resolve(out);
  const version = path.basename(dir);
  const power = path.basename(path.dirname(dir));
  const equipmentId = path.basename(path.dirname(path.dirname(dir)));
  for (const [what, name] of [
    ['equipment_id', equipmentId],
    ['power', power],
    ['model_version', version],
  ]) {
    if (!name || name.startsWith('.'))
      throw new Error(`--out ${out}: expected <root>/<equipment_id>/<power>/<model_version>, bad ${what} "${name}"`);
  }
  if (fs.existsSync(dir) && !opts.force) throw new Error(`${dir} already exists (use --force to replace it)`);
  const full = validateMeta({ ...meta, equipment_id: equipmentId, power, version }, 'meta.json (generated)');
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const staging = path.join(parent, `.${version}.tmp-${process.pid}-${Date.now()}`);
  fs.mkdirSync(staging);
  try {
    fs.writeFileSync(path.join(staging, 'model.onnx'), model);
    fs.writeFileSync(path.join(staging, 'meta.json'), JSON.stringify(full, null, 2) + '\n');
    const check = await loadBundle({ dir: staging, equipmentId, power, version });
    await check.session.release();
    if (fs.existsSync(dir)) {
      // two renames keep the gap in which a scan finds no bundle as short as possible
      const old = path.join(parent, `.${version}.old-${process.pid}-${Date.now()}`);
      fs.renameSync(dir, old);
      fs.renameSync(staging, dir);
      fs.rmSync(old, { recursive: true, force: true });
    } else fs.renameSync(staging, dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return full;
}
