// PUBACKs written as bytes, many in one buffer. A settled batch acknowledges up to its size of QoS 1
// messages in one turn; through mqtt.js each PUBACK was a packet object, a pass through the client's send
// path (topic-alias check, debug calls, a 'packetsend' event) and three socket writes in mqtt-packet
// (header, length, message id) — docs/benchmarks.md, "Ninth round of issue 16". Pure: no I/O here.
//
// A success PUBACK is the same four bytes in MQTT 3.1.1 and 5: type 4 (0x40), remaining length 2, the
// message id big-endian. MQTT 5 lets the reason code and properties be left out when the reason is 0x00
// (Success) and there are no properties (MQTT 5.0 §3.4.2.1), which is what mqtt-packet writes for
// `{ cmd: 'puback', messageId, reasonCode: 0 }` too.

/** Bytes of one success PUBACK. */
export const PUBACK_BYTES = 4;

/** Collects message ids and writes their PUBACKs into one buffer. */
export class PubackBuffer {
  private ids: number[] = [];

  /** Message ids waiting to be written. */
  get size(): number {
    return this.ids.length;
  }

  /** A PUBACK for `messageId` (1–65535) to go out with the next `take()`. */
  add(messageId: number): void {
    this.ids.push(messageId);
  }

  /** The PUBACKs gathered so far as one buffer (null when there are none); starts a new gathering. */
  take(): Buffer | null {
    const ids = this.ids;
    if (ids.length === 0) return null;
    this.ids = [];
    return pubackBytes(ids);
  }

  /** Forgets what was gathered (their connection is gone: the broker redelivers those messages). */
  drop(): number {
    const n = this.ids.length;
    this.ids = [];
    return n;
  }
}

/** Success PUBACKs for `ids`, one after another, in one buffer. Throws on an id outside 1–65535. */
export function pubackBytes(ids: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(ids.length * PUBACK_BYTES);
  let o = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 1 || id > 0xffff) throw new RangeError(`invalid MQTT message id ${id}`);
    buf[o] = 0x40;
    buf[o + 1] = 0x02;
    buf[o + 2] = id >>> 8;
    buf[o + 3] = id & 0xff;
    o += PUBACK_BYTES;
  }
  return buf;
}
