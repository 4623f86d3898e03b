import { createDataFrame, FieldType } from '@grafana/data';
import { deviceName, fixturePhase, fixtureState, makeFrames } from '../../e2e/fixtures';
import { DEFAULT_FIELDS } from '../types';
import { phaseOf } from './alerts';
import { buildModel, classifyFrame, SCORE_HISTORY, toBool, toMs } from './frames';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

describe('value coercion', () => {
  it('reads epoch ms, epoch seconds, ISO strings and Dates', () => {
    expect(toMs(1_700_000_000_000)).toBe(1_700_000_000_000);
    expect(toMs(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toMs('2026-11-22T12:00:00Z')).toBe(NOW);
    expect(toMs(new Date(NOW))).toBe(NOW);
    expect(toMs(null)).toBeUndefined();
    expect(toMs('garbage')).toBeUndefined();
  });
  it('reads booleans as InfluxDB and JSON sources spell them', () => {
    expect([true, 'true', 'TRUE', 1, '1'].map(toBool)).toEqual([true, true, true, true, true]);
    expect([false, 'false', 0, null, undefined, ''].map(toBool)).toEqual([false, false, false, false, false, false]);
  });
});

describe('buildModel on writer-shaped frames', () => {
  const frames = makeFrames({ devices: 50, alerts: 200, now: NOW });
  const model = buildModel(frames, DEFAULT_FIELDS);

  it('classifies frames by their field names', () => {
    expect(frames.map((f) => classifyFrame(f, DEFAULT_FIELDS))).toEqual([['states'], ['scores'], ['alerts']]);
    expect(model.recognised).toBe(true);
  });

  it('reduces event rows to the latest state per alert_id', () => {
    expect(frames[2].length).toBe(200 + 100 + 50); // open + ack + resolve events
    expect(model.alerts).toHaveLength(200);
    const byId = new Map(model.alerts.map((a) => [a.alertId, a]));
    for (let k = 0; k < 200; k++) {
      const a = byId.get(`al-${String(k + 1).padStart(4, '0')}`)!;
      expect(phaseOf(a)).toBe(fixturePhase(k));
    }
    const resolved = byId.get('al-0004')!;
    expect(resolved.openedAt).toBe(resolved.time - 120_000);
    expect(resolved.threshold).toBeDefined();
  });

  it('reduces device events to the latest state and merges anomaly scores', () => {
    expect(model.devices).toHaveLength(50);
    for (let i = 0; i < 50; i++) {
      const d = model.devices.find((x) => x.deviceId === deviceName(i))!;
      expect(d.state).toBe(fixtureState(i));
      expect(d.score).toEqual(expect.any(Number));
      expect(d.scoreThreshold).toBe(1);
      expect(d.equipmentId).toMatch(/^line-/);
    }
  });

  it('keeps the later row when timestamps tie (write order)', () => {
    const f = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [1000, 1000] },
        { name: 'alert_id', type: FieldType.string, values: ['a', 'a'] },
        { name: 'status', type: FieldType.string, values: ['open', 'resolved'] },
      ],
    });
    expect(buildModel([f], DEFAULT_FIELDS).alerts[0].status).toBe('resolved');
  });

  it('ignores event rows older than what it already has, whatever the row order', () => {
    const f = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [3000, 1000] },
        { name: 'device_id', type: FieldType.string, values: ['d1', 'd1'] },
        { name: 'state', type: FieldType.string, values: ['OFFLINE', 'ONLINE'] },
      ],
    });
    expect(buildModel([f], DEFAULT_FIELDS).devices[0].state).toBe('OFFLINE');
  });
});

