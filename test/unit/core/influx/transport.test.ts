// When write bodies are gzipped (nodes/core/influx/transport.ts), checked on the wire against a local HTTP
// stand-in for InfluxDB's write API: `auto` skips gzip only for a database on this machine.
import assert from 'node:assert/strict';
import { createInfluxSend, gzipThresholdFor, isLoopbackUrl } from '../../../../nodes/core/influx/transport';
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
});
