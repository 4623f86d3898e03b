// Which outputs of a node are wired, read from the node's definition (the flow's `wires`).

/**
 * Whether output `port` (0-based) of the node defined by `def` has at least one wire. A node builds the
 * message of an optional output (a view for one consumer) only when someone receives it, so a flow saved
 * before the output existed does exactly what it did.
 */
export function isOutputWired(def: { readonly [key: string]: unknown }, port: number): boolean {
  const wires = def.wires;
  if (!Array.isArray(wires)) return false;
  const out: unknown = wires[port];
  return Array.isArray(out) && out.length > 0;
}
