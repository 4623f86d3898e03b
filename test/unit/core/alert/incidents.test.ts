// Incidents instead of points: the persistence (k of n) rule that opens an alarm, the hysteresis that closes
// it, drift from calibration and flat-lined sensors; alerts following msg.anomaly.alarm; maintenance (mute)
// windows in the alert API.
import assert from 'node:assert/strict';
import {
  DEFAULT_INCIDENT,
  IncidentConfig,
  JUMP_CONFIRM_POINTS,
  newIncident,
  trackRepeats,
  updateIncident,
  validateIncident,
} from '../../../../nodes/core/anomaly/incident';
import { defaultsFor, newState, step, validateState } from '../../../../nodes/core/anomaly/detector';
import { AlertEngine } from '../../../../nodes/core/alert/engine';
import { handleAlertApi, type ApiHost, type ApiRequest } from '../../../../nodes/core/alert/api';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';
import { MuteTable, parseMuteBody, MAX_MUTE_MS } from '../../../../nodes/core/alert/mute';
import { mulberry32, gaussian } from '../../../../nodes/core/prng';

const CFG: IncidentConfig = {
  ...DEFAULT_INCIDENT,
  alarmPoints: 3,
  alarmWindow: 10,
  clearPoints: 5,
  flatlinePoints: 0,
  driftRatio: 0,
  criticalPoints: 0,
};

/** Feeds raw verdicts (1 = above threshold) and returns the alarm state after each. */
function run(bits: number[], cfg = CFG) {
  const s = newIncident(2);
  return bits.map((b) => updateIncident(s, cfg, b === 1, NaN, b ? 1.5 : 0.5, 1, 2));
}

/** Two steady sensors calibrated for 300 points, then 300 more tracked: the start of the reason tests below. */
function calibratedTwoSensors(seed: number) {
  const r = mulberry32(seed);
  const s = newIncident(2);
  const cfg = { ...CFG, noiseRatio: 4, clearPoints: 120 };
  for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], true);
  for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], false);
  return { r, s, cfg };
}

