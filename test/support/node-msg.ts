// What node tests read off the messages their helper nodes receive, and the one way to collect them.
import type { AnomalyResult, Reject } from '../../nodes/core/contract';

// the same singleton the test files load, so it sees the flow they loaded
const helper = require('node-red-node-test-helper');

/** A message as our nodes emit it (every field optional: each test reads the ones its node sets). */
export interface NodeMsg {
  topic?: string;
  payload?: any;
  units?: Record<string, string>;
  redelivered?: boolean;
  userProperties?: Record<string, unknown>;
  anomaly?: Omit<AnomalyResult, 'model'> & {
    model?: Record<string, string>;
    warming?: boolean;
    warmup?: { have: number; need: number };
  };
  rul?: { value: number; unit: string; raw_value?: number };
  moby?: {
    device_id?: string;
    auth?: { kid?: string; ts?: number; verified?: boolean; redelivered?: boolean };
    flags?: Array<{ code: string; field?: string }>;
    reject?: Reject;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** Every message the helper node `id` receives from now on, in arrival order. */
export function collect<M = NodeMsg>(id: string): M[] {
  const got: M[] = [];
  helper.getNode(id).on('input', (m: M) => got.push(m));
  return got;
}

/** The text of every warning the nodes logged since the flow was loaded (node-red-node-test-helper's log spy). */
export function warnings(): string[] {
  const log = helper.log();
  return log.args
    .map((a: Array<{ level?: number; msg?: unknown }>) => a[0])
    .filter((e: { level?: number }) => e.level === log.WARN)
    .map((e: { msg?: unknown }) => String(e.msg));
}
