// A scored point as moby-anomaly sends it, for tests of what moby-alert makes of it. Kept apart from
// alert-red.ts (which starts the Node-RED test helper when loaded) so that unit tests and the real-process tests
// build the same message.

/** `severity` is the anomaly's when `isAnomaly` (a point with no anomaly is `normal`). */
export function anomalyMsg(
  device: string,
  isAnomaly: boolean,
  score = isAnomaly ? 0.93 : 0.1,
  severity: 'warning' | 'critical' = 'warning'
): { payload: Record<string, unknown>; anomaly: Record<string, unknown> } {
  return {
    payload: {
      measurement: 'telemetry',
      tags: { device_id: device },
      fields: { vibration: 0.4 },
      timestamp: Date.now(),
    },
    anomaly: {
      score,
      threshold: 0.8,
      is_anomaly: isAnomaly,
      severity: isAnomaly ? severity : 'normal',
      method: 'pca',
      contributions: { vibration: 0.7, temperature: 0.2 },
    },
  };
}
