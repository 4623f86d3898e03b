// A device coming back from a silence (a power cut, a reboot) settles before alarms open again
// (IncidentConfig.restartGapMs / restartGraceMs, core/anomaly/incident.ts settling()).
import assert from 'node:assert/strict';
import {
  defaultsFor,
  deserialiseState,
  newState,
  serialiseState,
  step,
  validateState,
} from '../../../../nodes/core/anomaly/detector';
import {
  DEFAULT_INCIDENT,
  newIncident,
  RESTART_GAP_INTERVALS,
  RESTART_GRACE_POINTS,
  RESUMED_GAP_MS,
  afterSilence,
  settling,
  trackRepeats,
  validateIncident,
} from '../../../../nodes/core/anomaly/incident';
import { gaussianRows } from '../../../support/anomaly-data';

const T0 = Date.UTC(2026, 11, 6);

describe('anomaly restarts: settling after a silence', () => {
  const cfg = { ...DEFAULT_INCIDENT }; // gap 5 s, grace 300 s

  /** a fresh incident state that has seen `n` points `everyMs` apart, the last at T0 */
  function seen(n: number, everyMs: number) {
    const s = newIncident(2);
    for (let i = n - 1; i >= 0; i--) assert.equal(settling(s, cfg, T0 - i * everyMs), false);
    return s;
  }

  it('a silence of at least the gap (and 5 usual intervals) starts the grace, which lasts its time in point time', () => {
    const s = seen(30, 1000);
    assert.equal(settling(s, cfg, T0 + 130_000), true, 'back after 130 s');
    for (let k = 1; k < 300; k++) assert.equal(settling(s, cfg, T0 + 130_000 + k * 1000), true);
    assert.equal(settling(s, cfg, T0 + 130_000 + 300_000), false, 'grace over');
    assert.equal(s.graceUntil, undefined);
    assert.equal(settling(s, cfg, T0 + 130_000 + 301_000), false);
  });

  it('the grace also ends after twice the points its length holds: timestamps that stop moving cannot hold it open (red-team round 2026-12-07: no alert for 800 critical points)', () => {
    const s = seen(30, 1000);
    // back after 130 s, then every point carries that same time again
    assert.equal(settling(s, cfg, T0 + 130_000), true);
    let settlingPoints = 1;
    for (let k = 0; k < 2000 && settling(s, cfg, T0 + 130_000); k++) settlingPoints++;
    assert.equal(settlingPoints, RESTART_GRACE_POINTS * 300, 'ended after 600 points (300 s at 1 Hz, twice)');
    assert.equal(s.graceUntil, undefined);
    assert.equal(s.graceLeft, undefined);
    assert.equal(settling(s, cfg, T0 + 130_000), false, 'and stays ended');
    // a clock going back and forth counts the same
    const saw = seen(30, 1000);
    let n = 0;
    for (let k = 0; k < 2000 && settling(saw, cfg, T0 + 130_000 + (k % 2 ? 1000 : 0)); k++) n++;
    assert.equal(n, 600);
    // a device sending twice as fast as usual after its restart keeps the grace's whole length in time
    const fast = seen(30, 1000);
    let t = T0 + 130_000;
    assert.equal(settling(fast, cfg, t), true);
    for (let k = 1; k < 599; k++) assert.equal(settling(fast, cfg, (t += 500)), true, `point ${k}`);
    assert.equal(settling(fast, cfg, T0 + 130_000 + 300_000), false, 'the time bound ends it first');
  });

  it('a shorter silence is no restart, and is a usual interval from then on', () => {
    const s = seen(30, 1000);
    assert.equal(settling(s, cfg, T0 + 4_000), false);
    assert.ok(s.interval! > 1000, 'the 4 s silence counts into the usual interval');
  });

  it('a power cut of 6 s (a 7 s silence at 1 Hz) is a restart (the gap was 10 s until 2026-12-07)', () => {
    // eval:sim with cuts of 0.1–0.25 min: 20 of 40 machines paged a "sudden jump" or a persistent anomaly on
    // coming back cold; with 5 s and 5 intervals, 0 of 40
    const s = seen(30, 1000);
    assert.equal(settling(s, cfg, T0 + 7_000), true);
    const before = seen(30, 1000);
    assert.equal(settling(before, { ...cfg, restartGapMs: 10_000 }, T0 + 7_000), false, 'with the 10 s gap: none');
  });

  it('a reboot of half a minute is a restart (the default gap is 10 s since 2026-12-06; it was 120 s)', () => {
    const s = seen(30, 1000);
    assert.equal(settling(s, cfg, T0 + 30_000), true);
    const before = seen(30, 1000);
    assert.equal(settling(before, { ...cfg, restartGapMs: 120_000 }, T0 + 30_000), false, 'with the old gap: none');
  });

  it('a device reporting every minute needs five of its intervals: 4 minutes of silence is no restart, 6 are', () => {
    const s = seen(30, 60_000);
    assert.equal(settling(s, cfg, T0 + 4 * 60_000), false);
    const t = T0 + 4 * 60_000;
    for (let i = 1; i <= 20; i++) settling(s, cfg, t + i * 60_000);
    const last = t + 20 * 60_000;
    assert.ok(s.interval! < (RESTART_GAP_INTERVALS * 60_000) / 2);
    assert.equal(settling(s, cfg, last + 6 * 60_000), true);
  });

  it('no restart is told before ten intervals were seen; a time not after the last changes nothing', () => {
    const s = seen(5, 1000);
    assert.equal(settling(s, cfg, T0 + 600_000), false, 'too few intervals to know the usual one');
    const t = seen(30, 1000);
    assert.equal(settling(t, cfg, T0 - 500_000), false, 'an old point resent');
    assert.equal(t.lastAt, T0);
    assert.equal(settling(t, cfg, T0), false, 'the same time again');
    assert.equal(settling(t, cfg, undefined), false, 'no time given');
    assert.equal(settling(t, cfg, Number.NaN), false);
    assert.equal(t.lastAt, T0);
  });

  it('either setting at 0 turns it off', () => {
    for (const off of [{ restartGapMs: 0 }, { restartGraceMs: 0 }]) {
      const c = { ...cfg, ...off };
      const s = newIncident(2);
      for (let i = 0; i < 30; i++) settling(s, c, T0 + i * 1000);
      assert.equal(settling(s, c, T0 + 3_600_000), false, JSON.stringify(off));
    }
  });

  it('the saved state is checked: times must be numbers, the count a count', () => {
    const s = seen(30, 1000);
    settling(s, cfg, T0 + 200_000);
    const saved = JSON.parse(JSON.stringify(s));
    assert.equal(validateIncident(saved, 2, cfg.alarmWindow), null);
    assert.equal(saved.graceUntil, T0 + 500_000);
    assert.match(validateIncident({ ...saved, lastAt: 'x' }, 2, cfg.alarmWindow)!, /lastAt/);
    assert.match(validateIncident({ ...saved, graceUntil: null }, 2, cfg.alarmWindow)!, /graceUntil/);
    assert.match(validateIncident({ ...saved, intervals: -1 }, 2, cfg.alarmWindow)!, /intervals/);
  });

  it('read back from storage, the first gap needs RESUMED_GAP_MS: the saved point time lags by the save interval', () => {
    // a kill -9 of Node-RED: the saved lastAt is up to ~15 s behind the next point the broker delivers
    const live = seen(30, 1000);
    assert.equal(settling(live, cfg, T0 + 15_000), true, 'a live 15 s silence is a restart');
    const restored = seen(30, 1000);
    restored.resumed = true;
    assert.equal(settling(restored, cfg, T0 - 3_000), false, 'a redelivered older point');
    assert.equal(restored.resumed, true, 'still waiting for a newer point');
    assert.equal(settling(restored, cfg, T0 + 15_000), false, 'after a restore, 15 s is the save lag');
    assert.equal(restored.resumed, undefined, 'the first newer point clears it');
    assert.equal(settling(restored, cfg, T0 + 45_000), true, 'from then on the live gap applies');
    const cut = seen(30, 1000);
    cut.resumed = true;
    assert.equal(settling(cut, cfg, T0 + RESUMED_GAP_MS + 1000), true, 'a power cut that also restarted Node-RED');
  });
});

