// Node-RED adapters for the v1 signing scheme: moby-keyring (config node owning the device keys),
// moby-hmac-verify and moby-hmac-sign. All logic lives in nodes/core/hmac/ (scheme, keyring, verify, replay).
import fs from 'node:fs';
import path from 'node:path';
import { ReplayJournal } from '../core/hmac/replay-journal';
import { Keyring } from '../core/hmac/keyring';
import { Verifier, type KeySource } from '../core/hmac/verify';
import { signEnvelope, signUserProperties, DEVICE_ID_RULE, isDeviceId, nowSeconds } from '../core/hmac/scheme';
import { parseJsonSafe, checkValue } from '../core/safe-json';
import type { Reject } from '../core/contract';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus, SendFn, DoneFn, AnyNode } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import {
  countEvent,
  countEvicted,
  countIn,
  countOut,
  countRejected,
  countTenant,
  countTenantRejected,
  provideGauge,
} from '../lib/metrics';
import { ThrottledStatus } from '../lib/status';
import { withReject } from '../lib/reject';
import { choiceSetting, numberSetting as num, userDirPath } from '../lib/settings';
import { isPlainObject } from '../core/guards';
import { eachInBatch } from '../core/batch';
import { healthView } from '../core/health/extract';
import { isOutputWired } from '../lib/wires';
import { LineWindow } from '../core/line-window';
import { RejectLog } from '../core/reject-tally';
import { REFUSAL_RULE, RefusalWatch, refusalAlertMessage, type RefusalSignal } from '../core/hmac/refusal-watch';
import { DEFAULT_REPLAY_CAPACITY, NonceCache } from '../core/hmac/replay';
import { TENANT_PATTERN } from '../core/tenant';
import {
  KeyedRateLimiter,
  RateVerdict,
  DEFAULT_DEVICE_BURST,
  DEFAULT_DEVICE_RATE,
  DEFAULT_TENANT_BURST,
  DEFAULT_TENANT_RATE,
} from '../core/keyed-rate';

const KEYRING = 'moby-keyring';
const VERIFY = 'moby-hmac-verify';
const SIGN = 'moby-hmac-sign';

interface KeyringCreds {
  keys?: string;
  master?: string;
}

interface KeyringNode extends Node<KeyringCreds> {
  ring: Keyring;
  /** why loading failed (nothing is loaded then: a half-loaded keyring would hide mistakes) */
  problem: string | null;
}

interface KeyringDef extends NodeDef {
  keysFile?: string;
  /** reload when the keys file changes (provisioning adds devices without a redeploy) */
  watch?: boolean;
  keysEnv?: string;
  masterKid?: string;
  /**
   * a directory with one keys file per tenant, `<tenant>.json` (docs/tenants.md): each is polled and
   * reloaded on its own, so rotating one tenant's keys needs no redeploy and touches no other tenant
   */
  tenantKeysDir?: string;
}

interface VerifyDef extends NodeDef {
  keyring?: string;
  tolerance?: string | number;
  replayCache?: string | number;
  replayPerDevice?: string | number;
  replayDevices?: string | number;
  /** 'file' (default): the replay cache is journaled under the user directory and survives a crash; 'memory' */
  replayStore?: 'file' | 'memory';
  /** journal path (relative to the user directory); default moby-replay/<node id>.log */
  replayFile?: string;
  topicPattern?: string;
  topicLevel?: string | number;
  maxBytes?: string | number;
  /** per-tenant sustained rate bound, messages/s (0 = off; docs/tenants.md "Fair share of rate") */
  tenantRate?: string | number;
  /** per-tenant burst on top of the rate, messages */
  tenantBurst?: string | number;
  /** per verified device (tenant + device) sustained rate bound, messages/s (0 = off; docs/security-devices.md) */
  deviceRate?: string | number;
  /** per-device burst on top of the rate, messages */
  deviceBurst?: string | number;
  /** seconds a device that worked must send nothing verified, among 20+ refusals, before output 4 warns (0 = off) */
  refusedAfter?: string | number;
}

interface SignDef extends NodeDef {
  keyring?: string;
  deviceId?: string;
  kid?: string;
  carrier?: 'envelope' | 'mqtt5';
  /** the devices' tenant; else msg.moby.tenant (docs/tenants.md) */
  tenant?: string;
}

/**
 * msg.moby without the claims only these nodes may make (reject, auth, tenant), as an earlier node or a
 * hostile upstream may have set them. Not the reject builder (withReject keeps what msg.moby carries): this
 * runs first on every message, pass or reject, and withReject then adds the reject to what is left.
 */
function withoutClaims(msg: NodeMessage): Record<string, unknown> {
  const prev = isPlainObject(msg.moby) ? msg.moby : {};
  const { reject: _r, auth: _a, tenant: _t, ...rest } = prev;
  return rest;
}

