// moby-alert: maps messages onto the AlertEngine, emits every lifecycle change on output 1, hands
// notifications to the DeliveryQueue (failures after the last try on output 2), rejects on output 3, keeps
// the alerts in the context store and serves the alert HTTP API under a configurable prefix.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AlertEvent, Alert } from '../core/contract';
import { filterAlerts, resolvedByHandBefore, SEVERITY_RANK, type ActionResult } from '../core/alert/engine';
import { SharedAlertBook, SharedDeviceRows } from '../core/alert/shared';
import type { RedisConfigNode } from '../health/redis-config';
import { choiceSetting, secondsSetting, textSetting } from '../lib/settings';
import { tenantMapSetting } from '../lib/tenant-settings';
import { inScope, TenantAlertEngines } from '../core/alert/tenants';
import { signalsFromMessage } from '../core/alert/inputs';
import { DeliveryError, DeliveryQueue, type DeliveryJob } from '../core/alert/delivery';
import { clockTime, span } from '../core/span';
import { explicitAlert } from '../core/system-alert';
import {
  INSTANCES_ALIVE_KEY,
  INSTANCE_SILENT_MS,
  INSTANCE_SILENT_RULE,
  OwnerLiveness,
} from '../core/alert/owner-liveness';
import { LineWindow } from '../core/line-window';
import {
  notificationKey,
  PAGE_KINDS,
  alertLogLine,
  alertDevice,
  notificationKindsByAlert,
  type Notification,
  type NotificationKind,
} from '../core/alert/channels';
import { ReopenQuiet, type QuietOpening } from '../core/alert/reopen-quiet';
import { LATE_PAGE_MS, PageHold, holdsWarningPage } from '../core/alert/page-hold';
import { ingestListening } from '../lib/ingest-watch';
import { templateSummary } from '../core/alert/summary';
import type { ApiHost } from '../core/alert/api';
import { MuteTable, outgrowsTable } from '../core/alert/mute';
import { AlertStateJournal } from '../core/alert/state-journal';
import { registerApiToken } from '../lib/api-auth';
import { mountAlertApi, mountMobyRoutes } from '../lib/routes';
import { countEvent, countEvicted, countIn, countOut, countRejected, provideGauge } from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { EarlyQueue } from '../lib/early-queue';
import { withReject } from '../lib/reject';
import { listDevices, registerDeviceSource, type DeviceRow } from '../lib/device-directory';
import type { Node, NodeAPI, NodeDef, NodeMessage, SendFn } from '../lib/red';
import type { ChannelConfigNode, LlmConfigNode } from './channel-types';
import { eachInBatch } from '../core/batch';

const TYPE = 'moby-alert';
const CHANNEL_FIELDS = ['slackWebhook', 'slackBot', 'smtp', 'webhook'] as const;
const STATE_KEY = 'moby_alert_state';
/**
 * The longest a page waits for the alert state holding its news to be saved (journal mode): long enough for a
 * moment of I/O trouble, short enough that a disk that stays full does not keep the plant unpaged.
 */
const PAGE_SAVE_WAIT_MS = 30_000;
/** how long saves must work again before a failing episode is said to be over (see persistFailed) */
const SAVED_AGAIN_QUIET_MS = 10_000;
/** messages held while the persisted state is being read at start-up */

function normalisePrefix(p: unknown): string | null {
  if (typeof p !== 'string' || !p.trim()) return null;
  const s = '/' + p.trim().replace(/^\/+|\/+$/g, '');
  return s === '/' ? '' : s;
}

/** A number setting that may be left empty (undefined); one that is set and not a number is `onBad`'s news. */
function optionalNumber(v: unknown, onBad: (v: unknown) => void): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'boolean' ? NaN : Number(v);
  if (Number.isFinite(n)) return n;
  onBad(v);
  return undefined;
}

interface AlertNodeCreds {
  apiToken?: string;
  /** JSON `{"<tenant>": "<token or sha256:hex>" | ["…", …]}`: tokens that see only their tenant (docs/tenants.md) */
  tenantTokens?: string;
}

/** Parses the tenant tokens credential; throws with what is wrong (never echoing a token). */
function parseTenantTokens(text: string | undefined): Array<{ tenant: string; token: string }> {
  const out: Array<{ tenant: string; token: string }> = [];
  for (const [tenant, t] of tenantMapSetting(text, 'tenant tokens', '{"<tenant>": "<token>", …}')) {
    for (const token of Array.isArray(t) ? t : [t]) {
      if (typeof token !== 'string' || token.length < 16)
        throw new Error(`tenant tokens: the token of ${tenant} must be a string of at least 16 characters`);
      out.push({ tenant, token });
    }
  }
  return out;
}

/** Parses tenantChannels: JSON `{"<tenant>": ["<channel config node id>", …]}`. */
function parseTenantChannels(v: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [tenant, ids] of tenantMapSetting(v, 'tenant channels', '{"<tenant>": ["<channel node id>", …]}')) {
    const list = Array.isArray(ids) ? ids : [ids];
    if (!list.every((id) => typeof id === 'string' && id))
      throw new Error(`tenant channels of ${tenant}: a list of channel config node ids`);
    out[tenant] = list as string[];
  }
  return out;
}

