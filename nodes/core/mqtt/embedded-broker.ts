// Who may do what on `npm start`'s embedded broker (aedes on 127.0.0.1, no users of its own). Any local
// process can reach it, so without rules a client with the pipeline's client id took over Node-RED's
// persistent session — receiving, and acknowledging, queued telemetry that was then never stored — and any
// client could subscribe to every device's data. The rules: the pipeline logs in with a login generated per
// start (handed to Node-RED only); its client id (and its partitions' `<id>-<k>`) is refused to everyone else;
// only the pipeline subscribes. Devices and the simulator still connect without a login and publish (their
// messages are signed; what they may publish is the verifier's business). No packet is larger than
// EMBEDDED_BROKER_MAX_PACKET (packet-size.ts enforces it on the socket), and refusals are logged within a
// budget (BrokerRefusalLog): a client hammering wrong logins or oversized packets does not flood the log.
// Pure: scripts/lib/embedded-broker.js wires it into aedes.
import { createHash, timingSafeEqual } from 'node:crypto';
import { envelopeMaxBytes } from '../hmac/verify';
import { DEFAULT_LIMITS } from '../safe-json';
import { preview } from '../names';
import { BoundedMap } from '../bounded-map';
import { topicMatches } from './topics';

export interface EmbeddedBrokerLogin {
  /** the pipeline's fixed client id (MOBY_MQTT_CLIENT_ID) */
  clientId: string;
  username: string;
  password: string;
}

export type RefusalKind =
  | 'wrong_password'
  | 'pipeline_client_id'
  | 'packet_too_large'
  | 'retained_over_budget'
  | 'takeover_will'
  | 'connection_evicted'
  | 'connect_timeout'
  | 'empty_topic_level'
  | 'queue_full'
  | 'qos2_forgotten'
  | 'wildcard_will'
  | 'will_too_large'
  | 'stalled_packet'
  | 'protocol_error'
  | 'pipeline_not_subscribed'
  | 'subscribe_refused'
  | 'stopping';

export type ConnectVerdict =
  | { ok: true; pipeline: boolean }
  | { ok: false; kind: 'wrong_password' | 'pipeline_client_id' | 'wildcard_will' | 'will_too_large'; reason: string };

/**
 * The most bytes a CONNECT's will may hold, topic and payload together (MOBY_BROKER_MAX_WILL). A will is kept for the
 * whole life of its connection, outside every other budget (the packet cap bounds one CONNECT; the partial-packet
 * budget only unfinished ones): a client without keys opened 6,000 connections with wills of 125 KB each and grew
 * `npm start` from 446 to 933 MB (red-team round 2026-12-06). A signed MOBY will (signing.md) with the longest
 * device id and tenant is under 1 KB; 4 KiB leaves room for other devices' plain wills and bounds wills at the
 * connection cap (10,000) to 40 MiB.
 */
export const EMBEDDED_BROKER_MAX_WILL = 4096;

/**
 * The cap on a CONNECT's remaining length: its will (maxWillBytes) plus 4 KiB for the client id, the username and
 * password, the protocol name and the will's own framing. The other fields of a CONNECT are held for the life of the
 * connection just as its will is: with only the will capped, 9,000 keyless connections with 40 KB client ids,
 * usernames and passwords grew npm start from 645 MB to 1.4 GB (red-team round 2026-12-06). MOBY's own client ids
 * (`moby-sim-<tenant>-<device>`, the pipeline's) are under 256 bytes and its login under 100.
 */
export function embeddedBrokerMaxConnect(maxWillBytes = EMBEDDED_BROKER_MAX_WILL): number {
  return maxWillBytes + 4096;
}

