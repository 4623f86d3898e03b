// What the writer says in the log while its database does not take points. The node's status and the
// metrics show an outage as it happens, but a log read the next morning showed nothing of it. The other
// MOBY components say a problem once per episode and once when it ends (docs/durability.md, "What the log
// shows"); this is the writer's share of that rule.
//
// - An outage is said once it has lasted `graceMs`: a single failed request that the next retry repairs is
//   not worth a line (nothing waits long, and the status showed it). A refused credential is said at once:
//   it does not repair itself.
// - While it lasts: a line when its kind changes (unreachable ↔ refused credentials) and a reminder every
//   `reminderMs`, with the points waiting in the spool.
// - When a write succeeds again: one line with how long it lasted and the most the spool held meanwhile, and one
//   more once the spool is empty again (its points are in the database): the operator round of 2026-12-07 saw
//   "replaying the disk spool" and then nothing, only a gauge falling to 0.
// - The reason is the writer's last error, folded to one line, cut at 200 characters and escaped (`oneLine`).
//
// Pure: the node passes the writer's stats and the time; it logs what comes back.

import { oneLine } from '../names';
import { span } from '../span';
import type { WriterState } from './writer';

export interface OutageView {
  state: WriterState;
  lastError?: string;
  spooled: number;
  buffered: number;
}

export interface OutageNoticeOptions {
  /** how long the database must fail before the outage is said (ms, default 5,000) */
  graceMs?: number;
  /** while it lasts, the outage is said again this often (ms, default 300,000) */
  reminderMs?: number;
  /**
   * when the outage began that a writer before this one recorded (outage-mark.ts): if this writer finds the
   * database failing too, the outage is counted from then, and its length is no longer a lower bound
   */
  resumedSince?: number | null;
}

export interface Notice {
  level: 'warn' | 'log';
  text: string;
}

type FailingState = 'retrying' | 'unauthorized';

const isFailing = (s: WriterState): s is FailingState => s === 'retrying' || s === 'unauthorized';

export { span } from '../span';

export class OutageNotice {
  private readonly graceMs: number;
  private readonly reminderMs: number;
  /** when the current failing stretch began (ms), or null while the database takes points */
  private since: number | null = null;
  /** the kind last said in this episode, or null while it has not been said */
  private said: FailingState | null = null;
  private saidAt = 0;
  /** a write has succeeded since this notice was made (since Node-RED started the writer) */
  private everWritable = false;
  /**
   * the current failing stretch began before any write succeeded since the start: the outage may have begun
   * before it (a restart during an outage), so its length is a lower bound and the lines say "at least"
   * (operator round 2026-12-06: "writable again after 68 s" after an outage of 123 s cut in two by a restart)
   */
  private fromStart = false;
  /** the current stretch was resumed from the mark a writer before this one left (outage-mark.ts) */
  private resumedStretch = false;
  /**
   * the most points the spool held during the current failing stretch: at the first successful write the spool
   * is already being drained (its first request took up to 5,000 lines), so its count then said "replaying 2
   * spooled point(s)" after an outage that spooled 1,861 (operator round 2026-12-06)
   */
  private mostSpooled = 0;

  /** the spool is being replayed after an outage: since when, and the most it held */
  private replaying: { since: number; held: number } | null = null;

  /** see OutageNoticeOptions.resumedSince; dropped at the first state that tells */
  private resumed: number | null;

  constructor(o: OutageNoticeOptions = {}) {
    this.graceMs = Math.max(0, o.graceMs ?? 5000);
    this.reminderMs = Math.max(1, o.reminderMs ?? 300_000);
    this.resumed = o.resumedSince ?? null;
  }

  /** when the current failing stretch began (ms), or null while the database takes points (or has not failed) */
  get failingSince(): number | null {
    return this.since;
  }

  /** Reads the writer's stats at `now` (ms); returns the line to log now, if any. */
  observe(s: OutageView, now: number): Notice | null {
    if (!isFailing(s.state)) {
      const was = this.since;
      const said = this.said;
      const atLeast = this.fromStart ? 'at least ' : '';
      const held = Math.max(this.mostSpooled, s.spooled);
      this.mostSpooled = 0;
      this.since = null;
      this.said = null;
      if (s.state === 'connected') {
        this.everWritable = true;
        this.resumed = null;
      }
      if (this.replaying && s.state === 'connected' && s.spooled === 0) {
        const r = this.replaying;
        this.replaying = null;
        return {
          level: 'log',
          text: `disk spool replayed: the ${r.held} point(s) it held are in the database (${span(now - r.since)} after the database came back)`,
        };
      }
      // 'connecting' is the first request of a (re)started writer, not a recovery
      if (s.state !== 'connected' || was === null || said === null) return null;
      if (held > 0) this.replaying = { since: now, held };
      return {
        level: 'log',
        text: `database writable again after ${atLeast}${span(now - was)}${
          atLeast ? ' (not writable since Node-RED started)' : ''
        }${held > 0 ? `: replaying the disk spool (it held up to ${held} point(s))` : ''}`,
      };
    }
    if (this.since === null) {
      if (this.resumed !== null && this.resumed <= now) {
        this.since = this.resumed;
        this.fromStart = false; // the writer before this one saw it begin
        this.resumedStretch = true;
      } else {
        this.since = now;
        this.fromStart = !this.everWritable;
        this.resumedStretch = false;
      }
      this.resumed = null;
    }
    if (s.spooled > this.mostSpooled) this.mostSpooled = s.spooled;
    // the reason can hold text the server sent: one line, cut, and escaped as every untrusted text in our log
    // lines is (names.ts oneLine: control characters and bidi overrides as \uXXXX)
    const reason = s.lastError ? ` (${oneLine(s.lastError, 200)})` : '';
    const waiting = `${s.spooled} spooled, ${s.buffered} in memory`;
    if (this.said === null) {
      if (s.state !== 'unauthorized' && now - this.since < this.graceMs) return null;
      return this.say(s.state, now, this.first(s.state, reason, waiting, now));
    }
    if (this.said !== s.state) return this.say(s.state, now, this.first(s.state, reason, waiting, now));
    if (now - this.saidAt >= this.reminderMs)
      return this.say(
        s.state,
        now,
        `database still ${s.state === 'unauthorized' ? 'refusing the credentials' : 'not writable'} after ${
          this.fromStart ? 'at least ' : ''
        }${span(now - this.since)}${reason}: ${waiting}`
      );
    return null;
  }

  private first(state: FailingState, reason: string, waiting: string, now: number): string {
    // after a restart during an outage the first line is not a new outage's (operator round 2026-12-06)
    const already =
      this.resumedStretch && this.since !== null
        ? ` for ${span(now - this.since)} (since before Node-RED restarted)`
        : '';
    return state === 'unauthorized'
      ? `database refuses the credentials${reason}${already}: points wait in the disk spool until the token or user is fixed (${waiting})`
      : `database not writable${reason}${already}: points wait in the disk spool and are written when it answers (${waiting})`;
  }

  private say(state: FailingState, now: number, text: string): Notice {
    // an outage said before the spool of the last one was empty: its own recovery line says what it held
    this.replaying = null;
    this.said = state;
    this.saidAt = now;
    return { level: 'warn', text };
  }
}
