// Browser harness: renders the real panel component with real @grafana/ui and @grafana/data, a Grafana theme
// and realistic frames, so Chromium can be driven against it without a Grafana server.
import { createTheme, getDefaultTimeRange, LoadingState } from '@grafana/data';
import { ThemeContext } from '@grafana/ui';
import React from 'react';
import { flushSync } from 'react-dom';
import { createRoot, Root } from 'react-dom/client';
import { EquipmentPanel } from '../src/components/EquipmentPanel';
import { DEFAULT_OPTIONS, PanelOptions } from '../src/types';
import { makeFrames } from './fixtures';

export interface RenderRequest {
  theme: 'dark' | 'light';
  devices: number;
  alerts: number;
  apiUrl?: string;
  width?: number;
  height?: number;
  options?: Partial<PanelOptions>;
  /** extra fixture data: score history, telemetry, a critical alert on given devices, maintenance windows */
  fixture?: { history?: number; telemetry?: boolean; criticalOn?: number[]; mutedOn?: number[] };
}

let root: Root | null = null;

function render(req: RenderRequest) {
  const theme = createTheme({ colors: { mode: req.theme } });
  const width = req.width ?? 1400;
  const height = req.height ?? 900;
  const series = makeFrames({ devices: req.devices, alerts: req.alerts, now: Date.now(), ...req.fixture });
  document.body.style.background = theme.colors.background.canvas;
  document.body.style.fontFamily = theme.typography.fontFamily;
  document.body.style.fontSize = `${theme.typography.htmlFontSize}px`;
  const container = document.getElementById('panel')!;
  container.style.width = `${width}px`;
  container.style.height = `${height}px`;
  container.style.padding = theme.spacing(1);
  container.style.background = theme.colors.background.primary;
  container.style.border = `1px solid ${theme.colors.border.weak}`;
  root?.unmount();
  root = createRoot(container);
  const props: any = {
    id: 1,
    data: { state: LoadingState.Done, series, timeRange: getDefaultTimeRange() },
    options: { ...DEFAULT_OPTIONS, apiUrl: req.apiUrl ?? '', ...req.options },
    width,
    height,
    timeRange: getDefaultTimeRange(),
    timeZone: 'browser',
    transparent: false,
    fieldConfig: { defaults: {}, overrides: [] },
    renderCounter: 0,
    title: 'MOBY',
    eventBus: {},
    onOptionsChange: () => {},
    onFieldConfigChange: () => {},
    onChangeTimeRange: () => {},
    replaceVariables: (s: string) => s,
  };
  const r = root;
  const t0 = performance.now();
  // flushSync: measure React's render and commit, not the scheduler's idle time.
  flushSync(() =>
    r.render(
      <ThemeContext.Provider value={theme}>
        <EquipmentPanel {...props} />
      </ThemeContext.Provider>
    )
  );
  const commitMs = performance.now() - t0;
  return new Promise<{ commitMs: number; frameMs: number; colors: Record<string, string> }>((resolve) =>
    requestAnimationFrame(() =>
      setTimeout(() =>
        resolve({
          commitMs,
          frameMs: performance.now() - t0,
          colors: {
            canvas: theme.colors.background.canvas,
            error: theme.colors.error.main,
            warning: theme.colors.warning.main,
            success: theme.colors.success.main,
            info: theme.colors.info.main,
            offline: theme.visualization.getColorByName('dark-purple'),
          },
        })
      )
    )
  );
}

(window as any).mobyHarness = { render, ready: true };
