import assert from 'node:assert/strict';
import { ClientIdClaims } from '../../../../nodes/core/mqtt/client-ids';
import { parseBrokerUrls } from '../../../../nodes/core/mqtt/topics';

describe('ClientIdClaims: one client id per broker', () => {
  const a = parseBrokerUrls('mqtt://Broker.local:1883');
  const aAndB = parseBrokerUrls('mqtt://broker.local:1883, mqtt://backup.local:1883');
  const other = parseBrokerUrls('mqtt://other.local:1883');

  it('refuses a second owner of an id on the same broker (host compared case-insensitively) and names the first', () => {
    const c = new ClientIdClaims();
    assert.equal(c.claim(a, 'moby', 'n1'), null);
    assert.equal(c.claim(parseBrokerUrls('broker.local'), 'moby', 'n2'), 'n1', 'same host, default port');
    assert.equal(c.claim(a, 'moby', 'n1'), null, 'the owner may claim again');
  });

  it('allows the same id on another broker, and another id on the same broker', () => {
    const c = new ClientIdClaims();
    assert.equal(c.claim(a, 'moby', 'n1'), null);
    assert.equal(c.claim(other, 'moby', 'n2'), null);
    assert.equal(c.claim(a, 'moby-2', 'n3'), null);
  });

  it('a list of servers conflicts when any of them is taken, and then claims none of them', () => {
    const c = new ClientIdClaims();
    assert.equal(c.claim(parseBrokerUrls('backup.local'), 'moby', 'n1'), null);
    assert.equal(c.claim(aAndB, 'moby', 'n2'), 'n1');
    assert.equal(c.claim(a, 'moby', 'n3'), null, 'n2 took nothing on broker.local');
  });

  it('release frees only what the owner holds', () => {
    const c = new ClientIdClaims();
    c.claim(a, 'moby', 'n1');
    c.release(a, 'moby', 'n2');
    assert.equal(c.claim(a, 'moby', 'n2'), 'n1', 'a non-owner cannot release');
    c.release(a, 'moby', 'n1');
    assert.equal(c.claim(a, 'moby', 'n2'), null);
  });
});
