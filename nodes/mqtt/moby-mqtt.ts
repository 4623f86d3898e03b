// Node-RED adapters for the at-least-once MQTT source: `moby-mqtt-broker` (config: owns one mqtt.js
// connection with a persistent session) and `moby-mqtt-in` (subscribes through it). A QoS 1 message is
// acknowledged (PUBACK) only once every node it reached has completed it — our writer completes a message
// only when its points are in the database or fsync'd in the spool — so a crash (SIGKILL, OOM, power cut)
// leaves every unacknowledged message with the broker, which redelivers it to the same session.
//
// How completion is observed: the runtime's message hooks. `preDeliver` fires for every delivery of a
// message to a node (after cloning, synchronously inside node.send), `onComplete` when a node calls done().
// Verified against Node-RED 4.1 (@node-red/runtime/lib/flows/Flow.js handlePreDeliver, nodes/Node.js
// _complete): a node whose input handler does not take `done` is NOT completed automatically, and a Catch
// or Complete node gets its message through receive() without preDeliver — the per-node accounting in
// nodes/core/mqtt/settle-tracker.ts copes with both (the first shows up as a timeout, the second is ignored).
//
// How acknowledgement is deferred: mqtt.js 5 sends PUBACK right after emitting 'message' (customHandleAcks
// only exists for MQTT 5 and serialises the packet pump, one message at a time). We wrap the client's
// packet writer and hold back the PUBACKs it writes for incoming publishes; ours are written when the
// tracker settles a message, only on the connection that received it (a PUBACK for a message id of an
// earlier connection could acknowledge a different message; the broker redelivers those anyway).
// Ours are written as bytes (nodes/core/mqtt/puback.ts): the PUBACKs settled in one turn (a stored batch
// settles up to its size) leave in one socket write at the end of the turn, instead of one pass each
// through mqtt.js's send path and three writes each in mqtt-packet.
import mqtt from 'mqtt';
import type { MqttClient, IClientOptions } from 'mqtt';
import { Counter } from 'prom-client';
import { SettleTracker } from '../core/mqtt/settle-tracker';
import type { TrackedInfo } from '../core/mqtt/settle-tracker';
import { PumpGate } from '../core/mqtt/pump-gate';
import { LineWindow } from '../core/line-window';
import { FailedHold } from '../core/mqtt/failed-hold';
import { PubackBuffer } from '../core/mqtt/puback';
import { ClientIdClaims } from '../core/mqtt/client-ids';
import {
  parseBrokerUrls,
  parsePartition,
  partitionClientId,
  partitionFilter,
  topicMatches,
  unpartitionTopic,
} from '../core/mqtt/topics';
import type { Partition } from '../core/mqtt/topics';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, AnyNode } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import { registerIngestProbe } from '../lib/ingest-watch';
import { connectionLostCause, deafReason, sourceCanHear, type SourceLoad } from '../core/mqtt/ingest-stall';
import { receivingSince } from '../core/mqtt/keepalive';
import { countIn, countOut, countRejected, provideGauge, metricsRegistry } from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { preview, previewTopic } from '../core/names';
import { span } from '../core/span';
import { choiceSetting, numberSetting as num, textSetting } from '../lib/settings';

const IN_TYPE = 'moby-mqtt-in';
const HOOK_LABEL = 'mobyDurableMqtt';

interface AckHandle {
  /** connection generation that received the message */
  gen: number;
  messageId: number;
  /** the message went to several holders (batches, or a batch and a single send): PUBACK when all settled */
  shared?: { left: number };
  /** a batch: the messages it carries (messageId is the first's, for logs) */
  parts?: AckHandle[];
}

/** What a batching in-node has gathered and not sent yet (docs/batch-mode.md). */
interface PendingBatch {
  items: NodeMessage[];
  parts: AckHandle[];
  timer: NodeJS.Timeout;
}

interface InNode extends Node {
  topic: string;
  qos: 0 | 1;
  datatype: 'utf8' | 'buffer' | 'json';
  /** batch mode: up to batchSize messages / batchMs as one message `{batch: [...]}`; 1 = off (default) */
  batchSize: number;
  batchMs: number;
  pending: PendingBatch | null;
  brokerStatus(): void;
}

