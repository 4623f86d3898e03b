// GET /moby/metrics (under httpNodeRoot) in Prometheus text format. Several MOBY node modules or node
// instances may try to add it; a router gets it once. It takes the same bearer token as the alert API
// (Prometheus: `authorization: {type: Bearer, credentials: …}`), so scraping needs the token too.
import type { HttpRouter } from '../lib/red';
import { metricsContentType, metricsText } from '../lib/metrics';
import { authorize } from '../core/http-guard';
import { apiLimiter, apiOpen, apiTokens } from '../lib/api-auth';

export const METRICS_PATH = '/moby/metrics';
const registered = new WeakSet<object>();

/**
 * Adds the route unless this router already has it (by us or by anyone serving the same path).
 * `settingsToken` is `RED.settings.mobyApiToken`, read per request (for a Node-RED without alert nodes).
 */
export function registerMetricsRoute(router: HttpRouter, settingsToken: () => unknown = () => undefined): boolean {
  if (registered.has(router)) return false;
  const stack = router._router?.stack ?? [];
  if (stack.some((layer) => layer.route?.path === METRICS_PATH)) {
    registered.add(router);
    return false;
  }
  registered.add(router);
  router.get(METRICS_PATH, (req, res) => {
    const remote = (req as unknown as { socket?: { remoteAddress?: string } }).socket?.remoteAddress;
    const auth = authorize(req.headers, apiTokens(settingsToken()), { open: apiOpen(), client: remote, limiter: apiLimiter });
    res.set('Cache-Control', 'no-store');
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
      () => res.status(500).json({ error: { code: 'internal_error', message: 'metrics unavailable' } }),
    );
  });
  return true;
}
