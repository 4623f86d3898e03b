// The one place that mounts the package's HTTP routes under httpNodeRoot (`/moby/*` by default):
// GET /moby/metrics (Prometheus text) once per router, whichever MOBY node module loads first, and the alert
// API of each moby-alert node under its prefix. Every route takes the same bearer tokens (lib/api-auth.ts),
// the same limiter and answers errors as JSON, never Express's HTML page.
import {
  apiError,
  awaitDurable,
  handleAlertApi,
  MAX_BODY_BYTES,
  type ApiHost,
  type ApiRequest,
  type ApiResponse,
} from '../core/alert/api';
import { authorize, carriesBody } from '../core/http-guard';
import { apiLimiter, apiOpen, apiTenantTokens, apiTokens, setApiLockLog } from './api-auth';
import { listDevicesForApi } from './device-directory';
import { metricsContentType, metricsText } from './metrics';
import type { HttpRouter, NodeAPI } from './red';

export const METRICS_PATH = '/moby/metrics';
const withMetrics = new WeakSet<object>();

/**
 * Mounts the package-wide routes (today GET /moby/metrics) on the runtime's httpNode, once per router.
 * Every MOBY node module calls it when it registers its types, so metrics are served whichever of them a
 * Node-RED installs or loads first. The token of a Node-RED without alert nodes is `mobyApiToken` in
 * settings.js, read per request.
 */
export function mountMobyRoutes(RED: Pick<NodeAPI, 'httpNode' | 'settings'> & Partial<Pick<NodeAPI, 'log'>>): void {
  const log = RED.log;
  if (log) setApiLockLog((line) => log.warn(line));
  if (RED.httpNode) mountMetricsRoute(RED.httpNode, () => RED.settings?.mobyApiToken);
}

/**
 * GET /moby/metrics in Prometheus text format, with the alert API's bearer token (Prometheus:
 * `authorization: {type: Bearer, credentials: …}`). Added unless this router already has it (by us or by
 * anyone serving the same path); returns whether it was added.
 */
export function mountMetricsRoute(router: HttpRouter, settingsToken: () => unknown = () => undefined): boolean {
  if (withMetrics.has(router)) return false;
  withMetrics.add(router);
  const stack = router._router?.stack ?? [];
  if (stack.some((layer) => layer.route?.path === METRICS_PATH)) return false;
  router.get(METRICS_PATH, (req, res) => {
    const remote = (req as unknown as { socket?: { remoteAddress?: string } }).socket?.remoteAddress;
    const auth = authorize(req.headers, apiTokens(settingsToken()), {
      open: apiOpen(),
      client: remote,
      limiter: apiLimiter,
      otherTokens: apiTenantTokens(),
    });
    res.set('Cache-Control', 'no-store');
    if (carriesBody(req.headers)) res.set('Connection', 'close'); // a GET's body is not read
    if (!auth.ok) {
      for (const [k, v] of Object.entries(auth.headers)) res.set(k, v);
      res.status(auth.status).json({ error: { code: auth.code, message: auth.message } });
      return;
    }
    metricsText().then(
      (text) => {
        res.set('Content-Type', metricsContentType);
        res.send(text);
      },
      () => res.status(500).json({ error: { code: 'internal_error', message: 'metrics unavailable' } })
    );
  });
  return true;
}

/** Express's request as far as the API reads it: the core's request fields, the stream and the socket. */
type RawRequest = NodeJS.ReadableStream &
  Pick<ApiRequest, 'method' | 'path' | 'query' | 'headers' | 'body'> & {
    /** set by a body parser in httpNodeMiddleware that has consumed the stream */
    _body?: boolean;
    socket?: { remoteAddress?: string };
  };
type RawResponse = {
  status(code: number): RawResponse;
  set(name: string, value: string): RawResponse;
  json(body: unknown): void;
  end(): void;
  headersSent?: boolean;
};

