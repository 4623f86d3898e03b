// The alert list: sorted and grouped upstream; this renders rows, their badges and the ack/resolve actions.
import { cx } from '@emotion/css';
import { Button, Input, useTheme2 } from '@grafana/ui';
import React, { useMemo, useState } from 'react';
import { AlertAction } from '../api';
import { AlertGroup, phaseOf } from '../data/alerts';
import { isoTime, relativeTime, valueVsThreshold } from '../data/format';
import { visibleRange } from '../data/status';
import { AlertRow, PanelLink } from '../types';
import { Glyph } from './glyphs';
import { Metrics, Styles, severityColor } from './styles';
import { deviceKey } from '../data/keys';

/** Gap between alert rows, px. */
const ROW_GAP = 4;

interface Props {
  groups: AlertGroup[];
  grouped: boolean;
  total: number;
  now: number;
  styles: Styles;
  metrics: Metrics;
  /** height of the visible list, px (the section's measured height) */
  height: number;
  canAct: boolean;
  pending: Set<string>;
  errors: Map<string, string>;
  onAction: (alert: AlertRow, action: AlertAction, note: string) => void;
  /** the clicked alert's device as deviceKey (tenant and device) */
  onDevice: (device: string) => void;
  linksFor: (alert: AlertRow) => PanelLink[];
}

type Item = { kind: 'group'; group: AlertGroup } | { kind: 'alert'; alert: AlertRow; pos: number };

/**
 * Virtualised: every row has the same fixed height (one line each for badges and actions, text, details), so
 * the offsets are known without measuring and only the rows in view are in the DOM — 20,000 alerts cost what
 * 20 do, and every one of them can be reached by scrolling.
 */
export function AlertList(props: Props) {
  const { groups, grouped, total, styles, metrics: m, height } = props;
  const [scrollTop, setScrollTop] = useState(0);
  const { items, offsets } = useMemo(() => {
    const items: Item[] = [];
    const offsets: number[] = [0];
    let pos = 0;
    for (const g of groups) {
      if (grouped) {
        items.push({ kind: 'group', group: g });
        offsets.push(offsets[offsets.length - 1] + m.groupHead + ROW_GAP);
      }
      for (const a of g.alerts) {
        items.push({ kind: 'alert', alert: a, pos: ++pos });
        offsets.push(offsets[offsets.length - 1] + m.alertRow + ROW_GAP);
      }
    }
    return { items, offsets };
  }, [groups, grouped, m.alertRow, m.groupHead]);
  const [start, end] = visibleRange(offsets, scrollTop, height, 4);
  const totalHeight = Math.max(0, offsets[offsets.length - 1] - ROW_GAP);

  return (
    <div
      className={styles.scroller}
      data-testid="alert-list"
      data-total={total}
      aria-label="Alerts"
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      {total === 0 && <div className={styles.note}>No alerts match the filters.</div>}
      <div role="list" aria-label={`${total} alerts`} style={{ position: 'relative', height: totalHeight }}>
        {items.slice(start, end).map((it, i) => {
          const top = offsets[start + i];
          if (it.kind === 'group') {
            return (
              <div
                key={`g:${it.group.key}`}
                className={styles.groupHead}
                style={{ top }}
                data-testid="alert-group"
                aria-label={`Equipment ${it.group.label}`}
              >
                {it.group.label} · {it.group.alerts.length}
              </div>
            );
          }
          return <AlertItem key={it.alert.alertId} alert={it.alert} top={top} pos={it.pos} {...props} />;
        })}
      </div>
    </div>
  );
}

const PHASE_LABEL = { firing: 'Firing', acknowledged: 'Acknowledged', resolved: 'Resolved' } as const;

