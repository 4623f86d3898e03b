import assert from 'node:assert/strict';
import {
  alertEventToPoint,
  deviceIdOfLine,
  escapeKey,
  escapeMeasurement,
  escapeStringField,
  formatTimestamp,
  messageToLines,
  pointToLine,
  sortKeys,
} from '../../../../nodes/core/influx/line-protocol';
import type { AlertEvent, HealthEvent, Point } from '../../../../nodes/core/contract';

const T = 1795307652874;

describe('influx line protocol', () => {
  it('writes every number as a float, booleans as booleans and strings quoted, tags sorted', () => {
    const r = pointToLine({
      measurement: 'telemetry',
      tags: { z: 'b', device_id: 'd1' },
      fields: { rpm: 1, temp: 21.5, big: 1e21, neg: -0, ok: true, note: 'hi' },
      timestamp: T,
    });
    assert.ok('line' in r);
    assert.equal(r.line, `telemetry,device_id=d1,z=b rpm=1,temp=21.5,big=1e+21,neg=0,ok=true,note="hi" ${T}`);
    assert.doesNotMatch(r.line, /\di[ ,]/, 'no integer suffix anywhere');
  });

  it('escapes measurement, tag keys/values, field keys and string values', () => {
    assert.equal(escapeMeasurement('my meas,x'), 'my\\ meas\\,x');
    assert.equal(escapeKey('a=b c,d'), 'a\\=b\\ c\\,d');
    assert.equal(escapeStringField('say "hi" \\ now\nnext'), '"say \\"hi\\" \\\\ now\\nnext"');
    const r = pointToLine({ measurement: 'm', tags: { 'line id': 'A,1=2' }, fields: { 'f k': 'x"y' }, timestamp: T });
    assert.ok('line' in r);
    assert.equal(r.line, `m,line\\ id=A\\,1\\=2 f\\ k="x\\"y" ${T}`);
    assert.equal(r.line.split('\n').length, 1);
  });

  it('writes each field key the same way every time, past the bound of its kept escaped texts too', () => {
    const line = (k: string) =>
      (pointToLine({ measurement: 'm', fields: { [k]: 1 }, timestamp: T }) as { line: string }).line;
    for (let round = 0; round < 2; round++) {
      assert.equal(line('f k'), `m f\\ k=1 ${T}`);
      assert.equal(line('a=b,c'), `m a\\=b\\,c=1 ${T}`);
      for (let i = 0; i < 5000; i++) assert.equal(line(`k${i}`), `m k${i}=1 ${T}`);
    }
  });

  it('renders ms timestamps in the configured precision', () => {
    assert.deepEqual(
      messageToLines({ payload: { measurement: 'm', tags: {}, fields: { a: 1 }, timestamp: T } }, { precision: 'ns' })
        .lines,
      [`m a=1 ${T}000000`]
    );
    assert.equal(formatTimestamp(T, 'ms'), String(T));
    assert.equal(formatTimestamp(T, 's'), String(Math.floor(T / 1000)));
    assert.equal(formatTimestamp(T, 'us'), `${T}000`);
    assert.equal(formatTimestamp(T, 'ns'), `${T}000000`);
  });

  it('omits empty tags and null fields, and rejects what line protocol cannot carry, naming the field', () => {
    const ok = pointToLine({
      measurement: 'm',
      tags: { device_id: 'd', empty: '' },
      fields: { a: 1, gone: null as unknown as number },
      timestamp: T,
    });
    assert.ok('line' in ok && ok.line === `m,device_id=d a=1 ${T}`);
    const cases: Array<[unknown, string, string | undefined]> = [
      [{ measurement: 'm', tags: { device_id: 'd' }, fields: { a: NaN }, timestamp: T }, 'bad_number', 'fields.a'],
      [{ measurement: 'm', tags: {}, fields: {}, timestamp: T }, 'no_fields', 'fields'],
      [{ measurement: '', tags: {}, fields: { a: 1 }, timestamp: T }, 'bad_point', 'measurement'],
      [{ measurement: 'm', tags: {}, fields: { a: 1 }, timestamp: 'now' }, 'bad_timestamp', 'timestamp'],
      [
        { measurement: 'm', tags: {}, fields: JSON.parse('{"__proto__": 1}'), timestamp: T },
        'forbidden_key',
        'fields.__proto__',
      ],
      [{ measurement: 'm', tags: { n: 5 }, fields: { a: 1 }, timestamp: T }, 'bad_tag', 'tags.n'],
      [{ measurement: 'm', tags: {}, fields: { a: { nested: 1 } }, timestamp: T }, 'bad_field', 'fields.a'],
      ['text', 'bad_point', undefined],
    ];
    for (const [p, code, field] of cases) {
      const r = pointToLine(p);
      assert.ok('reject' in r, `expected reject for ${JSON.stringify(p)}`);
      assert.equal(r.reject.code, code);
      assert.equal(r.reject.field, field);
    }
    const withDevice = pointToLine({
      measurement: 'm',
      tags: { device_id: 'press-7' },
      fields: { a: Infinity },
      timestamp: T,
    });
    assert.ok('reject' in withDevice && withDevice.reject.device_id === 'press-7');
  });

  it('maps an alert event to moby_alerts with alert_id as a tag', () => {
    const ev: AlertEvent = {
      event: 'ack',
      time: T,
      alert: {
        alert_id: 'a-1',
        device_id: 'd1',
        rule: 'temp_high',
        severity: 'critical',
        status: 'open',
        acknowledged: true,
        message: 'too hot',
        value: 97,
        threshold: 90,
        count: 3,
        opened_at: T - 1000,
        updated_at: T,
        acknowledged_by: 'kim',
        ack_note: 'bearing ordered',
        reason: 'flatline',
        sensor: 'temp',
      },
    };
    const p = alertEventToPoint(ev) as Point;
    assert.equal(p.measurement, 'moby_alerts');
    assert.deepEqual(p.tags, { alert_id: 'a-1', device_id: 'd1', rule: 'temp_high', severity: 'critical' });
    const { lines, rejects } = messageToLines({ topic: 'alert', payload: ev });
    assert.deepEqual(rejects, []);
    assert.equal(
      lines[0],
      `moby_alerts,alert_id=a-1,device_id=d1,rule=temp_high,severity=critical event="ack",status="open",acknowledged=true,count=3,message="too hot",value=97,threshold=90,opened_at=${T - 1000},updated_at=${T},reason="flatline",sensor="temp",acknowledged_by="kim",ack_note="bearing ordered" ${T}`
    );
    assert.equal(messageToLines({ topic: 'alert', payload: { event: 'open' } }).rejects[0].code, 'bad_alert');
  });

  it('maps a device-health event to moby_device_state with the state as a field', () => {
    const ev: HealthEvent = {
      device_id: 'd2',
      state: 'OFFLINE',
      previous: 'ONLINE',
      since: T,
      last_seen: T - 5000,
      reason: 'lwt',
    };
    const { lines } = messageToLines({ topic: 'device-health', payload: ev });
    assert.deepEqual(lines, [
      `moby_device_state,device_id=d2 state="OFFLINE",previous="ONLINE",reason="lwt",online=false,since=${T},last_seen=${T - 5000} ${T}`,
    ]);
  });

  it('maps a device-health snapshot to one moby_device_state point per device', () => {
    const rows = [
      {
        device_id: 'a',
        state: 'ONLINE',
        since: T - 10,
        last_seen: T,
        reason: 'data',
        timeout_ms: 15000,
        timeout_source: 'default',
      },
      {
        device_id: 'b',
        state: 'UNKNOWN',
        since: null,
        last_seen: null,
        reason: null,
        timeout_ms: 15000,
        timeout_source: 'default',
        equipment_id: 'line-1',
      },
    ];
    const { lines, rejects } = messageToLines({ topic: 'snapshot', payload: rows }, { now: T });
    assert.deepEqual(rejects, []);
    assert.deepEqual(lines, [
      `moby_device_state,device_id=a state="ONLINE",previous="",reason="data",online=true,since=${T - 10},last_seen=${T} ${T - 10}`,
      `moby_device_state,device_id=b,equipment_id=line-1 state="UNKNOWN",previous="",reason="",online=false ${T}`,
    ]);
  });

  it('writes a scored point and its moby_anomaly point', () => {
    const point: Point = { measurement: 'telemetry', tags: { device_id: 'd3' }, fields: { vib: 0.5 }, timestamp: T };
    const { lines } = messageToLines({
      payload: point,
      anomaly: { score: 4, threshold: 3, is_anomaly: true, severity: 'warning', method: 'pca', contributions: {} },
    });
    assert.deepEqual(lines, [
      `telemetry,device_id=d3 vib=0.5 ${T}`,
      `moby_anomaly,device_id=d3,method=pca,source=telemetry score=4,is_anomaly=true,severity="warning",threshold=3 ${T}`,
    ]);
    const only = messageToLines(
      {
        payload: point,
        anomaly: { score: 1, threshold: 3, is_anomaly: false, severity: 'normal', method: 'pca', contributions: {} },
      },
      { writeScoredPoint: false }
    );
    assert.deepEqual(
      only.lines.map((l) => l.split(',')[0]),
      ['moby_anomaly']
    );
  });

  it('takes arrays (keeping good points, rejecting bad ones) and line-protocol text', () => {
    const r = messageToLines({
      payload: [
        { measurement: 'm', tags: {}, fields: { a: 1 }, timestamp: T },
        { measurement: 'm', fields: {} },
      ],
    });
    assert.equal(r.lines.length, 1);
    assert.equal(r.rejects.length, 1);
    const t = messageToLines({ payload: `# comment\nm,device_id=x a=1 ${T}\r\n\nnot-line-protocol\n` });
    assert.deepEqual(t.lines, [`m,device_id=x a=1 ${T}`]);
    assert.equal(t.rejects[0].code, 'bad_line');
    assert.equal(messageToLines({ payload: null }).rejects[0].code, 'no_payload');
    const shapes = messageToLines({
      payload: [`m,a=b\\ c f="x y, z",g=1 ${T}`, 'm f=1', 'this is not line protocol', 'm f=1 12abc', 'm,t=1'].join(
        '\n'
      ),
    });
    assert.deepEqual(shapes.lines, [`m,a=b\\ c f="x y, z",g=1 ${T}`, 'm f=1']);
    assert.equal(shapes.rejects.length, 3);
    assert.equal(messageToLines({ payload: new Array(10001).fill({}) }).rejects[0].code, 'too_many_points');
  });

  it('finds the device_id tag of a line', () => {
    assert.equal(deviceIdOfLine(`m,a=1,device_id=press\\ 7,z=2 v=1 ${T}`), 'press 7');
    assert.equal(deviceIdOfLine(`m v=1 ${T}`), undefined);
  });

  it('sorts tag keys in place in the order Array.prototype.sort() gives', () => {
    const pool = [
      'device_id',
      'equipment_id',
      'tenant',
      'method',
      'source',
      'a',
      'B',
      'b',
      'Z',
      '_x',
      'é',
      '온도',
      '10',
      '9',
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let n = 0; n <= 20; n++)
      for (let trial = 0; trial < 20; trial++) {
        const keys = Array.from({ length: n }, () => pool[Math.floor(rnd() * pool.length)] + (n > 14 ? n * trial : ''));
        const want = [...keys].sort();
        const got = sortKeys(keys);
        assert.equal(got, keys); // in place
        assert.deepEqual(got, want);
      }
  });
});
