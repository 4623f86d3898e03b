// The device simulator's runtime: one MQTT connection per device (so each has its own last will), a publish
// loop driving MachineModel, signing with the documented v1 scheme, and the network-level faults (silence,
// hard disconnect, bad signatures, replays, malformed JSON) that the pipeline must survive.
import fs from 'node:fs';
import mqtt, { MqttClient } from 'mqtt';
import {
  deriveDeviceKey,
  parseKey,
  signConnection,
  signEnvelope,
  signUserProperties,
  statusBody,
  Envelope,
  type SignedConnection,
} from '../../nodes/core/hmac/scheme';
import { MachineModel, telemetryBody, parseFaults, deviceIdFor, Fault } from './sim-model';
import { parseBrokerUrls } from '../../nodes/core/mqtt/topics';
import { LineWindow } from '../../nodes/core/line-window';

/** How long a stopping device waits for the broker to take its signed OFFLINE before it cuts the connection. */
export const STOP_GRACE_MS = 3000;

/**
 * mqtt.connect for a broker URL or a list of them ("mqtt://a:1883,mqtt://b:1883", as MOBY_MQTT_URL may hold for
 * a cluster): with several, mqtt.js tries them in turn on every (re)connect. A list given as one URL made the
 * simulator of a clustered `npm start` fall back to localhost:1883 and never connect.
 */
export function connectMqtt(url: string, opts: mqtt.IClientOptions): MqttClient {
  const servers = /[\s,]/.test(url.trim()) ? parseBrokerUrls(url) : [];
  return servers.length > 1 ? mqtt.connect({ ...opts, servers }) : mqtt.connect(url, opts);
}

export interface SimOptions {
  url: string;
  devices: number;
  intervalMs: number;
  /** telemetry topic template, `{id}` replaced by the device id */
  topic: string;
  statusTopic: string;
  lwtTopic: string;
  /** master key text (`hex:`/`base64:`/utf-8) from which per-device keys are derived */
  master?: string;
  masterKid?: string;
  /** bulk keyring JSON (`{"<device>": {"<kid>": "<secret>"}}`), used before the master key */
  keys?: Record<string, Record<string, string | { secret: string; active?: boolean; primary?: boolean }>>;
  faults: string;
  mqtt5: boolean;
  /** stop after this many messages per device (0 = run until stopped) */
  count: number;
  seed: number;
  /**
   * the first `warmup` messages of each device go out every `warmupIntervalMs` instead of intervalMs, while
   * the model still advances intervalMs per message: a pipeline calibrates on the same signal in a fraction
   * of the wall time (npm start's demo). Signal faults count simulated seconds, network faults wall seconds.
   */
  warmup: number;
  warmupIntervalMs: number;
  /** after the warm-up, send every intervalMs / speed ms (the signal still advances intervalMs per message) */
  speed: number;
  log: (line: string) => void;
  /**
   * the devices' tenant (docs/tenants.md): topics become `t/<tenant>/<topic>`, the signature covers the
   * tenant and MQTT client ids carry it, so two tenants may both simulate pump-001
   */
  tenant?: string;
  /**
   * where the fleet's progress is kept (messages sent per device, seconds run), written every few seconds and
   * on stop: a simulator started again with the same settings fast-forwards its machines to where they were
   * and skips the warm-up, instead of starting every machine over — a restarted demo is not a fleet whose
   * every sensor jumped back at once (which the detectors would rightly call anomalies)
   */
  stateFile?: string;
}

/** What a state file holds; `config` must match for it to be resumed. */
interface SimProgress {
  v: 1;
  config: string;
  seconds: number;
  sent: Record<string, number>;
}

/** Machines are not fast-forwarded beyond this many steps each (a month at 1 s): a bad file cannot stall start. */
const MAX_RESUME_STEPS = 2_600_000;

export const DEFAULT_SIM: Omit<SimOptions, 'url' | 'log'> = {
  devices: 20,
  intervalMs: 1000,
  topic: 'devices/{id}/telemetry',
  statusTopic: 'device/status/{id}',
  lwtTopic: 'device/lwt/{id}',
  masterKid: 'm1',
  faults: 'none',
  mqtt5: false,
  count: 0,
  seed: 1,
  warmup: 0,
  warmupIntervalMs: 50,
  speed: 1,
};

