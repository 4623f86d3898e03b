'use strict';
// `npm start`'s embedded MQTT broker: aedes on loopback with the rules of nodes/core/mqtt/embedded-broker.ts
// (the pipeline's login, client id and subscriptions; docs/security.md#broker-clients-and-devices), a cap on
// the packet size read off each socket before aedes buffers anything (core/mqtt/packet-size.ts), a cap on open
// connections that evicts the longest idle one (core/mqtt/connection-table.ts), a deadline for CONNECT, bounds on
// what waits for the pipeline (core/mqtt/inflight-gate.ts, shedLoad below), and refusals logged within a budget
// with a summary line per window. Needs the build (dist/).
const net = require('node:net');
const { Readable } = require('node:stream');
const path = require('node:path');

const dist = path.resolve(__dirname, '..', '..', 'dist', 'nodes', 'core', 'mqtt');

/**
 * Starts the broker; resolves to {url, port, refusals, connections, close()} once it listens. `log(line)` gets
 * every line (without a prefix). Rejects with the listen error (EADDRINUSE …) after closing aedes.
 * `maxConnections`: open connections besides the pipeline's (MOBY_BROKER_MAX_CONNECTIONS); `connectTimeoutMs`:
 * how long a connection may stay open without sending CONNECT; `maxInflight`: messages sent to the pipeline
 * unacknowledged (1000); `maxQueued`: messages waiting for the pipeline past which devices' live ones are dropped;
 * `maxQueuedBytes`: the same bound on those messages' payload bytes (32 MiB);
 * `maxPendingQos2`: QoS 2 message ids held for their PUBREL across all sessions (100,000); `maxPartialBytes`: bytes
 * all connections' unfinished packets may hold together (32 MiB); `maxWillBytes`: a CONNECT's will, topic and
 * payload (4 KiB, MOBY_BROKER_MAX_WILL).
 * @param {{login: {clientId: string, username: string, password: string}, port: number, host?: string,
 *   maxPacketBytes?: number, maxRetainedBytes?: number, maxConnections?: number, connectTimeoutMs?: number,
 *   maxInflight?: number, maxQueued?: number, maxQueuedBytes?: number, maxPendingQos2?: number,
 *   maxPartialBytes?: number, maxWillBytes?: number, heartbeatIntervalMs?: number,
 *   log: (line: string) => void, summaryIntervalMs?: number, linesPerWindow?: number}} o
 */
const payloadBytes = (p) => (p == null ? 0 : typeof p === 'string' ? Buffer.byteLength(p) : p.length);

/**
 * aedes' message bus (mqemitter 7) delivers at most `concurrency` (100) messages at a time and queues the rest;
 * when one finishes, the next queued one starts from inside that callback. A message whose delivery finishes
 * synchronously (no live subscriber: the pipeline's session is offline for a moment) therefore starts the next
 * one a frame deeper, and a queue of a few thousand such messages overflows the stack: a red-team round on
 * 2026-12-06 crashed `npm start` (broker, Node-RED and simulator: they share the supervisor's process) 4 times
 * of 4 with a keyless flood during the simulator's warm-up, `RangeError: Maximum call stack size exceeded` in
 * mqemitter's `released`. Known upstream (mcollina/mqemitter#204, open); its maintainer's suggestion is the fix
 * here: count how deep the starts are nested and, past a depth, put the message back at the head of the queue and
 * start it on a fresh stack (setImmediate), its slot held meanwhile, so that nothing overtakes it (a new publish
 * queues behind it, another finishing delivery starts it first). Below the depth nothing changes. Relies on
 * mqemitter's `_do`, `current`, `_released` and its two queues; the test in `embedded-broker.test.ts` ("a long
 * queue of messages nobody takes") fails if an update changes them.
 */
const MAX_SYNC_DELIVERY_DEPTH = 200;

/**
 * With `waitForPipeline`, devices are admitted this long after the pipeline's last SUBSCRIBE: the broker node sends
 * one per in-node filter, back to back, when it connects.
 */
const ADMIT_SETTLE_MS = 250;
function breakDeepDeliveryChains(mq) {
  const start = mq._do;
  if (
    typeof start !== 'function' ||
    typeof mq._released !== 'function' ||
    typeof mq.current !== 'number' ||
    !Array.isArray(mq._messageQueue) ||
    !Array.isArray(mq._messageCallbacks)
  )
    throw new Error('embedded broker: aedes message bus internals changed (mqemitter): see breakDeepDeliveryChains');
  let depth = 0;
  mq._do = function (message, callback) {
    if (depth >= MAX_SYNC_DELIVERY_DEPTH) {
      this._messageQueue.unshift(message);
      this._messageCallbacks.unshift(callback);
      this.current++; // the slot it was given stays taken; _released gives it back and starts the queue's head
      setImmediate(() => this._released());
      return this;
    }
    depth++;
    try {
      return start.call(this, message, callback);
    } finally {
      depth--;
    }
  };
}

