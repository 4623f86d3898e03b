import { FieldType, LoadingState, PanelData, createDataFrame, getDefaultTimeRange } from '@grafana/data';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { Subject, of, throwError } from 'rxjs';
import { makeFrames } from '../../e2e/fixtures';
import { CONDITIONS, Condition, MAX_GROUPS, MAX_TILES } from '../data/status';
import { DEFAULT_OPTIONS, PanelOptions } from '../types';
import { EquipmentPanel } from './EquipmentPanel';

// Only the backend service and the signed-in user come from Grafana's runtime; everything else is real.
const mockFetch = jest.fn();
const mockUser: Record<string, any> = { login: 'ana', orgRole: 'Editor' };
jest.mock('@grafana/runtime', () => ({
  config: {
    get bootData() {
      return { user: mockUser };
    },
  },
  getBackendSrv: () => ({ fetch: (...args: unknown[]) => mockFetch(...args) }),
}));

const NOW = Date.now();
const FRAMES = makeFrames({ devices: 50, alerts: 200, now: NOW });

function panelData(p: Partial<PanelData> = {}): PanelData {
  return { state: LoadingState.Done, series: FRAMES, timeRange: getDefaultTimeRange(), ...p };
}

function renderPanel(
  options: Partial<PanelOptions> = {},
  data: PanelData = panelData(),
  // Tall enough that the virtualised alert list has all 150 default rows in view.
  size = { width: 1400, height: 16000 },
  replaceVariables: (s: string) => string = (s) => s
) {
  const props: any = {
    id: 1,
    data,
    options: { ...DEFAULT_OPTIONS, ...options },
    width: size.width,
    height: size.height,
    timeRange: data.timeRange,
    timeZone: 'utc',
    transparent: false,
    fieldConfig: { defaults: {}, overrides: [] },
    renderCounter: 0,
    title: 'MOBY',
    eventBus: {},
    onOptionsChange: jest.fn(),
    onFieldConfigChange: jest.fn(),
    onChangeTimeRange: jest.fn(),
    replaceVariables,
  };
  return render(<EquipmentPanel {...props} />);
}

const rows = () => screen.queryAllByTestId('alert-row');
const cards = () => screen.queryAllByTestId('device-card');

beforeEach(() => {
  mockFetch.mockReset();
  mockUser.orgRole = 'Editor';
});

describe('rendering realistic frames (50 devices, 200 alerts)', () => {
  it('summarises alerts and device health', () => {
    renderPanel();
    expect(screen.getByTestId('summary')).toHaveTextContent(
      '100 firing (20 critical), 50 acknowledged, 50 resolved · 38/50 online, 5 silent, 5 offline, 2 unknown'
    );
    expect(cards()).toHaveLength(50);
    // Defaults show firing and acknowledged alerts.
    expect(rows()).toHaveLength(150);
  });

  it('lists firing first, critical first within, then acknowledged', () => {
    renderPanel();
    const phases = rows().map((r) => r.dataset.phase);
    expect(phases.indexOf('acknowledged')).toBe(100);
    expect(phases.slice(0, 100).every((p) => p === 'firing')).toBe(true);
    expect(rows()[0].dataset.severity).toBe('critical');
    expect(rows()[20].dataset.severity).toBe('warning');
    expect(within(rows()[0]).getByTestId('phase-badge')).toHaveTextContent('Firing');
    expect(within(rows()[0]).getByTestId('value-threshold').textContent).toMatch(/^value [\d.]+ \/ [\d.]+ \(\+\d+%\)$/);
  });

  it('orders cards worst state first and shows last seen, score and open alerts', () => {
    renderPanel({ deviceSort: 'state' });
    const states = cards().map((c) => c.dataset.state);
    expect(states.slice(0, 5)).toEqual(['offline', 'offline', 'offline', 'offline', 'offline']);
    expect(states.slice(5, 10).every((s) => s === 'silent')).toBe(true);
    expect(states[states.length - 1]).toBe('online');
    const card = cards().find((c) => c.dataset.device === 'press-0001')!;
    expect(card).toHaveTextContent('OFFLINE');
    expect(card).toHaveTextContent(/\d+m ago/);
    // The score reads as a labelled share of the threshold, not "0.06/1".
    expect(card).toHaveTextContent(/(\d+|<1)% of anomaly threshold/);
    expect(card).not.toHaveTextContent(/[\d.]+\/1\b/);
  });
});

