// A local HTTP stand-in for the InfluxDB v2 write endpoint: records every request, answers 204 unless a
// scripted answer is queued (status, headers, JSON body like InfluxDB's {"code","message"}), or a rule
// refuses single lines (e.g. a field type conflict) with 400 as InfluxDB does.
import http from 'node:http';
import zlib from 'node:zlib';
import { freePort } from './net';

export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface SinkRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  lines: string[];
  status: number;
  at: number;
}

export interface InfluxSink {
  url: string;
  port: number;
  requests: SinkRequest[];
  /** lines answered with 2xx, in order */
  accepted: string[];
  /** answers used for the next requests, first in first out */
  script: SinkAnswer[];
  /** when set, a request containing a line for which this returns a message is answered 400 with it */
  refuseLine: ((line: string) => string | null) | null;
  close(): Promise<void>;
}

export async function startInfluxSink(): Promise<InfluxSink> {
  const port = await freePort();
  const sink: InfluxSink = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    accepted: [],
    script: [],
    refuseLine: null,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = zlib.gunzipSync(raw);
      const body = raw.toString('utf8');
      const lines = body.split('\n').filter((l) => l !== '');
      let answer: SinkAnswer = sink.script.shift() ?? { status: 204 };
      if (answer.status < 300 && sink.refuseLine) {
        for (const l of lines) {
          const why = sink.refuseLine(l);
          if (why) {
            answer = { status: 400, body: { code: 'invalid', message: why } };
            break;
          }
        }
      }
      sink.requests.push({
        path: req.url ?? '',
        headers: req.headers,
        body,
        lines,
        status: answer.status,
        at: Date.now(),
      });
      if (answer.status < 300) sink.accepted.push(...lines);
      const payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        ...(payload ? { 'content-type': 'application/json; charset=utf-8' } : {}),
        ...answer.headers,
      });
      res.end(payload);
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return sink;
}