const mounted = new WeakMap<object, Map<string, Set<ApiHost>>>();

function readBody(req: RawRequest): Promise<{ text: string } | { tooLarge: true }> {
  // a body parser installed in httpNodeMiddleware may have consumed the stream already
  if (
    req._body ||
    (req.body !== undefined && typeof req.body === 'object' && req.body !== null && Object.keys(req.body).length)
  ) {
    return Promise.resolve({ text: JSON.stringify(req.body) });
  }
  // A body over the cap is answered at once (413 or 401, with Connection: close) instead of after its end: the
  // whole body used to be read and dropped first, so a client without a token that announced 10 GB kept the
  // connection and the server reading until it stopped sending (red-team round 2, 2026-12-03).
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) return Promise.resolve({ tooLarge: true });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) resolve({ tooLarge: true });
      else chunks.push(c);
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', () => resolve({ text: '' }));
  });
}

/**
 * Serves the alert API of `host` (an alert node) under `prefix`. The route is mounted once per (router,
 * prefix) and answers from the hosts live at request time, so a redeploy never stacks a second handler and
 * a closed node stops answering at once (the returned function removes the host).
 */
export function mountAlertApi(router: HttpRouter, prefix: string, host: ApiHost): () => void {
  let prefixes = mounted.get(router);
  if (!prefixes) {
    prefixes = new Map();
    mounted.set(router, prefixes);
  }
  let hosts = prefixes.get(prefix);
  if (!hosts) {
    const live = new Set<ApiHost>();
    hosts = live;
    prefixes.set(prefix, live);
    const send = (res: RawResponse, out: ApiResponse) => {
      for (const [k, v] of Object.entries(out.headers)) res.set(k, v);
      res.status(out.status);
      if (out.body === undefined) res.end();
      else res.json(out.body);
    };
    router.use(prefix, (req: RawRequest, res: RawResponse, next: (err?: unknown) => void) => {
      if (live.size === 0) return next();
      void (async () => {
        const body = req.method === 'POST' ? await readBody(req) : { text: '' };
        const request = {
          method: req.method,
          path: req.path,
          query: req.query ?? {},
          headers: req.headers,
          remote: req.socket?.remoteAddress,
        };
        // the device table is built off the request path in slices (only for a GET /devices that will be
        // answered, so unauthenticated calls cannot make the server build it)
        const hosts = [...live];
        const tokens = hosts
          .flatMap((h) => [h.token, ...(h.tenantTokens ?? []).map((t) => t.token)])
          .filter((t): t is string => !!t);
        const wantsDevices =
          req.method === 'GET' &&
          /^\/devices\/?$/.test(req.path) &&
          authorize(req.headers, tokens, { open: hosts.some((h) => h.open) }).ok;
        const devices = wantsDevices ? await listDevicesForApi() : [];
        const out = handleAlertApi(
          hosts,
          'tooLarge' in body ? { ...request, bodyTooLarge: true } : { ...request, body: body.text },
          { devices: () => devices, limiter: apiLimiter }
        );
        // the rest of an oversized body is not read, nor any body of another method: the connection closes
        // after the answer
        if ('tooLarge' in body || (req.method !== 'POST' && carriesBody(req.headers))) res.set('Connection', 'close');
        if (out) return send(res, await awaitDurable(hosts, req.method, out));
        // Below its own prefix the API answers unknown paths itself (JSON, never Express's HTML page);
        // /metrics belongs to the metrics route above, and a root prefix must not shadow other routes.
        if (prefix === '/' || /^\/metrics\/?$/.test(req.path)) return next();
        send(res, apiError(404, 'not_found', 'no such route'));
      })().catch(() => {
        // never Express's HTML error page with a stack trace and server paths
        if (!res.headersSent) send(res, apiError(500, 'internal_error', 'internal error'));
      });
    });
  }
  const set = hosts;
  set.add(host);
  return () => {
    set.delete(host);
  };
}
