// Every colour and size comes from the Grafana theme, so the panel follows light/dark and the user's theme.
import { css } from '@emotion/css';
import { GrafanaTheme2 } from '@grafana/data';
import { Condition, CONNECTIVITY, connectivityCondition } from '../data/status';
import { Density, DisplayState, Severity } from '../types';
import type { DeviceView } from '../data/devices';

export interface Metrics {
  cardMin: number;
  cardHeight: number;
  gap: number;
  /** font multiplier against Grafana's 14 px body text */
  font: number;
  /** the panel's font size in px; every size below is derived from it so the virtualised lists know heights */
  fontPx: number;
  /** the cards' font size in px (smaller than fontPx when a wall display shrinks cards to fit) */
  cardFontPx: number;
  /** fixed height of one alert row and of an equipment group header in the alert list, px */
  alertRow: number;
  groupHead: number;
}

/** Grafana's body text (theme.typography.fontSize); a fixed px base so heights do not depend on the host's rem. */
export const BASE_FONT_PX = 14;
const GAP: Record<Density, number> = { compact: 4, comfortable: 8, wall: 12 };
const DENSITY_FONT: Record<Density, number> = { compact: 0.9, comfortable: 1, wall: 1.35 };
/** A card is this many ems: status band, name and equipment, measured values and last seen, sparkline with %. */
export const CARD_EM = { width: 15, height: 7.6 };
const ALERT_ROW_EM = 5.6;
const GROUP_HEAD_EM = 2;

/** Geometry for a density and font scale (percent); `cardFont` overrides the cards' multiplier (wall fit). */
export function metrics(density: Density, fontSize: number, cardFont?: number): Metrics {
  const scale = Math.max(0.5, Math.min(3, (fontSize || 100) / 100));
  const font = scale * (DENSITY_FONT[density] ?? 1);
  const fontPx = BASE_FONT_PX * font;
  const cardPx = BASE_FONT_PX * (cardFont ?? font);
  return {
    cardMin: Math.round(CARD_EM.width * cardPx),
    cardHeight: Math.round(CARD_EM.height * cardPx),
    gap: GAP[density] ?? GAP.comfortable,
    font,
    fontPx,
    cardFontPx: cardPx,
    alertRow: Math.round(ALERT_ROW_EM * fontPx),
    groupHead: Math.round(GROUP_HEAD_EM * fontPx),
  };
}

/** Card base size at font multiplier 1, for fitting a wall display. */
export function cardBase(density: Density) {
  return {
    cardMin: CARD_EM.width * BASE_FONT_PX,
    cardHeight: CARD_EM.height * BASE_FONT_PX,
    gap: GAP[density] ?? GAP.comfortable,
  };
}

export function stateColor(theme: GrafanaTheme2, s: DisplayState): string {
  return conditionColor(theme, connectivityCondition(s)).fill;
}

export function severityColor(theme: GrafanaTheme2, s: Severity): { bg: string; fg: string } {
  const c = conditionColor(theme, s);
  return { bg: c.fill, fg: c.text };
}

export interface ConditionColor {
  /** the solid colour: borders, text accents, legend dots */
  fill: string;
  /** the card band / tile background: solid for alert severities, hatched for connectivity problems */
  background: string;
  /** glyph and text colour on `background` */
  text: string;
}

const viz = (theme: GrafanaTheme2, name: string) => theme.visualization.getColorByName(name);

/** The base colour of each condition (the hatch for connectivity is added by conditionColor). */
const CONDITION_FILL: Record<Condition, (theme: GrafanaTheme2) => string> = {
  critical: (t) => t.colors.error.main,
  warning: (t) => t.colors.warning.main,
  info: (t) => t.colors.info.main,
  ok: (t) => t.colors.success.main,
  offline: (t) => viz(t, 'dark-purple'),
  silent: (t) => viz(t, t.isDark ? 'light-purple' : 'purple'),
  unknown: (t) => (t.isDark ? '#5b5e66' : '#b3b6bd'),
};

/**
 * Alert severities use Grafana's status tokens (error, warning, info), healthy is success; connectivity uses
 * the purple family of the visualisation palette and a hatch, so OFFLINE never looks like critical and SILENT
 * never like warning, with or without colour vision.
 */
export function conditionColor(theme: GrafanaTheme2, c: Condition): ConditionColor {
  const fill = (CONDITION_FILL[c] ?? CONDITION_FILL.unknown)(theme);
  const text = theme.colors.getContrastText(fill);
  if (!CONNECTIVITY.has(c)) {
    return { fill, background: fill, text };
  }
  const stripe = theme.colors.emphasize(fill, 0.18);
  return {
    fill,
    background: `repeating-linear-gradient(135deg, ${fill} 0 5px, ${stripe} 5px 10px)`,
    text,
  };
}

/** Cards and alert rows: head at the top, details at the bottom, nothing spilling out. */
const stackedBox = {
  padding: '0.3em 0.6em',
  display: 'flex',
  flexDirection: 'column',
  justifyContent: 'space-between',
  overflow: 'hidden',
} as const;

