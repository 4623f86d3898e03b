// Signal model of the device simulator: correlated, realistic-looking machine signals with injectable faults.
// Pure and deterministic for a given seed, so tests can check what a fault does to the numbers.
import { mulberry32 as rng, gaussian as gauss } from '../../nodes/core/prng';

export type FaultKind =
  | 'drift'
  | 'spikes'
  | 'bearing'
  | 'step'
  | 'stuck'
  | 'noise'
  | 'restart'
  | 'silence'
  | 'disconnect'
  | 'badsig'
  | 'replay'
  | 'malformed';
export const FAULT_KINDS: readonly FaultKind[] = [
  'drift',
  'spikes',
  'bearing',
  'step',
  'stuck',
  'noise',
  'restart',
  'silence',
  'disconnect',
  'badsig',
  'replay',
  'malformed',
];
/** Faults that change what the sensors read (the machine model); the others act on the network/signing. */
export const SIGNAL_FAULTS: readonly FaultKind[] = ['drift', 'spikes', 'bearing', 'step', 'stuck', 'noise'];

export type Signal = keyof Reading;
export const SIGNALS: readonly Signal[] = ['temperature', 'vibration', 'current', 'pressure', 'flow'];

export interface Fault {
  kind: FaultKind;
  /** seconds after start when the fault begins */
  at: number;
  /** seconds after start when it ends (the machine is repaired, the sensor replaced); default never */
  until?: number;
  /**
   * size of the fault in units of the affected signal's normal spread (NORMAL_SPREAD; see DEFAULT_MAGNITUDE):
   * drift σ per minute, step σ, noise σ of added white noise, spikes height in σ, bearing σ of vibration per
   * minute at the start of the wear; stuck ignores it. restart: minutes the machine stays off
   */
  magnitude?: number;
  /** the sensor a drift, step, stuck or noise fault acts on (default temperature for drift, else pressure) */
  signal?: Signal;
}

/**
 * The magnitude of each signal fault when none is given (the demo and `moby-sim --faults` without `*m`),
 * in σ of the affected signal as documented in the README ("Incident evaluation").
 */
export const DEFAULT_MAGNITUDE: Record<string, number> = {
  drift: 1,
  spikes: 40,
  bearing: 1,
  step: 5,
  noise: 1.5,
  stuck: 0,
  restart: 10,
};

/** how fast a machine that stands still cools toward ambient (s): slower than it heats up under load */
const COOLING_TAU_S = 900;

export interface Reading {
  temperature: number; // °C, motor winding
  vibration: number; // mm/s RMS, bearing
  current: number; // A, motor
  pressure: number; // bar, discharge
  flow: number; // m³/h
}

export const EQUIPMENT_TYPES = ['pump', 'compressor', 'fan', 'motor'] as const;

type Profile = { current: number; pressure: number; flow: number; vibration: number; ambient: number };

const PROFILES: Record<(typeof EQUIPMENT_TYPES)[number], Profile> = {
  pump: { current: 12, pressure: 4.5, flow: 38, vibration: 1.8, ambient: 24 },
  compressor: { current: 28, pressure: 7.5, flow: 12, vibration: 2.6, ambient: 27 },
  fan: { current: 6, pressure: 0.4, flow: 900, vibration: 1.2, ambient: 22 },
  motor: { current: 18, pressure: 1.0, flow: 5, vibration: 1.5, ambient: 25 },
};

/**
 * Normal spread (standard deviation, healthy machine, 1 s samples, load wandering as modelled below) of each
 * signal, derived from the model: load is AR(1) around 0.75 with σ ≈ 0.05, so current varies by 0.7·0.05 = 3.5 %
 * of nominal plus 1 % noise; winding temperature by ≈ 1.2 °C (30·2·0.825·0.035 ≈ 1.7 °C of heating, damped by
 * the 60 s thermal lag); pressure by ≈ 2.5 % plus 1 % (0.5·0.05/0.875 before the load's bounds); flow by half of pressure's plus 1 %; vibration by 2·0.4·0.05/0.9 ≈ 4.4 % plus 0.05 mm/s noise.
 * Fault magnitudes are expressed in these units so "5 σ" means the same on a pump and a fan.
 * `scripts/eval-sim.ts` prints the measured spreads next to these.
 */
export function normalSpread(p: Profile): Reading {
  const vib = p.vibration * 0.81;
  return {
    temperature: 1.2,
    vibration: Math.hypot(0.044 * vib, 0.05),
    current: p.current * Math.hypot(0.035, 0.01),
    pressure: p.pressure * Math.hypot(0.025, 0.01),
    flow: p.flow * Math.hypot(0.0145, 0.01),
  };
}

/**
 * One machine. Load wanders slowly (AR(1)); current follows load, winding temperature follows current² through
 * a first-order lag, vibration grows with speed and bearing wear, pressure with load and flow with √pressure.
 */
