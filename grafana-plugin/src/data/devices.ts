// Equipment grid logic: operator-facing state, sorting and filtering, kept free of React.
import { DeviceRow, DeviceSort, DisplayState } from '../types';
import { DeviceAlertInfo, SEVERITY_RANK } from './alerts';
import { Condition, CONDITION_RANK, worstCondition } from './status';
import { deviceKey } from './keys';

export function displayState(d: DeviceRow, now: number, silentAfterSec: number): DisplayState {
  switch (d.state) {
    case 'OFFLINE':
      return 'offline';
    case 'TIMEOUT':
      return 'silent';
    case 'ONLINE':
      if (silentAfterSec > 0 && d.lastSeen !== null && now - d.lastSeen > silentAfterSec * 1000) {
        return 'silent';
      }
      return 'online';
    default:
      return 'unknown';
  }
}

/** Worst first: offline, silent, unknown, then healthy. */
export const STATE_RANK: Record<DisplayState, number> = { offline: 0, silent: 1, unknown: 2, online: 3 };

export interface DeviceView extends DeviceRow {
  display: DisplayState;
  alerts: DeviceAlertInfo;
  /** the worse of connectivity and open-alert severity: the card's colour */
  condition: Condition;
}

export function toDeviceViews(
  devices: DeviceRow[],
  alertInfo: Map<string, DeviceAlertInfo>,
  now: number,
  silentAfterSec: number
): DeviceView[] {
  return devices.map((d) => {
    const display = displayState(d, now, silentAfterSec);
    const alerts = alertInfo.get(deviceKey(d)) ?? { open: 0 };
    return { ...d, display, alerts, condition: worstCondition(display, alerts.worst) };
  });
}

// One collator for all comparisons: localeCompare with options builds a new one per call, which dominates
// sorting thousands of devices.
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
const byName = (a: DeviceView, b: DeviceView) =>
  collator.compare(a.deviceId, b.deviceId) || collator.compare(a.tenant ?? '', b.tenant ?? '');
const severityRank = (d: DeviceView) => (d.alerts.worst ? SEVERITY_RANK[d.alerts.worst] : 3);

export function sortDevices(devices: DeviceView[], sort: DeviceSort): DeviceView[] {
  const out = [...devices];
  switch (sort) {
    case 'name':
      return out.sort(byName);
    case 'score':
      return out.sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity) || byName(a, b));
    case 'lastSeen':
      // Longest silence first: that is what needs a walk to the machine.
      return out.sort((a, b) => (a.lastSeen ?? -Infinity) - (b.lastSeen ?? -Infinity) || byName(a, b));
    case 'condition':
      // What the card colour says, worst first; then more open alerts, then connectivity, then name.
      return out.sort(
        (a, b) =>
          CONDITION_RANK[a.condition] - CONDITION_RANK[b.condition] ||
          b.alerts.open - a.alerts.open ||
          STATE_RANK[a.display] - STATE_RANK[b.display] ||
          byName(a, b)
      );
    case 'alerts':
      return out.sort((a, b) => b.alerts.open - a.alerts.open || severityRank(a) - severityRank(b) || byName(a, b));
    case 'state':
    default:
      return out.sort(
        (a, b) =>
          STATE_RANK[a.display] - STATE_RANK[b.display] ||
          severityRank(a) - severityRank(b) ||
          b.alerts.open - a.alerts.open ||
          byName(a, b)
      );
  }
}

export interface DeviceFilter {
  states?: DisplayState[] | null;
  devices?: Set<string> | null;
  text?: string;
}

export function filterDevices(devices: DeviceView[], f: DeviceFilter): DeviceView[] {
  const q = (f.text ?? '').trim().toLowerCase();
  return devices.filter(
    (d) =>
      (!f.states || f.states.includes(d.display)) &&
      (!f.devices || f.devices.has(d.deviceId)) &&
      (!q ||
        d.deviceId.toLowerCase().includes(q) ||
        (d.equipmentId ?? '').toLowerCase().includes(q) ||
        (d.tenant ?? '').toLowerCase().includes(q))
  );
}

export function countStates(devices: DeviceView[]): Record<DisplayState, number> {
  const c: Record<DisplayState, number> = { online: 0, silent: 0, offline: 0, unknown: 0 };
  for (const d of devices) {
    c[d.display]++;
  }
  return c;
}
