// One MQTT client id per broker per Node-RED. Two sessions with the same client id on one broker take each
// other over: the broker closes the older connection when the newer one connects (MQTT 3.1.1 §3.1.4,
// MQTT 5 §3.1.4), both reconnect two seconds later, and with persistent sessions the messages each had in flight
// are redelivered to whichever is connected — a takeover loop that looks like a flaky network. It happens when
// two moby-mqtt-broker config nodes share an id, e.g. the single- and the multi-tenant pipeline imported into
// one Node-RED (both use ${MOBY_MQTT_CLIENT_ID}). The second claimant is refused, with the first one named.
import type { BrokerServer } from './topics';

export class ClientIdClaims {
  /** `<host>:<port>\0<client id>` → the config node holding it */
  private readonly owners = new Map<string, string>();

  private static keys(servers: readonly BrokerServer[], clientId: string): string[] {
    return servers.map((s) => `${s.host.toLowerCase()}:${s.port}\0${clientId}`);
  }

  /**
   * Claims `clientId` on every server of the list for `owner`; returns null, or the owner already holding it
   * on one of them (then nothing is claimed).
   */
  claim(servers: readonly BrokerServer[], clientId: string, owner: string): string | null {
    const keys = ClientIdClaims.keys(servers, clientId);
    for (const k of keys) {
      const other = this.owners.get(k);
      if (other !== undefined && other !== owner) return other;
    }
    for (const k of keys) this.owners.set(k, owner);
    return null;
  }

  /** Releases what `owner` claimed (a no-op for claims it does not hold). */
  release(servers: readonly BrokerServer[], clientId: string, owner: string): void {
    for (const k of ClientIdClaims.keys(servers, clientId)) if (this.owners.get(k) === owner) this.owners.delete(k);
  }
}