/**
 * aedes resends a session's unacknowledged messages when its client reconnects (the outgoing queue streamed
 * at CONNECT) without the DUP flag MQTT gives a redelivery. The pipeline needs it: a message whose nonce the
 * verifier journaled before a crash, or before a reconnect, is otherwise refused as a `replay` and, refused,
 * acknowledged and gone. A queued message that has a packet id was sent before; one without was never sent.
 */
function markRedeliveries(persistence) {
  const outgoingStream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => {
    const queued = outgoingStream(client);
    return Readable.from(
      (async function* () {
        for await (const packet of queued) yield packet.messageId ? { ...packet, dup: true } : packet;
      })()
    );
  };
}

/**
 * MQTT 3.1.1 lets a client send packets right behind its CONNECT, without waiting for the CONNACK. aedes 1.2 queues
 * them until the CONNACK, except a packet that completes in a later socket read than the CONNECT (a large
 * PUBLISH): that one it handles at once, before the CONNECT is authenticated and before the client has an id. A
 * refused client's message was delivered, and QoS 2's duplicate check looked under a null id, where another
 * pipelining client's message with the same packet id was: PUBREC sent, message never delivered. Returns
 * `afterConnack(client, cb)`, which calls `cb(null)` once the client's connection is accepted (at once if it is),
 * or `cb(err)` if it is refused or closes first. authorizePublish runs before aedes reads or writes its
 * persistence, so holding it holds the whole publish; the packets behind it wait in aedes' queue, so the order
 * is kept.
 */
function connackGate(broker, brokerRefusal) {
  const waiting = new WeakMap(); // aedes Client → callbacks waiting for its CONNACK
  const settle = (client, err) => {
    const callbacks = waiting.get(client);
    if (!callbacks) return;
    waiting.delete(client);
    for (const cb of callbacks) cb(err);
  };
  broker.on('connackSent', (connack, client) =>
    settle(
      client,
      connack.returnCode === 0
        ? null
        : brokerRefusal(`sent before its connection was refused (CONNACK ${connack.returnCode})`)
    )
  );
  return (client, cb) => {
    if (!client || client.connackSent) return cb(null);
    // already closed without a CONNACK (a will stored before the CONNECT failed): no close event is coming
    if (client.closed) return cb(brokerRefusal('sent on a connection closed before its CONNACK'));
    let callbacks = waiting.get(client);
    if (!callbacks) {
      waiting.set(client, (callbacks = []));
      client.conn.once('close', () => settle(client, brokerRefusal('sent on a connection closed before its CONNACK')));
    }
    callbacks.push(cb);
  };
}

/**
 * Bounds what the pipeline is sent without acknowledging it (core/mqtt/inflight-gate.ts says why): each of its
 * connections delivers through its session's gate, and the session store tells the gate what was sent (a packet
 * id given) and what was acknowledged. A delivery that waits holds one of aedes' delivery slots; the messages
 * behind it wait in aedes' queue, which shedLoad bounds.
 */
function gatePipelineDeliveries(persistence, gateOf) {
  // Keyed by packet id: a message resent after a reconnect keeps its id, and a QoS 2 message is stored under its
  // id as a PUBLISH, then (from PUBREC) as the PUBREL that PUBCOMP clears.
  const update = persistence.outgoingUpdate.bind(persistence);
  persistence.outgoingUpdate = async (client, packet) => {
    await update(client, packet);
    // a QoS 0 copy (the pipeline subscribed with QoS 0) is never acknowledged: it holds no slot
    if (packet.cmd === 'publish' && packet.qos > 0) gateOf(client.id)?.sent(String(packet.messageId));
  };
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingClearMessageId = async (client, packet) => {
    const stored = await clear(client, packet);
    if (stored) gateOf(client.id)?.acked(String(stored.messageId));
    return stored;
  };
}

/**
 * aedes-persistence 11 finds the stored message an outgoing update replaces by its broker id and counter first,
 * and by packet id only when the broker ids differ. A PUBREL has neither: the second PUBREL stored matched the
 * first and overwrote its packet id, so with two PUBRECs in one read the first PUBREL went out with the second's
 * id and the subscriber never released the first message. Each PUBREL is stored under an owner no message has
 * and a counter of its own (its packet id, which no other PUBREL in flight has).
 */
function keepPubrelsApart(persistence) {
  const update = persistence.outgoingUpdate.bind(persistence);
  persistence.outgoingUpdate = (client, packet) => {
    if (packet.cmd === 'pubrel') Object.assign(packet, { brokerId: PUBREL_OWNER, brokerCounter: packet.messageId });
    return update(client, packet);
  };
}
const PUBREL_OWNER = 'moby:pubrel';

