import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { MachineModel, parseFaults, deviceIdFor, telemetryBody } from '../../../bin/lib/sim-model';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readCsv, fieldName } from '../../../bin/lib/csv-replay';
import { Simulator, DEFAULT_SIM, MAX_UNACKED, STOP_GRACE_MS } from '../../../bin/lib/simulator';
import net from 'node:net';
import { Keyring } from '../../../nodes/core/hmac/keyring';
import { Verifier } from '../../../nodes/core/hmac/verify';
import { startAedes, Broker } from '../../support/aedes';
import { freePort, waitFor } from '../../support/net';

function run(model: MachineModel, seconds: number) {
  let last = model.step(1);
  for (let i = 1; i < seconds; i++) last = model.step(1);
  return last;
}

describe('simulator signal model', () => {
  it('is deterministic for a seed and keeps signals in plausible ranges', () => {
    const a = new MachineModel(0, 42);
    const b = new MachineModel(0, 42);
    for (let i = 0; i < 300; i++) assert.deepEqual(a.step(1), b.step(1));
    const r = run(new MachineModel(1, 7), 600);
    assert.ok(r.temperature > 20 && r.temperature < 120, `temperature ${r.temperature}`);
    assert.ok(r.current > 0 && r.pressure > 0 && r.flow > 0 && r.vibration >= 0);
  });

  it('bearing wear raises vibration and temperature; drift raises temperature only', () => {
    const healthy = run(new MachineModel(0, 3), 900);
    const worn = run(new MachineModel(0, 3, [{ kind: 'bearing', at: 0, magnitude: 5 }]), 900);
    const drifting = run(new MachineModel(0, 3, [{ kind: 'drift', at: 0, magnitude: 2.5 }]), 900);
    assert.ok(worn.vibration > healthy.vibration * 2, `${worn.vibration} vs ${healthy.vibration}`);
    assert.ok(worn.temperature > healthy.temperature + 5);
    // 2.5 σ/min of temperature's 1.2 °C spread for 15 minutes: 45 °C
    assert.ok(
      Math.abs(drifting.temperature - healthy.temperature - 45) < 3,
      `${drifting.temperature} vs ${healthy.temperature}`
    );
    assert.ok(Math.abs(drifting.vibration - healthy.vibration) < 0.5);
  });

  it('step, noise and stuck act on the chosen sensor by σ of its normal spread, and end with the fault', () => {
    const base = () => new MachineModel(1, 11);
    const healthy = base();
    const stepped = new MachineModel(1, 11, [{ kind: 'step', at: 100, until: 200, magnitude: 5, signal: 'current' }]);
    const stuck = new MachineModel(1, 11, [{ kind: 'stuck', at: 100, until: 200, signal: 'flow' }]);
    const noisy = new MachineModel(1, 11, [{ kind: 'noise', at: 100, magnitude: 2, signal: 'pressure' }]);
    const flows: number[] = [];
    let noiseDiff = 0;
    for (let t = 1; t <= 300; t++) {
      const h = healthy.step(1);
      const s = stepped.step(1);
      const k = stuck.step(1);
      const n = noisy.step(1);
      if (t < 100) assert.deepEqual(s, h, 'same signal before the fault');
      if (t >= 100 && t < 200) {
        assert.ok(
          Math.abs(s.current - h.current - 5 * stepped.spread.current) < 0.011,
          `step ${s.current - h.current}`
        );
        flows.push(k.flow);
        noiseDiff += (n.pressure - h.pressure) ** 2;
      }
      if (t >= 201) assert.equal(s.current, h.current, 'the step ends with the fault');
    }
    assert.equal(new Set(flows).size, 1, 'a stuck sensor repeats one reading');
    const rms = Math.sqrt(noiseDiff / 100);
    assert.ok(rms > 1.3 * noisy.spread.pressure && rms < 2.7 * noisy.spread.pressure, `noise rms ${rms}`);
  });

  it('a restart (power cut) has the machine off for its minutes, cooling, and back cold, warming up', () => {
    const healthy = new MachineModel(2, 21);
    const cut = new MachineModel(2, 21, [{ kind: 'restart', at: 600, magnitude: 20 }]);
    let before = 0;
    let offSeconds = 0;
    const after: number[] = [];
    for (let t = 1; t <= 600 + 1200 + 600; t++) {
      const h = healthy.step(1);
      const c = cut.step(1);
      if (!cut.running) {
        offSeconds++;
        continue;
      }
      if (t === 599) before = c.temperature;
      if (t > 1800) after.push(c.temperature - h.temperature);
    }
    assert.equal(offSeconds, 1200, 'off for its 20 minutes');
    assert.ok(after[0] < -15, `back ${after[0].toFixed(1)} °C colder than a machine that ran on`);
    assert.ok(Math.abs(after[after.length - 1]) < 2, `warmed up after 10 minutes: ${after[after.length - 1]}`);
    assert.ok(before > 40, 'it was warm before');
    assert.deepEqual(parseFaults('1:restart@30*5', ['a', 'b']).get('b'), [{ kind: 'restart', at: 30, magnitude: 5 }]);
  });

  it('parses signal and magnitude in fault plans', () => {
    const ids = Array.from({ length: 4 }, (_, i) => deviceIdFor(i));
    assert.deepEqual(parseFaults('2:step/current@60*4,3:stuck/flow', ids).get(ids[2]), [
      { kind: 'step', at: 60, signal: 'current', magnitude: 4 },
    ]);
    assert.throws(() => parseFaults('1:step/torque@5', ids), /unknown signal/);
    const demo = parseFaults(
      'demo',
      Array.from({ length: 20 }, (_, i) => deviceIdFor(i)),
      20,
      915
    );
    assert.deepEqual(demo.get(deviceIdFor(10)), [{ kind: 'drift', at: 915, magnitude: 4, signal: 'flow' }]);
  });

  it('parses fault plans and refuses typos', () => {
    const ids = Array.from({ length: 20 }, (_, i) => deviceIdFor(i));
    const demo = parseFaults('demo', ids);
    assert.equal(demo.get(ids[2])?.[0].kind, 'silence');
    assert.equal(demo.get(ids[4])?.[0].kind, 'disconnect');
    const custom = parseFaults(`1:spikes@3,${ids[5]}:badsig`, ids);
    assert.deepEqual(custom.get(ids[1]), [{ kind: 'spikes', at: 3 }]);
    assert.deepEqual(custom.get(ids[5]), [{ kind: 'badsig', at: 20 }]);
    assert.throws(() => parseFaults('1:explode', ids), /unknown fault kind/);
    assert.throws(() => parseFaults('99:drift', ids), /no such device/);
  });

  it('builds the nested payload with units', () => {
    const body = JSON.parse(
      telemetryBody('pump-001', 'pump', { temperature: 70, vibration: 1, current: 10, pressure: 4, flow: 30 }, 0)
    );
    assert.equal(body.device_id, 'pump-001');
    assert.deepEqual(body.components.motor.temperature, { value: 70, unit: '°C' });
    assert.equal(body.ts, '1970-01-01T00:00:00.000Z');
  });

  it('reads SKAB-style CSV rows into snake_case numeric fields without the label columns', () => {
    const csv =
      'datetime;Accelerometer1RMS;Volume Flow RateRMS;anomaly;changepoint\n2020-03-09 10:14:33;0.02;32.0;0.0;0.0\n2020-03-09 10:14:34;0.03;31.5;1.0;0.0\n';
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'moby-sim-')), 'skab.csv');
    fs.writeFileSync(file, csv);
    const { columns, rows } = readCsv(file);
    assert.deepEqual(columns, ['accelerometer1_rms', 'volume_flow_rate_rms']);
    assert.deepEqual(rows[1].fields, { accelerometer1_rms: 0.03, volume_flow_rate_rms: 31.5 });
    assert.equal(fieldName('Thermocouple'), 'thermocouple');
  });
});