describe('filters', () => {
  it('clicking a device shows only its alerts, and the chip clears it', async () => {
    const user = userEvent.setup();
    renderPanel();
    const card = cards().find((c) => c.dataset.device === 'press-0007')!;
    await user.click(card);
    expect(rows().length).toBeGreaterThan(0);
    expect(rows().every((r) => r.textContent!.includes('press-0007'))).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Clear device filter press-0007' }));
    expect(rows()).toHaveLength(150);
  });

  it('clicking the device name on an alert filters by that device too', async () => {
    const user = userEvent.setup();
    renderPanel();
    const first = rows()[0];
    const device = first.querySelector('button')!.textContent!;
    await user.click(within(first).getByRole('button', { name: device }));
    expect(rows().every((r) => r.textContent!.includes(device))).toBe(true);
  });

  it('filters by text, severity and status chips', async () => {
    const user = userEvent.setup();
    renderPanel();
    await user.click(screen.getByRole('button', { name: /^critical/ }));
    expect(rows().some((r) => r.dataset.severity === 'critical')).toBe(false);
    await user.click(screen.getByRole('button', { name: /^resolved/ }));
    expect(rows().some((r) => r.dataset.phase === 'resolved')).toBe(true);
    fireEvent.change(screen.getByLabelText('Filter text'), { target: { value: 'bearing_temp' } });
    expect(rows().length).toBeGreaterThan(0);
    expect(rows().every((r) => r.textContent!.includes('bearing_temp_high'))).toBe(true);
  });

  it('filters devices by state chip', async () => {
    const user = userEvent.setup();
    renderPanel();
    await user.click(screen.getByRole('button', { name: /offline 5/ }));
    expect(cards().map((c) => c.dataset.state)).toEqual(['offline', 'offline', 'offline', 'offline', 'offline']);
  });

  it('applies a dashboard variable device filter to cards, alerts and counts', () => {
    renderPanel({ deviceFilter: '$device' }, panelData(), undefined, (s) =>
      s.replace('$device', '{press-0002,press-0003}')
    );
    expect(
      cards()
        .map((c) => c.dataset.device)
        .sort()
    ).toEqual(['press-0002', 'press-0003']);
    expect(rows().every((r) => /press-000[23]/.test(r.textContent!))).toBe(true);
    expect(screen.getByTestId('summary')).toHaveTextContent('/2 online');
  });

  it('sorts equipment from the toolbar', async () => {
    const user = userEvent.setup();
    renderPanel();
    await user.selectOptions(screen.getByLabelText('Sort equipment by'), 'name');
    expect(
      cards()
        .slice(0, 3)
        .map((c) => c.dataset.device)
    ).toEqual(['press-0001', 'press-0002', 'press-0003']);
    await user.selectOptions(screen.getByLabelText('Sort equipment by'), 'alerts');
    const open = cards().map((c) =>
      Number(c.querySelector('[data-testid="open-alerts"]')?.textContent?.split(' ')[0] ?? 0)
    );
    expect(open).toEqual([...open].sort((a, b) => b - a));
  });

  it('toggles grouping by equipment from the toolbar', async () => {
    const user = userEvent.setup();
    renderPanel();
    expect(screen.queryAllByTestId('alert-group')).toHaveLength(0);
    await user.click(screen.getByRole('button', { name: 'group by equipment' }));
    expect(screen.getAllByTestId('alert-group')).toHaveLength(6);
  });

  it('groups alerts by equipment', () => {
    renderPanel({ groupByEquipment: true });
    const groups = screen.getAllByTestId('alert-group');
    expect(groups.length).toBe(6);
    for (const g of groups) {
      const label = g.getAttribute('aria-label')!.replace('Equipment ', '');
      expect(label).toMatch(/^line-[A-F]$/);
    }
  });
});

