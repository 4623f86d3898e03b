import { DeviceRow } from '../types';
import { countStates, displayState, filterDevices, sortDevices, toDeviceViews } from './devices';
import { relativeTime, valueVsThreshold } from './format';

const NOW = 10_000_000;
const dev = (deviceId: string, p: Partial<DeviceRow> = {}): DeviceRow => ({
  deviceId,
  state: 'ONLINE',
  lastSeen: NOW - 1000,
  ...p,
});

describe('display state', () => {
  it('maps TIMEOUT to silent and can mark stale ONLINE devices silent', () => {
    expect(displayState(dev('a', { state: 'TIMEOUT' }), NOW, 0)).toBe('silent');
    expect(displayState(dev('a', { state: 'OFFLINE' }), NOW, 0)).toBe('offline');
    expect(displayState(dev('a', { state: 'UNKNOWN' }), NOW, 0)).toBe('unknown');
    expect(displayState(dev('a', { lastSeen: NOW - 600_000 }), NOW, 0)).toBe('online');
    expect(displayState(dev('a', { lastSeen: NOW - 600_000 }), NOW, 300)).toBe('silent');
    expect(displayState(dev('a', { lastSeen: NOW - 60_000 }), NOW, 300)).toBe('online');
  });
});

describe('sorting and filtering', () => {
  const views = toDeviceViews(
    [
      dev('press-10', { score: 0.2 }),
      dev('press-2', { state: 'OFFLINE', lastSeen: NOW - 50_000, score: 1.4 }),
      dev('press-1', { state: 'TIMEOUT', lastSeen: NOW - 90_000, equipmentId: 'line-B' }),
      dev('press-3', { score: 0.9 }),
    ],
    new Map([
      ['press-3', { open: 2, worst: 'critical' as const }],
      ['press-10', { open: 1, worst: 'info' as const }],
    ]),
    NOW,
    0
  );
  const ids = (l: Array<{ deviceId: string }>) => l.map((d) => d.deviceId);

  it('sorts worst state first, then by alert severity, then naturally by name', () => {
    expect(ids(sortDevices(views, 'state'))).toEqual(['press-2', 'press-1', 'press-3', 'press-10']);
    expect(ids(sortDevices(views, 'name'))).toEqual(['press-1', 'press-2', 'press-3', 'press-10']);
    expect(ids(sortDevices(views, 'score'))).toEqual(['press-2', 'press-3', 'press-10', 'press-1']);
    expect(ids(sortDevices(views, 'lastSeen'))).toEqual(['press-1', 'press-2', 'press-3', 'press-10']);
    expect(ids(sortDevices(views, 'alerts'))).toEqual(['press-3', 'press-10', 'press-1', 'press-2']);
  });

  it('filters by state, device set and text (id or equipment)', () => {
    expect(ids(filterDevices(views, { states: ['offline', 'silent'] }))).toEqual(['press-2', 'press-1']);
    expect(ids(filterDevices(views, { devices: new Set(['press-3']) }))).toEqual(['press-3']);
    expect(ids(filterDevices(views, { text: 'LINE-b' }))).toEqual(['press-1']);
    expect(countStates(views)).toEqual({ online: 2, silent: 1, offline: 1, unknown: 0 });
  });
});

describe('formatting', () => {
  it('relative time', () => {
    expect(relativeTime(null, NOW)).toBe('never');
    expect(relativeTime(NOW - 2000, NOW)).toBe('just now');
    expect(relativeTime(NOW - 45_000, NOW)).toBe('45s ago');
    expect(relativeTime(NOW - 12 * 60_000, NOW)).toBe('12m ago');
    expect(relativeTime(NOW - 3 * 3_600_000, NOW)).toBe('3h ago');
    expect(relativeTime(NOW - 5 * 86_400_000, NOW)).toBe('5d ago');
  });
  it('value against threshold with overshoot', () => {
    expect(valueVsThreshold(87.2, 80)).toBe('87.2 / 80 (+9%)');
    expect(valueVsThreshold(0.5, 1)).toBe('0.5 / 1 (-50%)');
    expect(valueVsThreshold(3, undefined)).toBe('3');
    expect(valueVsThreshold(undefined, 3)).toBe('');
  });
});
