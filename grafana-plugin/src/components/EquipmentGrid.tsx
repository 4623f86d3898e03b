// Virtualised card grid: fixed card sizes let us compute which rows are visible, so 2,000 devices cost the same
// DOM as the few dozen cards on screen.
import { cx } from '@emotion/css';
import { FieldType, formattedValueToString, getDisplayProcessor, GrafanaTheme2 } from '@grafana/data';
import { useTheme2 } from '@grafana/ui';
import React, { useState } from 'react';
import { DeviceView } from '../data/devices';
import { clockTime, formatNumber, localDateTime, relativeTime } from '../data/format';
import { connectivityCondition, formatPercent, percentOfThreshold } from '../data/status';
import { MeasuredValue, PanelLink } from '../types';
import { Glyph } from './glyphs';
import { conditionColor, DeviceLayoutProps, Metrics } from './styles';
import { deviceKey } from '../data/keys';

const STATE_LABEL = { online: 'ONLINE', silent: 'SILENT', offline: 'OFFLINE', unknown: 'UNKNOWN' } as const;
const OVERSCAN_ROWS = 2;

interface Props extends DeviceLayoutProps {
  defaultThreshold: number;
  /** measured fields to show, in order; empty = the first three */
  valueFields: string[];
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
            <DeviceCard key={deviceKey(d)} device={d} {...props} />
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
  metrics: m,
  defaultThreshold,
  valueFields,
  selected,
  onSelect,
  linksFor,
}: Props & { device: DeviceView }) {
  const theme = useTheme2();
  const cond = conditionColor(theme, d.condition);
  const threshold = d.scoreThreshold ?? defaultThreshold;
  const pct = percentOfThreshold(d.score, threshold);
  const high = pct !== undefined && (d.isAnomaly ?? pct >= 100);
  const key = deviceKey(d);
  const isSelected = selected === key;
  const links = linksFor(d);
  const connectivity = connectivityCondition(d.display);
  const severity = d.alerts.worst;
  const muted = d.mutedUntil !== undefined && d.mutedUntil > now;
  const values = pickValues(d.values, valueFields);
  const label = `${d.tenant ? `${d.tenant} / ` : ''}${d.deviceId}: ${STATE_LABEL[d.display]}${d.alerts.open ? `, ${d.alerts.open} open alerts (worst ${severity})` : ''}${muted ? ', in maintenance' : ''}`;
  // The band names the worst condition first and the other family after it, so an OFFLINE machine with a
  // critical alert says both, each with its own glyph.
  const alertPart = severity ? (
    <span key="a" className={styles.bandSecond} data-testid="open-alerts">
      <Glyph kind={severity} />
      {d.alerts.open} {severity}
    </span>
  ) : null;
  const connPart =
    connectivity !== 'ok' ? (
      <span key="c" className={styles.bandSecond} data-testid="band-connectivity">
        <Glyph kind={connectivity} />
        {STATE_LABEL[d.display]}
      </span>
    ) : null;
  const first =
    d.condition === connectivity && connectivity !== 'ok' ? (
      <>
        <Glyph kind={connectivity} />
        <span>{STATE_LABEL[d.display]}</span>
        {alertPart}
      </>
    ) : severity ? (
      <>
        <Glyph kind={severity} />
        <span data-testid="open-alerts">
          {d.alerts.open} {severity}
        </span>
        {connPart}
      </>
    ) : (
      <>
        <Glyph kind="ok" />
        <span>{STATE_LABEL[d.display]}</span>
      </>
    );
  return (
    <div
      role="button"
      className={cx(styles.card, isSelected && styles.cardSelected)}
      style={{
        borderColor: d.condition === 'ok' ? undefined : cond.fill,
        // a maintenance window shows from across the room as a dashed outline, besides the badge
        borderStyle: muted ? 'dashed' : undefined,
        height: m.cardHeight,
        fontSize: m.cardFontPx,
      }}
      data-testid="device-card"
      data-device={d.deviceId}
      data-tenant={d.tenant}
      data-state={d.display}
      data-condition={d.condition}
      tabIndex={0}
      aria-pressed={isSelected}
      title={label}
      aria-label={label}
      onClick={() => onSelect(isSelected ? null : key)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onSelect(isSelected ? null : key);
        }
      }}
    >
      <div
        className={styles.cardBand}
        style={{ background: cond.background, color: cond.text }}
        data-testid="card-band"
      >
        {first}
      </div>
      <div className={styles.cardName}>
        <span className={styles.cardTitle}>{d.deviceId}</span>
        {d.tenant && (
          <span className={styles.cardEquip} data-testid="tenant-label" title="Tenant">
            {d.tenant}
          </span>
        )}
        {muted && (
          <span
            className={styles.maintenance}
            title={`Maintenance: notifications muted until ${localDateTime(d.mutedUntil)}`}
            data-testid="muted"
          >
            <Glyph kind="maintenance" />
            muted until {clockTime(d.mutedUntil)}
          </span>
        )}
        <span className={styles.cardEquip}>
          {!muted && d.equipmentId && `${d.equipmentId} · `}
          <span title="last data received">seen {relativeTime(d.lastSeen, now)}</span>
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
        </span>
      </div>
      <div className={styles.values} data-testid="card-values">
        <span className={styles.valueList}>
          {values.length === 0 && <span className={styles.valueName}>no measured values</span>}
          {values.map((v) => (
            <span key={v.name} data-testid="measured-value">
              <span className={styles.valueName}>{v.name}</span>
              <span className={styles.valueNum}>{formatMeasured(v, theme)}</span>
            </span>
          ))}
        </span>
      </div>
      <div className={styles.scoreRow}>
        <Sparkline points={d.scoreHistory} threshold={threshold} high={high} className={styles.spark} />
        <span
          className={styles.scorePct}
          data-testid="score-pct"
          title={
            d.score !== undefined
              ? `anomaly score ${formatNumber(d.score)}, threshold ${formatNumber(threshold)}`
              : 'no anomaly score'
          }
        >
          <span className={cx(styles.scorePctNum, high && styles.scoreHigh)}>{formatPercent(pct)}</span>{' '}
          <span className={styles.scoreLabel}>of anomaly threshold</span>
        </span>
      </div>
    </div>
  );
}

