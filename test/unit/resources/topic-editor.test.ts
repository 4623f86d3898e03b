// The edit dialogs validate and migrate topic patterns with a browser twin of nodes/core/topic.ts
// (resources/moby-editor.js; the editor cannot load the TypeScript core). Both run here over one table, so a
// rule changed in one and not the other fails: a dialog never accepts what the node refuses at deploy, nor
// shows a migrated pattern the runtime would read differently.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import {
  parseTopicPattern,
  migrateDeviceLevel,
  migrateHealthPattern,
  migrateHealthPatterns,
} from '../../../nodes/core/topic';

interface EditorTopic {
  parseTopicPattern: (s: string) => string | { names: string[] };
  migrateDeviceLevel: (s: string, level?: unknown) => string;
  migrateHealthPattern: (s: string) => string;
  migrateHealthPatterns: (s: string) => string;
  topicPattern: (o?: object) => (this: Record<string, unknown> | undefined, v: unknown) => true | string;
}

const win: Record<string, unknown> = {};
const doc = { createElement: () => ({ setAttribute() {}, textContent: '' }), head: { appendChild() {} } };
vm.runInNewContext(fs.readFileSync(path.join(__dirname, '../../../resources/moby-editor.js'), 'utf8'), {
  window: win,
  document: doc,
  RED: { _: (k: string) => k },
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
      if (typeof core === 'string') assert.equal(twin, core, JSON.stringify(s));
      else assert.deepEqual(JSON.parse(JSON.stringify(twin)), { names: [...core.names] }, JSON.stringify(s));
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