describe('anomaly incidents: persistence and hysteresis', () => {
  it('opens only when k of the last n points are anomalous', () => {
    // two isolated anomalous points within the window: no alarm; the third inside the window opens it
    const v = run([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1]);
    assert.equal(
      v.slice(0, 18).some((x) => x.alarm),
      false
    );
    assert.equal(v[18].alarm, true);
    assert.equal(v[18].opened, true);
    // the same three points spread wider than the window never open it
    const spread = run([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(
      spread.some((x) => x.alarm),
      false
    );
  });

  it('closes only after clearPoints quiet points, and an anomalous point restarts the count (no flapping)', () => {
    const v = run([1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert.equal(v[2].opened, true);
    // 4 quiet points, then an anomalous one: still open
    assert.ok(v.slice(2, 12).every((x) => x.alarm));
    assert.equal(v[12].alarm, false);
    assert.equal(v[12].closed, true);
    assert.equal(v.filter((x) => x.opened).length, 1, 'one incident');
  });

  it('grades severity by how far (criticalRatio) and how long (criticalPoints) the alarm lasts', () => {
    const s = newIncident(1);
    const cfg = { ...CFG, criticalPoints: 5 };
    const sev: string[] = [];
    for (let i = 0; i < 8; i++) sev.push(updateIncident(s, cfg, true, NaN, 1.2, 1, 2).severity);
    assert.deepEqual(sev, ['normal', 'normal', 'warning', 'warning', 'warning', 'warning', 'critical', 'critical']);
    const far = newIncident(1);
    const v = [1, 1, 1].map(() => updateIncident(far, CFG, true, NaN, 2.5, 1, 2));
    assert.equal(v[2].severity, 'critical');
  });

  it('alarmPoints 0 turns alarms off', () => {
    assert.equal(
      run([1, 1, 1, 1, 1], { ...CFG, alarmPoints: 0 }).some((x) => x.alarm),
      false
    );
  });

  it('opens on drift beyond the ratio and on a flat-lined sensor', () => {
    const s = newIncident(1);
    assert.equal(updateIncident(s, { ...CFG, driftRatio: 1 }, false, 0.9, 0.5, 1, 2).alarm, false);
    const d = updateIncident(s, { ...CFG, driftRatio: 1 }, false, 1.1, 0.5, 1, 2);
    assert.equal(d.alarm, true);
    assert.equal(d.reason, 'drift');

    const f = newIncident(2);
    const cfg = { ...CFG, flatlinePoints: 5 };
    // calibration: feature 1 repeats at most twice in a row, so flat means max(5, 3·2 + 1) = 7 repeats
    for (const r of [
      [1, 5],
      [2, 5],
      [3, 6],
      [4, 7],
      [5, 7],
    ])
      trackRepeats(f, r, true);
    let last;
    for (let i = 0; i < 7; i++) {
      trackRepeats(f, [10 + i, 8], false);
      last = updateIncident(f, cfg, false, NaN, 0.5, 1, 2);
      if (i < 6) assert.equal(last.alarm, false, `flat for ${i + 1} points is not yet a fault`);
    }
    assert.equal(last!.alarm, true);
    assert.equal(last!.reason, 'flatline');
    assert.equal(last!.feature, 1);
  });

  it('opens on a noisy sensor: jitter above noiseRatio × its calibration jitter', () => {
    const r = mulberry32(3);
    const s = newIncident(2);
    const cfg = { ...CFG, noiseRatio: 4 };
    for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], true);
    let v;
    for (let i = 0; i < 300; i++) {
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], false);
      v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
      assert.equal(v.alarm, false, `healthy jitter at point ${i}`);
    }
    let opened = -1;
    for (let i = 0; i < 200 && opened < 0; i++) {
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.3 * gaussian(r)], false); // noise ×3 on feature 1
      v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
      if (v.alarm) opened = i;
    }
    assert.ok(opened > 0 && opened < 200, `opened after ${opened} points`);
    assert.equal(v!.reason, 'noise');
    assert.equal(v!.feature, 1);
    for (let i = 0; i < 100; i++) {
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.3 * gaussian(r)], false);
      v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
      assert.equal(v.pattern, undefined, `broad noise is not called spikes (point ${i})`);
    }
  });

  it('a noise alarm from intermittent spikes says so: sparse large jumps, not broad noise', () => {
    const r = mulberry32(5);
    const s = newIncident(2);
    const cfg = { ...CFG, noiseRatio: 4 };
    for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], true);
    for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], false);
    let v;
    let opened = -1;
    const spikes: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      // 8 % of the points of feature 0 carry a spike of 10–30 σ, as the simulator's spikes fault
      const spike = r() < 0.08 ? (1 + 2 * r()) * 1.0 : 0;
      trackRepeats(s, [10 + 0.1 * gaussian(r) + spike, 5 + 0.1 * gaussian(r)], false);
      v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
      if (v.alarm && opened < 0) opened = i;
      if (v.alarm && v.reason === 'noise') spikes.push(v.pattern === 'spikes');
    }
    assert.ok(opened >= 0, 'the spikes open a noise alarm');
    assert.equal(v!.reason, 'noise');
    assert.equal(v!.feature, 0);
    const share = spikes.filter(Boolean).length / spikes.length;
    assert.ok(share > 0.9, `called spikes on ${(100 * share).toFixed(0)} % of the alarm's points`);
  });

  it('a noise alarm from one sudden jump (a step) is called a jump, not spikes', () => {
    const r = mulberry32(7);
    const s = newIncident(2);
    const cfg = { ...CFG, noiseRatio: 4 };
    for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], true);
    for (let i = 0; i < 300; i++) trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)], false);
    const patterns = new Set<string | undefined>();
    for (let i = 0; i < 60; i++) {
      // feature 1 steps up by 30 σ and stays there
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + (i >= 10 ? 3 : 0) + 0.1 * gaussian(r)], false);
      const v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
      if (!v.alarm) continue;
      // after the jump's jitter has decayed, the open alarm still names the sensor and what it saw
      assert.equal(v.reason, 'noise');
      assert.equal(v.feature, 1);
      patterns.add(v.pattern);
    }
    assert.deepEqual([...patterns], ['jump']);
  });

  it('an open alarm whose own evidence is gone takes the reason of the evidence that holds it now (red-team 2026-12-06)', () => {
    const { r, s, cfg } = calibratedTwoSensors(7);
    const reasons: string[] = [];
    for (let i = 0; i < 200; i++) {
      // feature 1 is off by 30 σ for 4 readings (a jump that does not stay); from point 150 the scores run above
      // the threshold (another fault), while the jump's alarm still waits out its quiet spell
      const off = i >= 10 && i < 14 ? 3 : 0;
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + off + 0.1 * gaussian(r)], false);
      const v = updateIncident(s, cfg, i >= 150, NaN, i >= 150 ? 1.5 : 0.5, 1, 2);
      if (v.alarm) reasons.push(`${v.reason}${v.feature === undefined ? '' : `:${v.feature}`}`);
    }
    const seen = reasons.filter((x, k) => x !== reasons[k - 1]);
    assert.deepEqual(seen, ['noise:1', 'persistent'], 'one alarm, first the jump, then what holds it');
    assert.equal(s.incidents, 1);
  });

  it("a noise alarm carries the noisy sensor's largest jitter × its calibrated jitter", () => {
    const { r, s, cfg } = calibratedTwoSensors(5);
    let last: ReturnType<typeof updateIncident> | undefined;
    const jitters: number[] = [];
    for (let i = 0; i < 300; i++) {
      // feature 1's noise grows 10-fold from point 50, then goes back to calibration from point 150
      const sd = i >= 50 && i < 150 ? 1 : 0.1;
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + sd * gaussian(r)], false);
      last = updateIncident(s, cfg, false, NaN, 0.2, 1, 2);
      if (last.alarm && last.jitter !== undefined) jitters.push(last.jitter);
    }
    assert.ok(jitters.length > 0, 'a noise alarm with its jitter');
    const peak = Math.max(...jitters);
    assert.ok(peak > 6 && peak < 14, `peak ${peak} near the 10-fold noise`);
    for (let k = 1; k < jitters.length; k++) assert.ok(jitters[k] >= jitters[k - 1], 'the largest since it opened');
    assert.equal(validateIncident(JSON.parse(JSON.stringify(s)), 2, CFG.alarmWindow), null, 'kept with the state');
  });

  it('a persistent alarm keeps its reason while a restart settles: the settling points count no persistence, which is not its evidence going (operator round 2026-12-06)', () => {
    // a bearing fault, open as persistent, with its vibration noisy; after a restart the settling points count
    // no persistence, and the alarm was renamed "sensor bearing_vibration noisy", pointing at the sensor
    const { r, s, cfg } = calibratedTwoSensors(11);
    const reasons: string[] = [];
    for (let i = 0; i < 400; i++) {
      // from point 100 feature 1 jitters far beyond its calibration (noisy); points 150-349 are a restart's settling
      const jitter = i >= 100 ? 3 * gaussian(r) : 0;
      trackRepeats(s, [10 + 0.1 * gaussian(r), 5 + jitter + 0.1 * gaussian(r)], false);
      const v = updateIncident(s, cfg, true, NaN, 50, 1, 2, i >= 150 && i < 350);
      if (v.alarm) reasons.push(`${v.reason}${v.feature === undefined ? '' : `:${v.feature}`}`);
    }
    const seen = reasons.filter((x, k) => x !== reasons[k - 1]);
    assert.deepEqual(seen, ['persistent'], 'one alarm, named for what it is');
    assert.equal(s.incidents, 1);
  });

  it('one bad reading (out and straight back, or a dropout to 0) opens no alarm; the same jump that stays opens one JUMP_CONFIRM_POINTS later (red-team 2026-12-06)', () => {
    const healthy = (r: () => number) => [10 + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)];
    const calibrated = (seed: number) => {
      const r = mulberry32(seed);
      const s = newIncident(2);
      for (let i = 0; i < 300; i++) trackRepeats(s, healthy(r), true);
      for (let i = 0; i < 300; i++) trackRepeats(s, healthy(r), false);
      return { r, s };
    };
    const cfg = { ...CFG, noiseRatio: 4 };
    for (const [name, glitch] of [
      ['+30 σ for one reading', 3],
      ['a dropout to 0', -5],
    ] as const) {
      const { r, s } = calibrated(11);
      for (let i = 0; i < 200; i++) {
        const x = healthy(r);
        if (i === 20) x[1] += glitch;
        trackRepeats(s, x, false);
        const v = updateIncident(s, cfg, false, NaN, 0.5, 1, 2);
        assert.equal(v.alarm, false, `${name}: alarm at point ${i}`);
      }
    }
    const { r, s } = calibrated(11);
    let opened = -1;
    for (let i = 0; i < 60 && opened < 0; i++) {
      const x = healthy(r);
      if (i >= 20) x[1] += 3;
      trackRepeats(s, x, false);
      if (updateIncident(s, cfg, false, NaN, 0.5, 1, 2).opened) opened = i;
    }
    assert.equal(opened, 20 + JUMP_CONFIRM_POINTS, 'a step opens once it has stayed');
  });

  it('without a seen calibration (model loaded from elsewhere) the flat-line check stays off', () => {
    const f = newIncident(1);
    for (let i = 0; i < 100; i++) trackRepeats(f, [3], false);
    assert.equal(updateIncident(f, { ...CFG, flatlinePoints: 5 }, false, NaN, 0.5, 1, 2).alarm, false);
  });

  it('a sensor that was constant during calibration is never called flat-lined', () => {
    const f = newIncident(1);
    for (let i = 0; i < 50; i++) trackRepeats(f, [3], true);
    for (let i = 0; i < 100; i++) trackRepeats(f, [3], false);
    assert.equal(updateIncident(f, { ...CFG, flatlinePoints: 5 }, false, NaN, 0.5, 1, 2).alarm, false);
  });

  it('validates stored incident state', () => {
    assert.equal(validateIncident(newIncident(2), 2, 10), null);
    assert.equal(validateIncident({ ...newIncident(2), jab: [0.1, null] }, 2, 10), null);
    const noise = { reason: 'noise', points: 3, peak: 0.2, feature: 1 };
    assert.equal(validateIncident({ ...newIncident(2), open: { ...noise, jitter: 7.3 } }, 2, 10), null);
    assert.equal(
      validateIncident({ ...newIncident(2), open: { ...noise, jitter: 'x' } }, 2, 10),
      'incident open alarm is malformed'
    );
    assert.match(validateIncident({ ...newIncident(2), jab: [0.1] }, 2, 10)!, /mean absolute change/);
    assert.match(validateIncident({ ...newIncident(2), jmp: [0, 0, 0] }, 2, 10)!, /jump share/);
    const open = { reason: 'noise' as const, points: 3, peak: 0.5 };
    assert.equal(validateIncident({ ...newIncident(2), open: { ...open, feature: 1, pattern: 'jump' } }, 2, 10), null);
    assert.match(validateIncident({ ...newIncident(2), open: { ...open, feature: 2 } }, 2, 10)!, /open alarm/);
    assert.match(
      validateIncident({ ...newIncident(2), open: { ...open, pattern: 'glitch' } } as never, 2, 10)!,
      /open alarm/
    );
    assert.match(validateIncident({ ...newIncident(2), hot: [2] }, 2, 10)!, /0\/1/);
    assert.match(validateIncident({ ...newIncident(2), run: [1] }, 2, 10)!, /runs/);
    assert.match(
      validateIncident({ ...newIncident(2), open: { reason: 'nope', points: 1, peak: 1 } }, 2, 10)!,
      /malformed/
    );
  });
});

