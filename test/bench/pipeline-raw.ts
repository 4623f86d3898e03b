// Floor (a) of the end-to-end bench: a raw mqtt.js subscriber, no Node-RED. It subscribes with QoS 1 (mqtt.js
// acknowledges each publish on receipt), JSON-parses every envelope and records the same latency sample
// as the flows' taps (now − the body's ts). It answers GET /bench/latency like the flows do, so the bench
// drives it exactly as it drives a Node-RED child. Started by pipeline-nodered.ts (startRawSubscriber).
//   BENCH_RAW_URL (mqtt://…), BENCH_RAW_PORT (HTTP port), BENCH_RAW_CLIENT_ID, BENCH_RAW_TOPIC
import http from 'node:http';
import mqtt from 'mqtt';

const lat: number[] = [];
let first = 0;
let last = 0;
let bad = 0;

const client = mqtt.connect(String(process.env.BENCH_RAW_URL), {
  clientId: process.env.BENCH_RAW_CLIENT_ID,
  clean: true,
  keepalive: 60,
});
client.on('message', (_topic, payload) => {
  const now = Date.now();
  let body: unknown;
  try {
    body = (JSON.parse(payload.toString('utf8')) as { body?: unknown }).body;
  } catch {
    bad++;
    return;
  }
  // the body's ts (ISO, ms) is the send time; found by position, as the flows' floor taps do
  const text = typeof body === 'string' ? body : '';
  const i = text.indexOf('"ts":"');
  if (!lat.length) first = now;
  lat.push(now - Date.parse(text.substr(i + 6, 24)));
  last = now;
});
client.on('connect', () => {
  client.subscribe(String(process.env.BENCH_RAW_TOPIC), { qos: 1 }, (err) => {
    if (err) throw err;
    console.log('raw subscriber: Started flows; Connected to broker');
  });
});
client.on('error', (err) => console.log(`raw subscriber: [error] ${err.message}`));

http
  .createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = url.searchParams.get('count')
      ? { count: lat.length, first, last, bad }
      : { count: lat.length, first, last, bad, lat: [...lat] };
    if (url.searchParams.get('reset')) {
      lat.length = 0;
      first = last = 0;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  })
  .listen(Number(process.env.BENCH_RAW_PORT), '127.0.0.1');
process.on('SIGINT', () => client.end(true, {}, () => process.exit(0)));
