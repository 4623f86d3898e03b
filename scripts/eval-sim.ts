// Incident-level evaluation on the simulator's machine models. Point-wise figures (eval:skab) score rows; an
// operator sees incidents: an alert that opens on a healthy machine is a false alarm however few points it
// took, and a fault counts as caught when an alert opens while it lasts. This runs the same core code the
// pipeline's nodes run — normalize → anomaly detector (node defaults) → alert inputs → alert engine — for
// many device-hours of simulated time (as fast as the CPU allows, no MQTT), with faults of every signal kind
// injected at random times and magnitudes on some devices and none on others.
//
//   npm run eval:sim -- [--seeds 1,2,3] [--hours H] [--json] [--per-kind N] [--healthy N] [--set key=value ...]
//
// Per seed: `--per-kind` devices per fault kind (each with one fault of random start, signal and magnitude,
// lasting FAULT_MINUTES, after which the machine is repaired) and `--healthy` fault-free devices, each
// running `--hours` of 1 s samples. Reports per kind detected/injected and time to detect (p50, p90), false
// alert incidents per 100 device-hours (healthy devices, and faulted devices outside their fault) and flaps
// (an anomaly alert opening again within 10 min of the previous one's resolve).
import { normalize } from '../nodes/core/normalize/normalize';
import {
  defaultsFor,
  DEFAULT_CONFIG,
  DetectorConfig,
  extract,
  featuresOf,
  newState,
  step,
  AnomalyDeviceState,
} from '../nodes/core/anomaly/detector';
import { AlertEngine } from '../nodes/core/alert/engine';
import { signalsFromMessage, RULES } from '../nodes/core/alert/inputs';
import { mulberry32 } from '../nodes/core/prng';
import {
  MachineModel,
  telemetryBody,
  deviceIdFor,
  Fault,
  FaultKind,
  Signal,
  SIGNALS,
  EQUIPMENT_TYPES,
  faultEnd,
} from '../bin/lib/sim-model';

/** The signal faults evaluated and the magnitude range each is drawn from (σ of the affected signal; see README). */
export const EVAL_KINDS: Record<string, { range: [number, number]; signals: readonly Signal[]; unit: string }> = {
  spikes: { range: [10, 30], signals: ['vibration'], unit: 'σ spike height, 8 % of samples' },
  step: { range: [3, 6], signals: SIGNALS, unit: 'σ offset' },
  drift: { range: [0.5, 2], signals: SIGNALS, unit: 'σ per minute' },
  bearing: {
    range: [0.5, 2],
    signals: ['vibration'],
    unit: 'σ of vibration per minute at onset, accelerating; temperature follows',
  },
  stuck: { range: [0, 0], signals: SIGNALS, unit: 'sensor repeats its last reading' },
  noise: { range: [1, 2], signals: SIGNALS, unit: 'σ of added white noise' },
};

export const FAULT_MINUTES = 30;
/** a restart device's power cut: off for this many minutes (drawn per device), then back cold */
export const RESTART_OFF_MINUTES: [number, number] = [5, 30];
/** after a repair, alerts opening within this many seconds still belong to the fault (the resolve takes time) */
const AFTER_FAULT_S = 300;
const FLAP_WINDOW_S = 600;

export interface EvalOptions {
  seeds: number[];
  hours: number;
  perKind: number;
  healthy: number;
  /** devices per seed that lose power once (off 5–30 min) and start again cold; healthy otherwise */
  restarts?: number;
  /** a restart device's time off, minutes (drawn per device; default RESTART_OFF_MINUTES) */
  restartOff?: [number, number];
  detector: DetectorConfig;
  /** alert engine options beyond the defaults */
  engine: Record<string, number>;
  /** list every false alert and every miss on stderr */
  verbose?: boolean;
}

interface DeviceRun {
  id: string;
  model: MachineModel;
  fault: Fault | null;
  state: AnomalyDeviceState | null;
  /** seconds when calibration ended */
  fittedAt: number | null;
  opens: number[];
  resolves: number[];
  points: number;
  anomalousPoints: number;
}

export interface KindResult {
  detected: number;
  injected: number;
  ttd_p50_s: number | null;
  ttd_p90_s: number | null;
}

export interface EvalResult {
  false_per_100h: number;
  false_healthy: number;
  false_faulted_outside: number;
  device_hours: number;
  flaps: number;
  detected: number;
  injected: number;
  anomalous_point_share_healthy: number;
  kinds: Record<string, KindResult>;
  /** power cuts and the anomaly alerts that opened on those machines once they were back (all false) */
  restarts: { injected: number; false_alarms: number };
  seeds: number[];
  hours: number;
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length) % xs.length];
}

