// Process-wide state of the /moby HTTP routes' authentication: the API tokens of the deployed moby-alert
// nodes (so GET /moby/metrics, served by lib/routes.ts, accepts the same bearer token as the alert
// API) and one failed-auth limiter for all routes. Tokens are kept only in memory, as Node-RED hands them
// to the nodes from their credentials.
import { FailureLimiter } from '../core/http-guard';

const tokens = new Map<string, { token?: string; open: boolean; tenantTokens: string[] }>();

/**
 * Registers the token of an API host (a moby-alert node id) and its tenant tokens (which /moby/metrics does not
 * take, but knows, so using one there is refused without counting as a guess); returns the unregister function.
 */
export function registerApiToken(
  id: string,
  token: string | undefined,
  open = false,
  tenantTokens: string[] = []
): () => void {
  const entry = { token: token || undefined, open, tenantTokens };
  tokens.set(id, entry);
  return () => {
    if (tokens.get(id) === entry) tokens.delete(id);
  };
}

/** Every token a /moby route accepts: the alert nodes' tokens and `settings.mobyApiToken` (npm start). */
export function apiTokens(settingsToken?: unknown): string[] {
  const out = [...tokens.values()].map((e) => e.token).filter((t): t is string => !!t);
  if (typeof settingsToken === 'string' && settingsToken) out.push(settingsToken);
  return out;
}

/** The tenant tokens of the deployed alert nodes: valid for their alert API, not for /moby/metrics. */
export function apiTenantTokens(): string[] {
  return [...tokens.values()].flatMap((e) => e.tenantTokens);
}

/** True when a deployer explicitly opened an alert API without a token (then /moby/metrics is open too). */
export function apiOpen(): boolean {
  return [...tokens.values()].some((e) => e.open);
}

/** Where the limiter's locks are logged (the runtime's log, set by mountMobyRoutes); none before that. */
let lockLog: ((line: string) => void) | null = null;
export function setApiLockLog(log: ((line: string) => void) | null): void {
  lockLog = log;
}

export const apiLimiter = new FailureLimiter({
  max: 20,
  windowMs: 60000,
  onLock: (client, seconds) =>
    lockLog?.(
      `moby API: ${client || 'a client'} sent 20 wrong bearer tokens within a minute and is refused (429) for ${seconds} s; a token proven from that address before still works there (among the first 20 tried during the lock)`
    ),
});
