// GET /moby/metrics (under httpNodeRoot) in Prometheus text format. Several MOBY node modules or node
// instances may try to add it; a router gets it once.
import type { HttpRouter } from '../lib/red';
import { metricsContentType, metricsText } from '../lib/metrics';

export const METRICS_PATH = '/moby/metrics';
const registered = new WeakSet<object>();

/** Adds the route unless this router already has it (by us or by anyone serving the same path). */
export function registerMetricsRoute(router: HttpRouter): boolean {
  if (registered.has(router)) return false;
  const stack = router._router?.stack ?? [];
  if (stack.some((layer) => layer.route?.path === METRICS_PATH)) {
    registered.add(router);
    return false;
  }
  registered.add(router);
  router.get(METRICS_PATH, (_req, res) => {
    metricsText().then(
      (text) => {
        res.set('Content-Type', metricsContentType);
        res.send(text);
      },
      (err: unknown) => res.status(500).send(String(err)),
    );
  });
  return true;
}
