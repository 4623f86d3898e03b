// The device-side snippets of README "Signing messages" are run as written and what they produce is
// verified by the core verifier, so the documentation cannot drift from the scheme.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Keyring } from '../../../../nodes/core/hmac/keyring';
import { Verifier } from '../../../../nodes/core/hmac/verify';
import { which } from '../../../support/net';

const README = fs.readFileSync(path.join(__dirname, '../../../../README.md'), 'utf8');

/** The fenced code block right after `<!-- hmac:<name> -->`. */
function snippet(name: string): string {
  const m = new RegExp(`<!-- hmac:${name} -->\\s*\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  if (!m) throw new Error(`README has no <!-- hmac:${name} --> code block`);
  return m[1];
}

function verifier(): Verifier {
  return new Verifier({
    keys: new Keyring().load({ 'pump-7': { k2: 'hex:' + '7f'.repeat(32) } }),
    topicPattern: 'devices/+/telemetry',
  });
}

describe('hmac: README device snippets', () => {
  it('the shell/openssl snippet builds an envelope the verifier accepts', function () {
    if (!which('openssl') || !which('sh')) this.skip();
    // mosquitto_pub is replaced by a function that prints its topic and message (its last argument)
    const script = `mosquitto_pub() { while [ "$#" -gt 0 ]; do case "$1" in -t) topic="$2"; shift;; -m) msg="$2"; shift;; esac; shift; done; printf '%s\\n%s' "$topic" "$msg"; }\n${snippet('shell')}`;
    const [topic, envelope] = execFileSync('sh', ['-c', script], { encoding: 'utf8' }).split('\n');
    const r = verifier().verify({ payload: envelope, topic });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.reject));
    assert.equal(r.kid, 'k2');
    assert.equal((r.body.components as { motor: { temperature: { unit: string } } }).motor.temperature.unit, '°C');
  });

  it('the Python snippet builds an envelope the verifier accepts', function () {
    if (!which('python3')) this.skip();
    const out = execFileSync('python3', ['-c', `${snippet('python')}\nprint(payload)`], { encoding: 'utf8' });
    const r = verifier().verify({ payload: out.trim(), topic: 'devices/pump-7/telemetry' });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.reject));
    assert.equal(r.deviceId, 'pump-7');
  });
});