describe('acknowledge and resolve', () => {
  it('acknowledges with a note through the alert API, optimistically', async () => {
    const user = userEvent.setup();
    const response = new Subject<any>();
    mockFetch.mockReturnValue(response);
    renderPanel({ apiUrl: 'http://api.local/moby/' });
    const row = rows()[0];
    const id = row.dataset.alert!;
    await user.click(within(row).getByRole('button', { name: 'Acknowledge' }));
    await user.type(within(row).getByLabelText('Note'), 'on my way');
    await user.click(within(row).getByRole('button', { name: 'Confirm acknowledge' }));

    expect(mockFetch).toHaveBeenCalledWith(
      expect.objectContaining({
        url: `http://api.local/moby/alerts/${id}/ack`,
        method: 'POST',
        data: { by: 'ana', note: 'on my way' },
        showErrorAlert: false,
      })
    );
    // Optimistic: the row already shows acknowledged while the request is in flight.
    const pending = screen.getAllByTestId('alert-row').find((r) => r.dataset.alert === id)!;
    expect(pending.dataset.phase).toBe('acknowledged');
    expect(pending).toHaveTextContent('saving…');

    await act(async () => {
      response.next({
        status: 200,
        data: { alert_id: id, status: 'open', acknowledged: true, acknowledged_by: 'ana', ack_note: 'on my way' },
      });
      response.complete();
    });
    const done = screen.getAllByTestId('alert-row').find((r) => r.dataset.alert === id)!;
    expect(done.dataset.phase).toBe('acknowledged');
    expect(done).toHaveTextContent('ack by ana');
    expect(done).toHaveTextContent('note: on my way');
    expect(done).not.toHaveTextContent('saving…');
    expect(within(done).queryByRole('button', { name: 'Acknowledge' })).toBeNull();
    expect(screen.getByTestId('summary')).toHaveTextContent('99 firing');
  });

  it('reverts and shows the API error when acknowledging fails', async () => {
    const user = userEvent.setup();
    mockFetch.mockReturnValue(
      throwError(() => ({
        status: 409,
        statusText: 'Conflict',
        data: { error: { code: 'conflict', message: 'alert already resolved' } },
      }))
    );
    renderPanel({ apiUrl: 'http://api.local/moby' });
    const id = rows()[0].dataset.alert!;
    await user.click(within(rows()[0]).getByRole('button', { name: 'Acknowledge' }));
    await user.click(within(rows()[0]).getByRole('button', { name: 'Confirm acknowledge' }));
    const row = screen.getAllByTestId('alert-row').find((r) => r.dataset.alert === id)!;
    expect(row.dataset.phase).toBe('firing');
    expect(within(row).getByRole('alert')).toHaveTextContent('Acknowledge failed: alert already resolved');
    expect(screen.getByTestId('summary')).toHaveTextContent('100 firing');
  });

  it('reports HTTP status when the error has no JSON body', async () => {
    const user = userEvent.setup();
    mockFetch.mockReturnValue(throwError(() => ({ status: 502, statusText: 'Bad Gateway', data: '<html>' })));
    renderPanel({ apiUrl: 'http://api.local/moby' });
    await user.click(within(rows()[0]).getByRole('button', { name: 'Resolve' }));
    await user.click(within(rows()[0]).getByRole('button', { name: 'Confirm resolve' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Resolve failed: HTTP 502 Bad Gateway');
  });

  it('resolves an alert, which then leaves the default (unresolved) view', async () => {
    const user = userEvent.setup();
    mockFetch.mockImplementation((_req: any) =>
      of({ status: 200, data: { status: 'resolved', acknowledged: false, resolved_by: 'ana' } })
    );
    renderPanel({ apiUrl: 'http://api.local/moby' });
    const id = rows()[0].dataset.alert!;
    await user.click(within(rows()[0]).getByRole('button', { name: 'Resolve' }));
    await user.click(within(rows()[0]).getByRole('button', { name: 'Confirm resolve' }));
    expect(mockFetch.mock.calls[0][0].url).toBe(`http://api.local/moby/alerts/${id}/resolve`);
    expect(rows().some((r) => r.dataset.alert === id)).toBe(false);
    expect(screen.getByTestId('summary')).toHaveTextContent('99 firing (19 critical), 50 acknowledged, 51 resolved');
  });

  it('hides actions without an API URL and for viewers', () => {
    const { unmount } = renderPanel({ apiUrl: '' });
    expect(screen.queryAllByRole('button', { name: 'Acknowledge' })).toHaveLength(0);
    unmount();
    mockUser.orgRole = 'Viewer';
    renderPanel({ apiUrl: 'http://api.local/moby' });
    expect(screen.queryAllByRole('button', { name: 'Acknowledge' })).toHaveLength(0);
    expect(screen.queryAllByRole('button', { name: 'Resolve' })).toHaveLength(0);
  });

  it('shows acknowledge only on unacknowledged open alerts', () => {
    renderPanel({ apiUrl: 'http://api.local/moby' });
    const ack = rows().find((r) => r.dataset.phase === 'acknowledged')!;
    expect(within(ack).queryByRole('button', { name: 'Acknowledge' })).toBeNull();
    expect(within(ack).getByRole('button', { name: 'Resolve' })).toBeInTheDocument();
  });
});

describe('alert API URL from a dashboard variable (var-api_url in the page URL)', () => {
  const fromVariable = (value: string) => (s: string) => s.replace('${api_url}', value);

  it.each(['/api/user/using/2?', 'https://evil.example', '/api/datasources/proxy/uid/moby-api/../../../user/using/2'])(
    'refuses %j: no actions, a visible reason, nothing sent',
    (value) => {
      renderPanel({ apiUrl: '${api_url}' }, panelData(), undefined, fromVariable(value));
      expect(screen.queryAllByRole('button', { name: 'Acknowledge' })).toHaveLength(0);
      expect(screen.queryAllByRole('button', { name: 'Resolve' })).toHaveLength(0);
      expect(screen.getByTestId('api-refused')).toHaveTextContent(
        /^Acknowledge\/Resolve are disabled: the Alert API URL /
      );
      expect(mockFetch).not.toHaveBeenCalled();
    }
  );

  it('tells nothing to viewers, who have no actions anyway', () => {
    mockUser.orgRole = 'Viewer';
    renderPanel({ apiUrl: '${api_url}' }, panelData(), undefined, fromVariable('https://evil.example'));
    expect(screen.queryByTestId('api-refused')).toBeNull();
  });

  it('posts to a data source proxy path from the variable', async () => {
    const user = userEvent.setup();
    mockFetch.mockImplementation(() => of({ status: 200, data: {} }));
    renderPanel({ apiUrl: '${api_url}' }, panelData(), undefined, fromVariable('/api/datasources/proxy/uid/moby-api'));
    expect(screen.queryByTestId('api-refused')).toBeNull();
    const id = rows()[0].dataset.alert!;
    await user.click(within(rows()[0]).getByRole('button', { name: 'Acknowledge' }));
    await user.click(within(rows()[0]).getByRole('button', { name: 'Confirm acknowledge' }));
    expect(mockFetch.mock.calls[0][0].url).toBe(`/api/datasources/proxy/uid/moby-api/alerts/${id}/ack`);
  });

  it('ignores an answer that is not the alert acted on', async () => {
    const user = userEvent.setup();
    mockFetch.mockImplementation(() => of({ status: 200, data: { status: 'resolved', acknowledged: true } }));
    renderPanel({ apiUrl: 'http://api.local/moby' });
    const id = rows()[0].dataset.alert!;
    await user.click(within(rows()[0]).getByRole('button', { name: 'Acknowledge' }));
    await user.click(within(rows()[0]).getByRole('button', { name: 'Confirm acknowledge' }));
    // the forged "resolved" is not applied: the alert stays in the list, acknowledged (the optimistic state)
    const row = rows().find((r) => r.dataset.alert === id)!;
    expect(row.dataset.phase).toBe('acknowledged');
    expect(screen.getByTestId('summary')).toHaveTextContent('99 firing (19 critical), 51 acknowledged, 50 resolved');
  });
});

describe('times out of Date range (opened_at / muted_until = 1e17 ms)', () => {
  it('renders the alert and the card instead of crashing the panel', () => {
    const alerts = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [NOW] },
        { name: 'alert_id', type: FieldType.string, values: ['a1'] },
        { name: 'device_id', type: FieldType.string, values: ['pump-1'] },
        { name: 'severity', type: FieldType.string, values: ['critical'] },
        { name: 'status', type: FieldType.string, values: ['open'] },
        { name: 'opened_at', type: FieldType.number, values: [1e17] },
      ],
    });
    const devices = createDataFrame({
      fields: [
        { name: 'device_id', type: FieldType.string, values: ['pump-1'] },
        { name: 'state', type: FieldType.string, values: ['ONLINE'] },
        { name: 'last_seen', type: FieldType.number, values: [NOW] },
        { name: 'muted_until', type: FieldType.number, values: [1e17] },
      ],
    });
    renderPanel({}, panelData({ series: [alerts, devices] }));
    expect(rows()).toHaveLength(1);
    expect(within(rows()[0]).getByTitle('invalid date')).toBeInTheDocument();
    expect(within(cards()[0]).getByTestId('muted')).toHaveTextContent('muted until --:--');
  });
});