export class MachineModel {
  readonly equipmentType: (typeof EQUIPMENT_TYPES)[number];
  private readonly r: () => number;
  private readonly p: Profile;
  private load = 0.75;
  private temp: number;
  private wear = 0;
  private drift: Partial<Reading> = {};
  private elapsed = 0;
  private stuckAt: Partial<Reading> = {};
  private last: Reading | null = null;
  readonly spread: Reading;

  constructor(
    readonly index: number,
    seed = index + 1,
    readonly faults: Fault[] = []
  ) {
    this.equipmentType = EQUIPMENT_TYPES[index % EQUIPMENT_TYPES.length];
    this.p = PROFILES[this.equipmentType];
    this.r = rng(seed * 7919);
    this.temp = this.p.ambient + 30;
    this.spread = normalSpread(this.p);
  }

  /** The first fault of this kind in force now (begun, not yet over). */
  fault(kind: FaultKind): Fault | undefined {
    return this.faults.find((f) => f.kind === kind && this.elapsed >= f.at && this.elapsed < faultEnd(f));
  }

  /**
   * False while a `restart` fault (a power cut) has the machine off: it sends nothing and cools toward ambient;
   * it then starts again cold, its winding warming up over a few thermal time constants, as after a real outage.
   */
  get running(): boolean {
    return !this.active('restart');
  }

  active(kind: FaultKind): boolean {
    return this.fault(kind) !== undefined;
  }

  get seconds(): number {
    return this.elapsed;
  }

  /** Advances the model by dt seconds and returns the new reading. */
  step(dt: number): Reading {
    const r = this.r;
    this.elapsed += dt;
    if (!this.running && this.last) {
      this.temp += ((this.p.ambient - this.temp) * Math.min(dt, COOLING_TAU_S)) / COOLING_TAU_S;
      this.load = 0.4; // it starts again at its lowest load
      return this.last; // not sent: the caller asks `running`
    }
    this.load = Math.min(
      1,
      Math.max(0.4, this.load + 0.02 * (0.75 - this.load) * dt + 0.01 * Math.sqrt(dt) * gauss(r))
    );
    const current = this.p.current * (0.3 + 0.7 * this.load) * (1 + 0.01 * gauss(r));
    const mag = (f: Fault) => f.magnitude ?? DEFAULT_MAGNITUDE[f.kind];
    const bearing = this.fault('bearing');
    // slow, accelerating wear is what operators miss. Vibration grows by (3w + 2w²)·base, so at the start a
    // wear rate of m·σ/(3·base) per minute raises vibration by m σ per minute; a repaired bearing is like new
    if (bearing) this.wear += ((mag(bearing) * this.spread.vibration) / (3 * this.p.vibration * 0.81 * 60)) * dt;
    else if (
      this.wear > 0 &&
      this.faults.some((f) => f.kind === 'bearing' && f.until !== undefined && this.elapsed >= f.until)
    )
      this.wear = 0;
    const drift = this.fault('drift');
    for (const k of Object.keys(this.drift) as Signal[])
      if (!drift || (drift.signal ?? 'temperature') !== k) delete this.drift[k];
    if (drift) {
      const sig = drift.signal ?? 'temperature'; // sensor drift: the reading walks away, the machine does not
      this.drift[sig] = (this.drift[sig] ?? 0) + ((mag(drift) * this.spread[sig]) / 60) * dt;
    }
    const rise = 30 * (current / this.p.current) ** 2 + 40 * this.wear;
    const tau = 60;
    this.temp += ((this.p.ambient + rise - this.temp) * Math.min(dt, tau)) / tau;
    let vibration =
      this.p.vibration * (0.6 + 0.4 * this.load) ** 2 * (1 + 3 * this.wear + 2 * this.wear * this.wear) +
      0.05 * gauss(r);
    const spikes = this.fault('spikes');
    // 8 % of samples hit by a spike of (0.75…1.25) × m σ
    if (spikes && r() < 0.08) vibration += mag(spikes) * this.spread.vibration * (0.75 + 0.5 * r());
    const pressure = this.p.pressure * (0.5 + 0.5 * this.load) * (1 + 0.01 * gauss(r));
    const flow = this.p.flow * Math.sqrt(pressure / this.p.pressure) * (1 + 0.01 * gauss(r));
    const out: Reading = { temperature: this.temp + 0.2 * gauss(r), vibration, current, pressure, flow };
    for (const [k, v] of Object.entries(this.drift) as Array<[Signal, number]>) out[k] += v;
    const step = this.fault('step');
    if (step) out[step.signal ?? 'pressure'] += mag(step) * this.spread[step.signal ?? 'pressure'];
    const noise = this.fault('noise');
    if (noise) out[noise.signal ?? 'pressure'] += mag(noise) * this.spread[noise.signal ?? 'pressure'] * gauss(r);
    const rounded: Reading = {
      temperature: round(out.temperature, 2),
      vibration: round(Math.max(0, out.vibration), 3),
      current: round(out.current, 2),
      pressure: round(out.pressure, 3),
      flow: round(out.flow, 2),
    };
    const stuck = this.fault('stuck');
    const stuckSig = stuck ? (stuck.signal ?? 'pressure') : null;
    for (const k of Object.keys(this.stuckAt) as Signal[]) if (k !== stuckSig) delete this.stuckAt[k];
    if (stuckSig) {
      // a flat-lined sensor repeats its last good reading
      const v = (this.stuckAt[stuckSig] ??= this.last ? this.last[stuckSig] : rounded[stuckSig]);
      rounded[stuckSig] = v;
    }
    this.last = rounded;
    return rounded;
  }
}

