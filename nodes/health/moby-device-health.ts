// moby-device-health: maps Node-RED config and messages onto the device-health core (nodes/core/health).
// Output 1: state changes (topic "device-health") and snapshots (topic "snapshot"); output 2: rejects; output 3:
// the monitoring-blind alert (msg.alert for moby-alert) while the pipeline cannot hear the devices.
import type { HealthEvent, Reject } from '../core/contract';
import {
  HealthService,
  HealthTable,
  DEFAULT_WILL_GRACE_S,
  STALL_SLACK_MS,
  SignedStatus,
  StatusTrust,
  isValidDeviceId,
  TableFullError,
  compileTopicPattern,
  parseKnownDevices,
  parseTimeoutOverrides,
  readHealthMessage,
  type HealthReadOptions,
  type TopicPattern,
} from '../core/health';
import { registerDeviceSource, type DeviceRow } from '../lib/device-directory';
import { scopeHealthId, unscopeEvent, unscopeHealthId } from '../core/tenant';
import { countEvent, countEvicted, countIn, countOut, countRejected, provideGauge } from '../lib/metrics';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, SendFn } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import { ThrottledStatus } from '../lib/status';
import { EarlyQueue } from '../lib/early-queue';
import { withReject } from '../lib/reject';
import { choiceSetting, numberSetting as num } from '../lib/settings';
import { ingestDeafness } from '../lib/ingest-watch';
import { BlindWatch, blindAlertMessage, pipelineDeviceId } from '../core/health/blind-watch';
import type { RedisConfigNode } from './redis-config';
import { eachInBatch } from '../core/batch';
import os from 'node:os';
import type { KeySource } from '../core/hmac/verify';

/** What the health node needs from a moby-keyring config node (its ring is replaced on reload). */
interface KeyringConfigNode {
  ring: KeySource & { hasDevice(deviceId: string): boolean };
}

const TYPE = 'moby-device-health';
const CONTEXT_KEY = 'device_health';
/** devices that proved themselves with signed data, persisted beside the table */
const PROVEN_KEY = 'device_health_proven';
/** each device's current connection session (signed wills and births), persisted beside the table */
const SESSIONS_KEY = 'device_health_sessions';
/** inputs held while the persisted table is being loaded */

interface HealthDef extends NodeDef {
  store?: 'memory' | 'redis';
  redis?: string;
  keyPrefix?: string;
  timeout?: string | number;
  overrides?: string;
  learnFactor?: string | number;
  holdDown?: string | number;
  sweepInterval?: string | number;
  lwtTopics?: string;
  statusTopics?: string;
  activityTopics?: string;
  clockSkew?: string | number;
  knownDevices?: string;
  persist?: boolean;
  contextStore?: string;
  persistInterval?: string | number;
  maxDevices?: string | number;
  /**
   * 'proven' (default), 'broker' or 'signed': who may change a device by a will/status (see trust.ts); signed
   * wills/births (sessions.ts) count in every mode, in 'signed' mode only they do
   */
  statusTrust?: 'proven' | 'broker' | 'signed';
  /**
   * moby-keyring: verifies signed wills/births (required for 'signed'); devices with their own key count as
   * known for unsigned wills/status in 'proven' mode
   */
  keyring?: string;
  /** will/status messages accepted per device per minute (default 6, 0 = no limit) */
  statusRate?: string | number;
  /** the pipeline unable to hear the devices this long (s) opens the monitoring-blind alert (default 120, 0 = off) */
  blindAfter?: string | number;
  /**
   * a will takes its device OFFLINE this long (s) after it arrived, unless the pipeline stops hearing the broker
   * meanwhile: a broker shutting down publishes every client's will (default 3, 0 = at once)
   */
  willGrace?: string | number;
}

function patterns(text: string | undefined, fallback: string): TopicPattern[] {
  const source = text === undefined ? fallback : text;
  const out: TopicPattern[] = [];
  for (const part of source.split(/[,\n]/)) {
    if (!part.trim()) continue;
    const p = compileTopicPattern(part);
    if (typeof p === 'string') throw new Error(p);
    out.push(p);
  }
  return out;
}

