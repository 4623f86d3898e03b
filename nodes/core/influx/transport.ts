// The InfluxDB v2 write endpoint through @influxdata/influxdb-client's transport. We use
// `transport.request` (one HTTP request per batch, promise settles on the server's answer) rather than
// WriteApi: WriteApi keeps its own memory-only retry buffer that re-batches, merges and after
// maxRetryTime drops lines, so "which points did the server acknowledge" is not observable; with the bare
// transport a 2xx for a request is exactly the acknowledgement of that batch, which the spool needs.
import { InfluxDB } from '@influxdata/influxdb-client';
import type { Precision } from './line-protocol';
import type { SendFn } from './writer';

export interface InfluxConnection {
  url: string;
  org: string;
  bucket: string;
  precision: Precision;
  token?: string;
  /** per-request timeout, ms (default 10000) */
  timeoutMs?: number;
  /** bodies larger than this many bytes are gzipped (default 1000, as the client's WriteApi) */
  gzipThreshold?: number;
  /**
   * also name the bucket as `db` in the query: VictoriaMetrics ignores `bucket` and keeps the points of each
   * `db` apart under a `db` label, which is how a tenant's bucket stays its own there (docs/tenants.md)
   */
  bucketAsDb?: boolean;
}

/** Builds a SendFn for POST /api/v2/write?org&bucket&precision. */
export function createInfluxSend(conn: InfluxConnection): SendFn {
  const client = new InfluxDB({ url: conn.url, token: conn.token || undefined, timeout: conn.timeoutMs ?? 10000 });
  const path = `/api/v2/write?org=${encodeURIComponent(conn.org)}&bucket=${encodeURIComponent(conn.bucket)}&precision=${conn.precision}${conn.bucketAsDb ? `&db=${encodeURIComponent(conn.bucket)}` : ''}`;
  const options = {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    gzipThreshold: conn.gzipThreshold ?? 1000,
  };
  return async (body: string) => {
    await client.transport.request(path, body, options);
  };
}