/** The toolbar's filter chips and sort menu: one pill look. */
const toolbarPill = (theme: GrafanaTheme2) => ({
  border: `1px solid ${theme.colors.border.medium}`,
  background: theme.colors.background.primary,
  color: theme.colors.text.secondary,
  borderRadius: theme.shape.radius.pill,
  padding: theme.spacing(0, 1),
  fontSize: '0.85em',
  cursor: 'pointer',
  '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
});

export const getStyles = (theme: GrafanaTheme2, m: Metrics) => ({
  root: css({
    display: 'flex',
    flexDirection: 'column',
    height: '100%',
    width: '100%',
    overflow: 'hidden',
    fontSize: `${m.fontPx}px`,
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
    ...toolbarPill(theme),
    lineHeight: 1.8,
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
  }),
  chipOn: css({
    borderColor: theme.colors.primary.border,
    background: theme.colors.primary.transparent,
    color: theme.colors.text.primary,
  }),
  select: css({ ...toolbarPill(theme), height: '1.9em' }),
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
    border: `2px solid ${theme.colors.border.weak}`,
    borderRadius: theme.shape.radius.default,
    ...stackedBox,
    cursor: 'pointer',
    textAlign: 'left',
    color: theme.colors.text.primary,
    font: 'inherit',
    '&:hover': { background: theme.colors.action.hover },
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
  }),
  cardSelected: css({ boxShadow: `0 0 0 2px ${theme.colors.primary.main}` }),
  cardTitle: css({
    fontWeight: theme.typography.fontWeightBold,
    fontSize: '1.05em',
    flex: 'none',
    maxWidth: '70%',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
  }),
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
  badgeAck: css({
    background: theme.colors.info.transparent,
    color: theme.colors.info.text,
    border: `1px solid ${theme.colors.info.border}`,
  }),
  badgeResolved: css({
    background: theme.colors.success.transparent,
    color: theme.colors.success.text,
    border: `1px solid ${theme.colors.success.border}`,
  }),
  badgeFiring: css({
    background: theme.colors.error.transparent,
    color: theme.colors.error.text,
    border: `1px solid ${theme.colors.error.border}`,
  }),
  groupHead: css({
    boxSizing: 'border-box',
    position: 'absolute',
    left: 0,
    right: 0,
    height: m.groupHead,
    display: 'flex',
    alignItems: 'flex-end',
    paddingBottom: '0.2em',
    fontWeight: theme.typography.fontWeightMedium,
    color: theme.colors.text.secondary,
    borderBottom: `1px solid ${theme.colors.border.weak}`,
  }),
  alert: css({
    boxSizing: 'border-box',
    height: m.alertRow,
    position: 'absolute',
    left: 0,
    right: 0,
    background: theme.colors.background.secondary,
    border: `1px solid ${theme.colors.border.weak}`,
    borderLeftWidth: 4,
    borderRadius: theme.shape.radius.default,
    ...stackedBox,
  }),
  alertResolved: css({ opacity: 0.75 }),
  alertHead: css({
    display: 'flex',
    alignItems: 'center',
    gap: '0.5em',
    height: '2em',
    minWidth: 0,
    whiteSpace: 'nowrap',
  }),
  alertRule: css({ fontWeight: theme.typography.fontWeightBold }),
  alertMeta: css({
    display: 'flex',
    gap: '1.2em',
    color: theme.colors.text.secondary,
    fontSize: '0.85em',
    whiteSpace: 'nowrap',
    overflow: 'hidden',
    height: '1.6em',
    alignItems: 'center',
  }),
  alertActions: css({
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
    marginLeft: 'auto',
    flex: 'none',
  }),
  error: css({
    color: theme.colors.error.text,
    background: theme.colors.error.transparent,
    border: `1px solid ${theme.colors.error.border}`,
    borderRadius: theme.shape.radius.default,
    padding: theme.spacing(0.5, 1),
    fontSize: '0.9em',
  }),
  warning: css({
    color: theme.colors.warning.text,
    background: theme.colors.warning.transparent,
    border: `1px solid ${theme.colors.warning.border}`,
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
  // Grafana's own controls (Input, Button) have px sizes; zoom scales them with the panel's font on a wall.
  scaled: css({ zoom: m.font, display: 'inline-flex', alignItems: 'center', gap: theme.spacing(0.5) }),
  cardBand: css({
    display: 'flex',
    alignItems: 'center',
    gap: '0.4em',
    margin: '-0.3em -0.6em 0',
    padding: '0 0.6em',
    height: '1.75em',
    flex: 'none',
    fontWeight: theme.typography.fontWeightBold,
    fontSize: '0.85em',
    letterSpacing: '0.04em',
    textTransform: 'uppercase',
    whiteSpace: 'nowrap',
    overflow: 'hidden',
  }),
  bandSecond: css({ marginLeft: 'auto', display: 'inline-flex', alignItems: 'center', gap: '0.3em' }),
  cardName: css({ display: 'flex', alignItems: 'baseline', gap: '0.5em', minWidth: 0, height: '1.5em', flex: 'none' }),
  cardEquip: css({
    color: theme.colors.text.secondary,
    fontSize: '0.8em',
    whiteSpace: 'nowrap',
    marginLeft: 'auto',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    minWidth: 0,
  }),
  valueList: css({ display: 'flex', gap: '0.9em', minWidth: 0, overflow: 'hidden', textOverflow: 'ellipsis' }),
  values: css({
    display: 'flex',
    gap: '0.9em',
    fontSize: '0.9em',
    height: '1.5em',
    alignItems: 'baseline',
    overflow: 'hidden',
    whiteSpace: 'nowrap',
    flex: 'none',
  }),
  valueName: css({ color: theme.colors.text.secondary, fontSize: '0.85em', marginRight: '0.3em' }),
  valueNum: css({ fontWeight: theme.typography.fontWeightMedium, fontVariantNumeric: 'tabular-nums' }),
  scoreRow: css({ display: 'flex', alignItems: 'center', gap: '0.5em', height: '2em', flex: 'none', minWidth: 0 }),
  spark: css({ flex: '1 1 auto', minWidth: 0, height: '1.8em', display: 'block' }),
  scorePct: css({ fontSize: '0.85em', whiteSpace: 'nowrap', textAlign: 'right', lineHeight: 1.1 }),
  scorePctNum: css({
    fontWeight: theme.typography.fontWeightBold,
    fontSize: '1.15em',
    fontVariantNumeric: 'tabular-nums',
  }),
  scoreLabel: css({ color: theme.colors.text.secondary, fontSize: '0.85em', display: 'block' }),
  maintenance: css({
    display: 'inline-flex',
    alignItems: 'center',
    gap: '0.3em',
    fontSize: '0.75em',
    fontWeight: theme.typography.fontWeightBold,
    textTransform: 'uppercase',
    color: theme.colors.text.primary,
    background: theme.colors.background.canvas,
    border: `1px dashed ${theme.colors.border.strong}`,
    borderRadius: theme.shape.radius.default,
    padding: '0 0.4em',
    whiteSpace: 'nowrap',
  }),
  tiles: css({
    display: 'flex',
    flexDirection: 'column',
    overflowY: 'auto',
    overflowX: 'hidden',
    flex: '1 1 auto',
    minHeight: 0,
  }),
  tileGroupHead: css({
    display: 'flex',
    alignItems: 'center',
    gap: '0.6em',
    whiteSpace: 'nowrap',
    overflow: 'hidden',
    fontSize: '0.85em',
    cursor: 'pointer',
    background: 'none',
    border: 'none',
    padding: 0,
    color: theme.colors.text.primary,
    font: 'inherit',
    textAlign: 'left',
    '&:hover': { textDecoration: 'underline' },
  }),
  tileGroupName: css({ fontWeight: theme.typography.fontWeightBold }),
  rollupCount: css({ display: 'inline-flex', alignItems: 'center', gap: '0.2em', fontVariantNumeric: 'tabular-nums' }),
  tileGrid: css({ display: 'grid', justifyContent: 'start' }),
  tile: css({
    boxSizing: 'border-box',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    borderRadius: 2,
    cursor: 'pointer',
    padding: 0,
    border: 'none',
    outlineOffset: -2,
    '&:hover': { outline: `2px solid ${theme.colors.text.primary}` },
    '&:focus-visible': { outline: `2px solid ${theme.colors.primary.main}` },
  }),
  tileMuted: css({
    boxShadow: `inset 0 0 0 2px ${theme.colors.background.primary}`,
    outline: `2px dashed ${theme.colors.text.primary}`,
    outlineOffset: -1,
  }),
  tileSelected: css({ outline: `3px solid ${theme.colors.primary.main}` }),
  legend: css({
    display: 'flex',
    flexWrap: 'wrap',
    gap: '0.3em 1em',
    fontSize: '0.8em',
    color: theme.colors.text.secondary,
  }),
  legendItem: css({ display: 'inline-flex', alignItems: 'center', gap: '0.3em' }),
  legendSwatch: css({
    width: '1.3em',
    height: '1.3em',
    borderRadius: 2,
    display: 'inline-flex',
    alignItems: 'center',
    justifyContent: 'center',
    fontSize: '0.9em',
  }),
  alertLine: css({
    display: 'flex',
    alignItems: 'center',
    gap: '0.5em',
    minWidth: 0,
    whiteSpace: 'nowrap',
    overflow: 'hidden',
  }),
  ellipsis: css({ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', minWidth: 0 }),
  code: css({ fontFamily: theme.typography.fontFamilyMonospace, fontSize: '0.85em' }),
});

export type Styles = ReturnType<typeof getStyles>;

/** What both device layouts (cards: EquipmentGrid, tiles: TileGrid) get from the panel: the devices, the
 * space they fill, the clock, the sizes and styles, and the selection they share. */
export interface DeviceLayoutProps {
  devices: DeviceView[];
  width: number;
  height: number;
  now: number;
  metrics: Metrics;
  styles: Styles;
  selected: string | null;
  onSelect: (deviceId: string | null) => void;
}
