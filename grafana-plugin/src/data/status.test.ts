import { DisplayState, Severity } from '../types';
import {
  CONDITIONS,
  fitScale,
  formatPercent,
  MAX_GROUPS,
  MAX_TILES,
  boundRollups,
  percentOfThreshold,
  rollup,
  tileLayout,
  visibleRange,
  worstCondition,
} from './status';

describe('worst condition (the card colour)', () => {
  it('an ONLINE device with an open critical alert is critical, not healthy', () => {
    expect(worstCondition('online', 'critical')).toBe('critical');
    expect(worstCondition('online', 'warning')).toBe('warning');
    expect(worstCondition('online', 'info')).toBe('info');
    expect(worstCondition('online', undefined)).toBe('ok');
  });

  it('connectivity problems without alerts keep their own condition (offline is not critical, silent not warning)', () => {
    expect(worstCondition('offline', undefined)).toBe('offline');
    expect(worstCondition('silent', undefined)).toBe('silent');
    expect(worstCondition('unknown', undefined)).toBe('unknown');
  });

  it('takes the worse of the two families in the documented order', () => {
    const table: Array<[DisplayState, Severity | undefined, string]> = [
      ['offline', 'critical', 'critical'],
      ['offline', 'warning', 'offline'],
      ['offline', 'info', 'offline'],
      ['silent', 'critical', 'critical'],
      ['silent', 'warning', 'warning'],
      ['silent', 'info', 'silent'],
      ['unknown', 'warning', 'warning'],
      ['unknown', 'info', 'unknown'],
    ];
    for (const [display, sev, expected] of table) {
      expect([display, sev, worstCondition(display, sev)]).toEqual([display, sev, expected]);
    }
    expect(CONDITIONS).toEqual(['critical', 'offline', 'warning', 'silent', 'unknown', 'info', 'ok']);
  });
});

describe('% of threshold', () => {
  it('is the score as a share of its threshold', () => {
    expect(percentOfThreshold(0.06, 1)).toBeCloseTo(6);
    expect(percentOfThreshold(1.5, 3)).toBeCloseTo(50);
    expect(percentOfThreshold(2.4, 2)).toBeCloseTo(120);
    expect(percentOfThreshold(0, 1)).toBe(0);
  });

  it('is undefined without a score or a usable threshold', () => {
    expect(percentOfThreshold(undefined, 1)).toBeUndefined();
    expect(percentOfThreshold(0.5, undefined)).toBeUndefined();
    expect(percentOfThreshold(0.5, 0)).toBeUndefined();
    expect(percentOfThreshold(0.5, -1)).toBeUndefined();
    expect(percentOfThreshold(NaN, 1)).toBeUndefined();
    expect(percentOfThreshold(0.5, Infinity)).toBeUndefined();
  });

  it('formats whole percent, never a bare 0 for a small real score, and caps the absurd', () => {
    expect(formatPercent(6.4)).toBe('6%');
    expect(formatPercent(99.6)).toBe('100%');
    expect(formatPercent(0.3)).toBe('<1%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(156.2)).toBe('156%');
    expect(formatPercent(12_345)).toBe('≥1000%');
    expect(formatPercent(undefined)).toBe('–');
  });
});

describe('rollups per line/equipment', () => {
  const items = [
    { deviceId: 'm-10', equipmentId: 'line-10', condition: 'ok' as const },
    { deviceId: 'm-2', equipmentId: 'line-2', condition: 'ok' as const },
    { deviceId: 'm-3', equipmentId: 'line-2', condition: 'critical' as const },
    { deviceId: 'm-1', equipmentId: 'line-2', condition: 'offline' as const },
    { deviceId: 'm-4', condition: 'silent' as const },
    { deviceId: 'm-5', equipmentId: 'line-10', condition: 'warning' as const },
  ];
  const groups = rollup(items);

  it('groups by equipment, worst group first', () => {
    expect(groups.map((g) => g.label)).toEqual(['line-2', 'line-10', '(no equipment)']);
  });

  it('puts the worst group first whatever its name; equal worst in natural name order, no equipment last', () => {
    const g = rollup([
      { deviceId: 'a', equipmentId: 'line-1', condition: 'ok' as const },
      { deviceId: 'b', equipmentId: 'line-10', condition: 'ok' as const },
      { deviceId: 'c', equipmentId: 'line-2', condition: 'ok' as const },
      { deviceId: 'd', condition: 'ok' as const },
      { deviceId: 'e', equipmentId: 'zz-9999', condition: 'offline' as const },
      { deviceId: 'f', equipmentId: 'zz-0001', condition: 'warning' as const },
      { deviceId: 'g', condition: 'critical' as const },
      { deviceId: 'h', equipmentId: 'line-3', condition: 'critical' as const },
      { deviceId: 'i', equipmentId: 'line-3', condition: 'ok' as const },
    ]);
    expect(g.map((x) => `${x.label}:${x.worst}`)).toEqual([
      'line-3:critical',
      '(no equipment):critical',
      'zz-9999:offline',
      'zz-0001:warning',
      'line-1:ok',
      'line-2:ok',
      'line-10:ok',
    ]);
  });

  it('counts each condition, totals, and names the worst', () => {
    const line2 = groups[0];
    expect(line2.total).toBe(3);
    expect(line2.counts).toMatchObject({ critical: 1, offline: 1, ok: 1, warning: 0 });
    expect(line2.worst).toBe('critical');
    expect(groups[1].worst).toBe('warning');
    expect(groups[2].worst).toBe('silent');
    expect(groups.reduce((n, g) => n + g.total, 0)).toBe(items.length);
  });

  it('orders devices inside a group worst first, then by name', () => {
    expect(groups[0].items.map((d) => d.deviceId)).toEqual(['m-3', 'm-1', 'm-2']);
  });
});

describe('bounded tiles', () => {
  it('10,000 equipment groups of one device: draws at most MAX_GROUPS, the offline machine first', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      deviceId: `d-${i}`,
      equipmentId: `eq-${String(i).padStart(5, '0')}`,
      condition: (i === 9_999 ? 'offline' : 'ok') as 'ok' | 'offline',
    }));
    const b = boundRollups(rollup(items));
    expect(b.groups).toHaveLength(MAX_GROUPS);
    expect(b.groups[0].label).toBe('eq-09999');
    expect(b.hiddenGroups).toBe(10_000 - MAX_GROUPS);
    expect(b.hiddenDevices).toBe(10_000 - MAX_GROUPS);
  });

  it('caps the devices drawn, cutting the last group to its worst devices and counting the rest', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => ({
      deviceId: `d-${i}`,
      equipmentId: `line-${i % 4}`,
      condition: (i === 7 ? 'critical' : 'ok') as 'ok' | 'critical',
    }));
    const b = boundRollups(rollup(items));
    const drawn = b.groups.reduce((n, g) => n + g.items.length, 0);
    expect(drawn).toBe(MAX_TILES);
    expect(b.groups[0].label).toBe('line-3');
    expect(b.groups[0].items[0].condition).toBe('critical');
    expect(b.hiddenDevices).toBe(10_000 - MAX_TILES);
    expect(b.hiddenGroups + b.groups.length).toBe(4);
    // a cut group keeps its whole-group header numbers
    const last = b.groups[b.groups.length - 1];
    expect(last.total).toBe(2_500);
    expect(last.items.length).toBeLessThan(2_500);
  });

  it('draws everything when it is within bounds', () => {
    const b = boundRollups(rollup([{ deviceId: 'a', equipmentId: 'l', condition: 'ok' as const }]), 5, 5);
    expect(b).toMatchObject({ hiddenGroups: 0, hiddenDevices: 0 });
    expect(b.groups).toHaveLength(1);
  });
});

