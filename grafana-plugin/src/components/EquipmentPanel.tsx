// The operator panel: equipment grid and alert list over the same reduced model, with local filters and
// optimistic acknowledge/resolve.
import { cx } from '@emotion/css';
import { LoadingState, PanelProps } from '@grafana/data';
import { Input, useStyles2, useTheme2 } from '@grafana/ui';
import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { AlertAction, canAct as userCanAct, checkApiUrl, currentUser, postAlertAction, roleCanAct } from '../api';
import {
  countAlerts,
  filterAlerts,
  groupByEquipment,
  openAlertsByDevice,
  parseDeviceFilter,
  sortAlerts,
} from '../data/alerts';
import { countStates, filterDevices, sortDevices, toDeviceViews } from '../data/devices';
import { buildModel } from '../data/frames';
import { DEVICE_SORTS } from '../options';
import { fitScale } from '../data/status';
import {
  AlertPhase,
  AlertRow,
  DEFAULT_FIELDS,
  DEFAULT_OPTIONS,
  DeviceSort,
  DisplayState,
  EquipmentLayout,
  PanelLink,
  PanelOptions,
  Severity,
} from '../types';
import { AlertList } from './AlertList';
import { EquipmentGrid } from './EquipmentGrid';
import { Glyph } from './glyphs';
import { cardBase, getStyles, metrics, severityColor, stateColor } from './styles';
import { TileGrid } from './TileGrid';

type Props = PanelProps<PanelOptions>;

interface Override {
  patch: Partial<AlertRow>;
  /** when the operator acted; data newer than this wins again (e.g. the alert re-fired) */
  at: number;
}

const PHASES: AlertPhase[] = ['firing', 'acknowledged', 'resolved'];
const SEVERITIES: Severity[] = ['critical', 'warning', 'info'];
const STATES: DisplayState[] = ['offline', 'silent', 'unknown', 'online'];
const PROBLEM_STATES: DisplayState[] = ['offline', 'silent', 'unknown'];

/** A toolbar toggle: a button that shows (and tells assistive technology) whether it is pressed. */
function Chip(props: {
  on: boolean;
  onClick: () => void;
  styles: { chip: string; chipOn: string };
  children: React.ReactNode;
}) {
  const { on, onClick, styles, children } = props;
  return (
    <button type="button" className={cx(styles.chip, on && styles.chipOn)} aria-pressed={on} onClick={onClick}>
      {children}
    </button>
  );
}

/** Re-renders every `ms` so ages ("3m ago") stay true on a wall display without a query refresh. */
function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

/** The element's content size, kept current with a ResizeObserver; `fallback` until measured (and in jsdom). */
function useElementSize(fallback: { width: number; height: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') {
      return;
    }
    const read = () => {
      const w = el.clientWidth;
      const h = el.clientHeight;
      setSize((old) =>
        w > 0 && h > 0 && (!old || old.width !== w || old.height !== h) ? { width: w, height: h } : old
      );
    };
    read();
    const ro = new ResizeObserver(read);
    ro.observe(el);
    return () => ro.disconnect();
  });
  return { ref, size: size ?? fallback };
}

function toggle<T>(list: T[], v: T): T[] {
  return list.includes(v) ? list.filter((x) => x !== v) : [...list, v];
}

