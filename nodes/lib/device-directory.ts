// Process-wide directory through which device-health nodes publish their device table, so that the alert
// node's HTTP API (GET /moby/devices) and the metrics can read it without wiring between the nodes.
import type { DeviceState } from '../core/contract';
import { deviceRowKey } from '../core/alert/api';

export interface DeviceRow {
  device_id: string;
  state: DeviceState;
  since: number | null;
  last_seen: number | null;
  equipment_id?: string;
  /** the device's tenant (docs/tenants.md) */
  tenant?: string;
  /** which device-health node reported the row */
  source?: string;
  [key: string]: unknown;
}

type Source = () => DeviceRow[];
const sources = new Map<string, Source>();

/** Registers a device table source (a device-health node id); returns the unregister function. */
export function registerDeviceSource(id: string, source: Source): () => void {
  sources.set(id, source);
  invalidateDeviceListing();
  return () => {
    if (sources.get(id) === source) sources.delete(id);
    invalidateDeviceListing();
  };
}

/** All devices from every source; when several report one device, the most recent activity wins. */
export function listDevices(): DeviceRow[] {
  const byId = new Map<string, DeviceRow>();
  for (const [id, source] of sources) {
    for (const row of source()) {
      const key = deviceRowKey(row);
      const prev = byId.get(key);
      if (!prev || (row.last_seen ?? -1) > (prev.last_seen ?? -1)) byId.set(key, { ...row, source: row.source ?? id });
    }
  }
  // plain code-unit order (not localeCompare): several times faster on big tables, and the order the API's
  // page cursor relies on
  return [...byId.values()].sort(byDeviceId);
}

const byDeviceId = (a: DeviceRow, b: DeviceRow) => {
  // tenant-less rows (the common case) compare their ids directly; a tenant's row by device_id, then tenant
  if (a.tenant === undefined && b.tenant === undefined)
    return a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0;
  const x = deviceRowKey(a);
  const y = deviceRowKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
};
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Merges two sorted runs, handing the event loop back every `step` rows. */
async function mergeRuns(a: DeviceRow[], b: DeviceRow[], step: number): Promise<DeviceRow[]> {
  const out: DeviceRow[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length || j < b.length) {
    const stop = Math.min(out.length, k + step);
    while (k < stop) out[k++] = j >= b.length || (i < a.length && byDeviceId(a[i], b[j]) <= 0) ? a[i++] : b[j++];
    if (k < out.length) await yieldToLoop();
  }
  return out;
}

/**
 * listDevices() in slices: the merge of the sources and a merge sort in runs of `step` rows, yielding to
 * the event loop between slices, so a table of 100k devices never blocks other requests for the whole
 * build (only the sources' own snapshots are taken in one go).
 */
export async function listDevicesInSlices(step = 4096): Promise<DeviceRow[]> {
  const byId = new Map<string, DeviceRow>();
  let n = 0;
  for (const [id, source] of [...sources]) {
    for (const row of source()) {
      const key = deviceRowKey(row);
      const prev = byId.get(key);
      if (!prev || (row.last_seen ?? -1) > (prev.last_seen ?? -1)) byId.set(key, { ...row, source: row.source ?? id });
      if (++n % step === 0) await yieldToLoop();
    }
  }
  const all = [...byId.values()];
  let runs: DeviceRow[][] = [];
  for (let i = 0; i < all.length; i += step) {
    runs.push(all.slice(i, i + step).sort(byDeviceId));
    await yieldToLoop();
  }
  while (runs.length > 1) {
    const next: DeviceRow[][] = [];
    for (let i = 0; i < runs.length; i += 2)
      next.push(i + 1 < runs.length ? await mergeRuns(runs[i], runs[i + 1], step) : runs[i]);
    runs = next;
  }
  return runs[0] ?? [];
}

let cached: { rows: DeviceRow[]; until: number } | null = null;
let building: Promise<DeviceRow[]> | null = null;

/**
 * The sorted device table for the HTTP API (GET /devices pages through it). Built in slices (see above);
 * requests arriving during a build wait for that same build instead of starting their own; the result is
 * reused for twice as long as it took to build (at least 1 s, at most 30 s), so small tables are
 * effectively live and paging through a big one does not rebuild it for every page.
 */
export function listDevicesForApi(now: () => number = () => performance.now()): Promise<DeviceRow[]> {
  const t = now();
  if (cached && t < cached.until) return Promise.resolve(cached.rows);
  if (building) return building;
  const b = listDevicesInSlices().then(
    (rows) => {
      const took = now() - t;
      cached = { rows, until: now() + Math.min(30000, Math.max(1000, took * 2)) };
      building = null;
      return rows;
    },
    (err: unknown) => {
      building = null;
      throw err;
    }
  );
  building = b;
  return b;
}

/** Forgets the cached table (a device-health node was added or removed). */
export function invalidateDeviceListing(): void {
  cached = null;
}
