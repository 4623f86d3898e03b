// Notification channels: Slack incoming webhook, Slack bot (chat.postMessage), generic webhook signed the
// Standard Webhooks way, and email over SMTP (nodemailer). Each sender maps transport outcomes onto
// DeliveryError: network errors, timeouts, 5xx, 408 and 429 retry; other 4xx fail at once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import type { Alert, AlertEvent, Severity } from '../contract';
import { readableLine } from '../names';
import { DeliveryError, type DeliveryJob } from './delivery';
import { isRetryableStatus, parseRetryAfter } from '../retry';
import { failureText, outboundFetch } from '../outbound';
import { clockTime, span } from '../span';

export type NotificationKind = 'open' | 'update' | 'raise' | 'ack' | 'resolve' | 'escalate' | 'repeat';

/**
 * The notifications that page someone about an alert needing action: its opening, a raised severity, an escalation.
 * moby-alert does not give these up while the alert is open and unacknowledged (a reminder is superseded by the next).
 */
export const PAGE_KINDS: ReadonlySet<NotificationKind> = new Set<NotificationKind>(['open', 'raise', 'escalate']);

/** A notification's idempotency key in the delivery queue: per alert and kind, a reminder's with its number. */
export function notificationKey(alertId: string, kind: NotificationKind, seq?: number): string {
  return `${alertId}:${kind}${seq !== undefined ? `:${seq}` : ''}`;
}

const NOTIFICATION_KEY = /^(.+):(open|update|raise|ack|resolve|escalate|repeat)(?::\d+)?$/;

/** notificationKey read back: the kinds notified per alert id (a key of another shape is skipped). */
export function notificationKindsByAlert(keys: Iterable<string>): Map<string, Set<NotificationKind>> {
  const out = new Map<string, Set<NotificationKind>>();
  for (const key of keys) {
    const m = NOTIFICATION_KEY.exec(key);
    if (!m) continue;
    let kinds = out.get(m[1]);
    if (!kinds) out.set(m[1], (kinds = new Set()));
    kinds.add(m[2] as NotificationKind);
  }
  return out;
}

/** What a channel is asked to deliver (the delivery job's payload). */
export interface Notification {
  kind: NotificationKind;
  time: number;
  alert: Alert;
  summary: string;
  /** link to the alert in the API or a dashboard, when configured */
  url?: string;
  /**
   * an opening after quiet ones (core/alert/reopen-quiet.ts): `count` openings of the same device and rule
   * since `since` (ms, the last one notified) were not notified
   */
  quieted?: { count: number; since: number };
  /**
   * an opening shortly after a person (or a flow) resolved the previous alert of the same device and rule: the
   * condition outlived that resolve. `by` and `at` (ms) are that resolve's, `alert_id` the previous alert's
   */
  reopened?: { alert_id: string; by: string; at: number };
  /**
   * the alert's state could not be saved before this page went out (a full disk, after the page's wait): a crash
   * before it is saved forgets the alert, and no resolve follows this page
   */
  unsaved?: true;
}

/** What a page sent before its alert was saved must say: it may be the last word on that alert. */
export const UNSAVED_LINE =
  'MOBY could not save this alert (its disk is full or failing): if MOBY restarts before it can, it forgets this ' +
  'alert and no resolve follows this message; check its alert list after a restart';

/** The line about quiet openings before this one, when there were any. */
function quietedLine(n: Notification): string | null {
  if (!n.quieted) return null;
  const times = n.quieted.count === 1 ? 'once' : `${n.quieted.count} times`;
  return (
    `Flapping: opened and resolved ${times} more since the last notice (${clockTime(n.quieted.since)}); ` +
    'those were not notified'
  );
}

/** The line about the resolve by hand this opening followed, when it did. */
function reopenedLine(n: Notification): string | null {
  if (!n.reopened) return null;
  const after = span(Math.max(0, n.alert.opened_at - n.reopened.at));
  return (
    `Reopened ${after} after ${n.reopened.by} resolved the previous alert (${n.reopened.alert_id}) by hand: ` +
    'its condition is still there'
  );
}

