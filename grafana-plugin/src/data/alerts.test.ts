import { AlertRow } from '../types';
import {
  compareAlerts,
  countAlerts,
  filterAlerts,
  groupByEquipment,
  openAlertsByDevice,
  parseDeviceFilter,
  phaseOf,
  sortAlerts,
} from './alerts';

let n = 0;
function alert(p: Partial<AlertRow>): AlertRow {
  n++;
  return {
    alertId: `a${n}`,
    deviceId: 'd1',
    rule: 'r',
    severity: 'warning',
    status: 'open',
    acknowledged: false,
    message: 'm',
    time: 1000,
    openedAt: 1000,
    ...p,
  };
}

describe('sorting', () => {
  it('orders firing, then acknowledged, then resolved; critical first; newest first', () => {
    const list = [
      alert({ alertId: 'res-crit', status: 'resolved', severity: 'critical', time: 9000 }),
      alert({ alertId: 'ack-crit', acknowledged: true, severity: 'critical', time: 8000 }),
      alert({ alertId: 'fire-info-new', severity: 'info', time: 7000 }),
      alert({ alertId: 'fire-warn-old', severity: 'warning', time: 1000 }),
      alert({ alertId: 'fire-warn-new', severity: 'warning', time: 5000 }),
      alert({ alertId: 'fire-crit', severity: 'critical', time: 100 }),
    ];
    expect(sortAlerts(list).map((a) => a.alertId)).toEqual([
      'fire-crit',
      'fire-warn-new',
      'fire-warn-old',
      'fire-info-new',
      'ack-crit',
      'res-crit',
    ]);
    expect(compareAlerts(list[0], list[0])).toBe(0);
  });

  it('treats resolved as resolved even if it was acknowledged', () => {
    expect(phaseOf({ status: 'resolved', acknowledged: true })).toBe('resolved');
    expect(phaseOf({ status: 'open', acknowledged: true })).toBe('acknowledged');
    expect(phaseOf({ status: 'open', acknowledged: false })).toBe('firing');
  });
});

describe('filters', () => {
  const list = [
    alert({ alertId: 'x1', deviceId: 'press-1', severity: 'critical', message: 'Bearing temperature high' }),
    alert({ alertId: 'x2', deviceId: 'press-2', acknowledged: true, rule: 'vibration_rms_high' }),
    alert({ alertId: 'x3', deviceId: 'press-3', status: 'resolved', severity: 'info', equipmentId: 'line-B' }),
  ];
  const ids = (l: AlertRow[]) => l.map((a) => a.alertId);

  it('by status phase and severity', () => {
    expect(ids(filterAlerts(list, { phases: ['firing', 'acknowledged'] }))).toEqual(['x1', 'x2']);
    expect(ids(filterAlerts(list, { severities: ['info'] }))).toEqual(['x3']);
    expect(ids(filterAlerts(list, { phases: [] }))).toEqual([]);
  });
  it('by clicked device and by dashboard-variable device set', () => {
    expect(ids(filterAlerts(list, { device: 'press-2' }))).toEqual(['x2']);
    expect(ids(filterAlerts(list, { devices: new Set(['press-1', 'press-3']) }))).toEqual(['x1', 'x3']);
  });
  it('by free text across message, rule, device and equipment (case-insensitive)', () => {
    expect(ids(filterAlerts(list, { text: 'BEARING' }))).toEqual(['x1']);
    expect(ids(filterAlerts(list, { text: 'vibration' }))).toEqual(['x2']);
    expect(ids(filterAlerts(list, { text: 'line-b' }))).toEqual(['x3']);
    expect(ids(filterAlerts(list, { text: '  ' }))).toEqual(['x1', 'x2', 'x3']);
  });
});

describe('dashboard variable device filter', () => {
  it.each([
    ['', null],
    ['All', null],
    ['$__all', null],
    ['$device', null],
    ['*', null],
    ['press-1', ['press-1']],
    ['{press-1,press-2}', ['press-1', 'press-2']],
    ['(press-1|press-2)', ['press-1', 'press-2']],
    ['press-1, press-2', ['press-1', 'press-2']],
    ['.*', null],
    ['(press-1|.*)', null],
    ['^(press\\.1|press-2)$', ['press.1', 'press-2']],
  ])('%p', (raw, expected) => {
    const got = parseDeviceFilter(raw);
    expect(got === null ? null : [...got]).toEqual(expected);
  });
});

describe('grouping and counts', () => {
  const sorted = sortAlerts([
    alert({ alertId: 'g1', equipmentId: 'line-A', severity: 'info' }),
    alert({ alertId: 'g2', equipmentId: 'line-B', severity: 'critical' }),
    alert({ alertId: 'g3', equipmentId: 'line-A', severity: 'critical', acknowledged: true }),
    alert({ alertId: 'g4', deviceId: 'lonely', equipmentId: undefined, status: 'resolved' }),
  ]);
  it('groups by equipment (device when none), most urgent group first', () => {
    const groups = groupByEquipment(sorted);
    expect(groups.map((g) => [g.label, g.alerts.map((a) => a.alertId)])).toEqual([
      ['line-B', ['g2']],
      ['line-A', ['g1', 'g3']],
      ['lonely', ['g4']],
    ]);
  });
  it('counts phases and open alerts per device with the worst severity', () => {
    expect(countAlerts(sorted)).toEqual({ firing: 2, acknowledged: 1, resolved: 1, firingCritical: 1 });
    expect(openAlertsByDevice(sorted).get('d1')).toEqual({ open: 3, worst: 'critical' });
    expect(openAlertsByDevice(sorted).has('lonely')).toBe(false);
  });
});