const MASTER = 'hex:' + '11'.repeat(32);

/** aedes on a free port whose publishes wait for `authorize` (a broker that stops acknowledging when it holds them). */
async function gatedBroker(
  authorize: (packet: { topic: string }, done: (e: Error | null) => void) => void
): Promise<{ url: string; close(): Promise<void> }> {
  const { Aedes } = require('aedes');
  const aedes = await Aedes.createBroker({
    authorizePublish: (_c: unknown, packet: { topic: string }, done: (e: Error | null) => void) =>
      authorize(packet, done),
  });
  const server = net.createServer(aedes.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      await new Promise((r) => aedes.close(r));
      server.close();
    },
  };
}

describe('simulator over MQTT', () => {
  let broker: Broker;
  before(async () => {
    broker = await startAedes();
  });
  after(async () => {
    await broker.close();
  });

  it('publishes messages the verifier accepts, a birth message, and the will on a hard disconnect', async () => {
    const master = 'hex:' + '11'.repeat(32);
    const ring = new Keyring();
    ring.add('*', 'm1', master);
    const verifier = new Verifier({ keys: ring, topicPattern: 'devices/+/telemetry' });
    const seen: Array<{ topic: string; payload: string }> = [];
    const sub = mqtt.connect(broker.url);
    await new Promise<void>((r) => sub.on('connect', () => r()));
    await new Promise<void>((r) => sub.subscribe(['devices/+/telemetry', 'device/#'], { qos: 1 }, () => r()));
    sub.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));

    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 5,
      intervalMs: 50,
      master,
      faults: '4:disconnect@0.3',
      log: () => {},
    });
    await sim.start();
    await waitFor(() => seen.filter((m) => m.topic.endsWith('/telemetry')).length >= 20, 10000, 'telemetry');
    // wills and births are signed and bound to the connection's session (docs/signing.md)
    const signedStatus = (m: { payload: string }, status: string): string | null => {
      const r = new Verifier({ keys: ring }).verify({ payload: m.payload, fresh: false });
      return r.ok && r.body.status === status && typeof r.body.session === 'string' ? r.body.session : null;
    };
    await waitFor(
      () => seen.some((m) => m.topic === `device/lwt/${sim.deviceIds[4]}` && signedStatus(m, 'OFFLINE') !== null),
      10000,
      'will'
    );
    await sim.stop();
    sub.end(true);

    const telemetry = seen.filter((m) => m.topic.endsWith('/telemetry'));
    for (const m of telemetry) {
      const r = verifier.verify({ payload: m.payload, topic: m.topic });
      assert.ok(r.ok, JSON.stringify(!r.ok && r.reject));
    }
    for (const id of sim.deviceIds)
      assert.ok(
        seen.some((m) => m.topic === `device/status/${id}` && signedStatus(m, 'ONLINE') !== null),
        `birth of ${id}`
      );
    // the will of the cut device carries the session of its birth
    const cut = sim.deviceIds[4];
    const willSession = signedStatus(
      seen.find((m) => m.topic === `device/lwt/${cut}`)!,
      'OFFLINE'
    );
    const birthSession = signedStatus(
      seen.find((m) => m.topic === `device/status/${cut}`)!,
      'ONLINE'
    );
    assert.ok(willSession && willSession === birthSession, 'will and birth share the session');
  });

  it('a device with a restart fault cuts its connection (the broker sends its will), sends nothing, and comes back with a new session, colder', async () => {
    const seen: Array<{ topic: string; payload: string; at: number }> = [];
    const sub = mqtt.connect(broker.url);
    await new Promise<void>((r) => sub.on('connect', () => r()));
    // live messages only: the broker also hands over what earlier tests' devices retained
    sub.on('message', (topic, payload, packet) => {
      if (!packet.retain) seen.push({ topic, payload: payload.toString(), at: Date.now() });
    });
    await new Promise<void>((r) => sub.subscribe(['devices/+/telemetry', 'device/#'], { qos: 1 }, () => r()));
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 2,
      intervalMs: 1000,
      speed: 40, // 25 ms per simulated second
      master: 'hex:' + '22'.repeat(32),
      faults: '1:restart@10*1', // off from simulated second 10 for one minute
      log: () => {},
    });
    await sim.start();
    const id = sim.deviceIds[1];
    const temps = () =>
      seen
        .filter((m) => m.topic === `devices/${id}/telemetry`)
        .map((m) => JSON.parse(JSON.parse(m.payload).body).components.motor.temperature.value as number);
    await waitFor(() => temps().length >= 20, 15000, 'telemetry after the restart');
    await sim.stop();
    sub.end(true);
    const mine = seen.filter((m) => m.topic.endsWith(`/${id}`) || m.topic === `devices/${id}/telemetry`);
    const kinds = mine.map((m) => (m.topic.startsWith('devices/') ? 'data' : m.topic.split('/')[1]));
    // birth, data, the will at the cut, a second birth, data again
    const will = kinds.indexOf('lwt');
    assert.ok(will > 0, kinds.join(' '));
    assert.ok(kinds.slice(will).includes('status') && kinds.lastIndexOf('data') > will, kinds.join(' '));
    const sessions = mine
      .filter((m) => m.topic === `device/status/${id}`)
      .map((m) => JSON.parse(JSON.parse(m.payload).body).session);
    assert.equal(new Set(sessions).size, 2, `a new session after the power cut: ${kinds.join(' ')}`);
    const t = temps();
    const beforeCut = t.filter((_, k) => mine.filter((m) => m.topic.startsWith('devices/'))[k].at < mine[will].at);
    const afterCut = t.slice(beforeCut.length);
    assert.ok(beforeCut.length >= 8 && afterCut.length >= 5, `${beforeCut.length} before, ${afterCut.length} after`);
    assert.ok(
      afterCut[0] < beforeCut[beforeCut.length - 1] - 1,
      `back colder: ${beforeCut[beforeCut.length - 1]} → ${afterCut[0]}`
    );
  });

  it('takes a list of broker URLs (as MOBY_MQTT_URL holds for a cluster) and connects to one that answers', async () => {
    const dead = await freePort(); // nothing listens there
    const seen: string[] = [];
    const sub = await mqtt.connectAsync(broker.url);
    await sub.subscribeAsync('devices/+/telemetry', { qos: 1 });
    sub.on('message', (topic) => seen.push(topic));
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: `mqtt://127.0.0.1:${dead}, ${broker.url}`,
      devices: 2,
      intervalMs: 50,
      master: 'hex:' + '22'.repeat(32),
      log: () => {},
    });
    try {
      await sim.start();
      // before: the list was one URL mqtt.js could not use (it went to localhost:1883): nothing ever arrived
      await waitFor(() => seen.length >= 4, 10000, 'telemetry through the second broker of the list');
    } finally {
      await sim.stop();
      await sub.endAsync();
    }
  });

  it("stop() says OFFLINE for each device; stop({announce: false}), npm start's stop with MOBY, says nothing and leaves no will (operator round 2026-12-06: every npm start stop opened a critical alert per device)", async () => {
    const seen: Array<{ topic: string; payload: string }> = [];
    const sub = mqtt.connect(broker.url);
    await new Promise<void>((r) => sub.on('connect', () => r()));
    sub.on('message', (topic, payload, packet) => {
      if (!packet.retain) seen.push({ topic, payload: payload.toString() });
    });
    await new Promise<void>((r) => sub.subscribe(['device/#'], { qos: 1 }, () => r()));
    const offline = () =>
      seen.filter((m) => {
        try {
          return JSON.parse(JSON.parse(m.payload).body).status === 'OFFLINE';
        } catch {
          return false;
        }
      });
    try {
      for (const announce of [true, false]) {
        seen.length = 0;
        const sim = new Simulator({
          ...DEFAULT_SIM,
          url: broker.url,
          devices: 3,
          intervalMs: 50,
          master: MASTER,
          log: () => {},
        });
        await sim.start();
        await waitFor(() => seen.filter((m) => m.topic.startsWith('device/status/')).length >= 3, 10000, 'births');
        await sim.stop({ announce });
        await new Promise((r) => setTimeout(r, 500)); // a will would be published by now
        assert.deepEqual(
          offline()
            .map((m) => m.topic)
            .sort(),
          announce ? sim.deviceIds.map((id) => `device/status/${id}`).sort() : [],
          announce ? 'a signed OFFLINE per device' : 'no status and no will'
        );
      }
    } finally {
      await sub.endAsync();
    }
  });

  it('a device holds at most MAX_UNACKED messages unacknowledged and skips readings beyond, counted; it sends again once acknowledged', async () => {
    // a broker that stops acknowledging (its subscriber is behind): aedes holding the telemetry's authorization
    const held: Array<() => void> = [];
    let holding = true;
    const broker = await gatedBroker((packet, done) => {
      if (holding && packet.topic.endsWith('/telemetry')) held.push(() => done(null));
      else done(null);
    });
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 1,
      intervalMs: 2,
      master: MASTER,
      log: () => {},
    });
    try {
      await sim.start();
      await waitFor(() => sim.stats.skipped >= 20, 10000, 'skipped readings');
      assert.equal(sim.stats.published, MAX_UNACKED, 'no more than the bound in flight');
      holding = false;
      for (const release of held.splice(0)) release();
      const before = sim.stats.published;
      await waitFor(() => sim.stats.published > before + 50, 10000, 'sending again');
    } finally {
      await sim.stop();
      await broker.close();
    }
  });

  it('stops within its grace period when the broker never acknowledges the goodbye (before: stop() waited for ever, SIGINT and SIGTERM ignored)', async () => {
    let holding = false;
    // once holding, nothing a device publishes is acknowledged (a broker gone far behind)
    const broker = await gatedBroker((_packet, done) => {
      if (!holding) done(null);
    });
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 2,
      intervalMs: 50,
      master: MASTER,
      log: () => {},
    });
    try {
      await sim.start();
      await waitFor(() => sim.stats.published >= 4, 10000, 'publishing');
      holding = true;
      let hung: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        sim.stop().then(() => 'stopped'),
        new Promise<string>((r) => (hung = setTimeout(() => r('still waiting'), 5 * STOP_GRACE_MS))),
      ]);
      clearTimeout(hung);
      assert.equal(outcome, 'stopped');
    } finally {
      await broker.close();
    }
  });

  it('a broker that refuses connections costs a few log lines and a count, not one line per device and retry (cluster round 2026-12-07: 1,867 lines of one NATS outage)', async () => {
    const port = await freePort(); // nothing listens there
    const lines: string[] = [];
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: `mqtt://127.0.0.1:${port}`,
      devices: 5,
      master: MASTER,
      log: (l) => lines.push(l),
    });
    void sim.start(); // never connects
    const errors = () => lines.filter((l) => /^\S+: mqtt error /.test(l));
    // 5 devices retrying every second: at least 10 errors in 3 s
    await new Promise((r) => setTimeout(r, 3000));
    await sim.stop();
    assert.equal(errors().length, 3, lines.join('\n'));
    assert.match(errors()[0], /^[a-z]+-\d+: mqtt error connect ECONNREFUSED/);
    const summary = lines.find((l) => /more mqtt error/.test(l));
    assert.ok(summary, `the rest counted: ${lines.join('\n')}`);
    const [, more] =
      /^(\d+) more mqtt error\(s\) of the devices before the stop, the last: .*ECONNREFUSED/.exec(summary) ?? [];
    assert.ok(Number(more) >= 7, summary);
  });

  it('a fleet stopped during its warm-up says it goes on warming up when resumed, not "no warm-up" (operator round 2026-12-07)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-sim-state-'));
    const stateFile = path.join(dir, 'sim-state.json');
    const options = {
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 1,
      intervalMs: 20,
      master: 'hex:' + '23'.repeat(32),
      warmup: 1000,
      warmupIntervalMs: 20,
      stateFile,
    };
    try {
      const first = new Simulator({ ...options, log: () => {} });
      await first.start();
      await waitFor(() => first.stats.published >= 5, 10000, 'a few messages');
      await first.stop();
      const lines: string[] = [];
      const second = new Simulator({ ...options, log: (l) => lines.push(l) });
      assert.ok(second.resumed >= 5 && second.resumed < 1000);
      assert.match(lines.join('\n'), /resumed from .*, the warm-up goes on up to 1000 messages each/);
      assert.doesNotMatch(lines.join('\n'), /no warm-up/);
      assert.ok(second.secondsRun > 0, 'fault times count on from the first run');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a state file, a restarted fleet continues each machine where it was (no warm-up), another fleet starts over', async () => {
    const master = 'hex:' + '22'.repeat(32);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-sim-state-'));
    const stateFile = path.join(dir, 'sim-state.json');
    const received = new Map<string, number[]>();
    const sub = mqtt.connect(broker.url);
    await new Promise<void>((r) => sub.on('connect', () => r()));
    await new Promise<void>((r) => sub.subscribe('devices/+/telemetry', { qos: 1 }, () => r()));
    sub.on('message', (topic, payload) => {
      const body = JSON.parse(JSON.parse(payload.toString()).body);
      const id = topic.split('/')[1];
      received.set(id, [...(received.get(id) ?? []), body.components.motor.temperature.value]);
    });
    const options = { ...DEFAULT_SIM, url: broker.url, devices: 2, intervalMs: 20, master, warmup: 5, stateFile };
    try {
      const first = new Simulator({ ...options, log: () => {} });
      assert.equal(first.resumed, 0);
      await first.start();
      await waitFor(() => (received.get(first.deviceIds[0])?.length ?? 0) >= 30, 10000, 'first run');
      await first.stop();
      const saved = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      const id = first.deviceIds[0];
      await waitFor(() => received.get(id)!.length === saved.sent[id], 5000, 'every sent message received');
      const before = received.get(id)!.slice();
      received.clear();

      const lines: string[] = [];
      const second = new Simulator({ ...options, log: (l) => lines.push(l) });
      assert.equal(second.resumed, Math.max(...Object.values(saved.sent as Record<string, number>)));
      assert.match(lines.join('\n'), /resumed from .*no warm-up/);
      await second.start();
      await waitFor(() => (received.get(id)?.length ?? 0) >= 5, 10000, 'second run');
      await second.stop();
      // the same machine as a model run without a restart: the series goes on, it does not jump back
      const model = new MachineModel(0, options.seed + 0, []);
      const reference: number[] = [];
      for (let k = 0; k < before.length + 5; k++) reference.push(model.step(0.02).temperature);
      assert.deepEqual(before, reference.slice(0, before.length));
      assert.deepEqual(received.get(id)!.slice(0, 5), reference.slice(before.length));

      const other = new Simulator({ ...options, devices: 3, log: (l) => lines.push(l) });
      assert.equal(other.resumed, 0, 'a state file of another fleet is not resumed');
      assert.match(lines.join('\n'), /another fleet/);
    } finally {
      sub.end(true);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moby-sim --count exits by itself once every device sent its count and every message was acknowledged (before: ran until Ctrl+C)', async function () {
    this.timeout(60000);
    const received: string[] = [];
    const sub = mqtt.connect(broker.url);
    await new Promise<void>((r) => sub.on('connect', () => r()));
    await sub.subscribeAsync('devices/+/telemetry', { qos: 1 });
    sub.on('message', (topic) => received.push(topic));
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(__dirname, '../../../bin/moby-sim.ts'),
        ...['--url', broker.url, '--devices', '3', '--count', '7', '--interval', '20'],
        ...['--master', 'hex:' + '22'.repeat(32)],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    );
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, out);
    assert.match(out, /published 21 messages, every one acknowledged: done/);
    await waitFor(() => received.length >= 21, 5000, 'every message at the subscriber');
    sub.end(true);
    assert.equal(received.length, 21);
  });

  it('a state file it cannot write is said once per episode, not at every save, and when it is written again', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-sim-state-'));
    const stateFile = path.join(dir, 'missing', 'sim-state.json'); // its directory does not exist: every write fails
    const lines: string[] = [];
    const master = 'hex:' + '33'.repeat(32);
    const sim = new Simulator({
      ...DEFAULT_SIM,
      url: broker.url,
      devices: 2,
      master,
      stateFile,
      log: (l) => lines.push(l),
    });
    const save = () => (sim as unknown as { saveProgress(): void }).saveProgress();
    try {
      for (let k = 0; k < 5; k++) save();
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /could not write the state file .*ENOENT.*said once until it is written again/);
      fs.mkdirSync(path.dirname(stateFile));
      save();
      save();
      assert.deepEqual(lines.slice(1), [`state file ${stateFile} written again`]);
      assert.equal(JSON.parse(fs.readFileSync(stateFile, 'utf8')).v, 1);
      fs.rmSync(path.dirname(stateFile), { recursive: true });
      save();
      assert.equal(lines.length, 3, 'a new episode is said again');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
