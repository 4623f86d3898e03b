// C-MAPSS turbofan files (NASA PCoE; train_FD00x.txt / test_FD00x.txt / RUL_FD00x.txt): space-separated,
// no header, 26 columns = unit, cycle, 3 operational settings, 21 sensors. Plus the usual RUL protocol
// helpers: constant-sensor removal, capped piece-wise linear target, windows per engine, PHM08 score.
export const CMAPSS_COLUMNS = [
  'unit',
  'cycle',
  'setting1',
  'setting2',
  'setting3',
  ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`),
];

/**
 * Index in Engine.rows of the cycle number (the file's column 2, how many cycles the engine has run), kept
 * after the 24 settings and sensors so it can be picked as a model input like a sensor.
 */
export const CYCLE_COLUMN = 24;

export interface Engine {
  unit: number;
  /** one row per cycle, in file order: the 24 columns after unit and cycle, then the cycle (CYCLE_COLUMN) */
  rows: number[][];
  cycles: number[];
}

/** True when the text looks like a C-MAPSS file: first non-empty line has 26 numbers and no header. */
export function looksLikeCmapss(text: string): boolean {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '');
  if (!first) return false;
  const cells = first.trim().split(/\s+/);
  return cells.length === 26 && cells.every((c) => Number.isFinite(Number(c)));
}

export function parseCmapss(text: string, file = 'C-MAPSS file'): Engine[] {
  const engines = new Map<number, Engine>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.trim().split(/\s+/).map(Number);
    if (cells.length !== 26)
      throw new Error(
        `${file}: line ${i + 1}: ${cells.length} columns, expected 26 (unit, cycle, 3 settings, 21 sensors)`
      );
    const bad = cells.findIndex((c) => !Number.isFinite(c));
    if (bad >= 0) throw new Error(`${file}: line ${i + 1}, column ${CMAPSS_COLUMNS[bad]}: not a number`);
    const unit = cells[0];
    let e = engines.get(unit);
    if (!e) engines.set(unit, (e = { unit, rows: [], cycles: [] }));
    e.cycles.push(cells[1]);
    e.rows.push([...cells.slice(2), cells[1]]);
  });
  if (!engines.size) throw new Error(`${file}: no data rows`);
  return [...engines.values()];
}

/** RUL_FD00x.txt: one true RUL per test engine, in unit order. */
export function parseRulList(text: string): number[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l, i) => {
      const v = Number(l.split(/\s+/)[0]);
      if (!Number.isFinite(v)) throw new Error(`RUL file: line ${i + 1} is not a number`);
      return v;
    });
}

/**
 * Sensor columns (indices into Engine.rows) that can carry a trend: at least `minDistinct` distinct values
 * in the training data. FD001's "constant" sensors (1, 5, 6, 10, 16, 18, 19) have one or two values (6 flips
 * between 21.60 and 21.61), while informative ones such as s8 vary by tiny amounts relative to their mean,
 * so a relative-variance rule would drop those too. The operational settings are left out: in a
 * single-condition set they are noise.
 */
export function informativeSensors(engines: Engine[], minDistinct = 5): number[] {
  const keep: number[] = [];
  for (let j = 3; j < 24; j++) {
    const seen = new Set<number>();
    for (const e of engines) for (const r of e.rows) if (seen.size < minDistinct) seen.add(r[j]);
    if (seen.size >= minDistinct) keep.push(j);
  }
  return keep;
}

export function columnName(j: number, baseline?: EngineBaseline): string {
  if (j > CYCLE_COLUMN && baseline) return `${CMAPSS_COLUMNS[baseline.sensors[j - CYCLE_COLUMN - 1] + 2]}_rel`;
  return j === CYCLE_COLUMN ? 'cycle' : CMAPSS_COLUMNS[j + 2];
}

/** Capped piece-wise linear target of every cycle: min(cap, last cycle − cycle). */
export function rulTargets(e: Engine, cap: number): number[] {
  const last = e.cycles[e.cycles.length - 1];
  return e.cycles.map((c) => Math.min(cap, last - c));
}

/**
 * The standardised window ending at row `end` (inclusive), step-major. Engines shorter than the window are
 * padded with their first row, as if the engine had idled at its initial state.
 */
export function engineWindow(
  rows: number[][],
  end: number,
  window: number,
  cols: number[],
  mean: number[],
  std: number[],
  out: Float32Array,
  offset: number
): void {
  const F = cols.length;
  for (let t = 0; t < window; t++) {
    const r = rows[Math.max(0, end - window + 1 + t)];
    for (let j = 0; j < F; j++) out[offset + t * F + j] = (r[cols[j]] - mean[j]) / std[j];
  }
}

/** PHM08 asymmetric score: late predictions (d = predicted − true > 0) cost more than early ones. */
export function phm08Score(predicted: ArrayLike<number>, truth: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < predicted.length; i++) {
    const d = predicted[i] - truth[i];
    s += d < 0 ? Math.exp(-d / 13) - 1 : Math.exp(d / 10) - 1;
  }
  return s;
}

export function rmse(predicted: ArrayLike<number>, truth: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < predicted.length; i++) s += (predicted[i] - truth[i]) ** 2;
  return Math.sqrt(s / predicted.length);
}

/**
 * How an engine's own baseline (the mean of its first `cycles` rows) enters the model:
 * 'relative' replaces each sensor by its offset from the baseline, x − base; 'both' keeps the sensors and
 * appends the offsets as further columns (indices CYCLE_COLUMN + 1 + k, in `sensors` order).
 */
export type BaselineMode = 'relative' | 'both';

export interface EngineBaseline {
  cycles: number;
  mode: BaselineMode;
  /** the sensor columns (indices into Engine.rows) the baseline is taken of; the age column is never one */
  sensors: number[];
}

/** Mean of each of `sensors` over the first `cycles` rows (fewer if the engine has fewer). */
export function baselineOf(rows: number[][], sensors: number[], cycles: number): number[] {
  const n = Math.max(1, Math.min(cycles, rows.length));
  const base = new Array<number>(sensors.length).fill(0);
  for (let i = 0; i < n; i++) sensors.forEach((c, k) => (base[k] += rows[i][c]));
  return base.map((v) => v / n);
}

/**
 * The engine as the model sees it with an own-baseline input (EngineBaseline): rows rewritten from the
 * baseline of the engine's first `cycles` rows. A test engine cut after at least `cycles` cycles gets the same
 * baseline as the whole engine, so training windows and cut engines agree.
 */
export function withBaseline(e: Engine, b: EngineBaseline): Engine {
  const base = baselineOf(e.rows, b.sensors, b.cycles);
  const rows = e.rows.map((r) => {
    const out = r.slice();
    if (b.mode === 'relative') b.sensors.forEach((c, k) => (out[c] = r[c] - base[k]));
    else b.sensors.forEach((c, k) => (out[CYCLE_COLUMN + 1 + k] = r[c] - base[k]));
    return out;
  });
  return { unit: e.unit, rows, cycles: e.cycles };
}
