import assert from 'node:assert/strict';
import { parseBrokerUrls, topicMatches } from '../../../../nodes/core/mqtt/topics';

describe('mqtt source helpers: broker URL lists and topic filters', () => {
  it('parses a failover list (commas, spaces, newlines), defaults ports per scheme, accepts a bare host', () => {
    assert.deepEqual(parseBrokerUrls('mqtt://a:1884, mqtts://b\n c'), [
      { host: 'a', port: 1884, protocol: 'mqtt' },
      { host: 'b', port: 8883, protocol: 'mqtts' },
      { host: 'c', port: 1883, protocol: 'mqtt' },
    ]);
    assert.deepEqual(parseBrokerUrls(''), []);
    assert.throws(() => parseBrokerUrls('http://x'), /unsupported broker URL scheme/);
  });

  it('matches + and # like a broker, keeping $-topics out of wildcards at the first level', () => {
    assert.ok(topicMatches('devices/+/telemetry', 'devices/pump-7/telemetry'));
    assert.ok(!topicMatches('devices/+/telemetry', 'devices/pump-7/status'));
    assert.ok(!topicMatches('devices/+/telemetry', 'devices/a/b/telemetry'));
    assert.ok(topicMatches('devices/#', 'devices/a/b'));
    assert.ok(topicMatches('devices/#', 'devices'), '# also matches the parent level');
    assert.ok(topicMatches('#', 'anything/at/all'));
    assert.ok(!topicMatches('#', '$SYS/broker/load'));
    assert.ok(!topicMatches('+/broker/load', '$SYS/broker/load'));
    assert.ok(topicMatches('$SYS/#', '$SYS/broker/load'));
    assert.ok(!topicMatches('a/b', 'a'));
  });
});
