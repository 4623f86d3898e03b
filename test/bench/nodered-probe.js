// Where the end-to-end bench's latency tail comes from (issue 16, fourth round). Required by the settings file
// pipeline-nodered.ts generates, so it runs inside the Node-RED child before the runtime loads:
// - an event-loop-delay histogram (perf_hooks.monitorEventLoopDelay, 10 ms resolution);
// - garbage collections (PerformanceObserver 'gc': count and time, minor and major apart, the longest);
// - the default context store's flush: json-stringify-safe, which Node-RED's localfilesystem store runs
//   synchronously on the whole scope every flushInterval (timed by wrapping the module in require's cache);
// - stalls: turns of the event loop longer than STALL_MS, each with what overlapped it (a major GC, a flush),
//   seen by a 5 ms interval timer that measures how late it fires.
// Read and reset through functionGlobalContext.benchProbe (GET /bench/probe in the bench flows).
'use strict';
const path = require('node:path');
const { monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');

const STALL_MS = 20;
const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

let gc, flush, stalls, marks;
function reset() {
  eld.reset();
  gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0, otherMs: 0, maxMs: 0 };
  flush = { count: 0, ms: 0, maxMs: 0, byKey: {} };
  stalls = [];
  marks = []; // [end time, kind, ms] of long GCs and flushes, to attribute stalls
}
reset();

const GC_MAJOR = 4; // perf_hooks.constants.NODE_PERFORMANCE_GC_MAJOR
const GC_MINOR = 1;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = e.detail ? e.detail.kind : e.kind;
    if (kind === GC_MAJOR) {
      gc.major++;
      gc.majorMs += e.duration;
    } else if (kind === GC_MINOR) {
      gc.minor++;
      gc.minorMs += e.duration;
    } else gc.otherMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
    if (e.duration >= 5) marks.push([e.startTime + e.duration, kind === GC_MAJOR ? 'major GC' : 'GC', e.duration]);
  }
}).observe({ entryTypes: ['gc'] });

// Node-RED's localfilesystem store requires json-stringify-safe when the context stores load (after settings)
try {
  const runtimeDir = path.dirname(
    require.resolve('@node-red/runtime/package.json', { paths: [process.cwd(), __dirname] })
  );
  const jssPath = require.resolve('json-stringify-safe', { paths: [runtimeDir] });
  const original = require(jssPath);
  const timed = function (...args) {
    const t = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const ms = performance.now() - t;
      flush.count++;
      flush.ms += ms;
      flush.maxMs = Math.max(flush.maxMs, ms);
      if (ms >= 2) marks.push([performance.now(), 'context flush', ms]);
      // which context value: the first key of what was stringified (a node's scope: its first context key)
      const v = args[0];
      const key = v && typeof v === 'object' ? Object.keys(v).slice(0, 1).join('') || '{}' : typeof v;
      const k = (flush.byKey[key] = flush.byKey[key] || { count: 0, ms: 0, maxMs: 0 });
      k.count++;
      k.ms += ms;
      k.maxMs = Math.max(k.maxMs, ms);
    }
  };
  timed.getSerialize = original.getSerialize;
  require.cache[jssPath].exports = timed;
} catch {
  /* not found: no flush timing */
}

let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 5;
  if (late >= STALL_MS) stalls.push([now, late]);
  last = now;
}, 5).unref();

function read() {
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  // the histogram's samples include the timer's own 10 ms period: what is reported is the delay beyond it
  const late = (ns) => Math.max(0, ms(ns) - 10);
  // a stall is put down to the GCs and flushes that ended within it
  const causes = {};
  for (const [end, late] of stalls) {
    const within = marks.filter(([t]) => t <= end && t >= end - late - 5);
    const key = within.length ? [...new Set(within.map((m) => m[1]))].sort().join(' + ') : 'other';
    causes[key] = (causes[key] || 0) + 1;
  }
  return {
    eld: { p50: late(eld.percentile(50)), p99: late(eld.percentile(99)), max: late(eld.max) },
    gc: {
      minor: gc.minor,
      minorMs: Math.round(gc.minorMs),
      major: gc.major,
      majorMs: Math.round(gc.majorMs),
      otherMs: Math.round(gc.otherMs),
      maxMs: Math.round(gc.maxMs),
    },
    flush: {
      count: flush.count,
      ms: Math.round(flush.ms),
      maxMs: Math.round(flush.maxMs * 10) / 10,
      byKey: Object.fromEntries(
        Object.entries(flush.byKey).map(([key, k]) => [
          key,
          `${k.count}× ${Math.round(k.ms)} ms, longest ${Math.round(k.maxMs * 10) / 10} ms`,
        ])
      ),
    },
    stalls: { count: stalls.length, maxMs: Math.round(Math.max(0, ...stalls.map((s) => s[1]))), causes },
  };
}

module.exports = { read, reset };