export function EquipmentPanel({ data, options: rawOptions, width, height, replaceVariables }: Props) {
  // Memoised so derived data is only recomputed when the options really change.
  const options: PanelOptions = useMemo(
    () => ({ ...DEFAULT_OPTIONS, ...rawOptions, fields: { ...DEFAULT_FIELDS, ...rawOptions.fields } }),
    [rawOptions]
  );
  const m = metrics(options.density, options.fontSize);
  const styles = useStyles2(getStyles, m);
  const [layoutChoice, setLayoutChoice] = useState<EquipmentLayout | null>(null);
  const theme = useTheme2();
  const now = useNow(30_000);
  const gridSection = useElementSize({ width: -1, height: -1 });
  const alertSection = useElementSize({ width: -1, height: -1 });

  const [selected, setSelected] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [phases, setPhases] = useState<AlertPhase[]>(options.statusFilter);
  const [severities, setSeverities] = useState<Severity[]>(options.severityFilter);
  const [states, setStates] = useState<DisplayState[] | null>(null);
  const [sort, setSort] = useState<DeviceSort>(options.deviceSort);
  const [grouped, setGrouped] = useState(options.groupByEquipment);
  const [overrides, setOverrides] = useState<Map<string, Override>>(() => new Map());
  const [pending, setPending] = useState<Set<string>>(() => new Set());
  const [errors, setErrors] = useState<Map<string, string>>(() => new Map());

  // Panel options are the defaults; an editor changing them resets the operator's toggles.
  useEffect(() => setPhases(options.statusFilter), [options.statusFilter]);
  useEffect(() => setSeverities(options.severityFilter), [options.severityFilter]);
  useEffect(() => setSort(options.deviceSort), [options.deviceSort]);
  useEffect(() => setGrouped(options.groupByEquipment), [options.groupByEquipment]);
  useEffect(() => setLayoutChoice(null), [options.equipmentLayout]);

  const model = useMemo(() => buildModel(data.series, options.fields), [data.series, options.fields]);

  const alerts = useMemo(
    () =>
      model.alerts.map((a) => {
        const o = overrides.get(a.alertId);
        return o && a.time <= o.at ? { ...a, ...o.patch } : a;
      }),
    [model.alerts, overrides]
  );

  const variableDevices = useMemo(
    () => parseDeviceFilter(replaceVariables(options.deviceFilter ?? '')),
    [options.deviceFilter, replaceVariables]
  );
  const valueFields = useMemo(
    () =>
      (options.valueFields ?? '')
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean),
    [options.valueFields]
  );
  const rawApiUrl = options.apiUrl ?? '';
  const resolvedApiUrl = replaceVariables(rawApiUrl);
  // Checked once per value: only a data source proxy path, or a literal cross-origin URL, is ever requested.
  const apiCheck = useMemo(() => checkApiUrl(rawApiUrl, resolvedApiUrl), [rawApiUrl, resolvedApiUrl]);
  const actionsAllowed = userCanAct(apiCheck);
  // Why the actions are missing, for those who could act: a refused URL must not fail silently.
  const apiRefusal = !apiCheck.ok && apiCheck.reason && roleCanAct() ? apiCheck.reason : undefined;

  const devices = useMemo(() => {
    const views = toDeviceViews(model.devices, openAlertsByDevice(alerts), now, options.silentAfter);
    return sortDevices(filterDevices(views, { devices: variableDevices }), sort);
  }, [model.devices, alerts, now, options.silentAfter, sort, variableDevices]);

  const stateCounts = useMemo(() => countStates(devices), [devices]);
  const large = devices.length > options.summariseAbove;
  const layoutOption = options.equipmentLayout ?? 'auto';
  const chosen = layoutChoice ?? (layoutOption === 'auto' ? (large ? 'tiles' : 'cards') : layoutOption);
  const layout: 'cards' | 'tiles' = chosen === 'tiles' ? 'tiles' : 'cards';
  // Large fleets as cards open on the machines that need attention (the operator can widen it); tiles show all.
  const activeStates = states ?? (large && layout === 'cards' ? PROBLEM_STATES : null);
  const shownDevices = useMemo(
    () => filterDevices(devices, { states: activeStates, text }),
    [devices, activeStates, text]
  );

  const scopedAlerts = useMemo(() => filterAlerts(alerts, { devices: variableDevices }), [alerts, variableDevices]);
  const alertCounts = useMemo(() => countAlerts(scopedAlerts), [scopedAlerts]);
  const shownAlerts = useMemo(
    () => sortAlerts(filterAlerts(scopedAlerts, { phases, severities, device: selected, text })),
    [scopedAlerts, phases, severities, selected, text]
  );
  const groups = useMemo(
    () => (grouped ? groupByEquipment(shownAlerts) : [{ key: 'all', label: '', alerts: shownAlerts }]),
    [shownAlerts, grouped]
  );

  const deviceLinks = useCallback(
    (deviceId: string, equipmentId?: string, fieldLinks?: () => PanelLink[]): PanelLink[] => {
      const out: PanelLink[] = [];
      if (options.deviceLink) {
        // ${device_id} and ${equipment_id} come from the row; everything else from the dashboard.
        const withRow = options.deviceLink
          .replace(/\$\{device_id\}|\$device_id\b/g, encodeURIComponent(deviceId))
          .replace(/\$\{equipment_id\}|\$equipment_id\b/g, encodeURIComponent(equipmentId ?? ''));
        out.push({ href: replaceVariables(withRow), title: 'dashboard' });
      }
      // Links set in the field config ("Data links" on the device field) come after the option's.
      return fieldLinks ? out.concat(fieldLinks()) : out;
    },
    [options.deviceLink, replaceVariables]
  );

  const onAction = useCallback(
    async (alert: AlertRow, action: AlertAction, note: string) => {
      const optimistic: Partial<AlertRow> =
        action === 'ack'
          ? { acknowledged: true, acknowledgedBy: currentUser(), note: note || alert.note }
          : { status: 'resolved', resolvedBy: currentUser(), note: note || alert.note };
      const at = Date.now();
      setErrors((e) => {
        const n = new Map(e);
        n.delete(alert.alertId);
        return n;
      });
      setOverrides((o) => new Map(o).set(alert.alertId, { patch: optimistic, at: Math.max(at, alert.time) }));
      setPending((p) => new Set(p).add(alert.alertId));
      try {
        if (!apiCheck.ok) {
          throw new Error(apiCheck.reason || 'no Alert API URL');
        }
        const patch = await postAlertAction(apiCheck.api, alert.alertId, action, note);
        setOverrides((o) =>
          new Map(o).set(alert.alertId, {
            patch: { ...optimistic, ...patch },
            at: Math.max(at, alert.time, patch.time ?? 0),
          })
        );
      } catch (err) {
        setOverrides((o) => {
          const n = new Map(o);
          n.delete(alert.alertId);
          return n;
        });
        const verb = action === 'ack' ? 'Acknowledge' : 'Resolve';
        setErrors((e) =>
          new Map(e).set(alert.alertId, `${verb} failed: ${err instanceof Error ? err.message : String(err)}`)
        );
      } finally {
        setPending((p) => {
          const n = new Set(p);
          n.delete(alert.alertId);
          return n;
        });
      }
    },
    [apiCheck]
  );

  const hasSeries = data.series.length > 0;
  const errorMessage =
    data.state === LoadingState.Error || (data.errors && data.errors.length)
      ? data.errors
          ?.map((e) => e.message)
          .filter(Boolean)
          .join('; ') ||
        data.error?.message ||
        'Query failed'
      : undefined;

  if (!hasSeries && data.state === LoadingState.Loading) {
    return (
      <div className={styles.empty} data-testid="panel-loading" aria-busy="true">
        Loading equipment and alerts…
      </div>
    );
  }
  if (!model.recognised) {
    return (
      <div className={styles.empty} data-testid="panel-empty">
        {errorMessage ? (
          <div role="alert" className={styles.error}>
            {errorMessage}
          </div>
        ) : (
          <>
            <div>No MOBY equipment or alert data.</div>
            <div className={styles.note}>
              Expected frames with <span className={styles.code}>{options.fields.alertId}</span> (alerts) or{' '}
              <span className={styles.code}>{options.fields.deviceId}</span> with{' '}
              <span className={styles.code}>{options.fields.state}</span> or{' '}
              <span className={styles.code}>{options.fields.score}</span> (equipment). Field names can be mapped in the
              panel options.
            </div>
          </>
        )}
      </div>
    );
  }

  const showGrid = options.viewMode !== 'alerts';
  // In equipment-only mode, picking a device opens its alerts beside the grid.
  const showAlerts = options.viewMode !== 'equipment' || selected !== null;
  const sideBySide = showGrid && showAlerts && width >= 800;
  // Until measured (first paint, jsdom), the section sizes are estimated from the panel's.
  const gridWidth = showGrid && showAlerts && sideBySide ? Math.floor(width * 0.55) : width;
  const gridHeight = showGrid && showAlerts && !sideBySide ? Math.floor(height * 0.45) : height;
  const gridSize = gridSection.size.width === -1 ? { width: gridWidth, height: gridHeight } : gridSection.size;
  const alertHeight = alertSection.size.height === -1 ? height : alertSection.size.height;
  // A wall display fits every shown card on the screen when it can: as large as the operator's font size
  // asks, down to normal size (below that it scrolls).
  const cardFont =
    options.density === 'wall' && layout === 'cards'
      ? fitScale(shownDevices.length, gridSize.width, gridSize.height, cardBase('wall'), Math.min(1, m.font), m.font)
      : undefined;
  const cardMetrics =
    cardFont !== undefined && cardFont !== m.font ? metrics(options.density, options.fontSize, cardFont) : m;
  // what the tile and card grids share (the known devices, the space, the selection)
  const gridProps = {
    devices: shownDevices,
    width: gridSize.width,
    height: gridSize.height,
    now,
    styles,
    selected,
    onSelect: setSelected,
  };
  const total = devices.length;
  const summary =
    `${alertCounts.firing} firing` +
    (alertCounts.firingCritical ? ` (${alertCounts.firingCritical} critical)` : '') +
    `, ${alertCounts.acknowledged} acknowledged, ${alertCounts.resolved} resolved · ` +
    `${stateCounts.online}/${total} online` +
    (stateCounts.silent ? `, ${stateCounts.silent} silent` : '') +
    (stateCounts.offline ? `, ${stateCounts.offline} offline` : '') +
    (stateCounts.unknown ? `, ${stateCounts.unknown} unknown` : '');

  return (
    <div className={styles.root} data-testid="moby-panel">
      {errorMessage && (
        <div role="alert" className={styles.error}>
          {errorMessage}
        </div>
      )}
      {apiRefusal && (
        <div role="status" className={styles.warning} data-testid="api-refused" title={resolvedApiUrl}>
          {apiRefusal}
        </div>
      )}
      <div className={styles.summary}>
        <span className={styles.summaryText} data-testid="summary" aria-live="polite">
          {summary}
        </span>
      </div>
      <div className={styles.toolbar} role="toolbar" aria-label="Filters">
        <div className={styles.scaled}>
          <div className={styles.search}>
            <Input
              value={text}
              placeholder="Filter device, rule, text…"
              aria-label="Filter text"
              onChange={(e) => setText(e.currentTarget.value)}
            />
          </div>
        </div>
        {showGrid &&
          (['cards', 'tiles'] as const).map((l) => (
            <Chip key={l} styles={styles} on={layout === l} onClick={() => setLayoutChoice(l)}>
              {l}
            </Chip>
          ))}
        {showGrid &&
          STATES.map((s) => {
            const on = activeStates ? activeStates.includes(s) : false;
            return (
              <Chip
                key={s}
                styles={styles}
                on={on}
                onClick={() => setStates(toggle(activeStates ?? [], s).length ? toggle(activeStates ?? [], s) : null)}
              >
                <span style={{ color: stateColor(theme, s), display: 'inline-flex' }}>
                  <Glyph kind={s === 'online' ? 'ok' : s} />
                </span>
                {s} {stateCounts[s]}
              </Chip>
            );
          })}
        {showAlerts &&
          PHASES.map((p) => (
            <Chip key={p} styles={styles} on={phases.includes(p)} onClick={() => setPhases(toggle(phases, p))}>
              {p} {alertCounts[p]}
            </Chip>
          ))}
        {showAlerts &&
          SEVERITIES.map((s) => (
            <Chip
              key={s}
              styles={styles}
              on={severities.includes(s)}
              onClick={() => setSeverities(toggle(severities, s))}
            >
              <span style={{ color: severityColor(theme, s).bg, display: 'inline-flex' }}>
                <Glyph kind={s} />
              </span>
              {s}
            </Chip>
          ))}
        {showGrid && (
          <select
            className={styles.select}
            aria-label="Sort equipment by"
            value={sort}
            onChange={(e) => setSort(e.currentTarget.value as DeviceSort)}
          >
            {DEVICE_SORTS.map((o) => (
              <option key={o.value} value={o.value}>
                sort: {o.short}
              </option>
            ))}
          </select>
        )}
        {showAlerts && (
          <button
            type="button"
            className={cx(styles.chip, grouped && styles.chipOn)}
            aria-pressed={grouped}
            onClick={() => setGrouped(!grouped)}
          >
            group by equipment
          </button>
        )}
        {selected && (
          <button
            type="button"
            className={cx(styles.chip, styles.chipOn)}
            onClick={() => setSelected(null)}
            aria-label={`Clear device filter ${selected}`}
          >
            device: {selected} ✕
          </button>
        )}
      </div>
      <div className={cx(styles.body, sideBySide ? styles.bodyRow : styles.bodyColumn)}>
        {showGrid && (
          <div className={styles.section} style={sideBySide ? { flex: '0 0 55%' } : undefined}>
            {large && states === null && layout === 'cards' && (
              <div className={styles.note} data-testid="summarised">
                {total.toLocaleString('en-US')} devices: showing the {shownDevices.length} that need attention.{' '}
                <button type="button" className={styles.linkButton} onClick={() => setStates([...STATES])}>
                  Show all
                </button>
              </div>
            )}
            <div ref={gridSection.ref} className={styles.section}>
              {layout === 'tiles' ? (
                <TileGrid {...gridProps} metrics={m} onGroup={(equipment) => setText(equipment)} />
              ) : (
                <EquipmentGrid
                  {...gridProps}
                  metrics={cardMetrics}
                  defaultThreshold={options.scoreThreshold}
                  valueFields={valueFields}
                  linksFor={(d) => deviceLinks(d.deviceId, d.equipmentId, d.links)}
                />
              )}
            </div>
          </div>
        )}
        {showAlerts && (
          <div className={styles.section} ref={alertSection.ref}>
            <AlertList
              groups={groups}
              grouped={grouped}
              total={shownAlerts.length}
              now={now}
              styles={styles}
              metrics={m}
              height={alertHeight}
              canAct={actionsAllowed}
              pending={pending}
              errors={errors}
              onAction={onAction}
              onDevice={(id) => setSelected(id)}
              linksFor={(a) => deviceLinks(a.deviceId, a.equipmentId, a.links)}
            />
          </div>
        )}
      </div>
    </div>
  );
}
