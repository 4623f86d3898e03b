// Incidents, not points. `is_anomaly` judges one point; an operator needs to know when something is wrong with
// a machine and when it is over. An alarm opens on one of three kinds of evidence and closes only after a
// quiet spell (hysteresis), so a marginal machine raises one incident instead of flapping:
//
// - persistence: at least `alarmPoints` of the last `alarmWindow` points scored above the threshold. A
//   sustained change opens after alarmPoints points; intermittent spikes or a noisy sensor, which a median
//   hides, open once they recur; a lone excursion of a healthy machine does not.
// - drift: the learned centre (it follows slow drift on normal points) has moved from where calibration put it
//   by more than driftRatio × the threshold, scored by the model itself: a sensor walking away slowly enough
//   to be learned point by point is still caught once the centre is as far out as the most extreme
//   calibration points.
// - flat line: a sensor repeats exactly the same reading for longer than `flatlinePoints` and more than
//   three times its longest repeat during calibration (a stuck sensor looks perfectly normal to the scores).
// - noise: a sensor's point-to-point jitter (running mean of squared first differences, over ~50 points) is
//   above `noiseRatio` × its calibration value. Input averaging and the median hide a noisy sensor from the
//   scores because the noise averages out; its jitter does not.
//
// It closes when no point has been above the threshold, the centre is back within its limit and no sensor is
// flat for `clearPoints` consecutive points. Severity: critical once the smoothed score reaches
// criticalRatio × threshold or the incident has lasted `criticalPoints` points, else warning.
// Everything here is plain JSON in the device state, so it persists with the learned model.
import type { Severity } from '../contract';

export interface IncidentConfig {
  /** anomalous points (raw score above threshold) within alarmWindow that open an alarm; 0 disables alarms */
  alarmPoints: number;
  alarmWindow: number;
  /** consecutive quiet points that close an open alarm */
  clearPoints: number;
  /** a sensor repeating one value this long (and 3× its calibration maximum) is flat-lined; 0 = off */
  flatlinePoints: number;
  /** drift alarm when the centre's own score from its calibrated position exceeds this × threshold; 0 = off */
  driftRatio: number;
  /** an alarm lasting this many points becomes critical; 0 = only by score */
  criticalPoints: number;
  /** noise alarm when a sensor's mean squared point-to-point change exceeds this × its calibration value; 0 = off */
  noiseRatio: number;
  /**
   * a silence in a device's point times at least this long (ms), and at least RESTART_GAP_INTERVALS of its usual
   * intervals, is a restart (a power cut, a reboot): see restartGraceMs. 0 = off
   */
  restartGapMs: number;
  /**
   * for this long (ms, point time) after a restart, no alarm opens and the points do not count toward
   * persistence: a machine starting cold reads far from its calibration until it has warmed up. An alarm open
   * before the silence stays open. 0 = off
   */
  restartGraceMs: number;
}

/**
 * Chosen on the simulator's tuning seeds 1–3 (`npm run eval:sim`), inside ranges where neighbours did as well:
 * 6 of 60 or 120 points and drift ratios 0.3–1 all gave no false alert incident in 363 monitored device-hours; the wider
 * window catches intermittent noise a little more often. A drift ratio of 0.5 also caught a shift small enough
 * to be absorbed into the centre point by point (one 6 σ pressure step that stayed just under the threshold),
 * but in the Node-RED run of test/integration/alerts-trust.test.ts two healthy machines' centres wandered to
 * 0.4 and 0.58 of the threshold: 1 (as far as the most extreme calibration points) keeps a margin.
 * Without the jitter check, half the noise faults and the temperature steps were missed (the scores average
 * them away); with noiseRatio 4 all were caught and healthy machines stayed silent (the ratio of a healthy
 * sensor's ~50-point jitter to its calibration value has a spread of about 0.15).
 */
