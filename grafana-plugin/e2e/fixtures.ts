// Realistic, deterministic frames in the shape the MOBY InfluxDB writer produces (one row per event), shared
// by the unit tests, the browser harness and the benchmark.
import { createDataFrame, DataFrame, FieldType } from '@grafana/data';

export interface FixtureOptions {
  devices: number;
  alerts: number;
  now: number;
  seed?: number;
  /** anomaly score points per device before the latest (for sparklines); 0 keeps one row per device */
  history?: number;
  /** add a telemetry frame (bearing vibration in mm/s, motor temperature in °C) with units in its field config */
  telemetry?: boolean;
  /** device indexes with a critical alert opened first (alert ids crit-<index>), e.g. an ONLINE machine */
  criticalOn?: number[];
  /** device indexes in a maintenance window (muted_until one hour ahead) */
  mutedOn?: number[];
}

/** Small LCG: the same seed gives the same factory, so assertions can be exact. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const RULES = [
  { rule: 'vibration_rms_high', field: 'vibration_rms', threshold: 7.1, unit: 'mm/s' },
  { rule: 'bearing_temp_high', field: 'bearing_temp', threshold: 85, unit: '°C' },
  { rule: 'anomaly_score', field: 'score', threshold: 1, unit: '' },
  { rule: 'current_imbalance', field: 'current_imbalance', threshold: 10, unit: '%' },
];

export function deviceName(i: number): string {
  return `press-${String(i + 1).padStart(4, '0')}`;
}

export function equipmentName(i: number): string {
  return `line-${String.fromCharCode(65 + (i % 6))}`;
}

/** State by index so tests know the counts: every 12th OFFLINE, every 12th+1 TIMEOUT, every 25th+5 UNKNOWN. */
export function fixtureState(i: number): 'ONLINE' | 'OFFLINE' | 'TIMEOUT' | 'UNKNOWN' {
  if (i % 12 === 0) {
    return 'OFFLINE';
  }
  if (i % 12 === 1) {
    return 'TIMEOUT';
  }
  if (i % 25 === 5) {
    return 'UNKNOWN';
  }
  return 'ONLINE';
}

