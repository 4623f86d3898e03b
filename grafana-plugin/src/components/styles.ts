// Every colour and size comes from the Grafana theme, so the panel follows light/dark and the user's theme.
import { css } from '@emotion/css';
import { GrafanaTheme2 } from '@grafana/data';
import { Density, DisplayState, Severity } from '../types';

export interface Metrics {
  cardMin: number;
  cardHeight: number;
  gap: number;
  font: number;
}

const BASE: Record<Density, Omit<Metrics, 'font'>> = {
  compact: { cardMin: 150, cardHeight: 72, gap: 4 },
  comfortable: { cardMin: 190, cardHeight: 104, gap: 8 },
  wall: { cardMin: 250, cardHeight: 140, gap: 12 },
};

/** Card geometry for a density and font scale; the grid virtualises on these fixed sizes. */
export function metrics(density: Density, fontSize: number): Metrics {
  const scale = Math.max(0.5, Math.min(3, (fontSize || 100) / 100));
  const b = BASE[density] ?? BASE.comfortable;
  const densityFont = density === 'wall' ? 1.35 : density === 'compact' ? 0.9 : 1;
  return {
    cardMin: Math.round(b.cardMin * scale),
    cardHeight: Math.round(b.cardHeight * scale),
    gap: b.gap,
    font: scale * densityFont,
  };
}

export function stateColor(theme: GrafanaTheme2, s: DisplayState): string {
  switch (s) {
    case 'online':
      return theme.colors.success.main;
    case 'silent':
      return theme.colors.warning.main;
    case 'offline':
      return theme.colors.error.main;
    default:
      return theme.colors.text.disabled;
  }
}

export function severityColor(theme: GrafanaTheme2, s: Severity): { bg: string; fg: string } {
  const c = s === 'critical' ? theme.colors.error : s === 'warning' ? theme.colors.warning : theme.colors.info;
  return { bg: c.main, fg: c.contrastText };
}