export const DEFAULT_INCIDENT: IncidentConfig = {
  alarmPoints: 6,
  alarmWindow: 120,
  clearPoints: 120,
  flatlinePoints: 30,
  driftRatio: 1,
  criticalPoints: 1800,
  noiseRatio: 4,
  // 5 s (at 1 Hz the floor of RESTART_GAP_INTERVALS anyway): 120 s until 2026-12-06 let every outage shorter
  // than two minutes page a "sudden jump" the moment the machine came back (a reboot of 12–45 s: 4 of 5 in the
  // operator's run, 24 of 24 in eval:sim with 0.2–1 min outages, 0 of 24 with 10 s); 10 s until 2026-12-07 let cuts
  // of a few seconds do the same (20 of 40 with 0.1–0.25 min, 0 of 40 with 5 s; docs/anomaly.md, Restarts)
  restartGapMs: 5_000,
  restartGraceMs: 300_000,
};

/**
 * The silence that tells a restart on the first point after a device's state was read back from storage. The saved
 * point time lags what the node had handled by up to its save interval (10 s) plus the context store's flush, and
 * points acknowledged meanwhile are not delivered again: after a kill -9 of Node-RED the next point looked 10–15 s
 * after the saved one, a "restart" of every device, whose new alarms then waited 5 minutes (CI, crash test in
 * batch mode, 2026-12-06, the day restartGap went from 120 s to 10 s). 120 s, the gap before, holds that margin.
 */
export const RESUMED_GAP_MS = 120_000;

/** a restart's silence is at least this many of the device's usual intervals (a device reporting every 5 min: 25 min) */
export const RESTART_GAP_INTERVALS = 5;
/**
 * A restart's grace also ends after this many times the points its length holds at the device's usual interval
 * (600 points for 300 s at 1 Hz): it is read in point time, and a device whose timestamps stopped moving after a
 * silence (a frozen clock, or a keyed device sending one time again and again) stayed in it for good, with no
 * anomaly alert for 800 critical points (red-team round 2026-12-07). Twice the length: a device sending faster
 * than usual after a restart keeps most of its grace.
 */
export const RESTART_GRACE_POINTS = 2;
/** intervals seen before the usual one is trusted to tell a restart */
const RESTART_MIN_INTERVALS = 10;
/**
 * A change across a silence of at least this many usual intervals is not point-to-point jitter: the jitter and
 * jump checks skip it (afterSilence). A machine back from a power cut of a few seconds, too short for a restart
 * (restartGapMs), reads at another load: the one change across the cut made the jitter 5–8× its calibration and
 * opened "sudden jump" on every such machine (21 of 21 cuts of 6 s in eval:sim, 2026-12-07).
 */
export const JITTER_GAP_INTERVALS = 3;

/**
 * Whether a point at `at` comes after a silence (JITTER_GAP_INTERVALS usual intervals or more since the device's
 * previous point): its change from that point says nothing of the sensor's jitter. Read before settling() notes
 * the point.
 */
export function afterSilence(s: IncidentState, at: number | undefined): boolean {
  if (at === undefined || !Number.isFinite(at) || s.lastAt === undefined || !(at > s.lastAt)) return false;
  const usual = knownInterval(s);
  return usual !== undefined && at - s.lastAt >= JITTER_GAP_INTERVALS * usual;
}

/** The device's usual interval between points (ms), once enough were seen to trust it; else undefined. */
function knownInterval(s: IncidentState): number | undefined {
  return s.interval !== undefined && (s.intervals ?? 0) >= RESTART_MIN_INTERVALS ? s.interval : undefined;
}
/** weight of a new interval in the usual interval (≈ 20-interval memory) */
const INTERVAL_LAMBDA = 0.05;

/** weight of a new squared difference in the running jitter (≈ 50-point memory) */
const JITTER_LAMBDA = 0.02;

/** mean |Δ| / RMS Δ of Gaussian point-to-point changes (√(2/π)): broad noise sits near it */
const GAUSSIAN_ABS_RATIO = Math.sqrt(2 / Math.PI);
/**
 * Below this mean |Δ| / RMS Δ the jitter of a noise alarm comes from sparse large jumps (intermittent spikes:
 * ≈ 0.4 when 8 % of points carry a spike of 10 σ or more) rather than broad noise (≈ 0.8, whatever its size).
 */