/**
 * aedes sweeps its stored wills every 4 heartbeat intervals (4 min) and publishes those of brokers whose
 * `$SYS/<id>/heartbeat` it has not received for 3 intervals: meant for a cluster's dead brokers. Its own heartbeat
 * goes through the same queue (mq) as the devices' messages, so while the pipeline acknowledges nothing (a full
 * spool disk with the database down: a full in-flight window, thousands queued) the heartbeat waits there, the
 * broker takes itself for dead and publishes the will of every connected device. Those wills waited in the queue
 * too and reached the pipeline when it resumed: every device OFFLINE at once (critical alerts), each back with its
 * next message (operator round 2026-12-06, traced by a helper). This broker is alone, keeps its sessions in
 * memory (a new broker id at every start) and publishes a will when a connection really closes (aedes' client
 * close, from the client's own copy): the sweep never sees a will of this broker. (Hiding only the connected
 * clients' wills was not enough: a will published at close stays stored until that publish is through the blocked
 * queue, and every sweep meanwhile published it again.)
 */
function skipOwnWillSweep(broker) {
  const persistence = broker.persistence;
  const streamWill = persistence.streamWill.bind(persistence);
  persistence.streamWill = (brokers) => {
    const wills = streamWill(brokers);
    return Readable.from(
      (async function* () {
        for await (const will of wills) if (will.brokerId !== broker.id) yield will;
      })()
    );
  };
}

/**
 * aedes keeps each QoS 2 PUBLISH until its PUBREL only to recognise a resend of the packet id (it delivered the
 * message already): store the id alone, not the payload, and bound the ids held across all sessions
 * (core/mqtt/embedded-broker.ts, PendingQos2 says why). `onForget(clientId)` hears of each id forgotten.
 */
function boundPendingQos2(persistence, pending, onForget) {
  const EMPTY = Buffer.alloc(0);
  const store = persistence.incomingStorePacket.bind(persistence);
  const del = persistence.incomingDelPacket.bind(persistence);
  persistence.incomingStorePacket = async (client, packet) => {
    await store(client, {
      cmd: 'publish',
      topic: '',
      payload: EMPTY,
      qos: 2,
      retain: false,
      messageId: packet.messageId,
    });
    const forgotten = pending.add(client.id, packet.messageId);
    if (forgotten) {
      await del({ id: forgotten[0] }, { messageId: forgotten[1] }).catch(() => {}); // its session may be gone
      onForget(forgotten[0]);
    }
  };
  persistence.incomingDelPacket = async (client, packet) => {
    pending.release(client.id, packet.messageId);
    return del(client, packet);
  };
  if (typeof persistence.cleanIncoming === 'function') {
    // a clean session's ids go with it
    const clean = persistence.cleanIncoming.bind(persistence);
    persistence.cleanIncoming = (client) => {
      pending.releaseClient(client.id);
      return clean(client);
    };
  }
}

/**
 * aedes acknowledges and queues every publish for delivery as fast as devices send, however many wait for the
 * pipeline: devices sending faster than the pipeline takes their messages filled that queue without a bound
 * (seen with `npm start` and 8,000 simulated devices: 960,000 messages and 1.5 GB within four minutes), and the
 * broker's time went to the queue itself (a shift() over it per delivery) rather than to delivering, until it
 * delivered almost nothing. Past `high` queued messages a device's live publish is dropped and counted instead,
 * as Mosquitto does past max_queued_messages: the devices keep being read and answered (keep-alive, PUBACK), and
 * what the pipeline gets stays fresh. The drops fall on the clients that hold more than their share of the queue:
 * a client holding fewer messages and bytes than the bound divided among the clients holding any still has its
 * publish kept (up to the hard cap), so a flood from a few connections sheds only itself (red-team round
 * 2026-12-07: a keyless client publishing 140 KB messages from 30 connections filled the byte bound, and about 80 %
 * of every device's acknowledged telemetry was dropped for as long as it went on). Wills are never dropped, and
 * each device keeps one message every keepEveryMs (below), a new connection's first (its retained birth) included.
 * Retained messages are dropped like the rest:
 * exempt, a client without keys re-publishing one retained topic from a few connections grew the queue past any
 * bound (1.1 GB in 6 s, red-team round 2026-12-06) and starved the devices' telemetry. A dropped retained message
 * is not stored either: the topic keeps its earlier retained value.
 * Returns the counters.
 * (Pausing the publishers instead kept the data but starved them: paused devices, released together, sent their
 * backlogs at once, and lost their connections to the keep-alive, i.e. wills and OFFLINE alerts.)
 */
