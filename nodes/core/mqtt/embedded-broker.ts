// Who may do what on `npm start`'s embedded broker (aedes on 127.0.0.1, no users of its own). Any local
// process can reach it, so without rules a client with the pipeline's client id took over Node-RED's
// persistent session — receiving, and acknowledging, queued telemetry that was then never stored — and any
// client could subscribe to every device's data. The rules: the pipeline logs in with a login generated per
// start (handed to Node-RED only); its client id (and its partitions' `<id>-<k>`) is refused to everyone else;
// only the pipeline subscribes. Devices and the simulator still connect without a login and publish (their
// messages are signed; what they may publish is the verifier's business). Pure: scripts/start.js wires it
// into aedes' authenticate / authorizeSubscribe hooks.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface EmbeddedBrokerLogin {
  /** the pipeline's fixed client id (MOBY_MQTT_CLIENT_ID) */
  clientId: string;
  username: string;
  password: string;
}

export type ConnectVerdict = { ok: true; pipeline: boolean } | { ok: false; reason: string };

const digest = (b: Buffer | string) => createHash('sha256').update(b).digest();

/** Whether a CONNECT may be accepted, and whether it is the pipeline's (which alone may subscribe). */
export function embeddedBrokerConnect(
  login: EmbeddedBrokerLogin,
  clientId: string,
  username: string | undefined,
  password: Buffer | string | undefined
): ConnectVerdict {
  if (username !== undefined && username === login.username) {
    if (password !== undefined && timingSafeEqual(digest(password), digest(login.password)))
      return { ok: true, pipeline: true };
    return { ok: false, reason: `wrong password for the pipeline's login "${login.username}"` };
  }
  if (clientId === login.clientId || clientId.startsWith(`${login.clientId}-`))
    return { ok: false, reason: `client id "${clientId}" is the pipeline's: it needs the pipeline's login` };
  return { ok: true, pipeline: false };
}

/** Only the pipeline subscribes: nobody else reads other devices' telemetry, wills or status. */
export function embeddedBrokerMaySubscribe(pipeline: boolean): boolean {
  return pipeline;
}