export = function (RED: NodeAPI) {
  function MobyAlertNode(this: Node<AlertNodeCreds>, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);

    const mutes = new MuteTable();
    let savedMuteVersion = -1;
    /** alerts as the API shows them: with the device's maintenance window when one is in force */
    function withMute(a: Alert): Alert & { muted?: boolean; muted_until?: number } {
      const m = mutes.get(a.device_id, a.tenant);
      return m ? { ...a, muted: true, muted_until: m.until } : a;
    }
    let lastClockWarnAt = -Infinity;
    const badSetting = (name: string, fallback: number) => (v: unknown) =>
      node.warn(`moby-alert: ${name} ${JSON.stringify(v)} is not a number: using ${fallback}`);
    // one engine per tenant (its own bounds); without tenants only the '' engine exists
    const engine = new TenantAlertEngines({
      autoResolvePoints: Math.max(
        0,
        Math.floor(optionalNumber(def.autoResolvePoints, badSetting('resolve after', 3)) ?? 3)
      ),
      autoResolveMs: secondsSetting(def.autoResolveSec, 0),
      escalateAfterMs: secondsSetting(def.escalateAfterSec, 0),
      repeatIntervalMs: secondsSetting(def.repeatSec, 0),
      updateEventMs: secondsSetting(def.updateEventSec, 1000),
      maxResolved: Math.max(
        0,
        Math.floor(optionalNumber(def.maxResolved, badSetting('resolved alerts kept', 1000)) ?? 1000)
      ),
      maxOpen: Math.max(1, Math.floor(optionalNumber(def.maxOpen, badSetting('open alerts at most', 10000)) ?? 10000)),
      // every tenant's engine sees the same step: counted per engine, warned once per step
      onClockStep: (deltaMs) => {
        countEvent(TYPE, 'clock_step');
        const now = Date.now();
        if (now - lastClockWarnAt < 10000) return;
        lastClockWarnAt = now;
        node.warn(
          `host clock stepped ${deltaMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(deltaMs) / 1000)} s: ` +
            'open alerts keep their escalation, reminder and auto-resolve timing (their times moved with it)'
        );
      },
    });
    const inputOptions = {
      // set but not a number: RUL messages would raise nothing and say nothing (integrator review 2026-12-06)
      rulThreshold: optionalNumber(def.rulThreshold, (v) =>
        node.warn(`moby-alert: RUL threshold ${JSON.stringify(v)} is not a number: RUL messages raise no alert`)
      ),
      rulCritical: optionalNumber(def.rulCritical, (v) =>
        node.warn(`moby-alert: RUL critical level ${JSON.stringify(v)} is not a number: RUL alerts stay warnings`)
      ),
    };
    const notifyOn = new Set<NotificationKind>();
    if (def.notifyOpen !== false) notifyOn.add('open');
    if (def.notifyEscalate !== false) notifyOn.add('escalate');
    // an open alert whose own readings grew worse (warning → critical) pages again, once per level: before, the
    // opening's page was the only one and said warning (red-team round 2026-12-05); flows saved before the
    // setting get it too
    if (def.notifyRaise !== false) notifyOn.add('raise');
    if (def.notifyResolve !== false) notifyOn.add('resolve');
    if (def.notifyAck === true) notifyOn.add('ack');
    // a flapping (device, rule) pages once per window, not at every reopening (core/alert/reopen-quiet.ts);
    // flows saved before the setting get the default
    const reopenQuiet = new ReopenQuiet(secondsSetting(def.quietReopenSec, 600_000));
    // a device back within this long from OFFLINE (a reboot) pages nobody (core/alert/page-hold.ts); flows saved
    // before the setting get the default
    // Hold warnings: flows saved before the setting (and nodes without it) page warnings at once, as before
    const pageHold = notifyOn.has('open')
      ? new PageHold(secondsSetting(def.offlineHoldSec, 60_000), secondsSetting(def.warningHoldSec, 0))
      : new PageHold(0, 0);
    let tenantTokens: Array<{ tenant: string; token: string }> = [];
    let tenantTokenError: string | null = null;
    try {
      tenantTokens = parseTenantTokens(node.credentials?.tenantTokens);
    } catch (err) {
      tenantTokenError = (err as Error).message;
    }
    const apiBaseUrl = typeof def.linkUrl === 'string' && def.linkUrl ? def.linkUrl.replace(/\/+$/, '') : '';
    const store = typeof def.store === 'string' && def.store ? def.store : undefined;

    // ---- channels and delivery ----
    const senders: Record<string, (job: DeliveryJob<Notification>) => Promise<void>> = {};
    const channelLabels: Record<string, string> = {};
    const channelNodes: ChannelConfigNode[] = [];
    /**
     * A channel the flow names but that cannot send (its config node missing, no URL, no token): its
     * notifications fail at once, each on the "delivery failed" output and in the status, instead of vanishing
     * after one warning at deploy (integrator review 2026-12-06).
     */
    function unusableLane(lane: string, label: string, problem: string): string {
      senders[lane] = async () => {
        throw new DeliveryError(`${label}: ${problem}; fix the channel's settings`, false);
      };
      channelLabels[lane] = label;
      return lane;
    }
    /** The delivery lane of the channel config node `id`, set up on first use; `who` names it in warnings. */
    function laneOf(id: string, who: string): string {
      const cfg = RED.nodes.getNode(id) as ChannelConfigNode | null;
      if (!cfg) {
        node.warn(`${who} config node ${id} not found; its notifications fail`);
        return unusableLane(`missing:${id}`, `${who} ${id}`, 'config node not found');
      }
      const lane = `${cfg.type}:${cfg.id}`;
      if (!cfg.sender) {
        node.warn(`${who} "${cfg.label}": ${cfg.problem ?? 'unusable'}; its notifications fail`);
        return unusableLane(lane, cfg.label, cfg.problem ?? 'unusable');
      }
      if (!senders[lane]) {
        senders[lane] = cfg.sender;
        channelLabels[lane] = cfg.label;
        cfg.register?.(node.id);
        channelNodes.push(cfg);
      }
      return lane;
    }
    for (const field of CHANNEL_FIELDS) {
      const id = def[field];
      if (typeof id === 'string' && id) laneOf(id, field);
    }
    // the node's own channels belong to the platform operator and hear every alert (as the admin token sees
    // every alert); a tenant's channels hear only that tenant's alerts (docs/tenants.md)
    const adminLanes = Object.keys(senders);
    const tenantLanes = new Map<string, string[]>();
    let tenantChannelIds: Record<string, string[]> = {};
    try {
      tenantChannelIds = parseTenantChannels(def.tenantChannels);
    } catch (err) {
      node.error((err as Error).message);
    }
    const hasTenantChannels = Object.keys(tenantChannelIds).length > 0;
    // a flow that pages nobody says so once, at deploy (operator round 2026-12-06: the shipped flow had no
    // channel, and nothing said that its alerts reached no one)
    if (adminLanes.length === 0 && !hasTenantChannels)
      node.warn(
        'no notification channel selected (Slack, e-mail or webhook): alerts are recorded, written and served by the API, but page nobody'
      );
    // Node-RED creates the config nodes a node names in its own properties first; ids inside a JSON
    // property are not seen as references, so the tenants' channels are looked up once every node of the
    // flow exists (before the delivery queue starts, so journalled jobs find their channel)
    function resolveTenantChannels(): void {
      for (const [tenant, ids] of Object.entries(tenantChannelIds)) {
        tenantLanes.set(
          tenant,
          ids.map((id) => laneOf(id, `tenant ${tenant}: channel`))
        );
      }
    }
    const lanesOf = (tenant: string | undefined): string[] => {
      const own = tenant !== undefined ? tenantLanes.get(tenant) : undefined;
      return own && own.length ? adminLanes.concat(own.filter((l) => !adminLanes.includes(l))) : adminLanes;
    };
    const llmNode =
      typeof def.llm === 'string' && def.llm ? (RED.nodes.getNode(def.llm) as LlmConfigNode | null) : null;
    if (llmNode && !llmNode.summarizer) node.warn(`LLM summary off: ${llmNode.problem ?? 'unusable config'}`);
    const summarizer = llmNode?.summarizer ?? null;

    let lastFailure: string | null = null;
    /** set when the API is served but refuses every request (no token, not opened): shown in the status */
    let apiRefusesAll = false;
    const queueDir = path.join(RED.settings.userDir || os.tmpdir(), 'moby-alert');
    const lanes = Object.keys(senders);
    if (lanes.length || hasTenantChannels) fs.mkdirSync(queueDir, { recursive: true });
    const journalFile =
      lanes.length || hasTenantChannels
        ? path.join(queueDir, `queue-${node.id.replace(/[^\w.-]/g, '_')}.jsonl`)
        : undefined;
    const journalLog = new LineWindow({ linesPerWindow: 2, windowMs: 60_000 });
    const deliveryLog = new LineWindow({ linesPerWindow: 3, windowMs: 60_000 });
    const failedLog = new LineWindow({ linesPerWindow: 5, windowMs: 60_000 });
    // Without a notification channel nothing said an alert anywhere a person looks first: a newcomer watching
    // npm start's log saw two alerts open and not a line (operator round 2026-12-07). Then the log says each
    // opening, raise, escalation and resolve, a few a minute and a summary of the rest.
    const alertLog = new LineWindow({ linesPerWindow: 10, windowMs: 60_000 });
    /** "<channel>: the <kind> notification of <device> (<rule>)": the retry and give-up warnings name it alike */
    const notificationOf = (job: DeliveryJob<Notification>) =>
      `${channelLabels[job.channel] ?? job.channel}: the ${job.payload.kind} notification of ${alertDevice(job.payload.alert)} (${job.payload.alert.rule})`;
    /** what was done with a notification's alert that makes its page no longer needed, or null while it is */
    const handled = (job: DeliveryJob<Notification>): string | null => {
      const a = engine.get(job.payload.alert.alert_id);
      if (!a) return 'the alert is no longer held';
      if (a.status !== 'open') return 'the alert was resolved meanwhile';
      return a.acknowledged ? 'the alert was acknowledged meanwhile' : null;
    };
    /** a page kept past its attempts (keepTrying) and then given up: why, for its warning */
    const handledMeanwhile = (job: DeliveryJob<Notification>): string => {
      const why = job.attempts >= maxAttempts && PAGE_KINDS.has(job.payload.kind) ? handled(job) : null;
      return why ? ` (${why})` : '';
    };
    /** output 2 for a notification not delivered: given up, or (`stillTrying`) a page overdue but kept */
    const deliveryFailed = (job: DeliveryJob<Notification>, reason: string, stillTrying: boolean) => {
      const n = job.payload;
      const reject = {
        code: 'delivery_failed',
        reason: `${channelLabels[job.channel] ?? job.channel}: ${reason}`,
        device_id: n.alert.device_id,
      };
      node.send([
        null,
        {
          topic: 'alert-delivery-failed',
          payload: {
            channel: job.channel,
            channel_name: channelLabels[job.channel],
            key: job.key,
            kind: n.kind,
            attempts: job.attempts,
            error: reason,
            still_trying: stillTrying,
            alert: n.alert,
          },
          moby: { reject },
        },
        null,
      ]);
    };
    const capMs = secondsSetting(def.retryCapSec, 60000) || 1;
    const maxAttempts = Math.max(1, Math.floor(optionalNumber(def.maxAttempts, badSetting('attempts', 8)) ?? 8));
    const queue = new DeliveryQueue<Notification>({
      senders,
      baseMs: secondsSetting(def.retryBaseSec, 1000) || 1,
      capMs,
      maxAttempts,
      maxQueued: Math.max(1, Math.floor(optionalNumber(def.queueSize, badSetting('queue size', 1000)) ?? 1000)),
      file: journalFile,
      // an alert's notifications in order; one alert's page waiting for its retry does not hold up another's
      orderKey: (job) => job.payload.alert.alert_id,
      // a channel shared by tenants (the platform's) is shared fairly: a storm of one tenant's alerts neither
      // drops another tenant's page from the full queue nor keeps it waiting behind its own
      shareKey: (job) => job.payload.alert.tenant ?? '',
      onDelivered: (job) => {
        // a page reported overdue got through: said, or the last word in the log was "still trying"
        if (job.attempts > maxAttempts)
          node.log(
            `${notificationOf(job)} was delivered at attempt ${job.attempts}, ${span(Date.now() - job.created_at)} after it was due`
          );
        lastFailure = null;
        refreshStatus();
      },
      // a channel that fails or hangs is said at once, not only when a page is given up minutes later (operator
      // round 2026-12-07: a webhook hanging 10 s per attempt, 3 min 18 s of silence, then "gave up after 8
      // attempts" on the debug output only); a few lines, then one summary a minute
      onRetry: (job, delayMs) => {
        const line = deliveryLog.note(
          `${notificationOf(job)} failed (${job.last_error ?? 'unknown error'}), attempt ${job.attempts}; trying again in ${Math.max(1, Math.round(delayMs / 1000))} s, ${queue.pendingCount(job.channel)} waiting on this channel`,
          Date.now()
        );
        if (line !== null) node.warn(line);
      },
      // a page is not given up while its alert is open and nobody has acknowledged it: the receiver coming back
      // after the last attempt still gets it (left alone at stop 54: a webhook down for ~4 minutes lost every page
      // for good, the alert stayed open and the next word was the hourly reminder); resolves, acks and updates,
      // and pages of alerts handled meanwhile, give up as before
      keepTrying: (job) => PAGE_KINDS.has(job.payload.kind) && handled(job) === null,
      onOverdue: (job, error) => {
        lastFailure = `still trying: ${error}`;
        node.warn(
          `${notificationOf(job)} was not delivered after ${job.attempts} attempts (${error}); still trying about every ${Math.max(1, Math.round(capMs / 1000))} s while the alert is open and unacknowledged`
        );
        deliveryFailed(job, `not delivered after ${job.attempts} attempts: ${error}`, true);
        refreshStatus();
      },
      onFailed: (job, reason) => {
        lastFailure = reason;
        countEvent(TYPE, reason === 'queue_full' ? 'notification_dropped' : 'notification_failed');
        // an alert storm fails thousands as queue_full: a few lines, then one summary a minute (red-team round
        // 2026-12-07: 40,295 lines, up to 2,400 a second); each is also on output 2 and in the metrics
        const line = failedLog.note(
          `${notificationOf(job)} was not delivered: ${reason}${handledMeanwhile(job)}`,
          Date.now()
        );
        if (line !== null) node.warn(line);
        // a page already reported overdue on output 2 is not reported again when it is finally given up
        if (job.attempts <= maxAttempts) deliveryFailed(job, reason, false);
        refreshStatus();
      },
      // a full disk fails every journal line: 80 identical warnings in one second for 40 alerts (operator round
      // 2026-12-07); a few lines, then one summary per window
      onError: (err) => {
        const line = journalLog.note(`delivery journal: ${err.message}`, Date.now());
        if (line !== null) node.warn(line);
      },
    });

    // notifications of one alert are prepared in order (the summary may take an LLM round trip)
    const chains = new Map<string, Promise<void>>();
    function notify(kind: NotificationKind, alert: Alert, seq?: number, pagedQuiet?: QuietOpening): void {
      if (!lanes.length && !hasTenantChannels) return;
      // a device in a maintenance window keeps its alert record but pages nobody
      if (mutes.isMuted(alert.device_id, alert.tenant)) return;
      // the raise of an alert whose opening was quiet is paged as that opening (core/alert/reopen-quiet.ts raised)
      if (kind === 'raise') {
        const quietOpening = reopenQuiet.raised(alert);
        if (quietOpening) {
          countEvent(TYPE, 'quiet_reopen_paged');
          kind = 'open';
          seq = undefined;
          pagedQuiet = quietOpening;
        }
      }
      let quiet: QuietOpening | null = pagedQuiet ?? null;
      // a quiet opening paged because it stayed open (ReopenQuiet.due) has its quiet count already
      if (kind === 'open' && !pagedQuiet) {
        // the opening's own time: the next page's "quiet since" is then exactly the paged opening's opened_at
        quiet = reopenQuiet.open(alert, alert.opened_at);
        if (!quiet) {
          countEvent(TYPE, 'reopen_quieted');
          return;
        }
      } else if (!reopenQuiet.follow(kind, alert)) return;
      const key = notificationKey(alert.alert_id, kind, seq);
      // the engine's version with this news in it: the page waits until the state holding it is saved
      const needVersion = engine.version;
      const prev = chains.get(alert.alert_id) ?? Promise.resolve();
      const next = prev.then(async () => {
        let summary: string;
        if (summarizer) {
          const r = await summarizer.summarize(alert);
          if (r.error) node.debug(`LLM summary for ${alert.alert_id}: ${r.error}; using the template`);
          summary = r.text;
        } else {
          summary = templateSummary(alert);
        }
        if (alert.summary !== summary) engine.setSummary(alert.alert_id, summary);
        const payload: Notification = { kind, time: Date.now(), alert: { ...alert, summary }, summary };
        if (quiet && quiet.quieted > 0 && quiet.since !== undefined)
          payload.quieted = { count: quiet.quieted, since: quiet.since };
        if (kind === 'open') {
          const reopened = resolvedByHandBefore(
            engine.list({ device: alert.device_id, status: 'resolved', limit: 10000 }, null),
            alert
          );
          if (reopened) payload.reopened = reopened;
        }
        if (apiBaseUrl) payload.url = `${apiBaseUrl}/alerts/${alert.alert_id}`;
        if (!(await untilSaved(needVersion)) && !closing) {
          pagedUnsaved();
          // it may be the last word on this alert: a crash before the save forgets it (operator round 2026-12-07)
          if (PAGE_KINDS.has(kind)) payload.unsaved = true;
        }
        for (const lane of lanesOf(alert.tenant)) queue.enqueue(lane, key, payload);
      });
      chains.set(alert.alert_id, next);
      void next
        .catch((err: Error) => node.warn(`notification for ${alert.alert_id}: ${err.message}`))
        .finally(() => {
          if (chains.get(alert.alert_id) === next) chains.delete(alert.alert_id);
        });
    }

    /**
     * News of an alert whose opening page may be held (core/alert/page-hold.ts), told whether or not this kind is
     * notified: true when it may be notified. A held alert resolved or acknowledged in time pages nothing; any
     * other news of it pages its opening first.
     */
    function afterHold(kind: NotificationKind, alert: Alert): boolean {
      const held = pageHold.follow(kind, alert);
      switch (held) {
        case 'not_held':
          return true;
        case 'dropped':
          if (kind === 'resolve') countEvent(TYPE, holdsWarningPage(alert) ? 'warning_unpaged' : 'outage_unpaged');
          return false;
        case 'page_open_instead':
          if (notifyOn.has('open')) notify('open', alert);
          return false;
        case 'raise_dropped':
          countEvent(TYPE, 'raise_unpaged');
          return true;
        case 'page_raise_now':
          notify('raise', alert, SEVERITY_RANK[alert.severity]);
          return true;
        case 'page_now':
          if (notifyOn.has('open')) notify('open', alert);
          return true;
      }
    }

    function eventMessages(events: AlertEvent[]): NodeMessage[] {
      const msgs: NodeMessage[] = [];
      for (const ev of events) {
        msgs.push({ topic: 'alert', payload: ev });
        if (!lanes.length && !hasTenantChannels) {
          const line = alertLogLine(ev);
          if (line !== null && alertLog.note(line, Date.now()) !== null) node.log(line);
        }
        if (ev.event === 'open') {
          if (notifyOn.has('open') && !pageHold.hold(ev.alert)) notify('open', ev.alert);
        } else if (ev.event === 'update') {
          // a summary paged earlier tells the alert as it was then ("275 lost so far" beside a message saying 2,774):
          // the template's is told again from the alert as it is now (operator round 2026-12-06, O3). An LLM's
          // stays: it is asked once per incident and severity, and a new level pages (and asks) below
          if (!summarizer && ev.alert.summary !== undefined) {
            const now = templateSummary(ev.alert);
            if (now !== ev.alert.summary) engine.setSummary(ev.alert.alert_id, now);
          }
          // the severity only rises within an alert, so the level is the notification's sequence: one page per level
          if (
            ev.raised_from !== undefined &&
            afterHold('raise', ev.alert) &&
            notifyOn.has('raise') &&
            !pageHold.holdRaise(ev.alert, Date.now())
          )
            notify('raise', ev.alert, SEVERITY_RANK[ev.alert.severity]);
        }
        // an alert pushed out by the bound is not news to a person: during a flood this would be one
        // notification per evicted alert (the event still goes to InfluxDB and the panel)
        else if (
          afterHold(ev.event, ev.alert) &&
          notifyOn.has(ev.event) &&
          !(ev.event === 'resolve' && ev.alert.resolved_by === 'evicted')
        )
          notify(ev.event, ev.alert);
      }
      countOut(TYPE, msgs.length);
      countEvictions();
      return msgs;
    }

    function emit(events: AlertEvent[], send: SendFn = (m) => node.send(m), msgid?: string): void {
      if (!events.length) return;
      if (shared) for (const ev of events) shared.dirty.add(ev.alert.alert_id);
      const out = eventMessages(events);
      if (msgid) for (const m of out) m._msgid = msgid;
      send([out, null, null]);
      refreshStatus();
    }

    let evictionsCounted = 0;
    function countEvictions(): void {
      if (engine.evictions !== evictionsCounted) {
        countEvicted(TYPE, engine.evictions - evictionsCounted);
        evictionsCounted = engine.evictions;
      }
    }

    function refreshStatus(): void {
      const open = engine.openCount();
      const pending = queue.pendingCount();
      const evicted = engine.evictions ? `, ${engine.evictions} evicted` : '';
      const muted = mutes.count(); // a count, not a sorted list: called on every mute
      const text = `${open} open${evicted}${muted ? `, ${muted} muted` : ''}${pending ? `, ${pending} to deliver` : ''}${lastFailure ? ', delivery failed' : ''}${apiRefusesAll ? ' · API: no token, refuses all' : ''}${persistError ? ` · state not saved (${persistError}), not acknowledging` : ''}`;
      status.set({
        fill: lastFailure || persistError ? 'red' : open || apiRefusesAll ? 'yellow' : 'green',
        shape: pending ? 'ring' : 'dot',
        text,
      });
    }

    // ---- one alert view across instances (docs/scale-out.md): records mirrored to Redis, actions on other
    // owners' alerts queued to them; this engine stays the only writer of its own alerts ----
    const redisNode =
      typeof def.redis === 'string' && def.redis ? (RED.nodes.getNode(def.redis) as RedisConfigNode | null) : null;
    if (typeof def.redis === 'string' && def.redis && !redisNode)
      node.warn(`shared alerts: Redis config node ${def.redis} not found; alerts stay on this instance`);
    const shared = redisNode?.configured ? startShared(redisNode) : null;
    function startShared(cfg: RedisConfigNode) {
      const owner = textSetting(def.instance) || os.hostname();
      const client = cfg.register(node.id);
      const book = new SharedAlertBook(client, { owner });
      // the device table too: this instance's device-health rows out, the other instances' rows in (as a
      // device source of their own, marked so they are never published back)
      const rows = new SharedDeviceRows<DeviceRow>(client, owner);
      // `redis:<owner>`, the instance that owns the row (until 2026-12-07 this instance's own name: every remote
      // row on moby-0 said redis:moby-0, cluster round); a local source's id (a node id) never starts so
      const REMOTE = 'redis:';
      // the other instances' beats: a silent owner's rows are UNKNOWN, not the ONLINE it last published
      const liveness = new OwnerLiveness(owner, secondsSetting(def.instanceSilentSec, INSTANCE_SILENT_MS));
      const unregisterRows = registerDeviceSource(`${node.id}:shared`, () => {
        const now = Date.now();
        return rows
          .othersWithOwner()
          .map(({ owner: o, row }) =>
            liveness.isSilent(o, now)
              ? { ...row, state: 'UNKNOWN' as const, source: `${REMOTE}${o}` }
              : { ...row, source: `${REMOTE}${o}` }
          );
      });
      /** the silent owners this instance has an alert open for */
      const silentOpen = new Set<string>();
      const silentAlert = (o: string, signal: Parameters<typeof explicitAlert>[3]) =>
        handle(
          explicitAlert('instance-silent', `instance@${o}`, INSTANCE_SILENT_RULE, signal) as NodeMessage,
          (msgs) => node.send(msgs),
          (err) => err && node.warn(`instance ${o} silent: ${err.message}`)
        );
      const reportSilent = (now: number): void => {
        const reporting = liveness.reports(now);
        const silent = reporting ? liveness.silent(now) : [];
        for (const { owner: o, silentMs } of silent) {
          if (silentOpen.has(o)) continue;
          silentOpen.add(o);
          const devices = rows.othersWithOwner().filter((r) => r.owner === o).length;
          silentAlert(o, {
            kind: 'open',
            severity: 'critical',
            message:
              // since when (this instance's clock), not "for 30 s": the message stays in the alert for the outage
              `MOBY instance ${o} has not been heard since ${clockTime(now - silentMs)} (its beat in Redis stopped): its ${devices} ` +
              'device(s) are not watched until it runs again, and the fleet view shows them as UNKNOWN. Restart it ' +
              '(a supervisor such as systemd or Kubernetes should).',
          });
        }
        for (const o of [...silentOpen]) {
          const state = liveness.stateOf(o, now);
          // not yet known (just started, or Redis just came back): its alert stays until its beat says
          if (reporting && (state === 'silent' || state === 'unknown')) continue;
          silentOpen.delete(o);
          silentAlert(o, {
            kind: 'clear',
            note: !reporting
              ? 'another instance reports it now'
              : state === 'gone'
                ? `instance ${o} stopped in order`
                : `instance ${o} is heard again`,
          });
        }
      };
      let beating = false;
      let downSaid = false;
      /** true until the beats are read after a start or an outage of Redis: what was seen before says nothing */
      let blind = true;
      const beat = (): void => {
        if (!restored) return;
        if (!up()) {
          blind = true; // nobody's beats reach Redis: nobody can be judged
          // what the outage means, once (cluster round 2026-12-07: only moby-redis's "connect ECONNREFUSED")
          if (!downSaid)
            node.warn(
              "shared alerts: Redis is down: the other instances' alerts and devices are shown as last seen (not updated), an action on their alerts answers 503, and no instance can be told silent until it is back"
            );
          downSaid = true;
          return;
        }
        if (downSaid) node.log('shared alerts: Redis is back: the shared view is updated again');
        downSaid = false;
        if (beating) return;
        beating = true;
        client
          .hincrby(INSTANCES_ALIVE_KEY, owner, 1)
          .then(() => client.hgetall(INSTANCES_ALIVE_KEY))
          .then((beats) => {
            if (blind) {
              liveness.reset();
              // an alert restored from before a restart is this instance's to clear when its instance is heard
              for (const a of engine.snapshot().alerts)
                if (a.rule === INSTANCE_SILENT_RULE && a.status === 'open' && a.device_id.startsWith('instance@'))
                  silentOpen.add(a.device_id.slice('instance@'.length));
              blind = false;
            }
            liveness.observe(beats, Date.now());
            reportSilent(Date.now());
          })
          .catch((err: Error) => node.debug(`shared alerts: beat: ${err.message}`))
          .finally(() => (beating = false));
      };
      // one publish out at a time: a big table takes longer than the 2 s tick, and overlapping publishes of
      // the whole table piled up in memory (the rows of a skipped tick go with the next one)
      const publishRows = (): void => {
        if (!up() || rows.busy) return;
        const local = listDevices().filter((r) => !r.source?.startsWith(REMOTE));
        rows.publish(local).catch((err: Error) => node.debug(`shared devices: publish: ${err.message}`));
      };
      // Redis lost what this instance published (restarted without persistence, flushed) or may hold an older
      // copy (restored from a dump): every alert this engine holds goes out again, and every device row
      const republishAll = (): void => {
        rows.resync();
        if (restored) for (const a of engine.snapshot().alerts) dirty.add(a.alert_id);
      };
      // what the shared view dropped (records failing validation, the bounded caches' evictions) is counted in
      // moby_events_total and said in the log at most once a minute: every drop visible, not only a property
      const drops = { invalid: 0, evicted: 0, saidAt: -Infinity };
      const reportDrops = (): void => {
        const invalid = book.invalid + rows.invalid;
        const evicted = book.evicted + rows.evicted;
        if (evicted > drops.evicted) countEvent(TYPE, 'shared_evicted', evicted - drops.evicted);
        drops.evicted = evicted;
        if (invalid <= drops.invalid) return;
        countEvent(TYPE, 'shared_invalid', invalid - drops.invalid);
        const now = Date.now();
        if (now - drops.saidAt >= 60000) {
          node.warn(
            `shared alerts: ${invalid - drops.invalid} record(s) or change message(s) read from Redis failed validation and were dropped (${invalid} so far): something other than a MOBY instance writes under its keys`
          );
          drops.saidAt = now;
        }
        drops.invalid = invalid;
      };
      let checkingMarker = false;
      const checkMarker = (): void => {
        if (!restored || checkingMarker || !up()) return;
        checkingMarker = true;
        book
          .claimMarker()
          .then((lost) => {
            if (lost) republishAll();
          })
          .catch((err: Error) => node.debug(`shared alerts: marker: ${err.message}`))
          .finally(() => (checkingMarker = false));
      };
      const sub = client.duplicate();
      const dirty = new Set<string>();
      let publishing = false;
      let draining = false;
      let loaded = false;
      const up = () => client.status === 'ready';
      const load = () =>
        book.refresh().then(
          () =>
            rows.refresh().then(() => {
              loaded = true;
            }),
          (err: Error) => node.debug(`shared alerts: reload: ${err.message}`)
        );
      const publish = (): void => {
        if (!restored || publishing || !up()) return;
        // bounded per tick (a republish of everything is spread over ticks): at most 1000 alerts per MULTI
        const ids: string[] = [];
        for (const id of dirty) {
          if (ids.length >= 1000) break;
          ids.push(id);
        }
        for (const id of ids) dirty.delete(id);
        publishing = true;
        const changed = ids.map((id) => engine.get(id)).filter((a): a is Alert => !!a);
        book
          .publish(changed, (id) => engine.get(id) !== undefined)
          .catch((err: Error) => {
            for (const id of ids) dirty.add(id);
            node.debug(`shared alerts: publish: ${err.message}`);
          })
          .finally(() => (publishing = false));
      };
      // commands from other instances' APIs: applied here, saved, then removed from the list
      const drain = (): void => {
        if (!restored || draining || !up()) return;
        draining = true;
        book
          .peekCommands(100)
          .then(({ commands, taken }) => {
            if (!taken) return;
            for (const c of commands) {
              const r =
                c.op === 'ack'
                  ? engine.acknowledge(c.alert_id, c.by, c.note)
                  : engine.resolve(c.alert_id, c.by, c.note);
              if (r.ok) manual(r);
              else node.debug(`shared alerts: ${c.op} of ${c.alert_id} from ${c.from}: ${r.error}`);
            }
            return new Promise<void>((resolve, reject) => saveGrouped((err) => (err ? reject(err) : resolve()))).then(
              () => book.dropCommands(taken)
            );
          })
          .catch((err: Error) => node.debug(`shared alerts: commands: ${err.message}`))
          .finally(() => (draining = false));
      };
      sub.on('message', (channel: string, text: string) => {
        if (channel === book.changesChannel) book.onChange(text);
        else if (channel === rows.changesChannel) rows.onChange(text);
        else drain();
      });
      sub.on('error', () => undefined); // the shared client reports the outage
      sub.on('ready', () => {
        sub
          .subscribe(book.changesChannel, book.wakeChannel(), rows.changesChannel)
          .catch((err: Error) => node.warn(`shared alerts: subscribe: ${err.message}`));
        void load(); // whatever changed while the subscription was down
      });
      // the writing connection (re)connected: Redis may have lost or rolled back what was published before
      client.on('ready', republishAll);
      const timers = [
        setInterval(() => {
          publish();
          if (!loaded && up()) void load();
        }, 250),
        setInterval(drain, 1000),
        setInterval(() => {
          checkMarker();
          publishRows();
          reportDrops();
          beat();
        }, 2000),
        setInterval(() => void load(), 30000),
      ];
      for (const t of timers) t.unref?.();
      node.log(`shared alerts in Redis ${cfg.describe()} as instance "${owner}"`);
      return {
        book,
        dirty,
        up,
        close: async () => {
          for (const t of timers) clearInterval(t);
          // a stop in order leaves: the others forget it instead of calling it silent
          if (up()) await client.hdel(INSTANCES_ALIVE_KEY, owner).catch(() => undefined);
          client.off('ready', republishAll);
          unregisterRows();
          publish();
          await sub.quit().catch(() => sub.disconnect());
          await cfg.deregister(node.id);
        },
      };
    }

    // ---- persistence: a state journal in the node's directory (persist "journal"), or the context store ----
    const ctx = node.context();
    let restored = false;
    let savedVersion = -1;
    const early = new EarlyQueue();
    // the journal (docs/durability.md): each change appended as it happens, compacted into a snapshot now and
    // then; flows from before it (no persist setting) keep the context store
    const useJournal = def.persist === 'journal';
    // power-cut durability of the journal's appends (docs/durability.md): "fdatasync" (default) completes a
    // message once an asynchronous fdatasync covering its change has returned (group commit, the event loop
    // never waits for the disk); "none" once the append reached the kernel (survives a process kill only)
    const journalSync = choiceSetting(def.journalSync, ['fdatasync', 'none'], 'fdatasync', (v) =>
      node.warn(`journalSync "${String(v)}" unknown: using "fdatasync"`)
    );
    const stateDir = path.join(queueDir, `state-${node.id.replace(/[^\w.-]/g, '_')}`);
    let journal: AlertStateJournal | null = null;
    /** the journal cannot be opened or written: the message that changed an alert is not acknowledged */
    let persistError: string | null = null;
    /** the journal's count of alerts never written when the episode began (the recovery line says how many) */
    let neverWrittenBefore = 0;
    // One episode of failed saves is said as two lines, its start and its end. A disk just full lets some appends
    // through (the reserve, a freed block) and fails others: "not saved" and "saved again" alternated every
    // few seconds (operator round 2026-12-07). The end is said once saves have worked for SAVED_AGAIN_QUIET_MS;
    // a failure before that continues the episode. persistError (status, acknowledgements) follows every save.
    // savedAgainSec: a flow property without an editor field (tests shorten it)
    const savedAgainQuietMs = secondsSetting(def.savedAgainSec, SAVED_AGAIN_QUIET_MS);
    let failingEpisode = false;
    let workingSince = -Infinity;
    /** saves that failed after one had worked again, within one episode */
    let relapses = 0;
    function persistFailed(err: Error): void {
      if (persistError === null) {
        if (!failingEpisode) {
          node.error(`alert state not saved (${stateDir}): ${err.message}; not acknowledging`);
          neverWrittenBefore = journal?.counts.neverWritten ?? 0;
          failingEpisode = true;
          relapses = 0;
        } else relapses++;
      }
      persistError = (err as NodeJS.ErrnoException).code ?? err.message;
      refreshStatus();
    }
    /**
     * a message's completion when the alert state it changed could not be saved: what failed and why in one
     * line (the flow's "errors" debug node adds the device), the errno code kept for a Catch node's msg.error
     */
    function notSaved(err: Error): Error {
      const code = (err as NodeJS.ErrnoException).code;
      const e = new Error(`alert state not saved (${err.message}): message not acknowledged`);
      return code ? Object.assign(e, { code }) : e;
    }
    // ---- a page goes out once the alert state that holds its news is saved (journal mode) ----
    // With MOBY_HOME full, pages went out while the state that opened them could not be written; a kill -9 then
    // lost those alerts, the restarted pipeline opened them again under new ids and paged every device a second
    // time, and the first pages' ids answered 404 (operator round 2026-12-07: 80 pages for 40 outages). A page
    // now waits for the journal write (and fdatasync) that holds its alert's change — milliseconds, the group
    // commit — and at most PAGE_SAVE_WAIT_MS: a disk that stays full must not silence the plant, so the page then
    // goes out anyway, counted and warned about.
    /** the engine version the journal holds durably (or the state was restored at) */
    let durableVersion = -1;
    const pagesWaiting = new Set<{ version: number; settle: (saved: boolean) => void }>();
    let closing = false;
    // pageSaveWaitSec: a flow property without an editor field (tests shorten it)
    const pageSaveWaitMs = secondsSetting(def.pageSaveWaitSec, PAGE_SAVE_WAIT_MS);
    function noteDurable(version: number): void {
      if (version > durableVersion) durableVersion = version;
      for (const w of pagesWaiting) if (w.version <= durableVersion) w.settle(true);
    }
    /** true once the state at `version` is saved; false after PAGE_SAVE_WAIT_MS or when the node closes */
    function untilSaved(version: number): Promise<boolean> {
      if (!useJournal || version <= durableVersion) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = {
          version,
          settle: (saved: boolean) => {
            clearTimeout(timer);
            pagesWaiting.delete(w);
            resolve(saved);
          },
        };
        const timer = setTimeout(() => w.settle(false), pageSaveWaitMs);
        pagesWaiting.add(w);
      });
    }
    let unsavedWarnedAt = -Infinity;
    /** appends the journal's reserve made room for (a full disk), and when that was last said */
    let reserveReleasesSeen = 0;
    let reserveWarnedAt = -Infinity;
    function pagedUnsaved(): void {
      countEvent(TYPE, 'paged_unsaved');
      const now = Date.now();
      if (now - unsavedWarnedAt < 60_000) return;
      unsavedWarnedAt = now;
      node.warn(
        `paging alert(s) whose state could not be saved for ${pageSaveWaitMs / 1000} s (${persistError ?? 'not yet written'}): a crash now would forget them, with no resolve after their pages, or open them again and page them a second time; the pages say so`
      );
    }

    function persistOk(): void {
      const now = Date.now();
      if (persistError !== null) {
        persistError = null;
        workingSince = now;
        refreshStatus();
      }
      if (!failingEpisode || now - workingSince < savedAgainQuietMs) return;
      failingEpisode = false;
      // alerts opened and forgotten (resolved beyond maxResolved) while saves failed were never written: the
      // saved state is still the whole current one, but the operator may wonder where those went
      const neverWritten = (journal?.counts.neverWritten ?? 0) - neverWrittenBefore;
      const notes = [
        ...(neverWritten > 0 ? [`${neverWritten} alert(s) opened and forgotten meanwhile were never written`] : []),
        ...(relapses > 0 ? [`it failed again ${relapses} time(s) before saves held`] : []),
      ];
      node.log(`alert state saved again${notes.length ? ` (${notes.join('; ')})` : ''}`);
    }
    /**
     * writes what changed since the last write to the journal (one synchronous append) and calls `durable`
     * once it is durable: at once with journalSync "none", after the group's fdatasync with "fdatasync".
     * Returns the append's error when it could not be written (`durable(err)` has been called then).
     */
    function persistChanges(durable?: (err?: Error) => void): Error | null {
      if (!journal) {
        const err = new Error(`alert state journal not open: ${persistError ?? 'loading'}`);
        durable?.(err);
        return err;
      }
      // the mute windows set or ended since the last append, not the whole table (docs/alerts.md)
      let muteChanges = mutes.takeChanges();
      // a long full disk: the windows set and ended meanwhile outnumber the table, which then replaces them
      if (muteChanges && outgrowsTable(journal.stagedMuteChangeCount, mutes.count()))
        muteChanges = { all: mutes.snapshot() };
      const version = engine.version;
      if (engine.hasChanges || muteChanges) {
        journal.stage(engine.takeChanges(), muteChanges);
        savedMuteVersion = mutes.version;
      }
      try {
        journal.flush();
      } catch (err) {
        persistFailed(err as Error);
        durable?.(err as Error);
        return err as Error;
      }
      if (journal.reserveReleases > reserveReleasesSeen) {
        reserveReleasesSeen = journal.reserveReleases;
        countEvent(TYPE, 'state_saved_in_reserve');
        if (Date.now() - reserveWarnedAt >= 60_000) {
          reserveWarnedAt = Date.now();
          node.warn(
            `alert state: the disk of ${stateDir} is full; alert changes are being saved in the space its reserve file kept for this (state-journal.ts). Free space there: once the reserve is used up, alert changes cannot be saved`
          );
        }
      }
      const j = journal;
      j.whenDurable((err) => {
        if (err) persistFailed(err);
        // not while a later append that failed is still staged, nor while a failed fdatasync waits for the
        // compaction that rewrites what it covered (an empty fdatasync after it returns success)
        else if (!j.hasStaged && !j.resyncPending) {
          persistOk();
          noteDurable(version);
        }
        durable?.(err);
      });
      return null;
    }
    /**
     * the whole state as the journal's next snapshot: at once after a restore and on close; in the background
     * (written and fsync'd off the event loop) when the journal has outgrown the snapshot
     */
    function compactJournal(background = false): void {
      if (!journal) return;
      engine.discardChanges(); // the snapshot holds them
      mutes.discardChanges();
      savedMuteVersion = mutes.version;
      const state = { snapshot: engine.snapshot(), mutes: mutes.snapshot() };
      if (background) {
        const version = engine.version;
        const j = journal;
        // a failure leaves the journals, which still replay to the state: retried when the journal has grown
        j.compactInBackground(state)
          .then(() => {
            // the snapshot (written and fsync'd) holds everything up to `version`, also what a failed fdatasync
            // covered
            if (!j.hasStaged && !j.resyncPending) {
              persistOk();
              noteDurable(version);
            }
          })
          .catch((err: Error) => node.warn(`compacting the alert state journal: ${err.message}`));
        return;
      }
      try {
        const version = engine.version;
        journal.compact(state);
        persistOk();
        noteDurable(version);
      } catch (err) {
        persistFailed(err as Error);
      }
    }

    function save(cb?: () => void, force = false): void {
      if (useJournal) {
        if (restored) {
          const err = persistChanges();
          if (force) compactJournal();
          else if (!err && journal?.needsCompaction) compactJournal(true);
        }
        cb?.();
        return;
      }
      if (!restored || (!force && engine.version === savedVersion && mutes.version === savedMuteVersion)) {
        cb?.();
        return;
      }
      savedVersion = engine.version;
      savedMuteVersion = mutes.version;
      engine.discardChanges(); // only the journal reads them; keeps the engine's set of changed ids small
      mutes.discardChanges();
      ctx.set(STATE_KEY, { ...engine.snapshot(), mutes: mutes.snapshot() }, store, (err) => {
        if (err) node.warn(`saving alerts: ${err.message}`);
        cb?.();
      });
    }

    // group commit for the durable-branch completion below: with the journal, every change of the current
    // turn (a whole batch) is appended in one write at the end of the turn, and the messages complete once
    // it is durable — with journalSync "fdatasync" when the journal's one asynchronous fdatasync covering it
    // returns (turns appended while one is in flight share the next), with "none" right after the write —
    // or done(err) when the write or the fdatasync failed (not acknowledged, redelivered); with the context
    // store, one save at a time and messages arriving while it runs share the next one (their changes are
    // newer than its snapshot)
    let saveWaiters: Array<(err?: Error) => void> | null = null;
    function saveGrouped(cb: (err?: Error) => void): void {
      if (saveWaiters) {
        saveWaiters.push(cb);
        return;
      }
      saveWaiters = [cb];
      if (useJournal) {
        queueMicrotask(() => {
          const waiters = saveWaiters ?? [];
          saveWaiters = null;
          persistChanges((err) => {
            for (const w of waiters) w(err);
          });
        });
        return;
      }
      save(() => {
        const waiters = saveWaiters ?? [];
        saveWaiters = null;
        const [first, ...next] = waiters;
        first();
        if (next.length) saveGrouped(() => next.forEach((f) => f()));
      }, true);
    }

    if (useJournal) {
      try {
        journal = AlertStateJournal.open({ dir: stateDir, sync: journalSync === 'none' ? 'none' : 'group' });
        const loaded = journal.load();
        if (loaded.corrupt)
          node.warn(`alert state journal: ${loaded.corrupt} torn or damaged record(s) skipped (never acknowledged)`);
        if (loaded.state) {
          const st = loaded.state;
          const restore = () => restoreState(null, { ...st.snapshot, mutes: st.mutes }, false);
          if (hasTenantChannels) setImmediate(restore);
          else restore();
        } else {
          // first start with the journal: the state saved by the context store before, moved over once
          ctx.get(STATE_KEY, store, (err, snap) => setImmediate(() => restoreState(err, snap, true)));
        }
      } catch (err) {
        journal?.close();
        journal = null;
        persistFailed(err as Error);
        setImmediate(() => restoreState(null, undefined, false));
      }
    } else
      ctx.get(STATE_KEY, store, (err, snap) =>
        hasTenantChannels ? setImmediate(() => restoreState(err, snap, false)) : restoreState(err, snap, false)
      );
    function restoreState(err: Error | undefined | null, snap: unknown, migrate: boolean): void {
      if (hasTenantChannels) resolveTenantChannels();
      if (err) node.warn(`reading saved alerts: ${err.message}`);
      const n = engine.restore(snap);
      if (n) node.log(`restored ${n} alert(s), ${engine.openCount()} open`);
      if (engine.evictions)
        node.warn(
          `saved alerts held more than ${def.maxOpen ?? 10000} open alerts (the bound): the least recently active ${engine.evictions} were resolved as evicted`
        );
      mutes.restore(snap && typeof snap === 'object' ? (snap as { mutes?: unknown }).mutes : undefined);
      if (mutes.restoreDropped)
        node.warn(
          `saved mute windows: ${mutes.restoreDropped} beyond their tenant's budget (${mutes.limits.perTenant} per tenant, ${mutes.limits.tenantless} tenant-less) were not restored`
        );
      // Quiet reopens go on through a restart or a deploy: rebuilt from the restored alerts and what the
      // notification queue (its own journal) sent or still holds about each (its opening, an escalation, …)
      const notifiedKinds = notificationKindsByAlert(queue.sentOrQueuedKeys());
      // one copy of the restored alerts for the rebuilds below (snapshot() copies every alert it holds)
      const restoredAlerts = engine.snapshot().alerts;
      const now = Date.now();
      reopenQuiet.seed(restoredAlerts, (a) => notifiedKinds.get(a.alert_id), now);
      // and an OFFLINE page held when the node stopped is held again (paged by the ticker when due)
      pageHold.seed(restoredAlerts, (a) => notifiedKinds.get(a.alert_id), now);
      // and, with a channel now, what is open and was never notified (opened while there was none)
      if ((lanes.length || hasTenantChannels) && notifyOn.has('open')) {
        const unpaged = pageHold.seedUnpaged(
          restoredAlerts,
          (a) => notifiedKinds.get(a.alert_id),
          now,
          (a) => reopenQuiet.isQuiet(a.alert_id)
        );
        // one line for every opening that waits, the rebuilt holds' too (a raise pages a held opening sooner)
        if (unpaged)
          node.log(
            `${pageHold.size} open alert(s) of the last ${LATE_PAGE_MS / 60000} minutes were never notified (${unpaged} opened with no channel, the rest held when the node stopped): each is paged within ${Math.round(pageHold.holdMs / 1000)} s if still open and unacknowledged`
          );
      }
      savedVersion = engine.version;
      savedMuteVersion = mutes.version;
      restored = true;
      durableVersion = engine.version; // what was restored is what is on disk
      if (journal) {
        // the journal starts from the state as restored (its order is the engine's from here on)
        compactJournal();
        if (migrate && snap !== undefined && persistError === null)
          node.log(`alert state moved from the context store to ${stateDir}`);
        // the context store's copy is stale from here on: removed at every start (a cached store may lose
        // the removal to a crash before its flush), so a flow switched back does not restore an old state
        if (persistError === null)
          ctx.set(STATE_KEY, undefined, store, (e) => e && node.warn(`removing the old alert state: ${e.message}`));
      }
      if (shared) for (const a of restoredAlerts) shared.dirty.add(a.alert_id);
      queue.start();
      early.drain(handle);
      refreshStatus();
    }

    // ---- input ----
    function handle(msg: NodeMessage, send: SendFn, done: (err?: Error) => void): void {
      const r = signalsFromMessage(msg, inputOptions);
      if (!r.ok) {
        countRejected(TYPE, r.reject.code);
        send([null, null, withReject(msg, r.reject)]);
        done();
        return;
      }
      const events: AlertEvent[] = [];
      for (const s of r.signals) {
        const out = engine.apply(s);
        if (out.ok) events.push(...out.events);
        else {
          countRejected(TYPE, out.code);
          send([
            eventMessages(events),
            null,
            withReject(msg, { code: out.code, reason: out.reason, device_id: s.device_id }),
          ]);
          done();
          return;
        }
      }
      if (events.length) {
        // durable-branch (docs/durability.md): the events keep the input's message id, so a source that
        // acknowledges on completion also waits for the writer to store them; and the input completes only
        // once the changed alert state is saved, so a redelivery after a crash finds the alert it opened
        // instead of opening a second incident
        emit(events, send, msg._msgid);
        saveGrouped((err) => done(err && notSaved(err)));
        return;
      }
      done();
    }

    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: (err?: Error) => void) => {
        countIn(TYPE);
        if (restored) return handle(msg, send, done);
        if (!early.offer(msg, send, done)) done(new Error('alert state is still loading; message dropped'));
      })
    );

    // ---- timers: escalation, repeats, coalesced updates, time-based auto-resolve; persistence ----
    const intervals = [
      def.escalateAfterSec,
      def.repeatSec,
      def.autoResolveSec,
      def.updateEventSec,
      def.offlineHoldSec,
      def.warningHoldSec,
    ]
      .map((v) => secondsSetting(v, 0))
      .filter((v) => v > 0);
    const tickMs = Math.max(20, Math.min(1000, ...intervals.map((v) => v / 4)));
    const ticker = setInterval(() => {
      const more = journalLog.summary(Date.now());
      if (more)
        node.warn(
          `${more.unlogged} more delivery journal error(s) in the last ${Math.round(more.windowMs / 1000)} s; the last: ${more.last}`
        );
      const unsaid = alertLog.summary(Date.now());
      if (unsaid)
        node.log(
          `${unsaid.unlogged} more alert change(s) in the last ${Math.round(unsaid.windowMs / 1000)} s (GET /moby/alerts lists them); the last: ${unsaid.last}`
        );
      const lost = failedLog.summary(Date.now());
      if (lost)
        node.warn(
          `${lost.unlogged} more notification(s) not delivered in the last ${Math.round(lost.windowMs / 1000)} s (each is on output 2, and counted in moby_events_total{event="notification_failed"} or, dropped from a full queue, "notification_dropped"); the last: ${lost.last}`
        );
      const retried = deliveryLog.summary(Date.now());
      if (retried)
        node.warn(
          `${retried.unlogged} more failed notification attempt(s) in the last ${Math.round(retried.windowMs / 1000)} s; the last: ${retried.last}`
        );
      if (!restored) return;
      const { events, repeats } = engine.tick();
      emit(events);
      for (const r of repeats) if (afterHold('repeat', r.alert)) notify('repeat', r.alert, r.seq);
      // a held OFFLINE page waits while MOBY cannot hear the devices (a broker outage sends every device's will)
      pageHold.noteHearing(ingestListening(), Date.now());
      for (const { kind, alert: a } of pageHold.due(Date.now(), (id) => engine.get(id)))
        if (a.status === 'open' && !a.acknowledged)
          notify(kind, a, kind === 'raise' ? SEVERITY_RANK[a.severity] : undefined);
      // quiet reopens still open after 2 minutes: a machine down again after its "resolved" page is news
      for (const { alert, quiet } of reopenQuiet.due(Date.now(), (id) => engine.get(id))) {
        countEvent(TYPE, 'quiet_reopen_paged');
        notify('open', alert, undefined, quiet);
      }
    }, tickMs);
    const persistMs = secondsSetting(def.persistSec, 1000) || 1000;
    const saver = setInterval(() => save(), persistMs);
    ticker.unref?.();
    saver.unref?.();

    // ---- metrics and API ----
    const unregisterGauges = [
      provideGauge(
        'moby_alerts',
        'Alerts held by moby-alert nodes by status, severity and acknowledged',
        ['status', 'severity', 'acknowledged'],
        () => engine.counts()
      ),
      provideGauge('moby_tenant_alerts_open', 'Open alerts per tenant (docs/tenants.md)', ['tenant'], () =>
        engine.openByTenant()
      ),
      provideGauge(
        'moby_alert_notifications_pending',
        'Notifications waiting for delivery (or retry) per channel',
        ['channel'],
        () =>
          Object.keys(senders).map((lane) => ({
            labels: { channel: channelLabels[lane] ?? lane },
            value: queue.pendingCount(lane),
          }))
      ),
      provideGauge(
        'moby_alert_shared_up',
        "The shared alert view's Redis: 1 reachable, 0 down (the other instances' alerts and devices are then stale)",
        ['instance'],
        () => (shared ? [{ labels: { instance: shared.book.owner }, value: shared.up() ? 1 : 0 }] : [])
      ),
      // what a failing save keeps in memory for the next one (docs/durability.md, "Full disk"): 0 while saves
      // work; bounded by the alerts held however long the disk stays full
      provideGauge(
        'moby_alert_state_unsaved',
        'Alert changes kept in memory because the state journal could not be written: alert records and removals',
        ['kind'],
        () => {
          const c = journal?.stagedCounts ?? { records: 0, removals: 0 };
          return [
            { labels: { kind: 'records' }, value: c.records },
            { labels: { kind: 'removals' }, value: c.removals },
          ];
        }
      ),
    ];

    function manual(r: ActionResult): ActionResult {
      if (r.ok && r.event) emit([r.event]);
      if (r.ok && useJournal) save(); // one alert's change: cheap with the journal, written at once
      return r;
    }
    /** an action on an alert another instance owns: queued for its owner (whose engine decides) */
    function remote(id: string, op: 'ack' | 'resolve', by: string, note?: string): ActionResult {
      const rec = shared?.book.get(id);
      if (!shared || !rec) return { ok: false, error: 'not_found' };
      if (!shared.up()) return { ok: false, error: 'owner_unreachable', owner: rec.owner };
      if (op === 'ack' && rec.alert.acknowledged)
        return { ok: false, error: 'already_acknowledged', alert: { ...rec.alert } };
      if (op === 'resolve' && rec.alert.status === 'resolved')
        return { ok: false, error: 'already_resolved', alert: { ...rec.alert } };
      const { alert, written } = shared.book.send(rec, {
        op,
        alert_id: id,
        by,
        ...(note !== undefined ? { note } : {}),
      });
      written.catch((err: Error) => node.warn(`${op} of ${id} for ${rec.owner} not queued in Redis: ${err.message}`));
      return { ok: true, alert };
    }
    /**
     * An alert as the API shows it: its device's mute, and in a fleet (the shared view) the instance that owns it,
     * whose engine decides its actions and whose outage the `owner_unreachable` answer names (cluster round
     * 2026-12-07: the list did not say which instance an alert belonged to)
     */
    function forApi(a: Alert): Alert & { instance?: string } {
      const m = withMute(a);
      if (!shared) return m;
      const instance = engine.get(a.alert_id) ? shared.book.owner : shared.book.get(a.alert_id)?.owner;
      return instance === undefined ? m : { ...m, instance };
    }
    const host: ApiHost = {
      list: (f, scope) =>
        (shared
          ? filterAlerts(
              [
                ...engine.list({ ...f, limit: 10000 }, scope ?? null),
                ...shared.book.others().filter((a) => inScope(scope ?? null, a.tenant)),
              ],
              f
            )
          : engine.list(f, scope ?? null)
        ).map(forApi),
      get: (id) => {
        const a = engine.get(id) ?? shared?.book.get(id)?.alert;
        return a && forApi(a);
      },
      mutes,
      // the journal appends the one window (answered once durable, as before); the context store rewrites the
      // whole state, so there a mute is written with the next save every persistSec (at most one rewrite per
      // interval, however many mutes arrive: the store promised no more than that, docs/alerts.md)
      onMuteChange: () => {
        if (useJournal) save();
        refreshStatus();
      },
      durable: () =>
        new Promise<Error | undefined>((resolve) => {
          if (!useJournal) return resolve(undefined); // the context store's write-through: no power-cut promise
          if (!journal || journal.hasStaged)
            return resolve(new Error(`alert state not saved: ${persistError ?? 'journal not open'}`));
          journal.whenDurable((err) => resolve(err ?? undefined));
        }),
      acknowledge: (id, by, note) =>
        engine.get(id) || !shared ? manual(engine.acknowledge(id, by, note)) : remote(id, 'ack', by, note),
      resolve: (id, by, note) =>
        engine.get(id) || !shared ? manual(engine.resolve(id, by, note)) : remote(id, 'resolve', by, note),
      token: node.credentials.apiToken || undefined,
      tenantTokens,
      open: def.apiOpen === true,
      corsOrigins:
        typeof def.corsOrigins === 'string'
          ? def.corsOrigins
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : [],
    };
    const prefix = def.apiEnabled === false ? null : normalisePrefix(def.apiPrefix ?? '/moby');
    if (tenantTokenError) node.error(`alert API: ${tenantTokenError}; tenant tokens are off`);
    // the API answers the admin token first: a tenant given the admin token by a copy-paste has every tenant's
    // scope and the metrics, without a word (tenant red team 2026-12-07)
    const adminTenants = host.token ? tenantTokens.filter((t) => t.token === host.token).map((t) => t.tenant) : [];
    if (adminTenants.length)
      node.warn(
        `alert API: the token of tenant ${adminTenants.join(', ')} is the admin API token: whoever holds it sees and changes every tenant's alerts; give each tenant a token of its own`
      );
    const unmount =
      prefix !== null && RED.httpNode ? mountAlertApi(RED.httpNode, prefix || '/', host) : () => undefined;
    const unregisterToken =
      prefix !== null
        ? registerApiToken(
            node.id,
            host.token,
            host.open,
            tenantTokens.map((t) => t.token)
          )
        : () => undefined;
    apiRefusesAll = prefix !== null && !host.token && !host.open && !tenantTokens.length;
    if (apiRefusesAll)
      node.warn(
        'alert API: no API token set, so every request is refused (401); set the API token (credential) or tick "No token"'
      );
    if (host.corsOrigins?.includes('*'))
      node.warn(
        'alert API: CORS origin "*" lets any web page read alerts with a token, never change them; list Grafana\'s origin instead'
      );
    refreshStatus();

    node.on('close', (removed: boolean, done: () => void) => {
      clearInterval(ticker);
      clearInterval(saver);
      // pages waiting for a save go to the queue now (it is closed after them, and the state is written on
      // close): a stop must not wait PAGE_SAVE_WAIT_MS
      closing = true;
      for (const w of [...pagesWaiting]) w.settle(true);
      unmount();
      unregisterToken();
      for (const off of unregisterGauges) off();
      status.stop();
      // pending early messages can no longer be handled; tell their senders
      early.failAll('node closed before the alert state was loaded');
      const sharedClosed = shared ? shared.close().catch(() => undefined) : Promise.resolve();
      void Promise.all([...chains.values(), sharedClosed])
        .catch(() => undefined)
        .then(() => queue.close(2000))
        .catch(() => undefined)
        .then(() => {
          for (const cfg of channelNodes) cfg.deregister?.(node.id);
          if (removed) {
            // the node was deleted: its notifications have no configured channel any more, and Node-RED
            // drops its context itself
            if (journalFile) fs.rmSync(journalFile, { force: true });
            if (journal) {
              journal.close();
              fs.rmSync(stateDir, { recursive: true, force: true });
            }
            done();
            return;
          }
          // always written on close: the store may have dropped the node's context during a redeploy; the
          // journal is compacted, so the next start reads one snapshot
          save(() => {
            journal?.close();
            done();
          }, true);
        });
    });
  }

  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(TYPE, MobyAlertNode, {
    credentials: { apiToken: { type: 'password' }, tenantTokens: { type: 'password' } },
  });
};