export function makeFrames({
  devices,
  alerts,
  now,
  seed = 42,
  history = 0,
  telemetry = false,
  criticalOn = [],
  mutedOn = [],
}: FixtureOptions): DataFrame[] {
  const r = rng(seed);
  const st = {
    time: [] as number[],
    device_id: [] as string[],
    equipment_id: [] as string[],
    state: [] as string[],
    previous: [] as string[],
    reason: [] as string[],
    since: [] as number[],
    last_seen: [] as Array<number | null>,
  };
  const an = {
    time: [] as number[],
    device_id: [] as string[],
    score: [] as number[],
    threshold: [] as number[],
    is_anomaly: [] as boolean[],
    method: [] as string[],
  };
  for (let i = 0; i < devices; i++) {
    const id = deviceName(i);
    const state = fixtureState(i);
    const changed = now - Math.floor(r() * 3_600_000) - 60_000;
    // An older "registered" event first, so reduction to the latest row is exercised.
    st.time.push(changed - 86_400_000, changed);
    st.device_id.push(id, id);
    st.equipment_id.push(equipmentName(i), equipmentName(i));
    st.state.push('UNKNOWN', state);
    st.previous.push('UNKNOWN', 'UNKNOWN');
    st.reason.push('registered', state === 'ONLINE' ? 'data' : state === 'OFFLINE' ? 'lwt' : 'timeout');
    st.since.push(changed - 86_400_000, changed);
    const lastSeen = state === 'UNKNOWN' ? null : state === 'ONLINE' ? now - Math.floor(r() * 20_000) : changed;
    st.last_seen.push(null, lastSeen);
    const score = Math.round(r() * r() * 180) / 100;
    an.time.push(now - 10_000);
    an.device_id.push(id);
    an.score.push(score);
    an.threshold.push(1);
    an.is_anomaly.push(score >= 1);
    an.method.push('pca');
  }
  // History from its own generator, so the latest scores (and every count the tests know) stay as they were.
  const rh = rng(seed + 7);
  for (let i = 0; i < devices && history > 0; i++) {
    const latest = an.score[i];
    for (let p = history; p >= 1; p--) {
      // drifts towards the latest score, so a device that is anomalous now shows the climb
      const s = Math.max(0, latest * (1 - p / (history + 1)) + rh() * 0.15);
      an.time.push(now - 10_000 - p * 60_000);
      an.device_id.push(deviceName(i));
      an.score.push(Math.round(s * 1000) / 1000);
      an.threshold.push(1);
      an.is_anomaly.push(s >= 1);
      an.method.push('pca');
    }
  }

  const al = {
    time: [] as number[],
    alert_id: [] as string[],
    device_id: [] as string[],
    equipment_id: [] as string[],
    rule: [] as string[],
    severity: [] as string[],
    status: [] as string[],
    acknowledged: [] as boolean[],
    message: [] as string[],
    summary: [] as string[],
    value: [] as number[],
    threshold: [] as number[],
    count: [] as number[],
    event: [] as string[],
  };
  const push = (e: string, t: number, a: Record<string, any>) => {
    al.time.push(t);
    al.event.push(e);
    for (const k of [
      'alert_id',
      'device_id',
      'equipment_id',
      'rule',
      'severity',
      'status',
      'acknowledged',
      'message',
      'summary',
      'value',
      'threshold',
      'count',
    ] as const) {
      (al[k] as any[]).push(a[k]);
    }
  };
  for (let k = 0; k < alerts; k++) {
    const di = Math.floor(r() * Math.max(1, devices));
    const rule = RULES[k % RULES.length];
    const severity = k % 5 === 0 ? 'critical' : k % 5 === 4 ? 'info' : 'warning';
    const value = Math.round(rule.threshold * (1.05 + r() * 0.5) * 10) / 10;
    const opened = now - Math.floor(r() * 6 * 3_600_000) - 30_000;
    const a = {
      alert_id: `al-${String(k + 1).padStart(4, '0')}`,
      device_id: deviceName(di),
      equipment_id: equipmentName(di),
      rule: rule.rule,
      severity,
      status: 'open',
      acknowledged: false,
      message: `${rule.field} ${value}${rule.unit} above ${rule.threshold}${rule.unit} on ${deviceName(di)}`,
      summary: `${severity.toUpperCase()} ${rule.rule} on ${deviceName(di)} (${equipmentName(di)})`,
      value,
      threshold: rule.threshold,
      count: 1,
    };
    push('open', opened, a);
    // Phase by index: k%4 0,1 stay firing, 2 acknowledged, 3 resolved.
    if (k % 4 >= 2) {
      push('ack', opened + 60_000, { ...a, acknowledged: true });
    }
    if (k % 4 === 3) {
      push('resolve', opened + 120_000, { ...a, acknowledged: true, status: 'resolved' });
    }
  }

  const frame = (name: string, cols: Record<string, any[]>) =>
    createDataFrame({
      name,
      fields: Object.entries(cols).map(([n, values]) => ({
        name: n,
        values,
        type:
          n === 'time'
            ? FieldType.time
            : typeof values.find((v) => v !== null) === 'number'
              ? FieldType.number
              : typeof values.find((v) => v !== null) === 'boolean'
                ? FieldType.boolean
                : FieldType.string,
      })),
    });
  for (const di of criticalOn) {
    const id = deviceName(di);
    push('open', now - 300_000, {
      alert_id: `crit-${di}`,
      device_id: id,
      equipment_id: equipmentName(di),
      rule: 'bearing_temp_high',
      severity: 'critical',
      status: 'open',
      acknowledged: false,
      message: `bearing_temp 97.5°C above 85°C on ${id}`,
      summary: `CRITICAL bearing_temp_high on ${id} (${equipmentName(di)})`,
      value: 97.5,
      threshold: 85,
      count: 1,
    });
  }
  const out = [frame('moby_device_state', st), frame('moby_anomaly', an), frame('moby_alerts', al)];
  if (mutedOn.length) {
    // What GET /moby/devices adds during a maintenance window.
    out.push(
      frame('moby_devices', {
        device_id: mutedOn.map(deviceName),
        state: mutedOn.map((i) => fixtureState(i)),
        last_seen: mutedOn.map((i) => st.last_seen[2 * i + 1]),
        muted_until: mutedOn.map(() => now + 3_600_000),
        time: mutedOn.map(() => now - 1000),
      })
    );
  }
  if (telemetry) {
    const rt = rng(seed + 11);
    const tl = {
      time: [] as number[],
      device_id: [] as string[],
      bearing_vibration: [] as number[],
      motor_temperature: [] as number[],
    };
    for (let i = 0; i < devices; i++) {
      tl.time.push(now - 5_000);
      tl.device_id.push(deviceName(i));
      tl.bearing_vibration.push(Math.round((1.5 + rt() * 4) * 100) / 100);
      tl.motor_temperature.push(Math.round((55 + rt() * 40) * 10) / 10);
    }
    const t = frame('telemetry', tl);
    // Units as a dashboard sets them (Standard options → Unit, per field override).
    t.fields.find((f) => f.name === 'bearing_vibration')!.config = {
      unit: 'suffix: mm/s',
      decimals: 1,
      displayName: 'vibration',
    };
    t.fields.find((f) => f.name === 'motor_temperature')!.config = {
      unit: 'celsius',
      decimals: 0,
      displayName: 'motor',
    };
    out.push(t);
  }
  return out;
}

/** Phase of fixture alert k (0-based), matching makeFrames. */
export function fixturePhase(k: number): 'firing' | 'acknowledged' | 'resolved' {
  return k % 4 === 3 ? 'resolved' : k % 4 === 2 ? 'acknowledged' : 'firing';
}