export = function (RED: NodeAPI) {
  function DeviceHealthNode(this: Node, def: HealthDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);

    let readOpts: HealthReadOptions;
    let table: HealthTable;
    let known: Array<{ device_id: string; equipment_id?: string }>;
    let trust: StatusTrust;
    let signedStatus: SignedStatus | null = null;
    try {
      const overrides = parseTimeoutOverrides(def.overrides || '');
      if (typeof overrides === 'string') throw new Error(overrides);
      const knownList = parseKnownDevices(def.knownDevices || '');
      if (typeof knownList === 'string') throw new Error(knownList);
      known = knownList;
      const defaultTimeoutMs = num(def.timeout, 60, 0.001) * 1000;
      readOpts = {
        lwtTopics: patterns(def.lwtTopics, 'device/lwt/+device_id'),
        statusTopics: patterns(def.statusTopics, 'device/status/+device_id'),
        activityTopics: patterns(def.activityTopics, ''),
        // at most half the timeout: a device whose clock is behind by more than its timeout (less its send
        // interval) but within the skew had every message dated too early, was timed out while sending and
        // stayed TIMEOUT (late data does not revive); beyond the skew its messages count at their receive time
        clockSkewMs: Math.min(num(def.clockSkew, 30, 0) * 1000, defaultTimeoutMs / 2),
        maxIdLength: 128,
      };
      // one bound for the table, the signed sessions and the trust table (the setting *Max devices*), each per
      // tenant: one tenant signing births for many ids evicts only its own rows, sessions and proofs
      const maxDevices = Math.floor(num(def.maxDevices, 100_000, 1));
      table = new HealthTable({
        defaultTimeoutMs,
        deviceTimeouts: overrides.devices,
        equipmentTimeouts: overrides.equipment,
        learnFactor: num(def.learnFactor, 0, 0),
        holdDownMs: num(def.holdDown, 0, 0) * 1000,
        maxDevices,
      });
      const knownIds = new Set(known.map((k) => k.device_id));
      const keyring = def.keyring ? (RED.nodes.getNode(def.keyring) as unknown as KeyringConfigNode | null) : null;
      const mode = choiceSetting(def.statusTrust, ['proven', 'broker', 'signed'], 'proven');
      if (mode === 'signed' && !keyring)
        throw new Error('"Wills from: signed wills only" needs a moby-keyring to verify them: select one');
      if (def.keyring && !keyring)
        node.warn('the selected moby-keyring config node is missing: only proven and known devices may send wills');
      if (keyring) {
        // the keyring node owns the keys (and replaces its ring on reload): looked up per message
        signedStatus = new SignedStatus({
          keys: { lookup: (deviceId, kid, tenant) => keyring.ring.lookup(deviceId, kid, tenant) },
          maxDevices,
        });
      }
      trust = new StatusTrust({
        mode,
        maxDevices,
        ratePerMinute: num(def.statusRate, 6, 0),
        isListed: (id) => knownIds.has(id) || (keyring?.ring?.hasDevice(id) ?? false),
      });
    } catch (err) {
      node.error(`configuration: ${(err as Error).message}`);
      node.status({ fill: 'red', shape: 'ring', text: 'configuration error' });
      node.on('input', (_msg: NodeMessage, _send: SendFn, done: DoneFn) =>
        done(new Error(`${TYPE} is misconfigured: ${(err as Error).message}`))
      );
      return;
    }

    const useRedis = def.store === 'redis';
    const redisNode = useRedis && def.redis ? (RED.nodes.getNode(def.redis) as RedisConfigNode | null) : null;
    if (useRedis && !redisNode)
      node.warn('store is Redis but no moby-redis config node is selected: using memory only');
    const contextStore = (def.contextStore || '').trim() || undefined;
    const persist = def.persist !== false;
    let dirty = false;
    let provenDirty = false;
    let sessionsDirty = false;

    const emit = (ev: HealthEvent) => {
      dirty = true;
      countOut(TYPE);
      node.send([{ topic: 'device-health', payload: unscopeEvent(ev) }, null]);
      showStatus();
    };
    let service: HealthService | null = null;

    // evictions happen inside the table (bounded, least recently active first); they reach the metrics as
    // deltas so the hot path only compares two numbers
    let evictionsCounted = 0;
    function countEvictions(): void {
      const n = table.evictions;
      if (n !== evictionsCounted) {
        countEvicted(TYPE, n - evictionsCounted);
        evictionsCounted = n;
      }
    }

    function showStatus(): void {
      const c = table.stateCounts();
      const evicted = table.evictions ? ` · ${table.evictions} evicted` : '';
      const text = `${c.ONLINE} online · ${c.OFFLINE} offline · ${c.TIMEOUT} timeout · ${c.UNKNOWN} unknown${evicted}`;
      if (service?.shared && !service.storeUp) {
        // yellow only while it waits for the first connection; past the grace time memory decides: red (before:
        // yellow "connecting" for ever when Redis was never reachable, integrator review 2026-12-06)
        const connecting = service.connecting;
        status.set({
          fill: connecting ? 'yellow' : 'red',
          shape: 'ring',
          text: `${text} · ${connecting ? 'connecting to redis' : service.storeEverUp ? 'redis down, memory only' : 'redis unreachable, memory only'}`,
        });
      } else {
        status.set({ fill: c.OFFLINE + c.TIMEOUT > 0 ? 'yellow' : 'green', shape: 'dot', text });
      }
    }

    const unregisterTrustGauge = provideGauge(
      'moby_health_proven_devices',
      'Devices moby-device-health accepts unsigned wills/status from (proven by signed data)',
      [],
      () => [{ labels: {}, value: trust.provenIds().length }]
    );
    // Redis mode only: 1 while this node decides from memory because Redis cannot be reached or hangs, so an
    // outage is an alert rule on /moby/metrics, not only a warning in the log and a red status
    const unregisterRedisGauge = provideGauge(
      'moby_health_redis_down',
      'moby-device-health nodes configured with Redis that are deciding from memory (Redis unreachable or hanging)',
      [],
      () => (service?.shared && !service.storeUp ? [{ labels: {}, value: 1 }] : [{ labels: {}, value: 0 }])
    );
    // how late the pipeline hears the devices (their own message times against the receive time): the sweep
    // counts silence only up to now minus this, so a pipeline behind its input does not time out the fleet
    const unregisterLagGauge = provideGauge(
      'moby_health_ingest_lag_seconds',
      'How far behind the devices moby-device-health hears them: the smallest lag (receive time minus message time) of the last seconds, per node',
      ['node'],
      () => [{ labels: { node: node.id }, value: (service?.ingestLagMs() ?? 0) / 1000 }]
    );
    const unregisterGauge = provideGauge(
      'moby_devices',
      'Devices known to moby-device-health by state',
      ['state'],
      () => Object.entries(table.stateCounts()).map(([state, value]) => ({ labels: { state }, value }))
    );
    const unregisterSource = registerDeviceSource(node.id, () =>
      table.snapshot().map((r): DeviceRow => {
        const id = unscopeHealthId(r.device_id);
        const row: DeviceRow = {
          device_id: id.device_id,
          state: r.state,
          since: r.since,
          last_seen: r.last_seen,
          reason: r.reason,
          timeout_ms: r.timeout_ms,
        };
        if (id.tenant !== undefined) row.tenant = id.tenant;
        if (r.equipment_id !== undefined) row.equipment_id = r.equipment_id;
        return row;
      })
    );

    function handle(msg: NodeMessage, send: SendFn, done: DoneFn): void {
      countIn(TYPE);
      if (msg.topic === 'snapshot') {
        const reply = () => {
          countOut(TYPE);
          // rows as events show them: a tenant's device as {device_id, tenant}, not the table's scoped key
          send([{ ...msg, topic: 'snapshot', payload: table.snapshot().map(unscopeEvent) }, null]);
          done();
        };
        // with Redis, include what the other instances have seen; from memory when Redis is down
        if (!service!.shared) return reply();
        service!
          .refresh()
          .catch((err: Error) => node.warn(`snapshot from memory, Redis refresh failed: ${err.message}`))
          .finally(reply);
        return;
      }
      const now = Date.now();
      const input = readHealthMessage(msg, now, readOpts);
      // a tenant's device has its own row even when another tenant uses the same id (docs/tenants.md); data
      // gets its tenant from hmac-verify, a will or status from the `+tenant` level of its topic (which the
      // broker's ACL pins to the tenant's own devices), so a will marks only its tenant's device. Rejects
      // name the device as its tenant knows it and carry the tenant in msg.moby.tenant, as data does.
      const plainId = input.kind === 'reject' ? undefined : input.device_id;
      const tenant = input.kind === 'reject' ? undefined : input.tenant;
      const rejectAs = (reject: Reject) => {
        const out = withReject(msg, reject);
        if (tenant !== undefined) (out.moby as { tenant?: string }).tenant = tenant;
        return out;
      };
      if (input.kind !== 'reject' && tenant !== undefined) input.device_id = scopeHealthId(tenant, input.device_id);
      try {
        if (input.kind === 'reject') {
          countRejected(TYPE, input.reject.code);
          send([null, withReject(msg, input.reject)]);
        } else if (input.kind === 'signed') {
          handleSigned(input.device_id, plainId as string, tenant, input.reason, input.envelope, now, send, rejectAs);
        } else if (input.kind === 'status') {
          const row = input.online && trust.trusted(input.device_id) ? table.get(input.device_id) : null;
          const gate = row && row.state !== 'UNKNOWN' ? null : trust.check(input.device_id, now);
          if (gate === null) {
            // a birth never resolves OFFLINE/TIMEOUT (signed data does) and never keeps an ONLINE device
            // from timing out: anyone who can publish to the topic could otherwise hide a dead machine. It
            // takes no rate token, so a flood of births cannot use up the device's allowance for its will.
            countEvent(TYPE, 'online_status_ignored');
          } else if (!gate.ok) {
            countRejected(TYPE, gate.code);
            send([null, rejectAs({ code: gate.code, reason: gate.reason, device_id: plainId, field: 'topic' })]);
          } else {
            service!.status(input.device_id, input.online, input.time, input.reason, input.equipment_id);
            dirty = true;
          }
        } else {
          if (input.verified) {
            if (!trust.isProven(input.device_id)) provenDirty = true;
            trust.prove(input.device_id, now);
          }
          service!.activity(input.device_id, input.time, input.equipment_id, now, input.stamped);
          dirty = true;
        }
        countEvictions();
      } catch (err) {
        if (!(err instanceof TableFullError)) return done(err as Error);
        countRejected(TYPE, 'too_many_devices');
        send([null, rejectAs({ code: 'too_many_devices', reason: err.message, device_id: plainId })]);
      }
      done();
    }

    /**
     * A signed birth or will (core/health/sessions.ts): verified with the keyring and judged against the
     * device's session; the state rules (a birth resolves nothing, the rate limit) then apply as to any status.
     */
    function handleSigned(
      id: string,
      plainId: string,
      tenant: string | undefined,
      reason: 'status' | 'lwt',
      envelope: Record<string, unknown>,
      now: number,
      send: SendFn,
      rejectAs: (r: Reject) => NodeMessage
    ): void {
      const refuse = (code: string, reason: string, field: string) => {
        countRejected(TYPE, code);
        send([null, rejectAs({ code, reason, device_id: plainId, field })]);
      };
      if (!signedStatus) {
        refuse(
          'unknown_device',
          'signed will/status, but no moby-keyring is selected on the health node to verify it',
          'sig'
        );
        return;
      }
      const v = signedStatus.judge(envelope, id, plainId, tenant);
      if (!v.ok) {
        countRejected(TYPE, v.reject.code);
        send([null, rejectAs({ ...v.reject, device_id: plainId })]);
        return;
      }
      const offline = (why: 'status' | 'lwt') => {
        const gate = trust.check(id, now, true);
        if (!gate.ok) return refuse(gate.code, gate.reason, 'topic');
        signedStatus!.spend(id);
        sessionsDirty = true;
        service!.status(id, false, now, why);
        dirty = true;
      };
      if (v.action === 'known') countEvent(TYPE, 'status_session_known');
      else if (v.action === 'pending') {
        // its birth may still come on the other topic; it applies the will then
        countEvent(TYPE, 'will_pending');
        sessionsDirty = true;
      } else if (v.action === 'will') offline(reason);
      else {
        // a signature is proof, also of a device never seen before
        if (!trust.isProven(id)) provenDirty = true;
        trust.prove(id, now);
        sessionsDirty = true;
        const row = table.get(id);
        if (row && row.state !== 'UNKNOWN') countEvent(TYPE, 'online_status_ignored');
        else {
          const gate = trust.check(id, now, true);
          if (!gate.ok) refuse(gate.code, gate.reason, 'topic');
          else {
            service!.status(id, true, now, 'status');
            dirty = true;
          }
        }
        if (v.applyPendingWill) offline('lwt');
      }
    }

    // inputs that arrive before the persisted table is loaded wait for it (bounded)
    const early = new EarlyQueue();
    let loaded = false;
    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: DoneFn) => {
        if (loaded) return handle(msg, send, done);
        if (!early.offer(msg, send, done)) done(new Error('device table still loading from context, input dropped'));
      })
    );

    let sweepTimer: NodeJS.Timeout | null = null;
    const sweepMs = num(def.sweepInterval, 1, 0.05) * 1000;
    // the pipeline unable to hear the devices (no broker, input held back) for minutes is an alert of its own:
    // device timeouts are paused meanwhile, so a machine that stops then goes unreported (blind-watch.ts)
    const blind = new BlindWatch({ alertAfterMs: num(def.blindAfter, 120, 0) * 1000 });
    const pipelineId = pipelineDeviceId(os.hostname(), (RED.settings as { uiPort?: unknown }).uiPort);
    const watchBlindness = (deafness: string | null) => {
      const now = Date.now();
      const signal = blind.observe(deafness, now);
      if (!signal) return;
      if (signal.kind === 'open') {
        countEvent(TYPE, 'monitoring_blind');
        node.warn(
          `cannot hear the devices for ${Math.round((now - signal.since) / 1000)} s (${signal.reason}): device timeouts are paused; monitoring-blind alert for ${pipelineId}`
        );
      } else if (signal.lastedMs !== null)
        node.log(
          `hearing the devices again after ${Math.round(signal.lastedMs / 1000)} s: monitoring-blind alert cleared`
        );
      node.send([null, null, blindAlertMessage(pipelineId, signal, now)]);
    };
    let stallWarnedAt = -Infinity;
    let persistTimer: NodeJS.Timeout | null = null;
    let closed = false;
    const save = (cb?: () => void) => {
      if (!persist) return cb?.();
      dirty = false;
      const saveSessions = (next: () => void) => {
        if (!sessionsDirty || !signedStatus) return next();
        sessionsDirty = false;
        node.context().set(SESSIONS_KEY, signedStatus.serialize(), contextStore, (err) => {
          if (err) node.warn(`could not persist the device sessions: ${err.message}`);
          next();
        });
      };
      const saveProven = (next: () => void) => {
        if (!provenDirty) return saveSessions(next);
        provenDirty = false;
        node.context().set(PROVEN_KEY, trust.provenIds(), contextStore, (err) => {
          if (err) node.warn(`could not persist the proven devices: ${err.message}`);
          saveSessions(next);
        });
      };
      node.context().set(CONTEXT_KEY, table.serialize(), contextStore, (err) => {
        if (err) node.warn(`could not persist the device table: ${err.message}`);
        saveProven(() => cb?.());
      });
    };

    const start = (persisted: unknown, proven?: unknown, sessions?: unknown) => {
      if (closed) return;
      if (sessions !== undefined && sessions !== null && signedStatus)
        signedStatus.restore(sessions, (key) => isValidDeviceId(key, 200));
      if (proven !== undefined && proven !== null) trust.restore(proven, Date.now(), (id) => isValidDeviceId(id));
      if (persisted !== undefined && persisted !== null) {
        const restored = table.restore(persisted);
        if (typeof restored === 'string') node.warn(`ignored persisted device table: ${restored}`);
        else if (table.evictions)
          node.warn(
            `persisted device table holds more devices than the bound (${table.maxDevices}): kept the ${table.deviceCount} most recently active`
          );
      }
      for (const k of known) table.register(k.device_id, k.equipment_id);
      if (known.length > table.maxDevices)
        node.warn(
          `${known.length} known devices but the bound is ${table.maxDevices}: the least recently active ones are evicted`
        );
      countEvictions();
      service = new HealthService({
        table,
        emit,
        redis: redisNode ? redisNode.register(node.id) : null,
        keyPrefix: (def.keyPrefix || '').trim(),
        lockTtlMs: Math.max(100, sweepMs - 50),
        stallGapMs: sweepMs + STALL_SLACK_MS,
        willGraceMs: num(def.willGrace, DEFAULT_WILL_GRACE_S, 0) * 1000,
        onWillsDropped: (count) => {
          countEvent(TYPE, 'will_at_broker_loss', count);
          node.warn(
            `${count} will(s) arrived just before the broker connection was lost: a broker shutting down publishes every client's will, so they are not taken as devices going offline; a device that really went stays silent and times out once the broker is back`
          );
        },
        onStall: (gapMs) => {
          countEvent(TYPE, 'event_loop_stall');
          const t = Date.now();
          if (t - stallWarnedAt < 60_000) return;
          stallWarnedAt = t;
          node.warn(
            `the event loop was blocked for ${(gapMs / 1000).toFixed(1)} s (a sweep due every ${sweepMs / 1000} s): ` +
              "that time is not counted as any device's silence, devices are timed from now"
          );
        },
        onClockStep: (deltaMs, shifted) => {
          countEvent(TYPE, 'clock_step');
          node.warn(
            `host clock stepped ${deltaMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(deltaMs) / 1000)} s: ` +
              (shifted
                ? 'device times moved with it, no device timed out because of it'
                : 'Redis mode: forward, devices are watched again from now (each is due one timeout from now at the earliest); back, last-seen times past now came back to now')
          );
        },
        onStore: (up, err) => {
          if (!up) {
            countEvent(TYPE, 'redis_down');
            node.warn(`redis unavailable, deciding from memory: ${err?.message ?? 'unknown error'}`);
          } else node.log('redis store in use');
          showStatus();
          status.flush();
        },
      });
      sweepTimer = setInterval(() => {
        const deafness = ingestDeafness();
        watchBlindness(deafness);
        service!
          .sweep(undefined, deafness === null)
          .then(showStatus, (err: Error) => node.warn(`sweep failed: ${err.message}`));
      }, sweepMs);
      if (persist) {
        persistTimer = setInterval(
          () => {
            if (dirty || provenDirty || sessionsDirty) save();
          },
          num(def.persistInterval, 10, 1) * 1000
        );
      }
      // devices that went silent while Node-RED was down are reported at once, not one sweep later; on
      // the next turn of the event loop, once the flow's other nodes exist to receive the events
      if (!service.shared) {
        setTimeout(() => {
          if (!closed) void service!.sweep(undefined, ingestDeafness() === null).then(showStatus);
        }, 0);
      }
      showStatus();
      status.flush();
      loaded = true;
      early.drain(handle);
    };

    if (persist) {
      node.context().get(CONTEXT_KEY, contextStore, (err, value) => {
        if (err) node.warn(`could not load the persisted device table: ${err.message}`);
        node.context().get(PROVEN_KEY, contextStore, (err2, proven) => {
          if (err2) node.warn(`could not load the proven devices: ${err2.message}`);
          node.context().get(SESSIONS_KEY, contextStore, (err3, sessions) => {
            if (err3) node.warn(`could not load the device sessions: ${err3.message}`);
            start(err ? undefined : value, err2 ? undefined : proven, err3 ? undefined : sessions);
          });
        });
      });
    } else {
      start(undefined);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      // inputs still waiting for the table to load end here rather than hang
      early.failAll('node closed before its device table was loaded');
      if (sweepTimer) clearInterval(sweepTimer);
      if (persistTimer) clearInterval(persistTimer);
      status.stop();
      unregisterGauge();
      unregisterTrustGauge();
      unregisterRedisGauge();
      unregisterLagGauge();
      unregisterSource();
      const svc = service;
      const finish = () => {
        const deregistered = redisNode ? redisNode.deregister(node.id) : Promise.resolve();
        deregistered.catch(() => undefined).finally(() => save(done));
      };
      if (!svc) return finish();
      svc
        .close()
        .catch((err: Error) => node.warn(`closing the health store: ${err.message}`))
        .finally(finish);
    });
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(TYPE, DeviceHealthNode);
};
