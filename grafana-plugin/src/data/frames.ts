// Turns the query result into the panel model. Frames are recognised by the fields they carry, not by query
// or datasource, so the same panel reads InfluxDB (moby_alerts / moby_device_state / moby_anomaly, one row per
// event) and the alert API through a JSON datasource (one row per alert or device, already current).
import { DataFrame, Field, FieldType } from '@grafana/data';
import { AlertRow, DeviceRow, DeviceState, FieldMap, MeasuredValue, PanelLink, Severity } from '../types';
import { deviceKey } from './keys';

/** Points kept per device for the anomaly sparkline: enough for a trend, bounded for 10,000 devices. */
export const SCORE_HISTORY = 60;

export interface PanelModel {
  alerts: AlertRow[];
  devices: DeviceRow[];
  /** true when at least one frame was recognised */
  recognised: boolean;
}

type Getter = (row: number) => unknown;

/** Column accessor by name: a field (case-insensitive), or a label constant on the frame's fields, as InfluxQL
 * and unpivoted Flux results carry tags. */
function column(frame: DataFrame, name: string): Getter | undefined {
  if (!name) {
    return undefined;
  }
  const lower = name.toLowerCase();
  const field = frame.fields.find((f) => f.name.toLowerCase() === lower);
  if (field) {
    return (i) => field.values[i];
  }
  for (const f of frame.fields) {
    if (f.labels && Object.prototype.hasOwnProperty.call(f.labels, name)) {
      const v = f.labels[name];
      return () => v;
    }
  }
  return undefined;
}

/** Data links Grafana attached to a field (field config "Data links"), for one row. */
function linksAt(frame: DataFrame, name: string, row: number): (() => PanelLink[]) | undefined {
  const lower = name.toLowerCase();
  const field = frame.fields.find((f) => f.name.toLowerCase() === lower);
  if (!field?.getLinks || !field.config?.links?.length) {
    return undefined;
  }
  return () => field.getLinks!({ valueRowIndex: row }).map((l) => ({ href: l.href, title: l.title, target: l.target }));
}

function timeColumn(frame: DataFrame, name: string): Getter | undefined {
  const named = column(frame, name) ?? column(frame, '_time');
  if (named) {
    return named;
  }
  const typed: Field | undefined = frame.fields.find((f) => f.type === FieldType.time);
  return typed ? (i) => typed.values[i] : undefined;
}

/** Epoch ms from numbers (ms, or seconds when small), numeric strings, ISO strings and Dates. */
export function toMs(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') {
    return undefined;
  }
  if (v instanceof Date) {
    return v.getTime();
  }
  if (typeof v === 'number') {
    return Number.isFinite(v) ? (Math.abs(v) < 1e11 ? v * 1000 : v) : undefined;
  }
  if (typeof v === 'string') {
    const n = Number(v);
    if (Number.isFinite(n)) {
      return toMs(n);
    }
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

function toNum(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') {
    return undefined;
  }
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function toStr(v: unknown): string | undefined {
  if (v === null || v === undefined) {
    return undefined;
  }
  const s = String(v);
  return s === '' ? undefined : s;
}

export function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') {
    return v;
  }
  if (typeof v === 'number') {
    return v !== 0;
  }
  if (typeof v === 'string') {
    return ['true', '1', 'yes', 't'].includes(v.trim().toLowerCase());
  }
  return false;
}

export function toSeverity(v: unknown): Severity {
  const s = String(v ?? '').toLowerCase();
  if (s === 'critical' || s === 'crit' || s === 'error') {
    return 'critical';
  }
  if (s === 'warning' || s === 'warn') {
    return 'warning';
  }
  return 'info';
}

export function toState(v: unknown): DeviceState {
  const s = String(v ?? '').toUpperCase();
  return s === 'ONLINE' || s === 'OFFLINE' || s === 'TIMEOUT' ? s : 'UNKNOWN';
}

