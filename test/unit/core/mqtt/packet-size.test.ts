// The MQTT packet-size cap read off the socket stream (nodes/core/mqtt/packet-size.ts): the remaining length
// of every packet is followed across chunk boundaries, bodies are skipped unread, and the first packet
// announcing more than the cap is refused from its header alone.
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import {
  MqttFrameScanner,
  MQTT_MAX_REMAINING_LENGTH,
  PartialPacketBudget,
} from '../../../../nodes/core/mqtt/packet-size';

function publish(payloadBytes: number, topic = 'devices/fan-001/telemetry'): Buffer {
  return mqttPacket.generate({
    cmd: 'publish',
    topic,
    payload: Buffer.alloc(payloadBytes, 0x61),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  });
}

/** feeds `stream` in pieces of `size` bytes; returns the verdicts */
function feedIn(scanner: MqttFrameScanner, stream: Buffer, size: number) {
  const out = [];
  for (let i = 0; i < stream.length; i += size) out.push(scanner.feed(stream.subarray(i, i + size)));
  return out;
}

describe('MQTT packet-size scanner', () => {
  it('lets through a stream of packets up to the cap, whatever the chunking', () => {
    const cap = 1000;
    const stream = Buffer.concat([
      mqttPacket.generate({ cmd: 'connect', clientId: 'fan-001', protocolId: 'MQTT', protocolVersion: 4 }),
      publish(10),
      publish(cap - 2 - 'devices/fan-001/telemetry'.length - 2), // remaining length exactly the cap
      mqttPacket.generate({ cmd: 'pingreq' }), // remaining length 0
      publish(300),
    ]);
    for (const size of [1, 2, 3, 7, 64, stream.length]) {
      const verdicts = feedIn(new MqttFrameScanner(cap), stream, size);
      assert.ok(
        verdicts.every((v) => v.ok),
        `chunks of ${size}`
      );
    }
  });

  it('refuses the first packet over the cap from its header, also when the header is split across chunks', () => {
    const cap = 1000;
    const big = publish(20 * 1024 * 1024);
    const header = big.subarray(0, 5); // type byte + 4 length bytes
    const remaining = 20 * 1024 * 1024 + 2 + 'devices/fan-001/telemetry'.length + 2;
    for (const size of [1, 2, 3, 5, 4096]) {
      const scanner = new MqttFrameScanner(cap);
      const before = Buffer.concat([publish(10), publish(20)]);
      assert.ok(feedIn(scanner, before, size).every((v) => v.ok));
      const verdicts = feedIn(scanner, header, size);
      assert.deepEqual(verdicts.at(-1), { ok: false, remaining }, `chunks of ${size}`);
      // and from then on: nothing more is accepted on that stream
      assert.deepEqual(scanner.feed(publish(1)), { ok: false, remaining });
    }
    // one byte over the cap
    const over = publish(cap - 2 - 'devices/fan-001/telemetry'.length - 2 + 1);
    assert.deepEqual(new MqttFrameScanner(cap).feed(over), { ok: false, remaining: cap + 1 });
  });

  it('a CONNECT has its own, lower cap; other packets of that size pass (red-team 2026-12-06: 40 KB client ids, usernames and passwords held per connection)', () => {
    const connect = (clientId: string, username?: string) =>
      mqttPacket.generate({ cmd: 'connect', clientId, protocolId: 'MQTT', protocolVersion: 4, username });
    const ok = connect('moby-sim-fan-001');
    const big = connect('x'.repeat(40_000));
    for (const size of [1, 3, 64, big.length]) {
      const scanner = new MqttFrameScanner(200_000, 8192);
      assert.ok(feedIn(scanner, ok, size).every((v) => v.ok));
      assert.ok(
        feedIn(scanner, publish(40_000), size).every((v) => v.ok),
        'a PUBLISH keeps the packet cap'
      );
      assert.deepEqual(
        feedIn(scanner, big, size).at(-1),
        { ok: false, remaining: 10 + 2 + 40_000 },
        `chunks of ${size}`
      );
    }
    const login = connect('fan-001', 'u'.repeat(9000));
    assert.equal(new MqttFrameScanner(200_000, 8192).feed(login).ok, false, 'a long username too');
    assert.equal(new MqttFrameScanner(200_000).feed(big).ok, true, 'without a CONNECT cap, the packet cap');
  });

  it('the largest length MQTT can express is read right; a malformed length is left to the broker', () => {
    const max = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]);
    assert.deepEqual(new MqttFrameScanner(1000).feed(max), { ok: false, remaining: MQTT_MAX_REMAINING_LENGTH });
    assert.deepEqual(new MqttFrameScanner(MQTT_MAX_REMAINING_LENGTH).feed(max), { ok: true });
    // a fifth continuation byte is not MQTT: mqtt-packet reports it and aedes closes the connection
    assert.deepEqual(new MqttFrameScanner(1000).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), { ok: true });
  });
});

describe('MQTT packet-size scanner: the packet under way', () => {
  it('counts the packets begun and the bytes of an unfinished one', () => {
    const s = new MqttFrameScanner(1_000_000);
    const p = publish(1000);
    const header = p.length - 1000 - 'devices/fan-001/telemetry'.length - 4; // type + length bytes
    assert.equal(s.partialBytes, 0);
    s.feed(p.subarray(0, 600));
    assert.equal(s.started, 1);
    assert.equal(s.partialBytes, 600 - header);
    s.feed(p.subarray(600));
    assert.equal(s.partialBytes, 0, 'complete');
    s.feed(Buffer.concat([p, p.subarray(0, 10)]));
    assert.equal(s.started, 3);
    assert.equal(s.partialBytes, 10 - header);
  });
});

describe('PartialPacketBudget (what all unfinished packets hold)', () => {
  it('closes the connections whose unfinished packet began longest ago until the sum fits, the caller too', () => {
    const evicted: string[] = [];
    const b = new PartialPacketBudget<string>(1000, (k, bytes) => evicted.push(`${k}:${bytes}`));
    b.hold('a', 400, true);
    b.hold('b', 400, true);
    b.hold('a', 450, false); // a's packet grows: it keeps its age
    assert.equal(b.bytes, 850);
    b.hold('c', 300, true); // 1150: a (oldest) goes
    assert.deepEqual(evicted, ['a:450']);
    assert.equal(b.bytes, 700);
    b.hold('b', 0, false); // b's packet completed
    b.hold('b', 200, true); // and its next one is the newest
    b.hold('c', 900, false); // 1100: c is now the oldest, and it is the one growing
    assert.deepEqual(evicted, ['a:450', 'c:900']);
    assert.equal(b.bytes, 200);
    assert.equal(b.size, 1);
    assert.equal(b.evicted, 2);
    b.hold('c', 0, false); // a closed connection reports 0 once more: nothing changes
    b.hold('zz', 0, false);
    assert.equal(b.bytes, 200);
  });

  it('a packet that began again moves behind the others', () => {
    const evicted: string[] = [];
    const b = new PartialPacketBudget<string>(1000, (k) => evicted.push(k));
    b.hold('a', 300, true);
    b.hold('b', 300, true);
    b.hold('a', 300, true); // a finished one and began another in the same chunk
    b.hold('c', 500, true);
    assert.deepEqual(evicted, ['b']);
  });
});
