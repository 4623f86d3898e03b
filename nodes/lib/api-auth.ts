// Process-wide state of the /moby HTTP routes' authentication: the API tokens of the deployed moby-alert
// nodes (so GET /moby/metrics, served by lib/routes.ts, accepts the same bearer token as the alert
// API) and one failed-auth limiter for all routes. Tokens are kept only in memory, as Node-RED hands them
// to the nodes from their credentials.
import { FailureLimiter } from '../core/http-guard';

const tokens = new Map<string, { token?: string; open: boolean }>();

/** Registers the token of an API host (a moby-alert node id); returns the unregister function. */
export function registerApiToken(id: string, token: string | undefined, open = false): () => void {
  const entry = { token: token || undefined, open };
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

/** True when a deployer explicitly opened an alert API without a token (then /moby/metrics is open too). */
export function apiOpen(): boolean {
  return [...tokens.values()].some((e) => e.open);
}

export const apiLimiter = new FailureLimiter({ max: 20, windowMs: 60000 });
