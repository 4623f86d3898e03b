// Stand-in for @grafana/runtime in the browser harness: the two things the panel uses, backed by window.fetch,
// with the response and error shapes of Grafana's BackendSrv (FetchResponse / FetchError).
import { Observable } from 'rxjs';

export const config = {
  bootData: { user: { login: 'operator', name: 'Operator', orgRole: 'Editor', isGrafanaAdmin: false } },
};

interface Req {
  url: string;
  method?: string;
  data?: unknown;
  headers?: Record<string, string>;
}

export function getBackendSrv() {
  return {
    fetch<T>(req: Req) {
      return new Observable<{ status: number; statusText: string; ok: boolean; data: T }>((sub) => {
        window
          .fetch(req.url, {
            method: req.method ?? 'GET',
            headers: { 'Content-Type': 'application/json', ...req.headers },
            body: req.data === undefined ? undefined : JSON.stringify(req.data),
          })
          .then(async (res) => {
            const text = await res.text();
            let data: any = text;
            try {
              data = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text, as BackendSrv does
            }
            if (res.ok) {
              sub.next({ status: res.status, statusText: res.statusText, ok: true, data });
              sub.complete();
            } else {
              sub.error({ status: res.status, statusText: res.statusText, data });
            }
          })
          .catch((err) => sub.error({ status: 0, statusText: String(err), data: undefined, message: String(err) }));
      });
    },
  };
}
