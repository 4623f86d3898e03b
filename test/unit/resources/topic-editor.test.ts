// The edit dialogs validate and migrate topic patterns with a browser twin of nodes/core/topic.ts
// (resources/moby-editor.js; the editor cannot load the TypeScript core). Both run here over one table, so a
// rule changed in one and not the other fails: a dialog never accepts what the node refuses at deploy, nor
// shows a migrated pattern the runtime would read differently. The dialogs word a refusal from the moby-mqtt
// message catalogue (so a Korean editor says it in Korean); its en-US texts are the runtime's texts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import {
  parseTopicPattern,
  migrateDeviceLevel,
  migrateHealthPattern,
  migrateHealthPatterns,
  TOPIC_PROBLEM_TEXT,
} from '../../../nodes/core/topic';

type Problem = { code: string; params: Record<string, string | number> };

interface EditorTopic {
  parseTopicPattern: (s: string) => Problem | { names: string[] };
  topicProblemText: (p: Problem) => string;
  migrateDeviceLevel: (s: string, level?: unknown) => string;
  migrateHealthPattern: (s: string) => string;
  migrateHealthPatterns: (s: string) => string;
  topicPattern: (o?: object) => (this: Record<string, unknown> | undefined, v: unknown) => true | string;
}

// the moby-mqtt set's catalogues, read as Node-RED's editor reads them: `namespace:key`, `__value__`
// interpolation, en-US where the language has no text, the key itself where no catalogue has one
const NAMESPACE = '@moby-iot/node-red-moby/moby-mqtt';
const catalogue = (lang: string) =>
  JSON.parse(
    fs.readFileSync(path.join(__dirname, `../../../nodes/mqtt/locales/${lang}/moby-mqtt.json`), 'utf8')
  ) as Record<string, unknown>;
const catalogues: Record<string, Record<string, unknown>> = { 'en-US': catalogue('en-US'), ko: catalogue('ko') };
let lang = 'en-US';
function lookup(cat: Record<string, unknown>, key: string): string | undefined {
  const v = key
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), cat);
  return typeof v === 'string' ? v : undefined;
}
function translate(full: string, params: Record<string, unknown> = {}): string {
  const [ns, key] = full.split(':');
  const text = ns === NAMESPACE ? (lookup(catalogues[lang], key) ?? lookup(catalogues['en-US'], key)) : undefined;
  if (text === undefined) return full;
  return text.replace(/__([A-Za-z]+)__/g, (whole, k: string) => (k in params ? String(params[k]) : whole));
}

const win: Record<string, unknown> = {};
const doc = { createElement: () => ({ setAttribute() {}, textContent: '' }), head: { appendChild() {} } };
vm.runInNewContext(fs.readFileSync(path.join(__dirname, '../../../resources/moby-editor.js'), 'utf8'), {
  window: win,
  document: doc,
  RED: { _: translate },
  $: () => undefined,
});
const editor = win.MOBY_EDITOR as EditorTopic;

const PATTERNS = [
  'devices/+device_id/telemetry',
  't/+tenant/devices/+device_id/#',
  'devices/+/telemetry',
  'site/+/+/data',
  '#',
  '+/+/+',
  'moby/+/#',
  'factory/+site/+line.no/+device_id',
  '/leading/+device_id',
  'a//+device_id',
  'device/lwt/+',
  'factory/+/{device_id}/#',
  'a/+/b/+',
  '',
  '   ',
  'a/#/b',
  'a/b#',
  'a/b+',
  'a/+1abc',
  'a/+dev id',
  'a/+' + 'x'.repeat(65),
  'a/+__proto__',
  'a/+constructor',
  'a/+prototype',
  '+device_id/x/+device_id',
  'device/{device_id}',
  'a/{x}',
  'a/}',
  'a/\u0000',
  'a/'.repeat(600),
  'a/+x#',
  'ü/+ñame',
  '+tenant/+',
  'x'.repeat(100) + '/#/y',
];