export const SPIKY_ABS_RATIO = 0.55;
/** a point-to-point change above this many calibration RMS changes counts as a jump */
const JUMP_SIZE = 4;
/**
 * Share of jumps among recent changes (same memory as jit) from which sparse jumps are intermittent spikes
 * (8 % of points spiking: ≈ 0.16, a rise and a fall each) rather than one sudden jump (a step: ≤ 0.02, decaying).
 */
export const SPIKE_JUMP_SHARE = 0.05;
/**
 * A noise alarm whose jitter is one sudden jump opens only once the jump is this many points old and the sensor
 * has not come back: a single bad reading (one glitch, a dropout to 0) jumps out and back, which paged an operator
 * for a value that was already normal again (red-team 2026-12-06: one temperature reading 3 °C off, inside the
 * machine's own range, opened "sudden jump" for 2–3 minutes); a step stays.
 */
export const JUMP_CONFIRM_POINTS = 1;
/** a jump within this many points of the one before is a recurrence: it opens as before (spikes) */
const GLITCH_MEMORY_POINTS = 100;

export type AlarmReason = 'persistent' | 'drift' | 'flatline' | 'noise';

export interface IncidentState {
  /** last alarmWindow raw verdicts as 0/1 in ring order */
  hot: number[];
  hotNext: number;
  hotCount: number;
  /** per feature: the last raw value, how many points in a row it has repeated, the longest repeat seen in calibration */
  last: number[] | null;
  run: number[];
  calRun: number[];
  /** per feature: calibration's mean squared point-to-point change (sum and count while calibrating), running value after */
  calJit?: number[];
  calJitN?: number;
  jit?: number[];
  /** per feature after calibration: running mean |point-to-point change| (same memory as jit), to tell spikes from noise */
  jab?: number[];
  /** per feature after calibration: running share of changes larger than JUMP_SIZE × the calibration RMS change */
  jmp?: number[];
  /**
   * per feature after calibration, of the latest jump: the value before it (NaN: none, or a step that stayed),
   * its size, the points since it, and what it (and its jump back, if one followed at once) still adds to jit
   */
  jfrom?: number[];
  jsize?: number[];
  jage?: number[];
  jcon?: number[];
  /** per feature: 1 when the latest jump made the sensor noisy while it was unconfirmed (the alarm held back) */
  jheld?: number[];
  /** the centre at calibration (raw units), for the drift check; null when the method has no centre */
  origin: number[] | null;
  /** open alarm: why, how many points it has lasted, its peak smoothed score / threshold; null = no alarm */
  open: {
    reason: AlarmReason;
    points: number;
    peak: number;
    /** flat-line and noise alarms: the sensor last seen flat or noisy, and what its jitter was made of */
    feature?: number;
    pattern?: 'spikes' | 'jump';
    /** noise alarms: the noisy sensor's largest jitter since the alarm opened, × its calibrated jitter (RMS) */
    jitter?: number;
  } | null;
  quiet: number;
  /** alarms opened since fitting (incidents) */
  incidents: number;
  /** point time (epoch ms) of the latest point, the usual interval between points (ms) and how many were seen */
  lastAt?: number;
  interval?: number;
  intervals?: number;
  /** after a restart: no alarm opens before this point time (epoch ms) */
  graceUntil?: number;
  /** after a restart: points the grace still lasts at most, whatever their times say (RESTART_GRACE_POINTS) */
  graceLeft?: number;
  /**
   * set on a state read back from storage (Node-RED restarted): its lastAt may be behind the last point handled
   * before the stop by up to the node's save interval, so the first gap after it is judged against
   * RESUMED_GAP_MS (see settling); cleared by that first point. Not enumerable: never saved nor exported
   */
  resumed?: boolean;
}

