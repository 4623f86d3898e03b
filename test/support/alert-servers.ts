// Local stand-ins for the outside services the alert node talks to: an HTTP receiver (Slack webhook, Slack
// Web API, generic webhook, LLM endpoint) that can be scripted to fail with 5xx, 429 or to hang before it
// succeeds, and a real SMTP server (smtp-server) that can answer 451 to the first mails.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { freePort } from './net';

export type Failure = 500 | 503 | 429 | 400 | 'timeout';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** the response status given (or 0 when the request was left hanging) */
  status: number;
}

export interface Receiver {
  url: string;
  /** every request, including those answered with a failure */
  requests: ReceivedRequest[];
  /** requests answered with 2xx */
  delivered(): ReceivedRequest[];
  /** failures still to hand out, first to last */
  failures: Failure[];
  close(): Promise<void>;
}

export interface ReceiverOptions {
  failures?: Failure[];
  /** body of a successful answer (default {"ok":true}) */
  reply?: (req: ReceivedRequest) => unknown;
  /** answer every request with this status (e.g. to stay down) */
  alwaysFail?: Failure;
  /** listen on this port (to come back on the same URL after an outage); default a free one */
  port?: number;
}

export async function startReceiver(opts: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const failures = [...(opts.failures ?? [])];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status: 0,
      };
      requests.push(rec);
      const failure = opts.alwaysFail ?? failures.shift();
      if (failure === 'timeout') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (failure !== undefined) {
        rec.status = failure;
        res.writeHead(failure, failure === 429 ? { 'retry-after': '0' } : {});
        res.end('failure scripted by the test');
        return;
      }
      rec.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(opts.reply ? opts.reply(rec) : { ok: true }));
    });
  });
  const port = opts.port ?? (await freePort());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    failures,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

export interface SmtpStandIn {
  port: number;
  mails: ReceivedMail[];
  /** mail transactions refused with 451 */
  refused: number;
  close(): Promise<void>;
}

/** A real SMTP server on a free loopback port; the first `refuseFirst` mails get "451 try again later". */
export async function startSmtp(refuseFirst = 0): Promise<SmtpStandIn> {
  const state: SmtpStandIn = { port: 0, mails: [], refused: 0, close: async () => undefined };
  let toRefuse = refuseFirst;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (toRefuse > 0) {
          toRefuse--;
          state.refused++;
          const err = new Error('try again later') as Error & { responseCode: number };
          err.responseCode = 451;
          return callback(err);
        }
        state.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  state.port = port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
