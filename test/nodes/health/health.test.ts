// moby-device-health (and moby-redis) through the real Node-RED runtime, loading the compiled nodes from dist/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import type { HealthEvent } from '../../../nodes/core/contract';
import { startAedes, type Broker } from '../../support/aedes';
import { freePort, requireBinary, sleep, waitFor } from '../../support/net';
import { coreMqttBroker, coreMqttIn } from '../../support/core-mqtt-flow';
import { useFileContextStore } from '../../support/context-store';
import { startRedis, type RedisServer } from '../../support/redis';
import { type NodeMsg as Msg } from '../../support/node-msg';

const helper = require('node-red-node-test-helper');
const healthNode = require('../../../dist/nodes/health/moby-device-health.js');
const redisNode = require('../../../dist/nodes/health/moby-redis.js');
const mqttNode = require('@node-red/nodes/core/network/10-mqtt.js');
// the same module instances the compiled node uses
const { listDevices } = require('../../../dist/nodes/lib/device-directory.js');
const { metricsText } = require('../../../dist/nodes/lib/metrics.js');

helper.init(require.resolve('node-red'));

function load(nodes: unknown[], flow: unknown[], creds: Record<string, unknown> = {}): Promise<void> {
  return new Promise((resolve, reject) =>
    helper.load(nodes, flow, creds, (err?: Error) => (err ? reject(err) : resolve()))
  );
}

// Messages are captured by a runtime hook as they are delivered, so that what a node sends while the flows
// start (before a test could attach a listener) is seen too, and `order` keeps the order across nodes.
const { hooks } = require('@node-red/util');
const delivered = new Map<string, Msg[]>();
const order: Array<{ to: string; msg: Msg }> = [];
hooks.add('onReceive.mobyHealthTest', (evt: { destination: { id: string }; msg: Msg }) => {
  const list = delivered.get(evt.destination.id) ?? [];
  list.push(evt.msg);
  delivered.set(evt.destination.id, list);
  order.push({ to: evt.destination.id, msg: evt.msg });
});

/** Everything delivered to a node from now on (also across restarts of the flows). */
function collect(id: string): Msg[] {
  const got: Msg[] = [];
  delivered.set(id, got);
  return got;
}

/** Data as it leaves moby-hmac-verify / moby-normalize in the pipeline: authenticated, so it proves the device. */
const data = (id: string, extra: Record<string, unknown> = {}) => ({
  payload: { tags: { device_id: id }, ...extra },
  moby: { device_id: id, auth: { verified: true } },
});

const events = (out: Msg[]) => out.filter((m) => m.topic === 'device-health').map((m) => m.payload as HealthEvent);
const brief = (out: Msg[]) => events(out).map((e) => `${e.device_id}:${e.previous}>${e.state}:${e.reason}`);

/**
 * The TIMEOUT of device "quiet", silent across a restart: reported one timeout (ms) after the restart, not
 * dated from its last data before it.
 */
function assertTimeoutSinceRestart(ev: HealthEvent, lastSeen: number | null, restartedAt: number, timeoutMs: number) {
  const { since, ...rest } = ev;
  assert.deepEqual(rest, {
    device_id: 'quiet',
    state: 'TIMEOUT',
    previous: 'ONLINE',
    last_seen: lastSeen,
    reason: 'timeout',
  });
  assert.ok(
    since >= restartedAt + timeoutMs,
    `since ${since} counts from the restart (${restartedAt}), not from ${lastSeen}`
  );
}

function healthFlow(opts: Record<string, unknown> = {}, id = 'h') {
  return [
    {
      id,
      type: 'moby-device-health',
      name: 'health',
      timeout: 0.3,
      sweepInterval: 0.05,
      persist: false,
      // wills apply at once in these fast flows; the will grace has tests of its own (blind.test.ts, will-hold.test.ts)
      willGrace: 0,
      wires: [[`${id}-out`], [`${id}-bad`]],
      ...opts,
    },
    { id: `${id}-out`, type: 'helper' },
    { id: `${id}-bad`, type: 'helper' },
  ];
}