/**
 * Notes a point's time (epoch ms) and says whether the device is settling after a restart (restartGraceMs): a
 * silence since its previous point of at least restartGapMs and RESTART_GAP_INTERVALS usual intervals starts it.
 * A time that is not after the previous one changes no time (a resent or reordered point), but counts toward the
 * grace's bound in points (RESTART_GRACE_POINTS).
 */
export function settling(s: IncidentState, cfg: IncidentConfig, at: number | undefined): boolean {
  if (at === undefined || !Number.isFinite(at) || !(cfg.restartGapMs > 0 && cfg.restartGraceMs > 0)) return false;
  const last = s.lastAt;
  if (last !== undefined && at > last) {
    const dt = at - last;
    const usual = s.interval;
    const known = knownInterval(s);
    const gap = s.resumed ? Math.max(cfg.restartGapMs, RESUMED_GAP_MS) : cfg.restartGapMs;
    delete s.resumed;
    if (known !== undefined && dt >= gap && dt >= RESTART_GAP_INTERVALS * known) {
      s.graceUntil = at + cfg.restartGraceMs;
      s.graceLeft = Math.ceil((RESTART_GRACE_POINTS * cfg.restartGraceMs) / known);
    } else {
      // a restart's silence is not a usual interval
      s.interval = usual === undefined ? dt : usual + INTERVAL_LAMBDA * (dt - usual);
      s.intervals = Math.min((s.intervals ?? 0) + 1, RESTART_MIN_INTERVALS);
    }
  }
  if (last === undefined || at > last) s.lastAt = at;
  if (s.graceUntil === undefined) return false;
  // every point counts toward the bound, one that repeats or goes back in time too
  if (s.graceLeft !== undefined) s.graceLeft--;
  if (at < s.graceUntil && !(s.graceLeft !== undefined && s.graceLeft < 0)) return true;
  delete s.graceUntil;
  delete s.graceLeft;
  return false;
}

export function newIncident(d: number): IncidentState {
  return {
    hot: [],
    hotNext: 0,
    hotCount: 0,
    last: null,
    run: new Array<number>(d).fill(0),
    calRun: new Array<number>(d).fill(0),
    origin: null,
    open: null,
    quiet: 0,
    incidents: 0,
  };
}

/**
 * Counts repeats of each raw feature value; during calibration also records the longest repeat. Tracks each
 * feature's point-to-point jitter and jumps, except across a silence (`silence`, afterSilence()): that change is
 * the new reference only.
 */
