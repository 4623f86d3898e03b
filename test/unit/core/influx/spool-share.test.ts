// core/influx/spool-share.ts and the writer's use of it: at the spool's bound, a device holding more than twice its
// even share loses its own newest points instead of pushing out every device's oldest (red-team round 2026-12-06:
// one device with a valid key, 100 messages/s of 250 fields, dropped 27,458 points of every device).
import assert from 'node:assert/strict';
import { SpoolShare } from '../../../../nodes/core/influx/spool-share';
import { InfluxWriter } from '../../../../nodes/core/influx/writer';
import { Spool } from '../../../../nodes/core/influx/spool';
import { deviceIdOfLine } from '../../../../nodes/core/influx/line-protocol';
import { waitFor } from '../../../support/net';
import { useWriterEnv } from '../../../support/influx-writer';

describe('SpoolShare', () => {
  it('a device over twice the even share of what is attributed is over; one device alone never is', () => {
    const s = new SpoolShare();
    s.note('evil', 10_000);
    assert.equal(s.overShare('evil'), false, 'alone: nobody to push out');
    for (let i = 0; i < 9; i++) s.note(`d${i}`, 100);
    assert.equal(s.total, 10_900);
    assert.equal(s.devices, 10);
    assert.equal(s.overShare('evil'), true); // 10,000 > 2 × 10,900 / 10
    assert.equal(s.overShare('d0'), false);
    assert.equal(s.overShare('never-seen'), false);
    const even = new SpoolShare();
    for (let i = 0; i < 20; i++) even.note(`d${i}`, 1000 + i * 50); // a fleet of similar devices
    for (let i = 0; i < 20; i++) assert.equal(even.overShare(`d${i}`), false, `d${i}`);
  });

  it('shrinks every estimate in proportion when the spool holds less, and forgets all when it is empty', () => {
    const s = new SpoolShare();
    s.note('a', 300);
    s.note('b', 100);
    s.fit(1000); // unattributed bytes from before a restart: nothing to shrink
    assert.equal(s.total, 400);
    s.fit(200);
    assert.equal(s.bytesOf('a'), 150);
    assert.equal(s.bytesOf('b'), 50);
    assert.equal(s.total, 200);
    s.fit(0);
    assert.equal(s.total, 0);
    assert.equal(s.devices, 0);
  });

  it('tracks at most maxDevices, the least recently appended forgotten first (never refused)', () => {
    const s = new SpoolShare({ maxDevices: 2 });
    s.note('a', 100);
    s.note('b', 100);
    s.note('c', 100);
    assert.equal(s.devices, 2);
    assert.equal(s.bytesOf('a'), 0);
    assert.equal(s.total, 200);
  });
});

describe('influx writer: each device its share of the spool at the bound', () => {
  const env = useWriterEnv('moby-spool-share-');
  const T = 1795307652874;
  const honest = (phase: number) =>
    Array.from({ length: 100 }, (_, i) => `m,device_id=dev-${i % 20} v=${phase * 1000 + i}i ${T + phase * 1000 + i}`);
  const wideFields = Array.from({ length: 40 }, (_, f) => `f${f}=1`).join(',');
  const flood = (n: number) => `m,device_id=evil ${wideFields},n=${n}i ${T + 10_000 + n}`;
  const spooledLines = (spool: Spool) => spool.peekBatches(1_000_000)?.lines ?? [];

  it("a device flooding wide points during an outage does not push out the others' spooled points; its own newest are dropped, counted and settled (before: every device's oldest were dropped)", async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false, maxBytes: 48 * 1024, segmentBytes: 2 * 1024 });
    const w = (env.writer = new InfluxWriter({ send: null, spool, batchSize: 10, flushIntervalMs: 5 }));
    const early = honest(1);
    w.add(early);
    await waitFor(() => spool.points === 100, 3000, 'the honest points spooled');
    let settled = 0;
    let flooded = 0;
    // about five times the spool's bound, as the device's messages come: ten points at a time
    for (let round = 0; round < 100; round++) {
      const batch = Array.from({ length: 10 }, () => flood(flooded++));
      w.add(batch, () => (settled += batch.length));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => settled === flooded, 5000, 'every flood message settled (its source may acknowledge it)');
    const held = spooledLines(spool);
    assert.deepEqual(
      early.filter((l) => !held.includes(l)),
      [],
      'every honest point is still in the spool'
    );
    const s = w.stats();
    assert.ok(s.droppedOverShare > 0, 'the bound was reached');
    assert.equal(s.overShareDevice, 'evil');
    assert.equal(s.dropped, s.droppedOverShare, 'nothing else was dropped');
    assert.equal(
      held.filter((l) => deviceIdOfLine(l) === 'evil').length + s.droppedOverShare,
      flooded,
      'every flood point spooled or counted'
    );
    // an honest device's new points at the bound are spooled (their appends may push out old segments, as before)
    const late = honest(2);
    w.add(late);
    await waitFor(() => spooledLines(spool).includes(late[late.length - 1]), 3000, 'the late honest points spooled');
    assert.deepEqual(
      late.filter((l) => !spooledLines(spool).includes(l)),
      [],
      'none of them refused'
    );
    assert.equal(w.stats().overShareDevice, 'evil');
  });

  it("a flow's own lines without a device_id tag belong to no device: never dropped for a share, the bound drops the oldest as before", async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false, maxBytes: 16 * 1024, segmentBytes: 2 * 1024 });
    const w = (env.writer = new InfluxWriter({ send: null, spool, batchSize: 10, flushIntervalMs: 5 }));
    w.add(honest(1));
    let n = 0;
    for (let round = 0; round < 60; round++) {
      w.add(Array.from({ length: 10 }, () => `plant_kpi ${wideFields},n=${n++}i ${T + n}`));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => w.stats().buffered === 0, 5000, 'all spooled or dropped');
    const s = w.stats();
    assert.equal(s.droppedOverShare, 0);
    assert.ok(s.dropped > 0, 'the bound dropped the oldest');
    assert.ok(spooledLines(spool).includes(`plant_kpi ${wideFields},n=${n - 1}i ${T + n}`), 'the newest kept');
  });
});
