// Device-chosen names and texts (nodes/core/names.ts) and how normalize applies them (issue #10, item 8).
import assert from 'node:assert/strict';
import { nameProblem, textProblem, proseProblem, preview, oneLine, tagValueProblem } from '../../../nodes/core/names';
import { Normalizer } from '../../../nodes/core/normalize/normalize';
import { PUMP, SENSOR } from '../../support/payloads';

describe('names: device-chosen names and texts', () => {
  it('accepts what real devices send, in any script', () => {
    for (const n of ['motor_temperature', 'accel.x', 'vibration:rms', 'pump-7', '温度', 'Überdruck', 'a/b', 'x(1)'])
      assert.equal(nameProblem(n, 128), null, n);
    for (const t of ['°C', 'm/s²', 'µm', 'Busan plant 2', 'line-2', 'rev3', '%'])
      assert.equal(textProblem(t, 256), null, t);
  });

  it('refuses control, bidi, invisible and unusual-space characters, HTML specials, spaces in names, and lengths over the cap', () => {
    const bad: Array<[string, RegExp]> = [
      ['a\u0000b', /control character U\+0000/],
      ['tab\there', /control character U\+0009/],
      ['evil\u202Etxt.exe', /U\+202E/],
      ['iso\u2066late', /U\+2066/],
      ['zero\u200Bwidth', /U\+200B/],
      ['bom\uFEFF', /U\+FEFF/],
      ['nb\u00A0sp', /U\+00A0/],
      ['lone\uD800', /U\+D800/],
      // drawn as nothing without being Cf (red-team round 2026-12-07: each made a second field or series that
      // looked like the first)
      ['motor_temp\u034F', /U\+034F/],
      ['pump\u3164', /U\+3164/],
      ['pump\uFFA0', /U\+FFA0/],
      ['\u115Fx', /U\+115F/],
      ['a\u17B4', /U\+17B4/],
      ['warn\uFE0F', /U\+FE0F/],
      ['blank\u2800', /U\+2800/],
      ['tag\u{E0041}', /U\+E0041/u],
      ['<script>', /contains "<"/],
      ['a&b', /contains "&"/],
      ['q"uote', /contains """/],
      ['back\\slash', /contains "\\"/],
      ['', /empty/],
    ];
    for (const [s, re] of bad) {
      assert.match(textProblem(s, 256) ?? '', re, JSON.stringify(s));
      assert.match(nameProblem(s, 128) ?? '', re, JSON.stringify(s));
    }
    assert.match(nameProblem('two words', 128)!, /space/);
    assert.equal(textProblem('two words', 256), null);
    assert.match(textProblem('x'.repeat(257), 256)!, /257 characters long, limit 256/);
  });

  it('a name must be in Unicode NFC: the decomposed spelling of a composed name is refused, texts and other scripts are not (before: "Druck_ü" spelt two ways was two fields)', () => {
    const decomposed = 'Druck_u\u0308'; // u + COMBINING DIAERESIS, as macOS writes file names
    assert.equal(decomposed.normalize('NFC'), 'Druck_\u00FC');
    assert.match(nameProblem(decomposed, 128)!, /not in Unicode NFC/);
    assert.equal(nameProblem('Druck_\u00FC', 128), null);
    // Hangul written as conjoining jamo, against the syllable every keyboard produces
    assert.match(nameProblem('\u1112\u1161\u11AB', 128)!, /not in Unicode NFC/);
    assert.equal(nameProblem('\uD55C', 128), null);
    // a combining mark with no composed form stays allowed, and so does every text (a unit, a string value)
    assert.equal(nameProblem('x\u0302y', 128), null);
    assert.equal(textProblem(decomposed, 256), null);
    // a tag value keys a series as a name does (verification round 2026-12-07: "line" + U+0301 was a second
    // equipment beside the composed one); spaces stay allowed there
    assert.match(tagValueProblem('line\u0301 2', 256)!, /not in Unicode NFC/);
    assert.equal(tagValueProblem('lin\u00E9 2', 256), null);
  });

  it("prose (who acknowledged, a note) keeps people's punctuation and refuses the same invisible characters as texts", () => {
    for (const p of ["O'Brien", 'kim <ops@plant>', 'bearing "B" & seal, see C:\\pumps', '교대 2조: 점검 완료', '`ok`'])
      assert.equal(proseProblem(p, 1000), null, p);
    const bad: Array<[string, RegExp]> = [
      ['kim\u202E', /U\+202E/],
      ['a\u0000b', /control character U\+0000/],
      ['two\nlines', /control character U\+000A/],
      ['tab\there', /control character U\+0009/],
      ['zero\u200Bwidth', /U\+200B/],
      ['nb\u00A0sp', /U\+00A0/],
      ['lone\uD800', /U\+D800/],
      ['\u0085next line', /U\+0085/],
    ];
    for (const [s, re] of bad) assert.match(proseProblem(s, 1000) ?? '', re, JSON.stringify(s));
    assert.match(proseProblem('x'.repeat(201), 200)!, /201 characters long, limit 200/);
  });

  it('previews untrusted strings printably and briefly', () => {
    assert.equal(preview('ab\u202Ecd<i>'), 'ab\\u202Ecd\\u003Ci\\u003E');
    assert.equal(preview('x'.repeat(60_000)), `${'x'.repeat(40)}…(60000 chars)`);
  });
});

describe('normalize: names from devices (attack payloads first)', () => {
  const n = new Normalizer({
    tagKeys: ['equipment_id', 'location'],
    topicPattern: 'factory/+site/+device_id/telemetry',
    keepStrings: false,
  });
  const code = (payload: unknown, ctx = {}) => {
    const r = n.normalize(payload, ctx);
    return r.ok ? 'ok' : [r.reject.code, r.reject.field];
  };

  it('ATTACK: HTML, NUL, U+202E and a 60 KB equipment_id are rejected with code and field (old code: stored as sent)', () => {
    assert.deepEqual(code({ device_id: 'pump-7', '<img src=x onerror=alert(1)>': 1 }), [
      'bad_field_name',
      '\\u003Cimg src=x onerror=alert(1)\\u003E',
    ]);
    assert.deepEqual(code({ device_id: 'pump-7', components: { motor: { 'temp\u0000': 1 } } }), [
      'bad_field_name',
      'motor_temp\\u0000',
    ]);
    assert.deepEqual(code({ device_id: 'pump-7', ['gpj.\u202Eexe']: 1 }), ['bad_field_name', 'gpj.\\u202Eexe']);
    assert.deepEqual(code({ device_id: 'pump-7', equipment_id: 'x'.repeat(60_000), t: 1 }), [
      'bad_tag_value',
      'equipment_id',
    ]);
    assert.deepEqual(code({ device_id: 'pump-7', location: 'hall <b>1</b>', t: 1 }), ['bad_tag_value', 'location']);
    assert.deepEqual(code({ device_id: 'pump\u202E7', t: 1 }), ['bad_tag_value', 'device_id']);
    assert.deepEqual(code({ device_id: 'pump-7', temp: { value: 1, unit: '°C\u0000' } }), ['bad_unit', 'temp']);
    assert.deepEqual(code({ device_id: 'pump-7', hw: 'rev3\u202E', t: 1 }), ['bad_tag_value', 'hw']);
    assert.deepEqual(code({ t: 1 }, { topic: 'factory/<script>/pump-7/telemetry' }), ['bad_tag_value', 'topic.site']);
    assert.deepEqual(code({ a: { ['b'.repeat(100)]: { ['c'.repeat(100)]: 1 } }, device_id: 'p' }), [
      'bad_field_name',
      `a_${'b'.repeat(58)}…(203 chars)`,
    ]);
    // one name spelt two ways: refused with the field, so it cannot become a second series beside the first
    assert.deepEqual(code({ device_id: 'pump-7', components: { motor: { ['Dru\u0308ck']: 1 } } }), [
      'bad_field_name',
      'motor_Dru\\u0308ck',
    ]);
    assert.equal(code({ device_id: 'pump-7', components: { motor: { ['Dr\u00FCck']: 1 } } }), 'ok');
    assert.deepEqual(code({ device_id: 'pump-7', equipment_id: 'line\u0301', t: 1 }), [
      'bad_tag_value',
      'equipment_id',
    ]);
    assert.deepEqual(code({ t: 1 }, { topic: 'factory/bu\u0301san/pump-7/telemetry' }), [
      'bad_tag_value',
      'topic.site',
    ]);
    assert.deepEqual(code({ t: 1 }, { topic: 'factory/busan/pu\u0308mp-7/telemetry' }), [
      'bad_tag_value',
      'topic.device_id',
    ]);
    const r = n.normalize({ device_id: 'pump-7', ['x\u202E']: 1 });
    assert.ok(
      !r.ok && !/[\u202E]/.test(r.reject.reason) && !/[\u202E]/.test(r.reject.field ?? ''),
      'reasons and fields are printable'
    );
  });

  it('keeps legitimate payloads passing: the issue examples, units with symbols, non-Latin names', () => {
    assert.equal(code(PUMP), 'ok');
    assert.equal(code(SENSOR), 'ok');
    assert.equal(
      code({
        device_id: 'p-1',
        温度: { value: 21.5, unit: '°C' },
        flow: { value: 2, unit: 'm³/h' },
        location: 'Busan plant 2',
        t: 1,
      }),
      'ok'
    );
    const s = new Normalizer({ keepStrings: true });
    const bad = s.normalize({ device_id: 'p', note: 'hi\u202E' });
    assert.ok(!bad.ok && bad.reject.code === 'bad_string' && bad.reject.field === 'note');
    assert.equal(s.normalize({ device_id: 'p', note: 'all good', v: 1 }).ok, true);
  });
});

describe('oneLine (a server error text in a log line or an alert)', () => {
  it('keeps what prose may hold, escapes control and format characters, folds and cuts', () => {
    // operator round 2026-12-07: the database's answer read {\u0022error\u0022:\u0022internal\u0022} in the alert
    assert.equal(oneLine('HTTP 500 {"error":"internal"}', 200), 'HTTP 500 {"error":"internal"}');
    assert.equal(oneLine("a\n\tb <x> & 'y'", 200), "a b <x> & 'y'");
    assert.equal(oneLine('x\u202Ey\u0000', 200), 'x\\u202Ey\\u0000');
    assert.equal(proseProblem(oneLine('{"a":1} \u202E', 200), 1000), null, 'a note may carry it');
    assert.equal(oneLine('abcdef', 3), 'abc');
  });
});
