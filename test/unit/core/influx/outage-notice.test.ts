// OutageNotice (nodes/core/influx/outage-notice.ts): what the writer says in the log while its database does
// not take points — once the outage lasts, again while it does, and when it ends.
import assert from 'node:assert/strict';
import { OutageNotice, span, type OutageView } from '../../../../nodes/core/influx/outage-notice';

const view = (state: OutageView['state'], o: Partial<OutageView> = {}): OutageView => ({
  state,
  spooled: 0,
  buffered: 0,
  ...o,
});

/** feeds the stats once a second (the node's ticker) from `from` to `to` ms; returns what was said */
function tick(n: OutageNotice, v: OutageView, from: number, to: number): Array<{ at: number; text: string }> {
  const said: Array<{ at: number; text: string }> = [];
  for (let t = from; t <= to; t += 1000) {
    const x = n.observe(v, t);
    if (x) said.push({ at: t, text: `${x.level}: ${x.text}` });
  }
  return said;
}

describe('OutageNotice (a database outage in the writer log)', () => {
  it('says an outage once it has lasted the grace, with the reason and what waits, and says its end', () => {
    const n = new OutageNotice({ graceMs: 5000, reminderMs: 300_000 });
    assert.equal(n.observe(view('connected'), 0), null);
    const failing = view('retrying', { lastError: 'connect ECONNREFUSED 127.0.0.1:8086', spooled: 120, buffered: 5 });
    const said = tick(n, failing, 10_000, 60_000);
    assert.deepEqual(said, [
      {
        at: 15_000,
        text: 'warn: database not writable (connect ECONNREFUSED 127.0.0.1:8086): points wait in the disk spool and are written when it answers (120 spooled, 5 in memory)',
      },
    ]);
    assert.deepEqual(n.observe(view('connected', { spooled: 300 }), 72_000), {
      level: 'log',
      text: 'database writable again after 62 s: replaying the disk spool (it held up to 300 point(s))',
    });
    assert.equal(n.observe(view('connected', { spooled: 40 }), 73_000), null, 'said once');
    // and once more when the spool is empty (operator round 2026-12-07: only a gauge falling to 0 said it)
    assert.deepEqual(n.observe(view('connected'), 75_000), {
      level: 'log',
      text: 'disk spool replayed: the 300 point(s) it held are in the database (3 s after the database came back)',
    });
    assert.equal(n.observe(view('connected'), 76_000), null, 'said once');
    // the spool is already draining when the first write succeeds: the most it held is said, not what is left
    n.observe(view('retrying', { spooled: 1861 }), 100_000);
    n.observe(view('retrying', { spooled: 1900 }), 110_000);
    assert.equal(
      n.observe(view('connected', { spooled: 2 }), 111_000)?.text,
      'database writable again after 11 s: replaying the disk spool (it held up to 1900 point(s))'
    );
    // a failure within the grace (not said) does not lose the line that the spool is empty
    n.observe(view('retrying', { spooled: 2 }), 112_000);
    assert.equal(
      n.observe(view('connected'), 113_000)?.text,
      'disk spool replayed: the 1900 point(s) it held are in the database (2 s after the database came back)'
    );
  });

  it('a failure the next retry repairs within the grace says nothing, neither its start nor its end', () => {
    const n = new OutageNotice({ graceMs: 5000 });
    assert.equal(n.observe(view('retrying', { lastError: '503' }), 0), null);
    assert.equal(n.observe(view('retrying', { lastError: '503' }), 4999), null);
    assert.equal(n.observe(view('connected'), 5200), null);
    // the next stretch counts its grace from its own start, not from the first one's
    assert.equal(n.observe(view('retrying'), 8000), null);
    assert.equal(n.observe(view('retrying'), 12_999), null);
    assert.match(n.observe(view('retrying'), 13_000)?.text ?? '', /^database not writable: /);
  });

  it('refused credentials are said at once, and again if the outage changes kind', () => {
    const n = new OutageNotice({ graceMs: 5000 });
    n.observe(view('connected'), -1000);
    const first = n.observe(view('unauthorized', { lastError: '401 unauthorized access' }), 0);
    assert.deepEqual(first, {
      level: 'warn',
      text: 'database refuses the credentials (401 unauthorized access): points wait in the disk spool until the token or user is fixed (0 spooled, 0 in memory)',
    });
    assert.equal(n.observe(view('unauthorized'), 1000), null);
    // the token fixed, the database then down: a new kind within the same outage
    assert.match(n.observe(view('retrying', { lastError: '503' }), 2000)?.text ?? '', /^database not writable \(503\)/);
    assert.match(n.observe(view('connected'), 3000)?.text ?? '', /^database writable again after 3 s$/);
  });

  it('reminds every reminderMs while the outage lasts, with how long and what waits now', () => {
    const n = new OutageNotice({ graceMs: 5000, reminderMs: 300_000 });
    n.observe(view('connected'), -1000);
    let spooled = 0;
    const said: string[] = [];
    for (let t = 0; t <= 21 * 60_000; t += 1000) {
      spooled += 10;
      const x = n.observe(view('retrying', { lastError: 'timeout', spooled }), t);
      if (x) said.push(`${t / 1000}: ${x.text}`);
    }
    assert.deepEqual(said, [
      '5: database not writable (timeout): points wait in the disk spool and are written when it answers (60 spooled, 0 in memory)',
      '305: database still not writable after 5 min (timeout): 3060 spooled, 0 in memory',
      '605: database still not writable after 10 min (timeout): 6060 spooled, 0 in memory',
      '905: database still not writable after 15 min (timeout): 9060 spooled, 0 in memory',
      '1205: database still not writable after 20 min (timeout): 12060 spooled, 0 in memory',
    ]);
  });

  it('an outage that began before this start (never writable since) is said as lasting at least its time here (operator round 2026-12-06)', () => {
    // a Node-RED restarted during an outage of 123 s said "writable again after 68 s": only its own share
    const n = new OutageNotice({ graceMs: 5000, reminderMs: 60_000 });
    assert.equal(n.observe(view('connecting'), 0), null);
    const said = tick(n, view('retrying', { lastError: 'ECONNREFUSED' }), 1000, 66_000).map((x) => x.text);
    assert.deepEqual(said, [
      'warn: database not writable (ECONNREFUSED): points wait in the disk spool and are written when it answers (0 spooled, 0 in memory)',
      'warn: database still not writable after at least 65 s (ECONNREFUSED): 0 spooled, 0 in memory',
    ]);
    assert.equal(
      n.observe(view('connected', { spooled: 10 }), 68_000)?.text,
      'database writable again after at least 67 s (not writable since Node-RED started): replaying the disk spool (it held up to 10 point(s))'
    );
    // the next outage began while it was writable: its length is known
    tick(n, view('retrying'), 70_000, 80_000);
    assert.equal(n.observe(view('connected'), 90_000)?.text, 'database writable again after 20 s');
  });

  it('an outage a writer before this one recorded (outage-mark.ts) is counted from its start, not said as "at least" (operator round 2026-12-06: a kill -9 mid-outage)', () => {
    const n = new OutageNotice({ graceMs: 5000, reminderMs: 300_000, resumedSince: 1_000_000 - 200_000 });
    assert.equal(n.observe(view('connecting'), 1_000_000), null, 'a start tells nothing yet');
    assert.equal(n.failingSince, null);
    const first = n.observe(view('retrying', { lastError: 'ECONNREFUSED' }), 1_001_000);
    assert.match(
      first!.text,
      /^database not writable \(ECONNREFUSED\) for 3 min \(since before Node-RED restarted\): points wait/,
      'said at once, as the outage it is: it lasts 201 s already'
    );
    assert.equal(n.failingSince, 800_000);
    assert.equal(
      n.observe(view('connected'), 1_160_000)?.text,
      'database writable again after 6 min',
      'its whole length (before: "at least 2 min (not writable since Node-RED started)")'
    );
    // a database found writable at the start ends a recorded outage: the next one counts from its own start
    const m = new OutageNotice({ graceMs: 0, resumedSince: 5_000 });
    assert.equal(m.observe(view('connected'), 10_000), null);
    m.observe(view('retrying'), 20_000);
    assert.equal(m.failingSince, 20_000);
  });

  it('a writer closed or started again mid-outage ends it without a recovery line', () => {
    const n = new OutageNotice({ graceMs: 0 });
    assert.ok(n.observe(view('retrying'), 0));
    assert.equal(n.observe(view('closed'), 1000), null);
    assert.equal(n.observe(view('connected'), 2000), null, 'the closed writer never recovered');
    assert.ok(n.observe(view('retrying'), 3000));
    assert.equal(n.observe(view('connecting'), 4000), null);
    assert.equal(n.observe(view('connected'), 5000), null);
  });

  it('a reason with line breaks, of any length or with a bidi override stays one escaped line of bounded length', () => {
    const n = new OutageNotice({ graceMs: 0 });
    const text = n.observe(view('retrying', { lastError: `bad\r\ngateway ${'x'.repeat(5000)}` }), 0)?.text ?? '';
    assert.ok(!/[\r\n]/.test(text), text);
    assert.ok(text.length < 400, `${text.length} characters`);
    assert.match(text, /^database not writable \(bad gateway x+\)/);
    // and escaped as other untrusted text in log lines: a bidi override cannot reorder the line
    const bidi = new OutageNotice({ graceMs: 0 }).observe(view('retrying', { lastError: 'proxy \u202e503' }), 0)?.text;
    assert.match(bidi ?? '', /^database not writable \(proxy \\u202E503\)/);
  });

  it('span() reads as seconds, minutes or hours', () => {
    assert.equal(span(1400), '1 s');
    assert.equal(span(119_000), '119 s');
    assert.equal(span(125_000), '2 min');
    assert.equal(span(2 * 3600_000 + 1800_000), '2.5 h');
  });
});
