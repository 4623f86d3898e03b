#!/usr/bin/env node
// moby-sim: simulated machines publishing signed telemetry over MQTT, with injectable faults.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Simulator, DEFAULT_SIM, MAX_UNACKED, readKeysFile, connectMqtt } from './lib/simulator';
import { readCsv } from './lib/csv-replay';
import { deriveDeviceKey, parseKey, signConnection, signEnvelope } from '../nodes/core/hmac/scheme';
import { FAULT_KINDS, SIGNALS } from './lib/sim-model';
import { redactUrl } from '../nodes/core/http-guard';
import { ignoreBrokenPipes } from '../nodes/core/broken-pipe';

const HELP = `moby-sim — simulated machines publishing signed telemetry over MQTT

Usage: moby-sim [options]
  --url URL            MQTT broker (default $MOBY_MQTT_URL or mqtt://127.0.0.1:1883)
  --devices N          number of devices (default 20)
  --interval MS        publish interval per device (default 1000)
  --faults PLAN        "demo", "none", or <device index|id>:<kind>[/<signal>][@seconds][*magnitude],...
                       kinds: ${FAULT_KINDS.join(', ')}
                       signals (drift, step, stuck, noise): ${SIGNALS.join(', ')}
                       magnitude in σ of the signal's normal spread (README "Incident evaluation")
  --warmup N           send each device's first N messages every --warmup-interval ms (default 0 = off);
                       the signal still advances --interval per message, so a pipeline calibrates faster
  --warmup-interval MS interval during the warm-up (default 50)
  --speed N            after the warm-up send N× faster than --interval, the signal unchanged (default 1)
  --master KEY         master key to derive per-device keys (default $MOBY_MASTER_KEY)
  --master-kid KID     kid of the derived keys (default m1)
  --tenants A,B        simulate the fleet once per tenant, on t/<tenant>/devices/<id>/telemetry (docs/tenants.md)
  --tenant-keys-dir D  per-tenant keyring files D/<tenant>.json (default: the master key for every tenant)
  --keys-file FILE     keyring JSON {"<device>": {"<kid>": "<secret>"}, "*": {"<kid>": "<master>"}}
  --mqtt5              MQTT 5 carrier (raw body + user properties) instead of the envelope
  --count N            N messages per device, then exit once the broker acknowledged all (default: run until Ctrl+C)
  --duration S         stop after S seconds
  --csv FILE           replay a CSV file (e.g. SKAB) as one device instead of simulating
  --csv-device ID      device id for --csv (default csv-001)
  --csv-sep SEP        CSV separator (default: detected)
  --rate N             rows per second for --csv (default 10)
  --seed N             random seed (default 1)
  --state FILE         keep the fleet's progress in FILE (every 5 s and on stop); started again with the same
                       settings, the machines continue where they were, without the warm-up (npm start uses
                       MOBY_HOME/sim-state.json; with --tenants one file per tenant, FILE.<tenant>)
  -h, --help           this help

Topics: devices/<id>/telemetry (data), device/status/<id> (retained signed ONLINE on connect, signed OFFLINE
on clean stop), device/lwt/<id> (retained will OFFLINE, signed at connect; each connection its own session).`;

