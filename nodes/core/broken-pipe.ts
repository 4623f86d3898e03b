// A child of `npm start` (Node-RED, the simulator) writes its log lines to pipes that start.js reads. When that
// script dies without stopping its children (kill -9, the OOM killer), the children learn it from their IPC
// channel and stop as on Ctrl+C; but the log lines they write meanwhile fail with EPIPE, and that error, which
// nothing handled, ended the process at once: Node-RED exited before its flows had stopped and its context store
// was written, losing a device's last state change, and the simulator before it saved where each device was
// (red-team round 2026-12-06). A line with nowhere to go is dropped; any other stream error still throws.
import type { Writable } from 'node:stream';

/** Ignores EPIPE on each stream (the reader is gone); other errors are thrown as before. */
export function ignoreBrokenPipes(...streams: Writable[]): void {
  for (const stream of streams)
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
}