describe('states', () => {
  it('loading', () => {
    renderPanel({}, panelData({ state: LoadingState.Loading, series: [] }));
    expect(screen.getByTestId('panel-loading')).toHaveTextContent('Loading');
  });

  it('empty: explains which fields it looks for', () => {
    const telemetry = createDataFrame({
      fields: [
        { name: 'time', type: FieldType.time, values: [1] },
        { name: 'rpm', values: [3] },
      ],
    });
    renderPanel({}, panelData({ series: [telemetry] }));
    expect(screen.getByTestId('panel-empty')).toHaveTextContent('No MOBY equipment or alert data');
    expect(screen.getByTestId('panel-empty')).toHaveTextContent('alert_id');
  });

  it('query error without data', () => {
    renderPanel(
      {},
      panelData({ state: LoadingState.Error, series: [], errors: [{ message: 'InfluxDB: unauthorized' }] })
    );
    expect(screen.getByRole('alert')).toHaveTextContent('InfluxDB: unauthorized');
  });

  it('query error with stale data keeps the data on screen', () => {
    renderPanel({}, panelData({ state: LoadingState.Error, errors: [{ message: 'timeout' }] }));
    expect(screen.getAllByRole('alert')[0]).toHaveTextContent('timeout');
    expect(cards()).toHaveLength(50);
  });
});

