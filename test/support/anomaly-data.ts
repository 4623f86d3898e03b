// Synthetic series for the anomaly tests and benchmark (SKAB data is GPL and never enters the repo).
import { mulberry32, gaussian } from '../../nodes/core/prng';

export interface SeededRandom {
  next(): number;
  normal(): number;
}

/** Deterministic PRNG with Box–Muller normals, so tests are reproducible. */
export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed);
  return { next, normal: () => gaussian(next) };
}

/**
 * Rows of `d` correlated features: a latent factor drives features 0 and 1 (x1 ≈ 2·x0), the rest are
 * independent noise around distinct means.
 */
export function gaussianRows(n: number, d: number, seed: number): number[][] {
  const rand = seededRandom(seed);
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = rand.normal();
    const r = [10 + a + 0.1 * rand.normal(), 20 + 2 * a + 0.1 * rand.normal()];
    for (let j = 2; j < d; j++) r.push(j * 5 + rand.normal());
    rows.push(r.slice(0, d));
  }
  return rows;
}

/** Same as gaussianRows but keyed by field names f0..f{d-1}. */
export function gaussianFields(n: number, d: number, seed: number): Array<Record<string, number>> {
  return gaussianRows(n, d, seed).map((r) => Object.fromEntries(r.map((v, j) => [`f${j}`, v])));
}
