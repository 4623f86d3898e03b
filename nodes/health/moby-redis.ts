// moby-redis: config node owning one shared ioredis connection for every node that uses it (device-health
// instances register as users; the connection opens with the first user and closes with the last).
import Redis, { type RedisOptions } from 'ioredis';
import type { Node, NodeAPI, NodeDef } from '../lib/red';
import type { RedisConfigNode } from './redis-config';
import { integerSetting } from '../lib/settings';

const TYPE = 'moby-redis';

interface RedisDef extends NodeDef {
  host?: string;
  port?: string | number;
  db?: string | number;
  tls?: boolean;
}

interface RedisCredentials {
  username?: string;
  password?: string;
}


export = function (RED: NodeAPI) {
  function RedisConfig(this: Node<RedisCredentials>, def: RedisDef) {
    RED.nodes.createNode(this, def);
    const node = this as RedisConfigNode;
    const host = (def.host || '').trim() || '127.0.0.1';
    const port = integerSetting(def.port, 6379, 1, 65535);
    const db = integerSetting(def.db, 0, 0, 15);
    const users = new Set<string>();
    let client: Redis | null = null;

    const options: RedisOptions = {
      host,
      port,
      db,
      username: node.credentials.username || undefined,
      password: node.credentials.password || undefined,
      tls: def.tls ? {} : undefined,
      // fail fast while disconnected: users fall back to memory instead of piling up commands
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 5000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    };

    node.describe = () => `${host}:${port}/${db}`;
    node.acquire = (userId: string) => {
      users.add(userId);
      if (!client) {
        client = new Redis(options);
        let reported = false;
        client.on('error', (err: Error) => {
          // one log line per outage, not one per reconnect attempt
          if (!reported) node.warn(`redis ${node.describe()}: ${err.message}`);
          reported = true;
        });
        client.on('ready', () => {
          if (reported) node.log(`redis ${node.describe()}: connected`);
          reported = false;
        });
      }
      return client;
    };
    node.release = async (userId: string) => {
      users.delete(userId);
      if (users.size === 0 && client) {
        const c = client;
        client = null;
        await c.quit().catch(() => c.disconnect());
      }
    };
    node.on('close', (_removed: boolean, done: () => void) => {
      const c = client;
      client = null;
      users.clear();
      if (!c) return done();
      c.quit()
        .catch(() => c.disconnect())
        .finally(() => done());
    });
  }
  RED.nodes.registerType(TYPE, RedisConfig, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
