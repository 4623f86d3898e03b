// The two flows the end-to-end bench (pipeline.bench.ts) runs, and the bench-only nodes both get:
// - ours: flows/pipeline.json as shipped (read, never edited) plus a latency tap on the anomaly node's output 1;
// - baseline: what a Node-RED user builds from core nodes and node-red-contrib-influxdb for the same job
//   (mqtt in → json → HMAC check → json → flatten → threshold check → influxdb out, one point per message).
// Both get the same tap (Date.now() − the point's timestamp, i.e. the device's send time) right before the
// database writer and an HTTP endpoint GET /bench/latency returning what the tap saw.
import fs from 'node:fs';
import path from 'node:path';

export type FlowJson = Array<Record<string, unknown>>;

const root = path.resolve(__dirname, '..', '..');
export const TELEMETRY_TOPIC = 'devices/+/telemetry';
/** line-protocol measurement of the baseline's points (ours writes "telemetry", set in flows/pipeline.json) */
export const BASELINE_MEASUREMENT = 'bl_telemetry';

// The tap: one latency sample per point, kept in the memory context store. It sits inline, right before
// the writer (it passes the message on), so it adds no message clone to either flow.
const TAP = (timeExpr: string) => `
const now = Date.now();
let s = global.get('benchLat', 'memory');
if (!s) { s = { lat: [], first: now, last: now }; global.set('benchLat', s, 'memory'); }
s.lat.push(now - (${timeExpr}));
s.last = now;
return msg;`;

// ?count=1 answers without the samples (the floors are polled for their count while they run)
// ours in batch mode: the tap gets batches (docs/batch-mode.md), one sample per item
const TAP_ITEMS = `
const now = Date.now();
let s = global.get('benchLat', 'memory');
if (!s) { s = { lat: [], first: now, last: now }; global.set('benchLat', s, 'memory'); }
const items = Array.isArray(msg.batch) ? msg.batch : [msg];
for (let i = 0; i < items.length; i++) s.lat.push(now - items[i].payload.timestamp);
s.last = now;
return msg;`;

const ENDPOINT = `
const s = global.get('benchLat', 'memory') || { lat: [], first: 0, last: 0 };
if (msg.req.query.reset) global.set('benchLat', undefined, 'memory');
msg.payload = msg.req.query.count ? { count: s.lat.length, first: s.first, last: s.last } : { count: s.lat.length, first: s.first, last: s.last, lat: s.lat };
msg.headers = { 'content-type': 'application/json' };
return msg;`;

// GET /bench/probe: the event-loop delay, GC and context-flush figures of the process (nodered-probe.js, loaded
// by the bench's settings); ?reset=1 starts them anew
const PROBE = `
const p = global.get('benchProbe');
msg.payload = p ? p.read() : {};
if (p && msg.req.query.reset) p.reset();
msg.headers = { 'content-type': 'application/json' };
return msg;`;

function benchNodes(z: string, x0: number, y0: number): FlowJson {
  return [
    {
      id: 'bench.probe.in',
      type: 'http in',
      z,
      name: 'bench probe',
      url: '/bench/probe',
      method: 'get',
      upload: false,
      swaggerDoc: '',
      x: x0,
      y: y0 + 60,
      wires: [['bench.probe.fn']],
    },
    {
      id: 'bench.probe.fn',
      type: 'function',
      z,
      name: 'probe figures',
      func: PROBE,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: x0 + 200,
      y: y0 + 60,
      wires: [['bench.http.out']],
    },
    {
      id: 'bench.http.in',
      type: 'http in',
      z,
      name: 'bench latency',
      url: '/bench/latency',
      method: 'get',
      upload: false,
      swaggerDoc: '',
      x: x0,
      y: y0,
      wires: [['bench.http.fn']],
    },
    {
      id: 'bench.http.fn',
      type: 'function',
      z,
      name: 'latency samples',
      func: ENDPOINT,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: x0 + 200,
      y: y0,
      wires: [['bench.http.out']],
    },
    {
      id: 'bench.http.out',
      type: 'http response',
      z,
      name: '',
      statusCode: '',
      headers: {},
      x: x0 + 400,
      y: y0,
      wires: [],
    },
  ];
}

