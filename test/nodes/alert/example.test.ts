// The importable example flow (examples/alert.json) in a real Node-RED process: pressing its inject buttons
// (admin endpoint POST /inject/:id) opens, folds and auto-resolves alerts visible through the alert API.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { NR_AUTH, NR_TOKEN, nodeRedWithFlow, type NodeRedProcess } from '../../support/alert-nodered';

const example = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../examples/alert.json'), 'utf8')) as Array<
  Record<string, unknown>
>;

describe('examples/alert.json', function () {
  this.timeout(60000);
  let nr: NodeRedProcess | null = null;
  after(async () => {
    await nr?.stop('SIGKILL');
  });

  it('runs: anomalies open one alert, clear points resolve it, device-health and RUL open theirs', async () => {
    const byName = (name: string) => String(example.find((n) => n.name === name)!.id);
    // the flow's webhook points at its own http-in on port 1880; follow the port this process gets
    nr = await nodeRedWithFlow([], {}, '/moby-example');
    const port = new URL(nr.url).port;
    const flow = JSON.parse(JSON.stringify(example).split('127.0.0.1:1880').join(`127.0.0.1:${port}`));
    fs.writeFileSync(path.join(nr.userDir, 'flows.json'), JSON.stringify(flow));
    // the example carries no secret: the deployer sets the alert node's API token (a credential)
    fs.writeFileSync(
      path.join(nr.userDir, 'flows_cred.json'),
      JSON.stringify({ [byName('plant alerts')]: { apiToken: NR_TOKEN } })
    );
    await nr.start();
    const press = (name: string) =>
      fetch(`${nr!.url}/inject/${byName(name)}`, { method: 'POST' }).then((r) => assert.equal(r.status, 200));
    const alerts = async (q = '') =>
      (await (await fetch(`${nr!.url}/moby-example/alerts${q}`, { headers: NR_AUTH })).json()) as any[];

    for (let i = 0; i < 3; i++) await press('pump-7 anomaly');
    const pump = await waitFor(
      async () => (await alerts('?device=pump-7')).find((a) => a.count === 3),
      5000,
      'pump-7 count 3'
    );
    assert.equal(pump.equipment_id, 'press-line-2');
    for (let i = 0; i < 3; i++) await press('pump-7 normal');
    await waitFor(async () => (await alerts('?device=pump-7'))[0].status === 'resolved', 5000, 'pump-7 resolved');
    await press('fan-3 OFFLINE');
    await press('RUL 20 h');
    await waitFor(async () => (await alerts('?status=open')).length === 2, 5000, 'fan-3 and spindle-1 open');
    const open = await alerts('?status=open');
    assert.deepEqual(open.map((a) => `${a.device_id}/${a.rule}/${a.severity}`).sort(), [
      'fan-3/device_offline/critical',
      'spindle-1/rul/critical',
    ]);
  });
});