describe('anomaly restarts: the detector', () => {
  // calibrated at 1 Hz on normal rows, then normal for a minute, then off for 10 minutes, then back with every
  // sensor far off (a machine starting cold) for `coldPoints` points, normal after
  function run(coldPoints: number, over: Partial<ReturnType<typeof defaultsFor>> = {}) {
    const cfg = { ...defaultsFor('pca'), trainSize: 300, ...over };
    const rows = gaussianRows(2000, 3, 11);
    const state = newState(cfg, ['a', 'b', 'c']);
    const opened: number[] = [];
    let settled = 0;
    let t = T0;
    let i = 0;
    const feed = (row: number[]) => {
      const r = step(cfg, state, row, undefined, t);
      if (r.kind === 'result') {
        if (r.anomaly.incident?.opened) opened.push((t - back) / 1000);
        if (r.anomaly.settling) settled++;
      }
      t += 1000;
    };
    for (; i < cfg.trainSize + cfg.inputWindow + 60; i++) feed(rows[i]);
    t += 600_000;
    const back = t;
    for (let k = 0; k < 900; k++, i++) {
      const r = rows[i];
      feed(k < coldPoints ? [r[0] - 8, r[1] - 16, r[2] - 8] : r);
    }
    return { opened, settled, state, cfg };
  }

  it('a cold start that warms up within the grace opens no alarm (before: one within seconds); its points are still scored', () => {
    const { opened, settled } = run(200);
    assert.deepEqual(opened, []);
    assert.equal(settled, 300, 'the grace is 300 s of point time');
    const off = run(200, { restartGraceMs: 0 });
    assert.equal(off.opened.length, 1, 'without the grace the cold start opens an alarm');
    assert.ok(off.opened[0] < 30, `opened ${off.opened[0]} s after power returned`);
  });

  it('a fault still there when the grace ends opens its alarm then', () => {
    const { opened } = run(900);
    assert.equal(opened.length, 1);
    assert.ok(opened[0] >= 300 && opened[0] < 330, `opened ${opened[0]} s after power returned`);
  });

  it('a state read back (deserialiseState) is marked resumed', () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 300 };
    const state = newState(cfg, ['a', 'b', 'c']);
    gaussianRows(400, 3, 5).forEach((r, k) => step(cfg, state, r, undefined, T0 + k * 1000));
    assert.equal(state.incident!.resumed, undefined);
    const back = deserialiseState(JSON.parse(JSON.stringify(serialiseState(state))), cfg);
    assert.ok(typeof back !== 'string', String(back));
    assert.equal(back.incident!.resumed, true);
    assert.equal(JSON.stringify(back).includes('resumed'), false, 'never saved');
  });

  it('the settling state is saved with the device and accepted back', () => {
    const cfg = { ...defaultsFor('pca'), trainSize: 300 };
    const state = newState(cfg, ['a', 'b', 'c']);
    const rows = gaussianRows(400, 3, 5);
    rows.forEach((r, k) => step(cfg, state, r, undefined, T0 + k * 1000));
    step(cfg, state, rows[0], undefined, T0 + 1_000_000);
    const saved = JSON.parse(JSON.stringify(state));
    assert.equal(validateState(saved, cfg), null);
    assert.equal(saved.incident.graceUntil, T0 + 1_300_000);
  });

  it('a change across a silence of 3 usual intervals or more feeds neither the jitter nor the jump checks', () => {
    // a machine back from a cut too short for a restart reads at another load: that one change made the jitter
    // 5–8× its calibration and opened "sudden jump" (eval:sim, 2026-12-07)
    const cfg = { ...DEFAULT_INCIDENT };
    const seen = (n: number, everyMs: number) => {
      const s = newIncident(2);
      for (let i = n - 1; i >= 0; i--) settling(s, cfg, T0 - i * everyMs);
      return s;
    };
    const run = (silence: boolean) => {
      const s = seen(30, 1000);
      for (let i = 0; i < 50; i++) trackRepeats(s, [i % 2, 10 + (i % 3)], true); // calibration: small changes
      for (let i = 0; i < 5; i++) trackRepeats(s, [i % 2, 10 + (i % 3)], false);
      const jitBefore = [...s.jit!];
      trackRepeats(s, [40, 90], false, silence); // the level after the silence
      return { s, jitBefore };
    };
    const skipped = run(true);
    assert.deepEqual(skipped.s.jit, skipped.jitBefore, 'across a silence: jitter unchanged');
    assert.deepEqual(skipped.s.last, [40, 90], 'the new level is the next change’s reference');
    const fed = run(false);
    assert.ok(fed.s.jit![1] > 10 * fed.jitBefore[1], 'the same change without a silence is a jump');
    // what counts as a silence: 3 usual intervals, once the usual interval is known
    const s = seen(30, 1000);
    assert.equal(afterSilence(s, T0 + 2_000), false);
    assert.equal(afterSilence(s, T0 + 3_000), true);
    assert.equal(afterSilence(s, undefined), false);
    assert.equal(afterSilence(seen(5, 1000), T0 + 60_000), false, 'too few intervals seen');
  });
});
