// Alert API calls (POST {apiUrl}/alerts/:id/ack|resolve with {by, note}) through Grafana's backend service,
// so requests carry Grafana's session and go through its proxy when apiUrl is a datasource proxy path.
//
// The base URL is checked before anything is sent (checkApiUrl): a dashboard variable can be set from the page
// URL (`?var-x=`), so a URL built from one could otherwise send the operator's session and login anywhere.
import { config, getBackendSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import { AlertRow } from './types';
import { toBool, toMs } from './data/frames';

export type AlertAction = 'ack' | 'resolve';

export class AlertApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string
  ) {
    super(message);
    this.name = 'AlertApiError';
  }
}

/** The API's error body is {error: {code, message}}; fall back to HTTP status text or the thrown message. */
type FetchFailure = {
  data?: { error?: { code?: string; message?: string }; message?: unknown };
  status?: number;
  statusText?: string;
  message?: string;
};

function describe(thrown: unknown): AlertApiError {
  const err = thrown as FetchFailure | undefined;
  const body = err?.data;
  const apiErr = body && typeof body === 'object' ? body.error : undefined;
  const message =
    (apiErr && typeof apiErr === 'object' && apiErr.message) ||
    (typeof body?.message === 'string' && body.message) ||
    (err?.status ? `HTTP ${err.status}${err.statusText ? ` ${err.statusText}` : ''}` : '') ||
    err?.message ||
    'request failed';
  return new AlertApiError(String(message), err?.status, apiErr?.code);
}

export function currentUser(): string {
  const u = config.bootData?.user;
  return u?.login || u?.name || u?.email || 'grafana';
}

/** Viewers watch; editors and admins act. Unknown roles (anonymous setups) are treated as viewers. */
export function roleCanAct(): boolean {
  const role = config.bootData?.user?.orgRole;
  return role === 'Editor' || role === 'Admin' || Boolean(config.bootData?.user?.isGrafanaAdmin);
}

/** A base URL that passed checkApiUrl; the only thing postAlertAction and actionUrl accept. */
export interface AlertApi {
  readonly base: string;
  readonly kind: 'proxy' | 'direct';
}

export type ApiCheck = { ok: true; api: AlertApi } | { ok: false; reason: string };

/**
 * The data source proxy path of Grafana (`/api/datasources/proxy/uid/<uid>` or `/api/datasources/proxy/<id>`),
 * optionally followed by plain path segments. A segment is letters, digits, `_`, `-`, `~` and inner dots (so
 * no `.` or `..` segment); `%`, `?`, `#`, `\`, `//`, `@` and anything else make it fail.
 */
const SEGMENT = '[A-Za-z0-9_~-]+(?:\\.[A-Za-z0-9_~-]+)*';
const PROXY_PATH = new RegExp(
  `^/api/datasources/proxy/(?:uid/[A-Za-z0-9_-]{1,40}|[1-9][0-9]{0,18})((?:/${SEGMENT})*)/?$`
);
const PATH = new RegExp(`^(?:/${SEGMENT})*/?$`);