async function replay(
  url: string,
  file: string,
  deviceId: string,
  rate: number,
  sep: string | undefined,
  master: string,
  kid: string,
  count: number
): Promise<void> {
  const { columns, rows } = readCsv(file, sep);
  const key = deriveDeviceKey(parseKey(master), deviceId);
  // birth and will signed at CONNECT, bound to this connection's session (docs/signing.md)
  let conn = signConnection({ deviceId, key, kid });
  const willOf = () => ({
    topic: `device/lwt/${deviceId}`,
    payload: Buffer.from(JSON.stringify(conn.will)),
    qos: 1 as const,
    retain: true,
  });
  const client = connectMqtt(url, { clientId: `moby-sim-${deviceId}`, will: willOf() });
  client.on('reconnect', () => {
    conn = signConnection({ deviceId, key, kid });
    client.options.will = willOf();
  });
  client.on('connect', () => {
    client.publish(`device/status/${deviceId}`, JSON.stringify(conn.birth), { qos: 1, retain: true });
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  console.log(`replaying ${rows.length} rows of ${file} as ${deviceId} at ${rate}/s (fields: ${columns.join(', ')})`);
  const limit = count > 0 ? Math.min(count, rows.length) : rows.length;
  for (let i = 0; i < limit; i++) {
    const body = JSON.stringify({ device_id: deviceId, ...rows[i].fields, timestamp: new Date().toISOString() });
    const env = signEnvelope({ deviceId, key, kid, body });
    await new Promise<void>((resolve) =>
      client.publish(`devices/${deviceId}/telemetry`, JSON.stringify(env), { qos: 1 }, () => resolve())
    );
    await new Promise((r) => setTimeout(r, 1000 / rate));
  }
  await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      devices: { type: 'string' },
      interval: { type: 'string' },
      faults: { type: 'string' },
      master: { type: 'string' },
      'master-kid': { type: 'string' },
      'keys-file': { type: 'string' },
      mqtt5: { type: 'boolean' },
      count: { type: 'string' },
      duration: { type: 'string' },
      csv: { type: 'string' },
      'csv-device': { type: 'string' },
      'csv-sep': { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      state: { type: 'string' },
      warmup: { type: 'string' },
      'warmup-interval': { type: 'string' },
      speed: { type: 'string' },
      tenants: { type: 'string' },
      'tenant-keys-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const num = (v: string | undefined, d: number, what: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${what} must be a non-negative number`);
    return n;
  };
  const url = values.url ?? process.env.MOBY_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  const master = values.master ?? process.env.MOBY_MASTER_KEY;
  const keys = values['keys-file'] ? readKeysFile(values['keys-file']) : undefined;
  if (values.csv) {
    if (!master) throw new Error('--csv needs a master key (--master or MOBY_MASTER_KEY)');
    await replay(
      url,
      values.csv,
      values['csv-device'] ?? 'csv-001',
      num(values.rate, 10, 'rate') || 10,
      values['csv-sep'],
      master,
      values['master-kid'] ?? 'm1',
      num(values.count, 0, 'count')
    );
    return;
  }
  const tenants = (values.tenants ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of tenants)
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(t)) throw new Error(`--tenants: "${t}" must be 1-64 chars of [A-Za-z0-9_-]`);
  const options = {
    ...DEFAULT_SIM,
    url,
    devices: num(values.devices, DEFAULT_SIM.devices, 'devices'),
    intervalMs: num(values.interval, DEFAULT_SIM.intervalMs, 'interval'),
    faults: values.faults ?? 'none',
    master,
    masterKid: values['master-kid'] ?? 'm1',
    keys,
    mqtt5: Boolean(values.mqtt5),
    count: num(values.count, 0, 'count'),
    seed: num(values.seed, 1, 'seed'),
    warmup: num(values.warmup, 0, 'warmup'),
    warmupIntervalMs: num(values['warmup-interval'], DEFAULT_SIM.warmupIntervalMs, 'warmup-interval') || 1,
    speed: num(values.speed, 1, 'speed') || 1,
    log: (l: string) => console.log(l),
    stateFile: values.state,
  };
  // --tenants acme,beta: the same fleet once per tenant (both have pump-001 …), each below t/<tenant>/ and
  // signed with its tenant's keys (<tenant-keys-dir>/<tenant>.json, else the master key)
  const sims = tenants.length
    ? tenants.map((tenant) => {
        const file = values['tenant-keys-dir'] ? path.join(values['tenant-keys-dir'], `${tenant}.json`) : undefined;
        return new Simulator({
          ...options,
          tenant,
          keys: file ? readKeysFile(file) : keys,
          stateFile: values.state ? `${values.state}.${tenant}` : undefined,
          log: (l: string) => console.log(`[${tenant}] ${l}`),
        });
      })
    : [new Simulator(options)];
  await Promise.all(sims.map((s) => s.start()));
  const sim = {
    stats: {
      get published() {
        return sims.reduce((n, s) => n + s.stats.published, 0);
      },
      get faulty() {
        return sims.reduce((n, s) => n + s.stats.faulty, 0);
      },
      get skipped() {
        return sims.reduce((n, s) => n + s.stats.skipped, 0);
      },
    },
    // npm start stops its simulator with MOBY: the devices leave without announcing OFFLINE (Simulator.stop)
    stop: () => Promise.all(sims.map((s) => s.stop({ announce: process.env.MOBY_SIM_QUIET_STOP !== '1' }))),
  };
  console.log(
    `${sims.reduce((n, s) => n + s.deviceIds.length, 0)} devices${tenants.length ? ` of ${tenants.length} tenants (${tenants.join(', ')})` : ''} publishing to ${redactUrl(url)} every ${values.interval ?? DEFAULT_SIM.intervalMs} ms`
  );
  for (const f of sims[0].faultPlan())
    console.log(
      `  fault: ${f.device} ${f.kind} after ${f.at} s${sims[0].secondsRun >= f.at ? ' (under way since a run before this start)' : ''}${tenants.length ? ' (every tenant)' : ''}`
    );
  if (values.warmup && !sims.some((s) => s.resumed > 0))
    console.log(
      `warm-up: the first ${values.warmup} messages per device every ${values['warmup-interval'] ?? DEFAULT_SIM.warmupIntervalMs} ms`
    );
  const report = setInterval(
    () =>
      console.log(
        `published ${sim.stats.published} messages (${sim.stats.faulty} deliberately faulty)${sim.stats.skipped ? `; ${sim.stats.skipped} readings skipped: devices held ${MAX_UNACKED} unacknowledged (the broker was unreachable or behind)` : ''}`
      ),
    30000
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1); // a second Ctrl+C: now
    stopping = true;
    clearInterval(report);
    await sim.stop(); // each device's goodbye has STOP_GRACE_MS before its connection is cut
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // started by npm start (scripts/start.js) with an IPC channel: when that script dies without stopping us
  // (kill -9, a crash), stop too instead of publishing on as an orphan
  if (process.channel) {
    process.channel.unref();
    // its reader gone, a log line must not end the run with EPIPE before the devices' state is saved
    ignoreBrokenPipes(process.stdout, process.stderr);
    process.on('disconnect', stop);
  }
  const duration = num(values.duration, 0, 'duration');
  if (duration > 0) setTimeout(stop, duration * 1000);
  // with --count the run ends once every device has sent its count and the broker acknowledged it all: before,
  // the 30 s report kept the process alive until Ctrl+C, and a script waiting for it hung (found 2026-12-05)
  if (options.count > 0) {
    const done = setInterval(() => {
      if (!sims.every((s) => s.finished)) return;
      clearInterval(done);
      console.log(`published ${sim.stats.published} messages, every one acknowledged: done`);
      void stop();
    }, 200);
  }
}

main().catch((err) => {
  console.error(`moby-sim: ${(err as Error).message}`);
  process.exit(1);
});