describe('views, links and scale', () => {
  it('equipment-only view opens alerts when a device is picked', async () => {
    const user = userEvent.setup();
    renderPanel({ viewMode: 'equipment' });
    expect(screen.queryByTestId('alert-list')).toBeNull();
    await user.click(cards()[0]);
    expect(screen.getByTestId('alert-list')).toBeInTheDocument();
  });

  it('alerts-only view has no grid', () => {
    renderPanel({ viewMode: 'alerts' });
    expect(screen.queryByTestId('equipment-grid')).toBeNull();
    expect(rows()).toHaveLength(150);
  });

  it('builds device dashboard links from the template and dashboard variables', () => {
    renderPanel(
      { deviceLink: '/d/moby-device?var-device=${device_id}&${__url_time_range}' },
      panelData(),
      undefined,
      (s) => s.replace('${__url_time_range}', 'from=now-6h&to=now')
    );
    const card = cards().find((c) => c.dataset.device === 'press-0001')!;
    const link = within(card).getByRole('link', { name: 'Open dashboard for press-0001' });
    expect(link).toHaveAttribute('href', '/d/moby-device?var-device=press-0001&from=now-6h&to=now');
    const row = rows()[0];
    const device = row.dataset.alert && within(row).getByRole('link').getAttribute('href');
    expect(device).toMatch(/^\/d\/moby-device\?var-device=press-\d{4}&from=now-6h&to=now$/);
  });

  it('shows data links set in the field config of the device field, per device', () => {
    const frames = makeFrames({ devices: 50, alerts: 200, now: NOW });
    for (const frame of [frames[0], frames[2]]) {
      const field = frame.fields.find((f) => f.name === 'device_id')!;
      // What Grafana attaches when "Data links" are configured on the field.
      field.config.links = [{ title: 'Maintenance log', url: '/maint/${__value.raw}' }];
      field.getLinks = ({ valueRowIndex }: any) => [
        { href: `/maint/${field.values[valueRowIndex]}`, title: 'Maintenance log', target: '_blank', origin: field },
      ];
    }
    renderPanel({}, panelData({ series: frames }));
    const card = cards().find((c) => c.dataset.device === 'press-0013')!;
    const link = within(card).getByRole('link', { name: 'Maintenance log for press-0013' });
    expect(link).toHaveAttribute('href', '/maint/press-0013');
    expect(link).toHaveAttribute('target', '_blank');
    const row = rows()[0];
    const device = row.querySelector('button')!.textContent!;
    expect(within(row).getByRole('link', { name: `Maintenance log for ${device}` })).toHaveAttribute(
      'href',
      `/maint/${device}`
    );
  });

  it('2,000 devices: opens on the devices needing attention and renders only visible cards', async () => {
    const user = userEvent.setup();
    const frames = makeFrames({ devices: 2000, alerts: 400, now: NOW });
    renderPanel({ equipmentLayout: 'cards' }, panelData({ series: frames }), { width: 1600, height: 900 });
    expect(screen.getByTestId('summarised')).toHaveTextContent('2,000 devices: showing the');
    const problems = cards();
    expect(problems.every((c) => c.dataset.state !== 'online')).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Show all' }));
    // Virtualised: a window of rows, not 2,000 nodes.
    expect(cards().length).toBeGreaterThan(20);
    expect(cards().length).toBeLessThan(150);
    expect(screen.getByTestId('summary')).toHaveTextContent(/\/2000 online/);
  }, 30_000);
});