function parseAlerts(frame: DataFrame, f: FieldMap, into: Map<string, AlertRow>) {
  const id = column(frame, f.alertId)!;
  const time = timeColumn(frame, f.time);
  const updatedAt = column(frame, 'updated_at');
  const openedAt = column(frame, 'opened_at');
  const device = column(frame, f.deviceId);
  const equipment = column(frame, f.equipmentId);
  const tenant = column(frame, 'tenant');
  const rule = column(frame, f.rule);
  const severity = column(frame, f.severity);
  const status = column(frame, f.status);
  const event = column(frame, 'event');
  const ack = column(frame, f.acknowledged);
  const message = column(frame, f.message);
  const summary = column(frame, f.summary);
  const value = column(frame, f.value);
  const threshold = column(frame, f.threshold);
  const count = column(frame, 'count');
  const ackBy = column(frame, 'acknowledged_by');
  const resBy = column(frame, 'resolved_by');
  const note = column(frame, 'resolve_note') ?? column(frame, 'ack_note') ?? column(frame, 'note');

  for (let i = 0; i < frame.length; i++) {
    const alertId = toStr(id(i));
    if (!alertId) {
      continue;
    }
    const t = toMs(time?.(i)) ?? toMs(updatedAt?.(i)) ?? toMs(openedAt?.(i)) ?? 0;
    const opened = toMs(openedAt?.(i)) ?? t;
    const prev = into.get(alertId);
    const firstOpened = prev ? Math.min(prev.openedAt, opened) : opened;
    // Event rows: the newest wins; on equal timestamps the later row does (write order).
    if (prev && prev.time > t) {
      prev.openedAt = firstOpened;
      continue;
    }
    const statusRaw = String(status?.(i) ?? event?.(i) ?? 'open').toLowerCase();
    into.set(alertId, {
      alertId,
      deviceId: toStr(device?.(i)) ?? prev?.deviceId ?? '',
      equipmentId: toStr(equipment?.(i)) ?? prev?.equipmentId,
      tenant: toStr(tenant?.(i)) ?? prev?.tenant,
      rule: toStr(rule?.(i)) ?? prev?.rule ?? '',
      severity: severity ? toSeverity(severity(i)) : (prev?.severity ?? 'info'),
      status: statusRaw === 'resolved' || statusRaw === 'resolve' ? 'resolved' : 'open',
      acknowledged: ack ? toBool(ack(i)) : statusRaw === 'ack',
      message: toStr(message?.(i)) ?? prev?.message ?? '',
      summary: toStr(summary?.(i)) ?? prev?.summary,
      value: toNum(value?.(i)),
      threshold: toNum(threshold?.(i)),
      count: toNum(count?.(i)),
      time: t,
      openedAt: firstOpened,
      acknowledgedBy: toStr(ackBy?.(i)) ?? prev?.acknowledgedBy,
      resolvedBy: toStr(resBy?.(i)) ?? prev?.resolvedBy,
      note: toStr(note?.(i)) ?? prev?.note,
      links: linksAt(frame, f.deviceId, i),
    });
  }
}

interface Stamped<T> {
  t: number;
  row: T;
}

function parseStates(frame: DataFrame, f: FieldMap, into: Map<string, Stamped<DeviceRow>>) {
  const id = column(frame, f.deviceId)!;
  const state = column(frame, f.state)!;
  const time = timeColumn(frame, f.time);
  const since = column(frame, 'since');
  const lastSeen = column(frame, f.lastSeen);
  const equipment = column(frame, f.equipmentId);
  // GET /moby/devices adds muted_until while a device is in a maintenance window
  const mutedUntil = column(frame, 'muted_until');
  const tenantOf = column(frame, 'tenant');
  for (let i = 0; i < frame.length; i++) {
    const deviceId = toStr(id(i));
    if (!deviceId) {
      continue;
    }
    const tenant = toStr(tenantOf?.(i));
    const key = deviceKey({ deviceId, tenant });
    const s = toMs(since?.(i));
    const muted = toMs(mutedUntil?.(i));
    const seen = toMs(lastSeen?.(i));
    const t = toMs(time?.(i)) ?? s ?? seen ?? 0;
    const prev = into.get(key);
    if (prev && prev.t > t) {
      continue;
    }
    into.set(key, {
      t,
      row: {
        deviceId,
        ...(tenant !== undefined ? { tenant } : {}),
        equipmentId: toStr(equipment?.(i)) ?? prev?.row.equipmentId,
        state: toState(state(i)),
        since: s ?? t,
        lastSeen: seen ?? null,
        ...(muted !== undefined ? { mutedUntil: muted } : {}),
        links: linksAt(frame, f.deviceId, i),
      },
    });
  }
}

