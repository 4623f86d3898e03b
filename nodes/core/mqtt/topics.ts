// Broker URL lists and MQTT topic filters, for the at-least-once MQTT source (nodes/mqtt).

export interface BrokerServer {
  host: string;
  port: number;
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
}

/** Parses "mqtt://a:1883, mqtts://b:8883" (comma, space or newline separated) into mqtt.js servers. */
export function parseBrokerUrls(text: string): BrokerServer[] {
  const out: BrokerServer[] = [];
  for (const raw of text.split(/[\s,]+/).filter(Boolean)) {
    const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `mqtt://${raw}`;
    const u = new URL(withScheme);
    const protocol = u.protocol.replace(/:$/, '') as 'mqtt' | 'mqtts' | 'ws' | 'wss';
    if (!['mqtt', 'mqtts', 'ws', 'wss'].includes(protocol)) throw new Error(`unsupported broker URL scheme: ${raw}`);
    const port = u.port
      ? Number(u.port)
      : protocol === 'mqtts'
        ? 8883
        : protocol === 'ws'
          ? 80
          : protocol === 'wss'
            ? 443
            : 1883;
    out.push({ host: u.hostname, port, protocol });
  }
  return out;
}

/** MQTT topic filter match (+ and #). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i > 0 || !topic.startsWith('$');
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && topic.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// ---- partitions (docs/scale-out.md) ---------------------------------------------------------------------
// With N pipeline instances on a NATS cluster, the broker's subject mapping rewrites every device topic
// `devices/<id>/telemetry` (and `device/lwt/<id>`, `device/status/<id>`) to `p/<k>/<topic>`, k a hash of the
// device id. Instance k subscribes to `p/<k>/<filter>` for each of its filters and hands its flow the topic
// without the prefix, so everything downstream behaves exactly as with one instance.

export interface Partition {
  /** this instance's partition, 0 ≤ index < count */
  index: number;
  /** partitions in the cluster (must equal the count in the broker's mapping) */
  count: number;
}

/**
 * Reads MOBY_PARTITION / MOBY_PARTITIONS style settings. Both empty: not partitioned (null). One without
 * the other, or a value that is not a whole number with 0 ≤ index < count, is a configuration error: an
 * instance that guessed would silently miss or double a share of the fleet.
 */
export function parsePartition(
  index: unknown,
  count: unknown
): { ok: true; partition: Partition | null } | { ok: false; error: string } {
  const text = (v: unknown) => (typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '');
  const i = text(index);
  const n = text(count);
  if (i === '' && n === '') return { ok: true, partition: null };
  if (i === '' || n === '')
    return {
      ok: false,
      error: `partition ${i === '' ? '(unset)' : i} of ${n === '' ? '(unset)' : n}: set both MOBY_PARTITION and MOBY_PARTITIONS, or neither`,
    };
  if (!/^\d+$/.test(i) || !/^\d+$/.test(n))
    return { ok: false, error: `partition "${i}" of "${n}": both must be whole numbers` };
  const p = { index: Number(i), count: Number(n) };
  if (p.count < 1 || p.index >= p.count)
    return {
      ok: false,
      error: `partition ${p.index} of ${p.count}: the partition must be 0 … ${Math.max(0, p.count - 1)}`,
    };
  return { ok: true, partition: p };
}

/** The topic prefix of a partition, "p/<k>/". */
export function partitionPrefix(p: Partition): string {
  return `p/${p.index}/`;
}

/** The filter an instance of partition `p` subscribes to for the flow's `filter`. */
export function partitionFilter(p: Partition | null, filter: string): string {
  return p ? partitionPrefix(p) + filter : filter;
}

/**
 * The topic the flow sees for a topic received on the broker connection: without this partition's prefix.
 * null when the topic belongs to another partition (a subscription left in the persistent session by an
 * earlier partition assignment): the caller must not route it.
 */
export function unpartitionTopic(p: Partition | null, topic: string): string | null {
  if (!p) return topic;
  const prefix = partitionPrefix(p);
  return topic.startsWith(prefix) ? topic.slice(prefix.length) : null;
}

/** The client id of a partitioned instance: `<base>-<k>`, the same on every restart and on any server. */
export function partitionClientId(p: Partition | null, base: string): string {
  return p ? `${base}-${p.index}` : base;
}