describe('maintenance windows', () => {
  it('marks a muted device card, and only while the window lasts', () => {
    const devices = createDataFrame({
      fields: [
        { name: 'device_id', type: FieldType.string, values: ['pump-1', 'pump-2', 'pump-3'] },
        { name: 'state', type: FieldType.string, values: ['ONLINE', 'ONLINE', 'ONLINE'] },
        { name: 'last_seen', type: FieldType.number, values: [NOW, NOW, NOW] },
        { name: 'muted_until', type: FieldType.number, values: [Date.now() + 3_600_000, null, Date.now() - 1000] },
      ],
    });
    renderPanel({}, panelData({ series: [devices] }));
    const card = (id: string) => cards().find((c) => c.getAttribute('data-device') === id)!;
    expect(within(card('pump-1')).getByTestId('muted')).toHaveTextContent('muted');
    expect(within(card('pump-2')).queryByTestId('muted')).toBeNull();
    expect(within(card('pump-3')).queryByTestId('muted')).toBeNull();
  });
});

describe('tenants (MOBY docs/tenants.md)', () => {
  // an admin dashboard over two tenants that both have a pump-001
  const devices = createDataFrame({
    fields: [
      { name: 'device_id', type: FieldType.string, values: ['pump-001', 'pump-001'] },
      { name: 'tenant', type: FieldType.string, values: ['acme', 'beta'] },
      { name: 'state', type: FieldType.string, values: ['ONLINE', 'ONLINE'] },
      { name: 'last_seen', type: FieldType.number, values: [NOW, NOW] },
    ],
  });
  const alerts = createDataFrame({
    fields: [
      { name: 'time', type: FieldType.time, values: [NOW] },
      { name: 'alert_id', type: FieldType.string, values: ['al-beta'] },
      { name: 'device_id', type: FieldType.string, values: ['pump-001'] },
      { name: 'tenant', type: FieldType.string, values: ['beta'] },
      { name: 'severity', type: FieldType.string, values: ['critical'] },
      { name: 'status', type: FieldType.string, values: ['open'] },
      { name: 'message', type: FieldType.string, values: ['too hot'] },
    ],
  });

  it("shows one card per tenant's device, each naming its tenant, and puts an alert only on its own tenant's card", () => {
    renderPanel({}, panelData({ series: [devices, alerts] }));
    const all = cards();
    expect(all.map((c) => c.getAttribute('data-tenant')).sort()).toEqual(['acme', 'beta']);
    const card = (t: string) => all.find((c) => c.getAttribute('data-tenant') === t)!;
    expect(within(card('acme')).getByTestId('tenant-label')).toHaveTextContent('acme');
    expect(within(card('beta')).getByTestId('tenant-label')).toHaveTextContent('beta');
    expect(card('beta').getAttribute('data-condition')).toBe('critical');
    expect(card('acme').getAttribute('data-condition')).toBe('ok');
    expect(within(card('acme')).queryByTestId('open-alerts')).toBeNull();
  });

  it("selecting acme's pump-001 shows acme's alerts only, not beta's of the same device id", () => {
    renderPanel({ viewMode: 'both' } as Partial<PanelOptions>, panelData({ series: [devices, alerts] }));
    expect(rows()).toHaveLength(1);
    fireEvent.click(cards().find((c) => c.getAttribute('data-tenant') === 'acme')!);
    expect(rows()).toHaveLength(0);
    fireEvent.click(cards().find((c) => c.getAttribute('data-tenant') === 'acme')!); // deselect
    fireEvent.click(cards().find((c) => c.getAttribute('data-tenant') === 'beta')!);
    expect(rows()).toHaveLength(1);
  });
});

