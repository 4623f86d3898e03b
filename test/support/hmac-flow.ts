// The flow most moby-hmac-verify node tests load: a keyring 'kr' (keys from credentials), one verify node 'v'
// with a 300 s tolerance, its outputs 1 and 2 to helper nodes 'ok' and 'bad'; `opts` sets the node's other
// settings (replay cache, rate bounds, journal file…).
export function verifyFlow(opts: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  return [
    { id: 'kr', type: 'moby-keyring', name: 'fleet', keysEnv: '' },
    { id: 'v', type: 'moby-hmac-verify', keyring: 'kr', tolerance: 300, wires: [['ok'], ['bad']], ...opts },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ];
}

/** verifyFlow with room for every nonce a test sends: for tests whose subject is not the replay cache's budget. */
export const roomyVerifyFlow = (opts: Record<string, unknown> = {}): Array<Record<string, unknown>> =>
  verifyFlow({ replayCache: 100000, replayPerDevice: 100000, ...opts });