export const getStyles = (theme: GrafanaTheme2, m: Metrics) => ({
  root: css({
    display: 'flex',
    flexDirection: 'column',
    height: '100%',
    width: '100%',
    overflow: 'hidden',
    fontSize: `${m.font}rem`,
    color: theme.colors.text.primary,
    gap: theme.spacing(1),
  }),
  body: css({ display: 'flex', flex: '1 1 auto', minHeight: 0, gap: theme.spacing(1) }),
  bodyRow: css({ flexDirection: 'row' }),
  bodyColumn: css({ flexDirection: 'column' }),
  section: css({ display: 'flex', flexDirection: 'column', minHeight: 0, minWidth: 0, flex: '1 1 0' }),
  summary: css({
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(0.5, 1),
    fontSize: '1em',
  }),
  summaryText: css({ fontWeight: theme.typography.fontWeightMedium, marginRight: theme.spacing(1) }),
  toolbar: css({ display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: theme.spacing(0.5) }),
  search: css({ width: theme.spacing(28), maxWidth: '100%' }),
  chip: css({
    border: `1px solid ${theme.colors.border.medium}`,
    background: theme.colors.background.primary,
    color: theme.colors.text.secondary,
    borderRadius: theme.shape.radius.pill,
    padding: theme.spacing(0, 1),
    fontSize: '0.85em',
    lineHeight: 1.8,
    cursor: 'pointer',
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
  }),
  chipOn: css({
    borderColor: theme.colors.primary.border,
    background: theme.colors.primary.transparent,
    color: theme.colors.text.primary,
  }),
  select: css({
    border: `1px solid ${theme.colors.border.medium}`,
    background: theme.colors.background.primary,
    color: theme.colors.text.secondary,
    borderRadius: theme.shape.radius.pill,
    padding: theme.spacing(0, 1),
    fontSize: '0.85em',
    height: '1.9em',
    cursor: 'pointer',
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
  }),
  dot: css({ width: '0.6em', height: '0.6em', borderRadius: '50%', display: 'inline-block', flex: 'none' }),
  note: css({ color: theme.colors.text.secondary, fontSize: '0.85em' }),
  linkButton: css({
    background: 'none',
    border: 'none',
    padding: 0,
    color: theme.colors.text.link,
    cursor: 'pointer',
    font: 'inherit',
    '&:hover': { textDecoration: 'underline' },
  }),
  scroller: css({ flex: '1 1 auto', overflowY: 'auto', overflowX: 'hidden', minHeight: 0, position: 'relative' }),
  gridWindow: css({ display: 'grid', gap: m.gap, position: 'absolute', left: 0, right: 0 }),
  card: css({
    height: m.cardHeight,
    boxSizing: 'border-box',
    background: theme.colors.background.secondary,
    border: `1px solid ${theme.colors.border.weak}`,
    borderLeftWidth: 6,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0.5, 1),
    display: 'flex',
    flexDirection: 'column',
    justifyContent: 'space-between',
    overflow: 'hidden',
    cursor: 'pointer',
    textAlign: 'left',
    color: theme.colors.text.primary,
    font: 'inherit',
    '&:hover': { background: theme.colors.action.hover },
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
  }),
  cardSelected: css({ boxShadow: `0 0 0 2px ${theme.colors.primary.main}` }),
  cardHead: css({ display: 'flex', justifyContent: 'space-between', alignItems: 'baseline', gap: theme.spacing(1) }),
  cardTitle: css({
    fontWeight: theme.typography.fontWeightBold,
    fontSize: '1.05em',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  cardSub: css({
    color: theme.colors.text.secondary,
    fontSize: '0.85em',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
  cardFoot: css({ display: 'flex', justifyContent: 'space-between', alignItems: 'center', gap: theme.spacing(0.5), fontSize: '0.85em' }),
  stateLabel: css({ fontSize: '0.75em', fontWeight: theme.typography.fontWeightBold, letterSpacing: '0.05em' }),
  scoreHigh: css({ color: theme.colors.error.text, fontWeight: theme.typography.fontWeightBold }),
  badge: css({
    display: 'inline-block',
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0, 0.75),
    fontSize: '0.75em',
    fontWeight: theme.typography.fontWeightBold,
    lineHeight: 1.7,
    whiteSpace: 'nowrap',
    textTransform: 'uppercase',
  }),
  muted: css({
    fontSize: '0.7em',
    fontWeight: theme.typography.fontWeightBold,
    textTransform: 'uppercase',
    color: theme.colors.text.secondary,
    border: `1px dashed ${theme.colors.border.strong}`,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0, 0.5),
    marginLeft: 'auto',
    marginRight: theme.spacing(0.5),
  }),
  badgeOutline: css({ border: `1px solid ${theme.colors.border.strong}`, color: theme.colors.text.secondary }),
  badgeAck: css({ background: theme.colors.info.transparent, color: theme.colors.info.text, border: `1px solid ${theme.colors.info.border}` }),
  badgeResolved: css({ background: theme.colors.success.transparent, color: theme.colors.success.text, border: `1px solid ${theme.colors.success.border}` }),
  badgeFiring: css({ background: theme.colors.error.transparent, color: theme.colors.error.text, border: `1px solid ${theme.colors.error.border}` }),
  list: css({ display: 'flex', flexDirection: 'column', gap: theme.spacing(0.5) }),
  groupHead: css({
    fontWeight: theme.typography.fontWeightMedium,
    color: theme.colors.text.secondary,
    padding: theme.spacing(0.5, 0, 0),
    borderBottom: `1px solid ${theme.colors.border.weak}`,
    position: 'sticky',
    top: 0,
    background: theme.colors.background.primary,
    zIndex: 1,
  }),
  alert: css({
    background: theme.colors.background.secondary,
    border: `1px solid ${theme.colors.border.weak}`,
    borderLeftWidth: 4,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0.5, 1),
    display: 'flex',
    flexDirection: 'column',
    gap: theme.spacing(0.25),
  }),
  alertResolved: css({ opacity: 0.75 }),
  alertHead: css({ display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: theme.spacing(0.5, 1) }),
  alertRule: css({ fontWeight: theme.typography.fontWeightBold }),
  alertMeta: css({ display: 'flex', flexWrap: 'wrap', gap: theme.spacing(0.5, 1.5), color: theme.colors.text.secondary, fontSize: '0.85em' }),
  alertActions: css({ display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: theme.spacing(0.5) }),
  error: css({
    color: theme.colors.error.text,
    background: theme.colors.error.transparent,
    border: `1px solid ${theme.colors.error.border}`,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0.5, 1),
    fontSize: '0.9em',
  }),
  empty: css({
    display: 'flex',
    flexDirection: 'column',
    alignItems: 'center',
    justifyContent: 'center',
    height: '100%',
    color: theme.colors.text.secondary,
    textAlign: 'center',
    gap: theme.spacing(1),
    padding: theme.spacing(2),
  }),
  code: css({ fontFamily: theme.typography.fontFamilyMonospace, fontSize: '0.85em' }),
});

export type Styles = ReturnType<typeof getStyles>;
