// What the anomaly node decides about its messages (nodes/core/anomaly/messages.ts), without Node-RED:
// points and state keys, a new device's state, warming and ONNX results, control messages and the state
// documents they read and write. test/nodes/anomaly*.test.ts show the same through the runtime.
import assert from 'node:assert/strict';
import { defaultsFor, newState, step, type AnomalyDeviceState } from '../../../../nodes/core/anomaly/detector';
import {
  configProblem,
  controlOf,
  exportDocument,
  methodOf,
  newStateFor,
  textNumberFields,
  onnxResult,
  parseFeatureList,
  parseLimitsSetting,
  pointOf,
  restoreStates,
  STATE_FORMAT,
  warmingResult,
  type KeyedPoint,
} from '../../../../nodes/core/anomaly/messages';
import type { Point, Reject } from '../../../../nodes/core/contract';
import { gaussianRows } from '../../../support/anomaly-data';

const point = (fields: Record<string, unknown>, tags: Record<string, string> = { device_id: 'd1' }): Point => ({
  measurement: 'm',
  tags,
  fields: fields as Point['fields'],
  timestamp: 1,
});

function fittedState(): AnomalyDeviceState {
  const cfg = { ...defaultsFor('l2'), trainSize: 50, inputWindow: 1 };
  const s = newState(cfg, ['a', 'b', 'c']);
  for (const r of gaussianRows(50, 3, 9)) step(cfg, s, r);
  assert.ok(s.model);
  return s;
}

