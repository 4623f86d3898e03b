// Process-wide: whether the devices can be heard right now. A source that cannot take more messages — its
// in-flight window full (the broker sends nothing more until something settles: a full spool disk, a stalled
// node) or no connection to the broker — cannot hear anyone, so moby-device-health does not count that time
// as the devices' silence (docs/device-health.md, "When the pipeline holds back"), and says so as an alert
// once it lasts (core/health/blind-watch.ts). Sources register a probe; nodes without one (the core mqtt in)
// are taken as always listening.

/** true: every message can reach the flows now; false or a sentence: it cannot (the sentence says why). */
export type IngestProbe = () => boolean | string;

const probes = new Map<string, IngestProbe>();

/** Registers a source's probe; returns the unregister function. */
export function registerIngestProbe(id: string, probe: IngestProbe): () => void {
  probes.set(id, probe);
  return () => {
    if (probes.get(id) === probe) probes.delete(id);
  };
}

/** False while any registered source cannot take messages. */
export function ingestListening(): boolean {
  return ingestDeafness() === null;
}

/** Null while every registered source can take messages, else why the first that cannot does not. */
export function ingestDeafness(): string | null {
  for (const p of probes.values()) {
    const r = p();
    if (r === true) continue;
    return typeof r === 'string' && r ? r : 'a source cannot take messages';
  }
  return null;
}
