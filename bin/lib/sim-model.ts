// Signal model of the device simulator: correlated, realistic-looking machine signals with injectable faults.
// Pure and deterministic for a given seed, so tests can check what a fault does to the numbers.
import { mulberry32 as rng, gaussian as gauss } from '../../nodes/core/prng';

export type FaultKind = 'drift' | 'spikes' | 'bearing' | 'silence' | 'disconnect' | 'badsig' | 'replay' | 'malformed';
export const FAULT_KINDS: readonly FaultKind[] = ['drift', 'spikes', 'bearing', 'silence', 'disconnect', 'badsig', 'replay', 'malformed'];

export interface Fault {
  kind: FaultKind;
  /** seconds after start when the fault begins */
  at: number;
}

export interface Reading {
  temperature: number; // °C, motor winding
  vibration: number; // mm/s RMS, bearing
  current: number; // A, motor
  pressure: number; // bar, discharge
  flow: number; // m³/h
}

export const EQUIPMENT_TYPES = ['pump', 'compressor', 'fan', 'motor'] as const;

const PROFILES: Record<(typeof EQUIPMENT_TYPES)[number], { current: number; pressure: number; flow: number; vibration: number; ambient: number }> = {
  pump: { current: 12, pressure: 4.5, flow: 38, vibration: 1.8, ambient: 24 },
  compressor: { current: 28, pressure: 7.5, flow: 12, vibration: 2.6, ambient: 27 },
  fan: { current: 6, pressure: 0.4, flow: 900, vibration: 1.2, ambient: 22 },
  motor: { current: 18, pressure: 1.0, flow: 5, vibration: 1.5, ambient: 25 },
};

/**
 * One machine. Load wanders slowly (AR(1)); current follows load, winding temperature follows current² through
 * a first-order lag, vibration grows with speed and bearing wear, pressure with load and flow with √pressure.
 */
export class MachineModel {
  readonly equipmentType: (typeof EQUIPMENT_TYPES)[number];
  private readonly r: () => number;
  private readonly p: (typeof PROFILES)[keyof typeof PROFILES];
  private load = 0.75;
  private temp: number;
  private wear = 0;
  private drift = 0;
  private elapsed = 0;

  constructor(readonly index: number, seed = index + 1, readonly faults: Fault[] = []) {
    this.equipmentType = EQUIPMENT_TYPES[index % EQUIPMENT_TYPES.length];
    this.p = PROFILES[this.equipmentType];
    this.r = rng(seed * 7919);
    this.temp = this.p.ambient + 30;
  }

  active(kind: FaultKind): boolean {
    return this.faults.some((f) => f.kind === kind && this.elapsed >= f.at);
  }

  /** Advances the model by dt seconds and returns the new reading. */
  step(dt: number): Reading {
    const r = this.r;
    this.elapsed += dt;
    this.load = Math.min(1, Math.max(0.4, this.load + 0.02 * (0.75 - this.load) * dt + 0.01 * Math.sqrt(dt) * gauss(r)));
    const current = this.p.current * (0.3 + 0.7 * this.load) * (1 + 0.01 * gauss(r));
    if (this.active('bearing')) this.wear += 0.004 * dt; // slow, accelerating wear is what operators miss
    if (this.active('drift')) this.drift += 0.05 * dt; // sensor drift, °C per second
    const rise = 30 * (current / this.p.current) ** 2 + 40 * this.wear;
    const tau = 60;
    this.temp += ((this.p.ambient + rise - this.temp) * Math.min(dt, tau)) / tau;
    let vibration = this.p.vibration * (0.6 + 0.4 * this.load) ** 2 * (1 + 3 * this.wear + 2 * this.wear * this.wear) + 0.05 * gauss(r);
    if (this.active('spikes') && r() < 0.08) vibration *= 4 + 2 * r();
    const pressure = this.p.pressure * (0.5 + 0.5 * this.load) * (1 + 0.01 * gauss(r));
    const flow = this.p.flow * Math.sqrt(pressure / this.p.pressure) * (1 + 0.01 * gauss(r));
    return {
      temperature: round(this.temp + this.drift + 0.2 * gauss(r), 2),
      vibration: round(Math.max(0, vibration), 3),
      current: round(current, 2),
      pressure: round(pressure, 3),
      flow: round(flow, 2),
    };
  }
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
      motor: { temperature: { value: reading.temperature, unit: '°C' }, current: { value: reading.current, unit: 'A' } },
      bearing: { vibration: { value: reading.vibration, unit: 'mm/s' } },
      hydraulics: { pressure: { value: reading.pressure, unit: 'bar' }, flow: { value: reading.flow, unit: 'm³/h' } },
    },
  });
}

/**
 * Parses a fault plan: "demo" or a comma list of `<device index or id>:<kind>[@seconds]`,
 * e.g. `3:silence@20,pump-05:bearing`. Unknown kinds are an error, so a typo does not silently do nothing.
 */
export function parseFaults(spec: string, deviceIds: string[], defaultAt = 20): Map<string, Fault[]> {
  const out = new Map<string, Fault[]>();
  const add = (id: string, f: Fault) => out.set(id, [...(out.get(id) ?? []), f]);
  if (!spec || spec === 'none') return out;
  if (spec === 'demo') {
    // spread over the fleet; indices that do not exist in a small fleet are skipped
    const plan: Array<[number, FaultKind, number]> = [
      [2, 'silence', 10],
      [4, 'disconnect', 12],
      [6, 'bearing', 5],
      [8, 'spikes', 5],
      [10, 'drift', 5],
      [12, 'badsig', 8],
      [14, 'replay', 8],
      [16, 'malformed', 8],
    ];
    for (const [i, kind, at] of plan) if (i < deviceIds.length) add(deviceIds[i], { kind, at });
    return out;
  }
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^:]+):([a-z]+)(?:@(\d+(?:\.\d+)?))?$/.exec(part);
    if (!m) throw new Error(`bad fault "${part}": expected <device>:<kind>[@seconds]`);
    const [, who, kind, at] = m;
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown fault kind "${kind}" (one of ${FAULT_KINDS.join(', ')})`);
    const id = /^\d+$/.test(who) ? deviceIds[Number(who)] : who;
    if (!id || !deviceIds.includes(id)) throw new Error(`fault "${part}": no such device`);
    add(id, { kind: kind as FaultKind, at: at === undefined ? defaultAt : Number(at) });
  }
  return out;
}

export function deviceIdFor(index: number): string {
  return `${EQUIPMENT_TYPES[index % EQUIPMENT_TYPES.length]}-${String(index + 1).padStart(3, '0')}`;
}
