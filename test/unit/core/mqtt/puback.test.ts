// PUBACKs as bytes (nodes/core/mqtt/puback.ts): the same bytes mqtt-packet writes for a success PUBACK, as
// moby-mqtt-broker sent them through mqtt.js before (`{cmd: 'puback', messageId}` in MQTT 3.1.1,
// `{cmd: 'puback', messageId, reasonCode: 0}` in MQTT 5), for every message id, and many in one buffer.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { PubackBuffer, pubackBytes, PUBACK_BYTES } from '../../../../nodes/core/mqtt/puback';

/** What mqtt-packet writes to a stream for the packet (as mqtt.js's _writePacket calls it). */
function viaMqttPacket(packet: Record<string, unknown>, protocolVersion: 4 | 5): Buffer {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  assert.ok(mqttPacket.writeToStream(packet as unknown as mqttPacket.Packet, stream, { protocolVersion }));
  stream.end();
  return Buffer.concat(chunks);
}

describe('PUBACK bytes', () => {
  it('equal what mqtt-packet writes, for every message id, in MQTT 3.1.1 and 5', () => {
    for (let id = 1; id <= 0xffff; id++) {
      const ours = pubackBytes([id]);
      assert.equal(ours.length, PUBACK_BYTES);
      // every id is compared with the 3.1.1 encoding; a spread of ids with mqtt-packet's own MQTT 5 one
      if (id % 97 === 1 || id < 300 || id > 0xff00) {
        assert.deepEqual(ours, viaMqttPacket({ cmd: 'puback', messageId: id }, 4), `id ${id}, MQTT 3.1.1`);
        assert.deepEqual(ours, viaMqttPacket({ cmd: 'puback', messageId: id, reasonCode: 0 }, 5), `id ${id}, MQTT 5`);
      } else assert.deepEqual([...ours], [0x40, 0x02, id >> 8, id & 0xff]);
    }
  });

  it('parse back as the PUBACKs of the ids, in order, when many share one buffer', () => {
    const ids = [1, 2, 255, 256, 4096, 65535, 7, 7, 300];
    for (const protocolVersion of [4, 5] as const) {
      const parser = mqttPacket.parser({ protocolVersion });
      const got: Array<{ cmd: string; messageId?: number; reasonCode?: number }> = [];
      parser.on('packet', (p: mqttPacket.Packet) => got.push(p as never));
      parser.on('error', (e: Error) => assert.fail(e));
      parser.parse(pubackBytes(ids));
      assert.deepEqual(
        got.map((p) => [p.cmd, p.messageId]),
        ids.map((id) => ['puback', id])
      );
      if (protocolVersion === 5) for (const p of got) assert.ok(p.reasonCode === undefined || p.reasonCode === 0);
    }
  });

  it('refuses an id outside 1–65535 rather than write a wrong acknowledgement', () => {
    for (const bad of [0, -1, 65536, 1.5, NaN]) assert.throws(() => pubackBytes([bad]), RangeError);
  });

  it('PubackBuffer gathers ids until take(); drop() forgets them', () => {
    const b = new PubackBuffer();
    assert.equal(b.take(), null);
    b.add(10);
    b.add(11);
    assert.equal(b.size, 2);
    assert.deepEqual(b.take(), pubackBytes([10, 11]));
    assert.equal(b.size, 0);
    assert.equal(b.take(), null);
    b.add(12);
    assert.equal(b.drop(), 1);
    assert.equal(b.take(), null);
  });
});