interface BrokerNode extends Node<{ user?: string; password?: string }> {
  register(n: InNode): void;
  deregister(n: InNode, removed: boolean): void;
  describe(): {
    connected: boolean;
    inFlight: number;
    buffered: number;
    window: number;
    overdue: number;
    paused: boolean;
    url: string;
    lastError?: string;
    /** flow topic → why the broker refused its subscription (cleared when a later subscribe succeeds) */
    refused: ReadonlyMap<string, string>;
  };
}

const unsettledTotal = new Counter({
  name: 'moby_mqtt_unsettled_total',
  help: 'QoS 1 messages not acknowledged to the broker because a node failed on them (reason="error") or they were not settled within the timeout (reason="timeout"); the broker keeps them',
  labelNames: ['reason'] as const,
  registers: [metricsRegistry],
});
const sessionsLost = new Counter({
  name: 'moby_mqtt_sessions_lost_total',
  help: 'Reconnects on which the broker no longer had the persistent session it had before (a restart without persistence, an expiry, a takeover with a clean session): QoS 1 messages it held for us, unacknowledged ones included, are gone at the broker',
  registers: [metricsRegistry],
});
const disconnects = new Counter({
  name: 'moby_mqtt_disconnects_total',
  help: 'Connections to the broker lost (each is followed by a reconnect); QoS 0 messages sent meanwhile are not delivered, QoS 1 ones wait in the persistent session',
  registers: [metricsRegistry],
});
const skippedAcks = new Counter({
  name: 'moby_mqtt_acks_skipped_total',
  help: 'Settled messages whose connection was gone before the acknowledgement: the broker redelivers them (duplicates are absorbed downstream)',
  registers: [metricsRegistry],
});

// ---- process-wide hook registration: message id → the tracker that owns it ----------------------------
const owners = new Map<string, SettleTracker<AckHandle>>();
let hookUsers = 0;

function installHooks(RED: NodeAPI): boolean {
  if (!RED.hooks) return false;
  if (hookUsers++ > 0) return true;
  // one-argument hooks returning nothing run synchronously, in the runtime's own call
  RED.hooks.add(`preDeliver.${HOOK_LABEL}`, (ev: { msg?: NodeMessage; destination?: { id?: string } }) => {
    const id = ev.msg?._msgid;
    if (id === undefined || owners.size === 0) return;
    const t = owners.get(id);
    if (t && ev.destination?.id) t.delivered(id, ev.destination.id);
  });
  RED.hooks.add(`onComplete.${HOOK_LABEL}`, (ev: { msg?: NodeMessage; error?: unknown; node?: { id?: string } }) => {
    const id = ev.msg?._msgid;
    if (id === undefined || owners.size === 0) return;
    const t = owners.get(id);
    if (t && ev.node?.id) t.completed(id, ev.node.id, ev.error);
  });
  return true;
}

function removeHooks(RED: NodeAPI): void {
  if (!RED.hooks || hookUsers === 0) return;
  if (--hookUsers > 0) return;
  RED.hooks.remove(`preDeliver.${HOOK_LABEL}`);
  RED.hooks.remove(`onComplete.${HOOK_LABEL}`);
}

const str = textSetting;
/** client ids in use by this Node-RED's broker config nodes, per broker (nodes/core/mqtt/client-ids.ts) */
const clientIds = new ClientIdClaims();

