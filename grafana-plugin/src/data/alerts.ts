// Alert list logic kept free of React so it can be tested and reused by the grid (open-alert counts).
import { AlertPhase, AlertRow, Severity } from '../types';
import { deviceKey } from './keys';

export const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };
export const PHASE_RANK: Record<AlertPhase, number> = { firing: 0, acknowledged: 1, resolved: 2 };

export function phaseOf(a: Pick<AlertRow, 'status' | 'acknowledged'>): AlertPhase {
  if (a.status === 'resolved') {
    return 'resolved';
  }
  return a.acknowledged ? 'acknowledged' : 'firing';
}

/** Firing first, then acknowledged, then resolved; within each, critical first; then newest first. */
export function compareAlerts(a: AlertRow, b: AlertRow): number {
  return (
    PHASE_RANK[phaseOf(a)] - PHASE_RANK[phaseOf(b)] ||
    SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
    b.time - a.time ||
    a.alertId.localeCompare(b.alertId)
  );
}

export function sortAlerts(alerts: AlertRow[]): AlertRow[] {
  return [...alerts].sort(compareAlerts);
}

const ALL = new Set(['', '*', '.*', '.+', '$__all', 'all']);

/**
 * Parses a device filter after dashboard variables were interpolated: "a", "a,b", "{a,b}" (Grafana's
 * multi-value glob), "a|b", "(a|b)" or the regex format "^(a|b\\.c)$". Empty, "All", "$__all", "*" or a
 * regex all-value (".*") mean no filter (null), as does a variable left uninterpolated.
 */
export function parseDeviceFilter(raw: string | undefined): Set<string> | null {
  const s = (raw ?? '')
    .trim()
    .replace(/^\^|\$$/g, '')
    .replace(/^[({]|[)}]$/g, '');
  if (ALL.has(s.toLowerCase()) || s.startsWith('$')) {
    return null;
  }
  const parts = s
    .split(/[,|\s]+/)
    // the regex format escapes characters such as "." in ids
    .map((p) => p.trim().replace(/\\(.)/g, '$1'))
    .filter(Boolean);
  if (parts.some((p) => ALL.has(p.toLowerCase()))) {
    return null;
  }
  return parts.length ? new Set(parts) : null;
}

export interface AlertFilter {
  phases?: AlertPhase[];
  severities?: Severity[];
  /** devices allowed by the dashboard variable; null = all */
  devices?: Set<string> | null;
  /** the device the operator clicked, as deviceKey (tenant and device) */
  device?: string | null;
  text?: string;
}

export function matchesText(a: AlertRow, text: string): boolean {
  const q = text.trim().toLowerCase();
  if (!q) {
    return true;
  }
  return [a.message, a.summary, a.rule, a.deviceId, a.equipmentId, a.alertId, a.tenant].some(
    (v) => v !== undefined && v.toLowerCase().includes(q)
  );
}

export function filterAlerts(alerts: AlertRow[], f: AlertFilter): AlertRow[] {
  return alerts.filter(
    (a) =>
      (!f.phases || f.phases.includes(phaseOf(a))) &&
      (!f.severities || f.severities.includes(a.severity)) &&
      (!f.devices || f.devices.has(a.deviceId)) &&
      (!f.device || deviceKey(a) === f.device) &&
      (!f.text || matchesText(a, f.text))
  );
}

export interface AlertGroup {
  key: string;
  label: string;
  alerts: AlertRow[];
}

/** Groups already-sorted alerts by equipment (device when none); groups keep the order of their first alert,
 * so the group holding the most urgent alert comes first. */
export function groupByEquipment(sorted: AlertRow[]): AlertGroup[] {
  const groups = new Map<string, AlertGroup>();
  for (const a of sorted) {
    const key = a.equipmentId || a.deviceId || '';
    let g = groups.get(key);
    if (!g) {
      g = { key, label: key || '(no equipment)', alerts: [] };
      groups.set(key, g);
    }
    g.alerts.push(a);
  }
  return [...groups.values()];
}

export interface AlertCounts {
  firing: number;
  acknowledged: number;
  resolved: number;
  firingCritical: number;
}

export function countAlerts(alerts: AlertRow[]): AlertCounts {
  const c: AlertCounts = { firing: 0, acknowledged: 0, resolved: 0, firingCritical: 0 };
  for (const a of alerts) {
    const p = phaseOf(a);
    c[p]++;
    if (p === 'firing' && a.severity === 'critical') {
      c.firingCritical++;
    }
  }
  return c;
}

export interface DeviceAlertInfo {
  open: number;
  worst?: Severity;
}

/** Open alerts per device (keyed by deviceKey: tenant and device) with their worst severity, for the equipment cards. */
export function openAlertsByDevice(alerts: AlertRow[]): Map<string, DeviceAlertInfo> {
  const out = new Map<string, DeviceAlertInfo>();
  for (const a of alerts) {
    if (a.status !== 'open') {
      continue;
    }
    const info = out.get(deviceKey(a)) ?? { open: 0 };
    info.open++;
    if (!info.worst || SEVERITY_RANK[a.severity] < SEVERITY_RANK[info.worst]) {
      info.worst = a.severity;
    }
    out.set(deviceKey(a), info);
  }
  return out;
}
