// Whether a durable MQTT source can hear its devices right now (read by device health through
// lib/ingest-watch.ts). Not when it has no connection, nor when it is stalled: its in-flight window is full
// (the broker sends nothing more until something settles) and nothing has settled for `graceMs`. A full
// window that keeps settling — a busy pipeline working through a backlog — still hears: messages keep
// arriving, so silence keeps meaning silence and a dead device is still reported.
export const STALL_GRACE_MS = 2000;

export interface SourceLoad {
  connected: boolean;
  /** messages held unacknowledged (tracked + buffered) */
  load: number;
  window: number;
  /** when a message last settled (acknowledged, failed or forgotten), ms */
  lastSettledMs: number;
  now: number;
  graceMs?: number;
}

export function sourceCanHear(s: SourceLoad): boolean {
  if (!s.connected) return false;
  return s.load < s.window || s.now - s.lastSettledMs < (s.graceMs ?? STALL_GRACE_MS);
}