export function trackRepeats(s: IncidentState, raw: ArrayLike<number>, calibrating: boolean, silence = false): void {
  const d = raw.length;
  if (!s.last || s.last.length !== d) {
    s.last = Array.from(raw);
    s.run = new Array<number>(d).fill(1);
    if (s.calRun.length !== d) s.calRun = new Array<number>(d).fill(0);
    return;
  }
  if (silence) {
    for (let j = 0; j < d; j++) {
      s.run[j] = raw[j] === s.last[j] ? s.run[j] + 1 : 1;
      s.last[j] = raw[j];
    }
    return;
  }
  const cal = (s.calJit ??= new Array<number>(d).fill(0));
  const jit = (s.jit ??= new Array<number>(d).fill(NaN));
  const jab = calibrating ? null : (s.jab ??= new Array<number>(d).fill(NaN));
  const jmp = calibrating ? null : (s.jmp ??= new Array<number>(d).fill(0));
  const jfrom = calibrating ? null : (s.jfrom ??= new Array<number>(d).fill(NaN));
  const jage = calibrating ? null : (s.jage ??= new Array<number>(d).fill(JUMP_AGE_CAP));
  const jcon = calibrating ? null : (s.jcon ??= new Array<number>(d).fill(0));
  const jsize = calibrating ? null : (s.jsize ??= new Array<number>(d).fill(0));
  const jheld = calibrating ? null : (s.jheld ??= new Array<number>(d).fill(0));
  if (calibrating) s.calJitN = (s.calJitN ?? 0) + 1;
  for (let j = 0; j < d; j++) {
    const diff = raw[j] - s.last[j];
    const d2 = diff * diff;
    if (calibrating) cal[j] += d2;
    else {
      // calibration's mean squared change: the running jitter's seed and the yardstick of a jump
      const base = cal[j] / Math.max(1, s.calJitN ?? 1);
      jit[j] = Number.isFinite(jit[j]) ? jit[j] + JITTER_LAMBDA * (d2 - jit[j]) : base;
      // seeded as broad noise of the running jitter's size (a state saved before jab existed starts the same way)
      jab![j] = Number.isFinite(jab![j])
        ? jab![j] + JITTER_LAMBDA * (Math.abs(diff) - jab![j])
        : GAUSSIAN_ABS_RATIO * Math.sqrt(jit[j]);
      const jump = base > 0 && d2 > JUMP_SIZE * JUMP_SIZE * base ? 1 : 0;
      const share = Number.isFinite(jmp![j]) ? jmp![j] : 0; // a stored state may hold null
      jmp![j] = share + JITTER_LAMBDA * (jump - share);
      // the latest jump: the level before it, kept through the jump back of a glitch (a jump while one is
      // unconfirmed), and its share of jit, which decays as jit forgets it
      const age = Number.isFinite(jage![j]) ? jage![j] : JUMP_AGE_CAP;
      const con = Number.isFinite(jcon![j]) ? jcon![j] * (1 - JITTER_LAMBDA) : 0;
      if (jump && age >= JUMP_CONFIRM_POINTS) {
        // a jump soon after another is a recurrence (intermittent spikes), never excused as a glitch
        jfrom![j] = age < GLITCH_MEMORY_POINTS ? NaN : s.last[j];
        jsize![j] = Math.abs(diff);
        jheld![j] = 0;
        jage![j] = 0;
        jcon![j] = JITTER_LAMBDA * d2;
      } else {
        jage![j] = Math.min(JUMP_AGE_CAP, age + 1);
        jcon![j] = jump ? con + JITTER_LAMBDA * d2 : con;
        // confirmed: back within a quarter of the jump of the level before it is a glitch; otherwise a step,
        // which no longer counts as one (jfrom NaN)
        if (jage![j] === JUMP_CONFIRM_POINTS) {
          if (!(Math.abs(raw[j] - jfrom![j]) < jsize![j] / 4)) jfrom![j] = NaN;
          else jheld![j] = 0; // a glitch: nothing was held back
        }
      }
    }
    s.run[j] = diff === 0 ? s.run[j] + 1 : 1;
    s.last[j] = raw[j];
    if (calibrating && s.run[j] > s.calRun[j]) s.calRun[j] = s.run[j];
  }
}

/** points since a jump are counted up to this (a stored state stays small) */
const JUMP_AGE_CAP = 1_000_000;

/**
 * Whether feature j's jitter is above the noise limit only because of its latest jump, and that jump is a
 * glitch or may still be one: younger than JUMP_CONFIRM_POINTS, or confirmed as one (back within a quarter of the jump
 * of the level before it, JUMP_CONFIRM_POINTS after it) and the first jump for GLITCH_MEMORY_POINTS. A step that
 * stayed, recurring spikes and broad noise are not.
 */
function onlyAGlitch(s: IncidentState, j: number, cfg: IncidentConfig): boolean {
  if (!s.jfrom || !s.jcon || !s.jit || !s.calJit || !s.calJitN) return false;
  if (!Number.isFinite(s.jfrom[j])) return false;
  const con = Number.isFinite(s.jcon[j]) ? s.jcon[j] : 0;
  return s.jit[j] - con <= cfg.noiseRatio * (s.calJit[j] / s.calJitN);
}

/**
 * The first feature whose jitter is above noiseRatio × its calibration jitter, or whose jump made it so and
 * turned out a step while its alarm was held back (onlyAGlitch; the jitter may have decayed under the limit
 * since), or -1.
 */
