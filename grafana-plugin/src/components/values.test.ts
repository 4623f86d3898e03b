import { createTheme } from '@grafana/data';
import { MeasuredValue } from '../types';
import { formatMeasured, pickValues } from './EquipmentGrid';

const theme = createTheme();
const v = (name: string, value: number, unit?: string, decimals?: number): MeasuredValue => ({
  name,
  value,
  time: 0,
  unit,
  decimals,
});

describe('measured values on a card', () => {
  it('formats with the field unit through Grafana (standard and custom suffix units)', () => {
    expect(formatMeasured(v('motor', 71.46, 'celsius', 0), theme)).toBe('71 °C');
    expect(formatMeasured(v('vibration', 4.26, 'suffix: mm/s', 1), theme)).toBe('4.3 mm/s');
    expect(formatMeasured(v('pressure', 2.5, 'pressurebar', 1), theme)).toBe('2.5 bar');
    expect(formatMeasured(v('rpm', 1480), theme)).toBe('1480');
  });

  it("uses the field's own display processor when Grafana supplied one", () => {
    const withDisplay = { ...v('x', 3), display: () => ({ text: '3.00', suffix: ' kW' }) };
    expect(formatMeasured(withDisplay, theme)).toBe('3.00 kW');
  });

  it('picks the configured fields in order (case-insensitive), else the first three', () => {
    const all = [v('a', 1), v('b', 2), v('c', 3), v('d', 4)];
    expect(pickValues(all, []).map((x) => x.name)).toEqual(['a', 'b', 'c']);
    expect(pickValues(all, ['D', 'b', 'missing']).map((x) => x.name)).toEqual(['d', 'b']);
    expect(pickValues(undefined, ['a'])).toEqual([]);
  });
});
