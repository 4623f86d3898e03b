// The alert list: sorted and grouped upstream; this renders rows, their badges and the ack/resolve actions.
import { cx } from '@emotion/css';
import { Button, Input, useTheme2 } from '@grafana/ui';
import React, { useState } from 'react';
import { AlertAction } from '../api';
import { AlertGroup, phaseOf } from '../data/alerts';
import { relativeTime, valueVsThreshold } from '../data/format';
import { AlertRow, PanelLink } from '../types';
import { Styles, severityColor } from './styles';

/** Rendering more than this many rows helps nobody and slows the wall display; filters narrow it down. */
export const MAX_ALERT_ROWS = 300;

interface Props {
  groups: AlertGroup[];
  grouped: boolean;
  total: number;
  now: number;
  styles: Styles;
  canAct: boolean;
  pending: Set<string>;
  errors: Map<string, string>;
  onAction: (alert: AlertRow, action: AlertAction, note: string) => void;
  onDevice: (deviceId: string) => void;
  linksFor: (alert: AlertRow) => PanelLink[];
}

export function AlertList(props: Props) {
  const { groups, grouped, total, styles } = props;
  let budget = MAX_ALERT_ROWS;
  return (
    <div className={styles.scroller} data-testid="alert-list" aria-label="Alerts">
      {total === 0 && <div className={styles.note}>No alerts match the filters.</div>}
      {groups.map((g) => {
        if (budget <= 0) {
          return null;
        }
        const rows = g.alerts.slice(0, budget);
        budget -= rows.length;
        return (
          <section key={g.key} aria-label={grouped ? `Equipment ${g.label}` : 'Alerts'} data-testid={grouped ? 'alert-group' : undefined}>
            {grouped && (
              <div className={styles.groupHead}>
                {g.label} · {g.alerts.length}
              </div>
            )}
            <div className={styles.list} role="list">
              {rows.map((a) => (
                <AlertItem key={a.alertId} alert={a} {...props} />
              ))}
            </div>
          </section>
        );
      })}
      {total > MAX_ALERT_ROWS && (
        <div className={styles.note}>
          Showing {MAX_ALERT_ROWS} of {total} alerts; narrow the filters to see the rest.
        </div>
      )}
    </div>
  );
}

const PHASE_LABEL = { firing: 'Firing', acknowledged: 'Acknowledged', resolved: 'Resolved' } as const;

function AlertItem({ alert: a, now, styles, canAct, pending, errors, onAction, onDevice, linksFor }: Props & { alert: AlertRow }) {
  const theme = useTheme2();
  const [asking, setAsking] = useState<AlertAction | null>(null);
  const [note, setNote] = useState('');
  const phase = phaseOf(a);
  const sev = severityColor(theme, a.severity);
  const busy = pending.has(a.alertId);
  const error = errors.get(a.alertId);
  const links = linksFor(a);
  const phaseClass = phase === 'firing' ? styles.badgeFiring : phase === 'acknowledged' ? styles.badgeAck : styles.badgeResolved;
  const vt = valueVsThreshold(a.value, a.threshold);

  const confirm = () => {
    if (asking) {
      onAction(a, asking, note.trim());
      setAsking(null);
      setNote('');
    }
  };

  return (
    <div
      role="listitem"
      className={cx(styles.alert, phase === 'resolved' && styles.alertResolved)}
      style={{ borderLeftColor: sev.bg }}
      data-testid="alert-row"
      data-alert={a.alertId}
      data-phase={phase}
      data-severity={a.severity}
    >
      <div className={styles.alertHead}>
        <span className={styles.badge} style={{ background: sev.bg, color: sev.fg }}>
          {a.severity}
        </span>
        <span className={cx(styles.badge, phaseClass)} data-testid="phase-badge">
          {PHASE_LABEL[phase]}
        </span>
        <span className={styles.alertRule}>{a.rule || a.alertId}</span>
        <button type="button" className={styles.linkButton} onClick={() => onDevice(a.deviceId)} title="Show this device's alerts">
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
      </div>
      <div>{a.summary || a.message}</div>
      <div className={styles.alertMeta}>
        <span title={new Date(a.openedAt).toISOString()}>opened {relativeTime(a.openedAt, now)}</span>
        {a.time !== a.openedAt && <span>updated {relativeTime(a.time, now)}</span>}
        {vt && <span data-testid="value-threshold">value {vt}</span>}
        {a.count !== undefined && a.count > 1 && <span>×{a.count}</span>}
        {a.acknowledged && a.acknowledgedBy && <span>ack by {a.acknowledgedBy}</span>}
        {a.status === 'resolved' && a.resolvedBy && <span>resolved by {a.resolvedBy}</span>}
        {a.note && <span>note: {a.note}</span>}
      </div>
      {canAct && a.status === 'open' && (
        <div className={styles.alertActions}>
          {asking ? (
            <>
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
            </>
          ) : (
            <>
              {!a.acknowledged && (
                <Button size="sm" variant="secondary" disabled={busy} onClick={() => setAsking('ack')}>
                  Acknowledge
                </Button>
              )}
              <Button size="sm" variant="secondary" disabled={busy} onClick={() => setAsking('resolve')}>
                Resolve
              </Button>
              {busy && <span className={styles.note}>saving…</span>}
            </>
          )}
        </div>
      )}
      {error && (
        <div role="alert" className={styles.error}>
          {error}
        </div>
      )}
    </div>
  );
}