function noisyFeature(s: IncidentState, cfg: IncidentConfig): number {
  if (cfg.noiseRatio <= 0 || !s.jit || !s.calJit || !s.calJitN) return -1;
  for (let j = 0; j < s.jit.length; j++) {
    if (jitterVsCalibration(s, j) > cfg.noiseRatio) return j;
    if (s.jheld?.[j] === 1 && !Number.isFinite(s.jfrom?.[j] ?? NaN)) return j;
  }
  return -1;
}

/**
 * Feature j's mean square point-to-point change now, × during calibration; NaN without a calibration to compare
 * with, or for a sensor that never changed during calibration (the flat-line rules cover it).
 */
function jitterVsCalibration(s: IncidentState, j: number): number {
  const base = s.jit && s.calJit && s.calJitN ? s.calJit[j] / s.calJitN : NaN;
  return base > 0 ? s.jit![j] / base : NaN;
}

/**
 * What a noisy feature's jitter is made of: sparse large changes (mean |Δ| well below RMS Δ) that recur
 * (`spikes`) or one that does not (`jump`, a step); undefined for broad noise or when unknown.
 */
function jitterPattern(s: IncidentState, j: number): 'spikes' | 'jump' | undefined {
  const rms = s.jit ? Math.sqrt(s.jit[j]) : NaN;
  const abs = s.jab ? s.jab[j] : NaN;
  if (!(Number.isFinite(rms) && rms > 0 && Number.isFinite(abs) && abs < SPIKY_ABS_RATIO * rms)) return undefined;
  const share = s.jmp ? s.jmp[j] : NaN;
  if (!Number.isFinite(share)) return undefined;
  return share >= SPIKE_JUMP_SHARE ? 'spikes' : 'jump';
}

/** The first feature flat for longer than allowed, or -1. */
function flatFeature(s: IncidentState, cfg: IncidentConfig): number {
  // without having seen the calibration (a model loaded or restored from before alarms existed) there is no
  // measure of how often a sensor repeats itself: a quantised sensor would look stuck
  if (cfg.flatlinePoints <= 0 || !s.calJitN) return -1;
  for (let j = 0; j < s.run.length; j++) if (s.run[j] >= Math.max(cfg.flatlinePoints, 3 * s.calRun[j] + 1)) return j;
  return -1;
}

export interface AlarmVerdict {
  alarm: boolean;
  /** the alarm opened on this point */
  opened: boolean;
  /** the alarm closed on this point */
  closed: boolean;
  reason?: AlarmReason;
  severity: Severity | 'normal';
  /** index of the flat-lined feature when reason is flatline, of the noisy one when reason is noise */
  feature?: number;
  /** reason noise: the sensor's jitter is not broad noise but recurring sparse jumps (spikes) or one sudden jump */
  pattern?: 'spikes' | 'jump';
  /** reason noise: the largest jitter of the noisy sensor since the alarm opened, × its calibrated jitter (RMS) */
  jitter?: number;
}

/**
 * One scored point: `hot` = its raw score was above the threshold, `drift` = the centre's score from its
 * calibrated position relative to the threshold (NaN when unknown), `smoothed`/`threshold` grade severity.
 */
