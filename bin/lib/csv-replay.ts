// Replays a CSV file (e.g. a SKAB file) as one device: each row becomes a signed flat telemetry message.
import fs from 'node:fs';
import { parseCsv } from '../../nodes/core/anomaly/train/csv';

export interface CsvRow {
  fields: Record<string, number>;
}

/** snake_case field name from a CSV header ("Volume Flow RateRMS" → "volume_flow_rate_rms"). */
export function fieldName(header: string): string {
  return header
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** Reads a CSV with the trainer's reader (numeric columns, labels dropped) under snake_case field names. */
export function readCsv(file: string, sep?: string): { columns: string[]; rows: CsvRow[] } {
  const t = parseCsv(fs.readFileSync(file, 'utf8'), { file, sep });
  const columns = t.features.map(fieldName);
  return { columns, rows: t.rows.map((r) => ({ fields: Object.fromEntries(columns.map((c, i) => [c, r[i]])) })) };
}
