// The one topic-pattern syntax (nodes/core/topic.ts): compile-time validation with messages that say where,
// named captures, MQTT wildcard semantics, per-value checks, and the migration of the three old dialects.
import { strict as assert } from 'node:assert';
import {
  TopicPattern,
  parseTopicPattern,
  captureProblem,
  levelsProblem,
  topicValueProblem,
  migrateDeviceLevel,
  migrateHealthPattern,
  migrateHealthPatterns,
} from '../../../nodes/core/topic';

const compile = (s: string) => TopicPattern.compile(s);

describe('topic patterns (core/topic.ts)', () => {
  describe('matching', () => {
    it('captures named levels and ignores bare +', () => {
      const p = compile('t/+tenant/factory/+/+device_id/telemetry');
      assert.deepEqual(p.names, ['tenant', 'device_id']);
      assert.deepEqual(p.match('t/acme/factory/hall-1/pump-7/telemetry'), { tenant: 'acme', device_id: 'pump-7' });
      assert.equal(p.has('tenant'), true);
      assert.equal(p.has('site'), false);
    });

    it('literals must match exactly and the level count must agree', () => {
      const p = compile('devices/+device_id/telemetry');
      assert.equal(p.match('devices/pump-7/status'), null);
      assert.equal(p.match('Devices/pump-7/telemetry'), null);
      assert.equal(p.match('devices/pump-7/telemetry/x'), null);
      assert.equal(p.match('devices/pump-7'), null);
    });

    it('# matches the rest, including nothing (as MQTT: a/# matches a)', () => {
      const p = compile('moby/+device_id/#');
      assert.deepEqual(p.match('moby/pump-7/a/b/c'), { device_id: 'pump-7' });
      assert.deepEqual(p.match('moby/pump-7'), { device_id: 'pump-7' });
      assert.equal(p.match('moby'), null);
      assert.deepEqual(compile('#').match('any/thing'), {});
    });

    it('levels() gives the split topic of a match, read through levelOf (the allocation-free form of match)', () => {
      const p = compile('t/+tenant/+/+device_id/#');
      const levels = p.levels('t/acme/hall/pump-7/a/b')!;
      assert.equal(levels[p.levelOf('tenant')], 'acme');
      assert.equal(levels[p.levelOf('device_id')], 'pump-7');
      assert.equal(p.levelOf('site'), -1);
      assert.deepEqual(p.nameLevels, [1, 3]);
      assert.equal(p.levels('u/acme/hall/pump-7'), null);
      assert.equal(p.levels('t/acme//pump-7', { emptyLevels: false }), null);
    });

    it('test() and levelAt() (no split) agree with matching the split topic, level by level', () => {
      // the reference: the split-based matcher levels() was before it checked in place
      const reference = (literals: Array<string | null>, rest: boolean, topic: string, allowEmpty: boolean) => {
        const parts = topic.split('/');
        if (rest ? parts.length < literals.length : parts.length !== literals.length) return null;
        for (let i = 0; i < literals.length; i++) {
          const l = literals[i];
          if (l === null ? !allowEmpty && parts[i] === '' : l !== parts[i]) return null;
        }
        return parts;
      };
      const patterns: Array<[string, Array<string | null>, boolean]> = [
        ['devices/+device_id/telemetry', ['devices', null, 'telemetry'], false],
        ['t/+tenant/+/+device_id/#', ['t', null, null, null], true],
        ['moby/+device_id/#', ['moby', null], true],
        ['+device_id', [null], false],
        ['#', [], true],
        ['device/status/+device_id', ['device', 'status', null], false],
      ];
      const topics = [
        '',
        '/',
        '//',
        'devices',
        'devices/',
        'devices/pump-7',
        'devices/pump-7/telemetry',
        'devices/pump-7/telemetry/',
        'devices//telemetry',
        'devices/pump-7/telemetryX',
        'devicesX/pump-7/telemetry',
        'device/status/pump-7',
        'device/status/',
        't/acme/hall/pump-7',
        't/acme/hall/pump-7/a/b',
        't/acme//pump-7',
        't//hall/',
        'moby',
        'moby/',
        'moby/pump-7',
        'pump-7',
      ];
      for (const [source, literals, rest] of patterns) {
        const p = compile(source);
        for (const topic of topics)
          for (const allowEmpty of [true, false]) {
            const want = reference(literals, rest, topic, allowEmpty);
            const opts = { emptyLevels: allowEmpty };
            assert.equal(p.test(topic, opts), want !== null, `${source} ${JSON.stringify(topic)} ${allowEmpty}`);
            assert.deepEqual(p.levels(topic, opts), want, `${source} ${JSON.stringify(topic)}`);
            if (want) for (let i = 0; i < want.length; i++) assert.equal(p.levelAt(topic, i), want[i]);
          }
      }
      assert.equal(compile('a/+').levelAt('a', 1), undefined);
    });

    it('an empty level matches a wildcard unless the caller says otherwise', () => {
      const p = compile('devices/+device_id/telemetry');
      assert.deepEqual(p.match('devices//telemetry'), { device_id: '' });
      assert.equal(p.match('devices//telemetry', { emptyLevels: false }), null);
      assert.equal(compile('a/+/b').match('a//b', { emptyLevels: false }), null);
    });
  });

  describe('validation at deploy', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /empty topic pattern/],
      ['   ', /empty topic pattern/],
      ['a/#/b', /level 2 "#": '#' only as the whole last level/],
      ['a/b#', /wildcards must fill a whole level/],
      ['a/b+', /level 2 "b\+": wildcards must fill a whole level/],
      ['a/+1abc', /after '\+' comes a name/],
      ['a/+dev id', /after '\+' comes a name/],
      ['a/+' + 'x'.repeat(65), /at most 64/],
      ['a/+__proto__', /"__proto__" cannot be a tag name/],
      ['a/+constructor', /"constructor" cannot be a tag name/],
      ['+device_id/x/+device_id', /\+device_id appears twice/],
      ['device/{device_id}', /write \+device_id/],
      ['a/{x}', /wildcards must fill a whole level/],
      ['a/\u0000', /U\+0000/],
      ['a/'.repeat(600), /limit 1024/],
    ];
    for (const [source, why] of bad) {
      it(`refuses ${JSON.stringify(source.length > 30 ? `${source.slice(0, 30)}…` : source)}`, () => {
        const r = parseTopicPattern(source);
        assert.equal(typeof r, 'string');
        assert.match(r as string, why);
        assert.throws(() => TopicPattern.compile(source), why);
      });
    }

    it('accepts the layouts users write', () => {
      for (const s of [
        'devices/+device_id/telemetry',
        't/+tenant/devices/+device_id/#',
        '+/+/+',
        '#',
        'factory/+site/+line.no/+device_id',
        '/leading/+device_id',
        'a//+device_id',
      ]) {
        assert.ok(parseTopicPattern(s) instanceof TopicPattern, s);
      }
    });
  });

  describe('captured values', () => {
    it('a device id is a name, a tenant a tenant name, anything else a text', () => {
      assert.equal(topicValueProblem('device_id', 'pump-7'), null);
      assert.match(topicValueProblem('device_id', 'pump 7')!, /space/);
      assert.match(topicValueProblem('device_id', 'x'.repeat(129))!, /limit 128/);
      assert.equal(topicValueProblem('device_id', 'x'.repeat(20), { name: 16 })!.includes('limit 16'), true);
      assert.equal(topicValueProblem('tenant', 'acme_1'), null);
      assert.match(topicValueProblem('tenant', 'acme.corp')!, /1-64 characters/);
      assert.equal(topicValueProblem('site', 'Hall 1 Süd'), null);
      assert.match(topicValueProblem('site', 'a\u202Eb')!, /U\+202E/);
      assert.match(topicValueProblem('site', 'x'.repeat(300))!, /limit 256/);
    });

    it('captureProblem names the first bad level in level order and skips empty ones', () => {
      const p = compile('+site/+device_id/+line');
      assert.deepEqual(captureProblem(p.match('ok/<b>/a\u0000')!), { name: 'device_id', problem: 'contains "<"' });
      assert.equal(captureProblem(p.match('/pump-7/')!), null);
      assert.deepEqual(levelsProblem(p, p.levels('ok/<b>/a\u0000')!), { name: 'device_id', problem: 'contains "<"' });
      assert.deepEqual(levelsProblem(p, p.levels('ok/pump-7/a\u0000')!), {
        name: 'line',
        problem: 'contains control character U+0000',
      });
      assert.equal(levelsProblem(p, p.levels('/pump-7/')!), null);
    });
  });

  describe('migration of the old settings', () => {
    it('verify: the N-th + (not +tenant) becomes +device_id; named patterns stay', () => {
      assert.equal(migrateDeviceLevel('devices/+/telemetry'), 'devices/+device_id/telemetry');
      assert.equal(migrateDeviceLevel('devices/+/telemetry', 1), 'devices/+device_id/telemetry');
      assert.equal(migrateDeviceLevel('site/+/+/data', 2), 'site/+/+device_id/data');
      assert.equal(migrateDeviceLevel('site/+/+/data', '2'), 'site/+/+device_id/data');
      assert.equal(migrateDeviceLevel('t/+tenant/d/+/x', 1), 't/+tenant/d/+device_id/x');
      assert.equal(migrateDeviceLevel('moby/+/#', ''), 'moby/+device_id/#');
      assert.equal(
        migrateDeviceLevel('t/+tenant/devices/+device_id/telemetry', 3),
        't/+tenant/devices/+device_id/telemetry'
      );
      assert.equal(migrateDeviceLevel('devices/+', 2), 'devices/+', 'no such level: left for compile to report');
      assert.equal(migrateDeviceLevel(''), '');
    });

    it('migrating twice changes nothing more', () => {
      for (const [s, l] of [
        ['devices/+/telemetry', 1],
        ['site/+/+/data', 2],
      ] as const) {
        const once = migrateDeviceLevel(s, l);
        assert.equal(migrateDeviceLevel(once, l), once);
      }
      for (const s of ['device/lwt/+', 'factory/+/{device_id}/#', 'a/b'])
        assert.equal(migrateHealthPattern(migrateHealthPattern(s)), migrateHealthPattern(s));
    });

    it('health: {device_id} or else the last + becomes +device_id', () => {
      assert.equal(migrateHealthPattern('device/lwt/+'), 'device/lwt/+device_id');
      assert.equal(migrateHealthPattern('factory/+/{device_id}/#'), 'factory/+/+device_id/#');
      assert.equal(migrateHealthPattern('a/+/b/+'), 'a/+/b/+device_id');
      assert.equal(migrateHealthPattern('a/b/#'), 'a/b/#');
      assert.equal(migrateHealthPattern('t/+tenant/lwt/+device_id'), 't/+tenant/lwt/+device_id');
      // +tenant names no device: the last bare + still holds the id (as the verifier's migration skips +tenant)
      assert.equal(migrateHealthPattern('t/+tenant/device/lwt/+'), 't/+tenant/device/lwt/+device_id');
      assert.equal(migrateHealthPattern('t/+tenant/+site/+'), 't/+tenant/+site/+');
      assert.equal(
        migrateHealthPatterns('device/lwt/+, plant/+/{device_id}\nx/+'),
        'device/lwt/+device_id, plant/+/+device_id\nx/+device_id'
      );
      assert.equal(migrateHealthPatterns(''), '');
    });

    it('migrated patterns extract the same ids as the old matchers did', () => {
      // old verify: 'site/+/+/data' with "device is +2"; old health: 'factory/+/{device_id}/#' and 'device/lwt/+'
      assert.deepEqual(compile(migrateDeviceLevel('site/+/+/data', 2)).match('site/plant-1/pump-7/data'), {
        device_id: 'pump-7',
      });
      assert.deepEqual(compile(migrateHealthPattern('factory/+/{device_id}/#')).match('factory/hall1/m-3/vib/x'), {
        device_id: 'm-3',
      });
      assert.deepEqual(compile(migrateHealthPattern('device/lwt/+')).match('device/lwt/pi-7'), { device_id: 'pi-7' });
    });
  });
});