export interface SimStats {
  published: number;
  faulty: number;
  devices: number;
  /** readings not sent because the device already had MAX_UNACKED messages unacknowledged (the broker was unreachable or behind) */
  skipped: number;
}

/**
 * What one simulated device holds unacknowledged before it skips readings, like a device's bounded in-flight
 * window (Paho's default is 20): a broker that acknowledges slowly (overloaded, or applying back-pressure) would
 * otherwise have the simulator queue every reading of the fleet in memory, then send each device's backlog in
 * one burst.
 */
export const MAX_UNACKED = 20;

interface SimDevice {
  id: string;
  model: MachineModel;
  faults: Fault[];
  kid: string;
  key: Buffer;
  client: MqttClient | null;
  timer: NodeJS.Timeout | null;
  sent: number;
  /** messages published and not yet acknowledged by the broker */
  unacked: number;
  lastEnvelope: string | null;
  disconnected: boolean;
  /** a restart fault has the machine off: its connection was cut, it connects again when the machine is back */
  poweredOff: boolean;
  /** this connection's signed birth and will (a new session for every CONNECT, reconnects included) */
  connection: SignedConnection | null;
}

function keyFor(opts: SimOptions, id: string): { kid: string; key: Buffer } {
  const own = opts.keys?.[id];
  if (own) {
    const entries = Object.entries(own);
    const pick =
      entries.find(([, s]) => typeof s === 'object' && s.primary) ??
      entries.find(([, s]) => typeof s === 'string' || s.active !== false);
    if (pick) return { kid: pick[0], key: parseKey(typeof pick[1] === 'string' ? pick[1] : pick[1].secret) };
  }
  const masters = opts.keys?.['*'];
  if (masters) {
    const [kid, spec] = Object.entries(masters)[0];
    return { kid, key: deriveDeviceKey(parseKey(typeof spec === 'string' ? spec : spec.secret), id) };
  }
  if (!opts.master) throw new Error(`no key for ${id}: give a master key (--master / MOBY_MASTER_KEY) or a keys file`);
  return { kid: opts.masterKid ?? 'm1', key: deriveDeviceKey(parseKey(opts.master), id) };
}

export class Simulator {
  readonly stats: SimStats = { published: 0, faulty: 0, devices: 0, skipped: 0 };
  private readonly devices: SimDevice[] = [];
  private stopped = false;
  private startedAt = Date.now();
  private saver: NodeJS.Timeout | null = null;
  /** messages sent per device restored from the state file (0 when starting fresh) */
  readonly resumed: number;

  constructor(private readonly opts: SimOptions) {
    const ids = Array.from({ length: opts.devices }, (_, i) => deviceIdFor(i));
    // the demo's signal faults start 5 simulated seconds after the warm-up, i.e. once the pipeline has calibrated
    const plan = parseFaults(opts.faults, ids, 20, opts.warmup > 0 ? (opts.warmup * opts.intervalMs) / 1000 + 5 : 5);
    ids.forEach((id, i) => {
      const faults = plan.get(id) ?? [];
      const { kid, key } = keyFor(opts, id);
      this.devices.push({
        id,
        model: new MachineModel(i, opts.seed + i, faults),
        faults,
        kid,
        key,
        client: null,
        timer: null,
        sent: 0,
        unacked: 0,
        lastEnvelope: null,
        disconnected: false,
        poweredOff: false,
        connection: null,
      });
    });
    this.stats.devices = ids.length;
    this.resumed = this.resume();
  }

  /** What identifies a fleet: a state file of another fleet (other devices, seed or faults) is not resumed. */
  private configKey(): string {
    const o = this.opts;
    return JSON.stringify([o.devices, o.seed, o.faults, o.intervalMs, o.warmup, o.tenant ?? '']);
  }