describe('topic patterns: the editor twin agrees with the core', () => {
  it('accepts and refuses the same patterns, with the same reason', () => {
    for (const s of PATTERNS) {
      const core = parseTopicPattern(s);
      const twin = editor.parseTopicPattern(s);
      if (typeof core === 'string') assert.equal(editor.topicProblemText(twin as Problem), core, JSON.stringify(s));
      else assert.deepEqual(JSON.parse(JSON.stringify(twin)), { names: [...core.names] }, JSON.stringify(s));
    }
  });

  it('words every refusal from the catalogues: en-US is the runtime text, ko has each with the same values', () => {
    const errors = (l: string) => (catalogues[l].topicPattern as { errors: Record<string, string> }).errors;
    assert.deepEqual(errors('en-US'), { ...TOPIC_PROBLEM_TEXT });
    const values = (t: string) => [...t.matchAll(/__([A-Za-z]+)__/g)].map((m) => m[1]).sort();
    assert.deepEqual(Object.keys(errors('ko')).sort(), Object.keys(TOPIC_PROBLEM_TEXT).sort());
    for (const [code, text] of Object.entries(errors('ko'))) {
      assert.deepEqual(values(text), values(TOPIC_PROBLEM_TEXT[code as keyof typeof TOPIC_PROBLEM_TEXT]), code);
      assert.match(text, /토픽 패턴/, code);
    }
    lang = 'ko';
    try {
      const verify = editor.topicPattern({ require: 'device_id' });
      assert.equal(verify.call({}, 'site/plant/data'), '토픽 패턴 "site/plant/data"에 +device_id 레벨이 없습니다');
      assert.equal(
        verify.call({}, 'a/#/+device_id'),
        '토픽 패턴 "a/#/+device_id", 2번째 레벨 "#": \'#\'은 마지막 레벨 전체로만 쓸 수 있습니다'
      );
      assert.equal(editor.topicPattern({}).call({}, ''), '토픽 패턴이 비어 있습니다');
    } finally {
      lang = 'en-US';
    }
  });

  it('migrates old settings to the same patterns', () => {
    for (const s of PATTERNS) {
      for (const level of [undefined, '', 1, 2, '3', 4])
        assert.equal(
          editor.migrateDeviceLevel(s, level),
          migrateDeviceLevel(s, level as number | string | undefined),
          `${JSON.stringify(s)} level ${level}`
        );
      assert.equal(editor.migrateHealthPattern(s), migrateHealthPattern(s), JSON.stringify(s));
    }
    for (const list of ['device/lwt/+, plant/+/{device_id}\nx/+', ' a/+ ,, b/{device_id}/# ', '', 'x/+device_id,y/+']) {
      assert.equal(editor.migrateHealthPatterns(list), migrateHealthPatterns(list), JSON.stringify(list));
    }
  });

  it('the field validators: verify needs +device_id (an old pattern counts with its level), health lists migrate, ${ENV} passes', () => {
    const verify = editor.topicPattern({ blank: true, require: 'device_id', levelProperty: 'topicLevel' });
    assert.equal(verify.call({ topicLevel: '' }, ''), true);
    assert.equal(verify.call({ topicLevel: '' }, 'devices/+device_id/telemetry'), true);
    assert.equal(
      verify.call({ topicLevel: 2 }, 'site/+/+/data'),
      true,
      'an old flow is valid before its dialog is opened'
    );
    assert.match(String(verify.call({ topicLevel: 3 }, 'site/+/+/data')), /names no \+device_id/);
    assert.match(String(verify.call({}, 'site/plant/data')), /names no \+device_id/);
    assert.match(String(verify.call({}, 'a/#/+device_id')), /must be the last/);
    assert.equal(verify.call({}, '${DEVICE_TOPIC}'), true);
    const health = editor.topicPattern({ blank: true, list: true, health: true });
    assert.equal(health.call({}, 'device/lwt/+, factory/+/{device_id}/#'), true);
    assert.match(String(health.call({}, 'device/lwt/+, a/b+')), /whole level/);
    assert.notEqual(editor.topicPattern({}).call({}, ''), true, 'empty is refused where a pattern is required');
  });
});