describe('anomaly detector with incidents', () => {
  const cfg = { ...defaultsFor('pca'), trainSize: 200 };
  function healthyRow(r: () => number): number[] {
    const load = gaussian(r);
    return [10 + load + 0.1 * gaussian(r), 20 + 2 * load + 0.1 * gaussian(r), 5 + 0.1 * gaussian(r)];
  }

  it('one sustained fault is one incident, with msg.anomaly.alarm and the reason', () => {
    const r = mulberry32(5);
    const s = newState(cfg, ['a', 'b', 'c']);
    const alarms: boolean[] = [];
    let opened = 0;
    for (let i = 0; i < 1200; i++) {
      const x = healthyRow(r);
      if (i >= 600 && i < 700) x[2] += 5; // a step on one sensor for 100 points
      const res = step(cfg, s, x);
      if (res.kind !== 'result') continue;
      alarms.push(res.anomaly.alarm === true);
      if (res.anomaly.incident?.opened) {
        opened++;
        // a 50-noise-σ jump trips the jitter check at once, the persistence rule six points later
        assert.ok(['persistent', 'noise'].includes(res.anomaly.incident.reason), res.anomaly.incident.reason);
      }
    }
    assert.equal(opened, 1);
    assert.ok(
      alarms.slice(0, 390).every((a) => !a),
      'no alarm before the fault'
    );
    assert.equal(alarms[alarms.length - 1], false, 'closed after the fault');
    assert.equal(validateState(JSON.parse(JSON.stringify(s)), cfg), null, 'state with incident round-trips');
  });

  it('catches a slow single-sensor drift the centre would otherwise follow', () => {
    const r = mulberry32(9);
    const s = newState(cfg, ['a', 'b', 'c']);
    let reason: string | undefined;
    for (let i = 0; i < 6000 && !reason; i++) {
      const x = healthyRow(r);
      if (i >= 400) x[2] += (i - 400) * 0.002; // 0.2 σ per 100 points
      const res = step(cfg, s, x);
      if (res.kind === 'result' && res.anomaly.alarm) reason = res.anomaly.incident?.reason;
    }
    assert.ok(reason === 'drift' || reason === 'persistent', `alarm raised (${reason})`);
  });
});

