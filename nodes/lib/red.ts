// Minimal typing of the Node-RED runtime API that our adapters use. Kept local (instead of @types/node-red)
// so the adapters compile strictly against exactly what we rely on.

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type SendFn = (msg: NodeMessage | null | Array<NodeMessage | NodeMessage[] | null>) => void;
export type DoneFn = (err?: Error) => void;

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeContextStore {
  get(key: string, store?: string): unknown;
  get(key: string, store: string | undefined, cb: (err: Error | null, value: unknown) => void): void;
  set(key: string, value: unknown, store?: string): void;
  set(key: string, value: unknown, store: string | undefined, cb: (err: Error | null) => void): void;
  keys(store?: string): string[];
}

export interface NodeContext extends NodeContextStore {
  flow: NodeContextStore;
  global: NodeContextStore;
}

export interface Node<TCreds = Record<string, string | undefined>> {
  id: string;
  type: string;
  name?: string;
  z?: string;
  credentials: TCreds;
  on(event: 'input', cb: (msg: NodeMessage, send: SendFn, done: DoneFn) => void | Promise<void>): void;
  on(event: 'close', cb: (removed: boolean, done: () => void) => void): void;
  on(event: string, cb: (...args: never[]) => void): void;
  send(msg: NodeMessage | null | Array<NodeMessage | NodeMessage[] | null>): void;
  status(status: NodeStatus | Record<string, never>): void;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(err: unknown, msg?: NodeMessage): void;
  debug(msg: unknown): void;
  trace(msg: unknown): void;
  context(): NodeContext;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface HttpRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  method: string;
  path: string;
}

export interface HttpResponse {
  status(code: number): HttpResponse;
  json(body: unknown): void;
  send(body?: unknown): void;
  set(name: string, value: string): HttpResponse;
  setHeader(name: string, value: string): void;
  end(): void;
  type(t: string): HttpResponse;
}

type Handler = (req: HttpRequest, res: HttpResponse, next: (err?: unknown) => void) => void;

export interface HttpRouter {
  get(path: string, ...handlers: Handler[]): void;
  post(path: string, ...handlers: Handler[]): void;
  options(path: string, ...handlers: Handler[]): void;
  use(...args: unknown[]): void;
  _router?: { stack: Array<{ route?: { path: string } }> };
}

/** A node whatever its credentials type: each node type declares its own, and the runtime erases them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any, not unknown: Node<Creds> must be assignable both ways
export type AnyNode = Node<any>;

export interface NodeAPI {
  nodes: {
    createNode(node: AnyNode, def: NodeDef): void;
    registerType(
      type: string,
      ctor: (this: AnyNode, def: NodeDef) => void,
      opts?: {
        credentials?: Record<string, { type: 'text' | 'password' }>;
        settings?: Record<string, { value: unknown; exportable?: boolean }>;
      }
    ): void;
    getNode(id: string): AnyNode | null;
  };
  settings: Record<string, unknown> & { userDir?: string; httpNodeRoot?: string };
  httpNode: HttpRouter;
  httpAdmin: HttpRouter;
  log: { info(m: unknown): void; warn(m: unknown): void; error(m: unknown): void; debug(m: unknown): void };
  util: {
    evaluateNodeProperty(
      value: unknown,
      type: string,
      node: AnyNode,
      msg: NodeMessage,
      cb?: (err: Error | null, v: unknown) => void
    ): unknown;
    getMessageProperty(msg: NodeMessage, expr: string): unknown;
    setMessageProperty(msg: NodeMessage, expr: string, value: unknown, createMissing?: boolean): boolean;
    cloneMessage<T extends NodeMessage>(msg: T): T;
    generateId(): string;
  };
  /** the runtime's message-path hooks (Node-RED ≥ 2.0) */
  hooks?: { add(id: string, cb: (event: never) => unknown): void; remove(id: string): void };
  auth?: { needsPermission(perm: string): Handler };
}