/** The lines every channel adds after the summary, in this order: flapping, reopened, unsaved. */
function noticeLines(n: Notification): string[] {
  const lines: string[] = [];
  const flapping = quietedLine(n);
  if (flapping) lines.push(flapping);
  const reopened = reopenedLine(n);
  if (reopened) lines.push(reopened);
  if (n.unsaved) lines.push(UNSAVED_LINE);
  return lines;
}

const EMOJI: Record<Severity, string> = {
  info: ':information_source:',
  warning: ':warning:',
  critical: ':rotating_light:',
};

const HEADLINE: Record<NotificationKind, string> = {
  open: 'New alert',
  update: 'Alert updated',
  raise: 'Severity raised',
  ack: 'Alert acknowledged',
  resolve: 'Alert resolved',
  escalate: 'Alert escalated',
  repeat: 'Still open, not acknowledged',
};

/**
 * The device as a notification or a log line names it: with its tenant when it has one. Two tenants' devices may
 * share an id, and a channel shared by tenants (the platform's) showed two tenants' pages as the same text
 * (red-team round 2026-12-07).
 */
export function alertDevice(a: Alert): string {
  return a.tenant !== undefined ? `${a.device_id} (tenant ${a.tenant})` : a.device_id;
}

export function subjectLine(n: Notification): string {
  const a = n.alert;
  return defangLinks(`[MOBY ${a.severity.toUpperCase()}] ${HEADLINE[n.kind]}: ${a.rule} on ${alertDevice(a)}`);
}

/**
 * The e-mail's plain-text body. Everything but MOBY's own details link goes through defangLinks, as Slack's
 * untrusted text does: mail clients turn a URL in text/plain into a link, and a device's equipment id or field
 * name (`https://evil.example/login`) or an LLM's summary put a clickable link in a critical alert from a
 * trusted sender (red-team round 2026-12-05).
 */
export function plainText(n: Notification): string {
  const a = n.alert;
  const lines = [
    subjectLine(n),
    n.summary,
    `Device: ${a.device_id}${a.equipment_id ? ` (equipment ${a.equipment_id})` : ''}`,
    ...(a.tenant !== undefined ? [`Tenant: ${a.tenant}`] : []),
    `Status: ${a.status}${a.acknowledged ? `, acknowledged by ${a.acknowledged_by ?? 'someone'}` : ', not acknowledged'}`,
    `Occurrences: ${a.count}, opened ${clockTime(a.opened_at)}`,
  ];
  lines.push(...noticeLines(n));
  if (a.value !== undefined)
    // the latest signal's, not the peak the message may quote ("up to 32 × the threshold"): said so (operator
    // round 2026-12-07: "Value 0.28" beside "up to 31.97 ×" read as a contradiction)
    lines.push(`Latest value: ${a.value}${a.threshold !== undefined ? ` (threshold ${a.threshold})` : ''}`);
  if (a.status === 'resolved' && a.resolved_at)
    lines.push(`Resolved ${clockTime(a.resolved_at)} by ${a.resolved_by ?? 'auto'}`);
  lines.push(`Alert id: ${a.alert_id}`);
  const text = defangLinks(lines.join('\n'));
  return n.url ? `${text}\n${n.url}` : text;
}

/**
 * Text for Slack's mrkdwn with its control characters escaped, as Slack asks
 * (https://api.slack.com/reference/surfaces/formatting#escaping): unescaped, `<!channel>`, `<!here>`, `<@U…>`
 * and `<https://evil.example|Open the dashboard>` in a summary (an LLM's answer, a msg.alert message) became
 * a mention of everyone in the channel or a disguised link in the alert message.
 */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Breaks what Slack could turn into a clickable link in untrusted text: `scheme://` becomes `scheme[:]//` and
 * a `www.` host `www[.]` (the usual "defanging"). Slack's docs promise no auto-linking only for `mrkdwn` with
 * `verbatim: true`, which still renders `*bold*`; `plain_text` (no formatting) says nothing about links, and the
 * top-level `text` is linked by the server. So a device or an LLM writing `https://evil.example/login` shows the
 * address, readable, but never as a link to click.
 */