/** Grafana's variable syntaxes: $var, ${var...}, [[var]]. */
const VARIABLE = /\$|\[\[/;

function ownOrigin(): string | undefined {
  return typeof window !== 'undefined' && window.location ? window.location.origin : undefined;
}

/**
 * Where acknowledge/resolve may go. `raw` is the panel option as saved, `resolved` the same after
 * replaceVariables. Allowed:
 * - a same-origin path under Grafana's data source proxy (the documented setup: the data source adds the API
 *   token), whether written in the option or coming from a variable — it can only reach a data source the
 *   user may already use, and only `<data source>/…/alerts/<id>/ack|resolve` on it;
 * - an absolute http(s) URL on another origin (a direct MOBY API with MOBY_CORS_ORIGINS), only when written
 *   literally in the panel option (no variable: only an editor of the dashboard chose it). Grafana's session
 *   cookie is not sent cross-origin.
 * Everything else is refused with the reason, which the panel shows instead of the actions. An empty option
 * is "no actions" with an empty reason (nothing to say).
 */
export function checkApiUrl(raw: string, resolved: string, origin: string | undefined = ownOrigin()): ApiCheck {
  const value = resolved.trim();
  if (!value) {
    return { ok: false, reason: '' };
  }
  const fromVariable = VARIABLE.test(raw) || value !== raw.trim();
  const refuse = (why: string): ApiCheck => ({
    ok: false,
    reason: `Acknowledge/Resolve are disabled: the Alert API URL ${why}.`,
  });
  // ASCII printable only: no control characters, spaces or look-alikes that a URL parser would rewrite
  if (!/^[\x21-\x7e]+$/.test(value) || /[%?#\\@]/.test(value)) {
    return refuse(
      'may not contain a query (?), fragment (#), backslash, @, percent-encoding, spaces or control characters'
    );
  }
  if (value.startsWith('/')) {
    return PROXY_PATH.test(value)
      ? { ok: true, api: { base: value.replace(/\/$/, ''), kind: 'proxy' } }
      : refuse('must be a Grafana data source proxy path such as /api/datasources/proxy/uid/moby-api');
  }
  if (fromVariable) {
    return refuse(
      'comes from a dashboard variable, which may only hold a data source proxy path (/api/datasources/proxy/uid/…)'
    );
  }
  const m = /^(https?):\/\/([A-Za-z0-9.-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?)(\/.*)?$/.exec(value);
  if (!m || !PATH.test(m[3] ?? '')) {
    return refuse(
      'must be a data source proxy path (/api/datasources/proxy/uid/…) or an http(s) URL with a plain path'
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse('is not a valid URL');
  }
  if (origin && url.origin === origin) {
    // on Grafana's own origin the session cookie goes along: only the data source proxy
    return PROXY_PATH.test(url.pathname)
      ? { ok: true, api: { base: url.pathname.replace(/\/$/, ''), kind: 'proxy' } }
      : refuse('points at Grafana itself outside the data source proxy (/api/datasources/proxy/uid/…)');
  }
  return { ok: true, api: { base: value.replace(/\/$/, ''), kind: 'direct' } };
}

/** Actions are offered to editors and admins, and only with a checked API URL. */
export function canAct(check: ApiCheck): boolean {
  return check.ok && roleCanAct();
}

export function actionUrl(api: AlertApi, alertId: string, action: AlertAction): string {
  // an id of "." or ".." would be a dot segment: the browser would resolve it to another path
  if (!alertId || alertId === '.' || alertId === '..') {
    throw new AlertApiError(`invalid alert id "${alertId}"`);
  }
  return `${api.base}/alerts/${encodeURIComponent(alertId)}/${action}`;
}

/**
 * Maps the API's Alert JSON back to a row patch, keeping what the response omits. The answer must be the alert
 * that was acted on (its `alert_id` equal to `alertId`); anything else is ignored (empty patch), so a wrong or
 * forged answer cannot change another alert or hide this one.
 */
export function patchFromApi(json: unknown, alertId: string): Partial<AlertRow> {
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    return {};
  }
  const body = json as Record<string, unknown>;
  if (body.alert_id !== alertId) {
    return {};
  }
  const patch: Partial<AlertRow> = {};
  if (body.status === 'open' || body.status === 'resolved') {
    patch.status = body.status;
  }
  if (body.acknowledged !== undefined) {
    patch.acknowledged = toBool(body.acknowledged);
  }
  if (typeof body.acknowledged_by === 'string') {
    patch.acknowledgedBy = body.acknowledged_by;
  }
  if (typeof body.resolved_by === 'string') {
    patch.resolvedBy = body.resolved_by;
  }
  const note = body.resolve_note ?? body.ack_note;
  if (typeof note === 'string') {
    patch.note = note;
  }
  if (typeof body.tenant === 'string' && body.tenant) {
    patch.tenant = body.tenant;
  }
  const t = toMs(body.updated_at);
  if (t !== undefined) {
    patch.time = t;
  }
  return patch;
}

export async function postAlertAction(
  api: AlertApi,
  alertId: string,
  action: AlertAction,
  note: string
): Promise<Partial<AlertRow>> {
  const url = actionUrl(api, alertId, action);
  try {
    const res = await lastValueFrom(
      getBackendSrv().fetch<unknown>({
        url,
        method: 'POST',
        data: { by: currentUser(), note },
        headers: { 'Content-Type': 'application/json' },
        // The panel shows the failure on the alert itself; no global toast.
        showErrorAlert: false,
        showSuccessAlert: false,
      })
    );
    return patchFromApi(res.data, alertId);
  } catch (err) {
    throw describe(err);
  }
}
