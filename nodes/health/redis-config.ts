// The interface the moby-redis config node offers to the nodes that use it.
import type Redis from 'ioredis';
import type { Node } from '../lib/red';

export interface RedisConfigNode extends Node<{ username?: string; password?: string }> {
  /** adds a user and returns the shared client (created with the first user) */
  register(userId: string): Redis;
  /** drops a user; the connection closes with the last one */
  deregister(userId: string): Promise<void>;
  describe(): string;
  /** false when the node names no server (its URL is an unset environment variable): users stay local */
  configured: boolean;
}
