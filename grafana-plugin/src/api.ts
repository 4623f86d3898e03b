// Alert API calls (POST {apiUrl}/alerts/:id/ack|resolve with {by, note}) through Grafana's backend service,
// so requests carry Grafana's session and go through its proxy when apiUrl is a datasource proxy path.
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
export function canAct(apiUrl: string): boolean {
  if (!apiUrl.trim()) {
    return false;
  }
  const role = config.bootData?.user?.orgRole;
  return role === 'Editor' || role === 'Admin' || Boolean(config.bootData?.user?.isGrafanaAdmin);
}

export function actionUrl(apiUrl: string, alertId: string, action: AlertAction): string {
  return `${apiUrl.replace(/\/+$/, '')}/alerts/${encodeURIComponent(alertId)}/${action}`;
}

/** Maps the API's Alert JSON back to a row patch, keeping what the response omits. */
export function patchFromApi(json: unknown): Partial<AlertRow> {
  if (!json || typeof json !== 'object') {
    return {};
  }
  const body = json as Record<string, unknown>;
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
  apiUrl: string,
  alertId: string,
  action: AlertAction,
  note: string
): Promise<Partial<AlertRow>> {
  try {
    const res = await lastValueFrom(
      getBackendSrv().fetch<unknown>({
        url: actionUrl(apiUrl, alertId, action),
        method: 'POST',
        data: { by: currentUser(), note },
        headers: { 'Content-Type': 'application/json' },
        // The panel shows the failure on the alert itself; no global toast.
        showErrorAlert: false,
        showSuccessAlert: false,
      })
    );
    return patchFromApi(res.data);
  } catch (err) {
    throw describe(err);
  }
}
