// Node-RED adapters for the InfluxDB writer: `moby-influx` (config: where and how to write) and
// `moby-influx-write` (maps messages to line protocol and hands them to the core InfluxWriter, which
// batches, retries and spools). All behaviour lives in nodes/core/influx; this file maps config, messages
// and status.
import os from 'node:os';
import path from 'node:path';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, SendFn, AnyNode } from '../lib/red';
import {
  countEvent,
  countIn,
  countOut,
  countRejected,
  countTenant,
  provideGauge,
  metricsRegistry,
  writeLatency,
} from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { preview } from '../core/names';
import { Counter } from 'prom-client';
import type { Reject } from '../core/contract';
import {
  COMPRESSIONS,
  connectionProblem,
  createInfluxSend,
  gzipThresholdFor,
  InfluxWriter,
  messageToLines,
  OutageNotice,
  PRECISIONS,
  Spool,
} from '../core/influx';
import type { InfluxConnection, Precision, WriteBodyFn, WriterStats } from '../core/influx';
import { mountMobyRoutes } from '../lib/routes';
import { choiceSetting, numberSetting as num, textSetting } from '../lib/settings';
import { tenantMapSetting } from '../lib/tenant-settings';
import { eachInBatch } from '../core/batch';
import { tenantOfMessage } from '../core/tenant';
import { OutageAlert, DATABASE_RULE, hostOf } from '../core/influx/outage-alert';
import { readOutageMark, writeOutageMark } from '../core/influx/outage-mark';
import { explicitAlert, systemDeviceId } from '../core/system-alert';

const CONFIG_TYPE = 'moby-influx';
const WRITE_TYPE = 'moby-influx-write';

interface InfluxConfigNode extends Node<{ token?: string; username?: string; password?: string }> {
  connection: InfluxConnection | null;
  /** a configuration mistake that makes writing pointless (spool instead of sending) */
  problem: string | null;
  precision: Precision;
  describe(): string;
  sendFn(): WriteBodyFn | null;
  /**
   * The send function of a tenant's own bucket (and org) when the config routes tenants
   * (docs/tenants.md), else null: the tenant's points then go to the config's bucket like any other.
   */
  tenantSendFn(tenant: string): WriteBodyFn | null;
  /** where a tenant's points go, for logs */
  describeTenant(tenant: string): string;
  register(user: AnyNode): void;
  deregister(user: AnyNode): void;
}

const dropped = new Counter({
  name: 'moby_influx_spool_dropped_points_total',
  help: 'Points dropped from the InfluxDB spool because its size bound was hit (oldest first), plus points refused because memory was full while the spool could not be written',
  registers: [metricsRegistry],
});
const spoolFailing = new Map<string, number>();
provideGauge(
  'moby_influx_spool_failing',
  'InfluxDB writers whose disk spool cannot be written (ENOSPC, EIO, read-only): they hold data in memory and stop acknowledging',
  [],
  () => [{ labels: {}, value: [...spoolFailing.values()].reduce((a, b) => a + b, 0) }]
);

const str = textSetting;

/** Tenants one writer node keeps separate queues and spools for (the keyring bounds tenants in practice). */
const MAX_TENANT_WRITERS = 1000;

/** Parses the config's tenant targets: JSON `{"<tenant>": {"bucket": "…", "org"?: "…", "tokenEnv"?: "…"}}`. */
function parseTenantTargets(v: unknown): Record<string, { bucket?: string; org?: string; tokenEnv?: string }> {
  const out: Record<string, { bucket?: string; org?: string; tokenEnv?: string }> = {};
  for (const [tenant, t] of tenantMapSetting(v, 'tenant targets', '{"<tenant>": {"bucket": "…", "org": "…"}}')) {
    const target = typeof t === 'string' ? { bucket: t } : t;
    if (typeof target !== 'object' || target === null)
      throw new Error(`tenant targets of ${tenant}: {"bucket": "…", "org"?: "…", "tokenEnv"?: "…"}`);
    const r = target as Record<string, unknown>;
    for (const k of ['bucket', 'org', 'tokenEnv'])
      if (r[k] !== undefined && typeof r[k] !== 'string')
        throw new Error(`tenant targets of ${tenant}: ${k} must be a string`);
    out[tenant] = {
      bucket: r.bucket as string | undefined,
      org: r.org as string | undefined,
      tokenEnv: r.tokenEnv as string | undefined,
    };
  }
  return out;
}

