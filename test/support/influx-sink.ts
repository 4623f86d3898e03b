// A local HTTP stand-in for the InfluxDB v2 write endpoint: records every request, answers 204 unless a
// scripted answer is queued (status, headers, JSON body like InfluxDB's {"code","message"}), or a rule
// refuses single lines (e.g. a field type conflict) with 400 as InfluxDB does (optionally storing the rest:
// a partial write).
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
  /** lines stored, in order: those of 2xx answers, and with partialWrites the lines a 400 did not refuse */
  accepted: string[];
  /** answers used for the next requests, first in first out */
  script: SinkAnswer[];
  /** when set, a request containing a line for which this returns a message is answered 400 with it */
  refuseLine: ((line: string) => string | null) | null;
  /**
   * false (default): a refused request stores nothing, the message is the first refused line's; true: like
   * InfluxDB 1.x/2.x, the lines not refused are stored and the message is `partial write: <first> dropped=N`
   */
  partialWrites: boolean;
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
    partialWrites: false,
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
      let stored = lines;
      if (answer.status < 300 && sink.refuseLine) {
        const refuse = sink.refuseLine;
        const whys = lines.map((l) => refuse(l));
        const first = whys.find((w) => w !== null);
        if (first) {
          const dropped = whys.filter((w) => w !== null).length;
          answer = {
            status: 400,
            body: {
              code: 'invalid',
              message: sink.partialWrites ? `partial write: ${first} dropped=${dropped}` : first,
            },
          };
          stored = sink.partialWrites ? lines.filter((_, i) => whys[i] === null) : [];
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
      else if (stored !== lines) sink.accepted.push(...stored);
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
