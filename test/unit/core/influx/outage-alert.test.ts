// core/influx/outage-alert.ts: a database that does not take points becomes a warning once it lasts and a
// critical alert as soon as points are lost; a write that succeeds clears it (also the first after a start).
import assert from 'node:assert/strict';
import { DATABASE_RULE, OutageAlert, hostOf, type OutageAlertView } from '../../../../nodes/core/influx/outage-alert';
import { systemDeviceId } from '../../../../nodes/core/system-alert';
import { signalsFromMessage } from '../../../../nodes/core/alert/inputs';
import { clockTime } from '../../../../nodes/core/span';

/** how the messages say when an outage began: a clock time, which stays true however late the alert is read */
const since = (ms: number): string => `since ${clockTime(ms)}`;

const S = 1000;
const up: OutageAlertView = { state: 'connected', spooled: 0, buffered: 0, dropped: 0 };
const down = (o: Partial<OutageAlertView> = {}): OutageAlertView => ({
  state: 'retrying',
  lastError: 'connect ECONNREFUSED 10.0.0.5:8086',
  spooled: 1200,
  buffered: 40,
  dropped: 0,
  ...o,
});

describe('OutageAlert', () => {
  it('warns once the database has failed for alertAfterMs, and the next successful write clears it', () => {
    const a = new OutageAlert(300 * S);
    assert.equal(a.observe({ ...up, state: 'connecting' }, 0), null, 'a start is not a recovery');
    assert.deepEqual(a.observe(up, S), { kind: 'clear', lastedMs: null }, 'the first write after a start clears');
    assert.equal(a.observe(up, 2 * S), null, 'once');
    for (let t = 10; t < 310; t++) assert.equal(a.observe(down(), t * S), null, `nothing at ${t} s`);
    const open = a.observe(down(), 310 * S);
    assert.equal(open?.kind, 'open');
    assert.equal(open.kind === 'open' && open.severity, 'warning');
    assert.equal(
      open.kind === 'open' && open.message,
      `The database has not taken points ${since(10 * S)} (connect ECONNREFUSED 10.0.0.5:8086). Nothing is lost yet: ` +
        'the points wait in the disk spool (1200 when this was raised) and are written when it answers; the dashboards show nothing newer until then.'
    );
    assert.equal(a.observe(down(), 600 * S), null, 'said once');
    assert.deepEqual(a.observe(up, 601 * S), {
      kind: 'clear',
      lastedMs: 591 * S,
      note: 'The database took no points for 10 min',
    });
    assert.equal(a.observe(up, 602 * S), null);
  });

  it('a short outage says nothing; 0 turns it off', () => {
    const a = new OutageAlert(60 * S);
    a.observe(up, 0);
    for (let k = 0; k < 10; k++) {
      for (let t = 0; t < 50; t++) assert.equal(a.observe(down(), (100 + k * 60 + t) * S), null);
      assert.equal(a.observe(up, (100 + k * 60 + 50) * S), null);
    }
    const off = new OutageAlert(0);
    for (let t = 0; t < 1000; t++) assert.equal(off.observe(t % 2 ? down({ dropped: t }) : up, t * S), null);
  });

  it('points lost during the outage raise it to critical at once, before the warning delay, and once', () => {
    const a = new OutageAlert(300 * S);
    a.observe(down({ dropped: 50 }), 0); // drops from before this outage do not count
    assert.equal(a.observe(down({ dropped: 50 }), 10 * S), null);
    const lost = a.observe(down({ dropped: 80 }), 20 * S);
    assert.equal(lost?.kind === 'open' && lost.severity, 'critical');
    assert.match(
      (lost?.kind === 'open' && lost.message) || '',
      new RegExp(
        `^The database has not taken points ${since(0).replace('+', '\\+')} \\(.*\\), and points are being lost: the disk spool is at its bound \\(Spool size limit\\) and drops the oldest points; 30 lost so far\\.$`
      )
    );
    assert.equal(a.observe(down({ dropped: 80 }), 400 * S), null, 'critical is not lowered to the warning later');
    // the loss grows: said again (moby-alert records an update, no page), at most once a minute
    const more = a.observe(down({ dropped: 900 }), 401 * S);
    assert.equal(more?.kind === 'open' && more.severity, 'critical');
    assert.match((more?.kind === 'open' && more.message) || '', /; 850 lost so far\.$/);
    assert.equal(a.observe(down({ dropped: 1000 }), 460 * S), null, 'not within the minute');
    assert.match((a.observe(down({ dropped: 1000 }), 461 * S) as { message: string }).message, /; 950 lost so far\.$/);
    assert.equal(a.observe(down({ dropped: 1000 }), 600 * S), null, 'nothing new, nothing said');
    assert.equal(a.observe(up, 601 * S)?.kind, 'clear');

    const b = new OutageAlert(300 * S);
    b.observe(up, 0);
    b.observe(down(), 10 * S);
    const warn = b.observe(down(), 320 * S);
    assert.equal(warn?.kind === 'open' && warn.severity, 'warning');
    const disk = b.observe(down({ spoolError: 'ENOSPC: no space left on device, write' }), 330 * S);
    assert.equal(disk?.kind === 'open' && disk.severity, 'critical', 'the warning is raised to critical');
    assert.match(
      (disk?.kind === 'open' && disk.message) || '',
      /^The database has not taken points since [-\d: +]+ \(connect ECONNREFUSED 10\.0\.0\.5:8086\), and the disk spool cannot keep points \(ENOSPC: no space left on device, write\): new points wait in memory and are not acknowledged to their source\. .* refused as stale: free the spool's disk or bring the database back before then\.$/
    );
  });

  it('a failing spool disk is critical but says what is at stake, not a loss that did not happen; refused points are counted apart from lost ones (operator round 2026-12-06: "points are being lost" with 0 dropped)', () => {
    const a = new OutageAlert(300 * S);
    a.observe(up, 0);
    const enospc = { spoolError: 'ENOSPC: no space left on device, write' };
    const first = a.observe(down(enospc), 10 * S);
    assert.equal(first?.kind === 'open' && first.severity, 'critical', 'at once: the deadline is the broker side');
    const text = (first?.kind === 'open' && first.message) || '';
    assert.doesNotMatch(text, /being lost|lost so far/);
    assert.match(text, /older than the verifier's clock tolerance \(300 s by default\)/);
    // memory at its bound: the writer refuses (not acknowledged, the broker keeps them): said as refused
    const more = a.observe(down({ ...enospc, dropped: 40, refused: 40 }), 80 * S);
    assert.match((more?.kind === 'open' && more.message) || '', /, 40 refused as memory is at its bound\./);
    assert.doesNotMatch((more?.kind === 'open' && more.message) || '', /lost/);
    // the spool's bound had dropped some before the disk failed: those are lost, and said so
    const b = new OutageAlert(300 * S);
    b.observe(up, 0);
    b.observe(down({ dropped: 10 }), 5 * S);
    const both = b.observe(down({ ...enospc, dropped: 35, refused: 5 }), 10 * S);
    assert.match(
      (both?.kind === 'open' && both.message) || '',
      /, 5 refused as memory is at its bound\. .*Points lost at the spool's bound before the disk failed; 20 lost so far\.$/
    );
  });

  it('refused credentials say to fix them; text from the server is folded and escaped', () => {
    const a = new OutageAlert(1);
    a.observe(up, 0);
    a.observe(down({ state: 'unauthorized', lastError: 'HTTP 401:\n unauthorized \u202e access' }), 10);
    const s = a.observe(down({ state: 'unauthorized', lastError: 'HTTP 401:\n unauthorized \u202e access' }), 20);
    assert.equal(
      s?.kind === 'open' && s.message.split('.')[0],
      `The database refuses the credentials (HTTP 401: unauthorized \\u202E access) ${since(10)}: fix the token or user`
    );
  });

  it('what moby-alert makes of it: the database as the device, the rule, the severity', () => {
    assert.equal(hostOf('http://admin:secret@10.0.0.5:8086/write?db=x'), '10.0.0.5:8086', 'no credentials');
    assert.equal(hostOf('not a url'), 'not a url');
    const id = systemDeviceId('database', hostOf('https://influx.plant-7.local:8086'));
    assert.equal(id, 'database@influx.plant-7.local:8086');
    assert.equal(systemDeviceId('database', 'not a url'), 'database@not-a-url');
    const a = new OutageAlert(1);
    a.observe(down(), 0);
    const s = a.observe(down({ dropped: 1, lastError: 'HTTP 503: <html>"quoted" & more' }), 10);
    assert.ok(s && s.kind === 'open');
    const r = signalsFromMessage({
      alert: { device_id: id, rule: DATABASE_RULE, severity: s.severity, message: s.message },
      moby: { tenant: 'acme' },
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(
      [r.signals[0].device_id, r.signals[0].rule, r.signals[0].severity, r.signals[0].tenant],
      [id, 'database_unwritable', 'critical', 'acme']
    );
  });

  it('a restart or a crash during an outage does not start its clock again (operator round 2026-12-06: 6 min outage, one kill -9 in it, never paged)', () => {
    // the writer before the crash saw the database fail at 0; this one starts at 200 s and finds it still failing
    const a = new OutageAlert(300 * S, 0);
    assert.equal(a.observe({ ...up, state: 'connecting' }, 200 * S), null);
    for (let t = 201; t < 300; t++) assert.equal(a.observe(down(), t * S), null, `nothing at ${t} s`);
    const open = a.observe(down(), 300 * S);
    assert.equal(open?.kind === 'open' && open.severity, 'warning', 'at 5 min of the outage, not of this process');
    assert.ok(
      (open?.kind === 'open' ? open.message : '').startsWith(`The database has not taken points ${since(0)} (`),
      'counted from the outage recorded before the restart'
    );
    // a database found writable after a restart ends the recorded outage: the next one counts from its own start
    const b = new OutageAlert(300 * S, 0);
    b.observe(up, 200 * S);
    for (let t = 201; t < 500; t++) assert.equal(b.observe(down(), t * S), null, `nothing at ${t} s`);
    assert.equal(b.observe(down(), 501 * S)?.kind, 'open');
  });

  describe('a writer without a database (newcomer round 2026-12-06: never alerted on, though it drops points at the spool bound)', () => {
    const spoolOnly = (o: Partial<OutageAlertView> = {}): OutageAlertView => ({
      state: 'disabled',
      spooled: 5000,
      buffered: 0,
      dropped: 0,
      ...o,
    });

    it('no URL (spool only, on purpose): nothing while nothing is lost; critical at the first loss', () => {
      const a = new OutageAlert(300 * S);
      for (let t = 0; t < 3600; t += 10) assert.equal(a.observe(spoolOnly(), t * S), null, `nothing at ${t} s`);
      const open = a.observe(spoolOnly({ dropped: 12 }), 3600 * S);
      assert.equal(open?.kind === 'open' && open.severity, 'critical');
      assert.equal(
        open?.kind === 'open' && open.message,
        'The database is not configured (no URL: points only go to the disk spool), and points are being lost: ' +
          'the disk spool is at its bound (Spool size limit) and drops the oldest points; 12 lost so far.'
      );
      assert.equal(a.observe(spoolOnly({ dropped: 13 }), 3601 * S), null, 'the growth is said at most once a minute');
    });

    it('a configuration problem (no bucket, a URL that is not http): the warning once it lasts, critical on a loss', () => {
      const a = new OutageAlert(300 * S);
      const problem = 'InfluxDB bucket not set';
      for (let t = 0; t < 300; t += 10) assert.equal(a.observe(spoolOnly(), t * S, problem), null);
      const warn = a.observe(spoolOnly(), 300 * S, problem);
      assert.equal(warn?.kind === 'open' && warn.severity, 'warning');
      assert.equal(
        warn?.kind === 'open' && warn.message,
        `The database is not set up correctly (InfluxDB bucket not set), so no point has been written ${since(0)}. ` +
          'Nothing is lost yet: the points wait in the disk spool (5000 when this was raised) and are written when it is fixed (then restart); ' +
          'the dashboards show nothing newer until then.'
      );
      const crit = a.observe(spoolOnly({ dropped: 1 }), 400 * S, problem);
      assert.equal(crit?.kind === 'open' && crit.severity, 'critical');
    });
  });
});