/** The configured fields in their order, else the first three the data has. */
export function pickValues(values: MeasuredValue[] | undefined, fields: string[]): MeasuredValue[] {
  if (!values?.length) {
    return [];
  }
  if (!fields.length) {
    return values.slice(0, 3);
  }
  const byName = new Map(values.map((v) => [v.name.toLowerCase(), v]));
  return fields.map((f) => byName.get(f.toLowerCase())).filter((v): v is MeasuredValue => v !== undefined);
}

/** Value with its unit through Grafana's own formatter: the field's display processor, or one built from
 * the unit and decimals in its config. */
export function formatMeasured(v: MeasuredValue, theme: GrafanaTheme2): string {
  const display =
    v.display ??
    getDisplayProcessor({
      field: { type: FieldType.number, config: { unit: v.unit, decimals: v.decimals } },
      theme,
    });
  // Custom units are often written "suffix: mm/s"; collapse the doubled space that leaves.
  return formattedValueToString(display(v.value)).replace(/\s+/g, ' ');
}

/** Anomaly score trend with the threshold as a dashed line; drawn in SVG, no chart library per card. */
function Sparkline({
  points,
  threshold,
  high,
  className,
}: {
  points?: Array<[number, number]>;
  threshold: number;
  high: boolean;
  className: string;
}) {
  const theme = useTheme2();
  if (!points || points.length < 2) {
    return <span className={className} />;
  }
  const W = 100;
  const H = 24;
  const t0 = points[0][0];
  const span = points[points.length - 1][0] - t0 || 1;
  const max = Math.max(threshold * 1.25, ...points.map((p) => p[1])) || 1;
  const y = (v: number) => (H - 1 - (Math.max(0, v) / max) * (H - 2)).toFixed(2);
  const line = points.map((p) => `${(((p[0] - t0) / span) * W).toFixed(2)},${y(p[1])}`).join(' ');
  const stroke = high ? theme.colors.error.text : theme.colors.text.primary;
  return (
    <svg
      className={className}
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      data-testid="sparkline"
      aria-label="anomaly score trend"
      role="img"
    >
      <polygon points={`0,${H} ${line} ${W},${H}`} fill={stroke} fillOpacity={0.12} />
      <polyline points={line} fill="none" stroke={stroke} strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
      <line
        x1={0}
        x2={W}
        y1={y(threshold)}
        y2={y(threshold)}
        stroke={theme.colors.error.main}
        strokeWidth={1}
        strokeDasharray="4 3"
        vectorEffect="non-scaling-stroke"
      />
    </svg>
  );
}
