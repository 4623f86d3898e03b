// Pipeline metrics shared by every node of the package, exposed in Prometheus text format on
// GET {prefix}/metrics (mounted by lib/routes.ts). Nodes only count; gauges are pulled
// from providers at scrape time so nothing is computed on the hot path.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const metricsRegistry = new Registry();

// Counts live in plain numbers and are copied into the counters at scrape time: prom-client hashes the
// label object on every inc(), which would cost as much per message as a whole normalize call.
const counts = new Map<string, { in: number; out: number; rejected: number; evicted: number }>();

function countsFor(nodeType: string) {
  let c = counts.get(nodeType);
  if (!c) {
    c = { in: 0, out: 0, rejected: 0, evicted: 0 };
    counts.set(nodeType, c);
  }
  return c;
}

new Counter({
  name: 'moby_messages_total',
  help: 'Messages handled by MOBY nodes, by node type and outcome (in, out, rejected)',
  labelNames: ['node_type', 'outcome'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const [nodeType, c] of counts) {
      this.inc({ node_type: nodeType, outcome: 'in' }, c.in);
      this.inc({ node_type: nodeType, outcome: 'out' }, c.out);
      this.inc({ node_type: nodeType, outcome: 'rejected' }, c.rejected);
    }
  },
});

/**
 * Registers `name`, a counter with labels beside node_type, and returns the function that counts it. The
 * counts are plain numbers (node type → label values → count) copied into the counter at scrape time. With
 * more than one label the counting function takes the values joined by U+0000 (none of the labels counted
 * here — codes, events, tenant names — can contain it), split again only at scrape time.
 */
function labelledCounter(
  name: string,
  help: string,
  ...labels: [string, ...string[]]
): (nodeType: string, value: string, n?: number) => void {
  const table = new Map<string, Map<string, number>>();
  new Counter({
    name,
    help,
    labelNames: ['node_type', ...labels],
    registers: [metricsRegistry],
    collect() {
      this.reset();
      for (const [nodeType, m] of table)
        for (const [value, n] of m) {
          const values = labels.length === 1 ? [value] : value.split('\u0000');
          const set: Record<string, string> = { node_type: nodeType };
          labels.forEach((l, i) => (set[l] = values[i] ?? ''));
          this.inc(set, n);
        }
    },
  });
  return (nodeType, value, n = 1) => {
    let m = table.get(nodeType);
    if (!m) {
      m = new Map();
      table.set(nodeType, m);
    }
    m.set(value, (m.get(value) ?? 0) + n);
  };
}

const countRejectCode = labelledCounter('moby_rejects_total', 'Rejected messages by node type and reject code', 'code');

// Notable outcomes that are neither a pass nor a reject of their own (e.g. a broker redelivery passed once
// by hmac-verify, a birth message ignored by device-health), counted the same cheap way.
export const countEvent: (nodeType: string, event: string, n?: number) => void = labelledCounter(
  'moby_events_total',
  'Notable message outcomes by node type and event (e.g. redelivered, online_status_ignored)',
  'event'
);

// Per-tenant message counts (docs/tenants.md): hmac-verify counts each tenant's verified messages, the
// InfluxDB writer each tenant's points. Only tenants appear; a pipeline without tenants adds no series.
export const countTenant: (nodeType: string, tenant: string, n?: number) => void = labelledCounter(
  'moby_tenant_messages_total',
  'Messages (hmac-verify: verified messages; influx-write: points) per tenant and node type',
  'tenant'
);

// Per-tenant rejects (docs/tenants.md, "Fair share of rate"): which tenant lost messages and why, e.g.
// code tenant_rate for messages over the tenant's rate bound. Only verified tenants appear.
const countTenantRejectCode = labelledCounter(
  'moby_tenant_rejects_total',
  'Messages of a verified tenant rejected, by node type, tenant and reject code (e.g. tenant_rate)',
  'tenant',
  'code'
);

export function countTenantRejected(nodeType: string, tenant: string, code: string): void {
  countTenantRejectCode(nodeType, `${tenant}\u0000${code}`);
}

new Counter({
  name: 'moby_evictions_total',
  help: 'Per-device states dropped by MOBY nodes to stay within their device bound (least recently active first)',
  labelNames: ['node_type'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const [nodeType, c] of counts) if (c.evicted) this.inc({ node_type: nodeType }, c.evicted);
  },
});

// `npm start`'s embedded broker runs in scripts/start.js, outside the Node-RED process: what it refuses or drops
// (queue_full: a device's live message dropped because the pipeline fell behind, connection_evicted, …) was in
// start.js's log only, so /moby/metrics missed drops between the devices and the pipeline (63,414 warm-up
// messages at 500 simulated devices, red-team round 2026-12-06). start.js sends its totals over the IPC channel
// every few seconds; scripts/node-red.js hands them to setBrokerRefusals.
const brokerRefusals = new Map<string, number>();
new Counter({
  name: 'moby_broker_refusals_total',
  help: "Refusals and drops of npm start's embedded MQTT broker by kind (queue_full: a device's message dropped while the pipeline fell behind); reported by scripts/start.js",
  labelNames: ['kind'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset();
    for (const [kind, n] of brokerRefusals) this.inc({ kind }, n);
  },
});

/**
 * Takes the embedded broker's refusal totals since it started (kind → count). Malformed entries are ignored, and
 * a total never goes down (a counter): Node-RED restarted under the same broker gets the broker's totals again.
 */
export function setBrokerRefusals(totals: unknown): void {
  if (!totals || typeof totals !== 'object') return;
  for (const [kind, n] of Object.entries(totals as Record<string, unknown>)) {
    if (!/^[a-z0-9_]{1,40}$/.test(kind) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) continue;
    if (n > (brokerRefusals.get(kind) ?? 0) || !brokerRefusals.has(kind)) brokerRefusals.set(kind, n);
  }
}

export const writeLatency = new Histogram({
  name: 'moby_influx_write_seconds',
  help: 'Latency of InfluxDB batch writes',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export function countIn(nodeType: string, n = 1): void {
  countsFor(nodeType).in += n;
}

export function countOut(nodeType: string, n = 1): void {
  countsFor(nodeType).out += n;
}

export function countRejected(nodeType: string, code: string): void {
  countsFor(nodeType).rejected++;
  countRejectCode(nodeType, code);
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
      registers: [metricsRegistry],
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
  return metricsRegistry.metrics();
}

export const metricsContentType = metricsRegistry.contentType;
