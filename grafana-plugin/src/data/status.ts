// What the operator must see first about a machine, and how much of the plant fits on one screen. Pure
// functions (no React, no theme) so the rules are unit-tested and the grid, tiles and rollups agree.
import { DisplayState, Severity } from '../types';

/**
 * One word for the worst thing about a device: its connectivity (offline/silent/unknown) or its worst open
 * alert (critical/warning/info), whichever is worse. The two families never share a colour or a glyph.
 */
export type Condition = 'critical' | 'offline' | 'warning' | 'silent' | 'unknown' | 'info' | 'ok';

/**
 * Worst first. A critical alert outranks OFFLINE: it is a measured fault on a machine that may be damaging
 * itself, while OFFLINE means we are blind to it (which still outranks a warning). Same reasoning one level
 * down: warning over silent. Unknown (never reported) is above informational alerts and healthy.
 */
export const CONDITIONS: Condition[] = ['critical', 'offline', 'warning', 'silent', 'unknown', 'info', 'ok'];
export const CONDITION_RANK: Record<Condition, number> = Object.fromEntries(CONDITIONS.map((c, i) => [c, i])) as Record<
  Condition,
  number
>;

/** Connectivity conditions are drawn hatched, alert severities solid: a second channel besides hue. */
export const CONNECTIVITY: ReadonlySet<Condition> = new Set<Condition>(['offline', 'silent', 'unknown']);

export function connectivityCondition(display: DisplayState): Condition {
  return display === 'online' ? 'ok' : display;
}

export function severityCondition(worst: Severity | undefined): Condition {
  return worst ?? 'ok';
}

/** The card's (and tile's) colour: the worse of connectivity and the worst open alert. */
export function worstCondition(display: DisplayState, worstOpenSeverity: Severity | undefined): Condition {
  const a = connectivityCondition(display);
  const b = severityCondition(worstOpenSeverity);
  return CONDITION_RANK[a] <= CONDITION_RANK[b] ? a : b;
}

/**
 * The anomaly score as a share of its threshold (100 = at the alarm line). Undefined when there is no score or
 * no usable threshold (missing, zero, negative or not finite): a percentage of nothing would mislead.
 */
export function percentOfThreshold(score: number | undefined, threshold: number | undefined): number | undefined {
  if (score === undefined || threshold === undefined || !Number.isFinite(score) || !Number.isFinite(threshold)) {
    return undefined;
  }
  if (threshold <= 0) {
    return undefined;
  }
  return (score / threshold) * 100;
}

/** "6%", "<1%", "112%", "≥1000%": whole percent, and never a bare 0 for a small but real score. */
export function formatPercent(p: number | undefined): string {
  if (p === undefined || !Number.isFinite(p)) {
    return '–';
  }
  if (p > 0 && p < 1) {
    return '<1%';
  }
  if (p >= 1000) {
    return '≥1000%';
  }
  return `${Math.round(p)}%`;
}

export interface RollupItem {
  deviceId: string;
  equipmentId?: string;
  condition: Condition;
}