  /** Seconds since the fleet started, a resumed run's earlier ones included (what fault times count). */
  get secondsRun(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  /** Fast-forwards the machines to the state file's progress; returns the messages per device restored. */
  private resume(): number {
    const file = this.opts.stateFile;
    if (!file || !fs.existsSync(file)) return 0;
    let saved: SimProgress;
    try {
      saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SimProgress;
    } catch (err) {
      this.opts.log(`state file ${file} unreadable (${(err as Error).message}): starting the machines over`);
      return 0;
    }
    if (!saved || saved.v !== 1 || saved.config !== this.configKey() || typeof saved.sent !== 'object') {
      this.opts.log(`state file ${file} is of another fleet or format: starting the machines over`);
      return 0;
    }
    const dt = this.opts.intervalMs / 1000;
    let most = 0;
    for (const d of this.devices) {
      const n = Math.min(MAX_RESUME_STEPS, Math.max(0, Math.floor(Number(saved.sent[d.id]) || 0)));
      for (let k = 0; k < n; k++) d.model.step(dt);
      d.sent = n;
      most = Math.max(most, n);
    }
    // network faults count wall seconds since the start: they go on where they were
    if (Number.isFinite(saved.seconds) && saved.seconds > 0) this.startedAt = Date.now() - saved.seconds * 1000;
    // a fleet stopped during its warm-up goes on warming up (the anomaly node has not calibrated yet): saying "no
    // warm-up" while devices sent every 100 ms confused an operator (operator round 2026-12-07)
    const warmup = this.opts.warmup ?? 0;
    this.opts.log(
      `resumed from ${file}: machines fast-forwarded to ${most} messages each, ${most + 1 < warmup ? `the warm-up goes on up to ${warmup} messages each` : 'no warm-up'}`
    );
    return most;
  }

  /** The last write of the state file failed (a full disk, a missing directory). */
  private saveFailing = false;
  /**
   * the devices' connection errors: one line per device per retry made 1,867 lines of one NATS outage (cluster
   * round 2026-12-07); a few lines, then one summary per window
   */
  private readonly errorLines = new LineWindow({ linesPerWindow: 3, windowMs: 30_000 });
  private errorSummary: NodeJS.Timeout | null = null;

  private connectionError(d: SimDevice, err: Error): void {
    const line = this.errorLines.note(`${d.id}: mqtt error ${err.message}`, Date.now());
    if (line) this.opts.log(line);
  }

  /** The errors counted and not logged: once their window is over, or all of them at the stop (`final`). */
  private sayErrorSummary(final = false): void {
    const s = this.errorLines.summary(final ? Infinity : Date.now());
    if (s)
      this.opts.log(
        `${s.unlogged} more mqtt error(s) of the devices ${final ? 'before the stop' : `in ${Math.round(s.windowMs / 1000)} s`}, the last: ${s.last}`
      );
  }

  /** Writes the fleet's progress (atomically: a crash mid-write leaves the previous file). */
  private saveProgress(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    const progress: SimProgress = {
      v: 1,
      config: this.configKey(),
      seconds: (Date.now() - this.startedAt) / 1000,
      sent: Object.fromEntries(this.devices.map((d) => [d.id, d.sent])),
    };
    try {
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(progress));
      fs.renameSync(`${file}.tmp`, file);
      if (this.saveFailing) {
        this.saveFailing = false;
        this.opts.log(`state file ${file} written again`);
      }
    } catch (err) {
      // once per episode: a full disk would otherwise say it every 5 s for as long as it lasts
      if (!this.saveFailing)
        this.opts.log(
          `could not write the state file ${file}: ${(err as Error).message} (said once until it is written again)`
        );
      this.saveFailing = true;
    }
  }

  /** A topic template with the device id filled in, below `t/<tenant>/` for a tenant. */
  private topicOf(tpl: string, id: string): string {
    const topic = tpl.replace('{id}', id);
    return this.opts.tenant ? `t/${this.opts.tenant}/${topic}` : topic;
  }

  get deviceIds(): string[] {
    return this.devices.map((d) => d.id);
  }

  faultPlan(): Array<{ device: string; kind: string; at: number }> {
    return this.devices.flatMap((d) => d.faults.map((f) => ({ device: d.id, kind: f.kind, at: f.at })));
  }