describe('anomaly messages: what the node decides, outside Node-RED', () => {
  it('methodOf: the known methods, pca for anything else', () => {
    for (const m of ['pca', 'l2', 'ewma', 'threshold', 'onnx']) assert.equal(methodOf(m), m);
    assert.equal(methodOf(undefined), 'pca');
    assert.equal(methodOf('PCA'), 'pca');
    assert.equal(methodOf('constructor'), 'pca');
  });

  it('settings: limits JSON and feature lists are checked with a message naming the problem', () => {
    assert.deepEqual(parseLimitsSetting(''), {});
    assert.deepEqual(parseLimitsSetting(' {"t":{"highWarning":80}} '), { t: { highWarning: 80 } });
    assert.throws(() => parseLimitsSetting('{'), /limits are not valid JSON/);
    assert.throws(() => parseLimitsSetting('{"t":{"highWarning":90,"highCritical":80}}'), /not ordered/);
    assert.throws(() => parseLimitsSetting('{"__proto__":{"highWarning":1}}'), /^Error: limits: /);
    assert.deepEqual(parseFeatureList(' a, b ,,c '), ['a', 'b', 'c']);
    assert.deepEqual(parseFeatureList(undefined), []);
    assert.throws(() => parseFeatureList('a, constructor'), /feature name "constructor" is not allowed/);
  });

  it('configProblem: the method’s own check first, then the feature cap', () => {
    assert.match(String(configProblem(defaultsFor('threshold'), 64)), /threshold needs limits/);
    assert.equal(configProblem({ ...defaultsFor('pca'), features: ['a', 'b', 'c'] }, 3), null);
    assert.equal(
      configProblem({ ...defaultsFor('pca'), features: ['a', 'b', 'c'] }, 2),
      '3 features configured, more than max features (2)'
    );
  });

  it('pointOf: the point and its state key (device, equipment, tenant-scoped), or a reject naming the field', () => {
    const ok = pointOf(
      { measurement: 'm', tags: { device_id: 'd1', equipment_id: 'e1' }, fields: { a: 1 }, timestamp: 5 },
      false
    ) as KeyedPoint;
    assert.equal(ok.key, 'd1');
    assert.deepEqual(ok.point, {
      measurement: 'm',
      tags: { device_id: 'd1', equipment_id: 'e1' },
      fields: { a: 1 },
      timestamp: 5,
    });
    assert.equal(
      (pointOf({ tags: { device_id: 'd1', equipment_id: 'e1' }, fields: {} }, true) as KeyedPoint).key,
      'e1'
    );
    assert.equal(
      (pointOf({ tags: { device_id: 'd1', tenant: 'acme' }, fields: {} }, false) as KeyedPoint).key,
      'acme/d1'
    );
    assert.equal(
      (pointOf({ tags: { device_id: 'd1' }, fields: {} }, false, 42) as KeyedPoint).point.timestamp,
      42,
      'no timestamp: now'
    );
    assert.deepEqual(pointOf('x', false), {
      code: 'bad_payload',
      reason: 'msg.payload must be a point {measurement, tags, fields, timestamp}',
    });
    assert.deepEqual(pointOf({ tags: { device_id: 'd1' }, fields: 3 }, false), {
      code: 'bad_payload',
      reason: 'msg.payload.fields must be an object',
      device_id: 'd1',
      field: 'fields',
    });
    assert.deepEqual(pointOf({ tags: {}, fields: {} }, false), {
      code: 'missing_device',
      reason: 'tags.device_id is missing',
      field: 'tags.device_id',
    });
    assert.deepEqual(pointOf({ tags: { device_id: 'd1' }, fields: {} }, true), {
      code: 'missing_equipment',
      reason: 'tags.equipment_id is missing',
      device_id: 'd1',
      field: 'tags.equipment_id',
    });
    assert.equal(
      (pointOf(JSON.parse('{"tags":{"device_id":"d1"},"fields":{"__proto__":1}}'), false) as Reject).code,
      'forbidden_key'
    );
  });

  it('newStateFor: a state on the numeric fields, or no_features / too_many_features before any state exists', () => {
    const cfg = defaultsFor('pca');
    const s = newStateFor(cfg, point({ b: 1, a: 2, s: 'on' }), 64) as AnomalyDeviceState;
    assert.deepEqual(s.features, ['a', 'b']);
    assert.deepEqual(newStateFor(cfg, point({ s: 'on' }), 64), {
      code: 'no_features',
      reason: 'the point has no numeric fields to score',
      device_id: 'd1',
    });
    assert.deepEqual(newStateFor(cfg, point({ a: 1, b: 2, c: 3 }), 2), {
      code: 'too_many_features',
      reason: '3 numeric fields, more than max features (2)',
      device_id: 'd1',
    });
  });

  it('warming and ONNX results: one warming shape for every method; ONNX graded by severityOf', () => {
    assert.deepEqual(warmingResult('onnx', 3, 10), {
      score: 0,
      threshold: 0,
      is_anomaly: false,
      severity: 'normal',
      method: 'onnx',
      contributions: {},
      warming: true,
      warmup: { have: 3, need: 10 },
    });
    assert.equal(warmingResult('pca', 1, 2).method, 'pca');
    const r = (score: number) => onnxResult({ score, threshold: 1, contributions: { a: 1 } }, 3);
    assert.deepEqual(
      [r(0.5), r(1), r(2.9), r(3)].map((a) => [a.is_anomaly, a.severity]),
      [
        [false, 'normal'],
        [false, 'normal'],
        [true, 'warning'],
        [true, 'critical'],
      ]
    );
    assert.equal(r(2).method, 'onnx');
  });

  it('controlOf: export/load/reset for every method, sync for onnx, anything else is a point', () => {
    const cfg = defaultsFor('pca');
    assert.deepEqual(controlOf('export', undefined, 'pca', cfg, 64), { kind: 'export' });
    assert.deepEqual(controlOf('reset', { device_id: 'd7' }, 'pca', cfg, 64), { kind: 'reset', device: 'd7' });
    assert.deepEqual(controlOf('reset', 'all', 'pca', cfg, 64), { kind: 'reset', device: null });
    assert.deepEqual(controlOf('reset', undefined, 'pca', cfg, 64), { kind: 'reset', device: null });
    assert.deepEqual(controlOf('reset', 'e2', 'pca', cfg, 64), { kind: 'reset', device: 'e2' });
    // before: each of these recalibrated every device
    for (const payload of [1733462400000, true, { deviceId: 'e2' }, { device_id: 123 }, { device_id: '' }, ['e2']]) {
      const r = controlOf('reset', payload, 'pca', cfg, 64);
      assert.equal(r?.kind, 'reject', JSON.stringify(payload));
      if (r?.kind === 'reject') assert.equal(r.reject.code, 'bad_reset');
    }
    assert.equal(controlOf('sync', undefined, 'pca', cfg, 64), null);
    assert.equal(controlOf('telemetry', undefined, 'pca', cfg, 64), null);
    assert.deepEqual(controlOf('sync', undefined, 'onnx', cfg, 64), { kind: 'sync' });
    assert.equal(controlOf('telemetry', undefined, 'onnx', cfg, 64), null);
    // onnx: they act on the bundle scorer's device windows (its own document format)
    assert.deepEqual(controlOf('export', undefined, 'onnx', cfg, 64), { kind: 'export' });
    assert.deepEqual(controlOf('reset', { device_id: 'd7' }, 'onnx', cfg, 64), { kind: 'reset', device: 'd7' });
    assert.deepEqual(controlOf('reset', undefined, 'onnx', cfg, 64), { kind: 'reset', device: null });
  });

  it('load for onnx: a moby-onnx-state document, checked entry by entry; a statistical document or a bad entry rejects all', () => {
    const cfg = defaultsFor('pca');
    const d = { bundle: 'eq/p/v1', features: ['a'], scaler: null, window: 2, rows: 'AAAAPw==', t: 1 };
    const doc = { format: 'moby-onnx-state', v: 1, method: 'onnx', exported_at: 1, devices: { d1: d } };
    assert.deepEqual(controlOf('load', doc, 'onnx', cfg, 64), { kind: 'onnx-load', devices: [['d1', d]] });
    const stat = exportDocument('l2', [['d1', fittedState()]], 7);
    assert.deepEqual(controlOf('load', stat, 'onnx', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: 'msg.payload must be a moby-onnx-state document as produced by topic "export" (method onnx)',
      },
    });
    const bad = { ...doc, devices: { d1: d, d2: { ...d, rows: 'AAAAPwAAAD8AAAA/' } } };
    assert.deepEqual(controlOf('load', bad, 'onnx', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: 'state for d2: rows must be base64 of at most 2 rows of 1 finite float32 values',
        device_id: 'd2',
      },
    });
  });

  it('load for onnx: a malformed RUL averaging history rejects the document, naming the device and the field', () => {
    const cfg = defaultsFor('pca');
    const d = { bundle: 'eq/p/v1', features: ['a'], scaler: null, window: 2, rows: 'AAAAPw==', t: 1 };
    const rul = { k: 3, ages: [4, 5], preds: [40, 39.5] };
    const doc = { format: 'moby-onnx-state', v: 2, method: 'onnx', exported_at: 1, devices: { d1: { ...d, rul } } };
    assert.deepEqual(controlOf('load', doc, 'onnx', cfg, 64), { kind: 'onnx-load', devices: [['d1', { ...d, rul }]] });
    const bad = { ...doc, devices: { ...doc.devices, d2: { ...d, rul: { ...rul, preds: [40] } } } };
    assert.deepEqual(controlOf('load', bad, 'onnx', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: 'state for d2: rul.preds must be finite numbers, one per age',
        device_id: 'd2',
      },
    });
  });

  it('load: an exported document comes back whole; a foreign document or one bad device rejects all, naming it', () => {
    const cfg = { ...defaultsFor('l2'), trainSize: 50, inputWindow: 1 };
    const s = fittedState();
    const doc = exportDocument('l2', [['d1', s]], 7);
    assert.equal(doc.format, STATE_FORMAT);
    assert.equal(doc.exported_at, 7);
    assert.notEqual(doc.devices.d1, s, 'a copy');
    const wire = JSON.parse(JSON.stringify(doc));
    const back = controlOf('load', wire, 'l2', cfg, 64);
    assert.equal(back?.kind, 'load');
    assert.deepEqual(back?.kind === 'load' && back.devices, [['d1', JSON.parse(JSON.stringify(s))]]);
    assert.deepEqual(controlOf('load', { format: 'other', devices: {} }, 'l2', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: `msg.payload must be a ${STATE_FORMAT} document as produced by topic "export"`,
      },
    });
    wire.devices.d2 = { ...wire.devices.d1, model: { method: 'l2', l2: { center: [0], scale: [1], limit: 1 } } };
    assert.deepEqual(controlOf('load', wire, 'l2', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: 'state for d2: l2 model needs center, positive scale and limit',
        device_id: 'd2',
      },
    });
    const hostile = controlOf(
      'load',
      JSON.parse(`{"format":"${STATE_FORMAT}","devices":{"__proto__":{}}}`),
      'l2',
      cfg,
      64
    );
    assert.equal(hostile?.kind === 'reject' && hostile.reject.code, 'forbidden_key');
    assert.deepEqual(
      controlOf('load', { format: STATE_FORMAT, devices: { d1: wire.devices.d1 } }, 'pca', defaultsFor('pca'), 64),
      {
        kind: 'reject',
        reject: { code: 'bad_state', reason: 'state for d1: state is for method l2, node uses pca', device_id: 'd1' },
      }
    );
  });

  it('load, both formats: the right format without a devices object, or a hostile document, rejects', () => {
    const cfg = defaultsFor('pca');
    const notDevices = (format: string) => ({ format, v: 1, devices: [] });
    assert.deepEqual(controlOf('load', notDevices(STATE_FORMAT), 'pca', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: `msg.payload must be a ${STATE_FORMAT} document as produced by topic "export"`,
      },
    });
    assert.deepEqual(controlOf('load', notDevices('moby-onnx-state'), 'onnx', cfg, 64), {
      kind: 'reject',
      reject: {
        code: 'bad_state',
        reason: 'msg.payload must be a moby-onnx-state document as produced by topic "export" (method onnx)',
      },
    });
    const hostile = JSON.parse('{"format":"moby-onnx-state","devices":{"__proto__":{}}}');
    const r = controlOf('load', hostile, 'onnx', cfg, 64);
    assert.equal(r?.kind === 'reject' && r.reject.code, 'forbidden_key');
  });

  it('restoreStates: keeps usable states, counts foreign ones, drops ones wider than the cap, skips forbidden keys', () => {
    const cfg = { ...defaultsFor('l2'), trainSize: 50, inputWindow: 1 };
    const good = JSON.parse(JSON.stringify(fittedState()));
    const wide = { ...good, features: ['a', 'b', 'c', 'd', 'e'] };
    const stored = JSON.parse(JSON.stringify({ d1: good, d2: { ...good, v: 2 }, d3: wide }));
    Object.defineProperty(stored, '__proto__', { value: good, enumerable: true });
    const r = restoreStates(stored, cfg, 4);
    assert.deepEqual(
      r.accepted.map(([k]) => k),
      ['d1']
    );
    assert.deepEqual([r.refused, r.tooWide], [1, 1]);
    assert.deepEqual(restoreStates(undefined, cfg, 4), { accepted: [], refused: 0, tooWide: 0 });
  });
});

describe('anomaly messages: numbers sent as text in a first point', () => {
  const point = (fields: Record<string, unknown>): Point =>
    ({ measurement: 't', tags: { device_id: 'd' }, fields, timestamp: 1 }) as Point;
  it('names the fields left out of automatic features that hold decimal text, the text coerce converts', () => {
    const cfg = defaultsFor('pca');
    const p = point({ a: '1.5', b: 2, hw: 'rev3', c: ' 7 ', d: '', e: 'NaN', f: '0x10', g: '-2e3', h: '1e400' });
    const s = newStateFor(cfg, p, 64) as AnomalyDeviceState;
    assert.deepEqual(s.features, ['b']);
    // the warning advises moby-normalize's coerce: it names what coerce converts (a, g), not text coerce
    // leaves as text (" 7 ", hex) or refuses (1e400 is not finite)
    assert.deepEqual(textNumberFields(cfg, p, s.features), ['a', 'g']);
    assert.deepEqual(
      textNumberFields({ ...cfg, features: ['b'] }, p, ['b']),
      [],
      'configured features: nothing to say'
    );
    const many = point(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, String(i)])));
    assert.equal(textNumberFields(cfg, many, []).length, 5, 'at most five names');
  });
});
