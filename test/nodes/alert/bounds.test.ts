// Issue #10 item 6 for moby-alert, as the attack, in a real Node-RED process with the file context store:
// a flood of alerts for 10k made-up devices against a bound of 1000 open alerts, then a graceful restart.
// Before, the 1001st (device, rule) was refused with too_many_alerts, and after the restart still was,
// because the full table had been persisted.
import assert from 'node:assert/strict';
import { waitFor } from '../../support/net';
import { NR_TOKEN, nodeRedWithFlow, postInAlertFlow, postJson, type NodeRedProcess } from '../../support/alert-nodered';

const AUTH = { authorization: `Bearer ${NR_TOKEN}` };

// POST /in → msg.alert / msg.moby → moby-alert; POST /flood → a function node sending 10k alerts for new
// devices, with the real device re-triggering and an idle (clearing) device's clear points in between
const FLOOD = `
for (let k = 0; k < 10000; k++) {
  node.send({ alert: { rule: 'device_offline', severity: 'warning' }, moby: { device_id: 'flood-' + k } });
  if (k % 200 === 199) node.send({ alert: { rule: 'overheat', severity: 'critical', value: 99 }, moby: { device_id: 'kiln-1' } });
}
return null;`;

function flow(): unknown[] {
  return postInAlertFlow(
    { maxOpen: 1000, autoResolvePoints: 100, wires: [[], [], ['rej']] },
    [
      { id: 'fl', type: 'http in', z: 'tab', url: '/flood', method: 'post', wires: [['fn', 'resp']] },
      { id: 'fn', type: 'function', z: 'tab', func: FLOOD, outputs: 1, wires: [['alert']] },
      { id: 'rej', type: 'debug', z: 'tab', active: true, tosidebar: false, console: true, complete: 'moby.reject' },
    ],
    ['alert', 'anomaly', 'moby']
  );
}

async function open(nr: NodeRedProcess, device?: string): Promise<any[]> {
  return (await (
    await fetch(`${nr.url}/moby/alerts?status=open&limit=1000${device ? `&device=${device}` : ''}`, { headers: AUTH })
  ).json()) as any[];
}

describe('moby-alert under a flood of new devices (real process, file context)', function () {
  this.timeout(150_000);
  let nr: NodeRedProcess | null = null;
  afterEach(async () => {
    await nr?.stop('SIGKILL');
    nr = null;
  });

  it('10k new devices against a bound of 1000 open alerts: the firing real device keeps its alert, nothing is refused, and after a restart a new device alerts', async () => {
    nr = await nodeRedWithFlow(flow());
    await nr.start();
    assert.equal(
      (
        await postJson(nr, '/in', {
          alert: { rule: 'overheat', severity: 'critical', value: 97 },
          moby: { device_id: 'kiln-1' },
        })
      ).status,
      204
    );
    const kiln = await waitFor(async () => (await open(nr!, 'kiln-1'))[0], 5000, 'kiln-1 open');
    // 'idle-1' alerted once, its condition has cleared since (counting toward auto-resolve)
    await postJson(nr, '/in', { alert: { rule: 'anomaly' }, moby: { device_id: 'idle-1' } });
    await postJson(nr, '/in', {
      anomaly: { score: 0.1, threshold: 1, is_anomaly: false, severity: 'normal', method: 'pca', contributions: {} },
      moby: { device_id: 'idle-1' },
    });

    assert.equal((await postJson(nr, '/flood', {})).status, 204);
    await waitFor(async () => (await open(nr!, 'flood-9999')).length === 1, 60_000, 'the last flood alert is open');
    const all = await open(nr);
    assert.equal(all.length, 1000, 'open alerts stay within the bound');
    const k = await open(nr, 'kiln-1');
    assert.equal(k.length, 1, 'the real device that keeps firing still has its alert');
    assert.equal(k[0].alert_id, kiln.alert_id, 'the same alert, folded, not re-opened');
    assert.equal((await open(nr, 'idle-1')).length, 0, 'the clearing alert was evicted');
    const idle = (await (await fetch(`${nr.url}/moby/alerts?device=idle-1`, { headers: AUTH })).json()) as any[];
    assert.equal(idle.length === 0 || idle[0].resolved_by === 'evicted', true);
    assert.ok(!nr.output.join('').includes('too_many_alerts'), 'nothing refused');

    // graceful restart: the saved (full) state is read back, and a brand-new device opens an alert
    await nr.stop('SIGTERM');
    await nr.start();
    assert.equal((await open(nr)).length, 1000);
    assert.equal(
      (
        await postJson(nr, '/in', {
          alert: { rule: 'overheat', severity: 'warning' },
          moby: { device_id: 'brand-new' },
        })
      ).status,
      204
    );
    await waitFor(
      async () => (await open(nr!, 'brand-new')).length === 1,
      5000,
      'the brand-new device alerts after the restart'
    );
    assert.equal((await open(nr, 'kiln-1'))[0].alert_id, kiln.alert_id, 'kiln-1 keeps its alert across the restart');
    assert.ok(!nr.output.join('').includes('too_many_alerts'));
  });
});