describe('other sources', () => {
  it('reads alert API rows (JSON datasource: no time column, updated_at/opened_at)', () => {
    const f = createDataFrame({
      fields: [
        { name: 'alert_id', values: ['x1'] },
        { name: 'device_id', values: ['m1'] },
        { name: 'rule', values: ['temp'] },
        { name: 'severity', values: ['CRITICAL'] },
        { name: 'status', values: ['open'] },
        { name: 'acknowledged', values: ['true'] },
        { name: 'acknowledged_by', values: ['ana'] },
        { name: 'message', values: ['hot'] },
        { name: 'opened_at', values: [NOW - 60_000] },
        { name: 'updated_at', values: [NOW] },
      ],
    });
    const m = buildModel([f], DEFAULT_FIELDS);
    expect(m.alerts[0]).toMatchObject({
      severity: 'critical',
      acknowledged: true,
      acknowledgedBy: 'ana',
      time: NOW,
      openedAt: NOW - 60_000,
    });
    // A device known only from its alerts still gets a card.
    expect(m.devices).toEqual([expect.objectContaining({ deviceId: 'm1', state: 'UNKNOWN', lastSeen: null })]);
  });

  it('reads tags carried as field labels (InfluxQL/unpivoted Flux) and Flux _time', () => {
    const f = createDataFrame({
      fields: [
        { name: '_time', type: FieldType.time, values: [NOW] },
        {
          name: 'state',
          type: FieldType.string,
          values: ['TIMEOUT'],
          labels: { device_id: 'pump-7', equipment_id: 'line-Z' },
        },
      ],
    });
    expect(buildModel([f], DEFAULT_FIELDS).devices[0]).toMatchObject({
      deviceId: 'pump-7',
      equipmentId: 'line-Z',
      state: 'TIMEOUT',
    });
  });

  it('reads the maintenance window (muted_until) of GET /moby/devices rows', () => {
    const f = createDataFrame({
      fields: [
        { name: 'device_id', type: FieldType.string, values: ['pump-7', 'pump-8'] },
        { name: 'state', type: FieldType.string, values: ['ONLINE', 'ONLINE'] },
        { name: 'muted_until', type: FieldType.number, values: [NOW + 3_600_000, null] },
      ],
    });
    const devices = buildModel([f], DEFAULT_FIELDS).devices;
    expect(devices.find((d) => d.deviceId === 'pump-7')?.mutedUntil).toBe(NOW + 3_600_000);
    expect(devices.find((d) => d.deviceId === 'pump-8')?.mutedUntil).toBeUndefined();
  });

  it('honours overridden field names', () => {
    const f = createDataFrame({
      fields: [
        { name: 'Machine', values: ['m9'] },
        { name: 'Health', values: ['online'] },
      ],
    });
    expect(buildModel([f], DEFAULT_FIELDS).recognised).toBe(false);
    const m = buildModel([f], { ...DEFAULT_FIELDS, deviceId: 'machine', state: 'Health' });
    expect(m.devices[0]).toMatchObject({ deviceId: 'm9', state: 'ONLINE' });
  });

  it('recognises nothing in plain telemetry frames', () => {
    const f = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [1] },
        { name: 'vibration', values: [2] },
      ],
    });
    expect(buildModel([f], DEFAULT_FIELDS)).toEqual({ alerts: [], devices: [], recognised: false });
  });
});

describe('score history and measured values', () => {
  it('keeps the anomaly score history per device, oldest first, bounded', () => {
    const frames = makeFrames({ devices: 3, alerts: 0, now: NOW, history: 100 });
    const model = buildModel(frames, DEFAULT_FIELDS);
    const d = model.devices.find((x) => x.deviceId === 'press-0001')!;
    expect(d.scoreHistory).toHaveLength(SCORE_HISTORY);
    const times = d.scoreHistory!.map((p) => p[0]);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // the newest point is the latest score, the one the card shows
    expect(d.scoreHistory![SCORE_HISTORY - 1]).toEqual([NOW - 10_000, d.score]);
  });

  it('reads the latest value per device and field from telemetry frames, with unit and decimals', () => {
    const frames = makeFrames({ devices: 3, alerts: 0, now: NOW, telemetry: true });
    expect(classifyFrame(frames[3], DEFAULT_FIELDS)).toEqual(['values']);
    const model = buildModel(frames, DEFAULT_FIELDS);
    const values = model.devices.find((x) => x.deviceId === 'press-0002')!.values!;
    expect(values.map((v) => [v.name, v.unit, v.decimals])).toEqual([
      ['vibration', 'suffix: mm/s', 1],
      ['motor', 'celsius', 0],
    ]);
  });

  it('takes the device from a label (one series per device) and the name from _field; newest row wins', () => {
    const series = createDataFrame({
      name: 'telemetry',
      fields: [
        { name: '_time', type: FieldType.time, values: [NOW - 2000, NOW - 1000, NOW - 3000] },
        {
          name: '_value',
          type: FieldType.number,
          values: [71, 72.5, 70],
          labels: { device_id: 'pump-1', _field: 'bearing_temp' },
        },
      ],
    });
    const states = createDataFrame({
      fields: [
        { name: 'device_id', type: FieldType.string, values: ['pump-1'] },
        { name: 'state', type: FieldType.string, values: ['ONLINE'] },
      ],
    });
    const model = buildModel([states, series], DEFAULT_FIELDS);
    expect(model.devices[0].values).toEqual([expect.objectContaining({ name: 'bearing_temp', value: 72.5 })]);
  });

  it('telemetry alone is not MOBY data and adds no devices', () => {
    const telemetry = makeFrames({ devices: 2, alerts: 0, now: NOW, telemetry: true })[3];
    const model = buildModel([telemetry], DEFAULT_FIELDS);
    expect(model.recognised).toBe(false);
    expect(model.devices).toEqual([]);
  });
});