/**
 * flows/pipeline.json's MQTT inputs swapped for Node-RED's core `mqtt in` (and its `mqtt-broker` config
 * with the same URL, client id and persistent session): the at-most-once-on-crash source, to measure what
 * acknowledging on durability (moby-mqtt-in) costs.
 */
function withCoreMqtt(flow: FlowJson): FlowJson {
  return flow.map((n) => {
    if (n.type === 'moby-mqtt-broker') {
      const url = new URL(String(process.env.MOBY_MQTT_URL || 'mqtt://127.0.0.1:1883'));
      return {
        id: n.id,
        type: 'mqtt-broker',
        name: n.name,
        broker: url.hostname,
        port: url.port || '1883',
        clientid: n.clientId,
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '30',
        cleansession: false,
        autoUnsubscribe: false,
      };
    }
    if (n.type === 'moby-mqtt-in') {
      return {
        id: n.id,
        type: 'mqtt in',
        z: n.z,
        x: n.x,
        y: n.y,
        name: n.name,
        topic: n.topic,
        qos: n.qos,
        datatype: n.datatype,
        broker: n.broker,
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        wires: n.wires,
      };
    }
    return n;
  });
}

/**
 * flows/pipeline.json unchanged (source "durable": moby-mqtt-in) or with the core `mqtt in` (source "core",
 * needs MOBY_MQTT_URL set in this process), plus the tap on the anomaly node's first output and the endpoint.
 */
/**
 * The shipped flow wired as before the views (issue 16): verify's output 1 fans out to normalize and device
 * health, anomaly's output 1 to the writer and the alert node, and the views' outputs (3) stay unwired. The
 * same nodes and code, so `ours-fanout` beside `ours` shows what the views save (docs/benchmarks.md).
 */
function withFanOuts(flow: FlowJson): void {
  for (const n of flow) {
    const wires = n.wires as string[][] | undefined;
    if (!wires || wires.length < 3 || (n.type !== 'moby-hmac-verify' && n.type !== 'moby-anomaly')) continue;
    wires[0] = n.type === 'moby-anomaly' ? [...wires[2], ...wires[0]] : [...wires[0], ...wires[2]];
    wires.length = 2;
  }
}

export function oursFlow(
  source: 'durable' | 'core' = 'durable',
  batch?: { size: number; ms: number },
  file = 'pipeline.json',
  fanOut = false
): FlowJson {
  const shipped = JSON.parse(fs.readFileSync(path.join(root, 'flows', file), 'utf8')) as FlowJson;
  if (fanOut) withFanOuts(shipped);
  // batch mode: the telemetry input emits up to size messages / ms as one (the other inputs stay single)
  if (batch)
    for (const n of shipped)
      if (n.type === 'moby-mqtt-in' && n.id === 'moby.in.telemetry')
        Object.assign(n, { batchSize: batch.size, batchMs: batch.ms });
  const flow = source === 'core' ? withCoreMqtt(shipped) : shipped;
  const anomaly = flow.find((n) => n.type === 'moby-anomaly');
  if (!anomaly) throw new Error('flows/pipeline.json has no moby-anomaly node');
  const z = anomaly.z as string;
  const wires = anomaly.wires as string[][];
  const writer = flow.find((n) => n.type === 'moby-influx-write');
  if (!writer || !wires[0].includes(writer.id as string))
    throw new Error('flows/pipeline.json: anomaly output 1 is not wired to the influx writer');
  // anomaly → writer becomes anomaly → tap → writer (the anomaly's other wires stay as they are)
  wires[0] = wires[0].map((id) => (id === writer.id ? 'bench.tap' : id));
  flow.push({
    id: 'bench.tap',
    type: 'function',
    z,
    name: 'bench latency tap',
    func: batch ? TAP_ITEMS : TAP('msg.payload.timestamp'),
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x: 960,
    y: 80,
    wires: [[writer.id]],
  });
  flow.push(...benchNodes(z, 160, 500));
  return flow;
}

/**
 * flows/tenants.json (the two-tenant pipeline, docs/tenants.md) with the same tap as oursFlow. Keys come from
 * MOBY_HMAC_KEYS' `@tenants` section (no keys directory in the bench's user directory), and the per-tenant
 * rate bound is set so high that it never refuses: the bench measures what tenants cost, not what the
 * bound drops (a saturating load is far above the default 1000 messages/s).
 */
