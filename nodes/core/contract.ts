// The data contract shared by every node, the InfluxDB writer and the Grafana panel. Changing a shape here
// is a breaking change for flows and dashboards: update README "Data contract" with it.

/** A flat, typed point as produced by normalize and consumed by the anomaly node and the InfluxDB writer. */
export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | boolean | string>;
  /** epoch milliseconds */
  timestamp: number;
}

/** Reject reason carried on every node's reject output as msg.moby.reject. */
export interface Reject {
  code: string;
  reason: string;
  device_id?: string;
  field?: string;
}

export type Severity = 'info' | 'warning' | 'critical';

/** msg.anomaly as set by the anomaly node. */
export interface AnomalyResult {
  score: number;
  threshold: number;
  is_anomaly: boolean;
  severity: Severity | 'normal';
  method: string;
  contributions: Record<string, number>;
  model?: { equipment_id?: string; power?: string; version?: string; kind?: string };
  /**
   * the device's incident state (statistical methods): true from the point an alarm opens (persistence, drift
   * or flat line) until it closes after a quiet spell. Alerts follow it when present (docs/anomaly.md#alarms).
   */
  alarm?: boolean;
  /**
   * true while the device settles after a restart (a silence of restartGap, then restartGrace of point time): no
   * alarm opens, the points do not count toward persistence (docs/anomaly.md#restarts)
   */
  settling?: boolean;
  /** true while the device's model is still calibrating (no verdict yet: alerts neither open nor clear on it) */
  warming?: boolean;
  /** while alarm is true: why, its severity (by score and duration), how many points it has lasted */
  incident?: {
    /** missing: the sensor `feature` gave no usable value for `points` points in a row (core/anomaly/missing-sensor.ts) */
    reason: 'persistent' | 'drift' | 'flatline' | 'noise' | 'missing';
    severity: Severity;
    points: number;
    opened: boolean;
    feature?: string;
    /** reason noise: the sensor's jitter is recurring sparse jumps (spikes) or one sudden jump, not broad noise */
    pattern?: 'spikes' | 'jump';
    /**
     * reason noise: how much the sensor's reading moves from one point to the next, at most since the alarm
     * opened, × as much as during calibration (RMS of the changes)
     */
    jitter?: number;
    /**
     * the highest smoothed score / threshold since the alarm opened: severity stays critical once it reached
     * criticalRatio, while `score` is the latest point's
     */
    peak?: number;
  };
}

export type DeviceState = 'UNKNOWN' | 'ONLINE' | 'OFFLINE' | 'TIMEOUT';
export type HealthReason = 'data' | 'status' | 'lwt' | 'timeout' | 'restore' | 'registered';

/** A device-health transition (msg.payload of the device-health node, topic "device-health"). */
export interface HealthEvent {
  device_id: string;
  state: DeviceState;
  previous: DeviceState;
  /** epoch ms since which the device is in `state` */
  since: number;
  /** epoch ms of last activity, or null when never seen */
  last_seen: number | null;
  reason: HealthReason;
  equipment_id?: string;
  /** the device's tenant (docs/tenants.md); absent without tenants */
  tenant?: string;
}

export type AlertStatus = 'open' | 'resolved';
export const ALERT_REASONS = [
  'persistent',
  'drift',
  'flatline',
  'noise',
  'spikes',
  'jump',
  'missing',
  'score',
  'offline',
  'timeout',
  'rul',
] as const;
export type AlertReason = (typeof ALERT_REASONS)[number];
export type AlertEventType = 'open' | 'update' | 'ack' | 'resolve' | 'escalate';

/** One alert as held by the alert node and returned by GET /moby/alerts. */
export interface Alert {
  alert_id: string;
  device_id: string;
  /** the device's tenant (docs/tenants.md); absent without tenants */
  tenant?: string;
  equipment_id?: string;
  rule: string;
  severity: Severity;
  status: AlertStatus;
  acknowledged: boolean;
  message: string;
  /**
   * why it fired, for flows and channels that route without reading the message (its latest trigger's):
   * anomaly alarms `persistent`, `drift`, `flatline`, `noise`, `spikes`, `jump`, `missing`, or `score` (a point's
   * own verdict, no incident tracking); device health `offline`, `timeout`; `rul`. Absent on msg.alert alerts
   */
  reason?: AlertReason;
  /** the sensor the reason is about (flatline, noise, spikes, jump, missing), as in msg.anomaly.incident.feature */
  sensor?: string;
  summary?: string;
  value?: number;
  threshold?: number;
  count: number;
  opened_at: number;
  updated_at: number;
  acknowledged_at?: number;
  acknowledged_by?: string;
  ack_note?: string;
  resolved_at?: number;
  resolved_by?: string;
  resolve_note?: string;
  escalated?: boolean;
}

/** An alert lifecycle event (msg.payload on the alert node's event output). */
export interface AlertEvent {
  event: AlertEventType;
  time: number;
  alert: Alert;
  /** on an `update` that raised the alert's severity: the severity before (the alert node pages such a rise) */
  raised_from?: Severity;
}

/** InfluxDB measurement names the writer uses for each event kind (the panel reads these). */
export const MEASUREMENTS = {
  alerts: 'moby_alerts',
  deviceState: 'moby_device_state',
  anomaly: 'moby_anomaly',
  telemetry: 'telemetry',
} as const;