const digest = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** Whether a CONNECT may be accepted, and whether it is the pipeline's (which alone may subscribe). */
export function embeddedBrokerConnect(
  login: EmbeddedBrokerLogin,
  clientId: string,
  username: string | undefined,
  password: Buffer | string | undefined,
  /** the CONNECT's will topic, if it has a will */
  willTopic?: string,
  /** the will's payload size in bytes */
  willPayloadBytes = 0,
  maxWillBytes = EMBEDDED_BROKER_MAX_WILL
): ConnectVerdict {
  // MQTT 3.1.1 (4.7.1): a PUBLISH topic, and so a will's, holds no wildcard. aedes checks PUBLISH but not wills,
  // so `device/lwt/+` was published when the connection died and reached the pipeline (red-team 2026-12-06)
  if (willTopic !== undefined && /[+#]/.test(willTopic))
    return {
      ok: false,
      kind: 'wildcard_will',
      reason: `will topic "${preview(willTopic, 80)}" holds a wildcard (+ or #), which MQTT does not allow in a topic name`,
    };
  if (willTopic !== undefined) {
    const bytes = Buffer.byteLength(willTopic) + willPayloadBytes;
    if (bytes > maxWillBytes)
      return {
        ok: false,
        kind: 'will_too_large',
        reason: `its will holds ${bytes} bytes (topic and payload), over the cap of ${maxWillBytes} (MOBY_BROKER_MAX_WILL)`,
      };
  }
  if (username !== undefined && username === login.username) {
    if (password !== undefined && timingSafeEqual(digest(password), digest(login.password)))
      return { ok: true, pipeline: true };
    return { ok: false, kind: 'wrong_password', reason: `wrong password for the pipeline's login "${login.username}"` };
  }
  if (clientId === login.clientId || clientId.startsWith(`${login.clientId}-`))
    return {
      ok: false,
      kind: 'pipeline_client_id',
      reason: `client id "${preview(clientId, 80)}" is the pipeline's: it needs the pipeline's login`,
    };
  return { ok: true, pipeline: false };
}

/** Only the pipeline subscribes: nobody else reads other devices' telemetry, wills or status. */
export function embeddedBrokerMaySubscribe(pipeline: boolean): boolean {
  return pipeline;
}

/**
 * The embedded broker's default cap on an MQTT packet's remaining length (MOBY_BROKER_MAX_PACKET): the largest
 * envelope the shipped verifier reads (its default body cap of 64 KiB, escaped, plus proof: 132096 bytes) and
 * 16 KiB for the topic, packet id and MQTT 5 properties. A larger packet could only be rejected downstream.
 */
export const EMBEDDED_BROKER_MAX_PACKET = envelopeMaxBytes(DEFAULT_LIMITS.maxBytes) + 16384;

/**
 * Whether the will of a client that is closing is published. Not when a new connection with the same client id
 * displaced it (MQTT's session takeover): the client id is the only thing the embedded broker knows a device by,
 * and any local client may present any id without a login, so publishing the displaced connection's will let a
 * stranger make the broker send a healthy device's own signed OFFLINE (red-team round 3, 2026-12-03: a
 * connection as `moby-sim-pump-001` raised a critical device_offline alert for a device that never stopped).
 * A real device that reconnects before its old connection timed out is alive too, so its will is no news
 * either; a device that dies without reconnecting still gets its will published.
 */
export function embeddedBrokerPublishesWill(displaced: boolean, evicted = false): boolean {
  // evicted: closed by the broker to make room under its connection cap (connection-table.ts). Anyone can open
  // connections until the cap evicts the longest idle ones, real devices' among them: publishing their wills
  // would let a flood of connections make the broker announce every quiet device OFFLINE. An evicted device is
  // not dying, it reconnects.
  return !displaced && !evicted;
}

/**
 * The embedded broker's default cap on open connections besides the pipeline's (MOBY_BROKER_MAX_CONNECTIONS).
 * The simulator opens one connection per device, so the cap must leave room for a large simulated fleet
 * (`--devices 10000` keeps working) while staying below the file descriptors a process commonly gets (20,000 on
 * the test machines): past that limit aedes could accept no connection at all, the pipeline's reconnect included.
 * At the cap a new connection evicts the longest idle one (connection-table.ts).
 */
/**
 * Messages waiting for the pipeline in the embedded broker past which a device's live publish is dropped and
 * counted, as Mosquitto's max_queued_messages (scripts/lib/embedded-broker.js, shedLoad): about a second of
 * what the pipeline takes on two cores.
 */
export const EMBEDDED_BROKER_MAX_QUEUED = 5000;

/**
 * The same bound on those messages' payload bytes (and 4× for the keep-every rule): 5,000 messages just under the
 * packet cap were ~0.75 GB (red-team round 2026-12-06); the demo's 20 devices queue well under 1 MiB.
 */
export const EMBEDDED_BROKER_MAX_QUEUED_BYTES = 32 * 1024 * 1024;

export const EMBEDDED_BROKER_MAX_CONNECTIONS = 10000;

/**
 * How long a connection may stay open without sending its CONNECT (aedes' `connectTimeout`, 30 s by default).
 * Clients of the embedded broker are on the same machine and send CONNECT with the TCP handshake; 5 s is ample
 * for a loaded machine and makes a flood of silent sockets expire six times sooner.
 */
export const EMBEDDED_BROKER_CONNECT_TIMEOUT_MS = 5000;

/**
 * The embedded broker's default budget for retained messages (topic + payload + 256 bytes of bookkeeping per
 * topic): the devices' retained births and wills are a few hundred bytes each (20 simulated devices: ~12 KB).
 * aedes keeps retained messages in memory for the broker's lifetime, so without a budget one anonymous client
 * parked 140 MB in 3.7 s (1000 retained 140 KB messages on topics of its choosing), and there was no bound.
 */
export const EMBEDDED_BROKER_MAX_RETAINED_BYTES = 16 * 1024 * 1024;

/**
 * The embedded broker's bound on the bytes all connections' unfinished packets hold together (packet-size.ts,
 * PartialPacketBudget): room for over 200 packets at the packet cap arriving at once, where devices' telemetry
 * packets are about a kilobyte and complete within milliseconds; beyond it the oldest unfinished ones are closed.
 */
export const EMBEDDED_BROKER_MAX_PARTIAL_BYTES = 32 * 1024 * 1024;
const RETAINED_OVERHEAD_BYTES = 256;

/** QoS 2 message ids held for duplicate detection until their PUBREL, across all clients (see PendingQos2). */
export const EMBEDDED_BROKER_MAX_PENDING_QOS2 = 100_000;

/**
 * The QoS 2 PUBLISHes the embedded broker holds until their PUBREL, bounded. aedes delivers a QoS 2 message at
 * once and keeps it, payload and all, in the session only to recognise a resend of its packet id; its bound
 * (maxInflightInbound, 1,000) is per connection while the store is per session, which outlives the connection.
 * A client without any key that sent large QoS 2 messages and never PUBREL, under many client ids or reconnecting
 * with new ids, held 937 MB of buffers after it had gone (red-team round 2026-12-06; 65,535 × 148 KB ≈ 9.7 GB per
 * client id). The broker now stores only the packet id (scripts/lib/embedded-broker.js) and this table bounds
 * how many ids all sessions hold: a new one at the bound forgets the oldest (that message, resent before its
 * PUBREL, would be delivered twice: counted as `qos2_forgotten`) rather than refusing anyone.
 */
export class PendingQos2 {
  private readonly ids: BoundedMap<string, [clientId: string, messageId: number]>;
  /** each client's ids in `ids`, for a clean session that drops them all */
  private readonly byClient = new Map<string, Set<number>>();

  constructor(max: number = EMBEDDED_BROKER_MAX_PENDING_QOS2) {
    this.ids = new BoundedMap(max);
  }

  /** A QoS 2 message of `clientId` is held until its PUBREL; returns the one forgotten to make room, if any. */
  add(clientId: string, messageId: number): [clientId: string, messageId: number] | undefined {
    const forgotten = this.ids.put(`${clientId}\u0000${messageId}`, [clientId, messageId])?.[1];
    let mine = this.byClient.get(clientId);
    if (!mine) this.byClient.set(clientId, (mine = new Set()));
    mine.add(messageId);
    if (forgotten) this.unindex(forgotten[0], forgotten[1]);
    return forgotten;
  }

  /** Its PUBREL came: no longer held. */
  release(clientId: string, messageId: number): void {
    if (this.ids.delete(`${clientId}\u0000${messageId}`)) this.unindex(clientId, messageId);
  }

  /** The client's session was cleaned: none of its ids is held. */
  releaseClient(clientId: string): void {
    const mine = this.byClient.get(clientId);
    if (!mine) return;
    for (const id of mine) this.ids.delete(`${clientId}\u0000${id}`);
    this.byClient.delete(clientId);
  }

  get size(): number {
    return this.ids.size;
  }

  private unindex(clientId: string, messageId: number): void {
    const mine = this.byClient.get(clientId);
    if (!mine) return;
    mine.delete(messageId);
    if (mine.size === 0) this.byClient.delete(clientId);
  }
}

/**
 * Bytes of retained messages per topic, within a budget. A retained PUBLISH that would take the total over
 * the budget is delivered as an ordinary message and not stored (the adapter clears its retain flag), so
 * nothing is lost to live subscribers and memory stays bounded; an empty retained payload deletes the topic's
 * message (MQTT) and frees its bytes. Replacing a topic's message counts only the difference.
 */
export class RetainedBudget {
  private readonly sizes = new Map<string, number>();
  private total = 0;

  constructor(readonly maxBytes: number = EMBEDDED_BROKER_MAX_RETAINED_BYTES) {}

  /** True when a retained message of `payloadBytes` on `topic` may be stored (and it is then counted). */
  admit(topic: string, payloadBytes: number): boolean {
    const old = this.sizes.get(topic) ?? 0;
    if (payloadBytes === 0) {
      this.sizes.delete(topic);
      this.total -= old;
      return true;
    }
    const size = Buffer.byteLength(topic) + payloadBytes + RETAINED_OVERHEAD_BYTES;
    if (this.total - old + size > this.maxBytes) return false;
    this.sizes.set(topic, size);
    this.total += size - old;
    return true;
  }

  /** Bytes counted now. */
  bytes(): number {
    return this.total;
  }
}

/**
 * An error the embedded broker raised itself when it refused something (counted under its own kind where it
 * refused): marked so the closing it causes is not counted again as a protocol error.
 */
export function brokerRefusal(message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { mobyRefusal: true }, extra);
}

/** aedes' errors for a connection ending the ordinary way (a dead peer, a slow one, a close): not refusals */
const ORDINARY_CLOSES = new Set([
  'keep alive timeout',
  'connection closed',
  'drain timeout',
  'connect did not arrive in time',
]);

/**
 * Why aedes closed a connection for something it sent, or null when the error is not that: a network error (it
 * has a `code`), an ordinary close, or a refusal the broker counted already (brokerRefusal). Before, such closes
 * (more than 42 packets sent before the CONNACK, over 1,000 QoS 2 messages awaiting PUBREL, a reserved packet
 * type, QoS 3, a second CONNECT, an MQTT 5 CONNECT) were neither logged nor counted (red-team 2026-12-06): a
 * device disconnected again and again left nothing to show for it.
 */
export function protocolErrorOf(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as Error & { code?: unknown; mobyRefusal?: unknown };
  if (e.mobyRefusal === true || typeof e.code === 'string' || ORDINARY_CLOSES.has(e.message)) return null;
  return preview(e.message || 'unknown error', 120);
}

const KIND_TEXT: Record<RefusalKind, string> = {
  wrong_password: 'wrong pipeline password',
  pipeline_client_id: "pipeline's client id without its login",
  packet_too_large: 'packet too large',
  retained_over_budget: 'retained message over budget',
  takeover_will: 'will of a displaced connection',
  connection_evicted: 'idle connection closed at the connection cap',
  connect_timeout: 'no CONNECT in time',
  empty_topic_level: 'publish to a topic with an empty level',
  queue_full: 'message dropped: the queue for the pipeline was full',
  qos2_forgotten: 'QoS 2 message id forgotten before its PUBREL',
  wildcard_will: 'will topic with a wildcard',
  will_too_large: 'will over its size cap',
  stalled_packet: 'unfinished packet closed at the partial-packet budget',
  protocol_error: 'connection closed for a protocol error',
  pipeline_not_subscribed: 'device held: the pipeline had not subscribed yet',
  subscribe_refused: 'subscription refused: only the pipeline subscribes',
  stopping: 'device closed or not answered: npm start was stopping',
};
const KINDS = Object.keys(KIND_TEXT) as RefusalKind[];

export interface RefusalLogOptions {
  /** refusals logged one by one per window (default 5); the rest are counted into the window's summary */
  linesPerWindow?: number;
  /** clients remembered for "packet too large once per client" (default 10000); beyond, only counted */
  maxClients?: number;
}

/**
 * The embedded broker's refusal log: the first `linesPerWindow` refusals of a window are logged one by one, a
 * packet too large once per client (client id, or address before CONNECT) at most; everything else is only
 * counted, and `summary()` — called by a timer at the end of every window — returns one line with what was
 * not logged and the totals since start (the broker's counters: it runs outside Node-RED; npm start also sends
 * the totals to /moby/metrics over IPC), or null when the window logged everything.
 */
export class BrokerRefusalLog {
  /** refusals since start, by kind */
  readonly totals: Record<RefusalKind, number> = {
    wrong_password: 0,
    pipeline_client_id: 0,
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
  };
  private readonly unlogged: Record<RefusalKind, number> = { ...this.totals };
  private logged = 0;
  private readonly tooLargeClients = new Set<string>();
  private readonly linesPerWindow: number;
  private readonly maxClients: number;

  constructor(o: RefusalLogOptions = {}) {
    this.linesPerWindow = Math.max(0, Math.floor(o.linesPerWindow ?? 5));
    this.maxClients = Math.max(0, Math.floor(o.maxClients ?? 10000));
  }

  /** Counts one refusal; returns the line to log now, or null when it is only counted. */
  note(kind: RefusalKind, client: string, line: string): string | null {
    this.totals[kind]++;
    let log = this.logged < this.linesPerWindow;
    // a client sends oversized packets or retained messages over the budget in bulk, and subscribes again at
    // every reconnect: one line per client each
    if (kind === 'packet_too_large' || kind === 'retained_over_budget' || kind === 'subscribe_refused') {
      const key = kind === 'packet_too_large' ? client : `${kind}:${client}`;
      if (this.tooLargeClients.has(key)) log = false;
      else if (log && this.tooLargeClients.size < this.maxClients) this.tooLargeClients.add(key);
      else log = false;
    }
    if (!log) {
      this.unlogged[kind]++;
      return null;
    }
    this.logged++;
    return line;
  }

  /** Ends the window: a line with the refusals it did not log and the totals, or null when there were none. */
  summary(windowSec: number): string | null {
    const unlogged = KINDS.filter((k) => this.unlogged[k] > 0);
    this.logged = 0;
    if (!unlogged.length) return null;
    const count = unlogged.reduce((n, k) => n + this.unlogged[k], 0);
    const parts = unlogged.map((k) => `${KIND_TEXT[k]} ${this.unlogged[k]}`).join(', ');
    const totals = KINDS.map((k) => `${KIND_TEXT[k]} ${this.totals[k]}`).join(', ');
    for (const k of unlogged) this.unlogged[k] = 0;
    return `refused ${count} more in the last ${windowSec} s without a line each (${parts}); since start: ${totals}`;
  }
}

/**
 * A topic with an empty level (`devices//telemetry`, `device/lwt/`, a leading or trailing `/`). No MOBY topic has
 * one: every level names something (a device id is never empty). The embedded broker refuses to publish such a
 * topic because aedes cannot deliver it at QoS 1 to a persistent wildcard subscriber: its live matcher matches
 * empty levels, its session store does not, and the delivery then fails with "no such packet" and aedes closes
 * the subscriber's connection — one publish from any local client disconnected the pipeline (Mosquitto delivers
 * it normally).
 */
export function hasEmptyTopicLevel(topic: string): boolean {
  return topic === '' || topic.startsWith('/') || topic.endsWith('/') || topic.includes('//');
}

/**
 * The QoS a subscriber is sent a message on `topic` with: the highest QoS of its subscriptions whose filter
 * matches the topic (MQTT 3.1.1, 3.3.5: with overlapping subscriptions the maximum applies), never more than the
 * message's own; undefined when none matches. aedes 1.2 lowers a forwarded message only to a subscription whose
 * filter *is* the topic, so the pipeline's `devices/+/telemetry` at QoS 1 was sent QoS 2 messages at QoS 2:
 * more round trips, and a PUBREL mix-up in aedes' store (see scripts/lib/embedded-broker.js) lost messages.
 */
export function forwardedQos(
  subscriptions: Record<string, { qos?: number }> | undefined,
  topic: string,
  publishedQos: number
): number | undefined {
  let granted: number | undefined;
  for (const filter in subscriptions ?? {}) {
    if (!topicMatches(filter, topic)) continue;
    const qos = subscriptions![filter].qos ?? 0;
    if (granted === undefined || qos > granted) granted = qos;
  }
  return granted === undefined ? undefined : Math.min(granted, publishedQos);
}