describe('moby-device-health node', function () {
  afterEach(async () => {
    await helper.unload();
    delivered.clear();
    order.length = 0;
  });
  after(() => hooks.remove('*.mobyHealthTest'));

  it('data makes a device ONLINE, silence TIMEOUT, data again ONLINE; only changes are emitted', async () => {
    await load([healthNode], healthFlow());
    const out = collect('h-out');
    const h = helper.getNode('h');
    const statuses: any[] = [];
    h.on('call:status', (c: any) => statuses.push(c.args[0]));
    for (let k = 0; k < 3; k++)
      h.receive({ topic: 'telemetry', payload: { tags: { device_id: 'm1' }, fields: { t: 1 } } });
    await waitFor(() => events(out).length >= 2, 3000, 'ONLINE, then TIMEOUT');
    h.receive({ topic: 'x', payload: 1, moby: { device_id: 'm1' } });
    await waitFor(() => events(out).length >= 3, 2000, 'ONLINE again');
    assert.deepEqual(brief(out), ['m1:UNKNOWN>ONLINE:data', 'm1:ONLINE>TIMEOUT:timeout', 'm1:TIMEOUT>ONLINE:data']);
    const to = events(out)[1];
    assert.equal(to.since, to.last_seen! + 300, 'TIMEOUT dates from last_seen + timeout');
    assert.ok(out.every((m) => m.topic === 'device-health'));
    await waitFor(
      () => statuses.some((s) => s.text === '1 online · 0 offline · 0 timeout · 0 unknown' && s.fill === 'green'),
      2000,
      'status dot'
    );
  });

  it('while the pipeline cannot hear the devices (a source holds its input back) nobody times out; silence counts from when it listens again', async () => {
    // before: a full spool disk filled moby-mqtt-in's window, the broker sent nothing more, and after one
    // timeout the whole fleet was TIMEOUT — one false "stopped sending data" alert per device
    const { registerIngestProbe } = require('../../../dist/nodes/lib/ingest-watch.js');
    await load([healthNode], healthFlow());
    const out = collect('h-out');
    const h = helper.getNode('h');
    h.receive(data('m1'));
    h.receive(data('m2'));
    await waitFor(() => events(out).length >= 2, 2000, 'both ONLINE');
    let listening = false;
    const unregister = registerIngestProbe('test-source', () => listening);
    try {
      await sleep(1000); // more than three timeouts of held input
      assert.deepEqual(brief(out), ['m1:UNKNOWN>ONLINE:data', 'm2:UNKNOWN>ONLINE:data'], 'no TIMEOUT while held');
      listening = true;
      const resumed = Date.now();
      h.receive(data('m2')); // m2 is heard again, m1 stays silent
      await waitFor(() => events(out).length >= 3, 2000, 'the silent device times out');
      // m1 is due first (its silence counts from the last held sweep, at most one sweep before m2's data); on a
      // loaded machine a late sweep can find m2 due as well, one timeout after its data, which is also right
      assert.equal(brief(out)[2], 'm1:ONLINE>TIMEOUT:timeout', 'the silent device is the first to time out');
      assert.ok(
        brief(out)
          .slice(3)
          .every((e) => e === 'm2:ONLINE>TIMEOUT:timeout'),
        `only m2's own timeout may follow: ${brief(out)}`
      );
      assert.ok(events(out)[2].since >= resumed, 'its silence is counted from when the pipeline listened again');
    } finally {
      unregister();
    }
  });

  it('messages that arrive 0.4 s late, every 0.75 s, with a 1 s timeout: nobody times out while they keep coming, the lag is a gauge, and a device that stops is reported (before: every device TIMEOUT)', async () => {
    await load([healthNode], healthFlow({ timeout: 1 }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    const fleet = ['m1', 'm2', 'm3', 'm4', 'm5'];
    // a pipeline 0.4 s behind (within the clock skew, at most half the timeout): each message is due 0.6 s
    // after it arrives, before the next one (0.75 s) without the lag
    const send = (devices: string[]) => {
      for (const d of devices) h.receive(data(d, { timestamp: Date.now() - 400 }));
    };
    for (let k = 0; k < 6; k++) {
      send(fleet);
      await sleep(750);
    }
    assert.deepEqual(
      events(out).map((e) => e.state),
      fleet.map(() => 'ONLINE')
    );
    const lag = Number(/^moby_health_ingest_lag_seconds\{node="h"\} (\S+)/m.exec(await metricsText())?.[1]);
    assert.ok(lag >= 0.39 && lag < 0.6, `lag ${lag}`);
    for (let k = 0; k < 6 && !events(out).some((e) => e.state === 'TIMEOUT'); k++) {
      send(fleet.slice(1)); // m1 stops
      await sleep(750);
    }
    assert.deepEqual(brief(out).slice(fleet.length), ['m1:ONLINE>TIMEOUT:timeout']);
  });

  /** A punctual device and one whose clock is 2 s behind, each sending every 250 ms for 2 s: both stay ONLINE. */
  async function clockBehindStaysOnline(flowOpts: Record<string, unknown>) {
    await load([healthNode], healthFlow(flowOpts));
    const out = collect('h-out');
    const h = helper.getNode('h');
    for (let k = 0; k < 8; k++) {
      h.receive(data('punctual', { timestamp: Date.now() - 5 }));
      h.receive(data('behind', { timestamp: Date.now() - 2000 })); // within the 30 s skew, beyond half a 1 s timeout
      await sleep(250);
    }
    assert.deepEqual(brief(out), ['punctual:UNKNOWN>ONLINE:data', 'behind:UNKNOWN>ONLINE:data']);
  }

  it('a device whose clock is 2 s behind, with a 1 s timeout, stays ONLINE while it sends (before: TIMEOUT for good)', () =>
    clockBehindStaysOnline({ timeout: 1 }));

  it('a device with a 1 s timeout override whose clock is 2 s behind stays ONLINE while it sends, under a 60 s node timeout (before: TIMEOUT for good)', () =>
    clockBehindStaysOnline({ timeout: 60, overrides: 'behind=1\npunctual=1' }));

  it('LWT → OFFLINE (lwt), birth → ONLINE (status), status OFFLINE → OFFLINE (status); JSON and plain payloads; a birth does not resolve OFFLINE, data does', async () => {
    await load([healthNode], healthFlow({ timeout: 60, knownDevices: 'pi-1' }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    h.receive({ topic: 'device/status/pi-1', payload: 'ONLINE' });
    h.receive({ topic: 'device/lwt/pi-1', payload: Buffer.from('OFFLINE') });
    h.receive({ topic: 'device/lwt/pi-1', payload: '{"device_uuid":"pi-1","status":"ONLINE"}' });
    await sleep(100);
    h.receive(data('pi-1'));
    h.receive({ topic: 'device/status/pi-1', payload: { device_id: 'pi-1', status: 'OFFLINE' } });
    await waitFor(() => events(out).length === 4, 2000, 'four transitions');
    assert.deepEqual(brief(out), [
      'pi-1:UNKNOWN>ONLINE:status',
      'pi-1:ONLINE>OFFLINE:lwt',
      'pi-1:OFFLINE>ONLINE:data',
      'pi-1:ONLINE>OFFLINE:status',
    ]);
  });

  it('first news being a will (UNKNOWN → OFFLINE), a will after a timeout (TIMEOUT → OFFLINE), and hold-down against flapping', async () => {
    await load([healthNode], healthFlow({ timeout: 0.3, holdDown: 0.4, knownDevices: 'never' }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    h.receive({ topic: 'device/lwt/never', payload: 'OFFLINE' });
    h.receive(data('flappy'));
    await waitFor(
      () => events(out).some((e) => e.device_id === 'flappy' && e.state === 'TIMEOUT'),
      2000,
      'flappy times out'
    );
    h.receive({ topic: 'device/status/flappy', payload: 'OFFLINE' });
    // flaps: back, down again, back; held down, so no ONLINE until it has stayed up for 0.4 s
    h.receive(data('flappy'));
    await sleep(100);
    h.receive({ topic: 'device/lwt/flappy', payload: 'OFFLINE' });
    await sleep(20);
    for (let k = 0; k < 6; k++) {
      h.receive(data('flappy'));
      await sleep(100);
    }
    await waitFor(
      () => events(out).filter((e) => e.device_id === 'flappy').length >= 4,
      2000,
      'flappy back after hold-down'
    );
    assert.deepEqual(brief(out).slice(0, 5), [
      'never:UNKNOWN>OFFLINE:lwt',
      'flappy:UNKNOWN>ONLINE:data',
      'flappy:ONLINE>TIMEOUT:timeout',
      'flappy:TIMEOUT>OFFLINE:status',
      'flappy:OFFLINE>ONLINE:data',
    ]);
    // without the hold-down the flap would have shown as ONLINE, OFFLINE (lwt), ONLINE
    assert.equal(
      brief(out).filter((b) => b === 'flappy:ONLINE>OFFLINE:lwt' || b === 'flappy:OFFLINE>ONLINE:data').length,
      1
    );
  });

  it('a stale OFFLINE (older than the latest data) does not flip a live device; a newer one does', async () => {
    await load([healthNode], healthFlow({ timeout: 60 }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    const t = Date.now();
    h.receive(data('pi-2', { timestamp: t }));
    h.receive({
      topic: 'device/lwt/pi-2',
      payload: JSON.stringify({ device_id: 'pi-2', status: 'OFFLINE', timestamp: t - 5000 }),
    });
    h.receive(data('pi-2', { timestamp: t + 1 }));
    await sleep(200);
    assert.deepEqual(brief(out), ['pi-2:UNKNOWN>ONLINE:data']);
    h.receive({
      topic: 'device/lwt/pi-2',
      payload: JSON.stringify({ device_id: 'pi-2', status: 'OFFLINE', timestamp: t + 10 }),
    });
    // data older than that will does not revive it
    h.receive(data('pi-2', { timestamp: t + 5 }));
    await sleep(200);
    assert.deepEqual(brief(out), ['pi-2:UNKNOWN>ONLINE:data', 'pi-2:ONLINE>OFFLINE:lwt']);
  });

  it('per-device and per-equipment timeouts; equipment_id is carried on events', async () => {
    await load([healthNode], healthFlow({ timeout: 60, overrides: 'fast=0.2\nequipment:press-9=0.4' }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    h.receive({ payload: { tags: { device_id: 'fast' } } });
    h.receive({ payload: { tags: { device_id: 'slow' } } });
    h.receive({ payload: { tags: { device_id: 'p9', equipment_id: 'press-9' } } });
    await waitFor(() => events(out).filter((e) => e.state === 'TIMEOUT').length === 2, 3000, 'two timeouts');
    await sleep(200);
    const timeouts = events(out).filter((e) => e.state === 'TIMEOUT');
    assert.deepEqual(
      timeouts.map((e) => e.device_id),
      ['fast', 'p9']
    );
    assert.equal(timeouts[1].equipment_id, 'press-9');
    assert.equal(timeouts[1].since - timeouts[1].last_seen!, 400);
  });

  it('snapshot emits the whole table; known devices appear as UNKNOWN and time out; GET /moby/devices source and gauge', async () => {
    await load([healthNode], healthFlow({ timeout: 1, knownDevices: 'silent-1 lathe-2\nm1' }));
    const out = collect('h-out');
    const h = helper.getNode('h');
    h.receive({ topic: 'snapshot' });
    await waitFor(() => out.length === 1, 2000, 'snapshot');
    assert.equal(out[0].topic, 'snapshot');
    assert.deepEqual(
      out[0].payload.map((r: any) => [r.device_id, r.state, r.equipment_id]),
      [
        ['m1', 'UNKNOWN', undefined],
        ['silent-1', 'UNKNOWN', 'lathe-2'],
      ]
    );
    h.receive({ payload: { tags: { device_id: 'm1' } } });
    await waitFor(
      () => listDevices().some((d: any) => d.device_id === 'm1' && d.state === 'ONLINE'),
      2000,
      'directory row'
    );
    assert.match(await metricsText(), /moby_devices\{state="ONLINE"\} 1/);
    await waitFor(() => events(out).some((e) => e.device_id === 'silent-1'), 3000, 'silent known device times out');
    const silent = events(out).find((e) => e.device_id === 'silent-1')!;
    assert.deepEqual(
      [silent.previous, silent.state, silent.last_seen, silent.equipment_id],
      ['UNKNOWN', 'TIMEOUT', null, 'lathe-2']
    );
  });

  it('rejects unusable messages on output 2 with code, device and field', async () => {
    await load([healthNode], healthFlow({ timeout: 60 }));
    const bad = collect('h-bad');
    const h = helper.getNode('h');
    h.receive({ topic: 'device/lwt/pi-3', payload: 'SLEEPING' });
    h.receive({ topic: 'plant/noise', payload: 42 });
    h.receive({
      topic: 'device/status/x',
      payload: '{"device_id":"pi-3","status":"ONLINE","constructor":{"prototype":{}}}',
    });
    h.receive({ payload: { tags: { device_id: '../../etc' } } });
    await waitFor(() => bad.length === 4, 2000, 'four rejects');
    assert.deepEqual(
      bad.map((m) => [m.moby!.reject!.code, m.moby!.reject!.device_id, m.moby!.reject!.field]),
      [
        ['bad_status', 'pi-3', 'payload'],
        ['no_device_id', undefined, undefined],
        ['forbidden_key', 'x', 'payload'],
        ['bad_device_id', undefined, 'payload.tags.device_id'],
      ]
    );
  });

  it('a misconfigured node reports every input as an error to Catch nodes', async () => {
    const catchNode = require('@node-red/nodes/core/common/25-catch.js');
    await load(
      [catchNode, healthNode],
      [
        ...healthFlow({ overrides: 'pi-1=soon' }),
        { id: 'c', type: 'catch', scope: null, uncaught: false, wires: [['c-out']] },
        { id: 'c-out', type: 'helper' },
      ]
    );
    const caught = collect('c-out');
    helper.getNode('h').receive({ payload: { tags: { device_id: 'pi-1' } } });
    await waitFor(() => caught.length === 1, 2000, 'caught error');
    assert.match((caught[0] as any).error.message, /misconfigured: timeout override "pi-1=soon"/);
  });

  it('bounds the device table: a new device beyond the bound evicts the least recently active one, nothing is refused', async () => {
    await load([healthNode], healthFlow({ timeout: 60, maxDevices: 2 }));
    const out = collect('h-out');
    const bad = collect('h-bad');
    const h = helper.getNode('h');
    const statuses: any[] = [];
    h.on('call:status', (c: any) => statuses.push(c.args[0]));
    for (const id of ['a', 'b', 'a', 'c']) h.receive({ payload: { tags: { device_id: id } } });
    await waitFor(() => events(out).length === 3, 2000, 'three devices came ONLINE');
    assert.equal(bad.length, 0, 'no too_many_devices reject any more');
    assert.deepEqual(
      listDevices()
        .map((r: any) => r.device_id)
        .sort(),
      ['a', 'c'],
      'b was the least recently active'
    );
    await waitFor(() => statuses.some((st) => /1 evicted/.test(st.text)), 2000, 'status shows the eviction');
    assert.match(await metricsText(), /moby_evictions_total\{node_type="moby-device-health"\} [1-9]/);
  });

  it('the example flow loads and its injects drive the node as its comment says', async () => {
    const example = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../examples/device-health.json'), 'utf8'));
    const injectNode = require('@node-red/nodes/core/common/20-inject.js');
    const changeNode = require('@node-red/nodes/core/function/15-change.js');
    const hmacNode = require('../../../dist/nodes/hmac/moby-hmac.js');
    // as shipped, minus the mqtt nodes (no broker here) and the comment (a type the helper does not load);
    // debug nodes become helper nodes so the test sees what they would show
    const flow = example
      .filter((n: any) => !['mqtt in', 'mqtt-broker', 'comment'].includes(n.type))
      .map((n: any) => (n.type === 'debug' ? { ...n, type: 'helper' } : n));
    // the key the comment asks for, as the keyring's Keys JSON
    await load([injectNode, changeNode, hmacNode, healthNode], flow, {
      'moby-health-ex-keyring': { keys: JSON.stringify({ 'pi-7': { k1: 'pi-7-example-device-key' } }) },
    });
    const changes = collect('moby-health-ex-changes');
    const rejects = collect('moby-health-ex-rejects');
    // the will twice: the second is a replay of the spent session
    for (const key of ['data', 'birth', 'lwt', 'lwt', 'forged', 'garbage']) {
      helper.getNode(`moby-health-ex-inj-${key}`).receive({});
      await sleep(60);
    }
    // the will takes pi-7 OFFLINE once it has waited its grace (3 s, the default)
    await waitFor(() => brief(changes).includes('pi-7:ONLINE>OFFLINE:lwt'), 6000, 'the will applied');
    helper.getNode('moby-health-ex-inj-snapshot').receive({});
    await waitFor(() => changes.some((m) => m.topic === 'snapshot'), 2000, 'snapshot');
    // the signed birth does not resolve anything (pi-7's next data would); its signed will of that session does
    // make it OFFLINE, once; the forged unsigned will changes nothing
    assert.deepEqual(brief(changes), ['pi-7:UNKNOWN>ONLINE:data', 'pi-7:ONLINE>OFFLINE:lwt']);
    assert.deepEqual(
      rejects.map((m) => m.moby!.reject!.code),
      ['stale_session', 'unsigned_status', 'bad_status']
    );
    const rows = changes.find((m) => m.topic === 'snapshot')!.payload;
    assert.deepEqual(
      rows.map((r: any) => `${r.device_id}:${r.state}`),
      ['pi-7:OFFLINE', 'press-1:UNKNOWN', 'press-2:UNKNOWN']
    );
  });

  describe('restart persistence (localfilesystem context store)', () => {
    useFileContextStore(helper, 'moby-health-ctx-', 0.05);

    it('keeps states and last-seen; a device silent while Node-RED was down is reported one timeout after the restart, counted from it', async () => {
      await load([healthNode], healthFlow({ timeout: 1.5, persist: true }));
      const red = helper._redNodes;
      await red.stopFlows();
      await red.loadContextsPlugin();
      let out = collect('h-out');
      await red.startFlows();
      let h = helper.getNode('h');
      h.receive(data('quiet'));
      h.receive(data('gone'));
      h.receive({ topic: 'device/lwt/gone', payload: 'OFFLINE' });
      await waitFor(() => events(out).length === 3, 2000, 'three transitions');
      const lastSeen = events(out)[0].last_seen;
      const goneSeen = events(out)[1].last_seen;

      await red.stopFlows(); // close persists the table
      await red.closeContextsPlugin(); // flushes to disk; a fresh store reads only the files
      await sleep(1700); // longer than the timeout: "quiet" goes silent while Node-RED is down
      await red.loadContextsPlugin();
      out = collect('h-out');
      const restartedAt = Date.now();
      await red.startFlows();
      h = helper.getNode('h');
      // nobody watched "quiet" while Node-RED was down: reporting it at once would report every live device
      // after any restart longer than the timeout; it is reported after a whole timeout of silence since
      await waitFor(() => events(out).length === 1, 5000, 'timeout reported one timeout after the restart');
      assertTimeoutSinceRestart(events(out)[0], lastSeen, restartedAt, 1500);
      h.receive({ topic: 'snapshot' });
      await waitFor(() => out.some((m) => m.topic === 'snapshot'), 2000, 'snapshot');
      const rows = out.find((m) => m.topic === 'snapshot')!.payload;
      assert.deepEqual(
        rows.map((r: any) => [r.device_id, r.state, r.last_seen]),
        [
          ['gone', 'OFFLINE', goneSeen],
          ['quiet', 'TIMEOUT', lastSeen],
        ]
      );
      // the devices proven by signed data before the restart may still change their state by will
      h.receive({ topic: 'device/lwt/quiet', payload: 'OFFLINE' });
      h.receive({ topic: 'device/lwt/stranger', payload: 'OFFLINE' });
      await waitFor(
        () => events(out).some((e) => e.device_id === 'quiet' && e.state === 'OFFLINE'),
        2000,
        'will of a device proven before the restart'
      );
      assert.ok(!events(out).some((e) => e.device_id === 'stranger'));
    });
  });

  describe('flood of new device ids (localfilesystem context store)', function () {
    this.timeout(120_000); // 10k messages through the runtime on a shared, loaded machine
    useFileContextStore(helper, 'moby-health-flood-', 0.05);

    it('10k new ids against a bound of 1000: the devices that keep talking stay, and after a restart a new device is accepted', async () => {
      // the attack of issue #10: before, the 1001st id and every id after it — also after a restart, because
      // the full table was persisted — was rejected with too_many_devices
      // broker mode: the flood's births are taken as vouched for by the broker, so they reach the table (the
      // trust model would otherwise refuse strangers before they cost any state; that is tested in health-trust)
      await load([healthNode], healthFlow({ timeout: 60, maxDevices: 1000, persist: true, statusTrust: 'broker' }));
      const red = helper._redNodes;
      await red.stopFlows();
      await red.loadContextsPlugin();
      let out = collect('h-out');
      let bad = collect('h-bad');
      await red.startFlows();
      let h = helper.getNode('h');
      const evicted = async () =>
        Number(/moby_evictions_total\{node_type="moby-device-health"\} (\d+)/.exec(await metricsText())?.[1] ?? 0);
      const evictedBefore = await evicted();
      const real = Array.from({ length: 10 }, (_, k) => `real-${k}`);
      for (const id of real) h.receive({ payload: { tags: { device_id: id } } });
      for (let k = 0; k < 10_000; k++) {
        h.receive({ topic: `device/status/flood-${k}`, payload: 'ONLINE' });
        if (k % 250 === 249) for (const id of real) h.receive({ payload: { tags: { device_id: id } } });
        if (k % 1000 === 999) await sleep(1); // let the runtime deliver, as a broker would
      }
      await waitFor(
        () => events(out).length >= 10_010,
        60_000,
        `every device came ONLINE once (${events(out).length})`
      );
      assert.equal(events(out).length, 10_010, 'one ONLINE per device: no real device was evicted and came back');
      assert.equal(bad.length, 0);
      const rows = listDevices();
      assert.equal(rows.length, 1000, 'the table stays within its bound');
      for (const id of real)
        assert.ok(
          rows.some((r: any) => r.device_id === id && r.state === 'ONLINE'),
          `${id} is still tracked`
        );
      assert.equal(
        events(out).filter((e) => e.device_id.startsWith('real-')).length,
        10,
        'real devices never dropped out and came back'
      );
      assert.equal((await evicted()) - evictedBefore, 9010, 'evictions are counted in /moby/metrics');

      // graceful restart: the full table is persisted and read back, and a brand-new device is accepted
      await red.stopFlows();
      await red.closeContextsPlugin();
      await red.loadContextsPlugin();
      out = collect('h-out');
      bad = collect('h-bad');
      await red.startFlows();
      h = helper.getNode('h');
      h.receive({ payload: { tags: { device_id: 'brand-new' } } });
      await waitFor(
        () => events(out).some((e) => e.device_id === 'brand-new'),
        5000,
        'the brand-new device is accepted'
      );
      assert.equal(bad.length, 0);
      assert.equal(listDevices().length, 1000);

      // redeployed with a smaller bound: the persisted table is trimmed to its most recent devices, not refused
      await helper.setFlows(healthFlow({ timeout: 60, maxDevices: 500, persist: true, statusTrust: 'broker' }), 'full');
      await waitFor(() => listDevices().length === 500, 5000, 'trimmed to the new bound');
      const after = listDevices();
      for (const id of [...real, 'brand-new'])
        assert.ok(
          after.some((r: any) => r.device_id === id),
          `${id} survived the restart and the trim`
        );
    });
  });

  describe('with a real MQTT broker', () => {
    let broker: Broker;
    before(async () => {
      broker = await startAedes();
    });
    after(async () => {
      await broker.close();
    });

    it('a device whose connection is cut off is OFFLINE (lwt) within 2 s through its last will', async () => {
      await load(
        [mqttNode, healthNode],
        [
          coreMqttBroker(broker.port),
          coreMqttIn('in-lwt', 'device/lwt/+', [['h']], { datatype: 'auto-detect' }),
          coreMqttIn('in-data', 'factory/+/+/#', [['h']], { qos: '0', datatype: 'auto-detect' }),
          // pi-9 sends unsigned data here, so it is listed as a known device to be trusted with its will
          ...healthFlow({ timeout: 60, activityTopics: 'factory/+/{device_id}/#', knownDevices: 'pi-9' }),
        ]
      );
      const out = collect('h-out');
      await waitFor(() => helper.getNode('b').connected, 5000, 'node-red connected to the broker');
      await sleep(100); // subscriptions in place
      const device = mqtt.connect(broker.url, {
        clientId: 'pi-9',
        keepalive: 10,
        will: { topic: 'device/lwt/pi-9', payload: Buffer.from('OFFLINE'), qos: 1, retain: true },
      });
      await new Promise<void>((resolve, reject) => device.once('connect', () => resolve()).once('error', reject));
      await device.publishAsync('device/lwt/pi-9', 'ONLINE', { qos: 1, retain: true });
      await device.publishAsync('factory/hall-1/pi-9/vibration', '{"rms":0.12}', { qos: 0 });
      await waitFor(() => events(out).length === 1, 3000, 'ONLINE');
      const cut = Date.now();
      (device as any).stream.destroy(); // no DISCONNECT: the broker must publish the will
      await waitFor(() => events(out).length === 2, 2000, 'OFFLINE from the will');
      assert.ok(Date.now() - cut < 2000);
      device.end(true);
      assert.deepEqual(brief(out), ['pi-9:UNKNOWN>ONLINE:lwt', 'pi-9:ONLINE>OFFLINE:lwt']);
    });
  });

  describe('with a shared Redis (two node instances, two connections)', () => {
    let server: RedisServer;
    before(async function () {
      const bin = requireBinary(this, 'redis-server');
      server = await startRedis(bin);
    });
    after(async () => {
      await server?.stop();
    });

    function sharedFlow(prefix: string, opts: Record<string, unknown> = {}) {
      const common = { store: 'redis', keyPrefix: prefix, timeout: 0.5, sweepInterval: 0.05, ...opts };
      return [
        { id: 'r1', type: 'moby-redis', host: '127.0.0.1', port: server.port, db: 0 },
        { id: 'r2', type: 'moby-redis', host: '127.0.0.1', port: server.port, db: 0 },
        ...healthFlow({ ...common, redis: 'r1' }, 'h1'),
        ...healthFlow({ ...common, redis: 'r2' }, 'h2'),
      ];
    }

    it('Redis never reachable: yellow while it waits for the first connection, red once memory decides (before: yellow "connecting" for ever)', async () => {
      const dead = await freePort(); // nothing listens there
      await load(
        [redisNode, healthNode],
        [
          { id: 'r1', type: 'moby-redis', host: '127.0.0.1', port: dead, db: 0 },
          ...healthFlow({ store: 'redis', keyPrefix: 'nt-dead:', timeout: 5, sweepInterval: 0.05, redis: 'r1' }, 'h1'),
        ]
      );
      const statuses: Array<{ fill?: string; text?: string }> = [];
      helper
        .getNode('h1')
        .on('call:status', (call: { args: Array<{ fill?: string; text?: string }> }) => statuses.push(call.args[0]));
      await waitFor(() => statuses.some((s) => s?.fill === 'red'), 8000, JSON.stringify(statuses.slice(-3)));
      assert.match(statuses.filter((s) => s?.fill === 'red').at(-1)!.text!, /redis unreachable, memory only/);
    });

    it('a silent device produces exactly one TIMEOUT in total, each transition is emitted once', async () => {
      await load([redisNode, healthNode], sharedFlow('nt1:'));
      const out1 = collect('h1-out');
      const out2 = collect('h2-out');
      const [h1, h2] = [helper.getNode('h1'), helper.getNode('h2')];
      await sleep(300); // both connected
      for (let k = 0; k < 5; k++) {
        h1.receive({ payload: { tags: { device_id: 'shared-1' } } });
        h2.receive({ payload: { tags: { device_id: 'shared-1' } } });
        await sleep(20);
      }
      await waitFor(() => [...events(out1), ...events(out2)].some((e) => e.state === 'TIMEOUT'), 3000, 'TIMEOUT');
      await sleep(600); // several more sweeps by both instances
      const all = [...events(out1), ...events(out2)].map((e) => `${e.previous}>${e.state}`);
      assert.deepEqual(all.sort(), ['ONLINE>TIMEOUT', 'UNKNOWN>ONLINE']);
      // a snapshot from either instance shows the shared table, last-seen included
      h1.receive({ payload: { tags: { device_id: 'only-h1' } } });
      await sleep(100);
      h2.receive({ topic: 'snapshot' });
      await waitFor(() => out2.some((m) => m.topic === 'snapshot'), 2000, 'h2 snapshot');
      const rows = out2.find((m) => m.topic === 'snapshot')!.payload;
      assert.deepEqual(
        rows.map((r: any) => [r.device_id, typeof r.last_seen]),
        [
          ['only-h1', 'number'],
          ['shared-1', 'number'],
        ]
      );
      assert.equal(rows[1].state, 'TIMEOUT');
    });

    it('Redis killed and restarted mid-test: transitions keep coming from memory and none is lost after resync', async () => {
      // d-b's longer timeout outlasts the outage, so its TIMEOUT falls after the resync
      await load([redisNode, healthNode], sharedFlow('nt2:', { timeout: 0.6, overrides: 'd-b=4' }));
      const out1 = collect('h1-out');
      const out2 = collect('h2-out');
      const [h1, h2] = [helper.getNode('h1'), helper.getNode('h2')];
      const statuses: any[] = [];
      h1.on('call:status', (c: any) => statuses.push(c.args[0]));
      await sleep(300);
      const all = () => [...events(out1), ...events(out2)];
      h1.receive({ payload: { tags: { device_id: 'd-a' } } });
      await waitFor(() => all().length === 1, 2000, 'ONLINE via redis');
      // h2 mirrors the transition h1 made, through Redis pub/sub
      await waitFor(
        async () => {
          h2.receive({ topic: 'snapshot' });
          await sleep(50);
          const snap = out2.filter((m) => m.topic === 'snapshot').pop();
          return snap && JSON.stringify(snap.payload.map((r: any) => [r.device_id, r.state])) === '[["d-a","ONLINE"]]';
        },
        3000,
        'h2 mirrors d-a as ONLINE'
      );

      const redisDown = async () => Number(/^moby_health_redis_down (\d+)/m.exec(await metricsText())?.[1]);
      const downEvents = async () =>
        Number(
          /moby_events_total\{node_type="moby-device-health",event="redis_down"\} (\d+)/.exec(
            await metricsText()
          )?.[1] ?? 0
        );
      assert.equal(await redisDown(), 0, 'both nodes decide through Redis');
      const downBefore = await downEvents();
      await server.stop();
      await waitFor(() => statuses.some((s) => /redis down/.test(s.text)), 3000, 'status shows the outage');
      await waitFor(async () => (await redisDown()) === 2, 3000, 'the outage is a gauge in /moby/metrics, per node');
      assert.equal((await downEvents()) - downBefore, 2, 'and counted once per node');
      // d-a goes silent during the outage: both instances decide from memory (h2 learns d-a from h1's
      // pub/sub before the outage), so at least one TIMEOUT must come out
      await waitFor(
        () => all().some((e) => e.device_id === 'd-a' && e.state === 'TIMEOUT'),
        3000,
        'TIMEOUT during the outage'
      );
      h2.receive({ payload: { tags: { device_id: 'd-b' } } });
      await waitFor(
        () => events(out2).some((e) => e.device_id === 'd-b' && e.state === 'ONLINE'),
        2000,
        'ONLINE during the outage'
      );

      await server.start();
      await waitFor(
        () => statuses.length > 0 && !/redis down/.test(statuses[statuses.length - 1].text),
        8000,
        'status recovers'
      );
      await waitFor(async () => (await redisDown()) === 0, 8000, 'the gauge recovers with it');
      const before = order.length;
      // after resync Redis knows d-b as ONLINE (pushed by h2) and d-a as TIMEOUT; d-b now times out once
      await waitFor(
        () => all().some((e) => e.device_id === 'd-b' && e.state === 'TIMEOUT'),
        6000,
        'd-b TIMEOUT after resync'
      );
      h1.receive({ payload: { tags: { device_id: 'd-a' } } });
      h2.receive({ payload: { tags: { device_id: 'd-a' } } });
      await waitFor(
        () => all().some((e) => e.device_id === 'd-a' && e.state === 'ONLINE' && e.previous === 'TIMEOUT'),
        2000,
        'd-a back'
      );
      await sleep(300);
      const late = events(order.slice(before).map((o) => o.msg)).map((e) => `${e.device_id}:${e.previous}>${e.state}`);
      assert.deepEqual(
        late.filter((s) => s.startsWith('d-b')),
        ['d-b:ONLINE>TIMEOUT']
      );
      assert.deepEqual(
        late.filter((s) => s.startsWith('d-a:TIMEOUT')),
        ['d-a:TIMEOUT>ONLINE']
      );
    });

    it('every instance down longer than the timeout: a silent device is reported one timeout after the restart, not at the first sweep', async () => {
      await load([redisNode, healthNode], sharedFlow('nt3:', { timeout: 1 }));
      let out1 = collect('h1-out');
      let out2 = collect('h2-out');
      await sleep(300);
      helper.getNode('h1').receive({ payload: { tags: { device_id: 'quiet' } } });
      await waitFor(() => events(out1).length + events(out2).length === 1, 2000, 'ONLINE');
      const lastSeen = [...events(out1), ...events(out2)][0].last_seen;

      const red = helper._redNodes;
      await red.stopFlows(); // both instances stop; Redis keeps the device's deadline
      // longer than the timeout (1 s) and than the unwatched-gap threshold (3 × 0.05 s, at least 2 s)
      await sleep(2500);
      out1 = collect('h1-out');
      out2 = collect('h2-out');
      const restartedAt = Date.now();
      await red.startFlows();
      const timeouts = () => [...events(out1), ...events(out2)].filter((e) => e.state === 'TIMEOUT');
      await waitFor(() => timeouts().length > 0, 5000, 'TIMEOUT one timeout after the restart');
      await sleep(300); // more sweeps by both instances
      assert.equal(timeouts().length, 1);
      // before, the first sweep reported it at once with since = last seen + timeout
      assertTimeoutSinceRestart(timeouts()[0], lastSeen, restartedAt, 1000);
    });
  });
});