function shedLoad(broker, isPipeline, { high, hardCap, highBytes, hardCapBytes, keepEveryMs, onDrop }) {
  const mq = broker.mq;
  // The count alone bounded the queue at 5,000 (20,000 with the keep-every rule) messages of any size: a client
  // without keys flooding envelopes just under the packet cap (140 KB) grew `npm start` to ~1 GB (red-team round
  // 2026-12-06). So the payload bytes of every message between its publish and aedes' done (queued, being
  // delivered, waiting for the pipeline's inflight window) count too, with the same two thresholds in bytes.
  let bytes = 0;
  const over = () => mq.length > high || bytes > highBytes;
  const withinHardCap = () => mq.length <= hardCap && bytes <= hardCapBytes;
  // per client holding any: its messages and payload bytes between publish and done. Its share is the bound
  // divided among those clients, and never less than one message: while the whole fleet is over the bound (more
  // devices than the pipeline keeps up with), each device still has one message waiting, its freshest
  const held = new Map();
  const overShare = (client) => {
    const h = held.get(client);
    if (!h) return false;
    return h.messages >= Math.max(1, high / held.size) || h.bytes >= highBytes / held.size;
  };
  // Drops fall on whoever publishes while the queue is full, and devices on a timer (the simulator's, and real
  // ones) publish at a fixed phase: without this, 135 of 8,000 simulated devices that shared a phase had none of
  // their messages through for 20 s and were timed out together. While shedding, a device's message is kept
  // when none of its own was kept for keepEveryMs (up to hardCap waiting), so each device reaches the pipeline
  // at least that often.
  const lastKept = new WeakMap();
  const publish = broker.publish.bind(broker);
  broker.publish = (packet, client, done) => {
    // (packet, done): the broker's own publish (a will, $SYS)
    const fromClient = client && typeof client === 'object';
    const fromDevice = fromClient && !isPipeline(client); // the pipeline's own publishes are never shed nor held
    if (fromDevice && over() && packet !== client.will) {
      const now = Date.now();
      if (withinHardCap() && (!overShare(client) || !(now - (lastKept.get(client) ?? 0) < keepEveryMs)))
        lastKept.set(client, now);
      else {
        onDrop(client, packet, bytes > highBytes ? 'bytes' : 'messages'); // counted there (queue_full)
        if (typeof done === 'function') setImmediate(done);
        return;
      }
    }
    const size = payloadBytes(packet.payload);
    if (size === 0 && !fromClient) return publish(packet, client, done);
    bytes += size;
    let mine = null;
    if (fromDevice) {
      mine = held.get(client);
      if (!mine) held.set(client, (mine = { messages: 0, bytes: 0 }));
      mine.messages++;
      mine.bytes += size;
    }
    let settled = false;
    const finished = (...args) => {
      if (!settled) {
        settled = true;
        bytes -= size;
        if (mine) {
          mine.messages--;
          mine.bytes -= size;
          if (mine.messages === 0 && held.get(client) === mine) held.delete(client);
        }
      }
      if (typeof done === 'function') done(...args);
      else if (typeof client === 'function') client(...args);
    };
    // (packet, done) and (packet, client, done) both: the callback is the last argument aedes was given
    if (typeof client === 'function') publish(packet, finished);
    else publish(packet, client, finished);
  };
  return { queuedBytes: () => bytes, holdingClients: () => held.size };
}

