// When write bodies are gzipped (nodes/core/influx/transport.ts), checked on the wire against a local HTTP
// stand-in for InfluxDB's write API: `auto` skips gzip only for a database on this machine.
import assert from 'node:assert/strict';
import { createInfluxSend, gzipThresholdFor, isLoopbackUrl, linesBody } from '../../../../nodes/core/influx/transport';
import { classifyFailure } from '../../../../nodes/core/influx/writer';
import { startInfluxSink, type InfluxSink } from '../../../support/influx-sink';

describe('influx transport: compression of write bodies', () => {
  let sink: InfluxSink;
  before(async () => {
    sink = await startInfluxSink();
  });
  after(async () => {
    await sink.close();
  });

  it('tells a database on this machine from one elsewhere', () => {
    for (const u of ['http://localhost:8086', 'http://127.0.0.1:8428', 'https://127.1.2.3', 'http://[::1]:8086'])
      assert.equal(isLoopbackUrl(u), true, u);
    for (const u of ['http://influx:8086', 'https://db.example.com', 'http://10.0.0.5:8086', 'not a url'])
      assert.equal(isLoopbackUrl(u), false, u);
  });

  it('auto compresses except to this machine; always and never do what they say', () => {
    assert.equal(gzipThresholdFor('auto', 'http://127.0.0.1:8086'), Infinity);
    assert.equal(gzipThresholdFor('auto', 'http://influx:8086'), 1000);
    assert.equal(gzipThresholdFor('always', 'http://127.0.0.1:8086'), 1000);
    assert.equal(gzipThresholdFor('never', 'http://influx:8086'), Infinity);
  });

  it('sends a large body gzipped or plain as the threshold says, with the same lines either way', async () => {
    const body = Array.from(
      { length: 100 },
      (_, i) => `telemetry,device_id=d${i} t=${i} ${1_700_000_000_000 + i}`
    ).join('\n');
    const conn = { url: sink.url, org: 'moby', bucket: 'b', precision: 'ms' as const };
    await createInfluxSend({ ...conn, gzipThreshold: gzipThresholdFor('always', sink.url) })(body);
    await createInfluxSend({ ...conn, gzipThreshold: gzipThresholdFor('auto', sink.url) })(body);
    assert.equal(sink.requests.length, 2);
    assert.equal(sink.requests[0].headers['content-encoding'], 'gzip');
    assert.equal(sink.requests[1].headers['content-encoding'], undefined, 'auto: no gzip to 127.0.0.1');
    assert.deepEqual(sink.requests[1].lines, sink.requests[0].lines);
    assert.equal(sink.requests[0].lines.length, 100);
  });

  // lines with characters of every UTF-8 length, a lone surrogate at a line's end and escaped text
  const mixed = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const text = ['plain', 'b°C', 'm³/h', '온도', 'x😀y', 'end\ud800', 'q\\"t'][i % 7];
      return `telemetry,device_id=d${i % 13} s="${text}",v=${i / 7} ${1_700_000_000_000 + i}`;
    });

  it('linesBody gives the UTF-8 bytes of the joined lines, however many pieces it makes', () => {
    for (const n of [0, 1, 2, 255, 256, 257, 512, 513, 1000, 2049]) {
      const ls = mixed(n);
      const body = linesBody(ls);
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      assert.deepEqual(bytes, Buffer.from(ls.join('\n'), 'utf8'), `${n} lines`);
      assert.equal(typeof body === 'string', n <= 256, `${n} lines: a string only up to one piece`);
    }
  });

  it('sends lines (send.lines) as the same request as their joined body, gzipped or plain', async () => {
    const ls = mixed(700);
    const conn = { url: sink.url, org: 'moby', bucket: 'b', precision: 'ms' as const };
    for (const compression of ['always', 'auto'] as const) {
      const send = createInfluxSend({ ...conn, gzipThreshold: gzipThresholdFor(compression, sink.url) });
      const from = sink.requests.length;
      await send(ls.join('\n'));
      await send.lines!(ls);
      const [joined, pieces] = sink.requests.slice(from);
      assert.equal(pieces.body, joined.body, compression);
      assert.equal(pieces.path, joined.path);
      assert.equal(pieces.headers['content-encoding'], joined.headers['content-encoding']);
      assert.equal(pieces.headers['content-type'], joined.headers['content-type']);
      assert.equal(pieces.headers['content-length'], joined.headers['content-length']);
      assert.equal(pieces.lines.length, 700);
    }
  });

  it('send.lines fails as the string send does: the same status, reason and Retry-After', async () => {
    const send = createInfluxSend({
      url: sink.url,
      org: 'moby',
      bucket: 'b',
      precision: 'ms',
      gzipThreshold: Infinity,
    });
    const answers = [
      { status: 400, body: { code: 'invalid', message: 'field type conflict' } },
      { status: 429, headers: { 'retry-after': '3' }, body: { code: 'too many', message: 'slow down' } },
      { status: 503, body: { code: 'unavailable', message: 'down' } },
    ];
    for (const a of answers) {
      sink.script.push(a, a);
      const viaString = await send('m v=1 1').then(
        () => null,
        (e: unknown) => classifyFailure(e)
      );
      const viaLines = await send.lines!(mixed(300)).then(
        () => null,
        (e: unknown) => classifyFailure(e)
      );
      assert.ok(viaString, `${a.status} refused`);
      assert.deepEqual(viaLines, viaString, `${a.status}`);
    }
    // nobody listening: the same connection error
    const down = createInfluxSend({ url: 'http://127.0.0.1:9', org: 'o', bucket: 'b', precision: 'ms' });
    const e1 = await down('m v=1 1').then(() => null, classifyFailure);
    const e2 = await down.lines!(mixed(300)).then(() => null, classifyFailure);
    assert.equal(e1?.kind, 'retry');
    assert.deepEqual(e2, e1);
  });
});