interface Score {
  deviceId: string;
  tenant?: string;
  score: number;
  threshold?: number;
  isAnomaly?: boolean;
  equipmentId?: string;
}

/** Keeps the newest SCORE_HISTORY points per device; trims in batches so a long range costs O(n log n) once. */
function pushHistory(into: Map<string, Array<[number, number]>>, deviceId: string, t: number, score: number) {
  let h = into.get(deviceId);
  if (!h) {
    h = [];
    into.set(deviceId, h);
  }
  h.push([t, score]);
  if (h.length > SCORE_HISTORY * 2) {
    h.sort((a, b) => a[0] - b[0]);
    h.splice(0, h.length - SCORE_HISTORY);
  }
}

function parseScores(
  frame: DataFrame,
  f: FieldMap,
  into: Map<string, Stamped<Score>>,
  history: Map<string, Array<[number, number]>>
) {
  const id = column(frame, f.deviceId)!;
  const score = column(frame, f.score)!;
  const threshold = column(frame, f.threshold);
  const isAnomaly = column(frame, 'is_anomaly');
  const equipment = column(frame, f.equipmentId);
  const time = timeColumn(frame, f.time);
  const tenantOf = column(frame, 'tenant');
  for (let i = 0; i < frame.length; i++) {
    const deviceId = toStr(id(i));
    const s = toNum(score(i));
    if (!deviceId || s === undefined) {
      continue;
    }
    const tenant = toStr(tenantOf?.(i));
    const key = deviceKey({ deviceId, tenant });
    const t = toMs(time?.(i)) ?? 0;
    if (time) {
      pushHistory(history, key, t, s);
    }
    const prev = into.get(key);
    if (prev && prev.t > t) {
      continue;
    }
    into.set(key, {
      t,
      row: {
        deviceId,
        tenant,
        score: s,
        threshold: toNum(threshold?.(i)),
        isAnomaly: isAnomaly ? toBool(isAnomaly(i)) : undefined,
        equipmentId: toStr(equipment?.(i)),
      },
    });
  }
}

/** Fields of the MOBY frames themselves: never shown as a measured value. */
const NOT_MEASURED = new Set([
  'score',
  'threshold',
  'is_anomaly',
  'since',
  'last_seen',
  'muted_until',
  'count',
  'value',
  'opened_at',
  'updated_at',
]);

function measuredName(frame: DataFrame, field: Field): string {
  const label = field.labels?._field ?? field.labels?.field;
  if (field.config?.displayName) {
    return field.config.displayName;
  }
  if (label) {
    return label;
  }
  // Unpivoted Flux and some SQL results call the value column "_value"/"value": the frame name says what it is.
  return (field.name === '_value' || field.name === 'Value') && frame.name ? frame.name : field.name;
}

/** Latest value per device and measured field, from telemetry frames (wide, or one series per device). */
function parseValues(frame: DataFrame, f: FieldMap, into: Map<string, Map<string, MeasuredValue>>) {
  const id = column(frame, f.deviceId)!;
  const time = timeColumn(frame, f.time);
  const skip = new Set(
    [f.deviceId, f.equipmentId, f.time, f.score, f.threshold, f.lastSeen].map((n) => n.toLowerCase())
  );
  const numeric = frame.fields.filter(
    (fl) => fl.type === FieldType.number && !skip.has(fl.name.toLowerCase()) && !NOT_MEASURED.has(fl.name.toLowerCase())
  );
  const tenantOf = column(frame, 'tenant');
  for (const field of numeric) {
    const name = measuredName(frame, field);
    for (let i = 0; i < frame.length; i++) {
      const deviceId = toStr(id(i));
      const v = toNum(field.values[i]);
      if (!deviceId || v === undefined) {
        continue;
      }
      const key = deviceKey({ deviceId, tenant: toStr(tenantOf?.(i)) });
      const t = toMs(time?.(i)) ?? 0;
      let perDevice = into.get(key);
      if (!perDevice) {
        perDevice = new Map();
        into.set(key, perDevice);
      }
      const prev = perDevice.get(name);
      if (prev && prev.time > t) {
        continue;
      }
      perDevice.set(name, {
        name,
        value: v,
        time: t,
        unit: field.config?.unit,
        decimals: field.config?.decimals ?? undefined,
        display: field.display as MeasuredValue['display'],
      });
    }
  }
}

