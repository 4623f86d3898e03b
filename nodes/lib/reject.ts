// The reject envelope every MOBY node puts on its reject output: the message as it came in, with
// msg.moby.reject = {code, reason, device_id?, field?} added beside what msg.moby already carried
// (device_id, auth, tenant …), so a Catch-all debug shows the code and the flow can route by it.
import type { Reject } from '../core/contract';
import { isPlainObject } from '../core/guards';
import type { NodeMessage } from './red';

export function withReject(msg: NodeMessage, reject: Reject): NodeMessage {
  msg.moby = { ...(isPlainObject(msg.moby) ? msg.moby : {}), reject };
  return msg;
}