export = function (RED: NodeAPI) {
  function MobyMqttBroker(this: BrokerNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const urlText = str(def.urls);
    // partitioned (N instances on a NATS cluster, docs/scale-out.md): subscribe to `p/<k>/<filter>` under
    // the client id `<id>-<k>` and hand the flow the topic without the prefix
    const parsedPartition = parsePartition(str(def.partition), str(def.partitions));
    const partition: Partition | null = parsedPartition.ok ? parsedPartition.partition : null;
    const clientId = partitionClientId(partition, str(def.clientId) || `moby-${def.id}`);
    const clean = def.cleanSession === true;
    const protocolVersion: 4 | 5 = String(def.protocolVersion) === '5' ? 5 : 4;
    const keepalive = num(def.keepalive, 30, 1);
    const window = Math.floor(num(def.window, 1000, 1));
    const timeoutMs = num(def.settleTimeout, 60, 1) * 1000;
    const sessionExpiry = Math.floor(num(def.sessionExpiry, 7 * 24 * 3600, 0));
    const users = new Set<InNode>();
    let client: MqttClient | null = null;
    let gen = 0;
    /** a persistent session existed at the broker for this node since it first connected (see the connect handler) */
    let hadSession = false;
    let connected = false;
    let lastError: string | undefined;
    /** the broker this client last connected to, and when it lost it (for the reconnect line) */
    let connectedTo = '';
    let lostAt: number | null = null;
    let closing = false;
    let servers: ReturnType<typeof parseBrokerUrls> = [];
    let configError: string | null = null;
    try {
      servers = parseBrokerUrls(urlText);
      if (!servers.length) configError = 'no broker URL';
    } catch (err) {
      configError = (err as Error).message;
    }
    if (!parsedPartition.ok) {
      configError = parsedPartition.error;
      node.error(`moby-mqtt-broker: ${configError}`);
    }
    let claimed = false;
    if (!configError) {
      const holder = clientIds.claim(servers, clientId, node.id);
      if (holder === null) claimed = true;
      else {
        configError = `client id "${clientId}" is already used by moby-mqtt-broker ${holder} on the same broker: two sessions with one id take each other over; give each broker config node its own client id`;
        node.error(`moby-mqtt-broker: ${configError}`);
      }
    }

    /** the brokers as a person reads them (no credentials: parseBrokerUrls keeps protocol, host and port) */
    const brokerUrls = () => servers.map((s) => `${s.protocol}://${s.host}:${s.port}`).join(', ');
    let lastSettledMs = Date.now();
    const unackedLog = new LineWindow({ linesPerWindow: 3, windowMs: 10000 });
    // failed messages keep a broker in-flight slot each until the next connection (core/mqtt/failed-hold.ts)
    const failedHold = new FailedHold(window);
    const tracker = new SettleTracker<AckHandle>({
      window,
      timeoutMs,
      onAck: (a, id) => {
        lastSettledMs = Date.now();
        owners.delete(id);
        ack(a);
        gate.check();
      },
      onUnsettled: (outcome, info: TrackedInfo<AckHandle>) => {
        if (outcome === 'failed') lastSettledMs = Date.now();
        if (outcome === 'failed') owners.delete(info.id);
        // with a clean session a reconnect would drop them (and all the broker queued): not counted, no reconnect
        if (outcome === 'failed' && !clean && connected && info.ack.gen === gen)
          failedHold.add(info.ack.parts ? info.ack.parts.length : 1, Date.now());
        unsettledTotal.inc({ reason: outcome === 'failed' ? 'error' : 'timeout' });
        const who = info.holders.map(([id, n]) => (n > 1 ? `${id}×${n}` : id)).join(', ');
        // a full disk fails every message that reaches the failing node: a few lines, then one per window
        const line = unackedLog.note(
          outcome === 'failed'
            ? `message ${info.id} (packet ${info.ack.messageId}) not acknowledged: a node failed on it (${info.error}); the broker keeps it and redelivers it on the next session`
            : `message ${info.id} (packet ${info.ack.messageId}) not settled after ${timeoutMs / 1000} s${who ? `, still held by node(s) ${who}` : ''}: not acknowledged yet`,
          Date.now()
        );
        if (line !== null) node.warn(line);
        if (outcome === 'failed') gate.check();
        refresh();
      },
      onForget: (id) => {
        lastSettledMs = Date.now();
        owners.delete(id);
        gate.check();
      },
    });
    // holds the packet pump while more than the window is unacknowledged (tracked, or waiting in a batch);
    // resumes whenever either drops, not only when the tracker itself had been full (nodes/core/mqtt/pump-gate.ts)
    const gate = new PumpGate(window, () => tracker.inFlight + buffered() + failedHold.count);
    // stalled (window full, nothing settling) or not connected, no device can be heard: device health must not
    // take that for the whole fleet falling silent (core/mqtt/ingest-stall.ts, lib/ingest-watch.ts)
    const load = (): SourceLoad => ({
      connected,
      load: tracker.inFlight + buffered() + failedHold.count,
      window,
      lastSettledMs,
      now: Date.now(),
    });
    const canHear = () => sourceCanHear(load());
    // why not, for device health's monitoring-blind alert (core/health/blind-watch.ts)
    const unprobe = configError
      ? () => undefined
      : registerIngestProbe(node.id, () => {
          // read every tick of moby-alert and every sweep of device health: the sentence only when it cannot hear
          const now = load();
          return sourceCanHear(now) || (deafReason({ ...now, url: brokerUrls(), lastError }) ?? true);
        });

    /**
     * Drops the connection so the broker sends the failed messages again (MQTT 3.1.1 redelivers only on a new
     * connection); mqtt.js reconnects after its reconnect period and the session resumes. What is still in
     * flight comes again too, as after any reconnect (duplicates are absorbed downstream).
     */
    function redeliverFailed(): void {
      const stream = (client as unknown as { stream?: { destroy(): void; destroyed?: boolean } } | null)?.stream;
      const n = failedHold.count;
      failedHold.reset();
      if (!stream || stream.destroyed || !connected) return;
      node.warn(
        `${n} message(s) a node failed on hold the broker's in-flight slots until a new connection: reconnecting so the broker sends them again`
      );
      stream.destroy();
    }

    function ack(a: AckHandle): void {
      if (a.parts) {
        for (const p of a.parts) ack(p);
        return;
      }
      if (a.shared && --a.shared.left > 0) return; // another batch or send still holds this message
      if (!client || a.gen !== gen || !connected) {
        skippedAcks.inc();
        return;
      }
      // a writer's batch settles many messages in one turn: their PUBACKs leave together, in one write
      if (pubacks.size > 0 && pubackGen !== a.gen) writePubacks();
      pubackGen = a.gen;
      pubacks.add(a.messageId);
      if (!pubackScheduled) {
        pubackScheduled = true;
        process.nextTick(writePubacks);
      }
    }
    const pubacks = new PubackBuffer();
    let pubackGen = 0;
    let pubackScheduled = false;
    function writePubacks(): void {
      pubackScheduled = false;
      const n = pubacks.size;
      if (n === 0) return;
      const stream = (client as unknown as { stream?: { write(b: Buffer): boolean; destroyed?: boolean } } | null)
        ?.stream;
      // only on the connection that received the messages (a message id of an earlier connection could
      // acknowledge a different message); the broker redelivers the others
      if (!stream || stream.destroyed || pubackGen !== gen || !connected) {
        skippedAcks.inc(pubacks.drop());
        return;
      }
      stream.write(pubacks.take()!);
      countOut(IN_TYPE, n);
    }

    function refresh(): void {
      for (const u of users) u.brokerStatus();
    }

    // releases of first-hop holds, batched per event-loop turn (after the runtime's own delivery turn)
    let releases: string[] = [];
    const flushReleases = () => {
      const ids = releases;
      releases = [];
      for (const id of ids) tracker.release(id);
    };

    function onMessage(
      brokerTopic: string,
      payload: Buffer,
      packet: {
        qos: number;
        messageId?: number;
        dup?: boolean;
        retain?: boolean;
        properties?: { userProperties?: unknown };
      }
    ): void {
      // another partition's topic (left in the session by an earlier assignment) routes nowhere; that
      // partition's own session holds its copy
      const flowTopic = unpartitionTopic(partition, brokerTopic);
      const topic = flowTopic ?? brokerTopic;
      let targets = routes.get(brokerTopic);
      if (!targets) {
        targets = [];
        if (flowTopic !== null) for (const u of users) if (topicMatches(u.topic, topic)) targets.push(u);
        if (routes.size >= 10000) routes.clear(); // bounded: many distinct topics just recompute
        routes.set(brokerTopic, targets);
      }
      const qos1 = packet.qos > 0 && packet.messageId !== undefined;
      // the rest of a closed connection's packets (its pump runs on until the next connection replaces it):
      // they can never be acknowledged and the broker redelivers them, so taking them would only fill the
      // window with work whose PUBACKs are skipped
      if (qos1 && !connected) return;
      if (targets.length === 0) {
        // a subscription left in the persistent session by an earlier flow: nobody here wants it
        countRejected(IN_TYPE, 'unrouted');
        if (qos1) ack({ gen, messageId: packet.messageId! });
        return;
      }
      // batch mode: every batching target and (together) the single sends each hold the message once
      let batching = 0;
      for (let i = 0; i < targets.length; i++) if (targets[i].batchSize > 1) batching++;
      const singles = targets.length - batching;
      const handle: AckHandle = { gen, messageId: packet.messageId! };
      if (qos1 && batching + (singles ? 1 : 0) > 1) handle.shared = { left: batching + (singles ? 1 : 0) };
      const id = singles ? RED.util.generateId() : '';
      const base: NodeMessage = { _msgid: id, topic, qos: packet.qos, retain: packet.retain === true };
      if (packet.dup === true) base.redelivered = true; // contract with moby-hmac-verify: a seen nonce is a redelivery, not a replay
      const up = packet.properties?.userProperties;
      if (up && typeof up === 'object') base.userProperties = up;
      const tracked = qos1 && singles > 0 && tracker.begin(id, handle, Date.now());
      if (tracked) owners.set(id, tracker);
      for (let i = 0; i < targets.length; i++) {
        const n = targets[i];
        countIn(IN_TYPE);
        const msg: NodeMessage = { ...base };
        if (n.batchSize > 1) delete (msg as { _msgid?: string })._msgid; // the batch gets its own id
        if (n.datatype === 'buffer') msg.payload = i === 0 ? payload : Buffer.from(payload);
        else {
          const text = payload.toString('utf8');
          if (n.datatype === 'json') {
            try {
              msg.payload = JSON.parse(text);
            } catch (err) {
              // bad input never vanishes: counted, handed to Catch nodes with the raw text, and settled
              countRejected(IN_TYPE, 'bad_json');
              msg.payload = text;
              // any broker client picks the topic and the bytes (JSON.parse quotes the text): escaped and cut
              n.error(`invalid JSON on ${previewTopic(topic)}: ${preview((err as Error).message, 200)}`, msg);
              if (n.batchSize > 1 && qos1) ack(handle); // settled here, as a single send's would be
              continue;
            }
          } else msg.payload = text;
        }
        if (n.batchSize > 1) addToBatch(n, msg, qos1 ? handle : null);
        else n.send(msg);
      }
      if (tracked) {
        if (releases.length === 0) setImmediate(flushReleases);
        releases.push(id);
      } else if (qos1 && singles > 0) {
        ack(handle); // tracker refused the id: never leave it unacknowledged
      }
    }

    // ---- batch mode: up to batchSize messages or batchMs, whichever comes first, as one message ------------
    function addToBatch(n: InNode, item: NodeMessage, part: AckHandle | null): void {
      let b = n.pending;
      if (!b) b = n.pending = { items: [], parts: [], timer: setTimeout(() => sendBatch(n), n.batchMs) };
      b.items.push(item);
      if (part) b.parts.push(part);
      if (b.items.length >= n.batchSize) sendBatch(n);
    }

    function sendBatch(n: InNode): void {
      const b = n.pending;
      if (!b) return;
      n.pending = null;
      clearTimeout(b.timer);
      const id = RED.util.generateId();
      const handle: AckHandle = { gen, messageId: b.parts.length ? b.parts[0].messageId : 0, parts: b.parts };
      const tracked = b.parts.length > 0 && tracker.begin(id, handle, Date.now(), b.items.length);
      if (tracked) owners.set(id, tracker);
      n.send({ _msgid: id, topic: n.topic, batch: b.items });
      if (tracked) {
        if (releases.length === 0) setImmediate(flushReleases);
        releases.push(id);
      } else if (b.parts.length) ack(handle);
      gate.check(); // an empty or untracked batch left the buffer without entering the tracker
    }

    /** Batches not sent yet are dropped unacknowledged (the broker redelivers them to the next session). */
    function dropBatches(): void {
      for (const u of users) {
        if (u.pending) clearTimeout(u.pending.timer);
        u.pending = null;
      }
    }

    function connect(): void {
      if (client || configError || closing) return;
      const opts: IClientOptions = {
        servers,
        protocol: servers[0].protocol,
        clientId,
        clean,
        keepalive,
        protocolVersion,
        reconnectPeriod: 2000,
        connectTimeout: 10000,
        resubscribe: true,
        queueQoSZero: false,
      };
      if (node.credentials?.user) opts.username = node.credentials.user;
      if (node.credentials?.password) opts.password = node.credentials.password;
      if (protocolVersion === 5) {
        // the session must outlive the connection (v5 ends it at disconnect by default), and the broker
        // must not send more unacknowledged messages than we are willing to track
        opts.properties = { sessionExpiryInterval: clean ? 0 : sessionExpiry, receiveMaximum: Math.min(65535, window) };
      }
      const c = mqtt.connect(opts);
      client = c;
      const internals = c as unknown as {
        _sendPacket: (
          packet: Record<string, unknown>,
          cb?: (err?: Error) => void,
          cbStorePut?: unknown,
          noStore?: boolean
        ) => void;
        handleMessage: (packet: unknown, cb: () => void) => void;
      };
      const original = internals._sendPacket.bind(c);
      internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
        // mqtt.js acknowledges every incoming QoS 1 publish on its own: hold that back (ours come later)
        if (packet.cmd === 'puback') {
          cb?.();
          return;
        }
        original(packet, cb, cbStorePut, noStore);
      };
      // mqtt.js drops the connection when no PINGRESP came half a keep-alive after its ping, even while packets
      // keep arriving: the PINGRESP is queued behind them (a flood of QoS 0 messages faster than the flow takes
      // them, or our own pause below). A client without keys flooding QoS 0 at the embedded broker disconnected
      // the pipeline every 10–14 s, and every QoS 0 message published while it reconnected was lost uncounted
      // (red-team round of 2026-12-07). A connection that delivers packets, or holds packets we have not read
      // yet (paused), is alive: ping again now (the broker must hear from us within 1.5 keep-alives) and look again.
      let lastPacketAt = Date.now();
      c.on('packetreceive', () => (lastPacketAt = Date.now()));
      const keepaliveTimeout = c.onKeepaliveTimeout.bind(c);
      c.onKeepaliveTimeout = () => {
        if (!gate.paused && !receivingSince(lastPacketAt, Date.now(), keepalive)) return keepaliveTimeout();
        c.reschedulePing(true);
        c.sendPing();
      };
      internals.handleMessage = (_packet, cb) => {
        // Safety net for brokers that send more than the window (no in-flight limit, e.g. aedes): stop reading
        // until there is room. Only beyond the window, never at it: a paused packet pump also holds back the
        // broker's PINGRESP (the keep-alive rule above keeps such a connection). With max_inflight_messages ≤
        // window it never pauses.
        gate.admit(cb);
      };
      c.on('connect', (connack: { sessionPresent?: boolean }) => {
        // A persistent session this connection had subscribed in, missing on a reconnect: the broker lost what
        // it held for us — queued messages and those we had not acknowledged yet. MOBY cannot get them back,
        // but it must not look like an ordinary reconnect (a tester's Mosquitto that could not write its
        // persistence directory came back without the session: 1,200 acknowledged-to-the-device messages gone,
        // and the log said only "connected", red-team round 2026-12-05).
        // (MQTT 5 with a session expiry of 0 ends the session at every disconnect, by the deployer's choice)
        const keepsSession = !clean && !(protocolVersion === 5 && sessionExpiry === 0);
        if (keepsSession && hadSession && !connack?.sessionPresent) {
          sessionsLost.inc();
          node.warn(
            `the broker did not keep this client's persistent session (${clientId}): messages it held for MOBY while we were away, and any not yet acknowledged, are lost at the broker — check its persistence (Mosquitto: persistence true and a writable persistence_location) and session expiry`
          );
        }
        if (keepsSession) hadSession = true;
        gen++;
        failedHold.reset(); // the broker sends the failed ones again on this connection
        connected = true;
        lastError = undefined;
        const server = servers[((c as unknown as { _reconnectCount?: number })._reconnectCount ?? 1) - 1] ?? servers[0];
        connectedTo = `${server.protocol}://${server.host}:${server.port}`;
        node.log(
          `connected to ${connectedTo} as ${clientId}${partition ? ` (partition ${partition.index} of ${partition.count})` : ''}${connack?.sessionPresent ? ' (session resumed)' : ''}${lostAt === null ? '' : ` after ${span(Date.now() - lostAt)} without the broker`}`
        );
        lostAt = null;
        subscribeAll();
        refresh();
      });
      c.on('message', onMessage);
      c.on('close', () => {
        // a warning with the cause: an operator saw only "[info] disconnected" while the devices went unheard for
        // two minutes, until the monitoring-blind alert (operator round 2026-12-07)
        if (connected) {
          disconnects.inc();
          lostAt = Date.now();
          node.warn(
            `disconnected from ${connectedTo} (${connectionLostCause(lastError)}): reconnecting; the devices are not heard until then`
          );
        }
        connected = false;
        // their PUBACKs could only go to the connection that received them: the broker redelivers them
        dropBatches();
        // the old packet pump is superseded: let its held callbacks go
        gate.releaseAll();
        refresh();
      });
      c.on('error', (err: Error) => {
        lastError = err.message;
        refresh();
      });
    }

    /** messages waiting in unsent batches: they count against the window like tracked ones */
    const buffered = () => {
      let n = 0;
      for (const u of users) if (u.pending) n += u.pending.items.length;
      return n;
    };

    const subscribed = new Set<string>();
    const refused = new Map<string, string>();
    // topic → in-nodes whose filter matches it (device topics repeat; cleared when the nodes change)
    const routes = new Map<string, InNode[]>();
    function subscribeAll(): void {
      if (!client || !connected) return;
      const wanted = new Map<string, 0 | 1>();
      for (const u of users) wanted.set(u.topic, Math.max(wanted.get(u.topic) ?? 0, u.qos) as 0 | 1);
      for (const [flowTopic, qos] of wanted) {
        const topic = partitionFilter(partition, flowTopic);
        client.subscribe(topic, { qos }, (err) => {
          if (err) {
            // a SUBACK failure code (0x80): connected, and yet nothing will ever arrive on it. Said on the in-nodes'
            // status too (integrator review 2026-12-06: they stayed green and received nothing)
            const why = `the broker refused the subscription to ${topic} (${err.message}): the login may not subscribe there (npm start's embedded broker lets only the pipeline's login subscribe)`;
            refused.set(flowTopic, why);
            lastError = why;
            node.error(why);
          } else {
            subscribed.add(topic);
            refused.delete(flowTopic);
          }
          refresh();
        });
      }
    }

    const hooked = installHooks(RED);
    if (!hooked)
      node.warn(
        'this Node-RED has no runtime hooks (needs ≥ 2.0): messages are acknowledged when received, not when stored'
      );
    const sweep = setInterval(() => {
      tracker.sweep(Date.now(), (a) => a.gen !== gen);
      // from the timer, not from inside a node's done(): at most 1 s after they take half the window
      if (failedHold.due(Date.now())) redeliverFailed();
      const more = unackedLog.summary(Date.now());
      if (more)
        node.warn(
          `${more.unlogged} more message(s) not acknowledged in the last ${Math.round(more.windowMs / 1000)} s without a line each (moby_mqtt_unsettled_total counts them all); the last: ${more.last}`
        );
      refresh();
    }, 1000);
    const unprovide = [
      provideGauge(
        'moby_mqtt_inflight_messages',
        'QoS 1 messages received and not yet acknowledged (waiting until they are stored)',
        [],
        () => [{ labels: {}, value: tracker.inFlight }]
      ),
      provideGauge('moby_mqtt_connected', 'moby-mqtt-broker connections that are up', [], () => [
        { labels: {}, value: connected ? 1 : 0 },
      ]),
      // the stall device health pauses its timeouts for (core/mqtt/ingest-stall.ts) raises no alert of its own:
      // this gauge (with moby_mqtt_connected) is what a Prometheus or Grafana rule watches for it
      provideGauge(
        'moby_mqtt_stalled',
        "moby-mqtt-broker connections whose in-flight window is full with nothing settled for 2 s: the broker holds the devices' messages",
        [],
        () => [{ labels: {}, value: connected && !canHear() ? 1 : 0 }]
      ),
    ];

    node.describe = () => ({
      connected,
      inFlight: tracker.inFlight,
      buffered: buffered(),
      window,
      overdue: tracker.overdue,
      paused: gate.paused,
      url: brokerUrls(),
      refused,
      ...(configError ? { lastError: configError } : lastError ? { lastError } : {}),
    });
    node.register = (n) => {
      users.add(n);
      routes.clear();
      if (client) subscribeAll();
      else connect();
    };
    node.deregister = (n, removed) => {
      if (n.pending) clearTimeout(n.pending.timer);
      n.pending = null;
      users.delete(n);
      routes.clear();
      const stillWanted = [...users].some((u) => u.topic === n.topic);
      // a persistent session keeps subscriptions: drop one only when its node was deleted, not on a restart
      if (removed && !stillWanted && client && connected) {
        client.unsubscribe(partitionFilter(partition, n.topic));
        subscribed.delete(partitionFilter(partition, n.topic));
      }
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      if (claimed) clientIds.release(servers, clientId, node.id);
      clearInterval(sweep);
      dropBatches();
      for (const u of unprovide) u();
      unprobe();
      // unsettled messages stay unacknowledged: the broker redelivers them to the next session
      for (const id of [...owners.keys()]) if (owners.get(id) === tracker) owners.delete(id);
      const left = tracker.clear();
      if (left) node.log(`${left} unsettled message(s) left with the broker for redelivery`);
      if (hooked) removeHooks(RED);
      gate.releaseAll();
      const c = client;
      client = null;
      connected = false;
      if (!c) return done();
      const t = setTimeout(done, 2000);
      c.end(true, {}, () => {
        clearTimeout(t);
        done();
      });
    });
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType('moby-mqtt-broker', MobyMqttBroker as (this: AnyNode, def: NodeDef) => void, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });

  function MobyMqttIn(this: InNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    node.topic = str(def.topic);
    node.qos = String(def.qos) === '0' ? 0 : 1;
    node.datatype = choiceSetting(def.datatype, ['utf8', 'buffer', 'json'], 'utf8');
    // batch mode is opt-in: single messages are what the examples teach and every user flow expects
    node.batchSize = Math.floor(num(def.batchSize, 1, 1));
    node.batchMs = num(def.batchMs, 20, 1);
    node.pending = null;
    const broker = (
      typeof def.broker === 'string' && def.broker ? RED.nodes.getNode(def.broker) : null
    ) as BrokerNode | null;
    const status = new ThrottledStatus(node, 500);
    node.brokerStatus = () => {
      if (!broker) return;
      const d = broker.describe();
      if (d.lastError && !d.connected)
        return status.set({ fill: 'red', shape: 'ring', text: `disconnected · ${preview(d.lastError, 50)}` });
      if (!d.connected)
        return status.set({ fill: 'grey', shape: 'ring', text: `connecting · ${d.inFlight} unacknowledged` });
      if (d.refused.has(node.topic))
        return status.set({ fill: 'red', shape: 'ring', text: 'subscription refused by the broker' });
      if (d.paused || d.inFlight >= d.window)
        return status.set({
          fill: 'yellow',
          shape: 'ring',
          text: `window full: ${d.inFlight + d.buffered} waiting to be stored`,
        });
      if (d.overdue)
        return status.set({
          fill: 'yellow',
          shape: 'dot',
          text: `connected · ${d.overdue} not settled in time · ${d.inFlight} in flight`,
        });
      status.set({ fill: 'green', shape: 'dot', text: `connected · ${d.inFlight} in flight` });
    };
    if (!broker) {
      node.status({ fill: 'red', shape: 'ring', text: 'no broker configured' });
      node.error('moby-mqtt-in: select a moby-mqtt-broker config node');
      return;
    }
    if (!node.topic) {
      node.status({ fill: 'red', shape: 'ring', text: 'no topic' });
      node.error('moby-mqtt-in: topic is empty');
      return;
    }
    broker.register(node);
    node.brokerStatus();
    node.on('close', (removed: boolean, done: DoneFn) => {
      broker.deregister(node, removed);
      status.stop();
      done();
    });
  }
  RED.nodes.registerType('moby-mqtt-in', MobyMqttIn as (this: AnyNode, def: NodeDef) => void);
};
