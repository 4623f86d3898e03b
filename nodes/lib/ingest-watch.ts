// Process-wide: whether the devices can be heard right now. A source that cannot take more messages — its
// in-flight window full (the broker sends nothing more until something settles: a full spool disk, a stalled
// node) or no connection to the broker — cannot hear anyone, so moby-device-health does not count that time
// as the devices' silence (docs/device-health.md, "When the pipeline holds back"). Sources register a probe;
// nodes without one (the core mqtt in) are taken as always listening.
const probes = new Map<string, () => boolean>();

/** Registers a source's probe (true = every message can reach the flows now); returns the unregister function. */
export function registerIngestProbe(id: string, listening: () => boolean): () => void {
  probes.set(id, listening);
  return () => {
    if (probes.get(id) === listening) probes.delete(id);
  };
}

/** False while any registered source cannot take messages. */
export function ingestListening(): boolean {
  for (const p of probes.values()) if (!p()) return false;
  return true;
}
