// Mute windows through the real runtime (security round of 2026-12-05): with persist "journal" a mute appends
// that window alone (the line does not carry the whole table, so a flood of mutes no longer rewrites it per
// request), every window survives a reload, and GET /devices pages the muted devices no health node reports
// (the limit holds on every page). With the context store a mute is written with the next periodic save (at
// most one rewrite of the whole state per persistSec, however many mutes arrive).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { helper, api, loadAlertFlow, alertFlow, freshUserDir } from '../../support/alert-red';

const NOTE = 'n'.repeat(900);

/** every GET /devices page with `limit`, following X-Next-Cursor */
async function allPages(limit: number): Promise<Array<Array<{ device_id: string; muted?: boolean; state: string }>>> {
  const pages: Array<Array<{ device_id: string; muted?: boolean; state: string }>> = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const r = await api()
      .get('/moby/devices')
      .query(cursor ? { limit, cursor } : { limit })
      .expect(200);
    pages.push(r.body);
    cursor = r.headers['x-next-cursor'];
    if (!cursor) return pages;
  }
  throw new Error('no last page');
}

/** the lines of the state directory's journals, newest generation last */
function journalLines(dir: string): string[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^journal-\d+\.jsonl$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  return files.flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean));
}

describe('moby-alert node: mute windows at volume', function () {
  this.timeout(60000);
  afterEach(() => helper.unload());

  it('journal: a mute appends only its window; 300 windows survive a reload and page within the limit', async () => {
    const userDir = freshUserDir();
    await loadAlertFlow(alertFlow({ persist: 'journal', journalSync: 'none', updateEventSec: 0 }));
    for (let i = 0; i < 300; i++)
      await api()
        .post(`/moby/devices/ghost-${String(i).padStart(3, '0')}/mute`)
        .send({ minutes: 43000, note: NOTE })
        .expect(200);
    const dir = path.join(userDir, 'moby-alert', 'state-alert');
    const lines = journalLines(dir);
    assert.ok(lines.length >= 1);
    const last = lines[lines.length - 1];
    assert.ok(
      Buffer.byteLength(last) < 3000,
      `the last mute's journal line is one window (${Buffer.byteLength(last)} bytes), not the table`
    );
    assert.ok(last.includes('"mu":'), 'a window change, not the whole table');
    // an unmute is appended too
    await api().post('/moby/devices/ghost-007/unmute').send({}).expect(200);

    await helper.unload();
    await loadAlertFlow(alertFlow({ persist: 'journal', journalSync: 'none', updateEventSec: 0 }));
    const pages = await allPages(100);
    for (const p of pages) assert.ok(p.length <= 100, `a page of ${p.length}`);
    const rows = pages.flat();
    assert.equal(rows.length, 299, 'every window but the lifted one, each once');
    assert.equal(new Set(rows.map((r) => r.device_id)).size, 299);
    assert.ok(rows.every((r) => r.muted === true && r.state === 'UNKNOWN'));
    assert.equal(
      rows.find((r) => r.device_id === 'ghost-007'),
      undefined,
      'the unmute survived the reload'
    );
  });

  it('context store: a mute is written with the next save (at most one rewrite per persistSec)', async () => {
    freshUserDir();
    const flow = alertFlow({ persistSec: 0.2, updateEventSec: 0 });
    await loadAlertFlow(flow);
    await api().post('/moby/devices/pump-1/mute').send({ minutes: 60, by: 'kim' }).expect(200);
    await new Promise((r) => setTimeout(r, 500)); // the next save (persistSec)
    type Saved = { mutes?: Array<{ device_id: string }> } | undefined;
    const saved = await new Promise<Saved>((resolve) =>
      helper
        .getNode('alert')
        .context()
        .get('moby_alert_state', (_e: unknown, v: unknown) => resolve(v as Saved))
    );
    assert.deepEqual(
      saved?.mutes?.map((m) => m.device_id),
      ['pump-1'],
      'in the context store after the next save'
    );
  });
});
