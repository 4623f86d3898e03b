import { of, throwError } from 'rxjs';
import { AlertApi, actionUrl, canAct, checkApiUrl, currentUser, patchFromApi, postAlertAction } from './api';

const mockFetch = jest.fn();
const mockUser: Record<string, any> = {};
jest.mock('@grafana/runtime', () => ({
  config: {
    get bootData() {
      return { user: mockUser };
    },
  },
  getBackendSrv: () => ({ fetch: (...args: unknown[]) => mockFetch(...args) }),
}));

const GRAFANA = 'https://grafana.example';
/** A checked API (as the panel gets it), failing the test when the URL is refused. */
function api(url: string): AlertApi {
  const c = checkApiUrl(url, url, GRAFANA);
  if (!c.ok) {
    throw new Error(c.reason);
  }
  return c.api;
}

beforeEach(() => {
  mockFetch.mockReset();
  for (const k of Object.keys(mockUser)) {
    delete mockUser[k];
  }
});

describe('alert API client', () => {
  it('builds action URLs with the id encoded and no doubled slash', () => {
    expect(actionUrl(api('http://h:1880/moby/'), 'a/b c', 'ack')).toBe('http://h:1880/moby/alerts/a%2Fb%20c/ack');
    expect(actionUrl(api('/api/datasources/proxy/uid/x'), 'id1', 'resolve')).toBe(
      '/api/datasources/proxy/uid/x/alerts/id1/resolve'
    );
    // "." and ".." would be dot segments the browser resolves away
    expect(() => actionUrl(api('/api/datasources/proxy/uid/x'), '..', 'ack')).toThrow('invalid alert id');
    expect(() => actionUrl(api('/api/datasources/proxy/uid/x'), '.', 'ack')).toThrow('invalid alert id');
  });

  it('lets editors and admins act, not viewers, anonymous users or an empty URL', () => {
    const ok = checkApiUrl('http://api', 'http://api', GRAFANA);
    mockUser.orgRole = 'Editor';
    expect(canAct(ok)).toBe(true);
    expect(canAct(checkApiUrl('  ', '  ', GRAFANA))).toBe(false);
    mockUser.orgRole = 'Admin';
    expect(canAct(ok)).toBe(true);
    expect(canAct(checkApiUrl('$u', '/api/user/using/2?', GRAFANA))).toBe(false);
    mockUser.orgRole = 'Viewer';
    expect(canAct(ok)).toBe(false);
    mockUser.isGrafanaAdmin = true;
    expect(canAct(ok)).toBe(true);
    delete mockUser.orgRole;
    delete mockUser.isGrafanaAdmin;
    expect(canAct(ok)).toBe(false);
  });

  describe('checkApiUrl: where acknowledge/resolve may go', () => {
    it.each([
      ['/api/datasources/proxy/uid/moby-api', '/api/datasources/proxy/uid/moby-api'],
      ['/api/datasources/proxy/uid/moby-api/', '/api/datasources/proxy/uid/moby-api'],
      ['/api/datasources/proxy/uid/moby_api-2/moby', '/api/datasources/proxy/uid/moby_api-2/moby'],
      ['/api/datasources/proxy/7', '/api/datasources/proxy/7'],
      ['/api/datasources/proxy/7/v1.2/moby', '/api/datasources/proxy/7/v1.2/moby'],
    ])('accepts the data source proxy path %s, also from a variable', (url, base) => {
      expect(checkApiUrl('${api_url}', url, GRAFANA)).toEqual({ ok: true, api: { base, kind: 'proxy' } });
      expect(checkApiUrl(url, url, GRAFANA)).toEqual({ ok: true, api: { base, kind: 'proxy' } });
    });

    it.each([
      '/api/user/using/2?',
      '/api/user/using/2#',
      '/api/admin/users',
      '/moby',
      '//evil.example/moby',
      '/\\evil.example',
      '/api/datasources/proxy/uid/moby-api?x=1',
      '/api/datasources/proxy/uid/moby-api#x',
      '/api/datasources/proxy/uid/moby-api/..',
      '/api/datasources/proxy/uid/moby-api/../../../user/using/2',
      '/api/datasources/proxy/uid/moby-api/./x',
      '/api/datasources/proxy/uid/moby-api/%2e%2e/%2e%2e/user',
      '/api/datasources/proxy/uid/moby-api%2F..%2F..',
      '/api/datasources/proxy/uid/moby-api//x',
      '/api/datasources/proxy/uid/moby-api\\..\\..',
      '/api/datasources/proxy/uid/',
      '/api/datasources/proxy/uid/moby api',
      '/api/datasources/proxy/0',
      '/api/datasources/proxy/uid/moby\n-api',
      `${GRAFANA}/api/datasources/proxy/uid/moby-api`,
      '/API/datasources/proxy/uid/moby-api',
      'api/datasources/proxy/uid/moby-api',
      `${GRAFANA}/api/user/using/2`,
      'https://evil.example',
      'https://evil.example/moby',
      'javascript:alert(1)',
    ])('refuses %j from a variable, with a reason', (url) => {
      const c = checkApiUrl('${api_url}', url, GRAFANA);
      expect(c.ok).toBe(false);
      expect(!c.ok && c.reason).toMatch(/^Acknowledge\/Resolve are disabled: the Alert API URL /);
    });

    it('accepts a direct API on another origin only when written literally in the option', () => {
      // on Grafana's own origin, only the data source proxy (the session cookie goes along)
      expect(
        checkApiUrl(
          `${GRAFANA}/api/datasources/proxy/uid/moby-api`,
          `${GRAFANA}/api/datasources/proxy/uid/moby-api`,
          GRAFANA
        )
      ).toEqual({ ok: true, api: { base: '/api/datasources/proxy/uid/moby-api', kind: 'proxy' } });
      expect(checkApiUrl('http://node-red:1880/moby', 'http://node-red:1880/moby', GRAFANA)).toEqual({
        ok: true,
        api: { base: 'http://node-red:1880/moby', kind: 'direct' },
      });
      expect(checkApiUrl('https://evil.example', 'https://evil.example', GRAFANA).ok).toBe(true);
      // the same value through a variable, or a literal with a variable part, is refused
      expect(checkApiUrl('$api_url', 'http://node-red:1880/moby', GRAFANA).ok).toBe(false);
      expect(checkApiUrl('[[api_url]]', 'http://node-red:1880/moby', GRAFANA).ok).toBe(false);
      expect(checkApiUrl('http://${host}/moby', 'http://node-red/moby', GRAFANA).ok).toBe(false);
      expect(checkApiUrl('$u', 'https://evil.example', GRAFANA).ok).toBe(false);
    });

    it.each([
      'http://user:pw@node-red/moby',
      'http://node-red/moby?x',
      'http://node-red/moby/../x',
      'http://node-red/%6doby',
      'ftp://node-red/moby',
      'http:/node-red/moby',
      'http:\\\\node-red/moby',
      `${GRAFANA}/api/user/using/2`,
      `${GRAFANA}/api/plugins/x/resources`,
    ])('refuses the literal %j', (url) => {
      expect(checkApiUrl(url, url, GRAFANA).ok).toBe(false);
    });

    it('says nothing for an empty option (actions simply hidden)', () => {
      expect(checkApiUrl('', '', GRAFANA)).toEqual({ ok: false, reason: '' });
      expect(checkApiUrl('$api_url', ' ', GRAFANA)).toEqual({ ok: false, reason: '' });
    });
  });

  it('names the acting user by login, then name, then email', () => {
    expect(currentUser()).toBe('grafana');
    mockUser.email = 'e@x';
    expect(currentUser()).toBe('e@x');
    mockUser.login = 'ana';
    expect(currentUser()).toBe('ana');
  });

  it('maps the returned Alert JSON to a row patch', () => {
    expect(
      patchFromApi(
        {
          alert_id: 'a1',
          status: 'resolved',
          acknowledged: true,
          acknowledged_by: 'a',
          resolved_by: 'b',
          resolve_note: 'fixed',
          updated_at: 1_700_000_000_000,
        },
        'a1'
      )
    ).toEqual({
      status: 'resolved',
      acknowledged: true,
      acknowledgedBy: 'a',
      resolvedBy: 'b',
      note: 'fixed',
      time: 1_700_000_000_000,
    });
    expect(patchFromApi('not json', 'a1')).toEqual({});
    expect(patchFromApi({ alert_id: 'a1', status: 'weird' }, 'a1')).toEqual({});
  });

  it('ignores an answer that is not the alert acted on', () => {
    const forged = { status: 'resolved', acknowledged: true };
    expect(patchFromApi(forged, 'a1')).toEqual({});
    expect(patchFromApi({ ...forged, alert_id: 'a2' }, 'a1')).toEqual({});
    expect(patchFromApi([{ ...forged, alert_id: 'a1' }], 'a1')).toEqual({});
    expect(patchFromApi({ ...forged, alert_id: 'a1' }, 'a1')).toEqual({ status: 'resolved', acknowledged: true });
  });

  it('posts {by, note} and returns the patch', async () => {
    mockUser.login = 'ana';
    mockFetch.mockReturnValue(of({ status: 200, data: { alert_id: 'x1', acknowledged: true, ack_note: 'n' } }));
    await expect(postAlertAction(api('http://api/moby'), 'x1', 'ack', 'n')).resolves.toEqual({
      acknowledged: true,
      note: 'n',
    });
    expect(mockFetch).toHaveBeenCalledWith(
      expect.objectContaining({ url: 'http://api/moby/alerts/x1/ack', method: 'POST', data: { by: 'ana', note: 'n' } })
    );
  });

  it.each([
    [
      { status: 404, data: { error: { code: 'not_found', message: 'no such alert' } } },
      'no such alert',
      404,
      'not_found',
    ],
    [{ status: 500, statusText: 'Internal Server Error', data: '' }, 'HTTP 500 Internal Server Error', 500, undefined],
    [{ status: 400, data: { message: 'bad body' } }, 'bad body', 400, undefined],
    [new Error('network down'), 'network down', undefined, undefined],
  ])('turns failures into readable errors (%#)', async (err, message, status, code) => {
    mockFetch.mockReturnValue(throwError(() => err));
    await expect(postAlertAction(api('http://api'), 'x', 'resolve', '')).rejects.toMatchObject({
      message,
      status,
      code,
    });
  });
});

describe('the provisioned dashboard', () => {
  const dashboard = JSON.parse(
    require('fs').readFileSync(require('path').join(__dirname, '../provisioning/dashboards/moby-operator.json'), 'utf8')
  );

  it('writes the alert API URL in the panel option, where no ?var- parameter can change it', () => {
    const panels = dashboard.panels.filter((p: any) => p.options && 'apiUrl' in p.options);
    expect(panels.length).toBeGreaterThan(0);
    for (const p of panels) {
      const url: string = p.options.apiUrl;
      expect(url).not.toMatch(/\$|\[\[/);
      expect(checkApiUrl(url, url, GRAFANA)).toEqual({ ok: true, api: { base: url, kind: 'proxy' } });
    }
    // no URL-settable variable carries an API URL
    const names = dashboard.templating.list.map((v: any) => v.name);
    expect(names).not.toContain('api_url');
  });
});
