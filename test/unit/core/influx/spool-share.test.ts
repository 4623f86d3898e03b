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

  it("a device flooding wide points during an outage does not push out the others' spooled points, even while they keep spooling; its own newest are dropped, counted and settled (before: every device's oldest were dropped)", async () => {
    const spool = Spool.open({ dir: env.dir, fsync: false, maxBytes: 256 * 1024, segmentBytes: 8 * 1024 });
    const w = (env.writer = new InfluxWriter({ send: null, spool, batchSize: 10, flushIntervalMs: 5 }));
    let settled = 0;
    let flooded = 0;
    const honestSent: string[] = [];
    // about five times the spool's bound from the flooder (1.3 MB), ten points at a time; the 20 honest devices go on
    // spooling a point each meanwhile (a check only at the bound let the flooder fill the spool, and each later
    // honest append pushed out whole oldest segments of everyone's points: red-team round 2, 2026-12-06)
    for (let round = 0; round < 500; round++) {
      const batch = Array.from({ length: 10 }, () => flood(flooded++));
      w.add(batch, () => (settled += batch.length));
      await new Promise((r) => setImmediate(r));
      if (round % 5 !== 0) continue; // the honest devices' 80 KB fit in half the spool
      const mine = Array.from({ length: 20 }, (_, d) => `m,device_id=dev-${d} v=${round}i ${T + round * 20 + d}`);
      honestSent.push(...mine);
      w.add(mine);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => settled === flooded, 5000, 'every flood message settled (its source may acknowledge it)');
    await waitFor(() => w.stats().buffered === 0, 5000, 'everything spooled or dropped');
    const held = new Set(spooledLines(spool));
    assert.deepEqual(
      honestSent.filter((l) => !held.has(l)),
      [],
      'every honest point is still in the spool'
    );
    const s = w.stats();
    assert.ok(s.droppedOverShare > 0, 'the flooder was held to its share');
    assert.equal(s.overShareDevice, 'evil');
    assert.equal(s.dropped, s.droppedOverShare, 'nothing else was dropped');
    assert.equal(
      [...held].filter((l) => deviceIdOfLine(l) === 'evil').length + s.droppedOverShare,
      flooded,
      'every flood point spooled or counted'
    );
    assert.ok(spool.bytes <= spool.maxBytes, 'the bound was never needed');
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
