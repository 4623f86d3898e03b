// What the InfluxWriter unit tests share: numbered line-protocol lines and, per test, a spool directory, an
// InfluxDB sink and the writer under test (closed after the test).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InfluxWriter } from '../../nodes/core/influx/writer';
import { startInfluxSink, type InfluxSink } from './influx-sink';

const T = 1795307652874;

/** Lines number `from` … `from + n − 1` of measurement m over devices d0 … d2, one millisecond apart. */
export const lines = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `m,device_id=d${(from + i) % 3} v=${from + i} ${T + from + i}`);

export interface WriterEnv {
  /** the spool directory */
  dir: string;
  sink: InfluxSink;
  /** the test's writer, if it made one: closed after the test */
  writer: InfluxWriter | null;
}

/** For a describe block: a fresh spool directory and InfluxDB sink per test; after it, writer and sink closed. */
export function useWriterEnv(dirPrefix: string): WriterEnv {
  const env = { writer: null } as WriterEnv;
  beforeEach(async () => {
    env.dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
    env.sink = await startInfluxSink();
    env.writer = null;
  });
  afterEach(async () => {
    await env.writer?.close(100);
    await env.sink.close();
    fs.rmSync(env.dir, { recursive: true, force: true });
  });
  return env;
}
