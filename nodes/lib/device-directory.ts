// Process-wide directory through which device-health nodes publish their device table, so that the alert
// node's HTTP API (GET /moby/devices) and the metrics can read it without wiring between the nodes.
import type { DeviceState } from '../core/contract';

export interface DeviceRow {
  device_id: string;
  state: DeviceState;
  since: number | null;
  last_seen: number | null;
  equipment_id?: string;
  /** which device-health node reported the row */
  source?: string;
  [key: string]: unknown;
}

type Source = () => DeviceRow[];
const sources = new Map<string, Source>();

/** Registers a device table source (a device-health node id); returns the unregister function. */
export function registerDeviceSource(id: string, source: Source): () => void {
  sources.set(id, source);
  return () => {
    if (sources.get(id) === source) sources.delete(id);
  };
}

export function hasDeviceSources(): boolean {
  return sources.size > 0;
}

/** All devices from every source; when several report one device, the most recent activity wins. */
export function listDevices(): DeviceRow[] {
  const byId = new Map<string, DeviceRow>();
  for (const [id, source] of sources) {
    for (const row of source()) {
      const prev = byId.get(row.device_id);
      if (!prev || (row.last_seen ?? -1) > (prev.last_seen ?? -1)) byId.set(row.device_id, { ...row, source: row.source ?? id });
    }
  }
  // plain code-unit order (not localeCompare): several times faster on big tables, and the order the API's
  // page cursor relies on
  return [...byId.values()].sort((a, b) => (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0));
}

let cached: { rows: DeviceRow[]; until: number } | null = null;

/**
 * listDevices() for the HTTP API. Building the sorted table is O(n log n) and synchronous; with 100k
 * devices several clients paging through it at once would rebuild it for every page and block the event
 * loop. The result is reused for ten times as long as it took to build (capped at 2 s): small tables are
 * effectively live, big ones are rebuilt at most about 10 % of the time, whoever asks.
 */
export function listDevicesForApi(now: () => number = () => performance.now()): DeviceRow[] {
  const t = now();
  if (cached && t < cached.until) return cached.rows;
  const rows = listDevices();
  const took = now() - t;
  cached = { rows, until: now() + Math.min(2000, took * 10) };
  return rows;
}
