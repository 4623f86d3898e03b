// Pipeline metrics shared by every node of the package, exposed in Prometheus text format on
// GET {prefix}/metrics (served by the InfluxDB writer's adapter). Nodes only count; gauges are pulled
// from providers at scrape time so nothing is computed on the hot path.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

// Counts live in plain numbers and are copied into the counters at scrape time: prom-client hashes the
// label object on every inc(), which would cost as much per message as a whole normalize call.
const counts = new Map<string, { in: number; out: number; rejected: number; evicted: number; codes: Map<string, number> }>();

function countsFor(nodeType: string) {
  let c = counts.get(nodeType);
  if (!c) {
    c = { in: 0, out: 0, rejected: 0, evicted: 0, codes: new Map() };
    counts.set(nodeType, c);
  }
  return c;
}

new Counter({
  name: 'moby_messages_total',
  help: 'Messages handled by MOBY nodes, by node type and outcome (in, out, rejected)',
  labelNames: ['node_type', 'outcome'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [nodeType, c] of counts) {
      this.inc({ node_type: nodeType, outcome: 'in' }, c.in);
      this.inc({ node_type: nodeType, outcome: 'out' }, c.out);
      this.inc({ node_type: nodeType, outcome: 'rejected' }, c.rejected);
    }
  },
});

new Counter({
  name: 'moby_rejects_total',
  help: 'Rejected messages by node type and reject code',
  labelNames: ['node_type', 'code'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [nodeType, c] of counts) for (const [code, n] of c.codes) this.inc({ node_type: nodeType, code }, n);
  },
});

// Notable outcomes that are neither a pass nor a reject of their own (e.g. a broker redelivery passed once
// by hmac-verify, a birth message ignored by device-health), counted the same cheap way.
const events = new Map<string, Map<string, number>>();

new Counter({
  name: 'moby_events_total',
  help: 'Notable message outcomes by node type and event (e.g. redelivered, online_status_ignored)',
  labelNames: ['node_type', 'event'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [nodeType, m] of events) for (const [event, n] of m) this.inc({ node_type: nodeType, event }, n);
  },
});

// Per-tenant message counts (docs/tenants.md): hmac-verify counts each tenant's verified messages, the
// InfluxDB writer each tenant's points. Only tenants appear; a pipeline without tenants adds no series.
const tenantCounts = new Map<string, Map<string, number>>();

new Counter({
  name: 'moby_tenant_messages_total',
  help: 'Messages (hmac-verify: verified messages; influx-write: points) per tenant and node type',
  labelNames: ['node_type', 'tenant'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [nodeType, m] of tenantCounts) for (const [tenant, n] of m) this.inc({ node_type: nodeType, tenant }, n);
  },
});

export function countTenant(nodeType: string, tenant: string, n = 1): void {
  let m = tenantCounts.get(nodeType);
  if (!m) {
    m = new Map();
    tenantCounts.set(nodeType, m);
  }
  m.set(tenant, (m.get(tenant) ?? 0) + n);
}

// Per-tenant rejects (docs/tenants.md, "Fair share of rate"): which tenant lost messages and why, e.g.
// code tenant_rate for messages over the tenant's rate bound. Only verified tenants appear.
const tenantRejects = new Map<string, Map<string, number>>();

new Counter({
  name: 'moby_tenant_rejects_total',
  help: 'Messages of a verified tenant rejected, by node type, tenant and reject code (e.g. tenant_rate)',
  labelNames: ['node_type', 'tenant', 'code'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [key, m] of tenantRejects) {
      const [nodeType, tenant] = key.split('\u0000');
      for (const [code, n] of m) this.inc({ node_type: nodeType, tenant, code }, n);
    }
  },
});

export function countTenantRejected(nodeType: string, tenant: string, code: string): void {
  const key = `${nodeType}\u0000${tenant}`;
  let m = tenantRejects.get(key);
  if (!m) {
    m = new Map();
    tenantRejects.set(key, m);
  }
  m.set(code, (m.get(code) ?? 0) + 1);
}

export function countEvent(nodeType: string, event: string, n = 1): void {
  let m = events.get(nodeType);
  if (!m) {
    m = new Map();
    events.set(nodeType, m);
  }
  m.set(event, (m.get(event) ?? 0) + n);
}

new Counter({
  name: 'moby_evictions_total',
  help: 'Per-device states dropped by MOBY nodes to stay within their device bound (least recently active first)',
  labelNames: ['node_type'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [nodeType, c] of counts) if (c.evicted) this.inc({ node_type: nodeType }, c.evicted);
  },
});

export const writeLatency = new Histogram({
  name: 'moby_influx_write_seconds',
  help: 'Latency of InfluxDB batch writes',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export function countIn(nodeType: string, n = 1): void {
  countsFor(nodeType).in += n;
}

export function countOut(nodeType: string, n = 1): void {
  countsFor(nodeType).out += n;
}

export function countRejected(nodeType: string, code: string): void {
  const c = countsFor(nodeType);
  c.rejected++;
  c.codes.set(code, (c.codes.get(code) ?? 0) + 1);
}

/** A node dropped `n` per-device states to stay within its bound (see moby_evictions_total). */
export function countEvicted(nodeType: string, n = 1): void {
  if (n > 0) countsFor(nodeType).evicted += n;
}

type Sample = { labels: Record<string, string>; value: number };
type Provider = () => Sample[];

const gauges = new Map<string, { providers: Set<Provider> }>();

/**
 * Registers a provider for a labelled gauge (e.g. moby_devices{state}). Several node instances may provide
 * the same gauge; their samples with equal labels are summed. Returns a function that unregisters it
 * (call it from the node's close handler).
 */
export function provideGauge(name: string, help: string, labelNames: string[], provider: Provider): () => void {
  let entry = gauges.get(name);
  if (!entry) {
    const providers = new Set<Provider>();
    entry = { providers };
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const sums = new Map<string, Sample>();
        for (const p of providers) {
          for (const s of p()) {
            const key = JSON.stringify(s.labels);
            const prev = sums.get(key);
            if (prev) prev.value += s.value;
            else sums.set(key, { labels: { ...s.labels }, value: s.value });
          }
        }
        for (const s of sums.values()) this.set(s.labels, s.value);
      },
    });
    gauges.set(name, entry);
  }
  entry.providers.add(provider);
  const providers = entry.providers;
  return () => {
    providers.delete(provider);
  };
}

export async function metricsText(): Promise<string> {
  return registry.metrics();
}

export const metricsContentType = registry.contentType;
