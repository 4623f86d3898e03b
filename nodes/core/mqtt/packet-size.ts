// A cap on the size of MQTT packets a broker reads, enforced on the socket stream before the broker's parser
// sees the bytes. npm start's embedded aedes (1.x) has no such option, and its parser (mqtt-packet) buffers a
// packet whole until the remaining length it announced has arrived: a 20 MB PUBLISH was held in memory, then
// delivered. MQTT framing makes the cap cheap: every packet starts with one type byte and its remaining length
// (a 1–4 byte varint), so the size is known from the first five bytes; a connection announcing more than the
// cap is closed right there, before its body is read, and the bytes of that packet never reach the parser.
import { Duplex } from 'node:stream';
import { FirstEntry } from '../first-entry';

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
  /** the control packet type (the fixed header's high nibble) of the packet under way: 1 is CONNECT */
  type = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private left = 0;
  /** packets whose fixed header has begun, since the start: tells a new packet from the one before */
  started = 0;

  /**
   * `maxConnectLength`: a lower cap for CONNECT alone. A CONNECT's fields (client id, username, password, will)
   * are held for the life of the connection, so the packet cap times the connection cap was the bound: 9,000
   * keyless connections with 40 KB client ids, usernames and passwords grew npm start from 645 MB to 1.4 GB
   * (red-team round 2026-12-06).
   */
  constructor(
    readonly maxRemainingLength: number,
    readonly maxConnectLength = maxRemainingLength
  ) {
    if (!(maxRemainingLength >= 0)) throw new Error('maxRemainingLength must be >= 0');
  }

  /** The cap of the packet under way. */
  get cap(): number {
    return this.type === 1 ? Math.min(this.maxConnectLength, this.maxRemainingLength) : this.maxRemainingLength;
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
          this.type = chunk[i] >> 4; // the flags, and whether the type is valid, are the broker's parser's to judge
          i++;
          this.started++;
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
          if (this.length > this.cap) {
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

  /**
   * Bytes of the packet under way that have been read but do not complete it: what the broker's parser holds
   * for it until the rest arrives (0 between packets).
   */
  get partialBytes(): number {
    return this.state === BODY ? this.length - this.left : 0;
  }
}

/**
 * What all connections' unfinished packets make the broker's parser hold, bounded. The packet cap bounds one
 * packet, not their sum: a client without keys opening thousands of connections, each sending a packet just
 * under the cap but its last byte (keep-alive 0, so nothing times it out), had the embedded broker hold 950 MB
 * with 5,717 connections, about 1.5 GB at the connection cap (red-team 2026-12-06). Beyond `maxBytes` the
 * connections whose unfinished packet began longest ago are closed (`evict`) until the sum fits again: a real
 * device's packet completes within milliseconds on the networks a broker serves, so the oldest unfinished
 * packets are the stalled ones, and a newcomer is never locked out by them.
 */
export class PartialPacketBudget<K> {
  /** key → bytes its unfinished packet holds; Map order is when that packet began (oldest first) */
  private readonly held = new Map<K, number>();
  private readonly oldest = new FirstEntry(this.held);
  private total = 0;
  /** connections closed to stay within the budget, since creation */
  evicted = 0;

  constructor(
    readonly maxBytes: number,
    private readonly evict: (key: K, bytes: number) => void
  ) {}

  /** Bytes held by unfinished packets now. */
  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * `key`'s unfinished packet now holds `bytes` (0: it has none); `fresh`: that packet began since the last call
   * (it moves behind every older one). May close other connections, or this one, to stay within the budget.
   */
  hold(key: K, bytes: number, fresh: boolean): void {
    const before = this.held.get(key);
    if (!(bytes > 0)) {
      if (before !== undefined) this.forget(key, before);
      return;
    }
    if (before !== undefined && fresh) this.held.delete(key);
    this.held.set(key, bytes);
    this.total += bytes - (before ?? 0);
    while (this.total > this.maxBytes) {
      const first = this.oldest.take();
      if (!first) break;
      this.forget(first[0], first[1]);
      this.evicted++;
      this.evict(first[0], first[1]);
    }
  }

  private forget(key: K, bytes: number): void {
    this.held.delete(key);
    this.total -= bytes;
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
  /** the refused packet was a CONNECT (its own, lower cap) */
  get refusedConnect(): boolean {
    return this.refusedRemaining !== null && this.scanner.type === 1;
  }
  /** the peer's address, kept: a destroyed socket forgets it, and the log lines about closing it need it */
  private readonly peerAddress: string | undefined;
  private readonly peerPort: number | undefined;
  /** the scanner's packet count at the last report to the budget */
  private reportedStart = 0;
  /** set when the connection is the broker's own pipeline: its packets are never counted against the budget */
  exempt = false;

  constructor(
    readonly socket: SocketLike,
    maxRemainingLength: number,
    private readonly onTooLarge: (remaining: number, guard: PacketSizeGuard) => void,
    /** the bound on all connections' unfinished packets, shared by the broker's guards (none: unbounded) */
    private readonly partials?: PartialPacketBudget<PacketSizeGuard>,
    /** a lower cap for CONNECT (MqttFrameScanner) */
    maxConnectLength = maxRemainingLength
  ) {
    super({ allowHalfOpen: false });
    this.peerAddress = socket.remoteAddress;
    this.peerPort = socket.remotePort;
    this.scanner = new MqttFrameScanner(maxRemainingLength, maxConnectLength);
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
      if (this.partials && !this.exempt) {
        const fresh = this.scanner.started !== this.reportedStart;
        this.reportedStart = this.scanner.started;
        this.partials.hold(this, this.scanner.partialBytes, fresh);
      }
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
    this.partials?.hold(this, 0, false);
    this.socket.destroy();
    cb(err);
  }
}
