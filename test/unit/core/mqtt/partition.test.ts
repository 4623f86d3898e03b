// Partitioned source (issue #15): settings, the subscribed filters, the topic the flow sees, the client id,
// and the NATS mapping the cluster scripts write (scripts/nats-cluster.js).
import assert from 'node:assert/strict';
import {
  parsePartition,
  partitionClientId,
  partitionFilter,
  unpartitionTopic,
  topicMatches,
} from '../../../../nodes/core/mqtt/topics';
type Login = { username: string; password: string };
const { clusterLogins, partitionMappings, serverConfig } = require('../../../../scripts/nats-cluster.js') as {
  clusterLogins(): { pipeline: Login; route: Login; device: Login };
  partitionMappings(n: number): string;
  serverConfig(o: {
    i: number;
    servers: Array<{ client: number; cluster: number; mqtt: number; http?: number }>;
    storeDir: string;
    partitions: number;
    logins?: ReturnType<typeof clusterLogins>;
  }): string;
};

describe('mqtt source partitions (MOBY_PARTITION / MOBY_PARTITIONS)', () => {
  it('is off when both settings are empty and refuses half or impossible settings with what is wrong', () => {
    assert.deepEqual(parsePartition('', ''), { ok: true, partition: null });
    assert.deepEqual(parsePartition(undefined, undefined), { ok: true, partition: null });
    assert.deepEqual(parsePartition('2', '3'), { ok: true, partition: { index: 2, count: 3 } });
    assert.deepEqual(parsePartition(0, 1), { ok: true, partition: { index: 0, count: 1 } });
    const bad: Array<[unknown, unknown, RegExp]> = [
      ['1', '', /set both MOBY_PARTITION and MOBY_PARTITIONS/],
      ['', '3', /set both/],
      ['3', '3', /must be 0 … 2/],
      ['0', '0', /must be 0 … 0/],
      ['-1', '3', /whole numbers/],
      ['1.5', '3', /whole numbers/],
      ['a', '3', /whole numbers/],
    ];
    for (const [i, n, re] of bad) {
      const r = parsePartition(i, n);
      assert.equal(r.ok, false, `${i} of ${n}`);
      if (!r.ok) assert.match(r.error, re);
    }
  });

  it('subscribes under p/<k>/, hands the flow the topic without it, and ignores other partitions', () => {
    const p = { index: 1, count: 3 };
    assert.equal(partitionFilter(p, 'devices/+/telemetry'), 'p/1/devices/+/telemetry');
    assert.equal(partitionFilter(p, 'device/lwt/+'), 'p/1/device/lwt/+');
    assert.equal(partitionFilter(null, 'devices/+/telemetry'), 'devices/+/telemetry');
    assert.equal(unpartitionTopic(p, 'p/1/devices/pump-7/telemetry'), 'devices/pump-7/telemetry');
    assert.equal(unpartitionTopic(p, 'p/2/devices/pump-7/telemetry'), null);
    assert.equal(unpartitionTopic(p, 'p/11/devices/pump-7/telemetry'), null, 'p/1/ is not a prefix of p/11/');
    assert.equal(unpartitionTopic(p, 'devices/pump-7/telemetry'), null);
    assert.equal(unpartitionTopic(null, 'devices/pump-7/telemetry'), 'devices/pump-7/telemetry');
    assert.ok(topicMatches(partitionFilter(p, 'devices/+/telemetry'), 'p/1/devices/pump-7/telemetry'));
    assert.equal(partitionClientId(p, 'moby-pipeline'), 'moby-pipeline-1');
    assert.equal(partitionClientId(null, 'moby-pipeline'), 'moby-pipeline');
  });

  it('maps telemetry, will and status of a device by the same token, so one instance owns all three', () => {
    const m = partitionMappings(3);
    assert.match(
      m,
      /"devices\.\*\.telemetry": "p\.\{\{partition\(3,1\)\}\}\.devices\.\{\{wildcard\(1\)\}\}\.telemetry"/
    );
    assert.match(m, /"device\.lwt\.\*": "p\.\{\{partition\(3,1\)\}\}\.device\.lwt\.\{\{wildcard\(1\)\}\}"/);
    assert.match(m, /"device\.status\.\*": "p\.\{\{partition\(3,1\)\}\}\.device\.status\.\{\{wildcard\(1\)\}\}"/);
    assert.throws(() => partitionMappings(0), /≥ 1/);
    // a publish straight to a partition's subject is moved out of every partition's reach (red-team 2026-12-07)
    assert.match(
      m,
      /"p\.\*\.devices\.\*\.telemetry": "unrouted\.p\.\{\{wildcard\(1\)\}\}\.devices\.\{\{wildcard\(2\)\}\}\.telemetry"/
    );
    assert.match(
      m,
      /"p\.\*\.device\.lwt\.\*": "unrouted\.p\.\{\{wildcard\(1\)\}\}\.device\.lwt\.\{\{wildcard\(2\)\}\}"/
    );
    const servers = [1, 2, 3].map((i) => ({ client: 4000 + i, cluster: 5000 + i, mqtt: 6000 + i }));
    const logins = clusterLogins();
    const conf = serverConfig({ i: 1, servers, storeDir: '/tmp/x', partitions: 3, logins });
    const route = `moby-route:${logins.route.password}@`;
    assert.ok(
      conf.includes(`routes: [nats-route://${route}127.0.0.1:5001, nats-route://${route}127.0.0.1:5003]`),
      'routes to the other servers only, with the routes login'
    );
    assert.match(conf, /mqtt \{ listen: 127\.0\.0\.1:6002, max_ack_pending: 1000, stream_replicas: 3/);
    assert.doesNotMatch(conf, /^http:/m, 'no monitoring port unless asked for');
    assert.throws(() => serverConfig({ i: 1, servers, storeDir: '/tmp/x', partitions: 3 }), /logins/);
    assert.notEqual(clusterLogins().pipeline.password, logins.pipeline.password, 'generated per start');
  });
});
