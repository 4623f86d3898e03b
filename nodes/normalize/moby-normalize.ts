// Node-RED adapters: moby-normalize (nested device JSON → flat points) and moby-registry (config node
// holding the component registry). All logic lives in nodes/core/{normalize,registry,timestamp}.ts.
import fs from 'node:fs';
import { MAX_POINT_FIELDS, Normalizer, type NormalizeOptions } from '../core/normalize/normalize';
import { FieldTypes } from '../core/normalize/field-types';
import { SchemaGuard, SCHEMA_GUARD_DEFAULTS, type SchemaGuardOptions } from '../core/normalize/schema-guard';
import { parseRegistry, type CompiledRegistry } from '../core/normalize/registry';
import { isTenant, unearnedTenant } from '../core/tenant';
import type { Reject } from '../core/contract';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, NodeStatus, SendFn } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import { countEvent, countEvicted, countIn, countOut, countRejected, provideGauge } from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { withReject } from '../lib/reject';
import { choiceSetting, numberSetting as num, userDirPath } from '../lib/settings';
import { isPlainObject } from '../core/guards';
import { eachInBatch } from '../core/batch';
import { RejectLog } from '../core/reject-tally';
import {
  DATA_REFUSAL_RULE,
  RefusalWatch,
  normalizeRefusalText,
  refusalAlertMessage,
  type RefusalSignal,
} from '../core/hmac/refusal-watch';

const NORMALIZE = 'moby-normalize';
const REGISTRY = 'moby-registry';

interface RegistryDef extends NodeDef {
  source?: 'inline' | 'file';
  json?: string;
  file?: string;
}

interface RegistryNode extends Node {
  /** compiled registry for a separator (compiled on first use, then cached), or throws the load error */
  registryFor(separator: string): CompiledRegistry;
  problem: string | null;
}

/** The tenant moby-hmac-verify authenticated the message for, if any. */
function tenantOf(moby: Record<string, unknown>): string | undefined {
  return isTenant(moby.tenant) ? moby.tenant : undefined;
}

interface NormalizeDef extends NodeDef {
  registry?: string;
  measurement?: string;
  separator?: string;
  componentsKey?: string;
  deviceIdKey?: string;
  tagKeys?: string;
  topicPattern?: string;
  arrays?: string;
  keepBooleans?: boolean;
  keepStrings?: boolean;
  coerceNumbers?: boolean;
  timeSource?: 'payload' | 'receive';
  requireTimestamp?: boolean;
  maxFuture?: string | number;
  maxPast?: string | number;
  naiveTime?: 'utc' | 'reject';
  onViolation?: 'reject' | 'flag';
  schema?: string;
  maxBytes?: string | number;
  maxDepth?: string | number;
  maxKeys?: string | number;
  maxFields?: string | number;
  maxName?: string | number;
  maxTagValue?: string | number;
  /** seconds a device's messages are all refused, none passing, before output 3 warns (0 = off; default 60) */
  refusedAfter?: string | number;
  churnGuard?: boolean;
  churnTagBurst?: string | number;
  churnTagsPerHour?: string | number;
  churnFieldBurst?: string | number;
  churnFieldsPerHour?: string | number;
}

