// npm start's embedded broker rules (nodes/core/mqtt/embedded-broker.ts): the pipeline's client id and
// subscriptions belong to the pipeline's login; devices connect without one and publish.
import assert from 'node:assert/strict';
import {
  BrokerRefusalLog,
  EMBEDDED_BROKER_MAX_PACKET,
  EMBEDDED_BROKER_MAX_WILL,
  embeddedBrokerConnect,
  embeddedBrokerMaySubscribe,
  embeddedBrokerPublishesWill,
  RetainedBudget,
  hasEmptyTopicLevel,
  PendingQos2,
  forwardedQos,
  protocolErrorOf,
  brokerRefusal,
} from '../../../../nodes/core/mqtt/embedded-broker';

describe('embedded broker rules', () => {
  const login = { clientId: 'moby-pipeline', username: 'moby-pipeline', password: 'pipeline-secret-1234' };

  it('the pipeline connects with its login, under its client id or a partition of it', () => {
    for (const id of ['moby-pipeline', 'moby-pipeline-0', 'anything'])
      assert.deepEqual(embeddedBrokerConnect(login, id, 'moby-pipeline', Buffer.from('pipeline-secret-1234')), {
        ok: true,
        pipeline: true,
      });
  });

  it("refuses the pipeline's client id (and its partitions') without the login, and a wrong password", () => {
    for (const [id, user, pw] of [
      ['moby-pipeline', undefined, undefined],
      ['moby-pipeline-1', undefined, undefined],
      ['moby-pipeline', 'someone', Buffer.from('x')],
      ['fan-001', 'moby-pipeline', Buffer.from('guess')],
      ['fan-001', 'moby-pipeline', undefined],
    ] as const) {
      const v = embeddedBrokerConnect(login, id, user, pw);
      assert.equal(v.ok, false, `${id} ${user}`);
    }
  });

  it('refuses a will topic with a wildcard, for devices and the pipeline alike; a plain will is fine', () => {
    for (const topic of ['device/lwt/+', 'device/status/#', '#', 'a/b+'])
      for (const [user, pw] of [
        [undefined, undefined],
        ['moby-pipeline', Buffer.from('pipeline-secret-1234')],
      ] as const) {
        const v = embeddedBrokerConnect(login, 'fan-001', user, pw, topic);
        assert.equal(v.ok ? 'ok' : v.kind, 'wildcard_will', topic);
      }
    assert.deepEqual(embeddedBrokerConnect(login, 'fan-001', undefined, undefined, 'device/lwt/fan-001'), {
      ok: true,
      pipeline: false,
    });
  });

  it('refuses a will over the cap, topic and payload together, for devices and the pipeline alike (red-team 2026-12-06: 6,000 wills of 125 KB grew npm start by 490 MB)', () => {
    const topic = 'device/lwt/fan-001'; // 18 bytes
    assert.equal(EMBEDDED_BROKER_MAX_WILL, 4096);
    assert.deepEqual(embeddedBrokerConnect(login, 'fan-001', undefined, undefined, topic, 4096 - 18), {
      ok: true,
      pipeline: false,
    });
    for (const [user, pw] of [
      [undefined, undefined],
      ['moby-pipeline', Buffer.from('pipeline-secret-1234')],
    ] as const) {
      const v = embeddedBrokerConnect(login, 'fan-001', user, pw, topic, 4096 - 17);
      assert.equal(v.ok ? 'ok' : v.kind, 'will_too_large');
      assert.match(v.ok ? '' : v.reason, /its will holds 4097 bytes \(topic and payload\), over the cap of 4096/);
    }
    const longTopic = `device/lwt/${'x'.repeat(5000)}`;
    assert.equal(
      (embeddedBrokerConnect(login, 'fan-001', undefined, undefined, longTopic, 0) as { kind: string }).kind,
      'will_too_large'
    );
    assert.ok(
      embeddedBrokerConnect(login, 'fan-001', undefined, undefined, topic, 60_000, 65_536).ok,
      'the cap is a setting'
    );
    assert.ok(embeddedBrokerConnect(login, 'fan-001', undefined, undefined).ok, 'no will, no limit');
  });

  it('devices and the simulator connect without a login, and only the pipeline subscribes', () => {
    assert.deepEqual(embeddedBrokerConnect(login, 'moby-sim-fan-001', undefined, undefined), {
      ok: true,
      pipeline: false,
    });
    assert.deepEqual(embeddedBrokerConnect(login, 'moby-pipelines', 'dev', Buffer.from('x')), {
      ok: true,
      pipeline: false,
    });
    assert.equal(embeddedBrokerMaySubscribe(false), false);
    assert.equal(embeddedBrokerMaySubscribe(true), true);
  });
});