function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = xs.slice().sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return Math.round(s[lo] + (s[hi] - s[lo]) * (pos - lo));
}

/** The devices of one seed: per kind `perKind` faulted ones, then the healthy ones. */
export function plan(
  seed: number,
  opts: Pick<EvalOptions, 'hours' | 'perKind' | 'healthy' | 'restarts' | 'restartOff' | 'detector'>
): Array<{ index: number; fault: Fault | null }> {
  const r = mulberry32(seed * 104729 + 17);
  const total = opts.hours * 3600;
  const duration = FAULT_MINUTES * 60;
  // faults start once calibration is over (plus a margin) and end before the run does
  const earliest = opts.detector.trainSize + opts.detector.inputWindow + 600;
  const latest = total - duration - 600;
  if (latest <= earliest)
    throw new Error(
      `--hours ${opts.hours} is too short for trainSize ${opts.detector.trainSize} and ${FAULT_MINUTES}-minute faults`
    );
  const out: Array<{ index: number; fault: Fault | null }> = [];
  let index = 0;
  for (const [kind, spec] of Object.entries(EVAL_KINDS)) {
    for (let i = 0; i < opts.perKind; i++) {
      const at = Math.round(earliest + r() * (latest - earliest));
      const magnitude = spec.range[0] + r() * (spec.range[1] - spec.range[0]);
      const signal = pick(r, spec.signals);
      out.push({
        index: index++,
        fault: {
          kind: kind as FaultKind,
          at,
          until: at + duration,
          magnitude: Math.round(magnitude * 100) / 100,
          signal,
        },
      });
    }
  }
  for (let i = 0; i < opts.healthy; i++) out.push({ index: index++, fault: null });
  // drawn after the others, so adding restart devices leaves every other device's plan as it was
  for (let i = 0; i < (opts.restarts ?? 0); i++) {
    const at = Math.round(earliest + r() * (latest - earliest));
    const [lo, hi] = opts.restartOff ?? RESTART_OFF_MINUTES;
    const off = lo + r() * (hi - lo);
    out.push({ index: index++, fault: { kind: 'restart', at, magnitude: Math.round(off * 10) / 10 } });
  }
  return out;
}

/** One seed: every device for `hours` of 1 s samples through normalize → detector → alert engine. */
function runSeed(seed: number, opts: EvalOptions) {
  let now = 0;
  const engine = new AlertEngine({ ...opts.engine, now: () => now * 1000 });
  const devices: DeviceRun[] = plan(seed, opts).map(({ index, fault }) => ({
    id: deviceIdFor(index),
    model: new MachineModel(index, seed * 1000 + index, fault ? [fault] : []),
    fault,
    state: null,
    fittedAt: null,
    opens: [],
    resolves: [],
    points: 0,
    anomalousPoints: 0,
  }));
  const byId = new Map(devices.map((d) => [d.id, d]));
  const cfg = opts.detector;
  const total = opts.hours * 3600;
  const t0 = Date.UTC(2026, 0, 1);
  for (let t = 1; t <= total; t++) {
    now = t;
    for (const d of devices) {
      const reading = d.model.step(1);
      if (!d.model.running) continue; // a power cut: nothing sent
      const body = JSON.parse(telemetryBody(d.id, d.model.equipmentType, reading, t0 + t * 1000));
      const n = normalize(body, { tagKeys: ['equipment_id'] }, { now: t0 + t * 1000 });
      if (!n.ok) throw new Error(`normalize rejected ${d.id}: ${n.reject.reason}`);
      const point = n.point;
      if (!d.state) d.state = newState(cfg, featuresOf(cfg, point.fields));
      const x = extract(d.state.features, point.fields);
      if (!(x instanceof Float64Array)) throw new Error(`${d.id}: ${x.reason}`);
      const res = step(cfg, d.state, x, undefined, point.timestamp);
      if (res.kind === 'reject') throw new Error(`${d.id}: ${res.reject.reason}`);
      if (res.kind === 'warming') continue;
      if (d.fittedAt === null) d.fittedAt = t;
      d.points++;
      if (res.anomaly.is_anomaly) d.anomalousPoints++;
      const sig = signalsFromMessage({ payload: point, anomaly: res.anomaly });
      if (!sig.ok) throw new Error(`${d.id}: ${sig.reject.reason}`);
      for (const s of sig.signals) {
        const out = engine.apply(s);
        if (!out.ok) throw new Error(out.reason);
        for (const e of out.events) record(e.event, e.alert.device_id, e.alert.rule, t);
      }
    }
    for (const e of engine.tick().events) record(e.event, e.alert.device_id, e.alert.rule, t);
  }
  function record(event: string, device: string, rule: string, t: number): void {
    if (rule !== RULES.anomaly) return;
    const d = byId.get(device)!;
    if (event === 'open') d.opens.push(t);
    else if (event === 'resolve') d.resolves.push(t);
  }
  return devices;
}