describe('worst-state cards, tiles and the virtualised alert list', () => {
  it('colours an ONLINE card with an open critical alert as critical, and names both families', () => {
    const frames = makeFrames({ devices: 50, alerts: 0, now: NOW, criticalOn: [2, 0], telemetry: true, history: 10 });
    renderPanel({}, panelData({ series: frames }));
    const hot = cards().find((c) => c.dataset.device === 'press-0003')!;
    expect(hot.dataset.state).toBe('online');
    expect(hot.dataset.condition).toBe('critical');
    expect(within(hot).getByTestId('card-band')).toHaveTextContent(/1 critical/i);
    // OFFLINE with a critical alert: critical colour, and the band still says OFFLINE with its own glyph.
    const both = cards().find((c) => c.dataset.device === 'press-0001')!;
    expect(both.dataset.condition).toBe('critical');
    const glyphs = [...within(both).getByTestId('card-band').querySelectorAll('svg')].map((g) =>
      g.getAttribute('data-glyph')
    );
    expect(glyphs).toEqual(['critical', 'offline']);
    expect(within(both).getByTestId('card-band')).toHaveTextContent(/OFFLINE/);
    // Sorted worst first by default: the two critical cards lead.
    expect(
      cards()
        .slice(0, 2)
        .map((c) => c.dataset.condition)
    ).toEqual(['critical', 'critical']);
    // Values with units, sparkline and % of threshold on every card.
    for (const c of cards()) {
      expect(c).toHaveTextContent(/vibration\s?\d+(\.\d)? mm\/s/);
      expect(c).toHaveTextContent(/motor\s?\d+ °C/);
      expect(c).toHaveTextContent(/(\d+|<1)% of anomaly threshold/);
      expect(within(c).getByTestId('sparkline')).toBeInTheDocument();
    }
  });

  it('auto layout shows every one of 2,000 devices as a tile, with rollups per line that add up', () => {
    const frames = makeFrames({ devices: 2000, alerts: 400, now: NOW });
    renderPanel({}, panelData({ series: frames }), { width: 1888, height: 1048 });
    expect(screen.queryByTestId('summarised')).toBeNull();
    expect(screen.getAllByTestId('device-tile')).toHaveLength(2000);
    const groups = screen.getAllByTestId('tile-group');
    // worst group first, then by name
    const order = groups.map((g) => [CONDITIONS.indexOf(g.dataset.worst as Condition), g.dataset.equipment!] as const);
    expect(order.map(([, e]) => e).sort()).toEqual(['line-A', 'line-B', 'line-C', 'line-D', 'line-E', 'line-F']);
    expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1])));
    expect(screen.queryByTestId('tiles-not-shown')).toBeNull();
    for (const g of groups) {
      const tiles = within(g).getAllByTestId('device-tile');
      const counted = [...g.querySelectorAll('[data-rollup]')].reduce(
        (n, c) => n + Number(c.textContent!.replace(/\D/g, '')),
        0
      );
      expect(counted).toBe(tiles.length);
    }
    // The operator can switch to cards (which then summarise) and back.
    fireEvent.click(screen.getByRole('button', { name: 'cards' }));
    expect(screen.getByTestId('summarised')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'tiles' }));
    expect(screen.getAllByTestId('device-tile')).toHaveLength(2000);
  }, 120_000);

  it('10,000 devices on 10,000 equipment ids: the offline machine first, a bounded DOM, and a line for the rest', () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
    const devices = createDataFrame({
      fields: [
        { name: 'device_id', type: FieldType.string, values: ids },
        { name: 'equipment_id', type: FieldType.string, values: ids.map((id) => `eq-${id}`) },
        { name: 'state', type: FieldType.string, values: ids.map((_, i) => (i === 9_998 ? 'OFFLINE' : 'ONLINE')) },
        { name: 'last_seen', type: FieldType.number, values: ids.map(() => NOW) },
      ],
    });
    renderPanel({ viewMode: 'equipment' }, panelData({ series: [devices] }), { width: 1888, height: 1048 });
    const groups = screen.getAllByTestId('tile-group');
    expect(groups.length).toBe(MAX_GROUPS);
    expect(groups[0].dataset.equipment).toBe('eq-dev-09998');
    expect(groups[0].dataset.worst).toBe('offline');
    expect(screen.getAllByTestId('device-tile').length).toBeLessThanOrEqual(MAX_TILES);
    expect(screen.getByTestId('tiles-not-shown')).toHaveTextContent(
      `${(10_000 - MAX_GROUPS).toLocaleString('en-US')} more groups / ${(10_000 - MAX_GROUPS).toLocaleString('en-US')} more devices not shown`
    );
    expect(document.querySelectorAll('*').length).toBeLessThan(10_000);
  }, 120_000);

  it('alert list: only the rows in view are rendered, and scrolling reaches row 2,000', () => {
    const frames = makeFrames({ devices: 200, alerts: 2000, now: NOW });
    renderPanel(
      { viewMode: 'alerts', statusFilter: ['firing', 'acknowledged', 'resolved'] },
      panelData({ series: frames }),
      { width: 1200, height: 800 }
    );
    const list = screen.getByTestId('alert-list');
    expect(list.dataset.total).toBe('2000');
    expect(rows().length).toBeLessThan(30);
    expect(rows()[0].getAttribute('aria-posinset')).toBe('1');
    const stride = parseFloat(within(list).getByRole('list').style.height) / 2000;
    for (const pos of [301, 2000]) {
      list.scrollTop = (pos - 1) * stride;
      fireEvent.scroll(list);
      expect(rows().some((r) => r.getAttribute('aria-posinset') === String(pos))).toBe(true);
      expect(rows().length).toBeLessThan(30);
    }
  }, 30_000);
});
