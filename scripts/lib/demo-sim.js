'use strict';
// The demo simulator's arguments, for `npm start` (scripts/start.js) and `npm run start:cluster`
// (scripts/start-cluster.js): one place decides how many devices, which faults and how fast the warm-up goes.

/**
 * `devices` devices with the demo faults. While the pipeline calibrates, each device's first points (the
 * calibration's `trainPoints`, plus 10) go out every `warmupIntervalMs` — the signal still advances 1 s per point —
 * so `devices` / `warmupIntervalMs` sets the rate the pipeline takes in until it scores. `npm start` uses 20
 * devices every 50 ms per tenant (about 400 msg/s, calibrated in about 30 s; at 100 ms, until 2026-12-07, the last
 * demo alert came about 150 s after the start, too close to the three minutes the README promises).
 */
function demoSimArgs({ devices, trainPoints, warmupIntervalMs }) {
  const warmup = Math.max(0, Math.round(Number(trainPoints) || 0)) + 10;
  return `--devices ${devices} --faults demo --warmup ${warmup} --warmup-interval ${Math.round(warmupIntervalMs)}`;
}

module.exports = { demoSimArgs };