describe('embedded broker refusal log', () => {
  it('logs the first refusals of a window one by one, counts the rest into one summary line per window', () => {
    const log = new BrokerRefusalLog({ linesPerWindow: 3 });
    const lines: string[] = [];
    for (let i = 0; i < 50; i++) {
      const line = log.note('wrong_password', 'x', `refused #${i}`);
      if (line) lines.push(line);
    }
    log.note('pipeline_client_id', 'moby-pipeline', 'refused thief');
    assert.deepEqual(lines, ['refused #0', 'refused #1', 'refused #2']);
    assert.equal(
      log.summary(60),
      "refused 48 more in the last 60 s without a line each (wrong pipeline password 47, pipeline's client id without its login 1); " +
        "since start: wrong pipeline password 50, pipeline's client id without its login 1, packet too large 0, " +
        'retained message over budget 0, will of a displaced connection 0, ' +
        'idle connection closed at the connection cap 0, no CONNECT in time 0, publish to a topic with an empty level 0, message dropped: the queue for the pipeline was full 0, QoS 2 message id forgotten before its PUBREL 0, will topic with a wildcard 0, will over its size cap 0, ' +
        'unfinished packet closed at the partial-packet budget 0, connection closed for a protocol error 0' +
        ', device held: the pipeline had not subscribed yet 0, subscription refused: only the pipeline subscribes 0, device closed or not answered: npm start was stopping 0'
    );
    // a quiet window says nothing; the next one has its own budget again
    assert.equal(log.summary(60), null);
    assert.equal(log.note('wrong_password', 'x', 'again'), 'again');
    assert.equal(log.summary(60), null);
    assert.deepEqual(log.totals, {
      wrong_password: 51,
      pipeline_client_id: 1,
      packet_too_large: 0,
      retained_over_budget: 0,
      takeover_will: 0,
      connection_evicted: 0,
      connect_timeout: 0,
      empty_topic_level: 0,
      queue_full: 0,
      qos2_forgotten: 0,
      wildcard_will: 0,
      will_too_large: 0,
      stalled_packet: 0,
      protocol_error: 0,
      pipeline_not_subscribed: 0,
      subscribe_refused: 0,
      stopping: 0,
    });
  });

  it('logs a packet too large once per client, however often it comes back', () => {
    const log = new BrokerRefusalLog({ linesPerWindow: 100 });
    const lines = [];
    for (let i = 0; i < 10; i++) lines.push(log.note('packet_too_large', 'id:fan-001', 'big from fan-001'));
    lines.push(log.note('packet_too_large', 'id:fan-002', 'big from fan-002'));
    for (let w = 0; w < 3; w++) {
      log.summary(60);
      lines.push(log.note('packet_too_large', 'id:fan-001', 'big from fan-001'));
    }
    assert.deepEqual(
      lines.filter((l) => l !== null),
      ['big from fan-001', 'big from fan-002']
    );
    assert.equal(log.totals.packet_too_large, 14);
    assert.match(
      log.summary(60)!,
      /packet too large 1\); since start: .*packet too large 14, retained message over budget 0, will of a displaced connection 0, idle connection closed at the connection cap 0, no CONNECT in time 0, publish to a topic with an empty level 0, message dropped: the queue for the pipeline was full 0, QoS 2 message id forgotten before its PUBREL 0, will topic with a wildcard 0, will over its size cap 0, unfinished packet closed at the partial-packet budget 0, connection closed for a protocol error 0, device held: the pipeline had not subscribed yet 0, subscription refused: only the pipeline subscribes 0, device closed or not answered: npm start was stopping 0$/
    );
  });

  it('remembers a bounded number of clients: beyond, packets too large are only counted', () => {
    const log = new BrokerRefusalLog({ linesPerWindow: 1000, maxClients: 2 });
    const logged = ['a', 'b', 'c', 'd'].filter((c) => log.note('packet_too_large', c, c) !== null);
    assert.deepEqual(logged, ['a', 'b']);
    assert.match(log.summary(60)!, /refused 2 more/);
  });

  it("the default packet cap sits a little above the verifier's largest envelope", () => {
    assert.equal(EMBEDDED_BROKER_MAX_PACKET, 2 * 65536 + 1024 + 16384);
  });

  it('publishes the will of a connection that died, not of one another connection with its client id displaced', () => {
    assert.equal(embeddedBrokerPublishesWill(false), true);
    assert.equal(embeddedBrokerPublishesWill(true), false);
  });

  it('does not publish the will of a connection the broker closed to stay within its connection cap', () => {
    assert.equal(embeddedBrokerPublishesWill(false, true), false);
    assert.equal(embeddedBrokerPublishesWill(true, true), false);
    assert.equal(embeddedBrokerPublishesWill(false, false), true);
  });

  it('counts evictions at the connection cap and connections without CONNECT in the summary line', () => {
    const log = new BrokerRefusalLog({ linesPerWindow: 1 });
    for (let i = 0; i < 4; i++) log.note('connection_evicted', `c${i}`, `evicted c${i}`);
    log.note('connect_timeout', '', 'silent');
    assert.deepEqual([log.totals.connection_evicted, log.totals.connect_timeout], [4, 1]);
    assert.match(
      log.summary(60)!,
      /^refused 4 more in the last 60 s without a line each \(idle connection closed at the connection cap 3, no CONNECT in time 1\); since start: .*idle connection closed at the connection cap 4, no CONNECT in time 1, publish to a topic with an empty level 0, message dropped: the queue for the pipeline was full 0, QoS 2 message id forgotten before its PUBREL 0, will topic with a wildcard 0, will over its size cap 0, unfinished packet closed at the partial-packet budget 0, connection closed for a protocol error 0, device held: the pipeline had not subscribed yet 0, subscription refused: only the pipeline subscribes 0, device closed or not answered: npm start was stopping 0$/
    );
  });

  it('counts retained bytes per topic within the budget: replacing counts the difference, an empty payload frees', () => {
    const b = new RetainedBudget(3 * (256 + 3 + 100));
    assert.equal(b.admit('t/1', 100), true);
    assert.equal(b.admit('t/2', 100), true);
    assert.equal(b.admit('t/3', 100), true);
    assert.equal(b.bytes(), 3 * 359);
    assert.equal(b.admit('t/4', 1), false, 'over the budget: not stored');
    assert.equal(b.admit('t/1', 100), true, 'the same size again on a stored topic fits');
    assert.equal(b.admit('t/1', 101), false, 'one byte more does not');
    assert.equal(b.admit('t/2', 0), true, 'an empty payload deletes the retained message');
    assert.equal(b.bytes(), 2 * 359);
    assert.equal(b.admit('t/4', 100), true);
    assert.equal(b.admit('t/5', 0), true, 'deleting what is not stored changes nothing');
    assert.equal(b.bytes(), 3 * 359);
  });
});