export function updateIncident(
  s: IncidentState,
  cfg: IncidentConfig,
  hot: boolean,
  drift: number,
  smoothed: number,
  threshold: number,
  criticalRatio: number,
  /** settling after a restart (settling()): the point neither counts toward persistence nor opens an alarm */
  hold = false
): AlarmVerdict {
  const n = Math.max(1, cfg.alarmWindow);
  const bit = hot && !hold ? 1 : 0;
  if (s.hot.length < n) {
    s.hot.push(bit);
    s.hotCount += bit;
  } else {
    const pos = s.hotNext % s.hot.length;
    s.hotCount += bit - s.hot[pos];
    s.hot[pos] = bit;
    s.hotNext = (pos + 1) % s.hot.length;
  }
  if (cfg.alarmPoints <= 0) return { alarm: false, opened: false, closed: false, severity: 'normal' };
  const flat = flatFeature(s, cfg);
  const noisy = noisyFeature(s, cfg);
  const drifting = cfg.driftRatio > 0 && drift > cfg.driftRatio;
  const reason: AlarmReason | null =
    s.hotCount >= cfg.alarmPoints
      ? 'persistent'
      : drifting
        ? 'drift'
        : flat >= 0
          ? 'flatline'
          : noisy >= 0
            ? 'noise'
            : null;
  let opened = false;
  let closed = false;
  if (!s.open) {
    // one sudden jump opens a noise alarm only once it has stayed (JUMP_CONFIRM_POINTS)
    const glitch = reason === 'noise' && onlyAGlitch(s, noisy, cfg);
    if (glitch && s.jheld && s.jage && s.jage[noisy] < JUMP_CONFIRM_POINTS) s.jheld[noisy] = 1;
    if (reason === 'noise' && !glitch && s.jheld) s.jheld[noisy] = 0; // the held-back alarm opens now, once
    if (reason && !glitch && !hold) {
      s.open = { reason, points: 0, peak: 0 };
      s.incidents++;
      s.quiet = 0;
      opened = true;
    }
  } else if (hot || drifting || flat >= 0 || noisy >= 0) {
    s.quiet = 0;
    // the alarm names what keeps it open: once the evidence it opened on is gone and other evidence holds it (a
    // bearing fault starting while a "sudden jump on motor_temperature" waited out its quiet spell), it takes the
    // new reason, and the sensor that one names. Before, the alarm went critical on the new fault and still sent
    // the operator to the first sensor (red-team round 2026-12-06).
    // a point above the threshold is persistent evidence still there: after a restart the settling points count
    // no persistence (hold), and the ring then holds too few hot points for a while although every point is hot;
    // a bearing fault open as persistent was renamed "sensor bearing_vibration noisy" then (operator round
    // 2026-12-06)
    const held: Record<AlarmReason, boolean> = {
      persistent: s.hotCount >= cfg.alarmPoints || hot,
      drift: drifting,
      flatline: flat >= 0,
      noise: noisy >= 0,
    };
    if (reason !== null && reason !== s.open.reason && !held[s.open.reason]) {
      s.open.reason = reason;
      delete s.open.feature;
      delete s.open.pattern;
      delete s.open.jitter;
    }
  } else if (++s.quiet >= cfg.clearPoints) {
    s.open = null;
    s.quiet = 0;
    closed = true;
  }
  if (!s.open) return { alarm: false, opened, closed, severity: 'normal' };
  s.open.points++;
  const rel = threshold > 0 ? smoothed / threshold : 0;
  if (rel > s.open.peak) s.open.peak = rel;
  const long = cfg.criticalPoints > 0 && s.open.points >= cfg.criticalPoints;
  const severity: Severity = rel >= criticalRatio || long ? 'critical' : 'warning';
  const v: AlarmVerdict = { alarm: true, opened, closed, reason: s.open.reason, severity };
  // the alarm keeps naming the sensor (and, for noise, what its jitter was made of) after the check that opened
  // it has calmed down while the alarm waits out its quiet spell: an operator reads the latest message
  if (s.open.reason === 'flatline' && flat >= 0) s.open.feature = flat;
  if (s.open.reason === 'noise' && noisy >= 0) {
    if (s.open.feature !== noisy) delete s.open.jitter;
    s.open.feature = noisy;
    // how far the sensor's reading moves from one point to the next against calibration: what makes a spikes
    // alarm read as real when the model's score is low (operator round 2026-12-06: "intermittent spikes on
    // sensor bearing_vibration (pca score 0.049, threshold 1)" read as a false alarm)
    const ratio = Math.sqrt(jitterVsCalibration(s, noisy)); // RMS, as a person reads "N× as much"
    if (Number.isFinite(ratio) && !(ratio <= (s.open.jitter ?? 0))) s.open.jitter = ratio;
    // spikes, once seen, stay the alarm's pattern: when they stop, the decaying jitter of their last few jumps
    // would read as one jump
    const pattern = jitterPattern(s, noisy);
    if (s.open.pattern !== 'spikes') {
      if (pattern) s.open.pattern = pattern;
      else delete s.open.pattern;
    }
  }
  if (s.open.feature !== undefined) v.feature = s.open.feature;
  if (s.open.pattern !== undefined) v.pattern = s.open.pattern;
  if (s.open.reason === 'noise' && s.open.jitter !== undefined) v.jitter = s.open.jitter;
  return v;
}