describe('alerts follow msg.anomaly.alarm', () => {
  const point = { tags: { device_id: 'd1' } };
  it('opens on alarm even for a point below threshold, and resolves at once when it closes', () => {
    let now = 0;
    const e = new AlertEngine({ now: () => now, autoResolvePoints: 3 });
    const apply = (anomaly: object) => {
      const r = signalsFromMessage({ payload: point, anomaly });
      assert.ok(r.ok);
      return r.signals.flatMap((s) => {
        const o = e.apply(s);
        assert.ok(o.ok);
        return o.events.map((ev) => ev.event);
      });
    };
    const base = { score: 0.5, threshold: 1, severity: 'normal', method: 'pca', contributions: {} };
    assert.deepEqual(
      apply({
        ...base,
        is_anomaly: false,
        alarm: true,
        incident: { reason: 'drift', severity: 'warning', points: 1, opened: true },
      }),
      ['open']
    );
    assert.match(e.list()[0].message, /drift/);
    // a normal point while the alarm holds changes nothing (hysteresis lives in the anomaly node)
    now = 1;
    for (let i = 0; i < 5; i++)
      assert.deepEqual(
        apply({
          ...base,
          is_anomaly: false,
          alarm: true,
          incident: { reason: 'drift', severity: 'warning', points: 2 + i, opened: false },
        }),
        []
      );
    assert.equal(e.openCount(), 1);
    assert.deepEqual(apply({ ...base, is_anomaly: false, alarm: false }), ['resolve']);
  });

  it('without alarm (e.g. onnx) the point verdict and auto-resolve after N points still apply', () => {
    const e = new AlertEngine({ autoResolvePoints: 2 });
    const sig = (is_anomaly: boolean) => {
      const r = signalsFromMessage({
        payload: point,
        anomaly: {
          score: is_anomaly ? 2 : 0.1,
          threshold: 1,
          is_anomaly,
          severity: is_anomaly ? 'warning' : 'normal',
          method: 'onnx',
          contributions: {},
        },
      });
      assert.ok(r.ok);
      return r.signals.flatMap((s) => (e.apply(s) as { events: Array<{ event: string }> }).events.map((x) => x.event));
    };
    assert.deepEqual(sig(true), ['open']);
    assert.deepEqual(sig(false), []);
    assert.deepEqual(sig(false), ['resolve']);
  });

  it('takes the incident severity over the point severity', () => {
    const r = signalsFromMessage({
      payload: point,
      anomaly: {
        score: 1.1,
        threshold: 1,
        is_anomaly: true,
        severity: 'warning',
        method: 'pca',
        contributions: {},
        alarm: true,
        incident: { reason: 'persistent', severity: 'critical', points: 2000, opened: false },
      },
    });
    assert.ok(r.ok && r.signals[0].severity === 'critical');
  });
});