describe('hasEmptyTopicLevel', () => {
  it('finds an empty level anywhere in a topic and nothing in MOBY topics', () => {
    for (const t of ['devices//telemetry', 'device/lwt/', '/devices/x/telemetry', '', 'a//b', '/'])
      assert.equal(hasEmptyTopicLevel(t), true, t);
    for (const t of ['devices/fan-001/telemetry', 'device/lwt/pump-005', 't/acme/device/status/x', 'a'])
      assert.equal(hasEmptyTopicLevel(t), false, t);
  });
});

describe('PendingQos2 (QoS 2 ids held for their PUBREL, across sessions)', () => {
  it('bounds the ids of all clients together: a new one at the bound forgets the oldest, whoever sent it', () => {
    const p = new PendingQos2(3);
    assert.equal(p.add('a', 1), undefined);
    assert.equal(p.add('b', 1), undefined);
    assert.equal(p.add('a', 2), undefined);
    assert.deepEqual(p.add('c', 7), ['a', 1]);
    assert.equal(p.size, 3);
    // a resend of an id still held is the same entry, not a new one
    assert.equal(p.add('b', 1), undefined);
    assert.equal(p.size, 3);
  });

  it("PUBREL releases one id; a cleaned session releases all of its own and nobody else's", () => {
    const p = new PendingQos2(10);
    for (const id of [1, 2, 3]) p.add('a', id);
    p.add('b', 1);
    p.release('a', 2);
    p.release('a', 99); // unknown: nothing
    assert.equal(p.size, 3);
    p.releaseClient('a');
    assert.equal(p.size, 1);
    p.releaseClient('a');
    assert.equal(p.size, 1);
    // the survivor is still held: the bound forgets it last
    for (let i = 0; i < 9; i++) p.add('c', i);
    assert.equal(p.size, 10);
    assert.deepEqual(p.add('c', 100), ['b', 1]);
  });
});