async function startEmbeddedBroker(o) {
  const { Aedes } = require('aedes');
  const {
    embeddedBrokerConnect,
    embeddedBrokerMaySubscribe,
    embeddedBrokerPublishesWill,
    BrokerRefusalLog,
    RetainedBudget,
    EMBEDDED_BROKER_MAX_PACKET,
    EMBEDDED_BROKER_MAX_CONNECTIONS,
    hasEmptyTopicLevel,
    EMBEDDED_BROKER_CONNECT_TIMEOUT_MS,
    EMBEDDED_BROKER_MAX_QUEUED,
    EMBEDDED_BROKER_MAX_WILL,
    embeddedBrokerMaxConnect,
    EMBEDDED_BROKER_MAX_QUEUED_BYTES,
    PendingQos2,
    forwardedQos,
    brokerRefusal,
    protocolErrorOf,
    EMBEDDED_BROKER_MAX_PARTIAL_BYTES,
  } = require(path.join(dist, 'embedded-broker.js'));
  const { PacketSizeGuard, PartialPacketBudget } = require(path.join(dist, 'packet-size.js'));
  const { ConnectionTable } = require(path.join(dist, 'connection-table.js'));
  const { InflightGate, EMBEDDED_BROKER_MAX_INFLIGHT } = require(path.join(dist, 'inflight-gate.js'));
  // a topic is any UTF-8 a client chose, up to 64 KiB: log lines show it escaped and cut, as reject reasons do
  const { preview, previewTopic } = require(path.join(dist, '..', 'names.js'));
  // a client id is any UTF-8 its client chose (MQTT 3.1.1 allows 65,535 bytes): escaped and cut in log lines,
  // as topics are (red-team round 2026-12-05: ESC sequences, a line break that forged a [moby] line, U+202E)
  const idText = (id) => preview(String(id ?? ''), 80);
  const host = o.host ?? '127.0.0.1';
  const maxPacket = o.maxPacketBytes ?? EMBEDDED_BROKER_MAX_PACKET;
  const maxWillBytes = o.maxWillBytes ?? EMBEDDED_BROKER_MAX_WILL;
  // a CONNECT's fields are held for the life of its connection: its own, lower cap (embeddedBrokerMaxConnect)
  const maxConnect = embeddedBrokerMaxConnect(maxWillBytes);
  const refusals = new BrokerRefusalLog({ linesPerWindow: o.linesPerWindow });
  const say = (line) => line !== null && o.log(`embedded broker: ${line}`);
  const pipelineClients = new WeakSet();
  // connections another CONNECT with the same client id is replacing (aedes closes them, then publishes their will)
  // (old connection → the address of the one replacing it, for the log line)
  const displaced = new WeakMap();
  const retained = new RetainedBudget(o.maxRetainedBytes);
  const connections = new ConnectionTable(o.maxConnections ?? EMBEDDED_BROKER_MAX_CONNECTIONS);
  const connectTimeoutMs = o.connectTimeoutMs ?? EMBEDDED_BROKER_CONNECT_TIMEOUT_MS;
  // the connection (PacketSizeGuard) → its entry in the table, to exempt it once it logs in as the pipeline
  const tracked = new WeakMap();
  // aedes clients closed to make room under the cap: their wills are not published (embeddedBrokerPublishesWill)
  const evictedClients = new WeakSet();
  // one gate per pipeline session (client id): what is unacknowledged outlives a reconnect, as the session does
  const maxInflight = o.maxInflight ?? EMBEDDED_BROKER_MAX_INFLIGHT;
  const gates = new Map();
  const gateOf = (clientId) => gates.get(clientId);
  // A pipeline connection delivers QoS 1/2 messages through its session's gate. aedes calls deliverQoS once per
  // message and subscriber and waits for its callback before it finishes publishing that message.
  function gateDeliveries(client) {
    let gate = gates.get(client.id);
    if (!gate) gates.set(client.id, (gate = new InflightGate(maxInflight)));
    const deliver = client.deliverQoS;
    client.deliverQoS = (packet, cb) =>
      gate.admit(
        (finished) =>
          deliver(packet, (...args) => {
            finished();
            cb(...args);
          }),
        () => cb(),
        client
      );
    client.conn.once('close', () => gate.abandonWaiting(client));
  }
  // the pipeline logs in; its client id is refused to everyone else, and only it subscribes (see the module)
  const broker = await Aedes.createBroker({
    // aedes closes a connection that has not sent CONNECT by then (its default is 30 s)
    connectTimeout: connectTimeoutMs,
    // aedes' default (60 s) unless a test shortens it to reach its will sweep (skipOwnWillSweep) in seconds
    ...(o.heartbeatIntervalMs ? { heartbeatInterval: o.heartbeatIntervalMs } : {}),
    authenticate: (client, username, password, done) => {
      // aedes holds the CONNECT's will in client._will while it authenticates
      const will = client._will;
      const v = embeddedBrokerConnect(
        o.login,
        client.id,
        username,
        password,
        will?.topic,
        payloadBytes(will?.payload),
        maxWillBytes
      );
      if (!v.ok) {
        const from = client.conn?.remoteAddress ?? 'a client';
        say(refusals.note(v.kind, client.id, `refused a connection from ${from}: ${v.reason}`));
        return done(
          brokerRefusal(v.reason, {
            returnCode:
              v.kind === 'wrong_password' ? 4 : v.kind === 'wildcard_will' || v.kind === 'will_too_large' ? 5 : 2,
          }),
          null
        );
      }
      if (!v.pipeline && admitting !== 'open') {
        // no CONNACK yet, rather than a refusal: mqtt.js 5 gives up for good on a refused CONNACK (it retries
        // after a connect timeout or a closed connection); the device keeps what it has not had acknowledged
        const stopping = admitting === 'closing';
        say(
          refusals.note(
            stopping ? 'stopping' : 'pipeline_not_subscribed',
            client.id,
            stopping
              ? `did not answer the connection of client "${idText(client.id)}": npm start is stopping`
              : `holds the connection of client "${idText(client.id)}" without an answer until the pipeline has subscribed: what the broker acknowledged now would be lost`
          )
        );
        if (!stopping) heldConnects.push({ client, admit: () => done(null, true) });
        return;
      }
      if (v.pipeline) {
        pipelineClients.add(client);
        // the pipeline sends only acknowledgements: never closed to make room for others' unfinished packets
        client.conn.exempt = true;
        partials.hold(client.conn, 0, false);
        const entry = tracked.get(client.conn);
        if (entry) connections.markPipeline(entry);
        gateDeliveries(client);
      }
      // the old connection with this id is marked displaced when aedes registers the new one (below), not here:
      // a connection that authenticates and then dies before its CONNACK (a malformed packet behind CONNECT)
      // never takes over, yet marking it here switched off a live device's will (red-team 2026-12-06)
      done(null, true);
    },
    authorizePublish: (client, packet, done) =>
      afterConnack(client, (err) => (err ? done(err) : authorizePublish(client, packet, done))),
    // a refused subscription is answered with the MQTT failure code (0x80), the client stays connected. Said in
    // the log, once per client: a core `mqtt in` stays green "connected" and receives nothing, and a newcomer's
    // example flow looked broken for no reason anyone could see (newcomer round 2026-12-07)
    authorizeSubscribe: (client, sub, done) => {
      if (embeddedBrokerMaySubscribe(pipelineClients.has(client))) return done(null, sub);
      say(
        refusals.note(
          'subscribe_refused',
          client.id,
          `refused the subscription of client "${idText(client.id)}" to "${previewTopic(sub.topic)}": on npm start's embedded broker only the pipeline subscribes (nobody else reads the devices' messages); flows that read MQTT need a broker of their own (MOBY_MQTT_URL, README "Security")`
        )
      );
      done(null, null);
    },
    // sent with the QoS its matching subscriptions grant (forwardedQos says what aedes gets wrong)
    authorizeForward: (client, packet) => {
      const qos = forwardedQos(client.subscriptions, packet.topic, packet.qos);
      return qos === undefined || qos === packet.qos ? packet : { ...packet, qos };
    },
  });
  breakDeepDeliveryChains(broker.mq);
  // Devices are admitted only while what the broker acknowledges to them can reach the pipeline. The broker is in
  // memory: started fresh (npm start restarted) it has no pipeline session, and a device's QoS 1 publish before
  // the pipeline had subscribed was acknowledged and delivered to nobody; and devices still connected while npm
  // start stopped had what they sent after the last drain acknowledged and lost (operator round 2026-12-07:
  // 396 of 5,715 acknowledged messages across two restarts, 85 of 830 across one Ctrl+C, none counted).
  // 'waiting' until the pipeline has subscribed (with o.waitForPipeline; tests of other rules admit at once),
  // 'open', 'closing' from stopAdmitting() on. A held or closed device keeps its unacknowledged messages.
  let admitting = o.waitForPipeline ? 'waiting' : 'open';
  let admitTimer = null;
  // device CONNECTs waiting for the pipeline ({client, admit}); bounded by the connection cap
  const heldConnects = [];
  let markAdmitting;
  const admitted = new Promise((r) => (markAdmitting = r));
  if (admitting === 'open') markAdmitting();
  broker.on('subscribe', (_subs, client) => {
    if (admitting !== 'waiting' || !pipelineClients.has(client)) return;
    clearTimeout(admitTimer);
    admitTimer = setTimeout(() => {
      if (admitting !== 'waiting') return;
      admitting = 'open';
      const held = heldConnects.splice(0).filter((h) => h.client.conn && !h.client.conn.destroyed);
      o.log(
        `embedded broker: the pipeline has subscribed; devices are admitted${held.length ? ` (${held.length} waiting)` : ''}`
      );
      for (const h of held) h.admit();
      markAdmitting();
    }, ADMIT_SETTLE_MS);
  });
  // aedes registers a connected client here and, when another holds its id, closes that one first (MQTT's
  // session takeover): the moment a connection is really displaced, so its will is not published
  const register = broker.registerClient.bind(broker);
  broker.registerClient = (client) => {
    const old = broker.clients[client.id];
    if (old && old !== client) displaced.set(old, client.conn?.remoteAddress ?? 'an unknown address');
    register(client);
  };
  const afterConnack = connackGate(broker, brokerRefusal);
  function authorizePublish(client, packet, done) {
    // aedes' own rule, which a custom authorizePublish replaces: $SYS/ is the broker's
    if (packet.topic.startsWith('$SYS/')) return done(brokerRefusal('$SYS/ topic is reserved'));
    if (hasEmptyTopicLevel(packet.topic)) {
      // refused (the publisher's connection is closed, MQTT 3.1.1 has no negative PUBACK): delivered, it would
      // close the pipeline's connection instead (hasEmptyTopicLevel says why)
      const who = client ? `client "${idText(client.id)}"` : 'the broker';
      say(
        refusals.note(
          'empty_topic_level',
          client ? client.id : '',
          `refused a publish of ${who} to "${previewTopic(packet.topic)}": a topic with an empty level`
        )
      );
      return done(brokerRefusal('topic with an empty level'));
    }
    if (client && packet === client.will) {
      const evicted = evictedClients.has(client);
      if (!embeddedBrokerPublishesWill(displaced.has(client), evicted)) {
        // an evicted connection was counted and logged when it was evicted (that line says its will is withheld)
        if (!evicted)
          say(
            refusals.note(
              'takeover_will',
              client.id,
              `did not publish the will of client "${idText(client.id)}" on ${previewTopic(packet.topic)}: a connection from ${displaced.get(client)} took over its client id`
            )
          );
        return done(brokerRefusal(evicted ? 'will of an evicted connection' : 'will of a displaced connection'));
      }
    }
    // DUP on what the pipeline receives must mean "the broker sends this again" (moby-mqtt-in passes it on as
    // msg.redelivered, and moby-hmac-verify lets a seen nonce through on it): aedes would forward the
    // publisher's own DUP bit, so anyone able to publish could pass a replay off as a redelivery.
    // Mosquitto never forwards it; neither does this broker.
    if (client && packet.dup) packet.dup = false;
    done(null);
  }
  // The retained budget counts a message when it is published, not when it is authorised: shedLoad (installed
  // next, so it runs first) drops retained messages too, and one it drops is neither stored nor counted.
  const publishCounted = broker.publish.bind(broker);
  broker.publish = (packet, client, done) => {
    if (packet.retain && !retained.admit(packet.topic, payloadBytes(packet.payload))) {
      // delivered to live subscribers, not kept: the retained store is bounded
      packet.retain = false;
      const c = client && typeof client === 'object' ? client : null; // (packet, done): the broker's own
      const who = c ? `client "${idText(c.id)}"` : 'the broker';
      say(
        refusals.note(
          'retained_over_budget',
          c ? c.id : '',
          `kept a retained message of ${who} on ${previewTopic(packet.topic)} only as a live message: retained messages are over their budget of ${retained.maxBytes} bytes; logged once per client`
        )
      );
    }
    publishCounted(packet, client, done);
  };
  const maxQueued = o.maxQueued ?? EMBEDDED_BROKER_MAX_QUEUED;
  const maxQueuedBytes = o.maxQueuedBytes ?? EMBEDDED_BROKER_MAX_QUEUED_BYTES;
  const shed = shedLoad(broker, (client) => pipelineClients.has(client), {
    high: maxQueued,
    hardCap: 4 * maxQueued,
    highBytes: maxQueuedBytes,
    hardCapBytes: 4 * maxQueuedBytes,
    keepEveryMs: o.keepEveryMs ?? 5000,
    onDrop: (client, packet, by) =>
      say(
        refusals.note(
          'queue_full',
          '',
          by === 'bytes'
            ? `dropped a message of client "${idText(client.id)}": messages of more than ${maxQueuedBytes} bytes in all wait for the pipeline; the pipeline is slower than the devices, or a client floods large messages`
            : `dropped a message of client "${idText(client.id)}": ${maxQueued} messages wait for the pipeline (MQTT's max_queued_messages, as Mosquitto does); the pipeline is slower than the devices`
        )
      ),
  });
  const pendingQos2 = new PendingQos2(o.maxPendingQos2);
  boundPendingQos2(broker.persistence, pendingQos2, (clientId) =>
    say(
      refusals.note(
        'qos2_forgotten',
        clientId,
        `forgot the QoS 2 message id of client "${idText(clientId)}" held for its PUBREL: ${pendingQos2.size} are held (the bound); a resend of it would be delivered twice`
      )
    )
  );
  skipOwnWillSweep(broker);
  markRedeliveries(broker.persistence);
  keepPubrelsApart(broker.persistence);
  gatePipelineDeliveries(broker.persistence, gateOf);
  const onTooLarge = (remaining, conn) => {
    // aedes sets conn.client; its id is known once CONNECT was read (an oversized CONNECT has none yet)
    const id = conn.client?.id;
    const who = id ? `client "${idText(id)}"` : `a client at ${conn.remoteAddress ?? 'an unknown address'}`;
    say(
      refusals.note(
        'packet_too_large',
        id ? `id:${id}` : `addr:${conn.remoteAddress}`,
        conn.refusedConnect
          ? `closed the connection of ${who}: a CONNECT of ${remaining} bytes, over the cap of ${maxConnect} (MOBY_BROKER_MAX_WILL + 4096 for the client id and login); logged once per client`
          : `closed the connection of ${who}: a packet of ${remaining} bytes, over the cap of ${maxPacket} (MOBY_BROKER_MAX_PACKET); logged once per client`
      )
    );
  };
  // a connection aedes closed for what it sent (a malformed packet, too many before the CONNACK, QoS 3, …):
  // counted and logged within the budget like the broker's own refusals (protocolErrorOf says which)
  const onProtocolError = (client, err) => {
    const why = protocolErrorOf(err);
    if (why === null) return;
    const id = client?.id;
    const who = id ? `client "${idText(id)}"` : `a client at ${client?.conn?.remoteAddress ?? 'an unknown address'}`;
    say(refusals.note('protocol_error', id ?? '', `closed the connection of ${who}: ${why}`));
  };
  broker.on('clientError', onProtocolError);
  // aedes' own timer closes a connection without CONNECT; this only makes it visible
  broker.on('connectionError', (client, err) => {
    if (err?.message !== 'connect did not arrive in time') return onProtocolError(client, err);
    const from = client.conn?.remoteAddress ?? 'an unknown address';
    say(
      refusals.note(
        'connect_timeout',
        '',
        `closed a connection from ${from}: no CONNECT within ${connectTimeoutMs / 1000} s of opening it`
      )
    );
  });
  const evict = (victim, newcomer, now) => {
    const conn = victim.conn;
    const client = conn.client; // aedes' Client for this connection (set when aedes took it)
    if (client) evictedClients.add(client);
    const who = client?.id
      ? `client "${idText(client.id)}" (${conn.remoteAddress ?? 'an unknown address'})`
      : `a connection from ${conn.remoteAddress ?? 'an unknown address'} that had not logged in`;
    const will = client && (client.will || client._will) ? '; its will is not published' : '';
    say(
      refusals.note(
        'connection_evicted',
        client?.id ?? '',
        `closed the connection of ${who}, idle for ${Math.round((now - victim.lastActiveAt) / 1000)} s, the longest of ${connections.max} (MOBY_BROKER_MAX_CONNECTIONS), to admit a new one from ${newcomer.remoteAddress ?? 'an unknown address'}${will}`
      )
    );
    conn.destroy();
  };
  // all connections' unfinished packets together, bounded: beyond it the oldest unfinished ones are closed
  const partials = new PartialPacketBudget(o.maxPartialBytes ?? EMBEDDED_BROKER_MAX_PARTIAL_BYTES, (conn, bytes) => {
    const client = conn.client;
    if (client) evictedClients.add(client); // a real device that was merely slow reconnects: no OFFLINE
    const who = client?.id
      ? `client "${idText(client.id)}" (${conn.remoteAddress ?? 'an unknown address'})`
      : `a connection from ${conn.remoteAddress ?? 'an unknown address'} that had not logged in`;
    say(
      refusals.note(
        'stalled_packet',
        client?.id ?? '',
        `closed the connection of ${who}: its unfinished packet held ${bytes} bytes, the oldest while unfinished packets held more than ${partials.maxBytes} bytes in all; its will is not published`
      )
    );
    conn.destroy();
  });
  const server = net.createServer((socket) => {
    const conn = new PacketSizeGuard(socket, maxPacket, onTooLarge, partials, maxConnect);
    const now = Date.now();
    const { entry, evicted } = connections.add(conn, now);
    tracked.set(conn, entry);
    // any bytes read count as activity (a packet, or part of a large one still arriving)
    socket.on('data', () => connections.touch(entry, Date.now()));
    socket.once('close', () => connections.remove(entry));
    broker.handle(conn);
    if (evicted) evict(evicted, conn, now);
  });
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, host, resolve);
    });
  } catch (err) {
    await new Promise((r) => broker.close(r));
    throw err;
  }
  const windowMs = o.summaryIntervalMs ?? 60000;
  const summary = setInterval(() => say(refusals.summary(windowMs / 1000)), windowMs);
  summary.unref();
  const port = server.address().port;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    maxPacket,
    refusals,
    retained,
    connections,
    pendingQos2,
    partials,
    /** payload bytes of the messages between their publish and their delivery (shedLoad) */
    queuedBytes: shed.queuedBytes,
    /** clients (the pipeline's aside) with messages between their publish and their delivery (shedLoad) */
    holdingClients: shed.holdingClients,
    aedes: broker, // for tests and diagnostics
    /** resolves once devices are admitted (at once without o.waitForPipeline) */
    admitted: () => admitted,
    /**
     * Closes every connection but the pipeline's and refuses new ones, without publishing the closed devices' wills
     * (npm start stopping is not the devices failing). Called before drained(): what is then acknowledged to a
     * device is what the pipeline receives. Returns how many connections were closed.
     */
    stopAdmitting: () => {
      admitting = 'closing';
      clearTimeout(admitTimer);
      heldConnects.length = 0; // their sockets close with the broker
      let closed = 0;
      for (const client of Object.values(broker.clients)) {
        if (!client || pipelineClients.has(client)) continue;
        evictedClients.add(client); // its will is withheld, silently (embeddedBrokerPublishesWill)
        refusals.note('stopping', client.id, '');
        client.conn?.destroy();
        closed++;
      }
      if (closed > 0) o.log(`embedded broker: closed ${closed} device connection(s): npm start is stopping`);
      return closed;
    },
    /**
     * Resolves true once nothing waits to be delivered to the pipeline or acknowledged by it (the message bus
     * idle, every pipeline session's window empty), false after `timeoutMs` or at once when no pipeline is
     * connected. npm start's Ctrl+C waits for it between stopping the simulator and stopping Node-RED: the broker
     * is in memory, so what it acknowledged to a device and had not handed on was lost when everything stopped
     * at once (operator round 2026-12-06: the last reading of one device of 20).
     */
    drained: (timeoutMs) =>
      new Promise((resolve) => {
        const deadline = Date.now() + timeoutMs;
        const connected = () => Object.values(broker.clients).some((c) => pipelineClients.has(c) && c.connected);
        const idle = () =>
          broker.mq.length === 0 &&
          broker.mq.current === 0 &&
          [...gates.values()].every((g) => g.inflight === 0 && g.waiting === 0);
        const check = () => {
          if (idle()) return resolve(true);
          if (!connected() || Date.now() >= deadline) return resolve(false);
          setTimeout(check, 20);
        };
        check();
      }),
    // aedes first: it disconnects its clients, without which server.close() would wait for every connection
    // still open (an MQTT client of the operator's, or a child that has not noticed yet)
    close: () =>
      new Promise((r) => {
        clearInterval(summary);
        clearTimeout(admitTimer);
        say(refusals.summary(windowMs / 1000));
        broker.close(() => server.close(() => r()));
      }),
  };
}

module.exports = { startEmbeddedBroker };
