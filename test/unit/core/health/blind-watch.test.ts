// core/health/blind-watch.ts: the pipeline unable to hear the devices for minutes becomes one alert, and the
// alert moby-alert takes from it; core/mqtt/ingest-stall.ts deafReason: the reason it carries.
import assert from 'node:assert/strict';
import { BLIND_RULE, BlindWatch, blindAlertMessage, pipelineDeviceId } from '../../../../nodes/core/health/blind-watch';
import { deafReason } from '../../../../nodes/core/mqtt/ingest-stall';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';

const S = 1000;

describe('BlindWatch', () => {
  it('opens once after alertAfterMs of continuous deafness and clears once after settleMs of listening', () => {
    const w = new BlindWatch({ alertAfterMs: 120 * S, settleMs: 10 * S });
    // a start that listens: one clear for what a previous run may have left open
    assert.equal(w.observe(null, 0), null);
    assert.deepEqual(w.observe(null, 10 * S), { kind: 'clear', lastedMs: null });
    assert.equal(w.observe(null, 20 * S), null, 'only once');
    const got: unknown[] = [];
    for (let t = 30 * S; t <= 149 * S; t += S) {
      const s = w.observe('no connection to the broker', t);
      if (s) got.push(s);
    }
    assert.deepEqual(got, [], 'not before 120 s');
    assert.deepEqual(w.observe('no connection to the broker', 150 * S), {
      kind: 'open',
      since: 30 * S,
      reason: 'no connection to the broker',
    });
    assert.equal(w.isOpen, true);
    assert.equal(w.observe('something else', 200 * S), null, 'opened once per stretch');
    assert.equal(w.observe(null, 201 * S), null, 'listening, not settled yet');
    assert.equal(w.observe(null, 210 * S), null);
    // how long it could not hear (30 → 201 s), not until hearing again had settled (operator round 2026-12-07:
    // the resolve said how long the alert was open instead)
    assert.deepEqual(w.observe(null, 211 * S), {
      kind: 'clear',
      lastedMs: 171 * S,
      note: 'MOBY could not hear the devices for 3 min',
    });
    assert.equal(w.isOpen, false);
    assert.equal(w.observe(null, 300 * S), null, 'nothing more while it listens');
  });

  it('a pipeline that hears for a moment between stalls keeps one stretch: it opens and does not flap', () => {
    const w = new BlindWatch({ alertAfterMs: 60 * S, settleMs: 10 * S });
    w.observe(null, 0);
    w.observe(null, 10 * S); // the start's clear
    const signals: string[] = [];
    // deaf 8 s, listening 2 s, for 3 minutes: never 10 s of listening
    for (let t = 20 * S; t < 200 * S; t += S) {
      const s = w.observe((t / S) % 10 < 8 ? 'window full' : null, t);
      if (s) signals.push(`${s.kind}@${t / S}`);
    }
    assert.deepEqual(signals, ['open@80'], 'opened 60 s after the stretch began, never cleared');
    for (let t = 200 * S; t <= 211 * S; t += S) {
      const s = w.observe(null, t);
      if (s) signals.push(`${s.kind}@${t / S}`);
    }
    // listening since 198 (the last cycle's 2 s), so settled at 208
    assert.deepEqual(signals, ['open@80', 'clear@208']);
  });

  it('short stalls never open it; 0 turns it off; the settle time defaults to the shorter of 10 s and alertAfterMs', () => {
    const w = new BlindWatch({ alertAfterMs: 60 * S });
    w.observe(null, 0);
    w.observe(null, 10 * S);
    for (let k = 0; k < 20; k++) {
      // 50 s deaf, 10 s listening: each stretch ends before it is a minute long
      for (let t = 0; t < 50; t++) assert.equal(w.observe('stall', (100 + k * 60 + t) * S), null);
      for (let t = 50; t <= 60; t++) assert.equal(w.observe(null, (100 + k * 60 + t) * S), null);
    }
    const off = new BlindWatch({ alertAfterMs: 0 });
    assert.equal(off.enabled, false);
    for (let t = 0; t < 1000; t++) assert.equal(off.observe(t % 2 ? 'stall' : null, t * S), null);
    const quick = new BlindWatch({ alertAfterMs: 300 });
    assert.equal(quick.observe('stall', 0), null);
    assert.equal(quick.observe('stall', 300)?.kind, 'open');
    assert.equal(quick.observe(null, 400), null);
    assert.deepEqual(quick.observe(null, 700), {
      kind: 'clear',
      lastedMs: 400,
      note: 'MOBY could not hear the devices for 0 s',
    });
  });

  it("the alert moby-alert takes: critical, this Node-RED's id, the reason; the clear resolves it", () => {
    const id = pipelineDeviceId('plant 7/line:2', 1880);
    assert.equal(id, 'pipeline@plant-7-line-2:1880');
    assert.equal(pipelineDeviceId('', undefined), 'pipeline@localhost');
    assert.equal(pipelineDeviceId('h', '1880; rm'), 'pipeline@h', 'a port that is not a number is left out');
    const reasons = [
      deafReason({
        connected: false,
        load: 0,
        window: 1000,
        lastSettledMs: 0,
        now: 5000,
        url: 'mqtt://10.0.0.5:1883',
        lastError: 'connect ECONNREFUSED\n10.0.0.5:1883 \u202e',
      }),
      deafReason({ connected: true, load: 1000, window: 1000, lastSettledMs: 0, now: 185_000, url: 'mqtt://b:1883' }),
    ];
    assert.match(
      reasons[0]!,
      /^no connection to the broker mqtt:\/\/10\.0\.0\.5:1883: connect ECONNREFUSED 10\.0\.0\.5:1883 \\u202E$/
    );
    assert.match(
      reasons[1]!,
      /^1000 message\(s\) from the broker mqtt:\/\/b:1883 in flight and none settled for 3 min:/
    );
    const down = (lastError: string) =>
      deafReason({ connected: false, load: 0, window: 1, lastSettledMs: 0, now: 0, url: 'mqtt://b:1883', lastError });
    assert.equal(
      down('connack timeout'),
      'no connection to the broker mqtt://b:1883: it takes the connection but does not answer (connack timeout)'
    );
    assert.equal(
      down('Keepalive timeout'),
      'no connection to the broker mqtt://b:1883: it stopped answering (keep-alive timeout)'
    );
    assert.equal(
      deafReason({ connected: true, load: 1000, window: 1000, lastSettledMs: 0, now: 1000 }),
      null,
      'a full window that settled within the grace still hears'
    );
    for (const reason of reasons) {
      const open = blindAlertMessage(id, { kind: 'open', since: 0, reason: reason! }, 150_000);
      assert.match(String(open.alert.message), /^MOBY has not heard the devices for 3 min: /);
      const r = signalsFromMessage(open);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.signals.length, 1);
      assert.deepEqual(
        {
          kind: r.signals[0].kind,
          device: r.signals[0].device_id,
          rule: r.signals[0].rule,
          sev: r.signals[0].severity,
        },
        { kind: 'trigger', device: id, rule: BLIND_RULE, sev: 'critical' }
      );
      assert.equal(r.signals[0].tenant, undefined, "the operator's alert, no tenant's");
      assert.ok(String(r.signals[0].message).includes(reason!));
    }
    const clear = signalsFromMessage(blindAlertMessage(id, { kind: 'clear', lastedMs: null }, 0));
    assert.ok(clear.ok);
    assert.deepEqual(clear.signals, [{ kind: 'clear', device_id: id, rule: BLIND_RULE, immediate: true }]);
    const noted = signalsFromMessage(
      blindAlertMessage(id, { kind: 'clear', lastedMs: 171_000, note: 'MOBY could not hear the devices for 171 s' }, 0)
    );
    assert.ok(noted.ok);
    assert.equal(noted.signals[0].note, 'MOBY could not hear the devices for 171 s', 'the resolve note');
  });
});