/** How often a watched keys file is polled (fs.watchFile: works on every filesystem, incl. mounted secrets). */
const WATCH_INTERVAL_MS = 1000;

function keysFilePath(RED: NodeAPI, def: KeyringDef): string | null {
  return userDirPath(RED.settings.userDir, def.keysFile);
}

/** Builds the keyring from the inline credential, the bulk file, the environment variable and the master key. */
function loadKeyring(RED: NodeAPI, def: KeyringDef, creds: KeyringCreds): { ring: Keyring; sources: string[] } {
  const ring = new Keyring();
  const sources: string[] = [];
  if (creds.keys && creds.keys.trim()) {
    ring.load(creds.keys);
    sources.push('inline');
  }
  const full = keysFilePath(RED, def);
  if (full) {
    let text: string;
    try {
      text = fs.readFileSync(full, 'utf8');
    } catch (err) {
      throw new Error(
        `cannot read keys file ${full}: ${(err as NodeJS.ErrnoException).code || (err as Error).message}`,
        { cause: err }
      );
    }
    try {
      ring.load(text);
    } catch (err) {
      throw new Error(`keys file ${full}: ${(err as Error).message}`, { cause: err });
    }
    sources.push(`file ${full}`);
  }
  const envName = (def.keysEnv || '').trim();
  if (envName && process.env[envName]) {
    try {
      ring.load(process.env[envName] as string);
    } catch (err) {
      throw new Error(`environment variable ${envName}: ${(err as Error).message}`, { cause: err });
    }
    sources.push(`env ${envName}`);
  }
  if (creds.master) {
    ring.add('*', (def.masterKid || 'm1').trim(), creds.master);
    sources.push('master key');
  }
  return { ring, sources };
}

function tenantDirPath(RED: NodeAPI, def: KeyringDef): string | null {
  return userDirPath(RED.settings.userDir, def.tenantKeysDir);
}

/** The journal of one tenant's replay cache, beside the node's journal `file`. */
function tenantJournalFile(file: string, tenant: string): string {
  return file.replace(/(\.log)?$/, `.tenant-${tenant}.log`);
}

/** The tenants whose replay journals lie beside the node's journal `file` (names as `tenantJournalFile` makes them). */
function tenantsWithJournals(file: string): string[] {
  const stem = path.basename(file).replace(/(\.log)?$/, '.tenant-'); // tenantJournalFile's names up to the tenant
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(stem) || !name.endsWith('.log')) continue;
    const tenant = name.slice(stem.length, -'.log'.length);
    if (TENANT_PATTERN.test(tenant)) out.push(tenant);
  }
  return out;
}

/** `<tenant>.json` files of the tenant keys directory with their change stamps. */
function scanTenantDir(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fs.readdirSync(dir)) {
    const m = /^(.+)\.json$/.exec(name);
    if (!m || !TENANT_PATTERN.test(m[1])) continue;
    try {
      const st = fs.statSync(path.join(dir, name));
      if (st.isFile()) out.set(m[1], `${st.mtimeMs}:${st.size}:${st.ino}`);
    } catch {
      // removed between readdir and stat: the next scan sees it gone
    }
  }
  return out;
}

