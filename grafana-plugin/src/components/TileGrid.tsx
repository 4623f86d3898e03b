// Compact equipment view (like the Polystat panel's tiles): one square per device, grouped per line/equipment
// with a rollup header, sized so the whole fleet fits the panel — 2,000 devices on one 1920×1080 screen.
import { cx } from '@emotion/css';
import { useTheme2 } from '@grafana/ui';
import React, { useMemo } from 'react';
import { boundRollups, Condition, CONDITIONS, rollup, tileLayout } from '../data/status';
import { Glyph } from './glyphs';
import { ConditionColor, conditionColor, DeviceLayoutProps } from './styles';
import { deviceKey } from '../data/keys';

interface Props extends DeviceLayoutProps {
  /** clicking a group's header filters to that equipment */
  onGroup: (equipment: string) => void;
}

const LABEL: Record<Condition, string> = {
  critical: 'critical alert',
  offline: 'offline',
  warning: 'warning alert',
  silent: 'silent',
  unknown: 'unknown',
  info: 'info alert',
  ok: 'healthy',
};

/** Below this edge a glyph is unreadable; the tile's colour and pattern still tell the family. */
const MIN_GLYPH_TILE = 12;

export function TileGrid({ devices, width, height, now, metrics: m, styles, selected, onSelect, onGroup }: Props) {
  const theme = useTheme2();
  const colors = useMemo(() => {
    const out = {} as Record<Condition, ConditionColor>;
    for (const c of CONDITIONS) {
      out[c] = conditionColor(theme, c);
    }
    return out;
  }, [theme]);
  // Worst groups first, and only so many drawn: 10,000 lines must not mean 10,000 sections in the DOM.
  const bounded = useMemo(() => boundRollups(rollup(devices)), [devices]);
  const groups = bounded.groups;
  const headerHeight = Math.round(m.fontPx * 1.6);
  const legendHeight = Math.round(m.fontPx * 1.7);
  const layout = tileLayout(
    groups.map((g) => g.items.length),
    Math.max(0, width - 2),
    Math.max(0, height - legendHeight),
    headerHeight,
    { minSize: 10, maxSize: Math.round(m.fontPx * 4) }
  );
  const glyphs = layout.size >= MIN_GLYPH_TILE;

  return (
    <div
      className={styles.tiles}
      data-testid="tile-view"
      data-tile-size={layout.size}
      role="region"
      aria-label="Equipment tiles"
    >
      <div className={styles.legend} style={{ height: legendHeight, flex: 'none' }} data-testid="tile-legend">
        {CONDITIONS.map((c) => (
          <span key={c} className={styles.legendItem}>
            <span className={styles.legendSwatch} style={{ background: colors[c].background, color: colors[c].text }}>
              <Glyph kind={c} />
            </span>
            {LABEL[c]}
          </span>
        ))}
        <span className={styles.legendItem}>
          <span className={cx(styles.legendSwatch, styles.tileMuted)} style={{ background: colors.ok.background }} />
          maintenance
        </span>
      </div>
      {groups.map((g, gi) => (
        <section
          key={g.key}
          data-testid="tile-group"
          data-equipment={g.key}
          data-worst={g.worst}
          aria-label={`${g.label}: ${g.total} devices`}
          style={{ marginTop: gi > 0 ? 6 : 0, flex: 'none' }}
        >
          <button
            type="button"
            className={styles.tileGroupHead}
            style={{ height: headerHeight }}
            onClick={() => onGroup(g.key)}
            title={`Show only ${g.label}`}
            data-testid="rollup"
          >
            <span
              className={styles.legendSwatch}
              style={{ background: colors[g.worst].background, color: colors[g.worst].text }}
            >
              <Glyph kind={g.worst} />
            </span>
            <span className={styles.tileGroupName}>{g.label}</span>
            <span>{g.total}</span>
            {CONDITIONS.filter((c) => g.counts[c] > 0).map((c) => (
              <span key={c} className={styles.rollupCount} data-rollup={c} title={`${g.counts[c]} ${LABEL[c]}`}>
                <span style={{ color: colors[c].fill, display: 'inline-flex' }}>
                  <Glyph kind={c} />
                </span>
                {g.counts[c]}
              </span>
            ))}
          </button>
          <div
            className={styles.tileGrid}
            style={{
              gridTemplateColumns: `repeat(${layout.cols}, ${layout.size}px)`,
              gridAutoRows: layout.size,
              gap: layout.gap,
            }}
          >
            {g.items.map((d) => {
              const c = colors[d.condition];
              const muted = d.mutedUntil !== undefined && d.mutedUntil > now;
              const key = deviceKey(d);
              const label = `${d.tenant ? `${d.tenant} / ` : ''}${d.deviceId}${d.equipmentId ? ` (${d.equipmentId})` : ''}: ${d.display}${
                d.alerts.open ? `, ${d.alerts.open} open alerts, worst ${d.alerts.worst}` : ''
              }${muted ? ', maintenance' : ''}`;
              return (
                <div
                  key={key}
                  role="button"
                  tabIndex={-1}
                  className={cx(styles.tile, muted && styles.tileMuted, selected === key && styles.tileSelected)}
                  style={{ background: c.background, color: c.text, fontSize: layout.size * 0.62 }}
                  title={label}
                  aria-label={label}
                  data-testid="device-tile"
                  data-device={d.deviceId}
                  data-tenant={d.tenant}
                  data-condition={d.condition}
                  onClick={() => onSelect(selected === key ? null : key)}
                >
                  {glyphs && d.condition !== 'ok' && <Glyph kind={d.condition} />}
                </div>
              );
            })}
          </div>
        </section>
      ))}
      {bounded.hiddenDevices > 0 && (
        <div className={styles.note} data-testid="tiles-not-shown" role="status" style={{ marginTop: 6, flex: 'none' }}>
          {bounded.hiddenGroups > 0 &&
            `${bounded.hiddenGroups.toLocaleString('en-US')} more ${bounded.hiddenGroups === 1 ? 'group' : 'groups'} / `}
          {bounded.hiddenDevices.toLocaleString('en-US')} more {bounded.hiddenDevices === 1 ? 'device' : 'devices'} not
          shown (the worst are above) — filter by text or state, or switch to cards to scroll through every device.
        </div>
      )}
    </div>
  );
}
