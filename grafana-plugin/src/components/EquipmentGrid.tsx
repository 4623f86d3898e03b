// Virtualised card grid: fixed card sizes let us compute which rows are visible, so 2,000 devices cost the same
// DOM as the few dozen cards on screen.
import { cx } from '@emotion/css';
import { useTheme2 } from '@grafana/ui';
import React, { useState } from 'react';
import { DeviceView } from '../data/devices';
import { formatNumber, relativeTime } from '../data/format';
import { PanelLink } from '../types';
import { Metrics, Styles, severityColor, stateColor } from './styles';

const STATE_LABEL = { online: 'ONLINE', silent: 'SILENT', offline: 'OFFLINE', unknown: 'UNKNOWN' } as const;
const OVERSCAN_ROWS = 2;

interface Props {
  devices: DeviceView[];
  width: number;
  height: number;
  now: number;
  metrics: Metrics;
  styles: Styles;
  compact: boolean;
  defaultThreshold: number;
  selected: string | null;
  onSelect: (deviceId: string | null) => void;
  linksFor: (d: DeviceView) => PanelLink[];
}

export function gridLayout(count: number, width: number, m: Metrics) {
  const cols = Math.max(1, Math.floor((Math.max(width, m.cardMin) + m.gap) / (m.cardMin + m.gap)));
  const rows = Math.ceil(count / cols);
  const rowHeight = m.cardHeight + m.gap;
  return { cols, rows, rowHeight, total: Math.max(0, rows * rowHeight - m.gap) };
}

export function EquipmentGrid(props: Props) {
  const { devices, width, height, metrics: m, styles } = props;
  const [scrollTop, setScrollTop] = useState(0);
  const { cols, rows, rowHeight, total } = gridLayout(devices.length, width, m);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN_ROWS);
  const last = Math.min(rows, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN_ROWS);
  const visible = devices.slice(first * cols, last * cols);

  return (
    <div
      className={styles.scroller}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      data-testid="equipment-grid"
      aria-label="Equipment"
      role="region"
    >
      <div style={{ height: total, position: 'relative' }}>
        <div
          className={styles.gridWindow}
          style={{ top: first * rowHeight, gridTemplateColumns: `repeat(${cols}, minmax(0, 1fr))` }}
        >
          {visible.map((d) => (
            <DeviceCard key={d.deviceId} device={d} {...props} />
          ))}
        </div>
      </div>
    </div>
  );
}

function DeviceCard({
  device: d,
  now,
  styles,
  compact,
  defaultThreshold,
  selected,
  onSelect,
  linksFor,
}: Props & { device: DeviceView }) {
  const theme = useTheme2();
  const color = stateColor(theme, d.display);
  const threshold = d.scoreThreshold ?? defaultThreshold;
  const high = d.score !== undefined && (d.isAnomaly ?? d.score >= threshold);
  const isSelected = selected === d.deviceId;
  const links = linksFor(d);
  const sev = d.alerts.worst ? severityColor(theme, d.alerts.worst) : undefined;
  return (
    <div
      role="button"
      className={cx(styles.card, isSelected && styles.cardSelected)}
      style={{ borderLeftColor: color }}
      data-testid="device-card"
      data-device={d.deviceId}
      data-state={d.display}
      tabIndex={0}
      aria-pressed={isSelected}
      title={`${d.deviceId}: ${STATE_LABEL[d.display]}${d.alerts.open ? `, ${d.alerts.open} open alerts` : ''}`}
      onClick={() => onSelect(isSelected ? null : d.deviceId)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect(isSelected ? null : d.deviceId);
        }
      }}
    >
      <div className={styles.cardHead}>
        <span className={styles.cardTitle}>{d.deviceId}</span>
        {d.mutedUntil !== undefined && d.mutedUntil > now && (
          <span className={styles.muted} title={`maintenance: notifications muted until ${new Date(d.mutedUntil).toLocaleString()}`} data-testid="muted">
            muted
          </span>
        )}
        <span className={styles.stateLabel} style={{ color }}>
          {STATE_LABEL[d.display]}
        </span>
      </div>
      {!compact && (
        <div className={styles.cardSub}>
          {d.equipmentId ?? '\u00a0'}
          {links.slice(0, 2).map((l, i) => (
            <React.Fragment key={i}>
              {' · '}
              <a
                href={l.href}
                target={l.target}
                onClick={(e) => e.stopPropagation()}
                aria-label={`${l.title === 'dashboard' ? 'Open dashboard' : l.title} for ${d.deviceId}`}
              >
                {l.title}
              </a>
            </React.Fragment>
          ))}
        </div>
      )}
      <div className={styles.cardFoot}>
        <span title="last seen">{relativeTime(d.lastSeen, now)}</span>
        {d.score !== undefined && (
          <span className={high ? styles.scoreHigh : undefined} title="latest anomaly score / threshold">
            {formatNumber(d.score)}/{formatNumber(threshold)}
          </span>
        )}
        {d.alerts.open > 0 && sev && (
          <span className={styles.badge} style={{ background: sev.bg, color: sev.fg }} data-testid="open-alerts">
            {d.alerts.open} open
          </span>
        )}
      </div>
    </div>
  );
}