export interface Rollup<T extends RollupItem = RollupItem> {
  key: string;
  label: string;
  total: number;
  counts: Record<Condition, number>;
  worst: Condition;
  items: T[];
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function emptyCounts(): Record<Condition, number> {
  return { critical: 0, offline: 0, warning: 0, silent: 0, unknown: 0, info: 0, ok: 0 };
}

/**
 * Devices grouped per line/equipment (devices without one form "(no equipment)"). Groups go worst first (the
 * group's worst condition), then in natural name order (line-2 before line-10), "(no equipment)" last among
 * equals: an offline or critical line is at the top of the wall, never scrolled out of sight below healthy
 * ones. Inside a group, devices go worst first, then by name.
 */
export function rollup<T extends RollupItem>(items: T[]): Array<Rollup<T>> {
  const groups = new Map<string, Rollup<T>>();
  for (const it of items) {
    const key = it.equipmentId ?? '';
    let g = groups.get(key);
    if (!g) {
      g = { key, label: key || '(no equipment)', total: 0, counts: emptyCounts(), worst: 'ok', items: [] };
      groups.set(key, g);
    }
    g.total++;
    g.counts[it.condition]++;
    if (CONDITION_RANK[it.condition] < CONDITION_RANK[g.worst]) {
      g.worst = it.condition;
    }
    g.items.push(it);
  }
  const out = [...groups.values()].sort(
    (a, b) =>
      CONDITION_RANK[a.worst] - CONDITION_RANK[b.worst] ||
      (a.key === '' ? 1 : 0) - (b.key === '' ? 1 : 0) ||
      collator.compare(a.key, b.key)
  );
  for (const g of out) {
    g.items.sort(
      (a, b) => CONDITION_RANK[a.condition] - CONDITION_RANK[b.condition] || collator.compare(a.deviceId, b.deviceId)
    );
  }
  return out;
}

/** At most this many tiles (devices) and groups are drawn: the DOM stays bounded whatever the fleet. */
export const MAX_TILES = 3000;
export const MAX_GROUPS = 200;

export interface BoundedRollups<T extends RollupItem> {
  /** the groups drawn, in order; the last one may have only its first (worst) devices in `items` */
  groups: Array<Rollup<T>>;
  /** groups not drawn at all */
  hiddenGroups: number;
  /** devices not drawn (those of hidden groups plus those cut from the last drawn group) */
  hiddenDevices: number;
}

/**
 * The first groups (already worst first) up to `maxGroups` groups and `maxTiles` devices in all. A group cut
 * short keeps its header (total and counts are of the whole group) and its worst devices. Nothing is dropped
 * silently: the caller says how many groups and devices are not shown.
 */
export function boundRollups<T extends RollupItem>(
  groups: Array<Rollup<T>>,
  maxTiles = MAX_TILES,
  maxGroups = MAX_GROUPS
): BoundedRollups<T> {
  const out: Array<Rollup<T>> = [];
  let budget = Math.max(1, maxTiles);
  let hiddenDevices = 0;
  let i = 0;
  for (; i < groups.length && out.length < Math.max(1, maxGroups) && budget > 0; i++) {
    const g = groups[i];
    if (g.items.length <= budget) {
      out.push(g);
      budget -= g.items.length;
    } else {
      out.push({ ...g, items: g.items.slice(0, budget) });
      hiddenDevices += g.items.length - budget;
      budget = 0;
    }
  }
  for (let j = i; j < groups.length; j++) {
    hiddenDevices += groups[j].items.length;
  }
  return { groups: out, hiddenGroups: groups.length - i, hiddenDevices };
}

export interface TileLayout {
  /** tile edge in px */
  size: number;
  gap: number;
  cols: number;
  /** total height of all groups, px */
  height: number;
  /** true when everything fits in the height given */
  fits: boolean;
}

/**
 * The largest square tile (between minSize and maxSize) at which every group — a header row plus its tiles —
 * fits in width × height. When even minSize does not fit, minSize is returned with fits = false (the view
 * scrolls). The gap grows with the tile (1/12 of it, at least 1 px) so small tiles stay dense.
 */
export function tileLayout(
  groupSizes: number[],
  width: number,
  height: number,
  headerHeight: number,
  opts: { minSize?: number; maxSize?: number; groupGap?: number } = {}
): TileLayout {
  const minSize = opts.minSize ?? 10;
  const maxSize = Math.max(minSize, opts.maxSize ?? 64);
  const groupGap = opts.groupGap ?? 6;
  const measure = (size: number): TileLayout => {
    const gap = Math.max(1, Math.round(size / 12));
    const cols = Math.max(1, Math.floor((width + gap) / (size + gap)));
    let total = 0;
    groupSizes.forEach((n, i) => {
      const rows = Math.ceil(n / cols);
      total += headerHeight + Math.max(0, rows * (size + gap) - gap) + (i > 0 ? groupGap : 0);
    });
    return { size, gap, cols, height: total, fits: total <= height };
  };
  for (let size = maxSize; size > minSize; size--) {
    const l = measure(size);
    if (l.fits) {
      return l;
    }
  }
  return measure(minSize);
}

/**
 * The largest card scale (from max down to min, in steps of 0.05) at which `count` cards of base size
 * cardMin × cardHeight (scaled) fit in width × height. Used by the wall display: as large as the screen allows,
 * never above what the operator asked for, never below min (then it scrolls).
 */
export function fitScale(
  count: number,
  width: number,
  height: number,
  base: { cardMin: number; cardHeight: number; gap: number },
  min: number,
  max: number
): number {
  for (let s = max; s > min; s = Math.round((s - 0.05) * 100) / 100) {
    const cardMin = base.cardMin * s;
    const cols = Math.max(1, Math.floor((width + base.gap) / (cardMin + base.gap)));
    const rows = Math.ceil(count / cols);
    if (rows * (base.cardHeight * s + base.gap) - base.gap <= height) {
      return s;
    }
  }
  return min;
}

/**
 * Which items of a list with known heights intersect [scrollTop, scrollTop + viewport], plus `overscan` items
 * on each side. `offsets` are cumulative: offsets[i] is where item i starts, offsets[n] the total height.
 */
export function visibleRange(offsets: number[], scrollTop: number, viewport: number, overscan = 3): [number, number] {
  const n = offsets.length - 1;
  if (n <= 0) {
    return [0, 0];
  }
  // first item whose end is below scrollTop
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1] <= scrollTop) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const start = lo;
  let end = start;
  const bottom = scrollTop + viewport;
  while (end < n && offsets[end] < bottom) {
    end++;
  }
  return [Math.max(0, start - overscan), Math.min(n, Math.max(end, start + 1) + overscan)];
}