export function evaluate(opts: EvalOptions): EvalResult {
  const kinds: Record<string, KindResult & { ttd: number[] }> = {};
  for (const k of Object.keys(EVAL_KINDS))
    kinds[k] = { detected: 0, injected: 0, ttd_p50_s: null, ttd_p90_s: null, ttd: [] };
  let falseHealthy = 0;
  let falseOutside = 0;
  let exposure = 0;
  let flaps = 0;
  let healthyPoints = 0;
  let healthyAnomalous = 0;
  const restarts = { injected: 0, false_alarms: 0 };
  for (const seed of opts.seeds) {
    for (const d of runSeed(seed, opts)) {
      const monitored = d.fittedAt === null ? 0 : opts.hours * 3600 - d.fittedAt;
      // flaps: an open within FLAP_WINDOW_S of the previous resolve
      for (const o of d.opens) if (d.resolves.some((r) => r <= o && o - r < FLAP_WINDOW_S)) flaps++;
      if (d.fault?.kind === 'restart') {
        // a healthy machine throughout: every anomaly alert on it is false, counted apart from the others
        restarts.injected++;
        restarts.false_alarms += d.opens.length;
        if (opts.verbose)
          for (const o of d.opens)
            console.error(
              `false: seed ${seed} ${d.id} restart open at ${o - faultEnd(d.fault)} s after power returned (off ${d.fault.magnitude} min)`
            );
        continue;
      }
      if (!d.fault) {
        if (opts.verbose)
          for (const o of d.opens)
            console.error(`false: seed ${seed} ${d.id} healthy open at ${o} s (fitted at ${d.fittedAt})`);
        exposure += monitored;
        falseHealthy += d.opens.length;
        healthyPoints += d.points;
        healthyAnomalous += d.anomalousPoints;
        continue;
      }
      const f = d.fault;
      const end = f.until! + AFTER_FAULT_S;
      exposure += monitored - (end - f.at);
      const k = kinds[f.kind];
      k.injected++;
      const during = d.opens.filter((o) => o >= f.at && o <= f.until!);
      // an alert still open when the fault starts also tells the operator something is wrong
      const openAtStart = d.opens.some(
        (o, i) =>
          o < f.at && !d.resolves.some((r) => r >= o && r < f.at && (i + 1 >= d.opens.length || r < d.opens[i + 1]))
      );
      if (during.length) {
        k.detected++;
        k.ttd.push(during[0] - f.at);
      } else if (openAtStart) k.detected++;
      const outside = d.opens.filter((o) => o < f.at || o > end);
      falseOutside += outside.length;
      if (opts.verbose) {
        for (const o of outside)
          console.error(
            `false: seed ${seed} ${d.id} ${f.kind}/${f.signal} m=${f.magnitude} open at ${o - f.at} s from fault start (ends ${f.until! - f.at} s)`
          );
        if (!during.length && !openAtStart)
          console.error(`missed: seed ${seed} ${d.id} ${f.kind}/${f.signal} m=${f.magnitude} at ${f.at}`);
      }
    }
  }
  let detected = 0;
  let injected = 0;
  const out: Record<string, KindResult> = {};
  for (const [name, k] of Object.entries(kinds)) {
    detected += k.detected;
    injected += k.injected;
    out[name] = {
      detected: k.detected,
      injected: k.injected,
      ttd_p50_s: quantile(k.ttd, 0.5),
      ttd_p90_s: quantile(k.ttd, 0.9),
    };
  }
  const hoursTotal = exposure / 3600;
  return {
    false_per_100h: Math.round(((falseHealthy + falseOutside) / hoursTotal) * 100 * 100) / 100,
    false_healthy: falseHealthy,
    false_faulted_outside: falseOutside,
    device_hours: Math.round(hoursTotal),
    flaps,
    detected,
    injected,
    anomalous_point_share_healthy: healthyPoints ? Math.round((healthyAnomalous / healthyPoints) * 1e4) / 1e4 : 0,
    kinds: out,
    restarts,
    seeds: opts.seeds,
    hours: opts.hours,
  };
}

