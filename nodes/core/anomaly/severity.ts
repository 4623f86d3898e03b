// Severity from how far the score is past its threshold: below → normal, up to criticalRatio × threshold →
// warning, beyond → critical. The threshold method scores limits so that 1 = warning and 2 = critical
// limit, which is why the default ratio is 2.
import type { Severity } from '../contract';

export const DEFAULT_CRITICAL_RATIO = 2;

export function severityOf(
  score: number,
  threshold: number,
  criticalRatio = DEFAULT_CRITICAL_RATIO
): Severity | 'normal' {
  if (!(score > threshold)) return 'normal';
  return score >= threshold * criticalRatio ? 'critical' : 'warning';
}
