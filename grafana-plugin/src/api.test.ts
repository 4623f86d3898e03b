import { of, throwError } from 'rxjs';
import { actionUrl, canAct, currentUser, patchFromApi, postAlertAction } from './api';

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

beforeEach(() => {
  mockFetch.mockReset();
  for (const k of Object.keys(mockUser)) {
    delete mockUser[k];
  }
});

describe('alert API client', () => {
  it('builds action URLs with the id encoded and no doubled slash', () => {
    expect(actionUrl('http://h:1880/moby/', 'a/b c', 'ack')).toBe('http://h:1880/moby/alerts/a%2Fb%20c/ack');
    expect(actionUrl('/api/datasources/proxy/uid/x', 'id1', 'resolve')).toBe(
      '/api/datasources/proxy/uid/x/alerts/id1/resolve'
    );
  });

  it('lets editors and admins act, not viewers, anonymous users or an empty URL', () => {
    mockUser.orgRole = 'Editor';
    expect(canAct('http://api')).toBe(true);
    expect(canAct('  ')).toBe(false);
    mockUser.orgRole = 'Admin';
    expect(canAct('http://api')).toBe(true);
    mockUser.orgRole = 'Viewer';
    expect(canAct('http://api')).toBe(false);
    mockUser.isGrafanaAdmin = true;
    expect(canAct('http://api')).toBe(true);
    delete mockUser.orgRole;
    delete mockUser.isGrafanaAdmin;
    expect(canAct('http://api')).toBe(false);
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
      patchFromApi({
        status: 'resolved',
        acknowledged: true,
        acknowledged_by: 'a',
        resolved_by: 'b',
        resolve_note: 'fixed',
        updated_at: 1_700_000_000_000,
      })
    ).toEqual({
      status: 'resolved',
      acknowledged: true,
      acknowledgedBy: 'a',
      resolvedBy: 'b',
      note: 'fixed',
      time: 1_700_000_000_000,
    });
    expect(patchFromApi('not json')).toEqual({});
    expect(patchFromApi({ status: 'weird' })).toEqual({});
  });

  it('posts {by, note} and returns the patch', async () => {
    mockUser.login = 'ana';
    mockFetch.mockReturnValue(of({ status: 200, data: { acknowledged: true, ack_note: 'n' } }));
    await expect(postAlertAction('http://api/moby', 'x1', 'ack', 'n')).resolves.toEqual({
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
    await expect(postAlertAction('http://api', 'x', 'resolve', '')).rejects.toMatchObject({ message, status, code });
  });
});
