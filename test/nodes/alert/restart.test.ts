// Restart persistence with a real Node-RED process and the file-backed context store: alerts (with their
// acknowledgement) survive a graceful stop and a kill -9, and later triggers still fold into them; pending
// notifications survive a restart and are delivered exactly once afterwards.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import { NR_AUTH, nodeRedWithFlow, postInAlertFlow, postJson, type NodeRedProcess } from '../../support/alert-nodered';
import { startReceiver, type Receiver } from '../../support/alert-servers';

async function alerts(nr: NodeRedProcess): Promise<any[]> {
  return (await (await fetch(`${nr.url}/moby/alerts`, { headers: NR_AUTH })).json()) as any[];
}

describe('moby-alert across Node-RED restarts (real process, file context)', function () {
  this.timeout(60000);
  let nr: NodeRedProcess | null = null;
  let receiver: Receiver | null = null;
  afterEach(async () => {
    await nr?.stop('SIGKILL');
    nr = null;
    await receiver?.close();
    receiver = null;
  });

  it('keeps alerts and acknowledgements through a graceful stop and a kill -9', async () => {
    nr = await nodeRedWithFlow(postInAlertFlow());
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
    const opened = await waitFor(async () => (await alerts(nr!))[0], 5000, 'alert open');
    const ack = await postJson(nr, `/moby/alerts/${opened.alert_id}/ack`, { by: 'han', note: 'checking' });
    assert.equal(ack.status, 200);

    await nr.stop('SIGTERM');
    await nr.start();
    let after = await alerts(nr);
    assert.equal(after.length, 1);
    assert.equal(after[0].alert_id, opened.alert_id);
    assert.equal(after[0].acknowledged, true);
    assert.equal(after[0].ack_note, 'checking');

    // a repeat after the restart updates the same alert, not a new one
    await postJson(nr, '/in', {
      alert: { rule: 'overheat', severity: 'critical', value: 99 },
      moby: { device_id: 'kiln-1' },
    });
    await waitFor(async () => (await alerts(nr!))[0].count === 2, 5000, 'count 2');

    // kill -9 after the periodic save (0.5 s) and the context flush (1 s) had their chance
    await new Promise((r) => setTimeout(r, 2500));
    await nr.stop('SIGKILL');
    await nr.start();
    after = await alerts(nr);
    assert.equal(after.length, 1);
    assert.equal(after[0].alert_id, opened.alert_id);
    assert.equal(after[0].count, 2);
    assert.equal(after[0].value, 99);
  });

  it('persist "journal": moves the context-store state over on first start, then keeps every change through kill -9 at once', async () => {
    // an earlier version's flow: no persist setting, the state in the (file-backed) default context store
    nr = await nodeRedWithFlow(postInAlertFlow());
    await nr.start();
    await postJson(nr, '/in', { alert: { rule: 'overheat', severity: 'critical' }, moby: { device_id: 'kiln-1' } });
    const opened = await waitFor(async () => (await alerts(nr!))[0], 5000, 'alert open');
    assert.equal((await postJson(nr, `/moby/alerts/${opened.alert_id}/ack`, { by: 'han' })).status, 200);
    await nr.stop('SIGTERM');

    // the same flow with the journal
    const flowFile = path.join(nr.userDir, 'flows.json');
    fs.writeFileSync(flowFile, JSON.stringify(postInAlertFlow({ persist: 'journal' })));
    await nr.start();
    let after = await alerts(nr);
    assert.equal(after.length, 1, 'migrated');
    assert.equal(after[0].alert_id, opened.alert_id);
    assert.equal(after[0].acknowledged, true);
    const stateDir = path.join(nr.userDir, 'moby-alert', 'state-alert');
    assert.ok(fs.existsSync(path.join(stateDir, 'snapshot.json')));

    // changes are on disk before anyone can see them: kill -9 the moment the API shows them
    await postJson(nr, '/in', { alert: { rule: 'overheat', severity: 'critical' }, moby: { device_id: 'kiln-1' } });
    await postJson(nr, '/in', { alert: { rule: 'leak', severity: 'warning' }, moby: { device_id: 'valve-2' } });
    await waitFor(async () => (await alerts(nr!)).length === 2, 5000, 'second alert');
    const leak = (await alerts(nr)).find((a) => a.device_id === 'valve-2');
    assert.equal((await postJson(nr, `/moby/alerts/${leak.alert_id}/ack`, { by: 'kim' })).status, 200);
    await nr.stop('SIGKILL');
    await nr.start();
    after = await alerts(nr);
    assert.equal(after.length, 2);
    const kiln = after.find((a) => a.device_id === 'kiln-1');
    assert.equal(kiln.alert_id, opened.alert_id);
    assert.equal(kiln.count, 2);
    assert.equal(after.find((a) => a.device_id === 'valve-2').acknowledged, true);

    // the old copy in the context store was removed: a flow switched back starts from it no more
    await nr.stop('SIGTERM');
    fs.writeFileSync(flowFile, JSON.stringify(postInAlertFlow({ persist: 'context' })));
    await nr.start();
    assert.deepEqual(await alerts(nr), []);
  });

  it('delivers a notification queued while the webhook was down exactly once after a restart', async () => {
    receiver = await startReceiver({ alwaysFail: 503 });
    nr = await nodeRedWithFlow(
      postInAlertFlow({ webhook: 'wh', retryBaseSec: 0.2, retryCapSec: 0.5, maxAttempts: 1000 }, [
        { id: 'wh', type: 'moby-webhook', url: `${receiver.url}/hook`, timeout: 1 },
      ])
    );
    await nr.start();
    await postJson(nr, '/in', { alert: { rule: 'leak', severity: 'critical' }, moby: { device_id: 'valve-7' } });
    await waitFor(() => receiver!.requests.length >= 2, 5000, 'failed attempts');
    await nr.stop('SIGTERM');
    await receiver.close();

    // the receiver comes back on the same URL only after Node-RED was stopped
    const port = Number(new URL(receiver.url).port);
    receiver = await startReceiver({ port });
    await nr.start();
    await waitFor(() => receiver!.delivered().length === 1, 10000, 'delivery after restart');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(receiver.delivered().length, 1, 'exactly one delivery');
    const body = JSON.parse(receiver.delivered()[0].body);
    assert.equal(body.type, 'alert.open');
    assert.equal(body.data.alert.device_id, 'valve-7');
  });
});