describe('tenants (MOBY docs/tenants.md)', () => {
  it('reads the tenant tag of moby_alerts rows; rows without one have none', () => {
    const frame = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW, NOW] },
        { name: 'alert_id', type: FieldType.string, values: ['a-1', 'b-1'] },
        { name: 'device_id', type: FieldType.string, values: ['pump-001', 'pump-001'] },
        { name: 'tenant', type: FieldType.string, values: ['acme', null] },
        { name: 'severity', type: FieldType.string, values: ['warning', 'critical'] },
        { name: 'status', type: FieldType.string, values: ['open', 'open'] },
      ],
    });
    const alerts = buildModel([frame], DEFAULT_FIELDS).alerts;
    const byId = new Map(alerts.map((a) => [a.alertId, a]));
    expect(byId.get('a-1')?.tenant).toBe('acme');
    expect(byId.get('b-1')?.tenant).toBeUndefined();
  });
  it("keeps two tenants' pump-001 apart: states, scores, telemetry and alerts each on their own device", () => {
    const states = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW, NOW] },
        { name: 'device_id', type: FieldType.string, values: ['pump-001', 'pump-001'] },
        { name: 'tenant', type: FieldType.string, values: ['acme', 'beta'] },
        { name: 'state', type: FieldType.string, values: ['ONLINE', 'OFFLINE'] },
      ],
    });
    const scores = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW - 1000, NOW, NOW] },
        { name: 'device_id', type: FieldType.string, values: ['pump-001', 'pump-001', 'pump-001'] },
        { name: 'tenant', type: FieldType.string, values: ['acme', 'acme', 'beta'] },
        { name: 'score', type: FieldType.number, values: [0.1, 0.2, 0.9] },
      ],
    });
    const telemetry = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW, NOW] },
        { name: 'device_id', type: FieldType.string, values: ['pump-001', 'pump-001'] },
        { name: 'tenant', type: FieldType.string, values: ['acme', 'beta'] },
        { name: 'temperature', type: FieldType.number, values: [41, 97] },
      ],
    });
    const alerts = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW] },
        { name: 'alert_id', type: FieldType.string, values: ['b-1'] },
        { name: 'device_id', type: FieldType.string, values: ['pump-001'] },
        { name: 'tenant', type: FieldType.string, values: ['gamma'] },
        { name: 'status', type: FieldType.string, values: ['open'] },
      ],
    });
    const model = buildModel([states, scores, telemetry, alerts], DEFAULT_FIELDS);
    const view = model.devices
      .map((d) => ({
        tenant: d.tenant,
        state: d.state,
        score: d.score,
        history: d.scoreHistory?.length,
        t: d.values?.[0]?.value,
      }))
      .sort((a, b) => (a.tenant ?? '').localeCompare(b.tenant ?? ''));
    expect(view).toEqual([
      { tenant: 'acme', state: 'ONLINE', score: 0.2, history: 2, t: 41 },
      { tenant: 'beta', state: 'OFFLINE', score: 0.9, history: undefined, t: 97 },
      // an alert of a third tenant's pump-001 is a third device, not a merge into either
      { tenant: 'gamma', state: 'UNKNOWN', score: undefined, history: undefined, t: undefined },
    ]);
  });
});