  async start(): Promise<void> {
    await Promise.all(this.devices.map((d) => this.connect(d)));
    for (const d of this.devices) {
      // stagger devices over one interval so the broker sees a steady stream, not bursts
      const offset = Math.floor(Math.random() * this.opts.intervalMs);
      d.timer = setTimeout(() => this.tick(d), offset);
    }
    if (this.opts.stateFile) {
      this.saver = setInterval(() => this.saveProgress(), 5000);
      this.saver.unref();
    }
    this.errorSummary = setInterval(() => this.sayErrorSummary(), 5000);
    this.errorSummary.unref();
  }

  /** A new session: the birth and the will of the next CONNECT, signed with the device's key. */
  private signSession(d: SimDevice): { topic: string; payload: Buffer; qos: 1; retain: true } {
    d.connection = signConnection({ deviceId: d.id, key: d.key, kid: d.kid, tenant: this.opts.tenant });
    return {
      topic: this.topicOf(this.opts.lwtTopic, d.id),
      payload: Buffer.from(JSON.stringify(d.connection.will)),
      qos: 1,
      retain: true,
    };
  }

  private connect(d: SimDevice): Promise<void> {
    const t = (tpl: string) => this.topicOf(tpl, d.id);
    const client = connectMqtt(this.opts.url, {
      clientId: this.opts.tenant ? `moby-sim-${this.opts.tenant}-${d.id}` : `moby-sim-${d.id}`,
      clean: true,
      keepalive: 10,
      reconnectPeriod: 1000,
      protocolVersion: this.opts.mqtt5 ? 5 : 4,
      // the will is signed at CONNECT and bound to this connection's session (docs/signing.md)
      will: this.signSession(d),
    });
    d.client = client;
    // mqtt.js builds each CONNECT from client.options: a reconnect is a new session with its own will
    client.on('reconnect', () => {
      client.options.will = this.signSession(d);
    });
    client.on('connect', () => {
      // birth message: retained signed ONLINE of this session, so the health node sees the device even
      // before its first data and knows which will is the current one
      client.publish(t(this.opts.statusTopic), JSON.stringify(d.connection!.birth), { qos: 1, retain: true });
    });
    client.on('error', (err) => this.connectionError(d, err));
    return new Promise((resolve) => {
      client.once('connect', () => resolve());
    });
  }

  private tick(d: SimDevice): void {
    if (this.stopped || d.disconnected) return;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const fast = d.sent + 1 < (this.opts.warmup ?? 0);
    d.timer = setTimeout(
      () => this.tick(d),
      fast ? (this.opts.warmupIntervalMs ?? this.opts.intervalMs) : this.opts.intervalMs / (this.opts.speed || 1)
    );
    const reading = d.model.step(this.opts.intervalMs / 1000);
    const active = (kind: Fault['kind']) => d.faults.some((f) => f.kind === kind && elapsed >= f.at);
    if (active('disconnect')) {
      // a hard cut (power loss, cable): no DISCONNECT packet, so the broker publishes the will
      d.disconnected = true;
      this.opts.log(`${d.id}: fault disconnect (socket destroyed, broker sends the will)`);
      (d.client as unknown as { stream?: { destroy(): void } }).stream?.destroy();
      d.client?.end(true);
      return;
    }
    if (!d.model.running) {
      // a power cut: the connection dies without DISCONNECT (the broker sends the will), nothing is sent
      if (!d.poweredOff) {
        d.poweredOff = true;
        this.opts.log(`${d.id}: fault restart (power cut: socket destroyed, back cold when it ends)`);
        (d.client as unknown as { stream?: { destroy(): void } }).stream?.destroy();
        d.client?.end(true);
        d.client = null;
      }
      return;
    }
    if (d.poweredOff) {
      d.poweredOff = false;
      d.unacked = 0; // what the cut connection had in flight is gone with it (its callbacks may come late)
      this.opts.log(`${d.id}: back from the power cut, starting cold`);
      void this.connect(d);
    }
    if (active('silence')) return; // connected but silent: keep-alive pings continue, data stops
    if (d.unacked >= MAX_UNACKED) {
      this.stats.skipped++; // the machine moved on (step above); this reading is lost, as on a device
      return;
    }
    const topic = this.topicOf(this.opts.topic, d.id);
    const body = telemetryBody(d.id, d.model.equipmentType, reading, Date.now());
    let payload: string;
    let properties: { userProperties: Record<string, string> } | undefined;
    if (active('replay') && d.lastEnvelope && Math.random() < 0.2) {
      payload = d.lastEnvelope; // byte-identical resend of an earlier message: the verifier must refuse it
      this.stats.faulty++;
    } else if (active('malformed') && Math.random() < 0.2) {
      payload = body.slice(0, Math.floor(body.length / 2)); // truncated JSON
      this.stats.faulty++;
    } else if (this.opts.mqtt5) {
      const signed = signUserProperties({ deviceId: d.id, key: d.key, kid: d.kid, body, tenant: this.opts.tenant });
      payload = signed.payload;
      properties = { userProperties: signed.userProperties };
    } else {
      const env: Envelope = signEnvelope({ deviceId: d.id, key: d.key, kid: d.kid, body, tenant: this.opts.tenant });
      if (active('badsig') && Math.random() < 0.3) {
        env.sig = `v1=${'0'.repeat(64)}`;
        this.stats.faulty++;
      }
      payload = JSON.stringify(env);
      d.lastEnvelope = payload;
    }
    if (d.client) {
      d.unacked++;
      d.client.publish(topic, payload, { qos: 1, ...(properties ? { properties } : {}) }, () => {
        if (d.unacked > 0) d.unacked--;
      });
    }
    this.stats.published++;
    d.sent++;
    if (this.opts.count > 0 && d.sent >= this.opts.count) {
      if (d.timer) clearTimeout(d.timer);
      d.timer = null;
    }
  }