function statusOf(
  s: WriterStats,
  disabledReason: string
): { fill: 'green' | 'yellow' | 'red' | 'blue' | 'grey'; shape: 'dot' | 'ring'; text: string } {
  // lastError can carry what the database's answer said (its JSON message) and spoolError a path: both go
  // through preview(), like other untrusted text shown to people (control characters and bidi overrides escaped)
  const counts = `${s.buffered} buffered · ${s.spooled} spooled${s.dropped ? ` · ${s.dropped} dropped` : ''}`;
  // the disk spool cannot be written: data waits in memory and acknowledging sources stop acknowledging
  if (s.spoolError && s.state !== 'closed')
    return {
      fill: 'red',
      shape: 'dot',
      text: `spool failing (${preview(s.spoolError, 40)}): holding ${s.buffered}, not acknowledging · ${s.spooled} spooled${s.dropped ? ` · ${s.dropped} dropped` : ''}`,
    };
  switch (s.state) {
    case 'connected':
      return { fill: 'green', shape: 'dot', text: `connected · ${counts}` };
    case 'connecting':
      return { fill: 'grey', shape: 'ring', text: `connecting · ${counts}` };
    case 'retrying': {
      const secs = s.retryAt ? Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000)) : 0;
      return {
        fill: 'yellow',
        shape: 'ring',
        text: `retry in ${secs}s · ${counts}${s.lastError ? ` · ${preview(s.lastError, 60)}` : ''}`,
      };
    }
    case 'unauthorized':
      return { fill: 'red', shape: 'ring', text: `refused: ${preview(s.lastError ?? '', 60)} · ${counts}` };
    case 'disabled':
      return {
        fill: disabledReason === 'no database URL' ? 'blue' : 'red',
        shape: 'ring',
        text: `${disabledReason}: spooling to disk · ${counts}`,
      };
    case 'closed':
      return { fill: 'grey', shape: 'ring', text: `closed · ${counts}` };
  }
}