function isNums(v: unknown, len?: number): boolean {
  return (
    Array.isArray(v) &&
    (len === undefined || v.length === len) &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/** One running value per feature, as stored: numbers, or null where JSON wrote a NaN (not yet seeded). */
function isRunningValues(v: unknown, d: number): boolean {
  return Array.isArray(v) && v.length === d && v.every((x) => typeof x === 'number' || x === null);
}

/** Shape check for incident state read from outside (context store, load); null when usable. */
export function validateIncident(v: unknown, d: number, window: number): string | null {
  if (typeof v !== 'object' || v === null) return 'incident state is not an object';
  const s = v as Partial<IncidentState>;
  if (
    !isNums(s.hot) ||
    (s.hot as number[]).length > Math.max(1, window) ||
    !(s.hot as number[]).every((b) => b === 0 || b === 1)
  )
    return 'incident hot ring must be 0/1 values';
  if (
    !Number.isInteger(s.hotNext) ||
    !Number.isInteger(s.hotCount) ||
    !Number.isInteger(s.quiet) ||
    !Number.isInteger(s.incidents)
  )
    return 'incident counters must be integers';
  if (s.last !== null && !isNums(s.last, d)) return 'incident last row must be numbers, one per feature';
  if (!isNums(s.run, d) || !isNums(s.calRun, d)) return 'incident runs must be numbers, one per feature';
  if (s.origin !== null && !isNums(s.origin, d)) return 'incident origin must be numbers, one per feature';
  if (s.calJit !== undefined && !isNums(s.calJit, d))
    return 'incident calibration jitter must be numbers, one per feature';
  if (s.jit !== undefined && !isRunningValues(s.jit, d)) return 'incident jitter must be one number per feature';
  if (s.jab !== undefined && !isRunningValues(s.jab, d))
    return 'incident mean absolute change must be one number per feature';
  if (s.jmp !== undefined && !isRunningValues(s.jmp, d)) return 'incident jump share must be one number per feature';
  if (s.jfrom !== undefined && !isRunningValues(s.jfrom, d))
    return 'incident level before a jump must be one number per feature';
  if (s.jage !== undefined && !isRunningValues(s.jage, d)) return 'incident jump age must be one number per feature';
  if (s.jcon !== undefined && !isRunningValues(s.jcon, d)) return 'incident jump jitter must be one number per feature';
  if (s.jsize !== undefined && !isRunningValues(s.jsize, d)) return 'incident jump size must be one number per feature';
  if (s.jheld !== undefined && !isRunningValues(s.jheld, d)) return 'incident held jump must be one number per feature';
  if (s.calJitN !== undefined && !Number.isInteger(s.calJitN)) return 'incident calibration count must be an integer';
  for (const k of ['lastAt', 'interval', 'graceUntil', 'graceLeft'] as const)
    if (s[k] !== undefined && !Number.isFinite(s[k])) return `incident ${k} must be a number`;
  if (s.intervals !== undefined && !(Number.isInteger(s.intervals) && s.intervals >= 0))
    return 'incident intervals must be a count';
  const o = s.open;
  if (
    o !== null &&
    (typeof o !== 'object' ||
      !Number.isFinite(o.points) ||
      !Number.isFinite(o.peak) ||
      !['persistent', 'drift', 'flatline', 'noise'].includes(o.reason as string) ||
      (o.feature !== undefined && !(Number.isInteger(o.feature) && o.feature >= 0 && o.feature < d)) ||
      (o.pattern !== undefined && o.pattern !== 'spikes' && o.pattern !== 'jump') ||
      (o.jitter !== undefined && !(Number.isFinite(o.jitter) && o.jitter >= 0)))
  )
    return 'incident open alarm is malformed';
  return null;
}