export function defangLinks(s: string): string {
  // no word boundary before the scheme or www: `_https://…`, `0https://…` and `x_www.…` were left as they came
  // (red-team round 2026-12-05); any `://` and any `www.` is broken, wherever it starts. And a bare host: the
  // dot glued between a letter or digit and two letters (a host's `evil-pay.com`, `evil.com.x1`), as Slack links
  // `evil-pay.com/login` without a scheme (a sensor a device named `Reset_password_at_evil-pay.com/login` reached
  // the page so, red-team round 2026-12-07). Numbers (`0.93`, `10.0.0.5`), `e.g.` and sentence ends are left alone.
  return s
    .replace(/:\/\//g, '[:]//')
    .replace(/www\./gi, (m) => `${m.slice(0, 3)}[.]`)
    .replace(/([A-Za-z0-9-])\.(?=[A-Za-z]{2})/g, '$1[.]');
}

/** Untrusted text for Slack: control characters escaped, links defanged, at most `max` characters once escaped. */
function slackUntrusted(s: string, max: number): string {
  const text = defangLinks(s);
  const whole = slackEscape(text);
  if (whole.length <= max) return whole;
  // escaping lengthens the text (`&` → `&amp;`) and Slack refuses the whole message over a text object's limit:
  // cut per code point, so neither an entity nor a surrogate pair is split
  let out = '';
  for (const ch of text) {
    const e = slackEscape(ch);
    if (out.length + e.length > max - 1) break;
    out += e;
  }
  return out + '…';
}

/**
 * A `plain_text` object for text MOBY did not write (device id, rule, summary, alert id): Slack applies no
 * mrkdwn to it, so `*bold*`, `_italic_`, `~strike~` and `` `code` `` stay as typed, and `emoji: false` keeps
 * `:white_check_mark:` from drawing a reassuring icon. Slack needs at least one character.
 */
function slackPlain(s: string, max: number): { type: 'plain_text'; text: string; emoji: false } {
  return { type: 'plain_text', text: slackUntrusted(s, max) || '-', emoji: false };
}

/**
 * Slack message body; `channel` is added by the bot sender. Only MOBY's own words are `mrkdwn` (the headline,
 * the `*Status*` labels, the configured details link); every text a device, a flow or the LLM chose is a
 * `plain_text` object, and the top-level `text` (what notifications and screen readers use) is sent with
 * `mrkdwn: false`. Before (red-team round 2, 2026-12-03) the summary and the ids were mrkdwn: a device could
 * make them bold, strike them through or put a clickable bare URL into the operator's channel.
 */
export function slackMessage(n: Notification): {
  text: string;
  mrkdwn: false;
  blocks: unknown[];
} {
  const a = n.alert;
  const headline = `${EMOJI[a.severity]} *${HEADLINE[n.kind]}* (${a.severity})`;
  const text = slackUntrusted(
    `${EMOJI[a.severity]} ${HEADLINE[n.kind]}: ${a.rule} on ${alertDevice(a)} (${a.severity})\n${n.summary}`,
    3000
  );
  const device = `${a.device_id}${a.equipment_id ? ` (equipment ${a.equipment_id})` : ''}`;
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: headline } },
    // label and value as neighbouring fields: Slack lays fields out two per row, so each row reads "Rule  value"
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: '*Rule*' },
        slackPlain(a.rule, 2000),
        { type: 'mrkdwn', text: '*Device*' },
        slackPlain(device, 2000),
        ...(a.tenant !== undefined ? [{ type: 'mrkdwn', text: '*Tenant*' }, slackPlain(a.tenant, 200)] : []),
      ],
    },
  ];
  if (n.summary) blocks.push({ type: 'section', text: slackPlain(n.summary, 3000) });
  // status, count and value are MOBY's own (an enum and numbers), so they keep their bold labels in one field
  const fields = [
    { type: 'mrkdwn', text: `*Status*\n${a.status}${a.acknowledged ? ' (acked)' : ''}` },
    { type: 'mrkdwn', text: `*Count*\n${a.count}` },
  ];
  if (a.value !== undefined)
    fields.push({
      type: 'mrkdwn',
      text: `*Latest value*\n${a.value}${a.threshold !== undefined ? ` / ${a.threshold}` : ''}`,
    });
  blocks.push({ type: 'section', fields });
  for (const line of noticeLines(n)) blocks.push({ type: 'section', text: slackPlain(line, 300) });
  // the details link is the operator's configured URL, the only link in the message
  const context: unknown[] = [slackPlain(`alert ${a.alert_id}`, 2000)];
  if (n.url) context.push({ type: 'mrkdwn', text: `<${n.url}|details>` });
  blocks.push({ type: 'context', elements: context });
  return { text, mrkdwn: false, blocks };
}

