// CSV reader for moby-train: header row, numeric columns. Non-numeric columns (a leading datetime) and
// label columns ("anomaly", "changepoint" as in SKAB) are dropped unless named explicitly. Errors name
// the file, line and column.

export interface CsvOptions {
  /** field separator; default: whichever of ; , or tab appears most in the header */
  sep?: string;
  /** columns to use, in this order (default: every numeric column not dropped) */
  features?: string[];
  /** a column read separately (e.g. the RUL target), never a feature */
  target?: string;
  /** columns dropped when features are not given (case-insensitive; default anomaly, changepoint) */
  drop?: string[];
  /** name used in error messages */
  file?: string;
}

export interface CsvTable {
  features: string[];
  rows: number[][];
  target?: number[];
  /** columns left out, with the reason */
  dropped: Array<{ column: string; reason: string }>;
}

function splitLine(line: string, sep: string): string[] {
  return line.split(sep).map((c) => {
    const t = c.trim();
    return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
  });
}

function parseCell(cell: string): number {
  return cell === '' ? NaN : Number(cell);
}

export function parseCsv(text: string, opts: CsvOptions = {}): CsvTable {
  const file = opts.file ?? 'CSV';
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const headerIdx = lines.findIndex((l) => l.trim() !== '');
  if (headerIdx < 0) throw new Error(`${file}: empty file`);
  const headerLine = lines[headerIdx];
  const sep =
    opts.sep ?? [';', ',', '\t'].map((s) => [s, headerLine.split(s).length] as const).sort((a, b) => b[1] - a[1])[0][0];
  const header = splitLine(headerLine, sep);
  const col = new Map(header.map((h, i) => [h, i]));
  const firstData = lines.slice(headerIdx + 1).find((l) => l.trim() !== '');
  if (firstData === undefined) throw new Error(`${file}: no data rows after the header`);
  const firstCells = splitLine(firstData, sep);
  const dropped: CsvTable['dropped'] = [];
  let features: string[];
  if (opts.features?.length) {
    for (const f of opts.features)
      if (!col.has(f)) throw new Error(`${file}: no column "${f}" (columns: ${header.join(', ')})`);
    features = opts.features.slice();
  } else {
    const drop = new Set((opts.drop ?? ['anomaly', 'changepoint']).map((d) => d.toLowerCase()));
    features = [];
    header.forEach((h, i) => {
      if (h === opts.target) return;
      if (drop.has(h.toLowerCase())) dropped.push({ column: h, reason: 'label column' });
      else if (!Number.isFinite(parseCell(firstCells[i] ?? '')))
        dropped.push({ column: h, reason: `not numeric ("${firstCells[i] ?? ''}")` });
      else features.push(h);
    });
    if (!features.length)
      throw new Error(`${file}: no numeric columns (separator "${sep}"; header: ${header.join(', ')})`);
  }
  if (opts.target !== undefined && !col.has(opts.target))
    throw new Error(`${file}: no target column "${opts.target}" (columns: ${header.join(', ')})`);
  if (opts.target !== undefined && features.includes(opts.target))
    throw new Error(`${file}: target column "${opts.target}" is also a feature`);
  const idx = features.map((f) => col.get(f)!);
  const tIdx = opts.target !== undefined ? col.get(opts.target)! : -1;
  const rows: number[][] = [];
  const target: number[] = [];
  for (let li = headerIdx + 1; li < lines.length; li++) {
    if (lines[li].trim() === '') continue;
    const cells = splitLine(lines[li], sep);
    const row = new Array<number>(idx.length);
    for (let j = 0; j < idx.length; j++) {
      const v = parseCell(cells[idx[j]] ?? '');
      if (!Number.isFinite(v))
        throw new Error(`${file}: line ${li + 1}, column "${features[j]}": not a number: "${cells[idx[j]] ?? ''}"`);
      row[j] = v;
    }
    if (tIdx >= 0) {
      const t = parseCell(cells[tIdx] ?? '');
      if (!Number.isFinite(t))
        throw new Error(
          `${file}: line ${li + 1}, target column "${opts.target}": not a number: "${cells[tIdx] ?? ''}"`
        );
      target.push(t);
    }
    rows.push(row);
  }
  return opts.target !== undefined ? { features, rows, target, dropped } : { features, rows, dropped };
}
