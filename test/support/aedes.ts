// An embedded aedes MQTT broker on a free loopback port, for tests that need a real broker.
import net from 'node:net';
import { freePort } from './net';

export interface Broker {
  port: number;
  url: string;
  /** with `recordAcksOf`: payloads of that client's PUBACKed QoS 1 messages (as text), with when */
  acks: Array<{ payload: string; at: number }>;
  /** the client id of every connection the broker accepted, in order */
  clients: string[];
  /** cuts every client's connection (as a network drop would); the broker keeps their sessions */
  dropClients(): void;
  close(): Promise<void>;
}

/** With `login`, clients must connect with that user name and password (like a production broker). */
export async function startAedes(
  login?: { username: string; password: string },
  recordAcksOf?: string
): Promise<Broker> {
  // aedes 1.x: Aedes.createBroker() resolves once its persistence is ready.
  const { Aedes } = require('aedes');
  const aedes = await Aedes.createBroker();
  if (login) {
    aedes.authenticate = (
      _client: unknown,
      username: string | undefined,
      password: Buffer | undefined,
      done: (err: Error | null, ok: boolean) => void
    ) => done(null, username === login.username && password !== undefined && password.toString() === login.password);
  }
  const acks: Broker['acks'] = [];
  const clients: string[] = [];
  aedes.on('client', (c: { id: string }) => clients.push(c.id));
  if (recordAcksOf) {
    aedes.on('ack', (packet: { payload?: Buffer } | null, client: { id: string } | null) => {
      if (packet && client?.id === recordAcksOf) acks.push({ payload: String(packet.payload), at: Date.now() });
    });
  }
  const port = await freePort();
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    acks,
    clients,
    dropClients: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => aedes.close(() => resolve()));
      }),
  };
}