export function oursTenantsFlow(): FlowJson {
  const flow = oursFlow('durable', undefined, 'tenants.json');
  for (const n of flow) {
    if (n.type === 'moby-keyring') n.tenantKeysDir = '';
    if (n.type === 'moby-hmac-verify') n.tenantRate = 1e9;
  }
  return flow;
}

// --- the baseline, hand-written the usual way -------------------------------------------------------------

// HMAC-SHA256 envelope check as a user writes it in a function node: derived per-device key, freshness
// window, constant-time compare, nonce replay set (memory context). crypto comes from functionGlobalContext.
const VERIFY = `
const crypto = global.get('crypto');
const e = msg.payload;
if (!e || typeof e !== 'object' || typeof e.device_id !== 'string' || typeof e.body !== 'string' ||
    typeof e.nonce !== 'string' || typeof e.sig !== 'string' || !Number.isInteger(e.ts)) {
  node.warn('malformed envelope'); return null;
}
const topicDevice = msg.topic.split('/')[1];
if (topicDevice !== e.device_id) { node.warn('device mismatch'); return null; }
const now = Math.floor(Date.now() / 1000);
if (Math.abs(now - e.ts) > 300) { node.warn('stale'); return null; }
const master = env.get('BENCH_MASTER_KEY');
const key = crypto.createHmac('sha256', master).update(e.device_id).digest();
const mac = crypto.createHmac('sha256', key).update(e.device_id + '.' + e.ts + '.' + e.nonce + '.' + e.body).digest();
const sig = Buffer.from(e.sig.replace(/^v1=/, ''), 'hex');
if (sig.length !== mac.length || !crypto.timingSafeEqual(sig, mac)) { node.warn('bad signature'); return null; }
let seen = context.get('nonces', 'memory');
if (!seen) { seen = new Map(); context.set('nonces', seen, 'memory'); }
const nk = e.device_id + '/' + e.nonce;
if (seen.has(nk)) { node.warn('replay'); return null; }
seen.set(nk, e.ts);
if (seen.size > 100000) { for (const [k, t] of seen) { if (now - t > 300) seen.delete(k); else break; } }
msg.device = e.device_id;
msg.payload = e.body;
return msg;`;

// nested {components: {motor: {temperature: {value, unit}}}} → flat fields, tags, timestamp
const FLATTEN = `
const b = msg.payload;
if (!b || typeof b !== 'object' || b.device_id !== msg.device || !b.components) { node.warn('bad body'); return null; }
const t = Date.parse(b.ts);
if (!Number.isFinite(t)) { node.warn('bad ts'); return null; }
const fields = {};
function walk(o, prefix) {
  for (const k of Object.keys(o)) {
    const v = o[k];
    const name = prefix ? prefix + '_' + k : k;
    if (v !== null && typeof v === 'object' && 'value' in v) {
      if (typeof v.value === 'number' && Number.isFinite(v.value)) fields[name] = v.value;
    } else if (v !== null && typeof v === 'object') {
      walk(v, name);
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      fields[name] = v;
    }
  }
}
walk(b.components, '');
fields.time = new Date(t);
msg.sentMs = t;
msg.payload = [fields, { device_id: b.device_id, equipment_id: String(b.equipment_id || ''), hw: String(b.hw || '') }];
return msg;`;

const THRESHOLD = `
const f = msg.payload[0];
const limits = { motor_temperature: 95, motor_current: 40, bearing_vibration: 7.1, hydraulics_pressure: 10 };
let alarm = false;
for (const k in limits) if (f[k] > limits[k]) alarm = true;
f.alarm = alarm;
return msg;`;

