// What a moby-alert without a notification channel logs for an alert change (operator round 2026-12-07: two alerts
// opened and the log of npm start said nothing).
import assert from 'node:assert/strict';
import { alertLogLine } from '../../../../nodes/core/alert/channels';
import type { Alert, AlertEvent } from '../../../../nodes/core/contract';

const alert = (o: Partial<Alert> = {}): Alert =>
  ({
    alert_id: '737af7b7-0000-4000-8000-000000000000',
    device_id: 'pump-009',
    rule: 'anomaly',
    severity: 'critical',
    status: 'open',
    acknowledged: false,
    message: 'Anomaly on pump-009: sudden jump on sensor bearing_vibration',
    count: 1,
    opened_at: 0,
    updated_at: 0,
    ...o,
  }) as Alert;
const ev = (event: AlertEvent['event'], a: Alert, raised_from?: AlertEvent['raised_from']): AlertEvent =>
  raised_from ? { event, time: 0, alert: a, raised_from } : { event, time: 0, alert: a };

describe('alertLogLine', () => {
  it("names the tenant (two tenants' pump-009 read the same line before, red-team round 2026-12-07)", () => {
    assert.equal(
      alertLogLine(ev('open', alert({ tenant: 'beta' }))),
      'alert opened, critical [737af7b7] (tenant beta): Anomaly on pump-009: sudden jump on sensor bearing_vibration'
    );
  });

  it('says openings, raises, escalations and resolves; not count updates, acks or evictions', () => {
    assert.equal(
      alertLogLine(ev('open', alert())),
      'alert opened, critical [737af7b7]: Anomaly on pump-009: sudden jump on sensor bearing_vibration'
    );
    assert.equal(
      alertLogLine(ev('update', alert(), 'warning')),
      'alert raised from warning to critical [737af7b7]: Anomaly on pump-009: sudden jump on sensor bearing_vibration'
    );
    assert.match(
      alertLogLine(ev('escalate', alert()))!,
      /^alert escalated, critical and unacknowledged \[737af7b7\]: /
    );
    assert.equal(
      alertLogLine(
        ev('resolve', alert({ status: 'resolved', resolved_by: 'auto', resolve_note: 'condition cleared' }))
      ),
      'alert resolved [737af7b7]: pump-009 (anomaly), condition cleared'
    );
    assert.equal(
      alertLogLine(ev('resolve', alert({ status: 'resolved', resolved_by: 'kim' }))),
      'alert resolved [737af7b7]: pump-009 (anomaly) (by kim)'
    );
    assert.equal(alertLogLine(ev('update', alert())), null);
    assert.equal(alertLogLine(ev('ack', alert())), null);
    assert.equal(alertLogLine(ev('resolve', alert({ resolved_by: 'evicted' }))), null);
  });

  it('a device’s text cannot forge log lines', () => {
    const line = alertLogLine(ev('open', alert({ message: 'x\n[error] forged\u202e' })))!;
    assert.doesNotMatch(line, /\n|\u202e/);
    assert.match(line, /x \[error\] forged\\u202E$/);
    // letters and symbols of every script stay readable (verification round 2026-12-07: "21.1\u00D7")
    assert.equal(
      alertLogLine(ev('open', alert({ message: 'Anomaly on 펌프-9: moving 21.1× as much, 온도 41 °C' }))),
      'alert opened, critical [737af7b7]: Anomaly on 펌프-9: moving 21.1× as much, 온도 41 °C'
    );
  });
});