  /**
   * With a count: every device has sent it and the broker acknowledged every message (nothing is left in
   * flight, so stopping now loses nothing). Always false without a count.
   */
  get finished(): boolean {
    return this.opts.count > 0 && this.devices.every((d) => d.sent >= this.opts.count && d.unacked === 0);
  }

  /**
   * Stops publishing and disconnects cleanly (devices publish OFFLINE first, as a graceful shutdown would).
   * `announce: false`: they disconnect without a word (a clean DISCONNECT sends no will either). npm start stops
   * its simulator that way when MOBY stops with it: the demo plant is switched off with its monitoring, not failing
   * under it, and every Ctrl+C of `npm start` otherwise opened a critical "device offline" alert per device, 72 in
   * an operator round's history for four stops (2026-12-06).
   */
  async stop({ announce = true }: { announce?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.saver) clearInterval(this.saver);
    if (this.errorSummary) clearInterval(this.errorSummary);
    this.sayErrorSummary(true);
    this.saveProgress();
    await Promise.all(
      this.devices.map(async (d) => {
        if (d.timer) clearTimeout(d.timer);
        if (!d.client || d.disconnected) return;
        const c = d.client;
        if (!announce) {
          await new Promise<void>((resolve) => c.end(false, {}, () => resolve()));
          return;
        }
        // a clean stop sends no will: the device says OFFLINE itself, signed and bound to its session
        const bye = signEnvelope({
          deviceId: d.id,
          key: d.key,
          kid: d.kid,
          tenant: this.opts.tenant,
          body: statusBody('OFFLINE', d.connection!.session),
        });
        // a broker that is gone or far behind never acknowledges: the goodbye gets a few seconds, then the
        // connection is cut (a tester's simulator ignored SIGINT and SIGTERM for as long as its broker was behind)
        let timer: NodeJS.Timeout | undefined;
        const acked = await Promise.race([
          new Promise<boolean>((resolve) =>
            c.publish(this.topicOf(this.opts.statusTopic, d.id), JSON.stringify(bye), { qos: 1, retain: true }, () =>
              resolve(true)
            )
          ),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS))),
        ]);
        clearTimeout(timer);
        await new Promise<void>((resolve) => c.end(!acked, {}, () => resolve()));
      })
    );
  }
}

/** Reads a keyring JSON file (same format as the keyring node's bulk file). */
export function readKeysFile(file: string): SimOptions['keys'] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  return parsed && typeof parsed === 'object' && parsed.devices ? parsed.devices : parsed;
}
