// lib/ingest-watch.ts: the process-wide "can the devices be heard" registry that moby-mqtt-broker feeds and
// moby-device-health reads.
import assert from 'node:assert/strict';
import { ingestListening, registerIngestProbe } from '../../../nodes/lib/ingest-watch';

describe('ingest watch', () => {
  it('listening unless a registered source says it cannot take messages; unregistering forgets it', () => {
    assert.equal(ingestListening(), true, 'no source: as before');
    let a = true;
    const offA = registerIngestProbe('a', () => a);
    const offB = registerIngestProbe('b', () => true);
    assert.equal(ingestListening(), true);
    a = false;
    assert.equal(ingestListening(), false);
    offA();
    assert.equal(ingestListening(), true);
    offB();
  });

  it("an old unregister does not remove a newer probe of the same id (a redeployed node's)", () => {
    const off1 = registerIngestProbe('x', () => true);
    const off2 = registerIngestProbe('x', () => false);
    off1();
    assert.equal(ingestListening(), false);
    off2();
    assert.equal(ingestListening(), true);
  });
});