/**
 * JSON body of the generic webhook. `data.summary` carries the flapping line as Slack, e-mail and the plain text
 * do: a receiver that forwards only the summary (a pager, an SMS gateway) told nobody that the alert had opened
 * and resolved N more times unnotified; `data.alert.summary` stays the alert's own.
 */
export function webhookBody(n: Notification): Record<string, unknown> {
  // the flapping and reopened lines only follow a summary (as before); the unsaved one stands alone too
  let summary = n.summary;
  for (const line of noticeLines(n))
    if (summary) summary = `${summary} ${line}.`;
    else if (line === UNSAVED_LINE) summary = `${line}.`;
  return {
    type: `alert.${n.kind}`,
    timestamp: new Date(n.time).toISOString(),
    data: {
      alert: n.alert,
      summary,
      url: n.url,
      ...(n.quieted ? { quieted: n.quieted } : {}),
      ...(n.reopened ? { reopened: n.reopened } : {}),
      ...(n.unsaved ? { unsaved: true } : {}),
    },
  };
}

// ---- Standard Webhooks signature (https://www.standardwebhooks.com) ----

function secretBytes(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`; a `whsec_` secret is base64 key material. */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string): string {
  const mac = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** Verifies a webhook-signature header (space-separated list of versioned signatures) in constant time. */
export function verifyWebhook(secret: string, id: string, timestampSec: number, body: string, header: string): boolean {
  const expected = Buffer.from(signWebhook(secret, id, timestampSec, body));
  return header.split(' ').some((sig) => {
    const b = Buffer.from(sig);
    return b.length === expected.length && timingSafeEqual(b, expected);
  });
}

// ---- HTTP senders ----

/** POSTs JSON; resolves with the response when 2xx, throws DeliveryError otherwise. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number
): Promise<Response> {
  let res: Response;
  try {
    res = await outboundFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new DeliveryError(failureText(err, timeoutMs), true);
  }
  if (res.ok) return res;
  // drain the body so the connection can be reused
  const text = (await res.text().catch(() => '')).slice(0, 200);
  throw new DeliveryError(
    `HTTP ${res.status}${text ? `: ${text}` : ''}`,
    isRetryableStatus(res.status),
    parseRetryAfter(res.headers.get('retry-after'))
  );
}

export function slackWebhookSender(url: string, timeoutMs = 10000): (job: DeliveryJob<Notification>) => Promise<void> {
  return async (job) => {
    const res = await postJson(url, JSON.stringify(slackMessage(job.payload)), {}, timeoutMs);
    await res.text().catch(() => '');
  };
}

/** Slack Web API chat.postMessage; Slack answers 200 with {ok:false, error} for most failures. */
export function slackBotSender(
  apiBase: string,
  token: string,
  channel: string,
  timeoutMs = 10000
): (job: DeliveryJob<Notification>) => Promise<void> {
  const url = `${apiBase.replace(/\/+$/, '')}/chat.postMessage`;
  return async (job) => {
    const body = JSON.stringify({ channel, ...slackMessage(job.payload), unfurl_links: false });
    const res = await postJson(
      url,
      body,
      { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
      timeoutMs
    );
    let reply: { ok?: boolean; error?: string };
    try {
      reply = (await res.json()) as { ok?: boolean; error?: string };
    } catch {
      throw new DeliveryError('Slack answered with a body that is not JSON', true);
    }
    if (reply.ok === true) return;
    const error = String(reply.error ?? 'unknown_error').slice(0, 100);
    // transient Slack-side errors retry; configuration errors (invalid_auth, channel_not_found...) do not
    const transient = ['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'];
    throw new DeliveryError(
      `Slack error ${error}`,
      transient.includes(error),
      parseRetryAfter(res.headers.get('retry-after'))
    );
  };
}

export function webhookSender(
  url: string,
  secret: string | undefined,
  timeoutMs = 10000,
  clock: () => number = Date.now
): (job: DeliveryJob<Notification>) => Promise<void> {
  return async (job) => {
    const body = JSON.stringify(webhookBody(job.payload));
    // the idempotency key is the webhook id, so receivers can drop a redelivery themselves
    const id = `msg_${job.key.replace(/[^\w.-]/g, '_')}`;
    const ts = Math.floor(clock() / 1000);
    const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(ts) };
    if (secret) headers['webhook-signature'] = signWebhook(secret, id, ts, body);
    const res = await postJson(url, body, headers, timeoutMs);
    await res.text().catch(() => '');
  };
}

export interface MailOptions {
  from: string;
  to: string;
}

/** Sends through a nodemailer transport; SMTP 4xx replies and connection errors retry, 5xx do not. */
export function smtpSender(
  transport: Pick<Transporter, 'sendMail'>,
  mail: MailOptions
): (job: DeliveryJob<Notification>) => Promise<void> {
  return async (job) => {
    const n = job.payload;
    try {
      await transport.sendMail({
        from: mail.from,
        to: mail.to,
        subject: subjectLine(n),
        text: plainText(n),
        // lets mail systems thread and dedupe: the same notification always has the same id
        messageId: `<${job.key.replace(/[^\w.-]/g, '.')}@moby.alerts>`,
        headers: { 'X-Moby-Alert-Id': n.alert.alert_id },
      });
    } catch (err) {
      const e = err as Error & { responseCode?: number };
      const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500;
      throw new DeliveryError(`SMTP: ${e.message}`.slice(0, 300), !permanent);
    }
  };
}

/**
 * The log line of an alert change for a moby-alert without any notification channel (then the log is where a
 * person watching sees it first): openings, raises, escalations and resolves; null for the rest (updates of the
 * count, acks, an eviction's resolve). Untrusted text (the message, a note) is folded to one escaped line.
 */
export function alertLogLine(ev: AlertEvent): string | null {
  const a = ev.alert;
  const id = `[${a.alert_id.slice(0, 8)}]${a.tenant !== undefined ? ` (tenant ${a.tenant})` : ''}`;
  const what = readableLine(a.message, 300);
  switch (ev.event) {
    case 'open':
      return `alert opened, ${a.severity} ${id}: ${what}`;
    case 'escalate':
      return `alert escalated, ${a.severity} and unacknowledged ${id}: ${what}`;
    case 'update':
      return ev.raised_from !== undefined
        ? `alert raised from ${ev.raised_from} to ${a.severity} ${id}: ${what}`
        : null;
    case 'resolve':
      if (a.resolved_by === 'evicted') return null;
      return `alert resolved ${id}: ${readableLine(a.device_id, 80)} (${readableLine(a.rule, 60)})${
        a.resolve_note ? `, ${readableLine(a.resolve_note, 200)}` : ''
      }${a.resolved_by && a.resolved_by !== 'auto' ? ` (by ${readableLine(a.resolved_by, 60)})` : ''}`;
    default:
      return null;
  }
}
