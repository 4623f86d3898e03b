// Replays a CSV file (e.g. a SKAB file) as one device: each row becomes a signed flat telemetry message.
import fs from 'node:fs';

export interface CsvRow {
  fields: Record<string, number>;
  /** epoch ms from a datetime column when present */
  time?: number;
}

const LABEL_COLUMNS = new Set(['anomaly', 'changepoint']);

/** snake_case field name from a CSV header ("Volume Flow RateRMS" → "volume_flow_rate_rms"). */
export function fieldName(header: string): string {
  return header
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** Parses the CSV text; the separator is detected from the header when not given (`;` or `,`). */
export function parseCsv(text: string, sep?: string): { columns: string[]; rows: CsvRow[] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { columns: [], rows: [] };
  const s = sep ?? (lines[0].includes(';') ? ';' : ',');
  const header = lines[0].split(s).map((h) => h.trim());
  const timeCol = header.findIndex((h) => /^(datetime|timestamp|time|date)$/i.test(h));
  const columns: string[] = [];
  const index: number[] = [];
  header.forEach((h, i) => {
    if (i === timeCol || LABEL_COLUMNS.has(h.toLowerCase()) || h === '') return;
    columns.push(fieldName(h));
    index.push(i);
  });
  const rows: CsvRow[] = [];
  for (let li = 1; li < lines.length; li++) {
    const cells = lines[li].split(s);
    const fields: Record<string, number> = {};
    index.forEach((ci, k) => {
      const v = Number(cells[ci]);
      if (Number.isFinite(v)) fields[columns[k]] = v;
    });
    const row: CsvRow = { fields };
    if (timeCol >= 0) {
      const t = Date.parse(cells[timeCol]);
      if (Number.isFinite(t)) row.time = t;
    }
    rows.push(row);
  }
  return { columns, rows };
}

export function readCsv(file: string, sep?: string): ReturnType<typeof parseCsv> {
  return parseCsv(fs.readFileSync(file, 'utf8'), sep);
}