function AlertItem({
  alert: a,
  top,
  pos,
  total,
  now,
  styles,
  canAct,
  pending,
  errors,
  onAction,
  onDevice,
  linksFor,
}: Props & { alert: AlertRow; top: number; pos: number }) {
  const theme = useTheme2();
  const [asking, setAsking] = useState<AlertAction | null>(null);
  const [note, setNote] = useState('');
  const phase = phaseOf(a);
  const sev = severityColor(theme, a.severity);
  const busy = pending.has(a.alertId);
  const error = errors.get(a.alertId);
  const links = linksFor(a);
  const phaseClass =
    phase === 'firing' ? styles.badgeFiring : phase === 'acknowledged' ? styles.badgeAck : styles.badgeResolved;
  const vt = valueVsThreshold(a.value, a.threshold);

  const confirm = () => {
    if (asking) {
      onAction(a, asking, note.trim());
      setAsking(null);
      setNote('');
    }
  };

  const actions =
    canAct && a.status === 'open' && !asking ? (
      <span className={styles.alertActions}>
        {busy && <span className={styles.note}>saving…</span>}
        <span className={styles.scaled}>
          {!a.acknowledged && (
            <Button size="sm" variant="secondary" disabled={busy} onClick={() => setAsking('ack')}>
              Acknowledge
            </Button>
          )}
          <Button size="sm" variant="secondary" disabled={busy} onClick={() => setAsking('resolve')}>
            Resolve
          </Button>
        </span>
      </span>
    ) : null;

  return (
    <div
      role="listitem"
      aria-setsize={total}
      aria-posinset={pos}
      className={cx(styles.alert, phase === 'resolved' && styles.alertResolved)}
      style={{ borderLeftColor: sev.bg, top }}
      data-testid="alert-row"
      data-alert={a.alertId}
      data-phase={phase}
      data-severity={a.severity}
    >
      <div className={styles.alertHead}>
        <span className={styles.badge} style={{ background: sev.bg, color: sev.fg }}>
          <Glyph kind={a.severity} /> {a.severity}
        </span>
        <span className={cx(styles.badge, phaseClass)} data-testid="phase-badge">
          {PHASE_LABEL[phase]}
        </span>
        <button
          type="button"
          className={styles.linkButton}
          onClick={() => onDevice(deviceKey(a))}
          title="Show this device's alerts"
        >
          {a.deviceId}
        </button>
        {a.tenant && (
          <span className={styles.note} data-testid="tenant-label" title="Tenant">
            {a.tenant}
          </span>
        )}
        {links.slice(0, 2).map((l, i) => (
          <a
            key={i}
            href={l.href}
            target={l.target}
            className={styles.note}
            aria-label={`${l.title === 'dashboard' ? 'Open dashboard' : l.title} for ${a.deviceId}`}
          >
            {l.title}
          </a>
        ))}
        {actions}
      </div>
      {asking ? (
        <div className={styles.alertLine}>
          <span className={styles.scaled}>
            <Input
              width={30}
              value={note}
              placeholder="Note (optional)"
              aria-label="Note"
              autoFocus
              onChange={(e) => setNote(e.currentTarget.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  confirm();
                } else if (e.key === 'Escape') {
                  setAsking(null);
                }
              }}
            />
            <Button size="sm" onClick={confirm}>
              {asking === 'ack' ? 'Confirm acknowledge' : 'Confirm resolve'}
            </Button>
            <Button size="sm" variant="secondary" fill="text" onClick={() => setAsking(null)}>
              Cancel
            </Button>
          </span>
        </div>
      ) : error ? (
        <div role="alert" className={cx(styles.error, styles.ellipsis)} title={error}>
          {error}
        </div>
      ) : (
        <div className={styles.ellipsis} title={a.summary || a.message}>
          {a.summary || a.message || <span className={styles.alertRule}>{a.rule || a.alertId}</span>}
        </div>
      )}
      <div className={styles.alertMeta}>
        {a.rule && <span className={styles.alertRule}>{a.rule}</span>}
        <span title={isoTime(a.openedAt)}>opened {relativeTime(a.openedAt, now)}</span>
        {a.time !== a.openedAt && <span>updated {relativeTime(a.time, now)}</span>}
        {vt && <span data-testid="value-threshold">value {vt}</span>}
        {a.count !== undefined && a.count > 1 && <span>×{a.count}</span>}
        {a.acknowledged && a.acknowledgedBy && <span>ack by {a.acknowledgedBy}</span>}
        {a.status === 'resolved' && a.resolvedBy && <span>resolved by {a.resolvedBy}</span>}
        {a.note && <span>note: {a.note}</span>}
      </div>
    </div>
  );
}