export = function (RED: NodeAPI) {
  function MobyInfluxConfig(this: InfluxConfigNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const url = str(def.url).replace(/\/+$/, '');
    const precision = choiceSetting(str(def.precision), PRECISIONS, 'ms');
    const tokenEnv = str(def.tokenEnv) || 'MOBY_INFLUX_TOKEN';
    // credentials are not env-substituted by Node-RED: fall back to the named environment variable
    const token = this.credentials?.token || process.env[tokenEnv] || '';
    const api = choiceSetting(def.api, ['v2', 'v1'], 'v2');
    // gzip of write bodies: `auto` (also for flows saved before the setting) skips it for a local database
    const compression = choiceSetting(str(def.compression), COMPRESSIONS, 'auto');
    const gzipThreshold = gzipThresholdFor(compression, url);
    this.precision = precision;
    this.connection = !url
      ? null
      : api === 'v1'
        ? {
            url,
            api,
            org: '',
            bucket: '',
            database: str(def.database),
            retentionPolicy: str(def.retentionPolicy),
            username: this.credentials?.username || process.env.MOBY_INFLUX_USERNAME || '',
            password: this.credentials?.password || process.env.MOBY_INFLUX_PASSWORD || '',
            precision,
            token,
            timeoutMs: num(def.timeout, 10, 1) * 1000,
            gzipThreshold,
          }
        : {
            url,
            api,
            org: str(def.org),
            bucket: str(def.bucket),
            precision,
            token,
            timeoutMs: num(def.timeout, 10, 1) * 1000,
            gzipThreshold,
            ...(def.bucketAsDb === true ? { bucketAsDb: true } : {}),
          };
    const users = new Set<AnyNode>();
    let send: WriteBodyFn | null = null;
    this.sendFn = () => {
      if (!this.connection) return null;
      if (!send) send = createInfluxSend(this.connection);
      return send;
    };
    this.describe = () => {
      const c = this.connection;
      if (!c) return 'no URL';
      return c.api === 'v1'
        ? `${c.url} db=${c.database}${c.retentionPolicy ? ` rp=${c.retentionPolicy}` : ''} (v1)`
        : `${c.url} ${c.org}/${c.bucket}`;
    };
    // tenant routing: an explicit map {"<tenant>": {"bucket", "org"?, "tokenEnv"?}} and/or templates with
    // {tenant} for bucket and org; a tenant covered by neither writes to the config's bucket
    let tenantMap: Record<string, { bucket?: string; org?: string; tokenEnv?: string }> = {};
    try {
      tenantMap = parseTenantTargets(def.tenantTargets);
    } catch (err) {
      this.error((err as Error).message);
    }
    const bucketTemplate = str(def.tenantBucket);
    const orgTemplate = str(def.tenantOrg);
    const targetOf = (tenant: string): InfluxConnection | null => {
      if (!this.connection) return null;
      const t = tenantMap[tenant];
      if (!t && !bucketTemplate) return null;
      const fill = (tpl: string) => tpl.split('{tenant}').join(tenant);
      const bucket = t?.bucket || fill(bucketTemplate);
      const org = t?.org || (orgTemplate ? fill(orgTemplate) : this.connection.org);
      const tenantToken = t?.tokenEnv ? process.env[t.tokenEnv] : undefined;
      // v1 API (InfluxDB 1.x): a database per tenant; the bucket template or the map's bucket names it
      if (this.connection.api === 'v1')
        return { ...this.connection, database: bucket, token: tenantToken || this.connection.token };
      return { ...this.connection, bucket, org, token: tenantToken || this.connection.token };
    };
    const tenantSends = new Map<string, WriteBodyFn>();
    this.tenantSendFn = (tenant) => {
      const cached = tenantSends.get(tenant);
      if (cached) return cached;
      const conn = targetOf(tenant);
      if (!conn) return null;
      const fn = createInfluxSend(conn);
      tenantSends.set(tenant, fn);
      return fn;
    };
    this.describeTenant = (tenant) => {
      const conn = targetOf(tenant);
      if (!conn) return this.describe();
      return conn.api === 'v1' ? `${conn.url} db=${conn.database} (v1)` : `${conn.url} ${conn.org}/${conn.bucket}`;
    };
    this.register = (u) => users.add(u);
    this.deregister = (u) => users.delete(u);
    // a URL without a bucket (or database) would get 400s that look like bad points: keep the data and say what is missing
    this.problem = this.connection ? connectionProblem(this.connection) : null;
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(CONFIG_TYPE, MobyInfluxConfig as (this: AnyNode, def: NodeDef) => void, {
    credentials: { token: { type: 'password' }, username: { type: 'text' }, password: { type: 'password' } },
  });

  function MobyInfluxWrite(this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = (
      typeof def.influx === 'string' && def.influx ? RED.nodes.getNode(def.influx) : null
    ) as InfluxConfigNode | null;
    const precision: Precision = config?.precision ?? 'ms';
    const userDir = RED.settings.userDir || path.join(os.homedir(), '.node-red');
    const spoolDir = str(def.spoolDir) || path.join(userDir, 'moby-spool', config ? config.id : 'no-config', node.id);
    const status = new ThrottledStatus(node, 500);
    const closeTimeoutMs = num(def.closeTimeout, 10, 0) * 1000;
    const writeScoredPoint = def.scoredPoint !== 'anomaly';
    /**
     * points the spools had dropped (their bound) that the counter already holds: counted in this run, or
     * reported by an earlier one (Spool.reportedDrops, kept in the spool's cursor file)
     */
    let droppedSeen = 0;
    const spools: Spool[] = [];
    // drops are data lost: said in the log when they start, then at most once a minute with the count since
    // (counter and status alone were all an operator got; 900,000 points went that way in a 4-minute overload)
    let dropsUnsaid = 0;
    let dropsSaidAt = -Infinity;
    // of those, the newest points of a device over its share of the spool (core/influx/spool-share.ts)
    let overShareSeen = 0;
    let overShareUnsaid = 0;
    let overShareDevice: string | undefined;
    const spoolMaxMB = num(def.spoolMaxMB, 256, 1);

    /**
     * One writer (memory queue, retry, disk spool) per target. Without tenants there is one; with tenant
     * routing each tenant has its own writer and spool (`<spool dir>/tenant-<name>`), so one tenant's database
     * outage (retrying, spooling, a full queue) never delays another tenant's points.
     */
    function openWriter(dir: string, send: WriteBodyFn | null): InfluxWriter {
      const spool = Spool.open({ dir, maxBytes: spoolMaxMB * 1024 * 1024 });
      // drops an earlier run never counted (it died first, or mid-request) are counted and said now
      droppedSeen += spool.reportedDrops;
      spools.push(spool);
      return new InfluxWriter({
        send,
        spool,
        batchSize: num(def.batchSize, 100, 1),
        flushIntervalMs: num(def.flushInterval, 5, 0.001) * 1000,
        backoff: {
          maxMs: num(def.retryMaxDelay, 16, 0.01) * 1000,
          initialMs: Math.min(1000, num(def.retryMaxDelay, 16, 0.01) * 1000),
        },
        onWritten: (points, seconds) => {
          countOut(WRITE_TYPE, points);
          writeLatency.observe(seconds);
        },
        onReject: (line, reject) => {
          countRejected(WRITE_TYPE, reject.code);
          node.send({ topic: 'influx-reject', payload: line, moby: { reject } });
        },
        onChange: () => update(),
        onError: (err) =>
          node.error(
            `spool ${dir}: ${err.message} — holding points in memory and retrying; acknowledging sources stop acknowledging until it recovers`
          ),
        onRecovered: () => node.log(`spool ${dir} writable again`),
        durableFlushMs: num(def.durableFlushMs, 20, 0),
        refusalTtlMs: num(def.refusalMemory, 10, 0) * 60000,
      });
    }

    let writer: InfluxWriter;
    try {
      writer = openWriter(spoolDir, config && !config.problem ? config.sendFn() : null);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: `spool: ${(err as Error).message}` });
      node.error(`cannot open spool ${spoolDir}: ${(err as Error).message}`);
      node.on('input', (_msg: NodeMessage, _send: SendFn, done: DoneFn) =>
        done(new Error(`spool unavailable: ${spoolDir}`))
      );
      return;
    }
    /** the writers of tenants with their own target, created on a tenant's first point */
    const tenantWriters = new Map<string, InfluxWriter>();
    function writerOf(tenant: string | undefined): InfluxWriter {
      if (tenant === undefined || !config || config.problem) return writer;
      const existing = tenantWriters.get(tenant);
      if (existing) return existing;
      const send = config.tenantSendFn(tenant);
      if (!send) return writer;
      if (tenantWriters.size >= MAX_TENANT_WRITERS)
        throw new Error(`more than ${MAX_TENANT_WRITERS} tenants routed by one writer`);
      const w = openWriter(path.join(spoolDir, `tenant-${tenant}`), send);
      tenantWriters.set(tenant, w);
      node.log(`tenant ${tenant}: writing to ${config.describeTenant(tenant)}`);
      return w;
    }
    function allStats(): WriterStats[] {
      return [writer.stats(), ...[...tenantWriters.values()].map((w) => w.stats())];
    }
    // a database outage said in the log once it lasts, every 5 minutes while it does, and when it ends (one
    // notice per writer: a tenant's database fails on its own)
    const outageNotices = new Map<string, OutageNotice>();
    // and an alert on output 2 (for moby-alert) once it lasts or loses points (core/influx/outage-alert.ts)
    const outageAlerts = new Map<string, OutageAlert>();
    const alertAfterMs = num(def.alertAfter, 300, 0) * 1000;
    // a writer without a database URL (spool only) is alerted on too, when it loses points (outage-alert.ts)
    const databaseId = systemDeviceId(
      'database',
      config?.connection ? hostOf(config.connection.url) : 'not-configured'
    );
    // when each writer's outage began, kept beside its spool so that a restart or a crash during an outage does
    // not start its clock again (core/influx/outage-mark.ts); read once per writer, as last written
    const outageMarks = new Map<string, number | null>();
    const spoolDirOf = (label: string) => (label ? path.join(spoolDir, `tenant-${label}`) : spoolDir);
    function markOf(label: string): number | null {
      if (!outageMarks.has(label)) outageMarks.set(label, readOutageMark(spoolDirOf(label)));
      return outageMarks.get(label)!;
    }
    function sayOutage(label: string, s: WriterStats): void {
      const now = Date.now();
      let notice = outageNotices.get(label);
      if (!notice) outageNotices.set(label, (notice = new OutageNotice({ resumedSince: markOf(label) })));
      const said = notice.observe(s, now);
      // the mark follows the notice's stretch: set when the database fails, removed when a write succeeds
      // ('connecting', a restarted writer's first request, tells nothing yet)
      const since = s.state === 'connected' ? null : notice.failingSince;
      if ((s.state === 'connected' || since !== null) && since !== markOf(label)) {
        outageMarks.set(label, since);
        const err = writeOutageMark(spoolDirOf(label), since);
        if (err) node.debug(`outage mark in ${spoolDirOf(label)}: ${err}`);
      }
      if (said) {
        const text = label ? `tenant ${label}: ${said.text}` : said.text;
        if (said.level === 'warn') node.warn(text);
        else node.log(text);
      }
      let alert = outageAlerts.get(label);
      if (!alert) outageAlerts.set(label, (alert = new OutageAlert(alertAfterMs, markOf(label))));
      const signal = alert.observe(s, now, config?.problem);
      if (!signal) return;
      if (signal.kind === 'open') countEvent(WRITE_TYPE, `database_alert_${signal.severity}`);
      // a tenant's database alert is that tenant's (moby-alert keeps one engine per tenant)
      node.send([
        null,
        explicitAlert('database-outage', databaseId, DATABASE_RULE, signal, label ? { moby: { tenant: label } } : {}),
      ]);
    }

    config?.register(node);
    function update(): void {
      if (!writer) return;
      const all = allStats();
      const s = all[0];
      const droppedNow = all.reduce((a, x) => a + x.dropped, 0);
      if (droppedNow > droppedSeen) {
        dropped.inc(droppedNow - droppedSeen);
        dropsUnsaid += droppedNow - droppedSeen;
        droppedSeen = droppedNow;
        // counted: the cursor says so now, so a restart counts only what this run never did
        for (const sp of spools) sp.markReported(sp.droppedPoints);
      }
      const overShareNow = all.reduce((a, x) => a + x.droppedOverShare, 0);
      if (overShareNow > overShareSeen) {
        overShareUnsaid += overShareNow - overShareSeen;
        overShareSeen = overShareNow;
        overShareDevice = all.find((x) => x.overShareDevice !== undefined)?.overShareDevice ?? overShareDevice;
      }
      if (dropsUnsaid > 0 && Date.now() - dropsSaidAt >= 60_000) {
        const oldest = dropsUnsaid - overShareUnsaid;
        const parts: string[] = [];
        if (oldest > 0)
          parts.push(
            `${oldest} oldest first: the spool reached its bound of ${spoolMaxMB} MiB (Spool size limit) while the database did not take them`
          );
        if (overShareUnsaid > 0)
          parts.push(
            `${overShareUnsaid} newest of devices holding more than twice their even share of the spool once it was more than half full (the last: ${preview(overShareDevice ?? '', 80)}), so that one device does not push out the others' points`
          );
        node.warn(
          `dropped ${dropsUnsaid} point(s), ${parts.join('; and ')} (moby_influx_spool_dropped_points_total); said at most once a minute`
        );
        dropsUnsaid = 0;
        overShareUnsaid = 0;
        dropsSaidAt = Date.now();
      }
      sayOutage('', s);
      let i = 1;
      for (const tenant of tenantWriters.keys()) sayOutage(tenant, all[i++]);
      const failing = all.some((x) => x.spoolError);
      spoolFailing.set(node.id, failing ? 1 : 0);
      if (tenantWriters.size === 0) {
        status.set(statusOf(s, config?.problem ?? 'no database URL'));
        return;
      }
      // with tenants, the worst writer decides the colour; the counts are the sums
      const worst =
        all.find((x) => x.spoolError) ??
        all.find((x) => x.state === 'unauthorized') ??
        all.find((x) => x.state === 'retrying') ??
        s;
      const sum = {
        ...worst,
        buffered: all.reduce((a, x) => a + x.buffered, 0),
        spooled: all.reduce((a, x) => a + x.spooled, 0),
        dropped: droppedNow,
      };
      const st = statusOf(sum, config?.problem ?? 'no database URL');
      status.set({ ...st, text: `${tenantWriters.size} tenant(s) · ${st.text}` });
    }
    if (config?.problem) node.warn(`${config.problem}: points are spooled to ${spoolDir} until it is fixed`);
    // no config node chosen at all is a mistake, unlike a chosen one whose URL is unset (spool-only on purpose)
    else if (!config) node.warn(`no moby-influx config node selected: points are spooled to ${spoolDir} until one is`);
    else if (!config.connection) node.log(`no InfluxDB URL configured: points are spooled to ${spoolDir}`);
    else node.debug(`writing to ${config.describe()}, spool ${spoolDir}`);
    const unprovide = [
      provideGauge('moby_influx_buffered_points', 'Points held in memory by InfluxDB writers', [], () => [
        { labels: {}, value: allStats().reduce((a, x) => a + x.buffered, 0) },
      ]),
      provideGauge('moby_influx_spooled_points', "Points waiting in the InfluxDB writers' disk spools", [], () => [
        { labels: {}, value: allStats().reduce((a, x) => a + x.spooled, 0) },
      ]),
      provideGauge(
        'moby_tenant_influx_pending_points',
        'Points of a tenant not yet in its database: in memory or in its own disk spool (docs/tenants.md)',
        ['tenant'],
        () =>
          [...tenantWriters].map(([tenant, w]) => {
            const st = w.stats();
            return { labels: { tenant }, value: st.buffered + st.spooled };
          })
      ),
    ];
    // keep "retry in Ns" honest while waiting, without touching the hot path
    const ticker = setInterval(update, 1000);
    update();

    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: DoneFn) => {
        countIn(WRITE_TYPE);
        const mapped = messageToLines(msg, { precision, writeScoredPoint });
        for (const r of mapped.rejects) {
          countRejected(WRITE_TYPE, r.code);
          send({ ...msg, moby: { ...((msg.moby as object) ?? {}), reject: r satisfies Reject } });
        }
        if (mapped.lines.length === 0) {
          done();
          return;
        }
        const tenant = tenantWriters.size || config?.tenantSendFn ? tenantOfMessage(msg) : undefined;
        if (tenant !== undefined) countTenant(WRITE_TYPE, tenant, mapped.lines.length);
        try {
          // done() only once the points are durable (database 2xx or fsync'd in the spool): a source that
          // acknowledges on completion (moby-mqtt-in) then never acknowledges a point that a crash could lose
          if (!writerOf(tenant).add(mapped.lines, () => done())) done(new Error('writer is closed'));
        } catch (err) {
          // the disk spool refuses and memory is at its bound: counted as refused; the Catch node hears of it
          // and an acknowledging source leaves the message with the broker
          update();
          done(err as Error);
        }
      })
    );

    node.on('close', (removed: boolean, done: () => void) => {
      clearInterval(ticker);
      config?.deregister(node);
      const writers: Array<[string, InfluxWriter]> = [
        [spoolDir, writer],
        ...[...tenantWriters].map(([t, w]): [string, InfluxWriter] => [path.join(spoolDir, `tenant-${t}`), w]),
      ];
      Promise.all(
        writers.map(([dir, w]) =>
          w
            .close(closeTimeoutMs)
            .catch((err: unknown) => node.error(`closing writer: ${String(err)}`))
            .then(() => {
              const s = w.stats();
              if (s.spooled > 0)
                node.log(
                  `${s.spooled} point(s) kept in ${dir}${removed ? ' (node removed: replayed if a writer with this id returns)' : ''}`
                );
            })
        )
      ).finally(() => {
        for (const u of unprovide) u();
        spoolFailing.delete(node.id);
        status.stop();
        done();
      });
    });
  }
  RED.nodes.registerType(WRITE_TYPE, MobyInfluxWrite);
};