describe('forwardedQos (the QoS a subscriber is sent a message with)', () => {
  const subs = { 'devices/+/telemetry': { qos: 1 }, 'devices/fan-001/#': { qos: 2 }, 'status/x': { qos: 0 } };
  it('is the highest QoS of the matching subscriptions, wildcards included, never above the message', () => {
    assert.equal(forwardedQos(subs, 'devices/pump-001/telemetry', 2), 1);
    assert.equal(forwardedQos(subs, 'devices/fan-001/telemetry', 2), 2); // both match: the maximum
    assert.equal(forwardedQos(subs, 'devices/fan-001/telemetry', 1), 1);
    assert.equal(forwardedQos(subs, 'devices/pump-001/telemetry', 0), 0);
    assert.equal(forwardedQos(subs, 'status/x', 2), 0);
  });
  it('is undefined when no subscription matches (or the client has none)', () => {
    assert.equal(forwardedQos(subs, 'devices/pump-001/status', 2), undefined);
    assert.equal(forwardedQos(undefined, 'devices/pump-001/telemetry', 2), undefined);
    assert.equal(forwardedQos(Object.create(null), 'x', 1), undefined);
  });
});

describe('protocolErrorOf (which closes count as protocol errors)', () => {
  it("counts aedes' and the parser's protocol errors, not network errors, ordinary closes or the broker's own refusals", () => {
    assert.equal(protocolErrorOf(new Error('Client queue limit reached')), 'Client queue limit reached');
    assert.equal(
      protocolErrorOf(new Error('Invalid header flag bits, must be 0x0 for connect packet')),
      'Invalid header flag bits, must be 0x0 for connect packet'
    );
    assert.equal(protocolErrorOf(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), null);
    for (const m of ['keep alive timeout', 'connection closed', 'drain timeout', 'connect did not arrive in time'])
      assert.equal(protocolErrorOf(new Error(m)), null, m);
    assert.equal(protocolErrorOf(brokerRefusal('topic with an empty level')), null);
    assert.equal(protocolErrorOf('text'), null);
    assert.match(protocolErrorOf(new Error('x\u001b[31m' + 'y'.repeat(500)))!, /^x\\u001B\[31my+…/);
  });
});