/** When a fault is over (seconds after start): its `until`, a restart's off time, or never. */
export function faultEnd(f: Fault): number {
  if (f.until !== undefined) return f.until;
  if (f.kind === 'restart') return f.at + 60 * (f.magnitude ?? DEFAULT_MAGNITUDE.restart);
  return Infinity;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The nested device payload (the format the normalize node's docs show). */
export function telemetryBody(deviceId: string, equipmentId: string, reading: Reading, tsMs: number): string {
  return JSON.stringify({
    device_id: deviceId,
    equipment_id: equipmentId,
    ts: new Date(tsMs).toISOString(),
    hw: 'rev3',
    components: {
      motor: {
        temperature: { value: reading.temperature, unit: '°C' },
        current: { value: reading.current, unit: 'A' },
      },
      bearing: { vibration: { value: reading.vibration, unit: 'mm/s' } },
      hydraulics: { pressure: { value: reading.pressure, unit: 'bar' }, flow: { value: reading.flow, unit: 'm³/h' } },
    },
  });
}

/**
 * The sensor the demo's drift acts on: a flow meter drifting at 4 σ/min is caught about 40 s after it starts
 * (at 2.5 σ/min, until 2026-12-07, about 80 s: the demo's last alert, too close to its three minutes).
 * A temperature sensor drifting as fast takes minutes (winding temperature varies on its own through the thermal
 * lag, so the model allows it more room; see README, Incident evaluation), too slow for a 3-minute demo.
 */
export const DEMO_DRIFT_SIGNAL: Signal = 'flow';

/**
 * Parses a fault plan: "demo" or a comma list of `<device index or id>:<kind>[/<signal>][@seconds][*magnitude]`,
 * e.g. `3:silence@20,pump-05:bearing,7:step/current@60*4`. Unknown kinds and signals are an error, so a typo
 * does not silently do nothing. `demoAt` shifts the demo's signal faults (seconds of simulated time), so they
 * start after the pipeline has calibrated.
 */
export function parseFaults(spec: string, deviceIds: string[], defaultAt = 20, demoAt = 5): Map<string, Fault[]> {
  const out = new Map<string, Fault[]>();
  const add = (id: string, f: Fault) => out.set(id, [...(out.get(id) ?? []), f]);
  if (!spec || spec === 'none') return out;
  if (spec === 'demo') {
    // spread over the fleet; indices that do not exist in a small fleet are skipped
    const plan: Array<[number, FaultKind, number]> = [
      [2, 'silence', 10],
      [4, 'disconnect', 12],
      [6, 'bearing', demoAt],
      [8, 'spikes', demoAt],
      [10, 'drift', demoAt],
      [12, 'badsig', 8],
      [14, 'replay', 8],
      [16, 'malformed', 8],
    ];
    // demo magnitudes are larger than the defaults (about the pre-σ demo's rates) so they show within minutes
    const demoMagnitude: Partial<Record<FaultKind, number>> = { bearing: 5, drift: 4 };
    for (const [i, kind, at] of plan) {
      if (i >= deviceIds.length) continue;
      const f: Fault = { kind, at };
      if (demoMagnitude[kind] !== undefined) f.magnitude = demoMagnitude[kind];
      if (kind === 'drift') f.signal = DEMO_DRIFT_SIGNAL;
      add(deviceIds[i], f);
    }
    return out;
  }
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^:]+):([a-z]+)(?:\/([a-z]+))?(?:@(\d+(?:\.\d+)?))?(?:\*(\d+(?:\.\d+)?))?$/.exec(part);
    if (!m) throw new Error(`bad fault "${part}": expected <device>:<kind>[/<signal>][@seconds][*magnitude]`);
    const [, who, kind, signal, at, magnitude] = m;
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw new Error(`unknown fault kind "${kind}" (one of ${FAULT_KINDS.join(', ')})`);
    if (signal !== undefined && !(SIGNALS as readonly string[]).includes(signal))
      throw new Error(`unknown signal "${signal}" (one of ${SIGNALS.join(', ')})`);
    const id = /^\d+$/.test(who) ? deviceIds[Number(who)] : who;
    if (!id || !deviceIds.includes(id)) throw new Error(`fault "${part}": no such device`);
    const f: Fault = { kind: kind as FaultKind, at: at === undefined ? defaultAt : Number(at) };
    if (signal !== undefined) f.signal = signal as Signal;
    if (magnitude !== undefined) f.magnitude = Number(magnitude);
    add(id, f);
  }
  return out;
}

export function deviceIdFor(index: number): string {
  return `${EQUIPMENT_TYPES[index % EQUIPMENT_TYPES.length]}-${String(index + 1).padStart(3, '0')}`;
}
