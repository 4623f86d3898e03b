// Whether a durable MQTT source can hear its devices right now (read by device health through
// lib/ingest-watch.ts). Not when it has no connection, nor when it is stalled: its in-flight window is full
// (the broker sends nothing more until something settles) and nothing has settled for `graceMs`. A full
// window that keeps settling — a busy pipeline working through a backlog — still hears: messages keep
// arriving, so silence keeps meaning silence and a dead device is still reported.
import { oneLine } from '../names';
import { span } from '../span';

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

/**
 * Null while the source can hear, else one sentence for a person saying why it cannot: the reason the
 * monitoring-blind alert carries (core/health/blind-watch.ts). `url` names the broker, `lastError` is the
 * connection's last error (folded to one line, cut, escaped: it can hold text a server sent).
 */
export function deafReason(s: SourceLoad & { url?: string; lastError?: string }): string | null {
  if (sourceCanHear(s)) return null;
  const broker = s.url ? `the broker ${s.url}` : 'the broker';
  if (!s.connected) {
    const why = s.lastError ? `: ${plainError(oneLine(s.lastError, 200))}` : '';
    return `no connection to ${broker}${why}`;
  }
  return (
    `${s.load} message(s) from ${broker} in flight and none settled for ${span(s.now - s.lastSettledMs)}: ` +
    'the broker sends nothing more until a node downstream lets one go (is the database writable, the spool disk full?)'
  );
}

/**
 * Why an established connection to the broker ended, for the disconnect warning: the connection's last error in
 * plain words, or none (the socket simply ended). Neither says which: an orderly stop of Mosquitto resets
 * connections that still hold unread data (ECONNRESET), a kill -9 lets the kernel close them cleanly, so
 * the operator round of 2026-12-07 read "closed by the broker" after a kill and "ECONNRESET" after a planned
 * restart. Both now say what is known: the broker's end went away.
 */
export function connectionLostCause(lastError?: string): string {
  const cause = 'the broker stopped or restarted, or it or the network dropped this client';
  if (!lastError) return `the connection was closed from the broker's end: ${cause}`;
  const line = oneLine(lastError, 200);
  const plain = plainError(line);
  if (plain !== line) return plain;
  return /\b(ECONNRESET|EPIPE)\b/.test(line) ? `the connection was reset (${line}): ${cause}` : line;
}

/** mqtt.js's terse errors in words a night shift reads (the end-to-end round of 2026-12-06: "connack timeout"). */
function plainError(e: string): string {
  if (/^connack timeout$/i.test(e)) return 'it takes the connection but does not answer (connack timeout)';
  if (/^keepalive timeout$/i.test(e)) return 'it stopped answering (keep-alive timeout)';
  return e;
}
