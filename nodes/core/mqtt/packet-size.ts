// A cap on the size of MQTT packets a broker reads, enforced on the socket stream before the broker's parser
// sees the bytes. npm start's embedded aedes (1.x) has no such option, and its parser (mqtt-packet) buffers a
// packet whole until the remaining length it announced has arrived: a 20 MB PUBLISH was held in memory, then
// delivered. MQTT framing makes the cap cheap: every packet starts with one type byte and its remaining length
// (a 1–4 byte varint), so the size is known from the first five bytes; a connection announcing more than the
// cap is closed right there, before its body is read, and the bytes of that packet never reach the parser.
import { Duplex } from 'node:stream';

/** The largest remaining length MQTT can express (four varint bytes). */
export const MQTT_MAX_REMAINING_LENGTH = 268435455;

export type FrameVerdict = { ok: true } | { ok: false; remaining: number };

const HEADER = 0;
const LENGTH = 1;
const BODY = 2;
/** a malformed length (a fifth varint byte): scanning stops, the broker's own parser rejects the stream */
const PASS = 3;
const REFUSED = 4;

/**
 * Follows the packet boundaries of one MQTT byte stream across chunks: per packet it reads the fixed header
 * and skips the body without looking at it (O(packets) per chunk, no copies).
 */
export class MqttFrameScanner {
  private state = HEADER;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private left = 0;

  constructor(readonly maxRemainingLength: number) {
    if (!(maxRemainingLength >= 0)) throw new Error('maxRemainingLength must be >= 0');
  }

  /** Feeds the next chunk of the stream: not ok once a packet announces more than the cap (and from then on). */
  feed(chunk: Uint8Array): FrameVerdict {
    if (this.state === REFUSED) return { ok: false, remaining: this.length };
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case BODY: {
          const take = Math.min(this.left, n - i);
          this.left -= take;
          i += take;
          if (this.left === 0) this.state = HEADER;
          break;
        }
        case HEADER:
          i++; // type and flags: the broker's parser judges them
          this.state = LENGTH;
          this.length = 0;
          this.multiplier = 1;
          this.lengthBytes = 0;
          break;
        case LENGTH: {
          const b = chunk[i++];
          this.length += (b & 0x7f) * this.multiplier;
          this.multiplier *= 128;
          this.lengthBytes++;
          if (b & 0x80) {
            if (this.lengthBytes === 4) this.state = PASS;
            break;
          }
          if (this.length > this.maxRemainingLength) {
            this.state = REFUSED;
            return { ok: false, remaining: this.length };
          }
          this.left = this.length;
          this.state = this.left === 0 ? HEADER : BODY;
          break;
        }
        default:
          return { ok: true };
      }
    }
    return { ok: true };
  }
}

/** What a stream with a remote address (a net.Socket) offers; only the stream side is used. */
export type SocketLike = Duplex & { remoteAddress?: string; remotePort?: number };

/**
 * The connection a broker is handed instead of the socket: reads pass through a MqttFrameScanner, writes go
 * straight to the socket (corked together when the broker writes several at once), backpressure both ways.
 * A packet announcing more than the cap destroys the socket and this stream before any byte of that chunk is
 * passed on, and calls `onTooLarge` once (the broker sees the connection close, as after a network drop).
 */
export class PacketSizeGuard extends Duplex {
  private readonly scanner: MqttFrameScanner;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  /** the remaining length of the refused packet, once one was refused */
  refusedRemaining: number | null = null;
  /** the peer's address, kept: a destroyed socket forgets it, and the log lines about closing it need it */
  private readonly peerAddress: string | undefined;
  private readonly peerPort: number | undefined;

  constructor(
    readonly socket: SocketLike,
    maxRemainingLength: number,
    private readonly onTooLarge: (remaining: number, guard: PacketSizeGuard) => void
  ) {
    super({ allowHalfOpen: false });
    this.peerAddress = socket.remoteAddress;
    this.peerPort = socket.remotePort;
    this.scanner = new MqttFrameScanner(maxRemainingLength);
    socket.on('data', (chunk: Buffer) => {
      if (this.refusedRemaining !== null) return;
      const v = this.scanner.feed(chunk);
      if (!v.ok) {
        this.refusedRemaining = v.remaining;
        socket.destroy();
        this.onTooLarge(v.remaining, this);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.on('drain', () => {
      const cb = this.pendingWrite;
      this.pendingWrite = null;
      cb?.();
    });
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress ?? this.peerAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort ?? this.peerPort;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.write(chunk, encoding)) cb();
    else this.pendingWrite = cb;
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    this.socket.cork();
    let ok = true;
    for (const c of chunks) ok = this.socket.write(c.chunk, c.encoding);
    this.socket.uncork();
    if (ok) cb();
    else this.pendingWrite = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
