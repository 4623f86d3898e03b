// Panel model, built on the data contract the nodes write (nodes/core/contract.ts). Type-only import: nothing
// of the Node-RED package ends up in the bundle, but a change of the contract fails the panel's type check.
import type { Severity, AlertStatus, DeviceState } from '../../nodes/core/contract';

export type { Severity, AlertStatus, DeviceState };
/** What an operator is shown: TIMEOUT reads "silent", and an ONLINE device past `silentAfter` is silent too. */
export type DisplayState = 'online' | 'silent' | 'offline' | 'unknown';
/** Alert lifecycle as the operator sees it: firing = open and nobody on it. */
export type AlertPhase = 'firing' | 'acknowledged' | 'resolved';

export type ViewMode = 'both' | 'equipment' | 'alerts';
export type Density = 'compact' | 'comfortable' | 'wall';
export type DeviceSort = 'condition' | 'state' | 'name' | 'score' | 'lastSeen' | 'alerts';
/** Cards (one per device, with values and trend) or tiles (one square per device, grouped per equipment). Auto
 * picks tiles above `summariseAbove` devices. */
export type EquipmentLayout = 'auto' | 'cards' | 'tiles';

/** Latest value of one measured quantity on a device (telemetry frames), with what Grafana needs to format it. */
export interface MeasuredValue {
  name: string;
  value: number;
  time: number;
  /** Grafana unit id from the field config (e.g. "celsius", "suffix: mm/s") */
  unit?: string;
  decimals?: number;
  /** Grafana's display processor for the field, when the data came through applyFieldOverrides */
  display?: (v: unknown) => { text: string; prefix?: string; suffix?: string };
}

/** A data link as Grafana resolves it from the field config ("Data links" in the panel editor). */
export interface PanelLink {
  href: string;
  title: string;
  target?: string;
}

export interface AlertRow {
  alertId: string;
  deviceId: string;
  equipmentId?: string;
  /** the device's tenant (MOBY docs/tenants.md): the `tenant` tag of moby_alerts, absent without tenants */
  tenant?: string;
  rule: string;
  severity: Severity;
  status: AlertStatus;
  acknowledged: boolean;
  message: string;
  summary?: string;
  value?: number;
  threshold?: number;
  count?: number;
  /** epoch ms of the latest event for this alert */
  time: number;
  /** epoch ms the alert opened (opened_at, else earliest event seen) */
  openedAt: number;
  acknowledgedBy?: string;
  resolvedBy?: string;
  note?: string;
  /** Data links configured on the device field, for this row (resolved lazily: most are never shown). */
  links?: () => PanelLink[];
}

export interface DeviceRow {
  deviceId: string;
  /** the device's tenant (MOBY docs/tenants.md): two tenants' `pump-001` are two devices; absent without tenants */
  tenant?: string;
  equipmentId?: string;
  state: DeviceState;
  since?: number;
  /** epoch ms, null when never seen */
  lastSeen: number | null;
  score?: number;
  scoreThreshold?: number;
  isAnomaly?: boolean;
  /** anomaly scores over the query range, oldest first, at most SCORE_HISTORY points: [epoch ms, score] */
  scoreHistory?: Array<[number, number]>;
  /** latest measured values (telemetry frames), in frame order */
  values?: MeasuredValue[];
  /** epoch ms until which the device is in a maintenance (mute) window: no notifications */
  mutedUntil?: number;
  links?: () => PanelLink[];
}

export interface FieldMap {
  time: string;
  alertId: string;
  deviceId: string;
  equipmentId: string;
  rule: string;
  severity: string;
  status: string;
  acknowledged: string;
  message: string;
  summary: string;
  value: string;
  threshold: string;
  state: string;
  lastSeen: string;
  score: string;
}

export interface PanelOptions {
  viewMode: ViewMode;
  /** Base URL of the alert API, e.g. http://node-red:1880/moby; empty hides the actions. */
  apiUrl: string;
  /** Link template for a device dashboard; ${device_id} and dashboard variables are replaced. */
  deviceLink: string;
  /** Device filter, typically a dashboard variable such as $device; empty or All means every device. */
  deviceFilter: string;
  statusFilter: AlertPhase[];
  severityFilter: Severity[];
  groupByEquipment: boolean;
  deviceSort: DeviceSort;
  equipmentLayout: EquipmentLayout;
  /** Comma-separated measured fields to show on cards (empty: the first three numeric telemetry fields). */
  valueFields: string;
  /** Seconds after which an ONLINE device with no data is shown as silent; 0 trusts the reported state. */
  silentAfter: number;
  /** Anomaly threshold used when the data carries none. */
  scoreThreshold: number;
  density: Density;
  /** Font scale in percent, for wall displays. */
  fontSize: number;
  /** Above this many devices the grid starts with problems only (ONLINE cards hidden until asked). */
  summariseAbove: number;
  fields: FieldMap;
}

export const DEFAULT_FIELDS: FieldMap = {
  time: 'time',
  alertId: 'alert_id',
  deviceId: 'device_id',
  equipmentId: 'equipment_id',
  rule: 'rule',
  severity: 'severity',
  status: 'status',
  acknowledged: 'acknowledged',
  message: 'message',
  summary: 'summary',
  value: 'value',
  threshold: 'threshold',
  state: 'state',
  lastSeen: 'last_seen',
  score: 'score',
};

export const DEFAULT_OPTIONS: PanelOptions = {
  viewMode: 'both',
  apiUrl: '',
  deviceLink: '',
  deviceFilter: '',
  statusFilter: ['firing', 'acknowledged'],
  severityFilter: ['critical', 'warning', 'info'],
  groupByEquipment: false,
  deviceSort: 'condition',
  equipmentLayout: 'auto',
  valueFields: '',
  silentAfter: 0,
  scoreThreshold: 1,
  density: 'comfortable',
  fontSize: 100,
  summariseAbove: 500,
  fields: DEFAULT_FIELDS,
};