export type FrameKind = 'alerts' | 'states' | 'scores' | 'values';

/** Which parts of the model a frame feeds, judged by its field names. */
export function classifyFrame(frame: DataFrame, f: FieldMap): FrameKind[] {
  if (!column(frame, f.deviceId) && !column(frame, f.alertId)) {
    return [];
  }
  if (column(frame, f.alertId)) {
    return ['alerts'];
  }
  const kinds: FrameKind[] = [];
  if (column(frame, f.state)) {
    kinds.push('states');
  }
  if (column(frame, f.score)) {
    kinds.push('scores');
  }
  // Anything else keyed by device with numbers in it is telemetry: its latest values go on the cards.
  if (!kinds.length && frame.fields.some((fl) => fl.type === FieldType.number)) {
    kinds.push('values');
  }
  return kinds;
}

/** Builds the current picture: latest state per alert_id and per (tenant, device_id), devices merged from every source. */
export function buildModel(frames: DataFrame[], f: FieldMap): PanelModel {
  const alerts = new Map<string, AlertRow>();
  const states = new Map<string, Stamped<DeviceRow>>();
  const scores = new Map<string, Stamped<Score>>();
  const history = new Map<string, Array<[number, number]>>();
  const values = new Map<string, Map<string, MeasuredValue>>();
  let recognised = false;
  for (const frame of frames) {
    const kinds = classifyFrame(frame, f);
    // Telemetry alone is no MOBY data: the empty state should still explain what the panel needs.
    recognised = recognised || kinds.some((k) => k !== 'values');
    if (kinds.includes('alerts')) {
      parseAlerts(frame, f, alerts);
    }
    if (kinds.includes('states')) {
      parseStates(frame, f, states);
    }
    if (kinds.includes('scores')) {
      parseScores(frame, f, scores, history);
    }
    if (kinds.includes('values')) {
      parseValues(frame, f, values);
    }
  }

  // keyed by (tenant, device): two tenants' pump-001 are two cards
  const devices = new Map<string, DeviceRow>();
  for (const [key, { row }] of states) {
    devices.set(key, { ...row });
  }
  // A device that only scores or alerts still belongs on the wall, with an unknown health state.
  const ensure = (deviceId: string, tenant: string | undefined, equipmentId?: string) => {
    const key = deviceKey({ deviceId, tenant });
    let d = devices.get(key);
    if (!d) {
      d = { deviceId, ...(tenant !== undefined ? { tenant } : {}), equipmentId, state: 'UNKNOWN', lastSeen: null };
      devices.set(key, d);
    } else if (!d.equipmentId && equipmentId) {
      d.equipmentId = equipmentId;
    }
    return d;
  };
  for (const [key, { row }] of scores) {
    const d = ensure(row.deviceId, row.tenant, row.equipmentId);
    d.score = row.score;
    d.scoreThreshold = row.threshold;
    d.isAnomaly = row.isAnomaly;
    const h = history.get(key);
    if (h && h.length > 1) {
      h.sort((a, b) => a[0] - b[0]);
      d.scoreHistory = h.slice(-SCORE_HISTORY);
    }
  }
  // Telemetry adds values to known devices only: a sensor feed alone does not make a machine appear on the wall.
  for (const [key, perDevice] of values) {
    const d = devices.get(key);
    if (d) {
      d.values = [...perDevice.values()];
    }
  }
  for (const a of alerts.values()) {
    if (a.deviceId) {
      const d = ensure(a.deviceId, a.tenant, a.equipmentId);
      if (!a.equipmentId && d.equipmentId) {
        a.equipmentId = d.equipmentId;
      }
    }
  }
  return { alerts: [...alerts.values()], devices: [...devices.values()], recognised };
}
