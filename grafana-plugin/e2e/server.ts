// Local HTTP server for the browser harness and a fake MOBY alert API, on a free loopback port.
import fs from 'fs';
import http from 'http';
import { AddressInfo } from 'net';
import path from 'path';

export interface ApiCall {
  id: string;
  action: string;
  body: any;
}

export interface HarnessServer {
  url: string;
  calls: ApiCall[];
  /** alert ids whose next action answers 409 with the API's error body */
  failIds: Set<string>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };

export const HARNESS_DIR = path.resolve(__dirname);

export function harnessBuilt(): boolean {
  return fs.existsSync(path.join(HARNESS_DIR, 'dist', 'harness.js'));
}

export async function startServer(): Promise<HarnessServer> {
  const calls: ApiCall[] = [];
  const failIds = new Set<string>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // the alert API as the panel reaches it: through Grafana's data source proxy (stood in for here)
    const m = /^\/api\/datasources\/proxy\/uid\/moby-api\/alerts\/([^/]+)\/(ack|resolve)$/.exec(url.pathname);
    if (m && req.method === 'POST') {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const id = decodeURIComponent(m[1]);
        let body: any = {};
        try {
          body = JSON.parse(raw || '{}');
        } catch {
          body = { invalid: raw };
        }
        calls.push({ id, action: m[2], body });
        res.setHeader('Content-Type', 'application/json');
        if (failIds.delete(id)) {
          res.statusCode = 409;
          res.end(JSON.stringify({ error: { code: 'conflict', message: `alert ${id} was changed by someone else` } }));
          return;
        }
        const now = Date.now();
        const alert =
          m[2] === 'ack'
            ? {
                alert_id: id,
                status: 'open',
                acknowledged: true,
                acknowledged_by: body.by,
                acknowledged_at: now,
                ack_note: body.note,
                updated_at: now,
              }
            : {
                alert_id: id,
                status: 'resolved',
                acknowledged: false,
                resolved_by: body.by,
                resolved_at: now,
                resolve_note: body.note,
                updated_at: now,
              };
        res.end(JSON.stringify(alert));
      });
      return;
    }
    const file = url.pathname === '/' ? 'harness.html' : url.pathname.slice(1);
    const full = path.join(HARNESS_DIR, file === 'harness.html' ? '' : 'dist', path.basename(file));
    fs.readFile(full, (err, buf) => {
      if (err) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      res.setHeader('Content-Type', TYPES[path.extname(full)] ?? 'application/octet-stream');
      res.end(buf);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failIds,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