export function baselineFlow(opts: { brokerPort: number; dbUrl: string; clientId: string }): FlowJson {
  const z = 'bl.tab';
  const fn = (id: string, name: string, func: string, next: string, x: number) => ({
    id,
    type: 'function',
    z,
    name,
    func,
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x,
    y: 120,
    wires: [[next]],
  });
  return [
    { id: z, type: 'tab', label: 'baseline', disabled: false, info: '' },
    {
      id: 'bl.broker',
      type: 'mqtt-broker',
      name: 'broker',
      broker: '127.0.0.1',
      port: String(opts.brokerPort),
      clientid: opts.clientId,
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
    },
    {
      id: 'bl.db',
      type: 'influxdb',
      hostname: '127.0.0.1',
      port: '8086',
      protocol: 'http',
      database: '',
      name: 'VictoriaMetrics',
      usetls: false,
      tls: '',
      influxdbVersion: '2.0',
      url: opts.dbUrl,
      timeout: '10',
      rejectUnauthorized: false,
    },
    {
      id: 'bl.in',
      type: 'mqtt in',
      z,
      name: 'telemetry',
      topic: TELEMETRY_TOPIC,
      qos: '1',
      datatype: 'utf8',
      broker: 'bl.broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 120,
      wires: [['bl.json1']],
    },
    {
      id: 'bl.json1',
      type: 'json',
      z,
      name: 'envelope',
      property: 'payload',
      action: 'obj',
      pretty: false,
      x: 250,
      y: 120,
      wires: [['bl.verify']],
    },
    fn('bl.verify', 'verify HMAC', VERIFY, 'bl.json2', 400),
    {
      id: 'bl.json2',
      type: 'json',
      z,
      name: 'body',
      property: 'payload',
      action: 'obj',
      pretty: false,
      x: 550,
      y: 120,
      wires: [['bl.flatten']],
    },
    fn('bl.flatten', 'flatten', FLATTEN, 'bl.threshold', 700),
    fn('bl.threshold', 'threshold check', THRESHOLD, 'bl.tap', 850),
    fn('bl.tap', 'bench latency tap', TAP('msg.sentMs'), 'bl.out', 1000),
    {
      id: 'bl.out',
      type: 'influxdb out',
      z,
      influxdb: 'bl.db',
      name: 'influxdb out',
      measurement: BASELINE_MEASUREMENT,
      precision: '',
      retentionPolicy: '',
      database: '',
      precisionV18FluxV20: 'ms',
      retentionPolicyV18Flux: '',
      org: 'moby',
      bucket: 'moby',
      x: 1150,
      y: 120,
      wires: [],
    },
    ...benchNodes(z, 160, 300),
  ];
}

// --- the floors: what Node-RED itself costs to move these messages -------------------------------------------

// The floors' tap: the same sample as TAP, the body's ts (ISO, ms) found by position in the envelope's body
// text (nothing parses the body), and the message goes no further (`return null`).
const FLOOR_TAP = TAP(`Date.parse(msg.payload.body.substr(msg.payload.body.indexOf('"ts":"') + 6, 24))`).replace(
  /return msg;$/,
  'return null;'
);

/**
 * Floor (b) `mqtt in` (QoS 1, JSON) → function (the tap, returns null), and floor (c) the same with a fan-out of
 * two: the `mqtt in` output wired to the tap and to a second function that returns null, so the runtime clones
 * every message once, as our pipeline's fan-outs do.
 */
export function floorFlow(opts: { brokerPort: number; clientId: string; fanOut: boolean }): FlowJson {
  const z = 'floor.tab';
  const fn = (id: string, name: string, func: string, y: number) => ({
    id,
    type: 'function',
    z,
    name,
    func,
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    x: 400,
    y,
    wires: [[]],
  });
  return [
    {
      id: z,
      type: 'tab',
      label: opts.fanOut ? 'floor (c): mqtt in → two functions' : 'floor (b): mqtt in → function',
      disabled: false,
      info: '',
    },
    {
      id: 'floor.broker',
      type: 'mqtt-broker',
      name: 'broker',
      broker: '127.0.0.1',
      port: String(opts.brokerPort),
      clientid: opts.clientId,
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
    },
    {
      id: 'floor.in',
      type: 'mqtt in',
      z,
      name: 'telemetry',
      topic: TELEMETRY_TOPIC,
      qos: '1',
      datatype: 'json',
      broker: 'floor.broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 120,
      wires: [opts.fanOut ? ['floor.tap', 'floor.second'] : ['floor.tap']],
    },
    fn('floor.tap', 'bench latency tap (return null)', FLOOR_TAP, 120),
    ...(opts.fanOut ? [fn('floor.second', 'return null', 'return null;', 180)] : []),
    ...benchNodes(z, 160, 300),
  ];
}