export = function (RED: NodeAPI) {
  function KeyringConfig(this: Node<KeyringCreds>, def: KeyringDef) {
    RED.nodes.createNode(this, def);
    const self = this as KeyringNode;
    self.ring = new Keyring();
    self.problem = null;
    let loaded = false;
    // the rings loaded from the tenant keys directory (declared below; a reload of the main keys keeps them)
    let tenantRingsOf: () => Map<string, Keyring> = () => new Map();
    const load = () => {
      try {
        const { ring, sources } = loadKeyring(RED, def, self.credentials || {});
        for (const [tenant, r] of tenantRingsOf()) if (!ring.tenant(tenant)) ring.setTenant(tenant, r);
        self.ring = ring;
        self.problem = null;
        loaded = true;
        const d = ring.describe();
        self.log(
          `keyring: ${d.devices} device(s), ${d.keys} key(s)${d.masters.length ? `, master ${d.masters.join(', ')}` : ''} from ${sources.join(', ') || 'nothing'}`
        );
        if (d.devices === 0 && d.masters.length === 0 && !d.tenants?.length && !(def.tenantKeysDir || '').trim())
          self.warn('keyring has no keys: every message will be rejected as unknown_device');
      } catch (err) {
        // once loaded, a bad edit of the watched file must not take the fleet offline: keep the last good keys
        if (loaded)
          self.error(`keys changed but could not be loaded, keeping the previous keys: ${(err as Error).message}`);
        else {
          self.problem = (err as Error).message;
          self.error(`keyring not loaded: ${self.problem}`);
        }
      }
    };
    load();
    // per-tenant keys files: each tenant's ring is replaced on its own (rotation without a redeploy); a bad
    // file keeps that tenant's previous keys and never touches another tenant's
    const tenantDir = tenantDirPath(RED, def);
    const tenantStamps = new Map<string, string>();
    const tenantRings = new Map<string, Keyring>();
    tenantRingsOf = () => tenantRings;
    const scanTenants = (first: boolean) => {
      let files: Map<string, string>;
      try {
        files = scanTenantDir(tenantDir as string);
      } catch (err) {
        if (first) {
          const code = (err as NodeJS.ErrnoException).code;
          // it is scanned again every few seconds: a directory created later is read then
          self.error(
            code === 'ENOENT'
              ? `tenant keys directory ${tenantDir} does not exist: no tenant's device is verified until it holds a <tenant>.json per tenant (npm start -- --tenants creates it; docs/tenants.md)`
              : `tenant keys directory ${tenantDir}: ${code || (err as Error).message}`
          );
        }
        return;
      }
      for (const [tenant, stamp] of files) {
        if (tenantStamps.get(tenant) === stamp) continue;
        tenantStamps.set(tenant, stamp);
        try {
          const ring = new Keyring().load(fs.readFileSync(path.join(tenantDir as string, `${tenant}.json`), 'utf8'));
          tenantRings.set(tenant, ring);
          self.ring.setTenant(tenant, ring);
          const d = ring.describe();
          self.log(
            `keyring: tenant ${tenant}: ${d.devices} device(s), ${d.keys} key(s)${d.masters.length ? `, master ${d.masters.join(', ')}` : ''}`
          );
        } catch (err) {
          self.error(
            `keys of tenant ${tenant} not loaded${tenantRings.has(tenant) ? ', keeping its previous keys' : ''}: ${(err as Error).message}`
          );
        }
      }
      for (const tenant of [...tenantStamps.keys()]) {
        if (files.has(tenant)) continue;
        tenantStamps.delete(tenant);
        tenantRings.delete(tenant);
        self.ring.setTenant(tenant, null);
        self.log(`keyring: tenant ${tenant}: keys file removed, its devices are refused`);
      }
      const shared = self.ring
        .tenantsSharingMasters()
        .map(([a, b]) => `${a} and ${b}`)
        .join(', ');
      if (shared && shared !== sharedWarned)
        self.warn(
          `keyring: tenants ${shared} have the same master key: a holder of one signs as every device of the other; give each tenant a key of its own (docs/tenants.md)`
        );
      sharedWarned = shared;
    };
    let sharedWarned = '';
    if (tenantDir) {
      scanTenants(true);
      const timer = setInterval(() => scanTenants(false), WATCH_INTERVAL_MS);
      timer.unref?.();
      self.on('close', (_removed: boolean, done: () => void) => {
        clearInterval(timer);
        done();
      });
    }
    const watched = def.watch ? keysFilePath(RED, def) : null;
    if (watched) {
      const onChange = (cur: fs.Stats, prev: fs.Stats) => {
        if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) load();
      };
      fs.watchFile(watched, { interval: WATCH_INTERVAL_MS, persistent: false }, onChange);
      self.on('close', (_removed: boolean, done: () => void) => {
        fs.unwatchFile(watched, onChange);
        done();
      });
    }
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType(KEYRING, KeyringConfig, {
    credentials: { keys: { type: 'password' }, master: { type: 'password' } },
  });

  function keyringOf(node: AnyNode, id: string | undefined): KeyringNode | null {
    const cfg = id ? (RED.nodes.getNode(id) as KeyringNode | null) : null;
    if (!cfg) node.status({ fill: 'red', shape: 'ring', text: 'no keyring' });
    else if (cfg.problem) node.status({ fill: 'red', shape: 'ring', text: 'keyring error' });
    return cfg;
  }

  /** Checked per message: a watched keys file can repair (or a first load break) the keyring at any time. */
  function unusable(cfg: KeyringNode | null): Error | null {
    if (!cfg) return new Error('no keyring configured');
    if (cfg.problem) return new Error(`keyring not loaded: ${cfg.problem}`);
    return null;
  }

  /** The keyring's current keys, also after a reload replaced its Keyring. */
  function currentKeys(cfg: KeyringNode): KeySource {
    return { lookup: (deviceId, kid, tenant) => cfg.ring.lookup(deviceId, kid, tenant) };
  }

  // a batch's activity views leave in a send() of their own (core/batch.ts), so they are not cloned either
  const VERIFY_BATCH = { ownSend: [2] };

  function HmacVerify(this: Node, def: VerifyDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const cfg = keyringOf(node, def.keyring);
    const status = new ThrottledStatus(node);
    let passed = 0;
    let rejected = 0;
    /** the reject code of the last message, null when it passed */
    let lastRefused: string | null = null;
    /** the counters' status, built when the dot is refreshed (≤ 2/s), not for every message */
    const verifyStatus = (): NodeStatus => ({
      fill: lastRefused !== null ? 'yellow' : 'green',
      shape: 'dot',
      // the rate refusals stay visible while other devices' messages pass (the last code alone would flicker)
      text: `✓ ${passed}  ✗ ${rejected}${lastRefused !== null ? ` (${lastRefused})` : ''}${rateRefused ? `  rate ✗ ${rateRefused}` : ''}`,
    });
    const refusedAfterMs = num(def.refusedAfter, 60, 0) * 1000;
    const refusals = new RefusalWatch({ minSilenceMs: refusedAfterMs });
    /** A replay cache just restored from its journal: its devices were verified before this start. */
    const provenBy = (cache: NonceCache, tenant?: string) => {
      for (const id of cache.deviceIds()) refusals.verifiedBefore(id, tenant);
    };
    let verifier: Verifier | null = null;
    let journal: ReplayJournal | null = null;
    let setupError: Error | null = cfg ? null : new Error('no keyring configured');
    // the journal needs the cache and the cache reports to the journal: records go through this indirection
    let sink: ((line: string) => void) | undefined;
    const wantFile = def.replayStore !== 'memory';
    // each tenant's replay cache has its own journal beside the node's (created with the tenant's cache)
    let journalFile: string | null = null;
    const tenantJournals: ReplayJournal[] = [];
    const cacheSize = num(def.replayCache, DEFAULT_REPLAY_CAPACITY, 1);
    const tenantCache = (tenant: string): NonceCache => {
      let tj: ReplayJournal | null = null;
      const cache = new NonceCache({
        windowSec: num(def.tolerance, 300, 0),
        capacity: cacheSize,
        perDevice: num(def.replayPerDevice, 10000, 1),
        maxDevices: num(def.replayDevices, 100000, 1),
        onRecord: journalFile ? (line) => tj?.record(line) : undefined,
      });
      if (journalFile) {
        const file = tenantJournalFile(journalFile, tenant);
        try {
          const j = new ReplayJournal(cache, { file });
          tj = j;
          j.open(nowSeconds());
          tenantJournals.push(j);
          provenBy(cache, tenant);
        } catch (err) {
          tj = null;
          node.error(
            `replay journal ${file} of tenant ${tenant}: ${(err as Error).message}; its replay cache is kept in memory only`
          );
        }
      }
      return cache;
    };
    if (cfg) {
      try {
        verifier = new Verifier({
          keys: currentKeys(cfg),
          toleranceSec: num(def.tolerance, 300, 0),
          replayCacheSize: cacheSize,
          replayPerDevice: num(def.replayPerDevice, 10000, 1),
          replayDevices: num(def.replayDevices, 100000, 1),
          onReplayRecord: wantFile ? (line) => sink?.(line) : undefined,
          limits: { maxBytes: num(def.maxBytes, 65536, 256) },
          topicPattern: (def.topicPattern || '').trim() || undefined,
          topicDeviceLevel: num(def.topicLevel, 1, 1),
          tenantNonces: tenantCache,
        });
      } catch (err) {
        setupError = err as Error;
        node.status({ fill: 'red', shape: 'ring', text: 'bad topic pattern' });
        node.error(setupError.message);
      }
    }
    if (verifier && wantFile) {
      const userDir = RED.settings.userDir;
      const rel =
        (def.replayFile || '').trim() || path.join('moby-replay', `${node.id.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`);
      if (!path.isAbsolute(rel) && !userDir) {
        // no user directory (embedded runtimes): say so rather than pretend restarts are covered
        node.warn(
          'replay cache kept in memory only: no Node-RED user directory for its journal (set replayFile to an absolute path)'
        );
      } else {
        const file = path.isAbsolute(rel) ? rel : path.join(userDir as string, rel);
        journalFile = file;
        try {
          const j = new ReplayJournal(verifier.nonces, { file });
          sink = (line) => j.record(line);
          const { loaded } = j.open(nowSeconds());
          journal = j;
          if (j.lastError)
            node.warn(
              `replay journal ${file} not compacted at start (${j.lastError.message}): appending to it as it is`
            );
          if (loaded)
            node.log(
              `replay cache: ${verifier.nonces.size} nonce(s) of ${verifier.nonces.deviceCount} device(s) restored from ${file}`
            );
          provenBy(verifier.nonces);
        } catch (err) {
          // without its journal a restart would reopen replays: refuse to verify rather than run unprotected
          sink = undefined;
          journalFile = null;
          setupError = new Error(`replay journal ${file}: ${(err as Error).message}`);
          node.error(setupError.message);
          node.status({ fill: 'red', shape: 'ring', text: 'replay journal error' });
          verifier = null;
        }
      }
    }
    if (verifier && journalFile) {
      // the tenants' journals are read now, not at each tenant's first verified message: a tenant whose every
      // message is refused after a restart (its keys rotated meanwhile) must still count as having worked
      try {
        for (const tenant of tenantsWithJournals(journalFile)) verifier.noncesOf(tenant);
      } catch (err) {
        node.warn(`tenants' replay journals beside ${journalFile} not read at start: ${(err as Error).message}`);
      }
    }
    const active = verifier;
    // only verified tenants and devices reach the buckets: a forged message cannot spend another's budget
    const tenantRate = new KeyedRateLimiter({
      ratePerSec: num(def.tenantRate, DEFAULT_TENANT_RATE, 0),
      burst: num(def.tenantBurst, DEFAULT_TENANT_BURST, 1),
    });
    // one bucket per tenant + device, as many per tenant as the replay cache remembers devices (Replay
    // devices): the same per-tenant bound, so a device-id flood of one tenant evicts only its own buckets
    const deviceRate = new KeyedRateLimiter({
      ratePerSec: num(def.deviceRate, DEFAULT_DEVICE_RATE, 0),
      burst: num(def.deviceBurst, DEFAULT_DEVICE_BURST, 1),
      maxKeys: num(def.replayDevices, 100000, 1),
    });
    let rateRefused = 0;
    /** device buckets evicted so far, as already counted in moby_evictions_total */
    let evictionsSeen = 0;
    /**
     * Marks an authentic message refused by a rate bound (device_rate or tenant_rate): reject output, counted by
     * code (and per tenant), and one warning per episode of the key (the bucket full again ends it), not one per
     * refused message.
     */
    function refuseOverRate(
      msg: NodeMessage,
      moby: Record<string, unknown>,
      code: 'device_rate' | 'tenant_rate',
      who: string,
      limiter: KeyedRateLimiter,
      verdict: RateVerdict,
      deviceId: string,
      field: 'device_id' | 'tenant',
      tenant: string | undefined
    ): void {
      rejected++;
      rateRefused++;
      msg.moby = moby;
      withReject(msg, {
        code,
        reason: `${who} is over its rate bound (${limiter.describe()})`,
        device_id: deviceId,
        field,
      });
      countRejected(VERIFY, code);
      if (tenant !== undefined) countTenantRejected(VERIFY, tenant, code);
      if (verdict === RateVerdict.RefuseFirst)
        node.warn(`${who} is over its rate bound (${limiter.describe()}): its excess is rejected as ${code}`);
    }
    const unregister = active
      ? provideGauge(
          'moby_hmac_nonce_cache_entries',
          "Nonces remembered by hmac-verify nodes for replay detection (every tenant's cache included)",
          [],
          // the tenants' caches too: tenant keys have caches of their own, and the gauge read 0 for ever in a
          // tenants deployment (red-team round 2026-12-06)
          () => {
            let n = active.nonces.size;
            for (const c of active.tenantNonceCaches().values()) n += c.size;
            return [{ labels: {}, value: n }];
          }
        )
      : () => undefined;
    // not over keyringOf's red "no keyring" / "keyring error" (integrator review 2026-12-06: a verify node without
    // keys showed nothing, then only a done(err) per message)
    if (active && cfg && !cfg.problem) node.status({ fill: 'grey', shape: 'ring', text: 'waiting' });

    // Group commit: accepted messages wait (one turn of the event loop) until the records of their nonces are
    // written to the journal with one write(), then leave together. A message is never acted upon before its
    // nonce is on disk, and the cost is one syscall per batch instead of one per message.
    let batch: Array<[NodeMessage, SendFn, DoneFn]> = [];
    let scheduled = false;
    // a compaction that fails (a disk with room for appends but not for a copy) loses nothing: the journal
    // still holds every record. Counted each time, warned once until one succeeds again.
    const compactFailuresSeen = new WeakMap<ReplayJournal, number>();
    const compactWarned = new WeakSet<ReplayJournal>();
    const watchCompaction = (j: ReplayJournal) => {
      const seen = compactFailuresSeen.get(j) ?? 0;
      if (j.compactFailures !== seen) {
        countEvent(VERIFY, 'journal_compact_error', j.compactFailures - seen);
        compactFailuresSeen.set(j, j.compactFailures);
        if (!compactWarned.has(j) && j.lastCompactError)
          node.warn(
            `replay journal ${j.file} not compacted (${j.lastCompactError.message}): it grows until a retry fits`
          );
        compactWarned.add(j);
      } else if (j.lastCompactError === null) compactWarned.delete(j);
    };
    const commit = () => {
      scheduled = false;
      const out = batch;
      batch = [];
      if (journal) {
        const failing = journal.lastError !== null || tenantJournals.some((j) => j.lastError !== null);
        try {
          journal.flush(nowSeconds());
          watchCompaction(journal);
          for (const j of tenantJournals) {
            j.flush(nowSeconds());
            watchCompaction(j);
          }
          if (failing && journal.lastError === null && tenantJournals.every((j) => j.lastError === null))
            node.warn('replay journal written again: messages are journaled before they pass');
        } catch (err) {
          // fail open, loudly: stopping all telemetry because the disk is full would be worse; a restart
          // before the journal works again may accept a replay of these messages. One error per episode (a
          // full disk would otherwise log one per batch); every message is counted and the status stays red.
          if (!failing)
            node.error(
              `replay journal write failed, passing messages unjournaled until it works again: ${(err as Error).message}`
            );
          countEvent(VERIFY, 'journal_error', out.length);
          status.set({
            fill: 'red',
            shape: 'ring',
            text: `replay journal: ${(err as NodeJS.ErrnoException).code || 'error'}`,
          });
        }
      }
      for (const [msg, send, done] of out) pass(msg, send, done);
    };

    // Messages outside the clock tolerance are refused as `stale`. After a pipeline stall (a full spool disk with
    // the database down, a hung Node-RED) the broker's backlog older than the tolerance is lost this way: before,
    // only moby_rejects_total{code="stale"} said so, 1,332 messages without a line (operator round 2026-12-06).
    // One line at the start of an episode, then one summary a minute while it lasts.
    const staleLog = new LineWindow({ linesPerWindow: 1, windowMs: 60_000 });
    function noteStale(reject: Reject): void {
      // the likely causes, the device's first: the hint named only the pipeline's stall and invited a wider
      // tolerance for a device whose clock was off or a replayed message (red-team round 2026-12-07)
      const future = /in the future/.test(reject.reason);
      const causes = future
        ? "the device's clock is ahead: fix its clock (NTP)"
        : "the device's clock is behind, the message is a replay, or it waited in the broker through a stall of the pipeline or a Node-RED outage longer than the tolerance; only for the last, raise the tolerance and the replay cache together (docs/durability.md)";
      const line = staleLog.note(
        `${reject.device_id ?? 'a device'}: message rejected as stale (${reject.reason}): messages outside the tolerance are lost; ${causes}`,
        Date.now()
      );
      if (line !== null) node.warn(line);
    }
    // Every other refusal (a bad signature, a replay, a malformed envelope, an unknown key …; the rate bounds
    // say theirs when they start) the same way: one line at the start, then one summary a minute while they go
    // on. Before, a device forging or replaying showed only in moby_rejects_total and on output 2, and an
    // operator watching the log never learned of it (operator round 2026-12-07: 630 refusals in 9 minutes, no line)
    // (the summary names each code's count and last device: core/reject-tally.ts)
    const rejectLog = new RejectLog();
    function noteReject(reject: Reject): void {
      const line = rejectLog.note(
        `${reject.device_id ?? 'a client'}: message rejected as ${reject.code} (${reject.reason}); rejected messages leave on output 2`,
        reject.code,
        reject.device_id,
        Date.now()
      );
      if (line !== null) node.warn(line);
    }
    const staleSummary = setInterval(() => {
      const more = staleLog.summary(Date.now());
      if (more)
        node.warn(
          `${more.unlogged} more message(s) rejected as stale in the last ${Math.round(more.windowMs / 1000)} s (moby_rejects_total{code="stale"} counts them all); the last: ${more.last}`
        );
      const others = rejectLog.summaryLine(Date.now());
      if (others) node.warn(others);
    }, 10_000);
    staleSummary.unref?.();

    // Output 4: a warning for moby-alert when every message in a keyring device's name is refused for a while
    // (a wrong key or clock), cleared by its next verified message (core/hmac/refusal-watch.ts; `refusals` is
    // made with the replay caches, which tell it the devices verified before this start)
    const refusalAlert = (sig: RefusalSignal): NodeMessage =>
      refusalAlertMessage('messages-refused', REFUSAL_RULE, sig) as NodeMessage;
    // a device nothing was refused for in 10 minutes: its alert is over
    const refusalSweep = setInterval(() => {
      for (const sig of refusals.sweep(Date.now())) node.send([null, null, null, refusalAlert(sig)]);
    }, 60_000);
    refusalSweep.unref?.();

    // Output 3 ("activity"): a small view of each verified message for device health, so that health is not
    // fed by a fan-out of output 1 that deep-clones every whole message (docs/benchmarks.md, "Views instead
    // of fan-outs"). Built only when the output is wired, before the message moves on.
    const activityWired = isOutputWired(def, 2);
    function pass(msg: NodeMessage, send: SendFn, done: DoneFn): void {
      // The view leaves in a send() of its own: the runtime deep-copies every message after the first of one
      // call, and that copy of the view cost more than a second call (test/bench/views.bench.ts,
      // docs/benchmarks.md 2026-12-05). Batch mode does the same with a batch of views (VERIFY_BATCH).
      send([msg, null]);
      if (activityWired) send([null, null, healthView(msg) as NodeMessage]);
      done();
    }

    node.on(
      'input',
      eachInBatch((msg: NodeMessage, send: SendFn, done: DoneFn) => {
        countIn(VERIFY);
        const unavailable = active ? unusable(cfg) : (setupError ?? new Error('verifier not ready'));
        if (!active || unavailable) {
          if (unavailable) status.set({ fill: 'red', shape: 'ring', text: cfg ? 'keyring error' : 'no keyring' });
          done(unavailable ?? new Error('verifier not ready'));
          return;
        }
        // only the boolean set by the MQTT source from the DUP flag counts (see docs/signing.md, "Redelivery")
        const r = active.verify({
          payload: msg.payload,
          userProperties: msg.userProperties,
          topic: msg.topic,
          redelivered: msg.redelivered === true,
        });
        const moby = withoutClaims(msg);
        // the device's bucket first: a flooding device is refused before it spends its tenant's budget (the
        // tenant's other devices keep theirs); its messages that pass then count against the tenant
        const deviceVerdict = r.ok ? deviceRate.take(r.deviceId, r.tenant) : RateVerdict.Pass;
        if (deviceRate.evictions !== evictionsSeen) {
          // a bucket forgotten to stay within the bound (its device starts again with a full one)
          countEvicted(VERIFY, deviceRate.evictions - evictionsSeen);
          evictionsSeen = deviceRate.evictions;
        }
        const tenantVerdict =
          r.ok && deviceVerdict === RateVerdict.Pass && r.tenant !== undefined
            ? tenantRate.take(r.tenant)
            : RateVerdict.Pass;
        if (r.ok && deviceVerdict !== RateVerdict.Pass) {
          // over its device's rate: refused like tenant_rate (settled upstream as deliberately rejected)
          const who = r.tenant !== undefined ? `device ${r.deviceId} of tenant ${r.tenant}` : `device ${r.deviceId}`;
          refuseOverRate(msg, moby, 'device_rate', who, deviceRate, deviceVerdict, r.deviceId, 'device_id', r.tenant);
        } else if (r.ok && r.tenant !== undefined && tenantVerdict !== RateVerdict.Pass) {
          // over its tenant's rate: refused (and settled upstream as deliberately rejected), see keyed-rate.ts
          const who = `tenant ${r.tenant}`;
          refuseOverRate(msg, moby, 'tenant_rate', who, tenantRate, tenantVerdict, r.deviceId, 'tenant', r.tenant);
        } else if (r.ok) {
          passed++;
          const cleared = refusals.verified(r.deviceId, r.tenant);
          if (cleared) send([null, null, null, refusalAlert(cleared)]);
          msg.payload = r.body;
          moby.device_id = r.deviceId;
          if (r.tenant !== undefined) {
            moby.tenant = r.tenant;
            countTenant(VERIFY, r.tenant);
          }
          moby.auth = r.redelivered
            ? { kid: r.kid, ts: r.ts, verified: true, redelivered: true }
            : { kid: r.kid, ts: r.ts, verified: true };
          msg.moby = moby;
          countOut(VERIFY);
          if (r.redelivered) countEvent(VERIFY, 'redelivered');
        } else {
          rejected++;
          // the device id of a reject is only claimed, so it stays inside moby.reject
          msg.moby = moby;
          withReject(msg, r.reject);
          countRejected(VERIFY, r.reject.code);
          if (r.reject.code === 'stale') noteStale(r.reject);
          else noteReject(r.reject);
          const opened =
            refusedAfterMs > 0
              ? refusals.refused(r.reject.device_id, r.reject.code, r.reject.reason, Date.now(), r.tenant)
              : null;
          if (opened) {
            countEvent(VERIFY, 'messages_refused_alert');
            send([null, null, null, refusalAlert(opened)]);
          }
        }
        // withReject replaces msg.moby, so the verdict is read from the message, not the local copy
        const refused = (msg.moby as { reject?: Reject }).reject;
        lastRefused = refused ? refused.code : null;
        if (!journal || journal.lastError === null) status.set(verifyStatus);
        if (refused) {
          send([null, msg]);
          done();
        } else if (
          journal &&
          (journal.hasPending || (tenantJournals.length > 0 && tenantJournals.some((j) => j.hasPending)))
        ) {
          batch.push([msg, send, done]);
          if (!scheduled) {
            scheduled = true;
            setImmediate(commit);
          }
        } else if (batch.length) {
          batch.push([msg, send, done]); // keeps order behind messages still waiting for their write
        } else pass(msg, send, done);
      }, VERIFY_BATCH)
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      if (batch.length) commit();
      clearInterval(staleSummary);
      clearInterval(refusalSweep);
      status.stop();
      unregister();
      try {
        journal?.close(nowSeconds());
        for (const j of tenantJournals) j.close(nowSeconds());
      } catch (err) {
        node.warn(`closing the replay journal: ${(err as Error).message}`);
      }
      active?.nonces.clear();
      done();
    });
  }
  RED.nodes.registerType(VERIFY, HmacVerify);

  function HmacSign(this: Node, def: SignDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const cfg = keyringOf(node, def.keyring);
    const fixedDevice = (def.deviceId || '').trim();
    const fixedKid = (def.kid || '').trim() || undefined;
    const carrier = choiceSetting(def.carrier, ['envelope', 'mqtt5'], 'envelope');
    const fixedTenant = (def.tenant || '').trim() || undefined;
    const status = new ThrottledStatus(node);
    let signed = 0;
    let rejected = 0;
    const signStatus = (): NodeStatus => ({
      fill: 'green',
      shape: 'dot',
      text: `signed ${signed}${rejected ? `  ✗ ${rejected}` : ''}`,
    });

    function rejectMsg(msg: NodeMessage, send: SendFn, reject: Reject): void {
      rejected++;
      msg.moby = withoutClaims(msg);
      withReject(msg, reject);
      countRejected(SIGN, reject.code);
      send([null, msg]);
    }

    node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
      countIn(SIGN);
      const unavailable = unusable(cfg);
      if (unavailable || !cfg) {
        status.set({ fill: 'red', shape: 'ring', text: cfg ? 'keyring error' : 'no keyring' });
        done(unavailable ?? new Error('no keyring configured'));
        return;
      }
      // the body: JSON text is signed byte for byte; an object is serialised once and that text is signed
      let body: string;
      let parsed: unknown;
      const p = msg.payload;
      if (typeof p === 'string' || Buffer.isBuffer(p)) {
        body = typeof p === 'string' ? p : p.toString('utf8');
        const r = parseJsonSafe(body);
        if (!r.ok) {
          rejectMsg(msg, send, {
            code: 'malformed',
            reason: `payload: ${r.reject.reason}`,
            field: r.reject.field ? `payload.${r.reject.field}` : 'payload',
          });
          done();
          return;
        }
        parsed = r.value;
      } else {
        const bad = checkValue(p);
        if (bad) {
          rejectMsg(msg, send, {
            code: 'malformed',
            reason: `payload: ${bad.reason}`,
            field: bad.field ? `payload.${bad.field}` : 'payload',
          });
          done();
          return;
        }
        parsed = p;
        body = JSON.stringify(p);
      }
      if (!isPlainObject(parsed)) {
        rejectMsg(msg, send, {
          code: 'malformed',
          reason: 'payload must be a JSON object (telemetry)',
          field: 'payload',
        });
        done();
        return;
      }
      const moby = isPlainObject(msg.moby) ? msg.moby : {};
      const deviceId =
        fixedDevice ||
        (typeof moby.device_id === 'string' ? moby.device_id : '') ||
        (typeof parsed.device_id === 'string' ? parsed.device_id : '');
      if (!isDeviceId(deviceId)) {
        rejectMsg(msg, send, {
          code: 'malformed',
          reason: deviceId
            ? `device id "${String(deviceId).slice(0, 40)}" must be ${DEVICE_ID_RULE}`
            : 'no device id: set it on the node, in msg.moby.device_id or payload.device_id',
          field: 'device_id',
        });
        done();
        return;
      }
      const tenant = fixedTenant ?? (typeof moby.tenant === 'string' && moby.tenant ? moby.tenant : undefined);
      if (tenant !== undefined && !TENANT_PATTERN.test(tenant)) {
        rejectMsg(msg, send, {
          code: 'malformed',
          reason: 'tenant must be 1-64 chars of [A-Za-z0-9_-]',
          device_id: deviceId,
          field: 'tenant',
        });
        done();
        return;
      }
      const found = cfg.ring.signingKey(deviceId, fixedKid, tenant);
      if (!found.ok || !found.key) {
        rejectMsg(msg, send, {
          code: found.ok ? 'unknown_key' : found.code,
          reason: found.ok ? 'no key' : found.reason,
          device_id: deviceId,
        });
        done();
        return;
      }
      const kid = found.key.kid;
      if (carrier === 'mqtt5') {
        const s = signUserProperties({ deviceId, key: found.key.key, kid, body, tenant });
        msg.payload = s.payload;
        msg.userProperties = { ...(isPlainObject(msg.userProperties) ? msg.userProperties : {}), ...s.userProperties };
      } else {
        msg.payload = JSON.stringify(signEnvelope({ deviceId, key: found.key.key, kid, body, tenant }));
      }
      const out = withoutClaims(msg);
      out.device_id = deviceId;
      if (tenant !== undefined) out.tenant = tenant;
      msg.moby = out;
      signed++;
      countOut(SIGN);
      send([msg, null]);
      status.set(signStatus);
      done();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      done();
    });
  }
  RED.nodes.registerType(SIGN, HmacSign);
};