describe('maintenance (mute) windows', () => {
  it('MuteTable: a window ends by itself, can be ended early, survives a snapshot', () => {
    let now = 1000;
    const t = new MuteTable(() => now);
    t.set({ device_id: 'pump-1', until: 5000, by: 'kim', note: 'bearing swap', at: now });
    assert.equal(t.isMuted('pump-1'), true);
    assert.equal(t.isMuted('pump-2'), false);
    const copy = new MuteTable(() => now);
    assert.equal(copy.restore(JSON.parse(JSON.stringify(t.snapshot()))), 1);
    assert.equal(copy.get('pump-1')?.note, 'bearing swap');
    now = 5000;
    assert.equal(t.isMuted('pump-1'), false, 'expired at until');
    assert.equal(
      copy.restore([{ device_id: 'x', until: 4000 }, { device_id: '../bad', until: 9e12 }, null]),
      0,
      'expired and malformed entries are skipped'
    );
    t.set({ device_id: 'fan-1', until: 9000, by: 'kim', at: now });
    assert.equal(t.clear('fan-1')?.device_id, 'fan-1');
    assert.equal(t.isMuted('fan-1'), false);
  });

  it('parseMuteBody: until, minutes or the one-hour default; refuses the past, too long, bad types', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.deepEqual(parseMuteBody('{"minutes": 30, "by": "kim"}', now), { ok: true, until: now + 1800000, by: 'kim' });
    assert.equal((parseMuteBody('', now) as { until: number }).until, now + 3600000);
    const iso = parseMuteBody(JSON.stringify({ until: new Date(now + 7200000).toISOString(), note: 'n' }), now);
    assert.deepEqual(iso, { ok: true, until: now + 7200000, by: 'api', note: 'n' });
    assert.equal(
      (parseMuteBody(JSON.stringify({ until: Math.floor((now + 60000) / 1000) }), now) as { until: number }).until,
      now + 60000,
      'epoch seconds'
    );
    for (const bad of [
      '{"until": 1}',
      `{"until": ${now + MAX_MUTE_MS + 1000}}`,
      '{"minutes": -1}',
      '{"until": "soon"}',
      '{"by": 5}',
      '[1]',
      '{"__proto__": {}}',
      '{"a":',
    ]) {
      const r = parseMuteBody(bad, now);
      assert.equal(r.ok, false, bad);
    }
    // who muted and why reach the API, the panel and InfluxDB: printable prose only, named by field
    for (const [body, field] of [
      [{ by: 'kim\u202e' }, 'by'],
      [{ by: 'kim', note: 'a\u0000b' }, 'note'],
    ] as const) {
      const r = parseMuteBody(JSON.stringify(body), now) as { ok: boolean; status: number; field: string };
      assert.deepEqual([r.ok, r.status, r.field], [false, 400, field], JSON.stringify(body));
    }
    assert.equal(parseMuteBody(JSON.stringify({ by: "O'Brien", note: 'seal <B> & bearing' }), now).ok, true);
  });

  function host(engine: AlertEngine, mutes: MuteTable): ApiHost {
    // open: these hosts have no token (the token rule has its own test below)
    return {
      list: (f) => engine.list(f),
      get: (id) => engine.get(id),
      acknowledge: (id, by, n) => engine.acknowledge(id, by, n),
      resolve: (id, by, n) => engine.resolve(id, by, n),
      mutes,
      open: true,
    };
  }
  // state changes must be JSON (issue #10): every POST here says so, as Grafana and curl -H do
  const req = (method: string, path: string, body?: string): ApiRequest => ({
    method,
    path,
    query: {},
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body,
  });

  it('POST /devices/:id/mute and /unmute through the API; GET /devices shows the window', () => {
    const now = Date.UTC(2026, 0, 1);
    const a = new MuteTable(() => now);
    const b = new MuteTable(() => now);
    const hosts = [host(new AlertEngine(), a), host(new AlertEngine(), b)];
    const ctx = { devices: () => [{ device_id: 'pump-1', state: 'ONLINE' }], now: () => now };
    const set = handleAlertApi(
      hosts,
      req('POST', '/devices/pump-1/mute', '{"minutes": 60, "by": "kim", "note": "swap"}'),
      ctx
    )!;
    assert.equal(set.status, 200);
    assert.deepEqual(set.body, {
      device_id: 'pump-1',
      until: now + 3600000,
      by: 'kim',
      note: 'swap',
      at: now,
      muted: true,
    });
    assert.ok(a.isMuted('pump-1') && b.isMuted('pump-1'), 'every node sharing the prefix mutes it');
    // a device not yet reported by a health node is listed too, in its place in device_id order
    handleAlertApi(hosts, req('POST', '/devices/fan-9/mute'), ctx);
    const list = handleAlertApi(hosts, req('GET', '/devices'), ctx)!.body as Array<Record<string, unknown>>;
    assert.equal(list.length, 2);
    assert.equal(list[0].device_id, 'fan-9');
    assert.equal(list[0].state, 'UNKNOWN');
    assert.equal(list[1].device_id, 'pump-1');
    assert.equal(list[1].muted, true);
    assert.equal(list[1].muted_until, now + 3600000);
    assert.equal(handleAlertApi(hosts, req('POST', '/devices/pump-1/unmute'), ctx)!.status, 200);
    assert.equal(a.isMuted('pump-1') || b.isMuted('pump-1'), false);
    assert.equal(handleAlertApi(hosts, req('POST', '/devices/pump-1/unmute'), ctx)!.status, 404, 'not muted any more');
    assert.equal(handleAlertApi(hosts, req('GET', '/devices/pump-1/mute'), ctx)!.status, 405);
    assert.equal(handleAlertApi(hosts, req('POST', '/devices/a%20b/mute'), ctx)!.status, 400);
    assert.equal(handleAlertApi(hosts, req('POST', '/devices/pump-1/mute', '{"until": 5}'), ctx)!.status, 400);
    assert.equal(
      handleAlertApi(hosts, { ...req('POST', '/devices/pump-1/mute'), bodyTooLarge: true }, ctx)!.status,
      413
    );
    assert.equal(handleAlertApi(hosts, req('POST', '/devices/pump-1/explode'), ctx), null, 'not our route');
  });

  it('the mute routes need the bearer token like every other route', () => {
    const now = Date.UTC(2026, 0, 1);
    const t = new MuteTable(() => now);
    const h = { ...host(new AlertEngine(), t), open: false, token: 'secret-token' };
    const ctx = { devices: () => [], now: () => now };
    assert.equal(handleAlertApi([h], req('POST', '/devices/pump-1/mute'), ctx)!.status, 401);
    assert.equal(t.isMuted('pump-1'), false);
    assert.equal(
      handleAlertApi(
        [h],
        {
          ...req('POST', '/devices/pump-1/mute'),
          headers: { 'content-type': 'application/json', authorization: 'Bearer secret-token' },
        },
        ctx
      )!.status,
      200
    );
  });
});
