// When mqtt.js's keep-alive check may drop a connection. It pings after one keep-alive without a PINGRESP and
// gives up half a keep-alive later, counting only PINGRESPs: packets arriving meanwhile do not count, yet a
// PINGRESP queued behind a flood of them (or behind packets the source holds unread, paused) is late for no
// fault of the broker (red-team round of 2026-12-07: a QoS 0 flood disconnected the pipeline every 10–14 s).

/**
 * Whether a connection counts as alive when the keep-alive check fires at `now`: a packet arrived within the last
 * half keep-alive, the time since the check's ping went out.
 */
export function receivingSince(lastPacketAt: number, now: number, keepaliveSec: number): boolean {
  return now - lastPacketAt <= (keepaliveSec * 1000) / 2;
}
