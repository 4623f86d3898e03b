// moby-redis: config node owning one shared ioredis connection for every node that uses it (device-health
// instances register as users; the connection opens with the first user and closes with the last).
import Redis, { type RedisOptions } from 'ioredis';
import type { Node, NodeAPI, NodeDef } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import type { RedisConfigNode } from './redis-config';
import { integerSetting, textSetting } from '../lib/settings';
import { mobyRedisOptions } from '../core/redis-options';

const TYPE = 'moby-redis';

interface RedisDef extends NodeDef {
  host?: string;
  port?: string | number;
  db?: string | number;
  tls?: boolean;
  /** redis[s]://[user:pass@]host:port/db, e.g. ${MOBY_REDIS_URL}; overrides host, port and db when set */
  url?: string;
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
    const url = textSetting(def.url);
    // a URL field that names an unset variable (the shipped flow's ${MOBY_REDIS_URL}) means "no Redis":
    // users stay local instead of reaching for a server on 127.0.0.1 nobody configured
    node.configured = url !== '' || def.url === undefined || (def.host || '').trim() !== '';
    const users = new Set<string>();
    let client: Redis | null = null;

    const options: RedisOptions = {
      host,
      port,
      db,
      username: node.credentials.username || undefined,
      password: node.credentials.password || undefined,
      tls: def.tls ? {} : undefined,
      // fail fast while disconnected or hung: users fall back to memory instead of piling up commands
      ...mobyRedisOptions(),
    };

    let shown = `${host}:${port}/${db}`;
    if (url) {
      try {
        const u = new URL(url);
        shown = `${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : '/0'}`; // never the password
      } catch {
        shown = 'invalid URL';
      }
    }
    node.describe = () => shown;
    node.register = (userId: string) => {
      users.add(userId);
      if (!client) {
        if (url) {
          const { host: _h, port: _p, db: _d, username: _u, password: _w, ...rest } = options;
          client = new Redis(url, {
            ...rest,
            ...(node.credentials.username ? { username: node.credentials.username } : {}),
            ...(node.credentials.password ? { password: node.credentials.password } : {}),
          });
        } else client = new Redis(options);
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
    node.deregister = async (userId: string) => {
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
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(TYPE, RedisConfig, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