/** Measured spread of each signal on healthy machines (to check normalSpread, which sets fault magnitudes). */
function measuredSpread(seconds: number): Record<string, Record<Signal, number>> {
  const out: Record<string, Record<Signal, number>> = {};
  EQUIPMENT_TYPES.forEach((type, i) => {
    const m = new MachineModel(i, 999 + i);
    const acc: Record<string, number[]> = {};
    for (let t = 0; t < seconds; t++) {
      const r = m.step(1);
      for (const s of SIGNALS) (acc[s] ??= []).push(r[s]);
    }
    const row = {} as Record<Signal, number>;
    for (const s of SIGNALS) {
      const xs = acc[s].slice(300);
      const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length);
      row[s] = Math.round((sd / m.spread[s]) * 100) / 100;
    }
    out[type] = row;
  });
  return out;
}

function parseArgs(argv: string[]) {
  const args = {
    seeds: [1, 2, 3],
    hours: 4,
    perKind: 4,
    healthy: 12,
    restarts: 4,
    restartOff: RESTART_OFF_MINUTES,
    json: false,
    set: {} as Record<string, string>,
    engine: {} as Record<string, number>,
    spread: false,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seeds') args.seeds = next().split(',').map(Number);
    else if (a === '--hours') args.hours = Number(next());
    else if (a === '--per-kind') args.perKind = Number(next());
    else if (a === '--healthy') args.healthy = Number(next());
    else if (a === '--restarts') args.restarts = Number(next());
    else if (a === '--restart-off') {
      const [lo, hi] = next().split(',').map(Number);
      if (!(lo > 0 && hi >= lo)) throw new Error('--restart-off needs minutes lo,hi with 0 < lo <= hi');
      args.restartOff = [lo, hi];
    } else if (a === '--json') args.json = true;
    else if (a === '--spread') args.spread = true;
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--set') {
      const [k, v] = next().split('=');
      args.set[k] = v;
    } else if (a === '--engine') {
      const [k, v] = next().split('=');
      args.engine[k] = Number(v);
    } else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run eval:sim -- [--seeds 1,2,3] [--hours H] [--json] [--per-kind N] [--healthy N] [--restarts N] [--restart-off MIN,MAX] [--set key=value] [--engine key=value] [--spread]'
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!args.seeds.length || !args.seeds.every((s) => Number.isInteger(s) && s >= 0))
    throw new Error('--seeds must be non-negative integers');
  if (!(args.hours > 0)) throw new Error('--hours must be positive');
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (args.spread) {
    console.log('measured / modelled normal spread per signal:', JSON.stringify(measuredSpread(20000)));
  }
  const detector: DetectorConfig = { ...defaultsFor('pca') };
  for (const [k, v] of Object.entries(args.set)) {
    if (!(k in DEFAULT_CONFIG)) throw new Error(`unknown setting ${k}`);
    (detector as unknown as Record<string, unknown>)[k] = Number.isNaN(Number(v)) ? v : Number(v);
  }
  const r = evaluate({
    seeds: args.seeds,
    hours: args.hours,
    perKind: args.perKind,
    healthy: args.healthy,
    restarts: args.restarts,
    restartOff: args.restartOff,
    detector,
    engine: args.engine,
    verbose: args.verbose,
  });
  if (args.json) {
    console.log(JSON.stringify(r));
    return;
  }
  console.log(
    `seeds ${r.seeds.join(',')}: ${r.device_hours} monitored device-hours (${args.hours} h per device, ${args.perKind} devices per fault kind, ${args.healthy} healthy per seed)`
  );
  console.log(
    `false alert incidents: ${r.false_per_100h} per 100 device-hours (${r.false_healthy} on healthy devices, ${r.false_faulted_outside} on faulted devices outside their fault); flaps: ${r.flaps}; anomalous points on healthy devices: ${(r.anomalous_point_share_healthy * 100).toFixed(2)} %`
  );
  console.log(`detected ${r.detected}/${r.injected}`);
  console.log(
    `power cuts (off ${args.restartOff.join('–')} min, back cold): ${r.restarts.false_alarms} false anomaly alerts on ${r.restarts.injected} restarted machines`
  );
  console.log('| fault | magnitude | detected / injected | TTD p50 | TTD p90 |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [k, v] of Object.entries(r.kinds)) {
    const spec = EVAL_KINDS[k];
    const mag = spec.range[1] > 0 ? `${spec.range[0]}–${spec.range[1]} ${spec.unit}` : spec.unit;
    const s = (x: number | null) => (x === null ? '—' : `${x} s`);
    console.log(`| ${k} | ${mag} | ${v.detected} / ${v.injected} | ${s(v.ttd_p50_s)} | ${s(v.ttd_p90_s)} |`);
  }
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    console.error(`eval-sim: ${(err as Error).message}`);
    process.exit(2);
  }
}