describe('tile layout', () => {
  it('fits 2,000 devices in six lines on a 1920×1080 panel with readable tiles', () => {
    const groups = [334, 334, 333, 333, 333, 333];
    // the tile area of a full-screen panel in equipment+alerts view (55 % of the width, below the toolbar)
    const l = tileLayout(groups, 1040, 940, 22);
    expect(l.fits).toBe(true);
    expect(l.height).toBeLessThanOrEqual(940);
    expect(l.size).toBeGreaterThanOrEqual(14);
    // and it is the largest that fits: one pixel more does not
    expect(tileLayout(groups, 1040, 940, 22, { minSize: l.size + 1, maxSize: l.size + 1 }).fits).toBe(false);
  });

  it('grows tiles up to the maximum for a small fleet', () => {
    expect(tileLayout([5], 800, 600, 20, { maxSize: 48 }).size).toBe(48);
  });

  it('falls back to the minimum and says it does not fit when the fleet is too large', () => {
    const l = tileLayout([50_000], 400, 300, 20, { minSize: 10 });
    expect(l.size).toBe(10);
    expect(l.fits).toBe(false);
  });
});

describe('wall display fit', () => {
  const base = { cardMin: 210, cardHeight: 106, gap: 12 };
  it('keeps the requested scale when everything fits', () => {
    expect(fitScale(8, 1900, 950, base, 1, 2)).toBe(2);
  });
  it('shrinks until 50 cards fit a 1920×1080 screen, and no further', () => {
    const s = fitScale(50, 1888, 930, base, 1, 2);
    expect(s).toBeLessThan(2);
    expect(s).toBeGreaterThanOrEqual(1);
    const cols = Math.floor((1888 + 12) / (base.cardMin * s + 12));
    expect(Math.ceil(50 / cols) * (base.cardHeight * s + 12) - 12).toBeLessThanOrEqual(930);
    const bigger = s + 0.05;
    const colsB = Math.floor((1888 + 12) / (base.cardMin * bigger + 12));
    expect(Math.ceil(50 / colsB) * (base.cardHeight * bigger + 12) - 12).toBeGreaterThan(930);
  });
  it('never goes below the minimum', () => {
    expect(fitScale(5000, 1888, 930, base, 1, 2)).toBe(1);
  });
});

describe('virtualised list range', () => {
  const offsets = Array.from({ length: 2001 }, (_, i) => i * 80);
  it('returns the rows intersecting the viewport plus overscan', () => {
    expect(visibleRange(offsets, 0, 400, 2)).toEqual([0, 7]);
    expect(visibleRange(offsets, 800, 400, 2)).toEqual([8, 17]);
  });
  it('reaches the end of the list (no row limit)', () => {
    const [start, end] = visibleRange(offsets, 2000 * 80 - 400, 400, 2);
    expect(end).toBe(2000);
    expect(start).toBe(1993);
  });
  it('handles an empty list and a scroll position past the end', () => {
    expect(visibleRange([0], 0, 400)).toEqual([0, 0]);
    const [s, e] = visibleRange(offsets, 10_000_000, 400, 0);
    expect(e).toBe(2000);
    expect(s).toBe(1999);
  });
});
