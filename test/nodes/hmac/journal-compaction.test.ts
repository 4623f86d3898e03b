// moby-hmac-verify's replay journal when a compaction cannot be written (docs/signing.md "Persistence"): the
// batch that started it is already in the journal, so its messages pass as journaled, the node warns once and
// counts journal_compact_error, and nothing is counted as journal_error. Before, the compaction's error came
// out of the flush: every message of the batch was counted as unjournaled and an error was logged.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseKey, signEnvelope } from '../../../nodes/core/hmac/scheme';
import { waitFor } from '../../support/net';
import { PUMP_BODY } from '../../support/payloads';
import { collect } from '../../support/node-msg';
import { roomyVerifyFlow } from '../../support/hmac-flow';

const helper = require('node-red-node-test-helper');
const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
// the compiled node uses the compiled metrics module: read that registry
const metrics = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

const KEY = 'pump-7-journal-test-secret';
const creds = { kr: { keys: JSON.stringify({ 'pump-7': { k1: KEY } }) } };
const value = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
const event = (name: string) => `moby_events_total{node_type="moby-hmac-verify",event="${name}"}`;

describe('moby-hmac-verify: a replay journal compaction that cannot be written', function () {
  this.timeout(120000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-journal-node-'));
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes the batch as journaled, warns once, counts journal_compact_error and no journal_error', async () => {
    const file = path.join(dir, 'verify.log');
    await new Promise<void>((resolve) =>
      helper.load(
        [hmacNode],
        // no rate bound: only the journal is tested
        roomyVerifyFlow({ deviceRate: 0, replayFile: file }),
        creds,
        resolve
      )
    );
    const v = helper.getNode('v');
    const warnings: string[] = [];
    const errors: string[] = [];
    v.on('call:warn', (call: { args: unknown[] }) => warnings.push(String(call.args[0])));
    v.on('call:error', (call: { args: unknown[] }) => errors.push(String(call.args[0])));
    const ok = collect('ok');
    const bad = collect('bad');
    // the temp file cannot be created (a directory stands in its place), as on a disk without room for a copy
    fs.mkdirSync(`${file}.tmp`);
    const before = await metrics.metricsText();
    // 10,000 lines appended start a compaction (the default threshold); a few more batches follow it
    const total = 10_300;
    const key = parseKey(KEY);
    for (let sent = 0; sent < total;) {
      const batch = sent === 0 ? 10_000 : 100;
      for (let i = 0; i < batch; i++)
        v.receive({ payload: JSON.stringify(signEnvelope({ deviceId: 'pump-7', key, kid: 'k1', body: PUMP_BODY })) });
      sent += batch;
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => ok.length + bad.length === total, 60000, 'every message handled');
    const after = await metrics.metricsText();
    const diff = (series: string) => value(after, series) - value(before, series);

    assert.equal(bad.length, 0);
    assert.deepEqual(errors, [], 'no error: the journal holds every record');
    assert.equal(diff(event('journal_error')), 0, 'no message counted as unjournaled');
    assert.equal(diff(event('journal_compact_error')), 1, 'one failed compaction, not one per batch');
    const compactWarnings = warnings.filter((w) => w.includes('not compacted'));
    assert.equal(compactWarnings.length, 1, warnings.join('\n'));
    assert.match(compactWarnings[0], /EISDIR/);
    // every accepted nonce is in the journal: a restart would refuse each one again
    const lines = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('n\tpump-7\t'));
    assert.equal(lines.length, total);
    assert.ok(fs.statSync(`${file}.tmp`).isDirectory(), 'nothing was written in its place');
  });
});
