// Requests to services outside the plant (Slack, a webhook receiver, an LLM endpoint) through the proxy the
// environment names, the way Node-RED's own http request node and most command-line tools do.
//
// Why: a plant network usually reaches the internet only through a forward proxy. Node's built-in fetch
// ignores HTTP_PROXY/HTTPS_PROXY (before Node 24, and there only with NODE_USE_ENV_PROXY), so every Slack message
// and LLM summary failed with a connect error on such a network. undici's EnvHttpProxyAgent reads the usual
// variables — https_proxy, http_proxy, no_proxy, lower or upper case, lower case first — and tunnels with CONNECT;
// hosts named in no_proxy (exact names, `.suffix` domains, `*`, host:port) go direct. Without any of them set,
// requests go direct, exactly as before.
//
// The InfluxDB writer does not come here: it keeps its own client (core/influx/http-post.ts, a database on the
// plant network, cost per request measured) and connects directly. SMTP connects directly too (a relay inside
// the plant is the usual setup; nodemailer's own `proxy` option is not wired).
import { EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';

const PROXY_VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'] as const;

let cached: { key: string; dispatcher: Dispatcher | undefined } | undefined;

/** The proxy settings in `env` as one comparable string ('' when no proxy variable is set). */
function proxyKey(env: NodeJS.ProcessEnv): string {
  let key = '';
  for (const name of PROXY_VARS) if (env[name]) key += `${name}=${env[name]}\n`;
  return key;
}

/**
 * The dispatcher for the current proxy environment: undefined (direct, Node's default) when none is set, else one
 * EnvHttpProxyAgent, kept while the variables stay the same (a pool of kept-open connections to the proxy).
 */
export function proxyDispatcher(env: NodeJS.ProcessEnv = process.env): Dispatcher | undefined {
  const key = proxyKey(env);
  if (cached?.key === key) return cached.dispatcher;
  const old = cached?.dispatcher;
  const hasProxy = /^(https?_proxy)=/im.test(key);
  cached = { key, dispatcher: hasProxy ? new EnvHttpProxyAgent() : undefined };
  // the agent read the variables when it was made; the one before answers what it already has, then closes
  void old?.close().catch(() => undefined);
  return cached.dispatcher;
}

/** The proxy requests to `https:` and `http:` URLs go through ('' when none), for one line in the log. */
export function proxySummary(env: NodeJS.ProcessEnv = process.env): string {
  if (!proxyDispatcher(env)) return '';
  const https = env.https_proxy || env.HTTPS_PROXY;
  const http = env.http_proxy || env.HTTP_PROXY;
  const none = env.no_proxy || env.NO_PROXY;
  const shown = (u: string | undefined) => (u ? withoutPassword(u) : 'no proxy');
  return `https through ${shown(https)}, http through ${shown(http)}${none ? `, not for ${none}` : ''}`;
}

/** A proxy URL for a log line: its password replaced (proxies often take user:password in the URL). */
function withoutPassword(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(not a URL)';
  }
}

export interface OutboundInit {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** POST to a service outside the plant, through the environment's proxy when one is set. */
export async function outboundFetch(url: string, init: OutboundInit): Promise<Response> {
  const dispatcher = proxyDispatcher();
  if (!dispatcher) return fetch(url, init);
  // undici's own fetch with its own agent: the dispatcher of one undici copy is not promised to work with the
  // fetch of another (the one built into Node)
  return (await undiciFetch(url, { ...init, dispatcher })) as unknown as Response;
}

/**
 * Why a request failed, in one line: fetch says only "fetch failed" and puts the reason one or more causes down
 * (a refused connection, a certificate, "Proxy response (407) !== 200 when HTTP Tunneling" under "Request was
 * cancelled"), so the messages of the chain are joined, each once, at most four deep.
 */
export function failureText(err: unknown, timeoutMs: number): string {
  const parts: string[] = [];
  let e = err as { name?: string; message?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++, e = e.cause as typeof e) {
    if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
    const m = typeof e.message === 'string' ? e.message.trim() : '';
    if (m && !parts.includes(m)) parts.push(m);
  }
  return parts.join(': ') || String(err);
}