function list(text: string | undefined): string[] {
  return (text || '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** "accel: x,y,z; gyro: x,y,z" (or one per line) → { accel: ['x','y','z'], gyro: [...] } */
function parseArrayNames(text: string | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const entry of (text || '').split(/[;\n]/)) {
    const colon = entry.indexOf(':');
    if (colon < 0) {
      if (entry.trim()) throw new Error(`array names "${entry.trim()}": expected "path: name1,name2,…"`);
      continue;
    }
    const key = entry.slice(0, colon).trim();
    const names = list(entry.slice(colon + 1));
    if (!key || names.length === 0) throw new Error(`array names "${entry.trim()}": expected "path: name1,name2,…"`);
    out[key] = names;
  }
  return out;
}

/** Builds core options from the editor config; throws with a readable message when something is invalid. */
function optionsFromConfig(def: NormalizeDef, registry: CompiledRegistry | null): NormalizeOptions {
  let schema: object | boolean | null = null;
  if (def.schema && def.schema.trim()) {
    try {
      schema = JSON.parse(def.schema);
    } catch (err) {
      throw new Error(`JSON Schema is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  return {
    measurement: (def.measurement || '').trim() || 'telemetry',
    separator: def.separator === undefined || def.separator === '' ? '_' : def.separator,
    componentsKey: def.componentsKey === undefined ? 'components' : def.componentsKey.trim(),
    deviceIdKey: (def.deviceIdKey || '').trim() || 'device_id',
    tagKeys: list(def.tagKeys),
    topicPattern: (def.topicPattern || '').trim() || undefined,
    arrays: parseArrayNames(def.arrays),
    keepBooleans: def.keepBooleans !== false,
    keepStrings: def.keepStrings === true,
    coerceNumericStrings: def.coerceNumbers === true,
    timeSource: choiceSetting(def.timeSource, ['payload', 'receive'], 'payload'),
    requireTimestamp: def.requireTimestamp === true,
    timestamp: {
      maxFutureMs: num(def.maxFuture, 300, 0) * 1000,
      // empty or 0 = no bound: backfill of an offline buffer of any age keeps working unless the operator sets one
      maxPastMs: num(def.maxPast, 0, 0) * 1000,
      naive: choiceSetting(def.naiveTime, ['utc', 'reject'], 'utc'),
    },
    limits: {
      maxBytes: num(def.maxBytes, 65536, 1),
      maxDepth: num(def.maxDepth, 8, 2),
      maxKeys: num(def.maxKeys, 500, 1),
    },
    // empty (and every flow saved before the setting): what the InfluxDB writer takes per point
    maxFields: num(def.maxFields, MAX_POINT_FIELDS, 1),
    nameLimits: { name: num(def.maxName, 128, 1), tagValue: num(def.maxTagValue, 256, 1) },
    registry,
    onViolation: choiceSetting(def.onViolation, ['reject', 'flag'], 'reject'),
    schema,
  };
}

/**
 * The schema churn guard's settings (docs/security.md "Series and field-key churn"), or null when it is off.
 * On unless unticked: a flow saved before the setting existed gets the guard with its defaults.
 */
function churnOptions(def: NormalizeDef, maxKeys: number): SchemaGuardOptions | null {
  if (def.churnGuard === false) return null;
  const d = SCHEMA_GUARD_DEFAULTS;
  return {
    tagSetBurst: num(def.churnTagBurst, d.tagSetBurst, 1),
    tagSetsPerHour: num(def.churnTagsPerHour, d.tagSetsPerHour, 0),
    // never below the most keys a message may have: a message no burst could pay for would be locked out
    fieldBurst: Math.max(maxKeys, num(def.churnFieldBurst, d.fieldBurst, 1)),
    fieldsPerHour: num(def.churnFieldsPerHour, d.fieldsPerHour, 0),
  };
}

export = function (RED: NodeAPI) {
  function RegistryConfig(this: Node, def: RegistryDef) {
    RED.nodes.createNode(this, def);
    const node = this as RegistryNode;
    let text: string | null = null;
    node.problem = null;
    try {
      if (def.source === 'file') {
        const full = userDirPath(RED.settings.userDir, def.file);
        if (!full) throw new Error('no registry file configured');
        text = fs.readFileSync(full, 'utf8');
      } else {
        text = def.json || '';
        if (!text.trim()) throw new Error('the registry JSON is empty');
      }
      parseRegistry(text); // validate now, so a broken registry is reported at deploy rather than per message
    } catch (err) {
      node.problem = (err as Error).message;
      node.error(`registry: ${node.problem}`);
    }
    const compiled = new Map<string, CompiledRegistry>();
    node.registryFor = (separator: string) => {
      if (node.problem || text === null) throw new Error(`registry "${def.name || def.id}": ${node.problem}`);
      let r = compiled.get(separator);
      if (!r) {
        r = parseRegistry(text, separator);
        compiled.set(separator, r);
      }
      return r;
    };
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(REGISTRY, RegistryConfig);

  function NormalizeNode(this: Node, def: NormalizeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let normalizer: Normalizer | null = null;
    let guard: SchemaGuard | null = null;
    // one type per field across the fleet, always on (docs/security.md "A signed device that sets a field's type")
    const fieldTypes = new FieldTypes();
    let configError: string | null = null;
    try {
      let registry: CompiledRegistry | null = null;
      if (def.registry) {
        const reg = RED.nodes.getNode(def.registry) as RegistryNode | null;
        if (!reg) throw new Error('the selected registry config node is missing');
        registry = reg.registryFor(def.separator === undefined || def.separator === '' ? '_' : def.separator);
      }
      const opts = optionsFromConfig(def, registry);
      normalizer = new Normalizer(opts); // compiles schema, registry lookups, topic pattern once
      const churn = churnOptions(def, opts.limits!.maxKeys!);
      if (churn) guard = new SchemaGuard(churn);
      node.status({ fill: 'grey', shape: 'ring', text: 'ready' });
    } catch (err) {
      configError = (err as Error).message;
      node.error(`configuration: ${configError}`);
      node.status({ fill: 'red', shape: 'ring', text: configError.slice(0, 60) });
    }

    let passed = 0;
    let rejected = 0;
    /** guard and fieldTypes evictions already handed to the metrics */
    let evictionsCounted = 0;
    let lastCode = '';
    /** the counters' status, built when the dot is refreshed (≤ 2/s), not for every message */
    const countsStatus = (): NodeStatus => ({
      fill: rejected ? 'yellow' : 'green',
      shape: 'dot',
      text: rejected ? `${passed} ok, ${rejected} rejected (${lastCode})` : `${passed} ok`,
    });
    const showStatus = () => status.set(countsStatus);
    // Refusals in the log: the first of an episode on its own line, then one summary a minute with each code's
    // count and last device (core/reject-tally.ts), as moby-hmac-verify does. Before, only the schema churn guard
    // said anything: a keyed device whose every message was refused (75 future timestamps, bad field names …)
    // showed only in moby_rejects_total and on output 2 (red-team round 2026-12-07)
    const rejectLog = new RejectLog();
    // Output 3: a warning for moby-alert when an authenticated device's messages are all refused here for a while,
    // cleared by its next message that passes (core/hmac/refusal-watch.ts, rule data_refused)
    const refusedAfterMs = num(def.refusedAfter, 60, 0) * 1000;
    const refusals = new RefusalWatch({ minSilenceMs: refusedAfterMs, codes: null, text: normalizeRefusalText });
    const refusalAlert = (sig: RefusalSignal): NodeMessage =>
      refusalAlertMessage('data-refused', DATA_REFUSAL_RULE, sig) as NodeMessage;
    const refusalSweep = setInterval(() => {
      for (const sig of refusals.sweep(Date.now())) node.send([null, null, refusalAlert(sig)]);
    }, 60_000);
    refusalSweep.unref?.();
    const rejectSummary = setInterval(() => {
      const line = rejectLog.summaryLine(Date.now());
      if (line) node.warn(line);
    }, 10_000);
    rejectSummary.unref?.();

    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: DoneFn) => {
        countIn(NORMALIZE);
        if (!normalizer) {
          done(new Error(`moby-normalize is misconfigured: ${configError}`));
          return;
        }
        // keep what earlier nodes (hmac-verify: device_id, auth) put in msg.moby; drop a stale reject/flags
        const prev = isPlainObject(msg.moby) ? msg.moby : {};
        const { reject: _r, flags: _f, ...moby } = prev;
        const authDevice = typeof prev.device_id === 'string' ? prev.device_id : undefined;
        // what moby-hmac-verify established: the tenant, and that the device id is authenticated
        const authTenant = tenantOf(prev);
        const verified = isPlainObject(prev.auth) && prev.auth.verified === true;
        /** a refusal already told on its own line (the churn guard's first for a device) */
        let warned = false;
        let result;
        try {
          result = normalizer.normalize(msg.payload, {
            topic: typeof msg.topic === 'string' ? msg.topic : undefined,
            deviceId: authDevice,
          });
        } catch (err) {
          // the core never throws for bad input; reaching this is a bug, which Catch nodes should see
          done(err as Error);
          return;
        }
        if (result.ok) {
          // the authenticated tenant (hmac-verify) outranks any tenant the payload or topic claims: it routes
          // the point to the tenant's bucket (docs/tenants.md)
          const tenant = authTenant ?? '';
          if (tenant) result.point.tags.tenant = tenant;
          // a device verified without a tenant claims none either: its payload's or topic's tenant would
          // route its points and alerts into that tenant's bucket and view downstream
          const unearned = verified ? unearnedTenant(result.point.tags.tenant, tenant, authDevice) : null;
          if (unearned) result = { ok: false as const, reject: unearned };
          // last, on the point as it will be written: its tag set (tenant included) and field names
          const churn = result.ok ? guard?.check(result.point, tenant) : null;
          if (churn) {
            if (churn.first) {
              node.warn(`schema_churn: ${churn.reject.reason}`);
              warned = true;
            }
            result = { ok: false as const, reject: churn.reject };
          }
          if (result.ok) {
            const typeClash = fieldTypes.check(result.point, tenant);
            if (typeClash) result = { ok: false as const, reject: typeClash };
          }
          const evicted = (guard ? guard.evictions : 0) + fieldTypes.evictions - evictionsCounted;
          if (evicted > 0) {
            countEvicted(NORMALIZE, evicted);
            evictionsCounted += evicted;
          }
        }
        if (result.ok) {
          moby.device_id = result.point.tags.device_id;
          if (result.flags) moby.flags = result.flags;
          msg.moby = moby;
          msg.payload = result.point;
          msg.units = result.units;
          passed++;
          countOut(NORMALIZE);
          showStatus();
          const cleared = refusedAfterMs > 0 ? refusals.verified(result.point.tags.device_id, authTenant) : null;
          if (cleared) send([null, null, refusalAlert(cleared)]);
          send([msg, null]);
        } else {
          const reject: Reject = result.reject;
          if (reject.device_id === undefined && authDevice !== undefined) reject.device_id = authDevice;
          if (reject.device_id !== undefined) moby.device_id = reject.device_id;
          msg.moby = moby;
          withReject(msg, reject);
          rejected++;
          lastCode = reject.code;
          countRejected(NORMALIZE, reject.code);
          if (warned) rejectLog.count(reject.code, reject.device_id, Date.now());
          else {
            const line = rejectLog.note(
              `${reject.device_id ?? 'a message without a device id'}: rejected as ${reject.code} (${reject.reason}); rejected messages leave on output 2`,
              reject.code,
              reject.device_id,
              Date.now()
            );
            if (line !== null) node.warn(line);
          }
          // the device the refusal counts against: the authenticated one when there is one (a payload may claim
          // another id), else the claimed one
          const refusedDevice = authDevice ?? reject.device_id;
          if (refusedAfterMs > 0 && refusedDevice !== undefined) {
            // a device id moby-hmac-verify authenticated counts from its first refusal; a claimed one only once a
            // message of it has passed here (a made-up id in an unsigned flow pages nobody)
            if (authDevice !== undefined && verified) refusals.verifiedBefore(authDevice, authTenant);
            const opened = refusals.refused(refusedDevice, reject.code, reject.reason, Date.now(), authTenant);
            if (opened) {
              countEvent(NORMALIZE, 'data_refused_alert');
              send([null, null, refusalAlert(opened)]);
            }
          }
          showStatus();
          send([null, msg]);
        }
        done();
      })
    );

    // what the schema churn guard holds against its bounds (devices 100,000; entries 500,000), summed over nodes
    const unregisterGauge = guard
      ? provideGauge(
          'moby_normalize_schema_guard',
          "What moby-normalize's schema churn guards remember: devices, entries (tag sets + names of the distinct name sets) and distinct name sets",
          ['kind'],
          () => [
            { labels: { kind: 'devices' }, value: guard!.size },
            { labels: { kind: 'entries' }, value: guard!.entries },
            { labels: { kind: 'name_sets' }, value: guard!.nameSetCount },
          ]
        )
      : () => undefined;

    node.on('close', (_removed: boolean, done: () => void) => {
      clearInterval(rejectSummary);
      clearInterval(refusalSweep);
      unregisterGauge();
      status.flush();
      status.stop();
      done();
    });
  }
  RED.nodes.registerType(NORMALIZE, NormalizeNode);
};
