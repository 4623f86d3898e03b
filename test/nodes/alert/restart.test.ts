// Restart persistence with a real Node-RED process and the file-backed context store: alerts (with their
// acknowledgement) survive a graceful stop and a kill -9, and later triggers still fold into them; pending
// notifications survive a restart and are delivered exactly once afterwards; Quiet reopens are rebuilt after a
// kill -9 from what is on disk.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../support/net';
import {
  NR_AUTH,
  nodeRedWithFlow,
  postInAlertFlow,
  postJson,
  tearDownAlertTest,
  type NodeRedProcess,
} from '../../support/alert-nodered';
import { startReceiver, type Receiver } from '../../support/alert-servers';

async function alerts(nr: NodeRedProcess): Promise<any[]> {
  return (await (await fetch(`${nr.url}/moby/alerts`, { headers: NR_AUTH })).json()) as any[];
}

describe('moby-alert across Node-RED restarts (real process, file context)', function () {
  this.timeout(60000);
  let nr: NodeRedProcess | null = null;
  let receiver: Receiver | null = null;
  afterEach(async () => {
    await tearDownAlertTest(nr, receiver);
    [nr, receiver] = [null, null];
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

  it('Quiet reopens through a kill -9: a flapping condition stays quiet, an escalated quiet alert still has its resolve sent', async () => {
    receiver = await startReceiver();
    nr = await nodeRedWithFlow(
      postInAlertFlow(
        { persist: 'journal', webhook: 'wh', quietReopenSec: 60, escalateAfterSec: 0.5, retryBaseSec: 0.2 },
        [{ id: 'wh', type: 'moby-webhook', url: `${receiver.url}/hook`, timeout: 1 }]
      )
    );
    await nr.start();
    const post = async (alert: Record<string, unknown>) =>
      assert.equal((await postJson(nr!, '/in', { alert, moby: { device_id: 'fan-1' } })).status, 204);
    const types = () => receiver!.delivered().map((r) => JSON.parse(r.body).type as string);
    await post({ rule: 'vibration', severity: 'warning' }); // paged
    await post({ rule: 'vibration', clear: true }); // its resolve is sent
    await post({ rule: 'vibration', severity: 'warning' }); // quiet, left open: escalates after 0.5 s
    await waitFor(() => types().length === 3, 10000, 'opening, resolve and escalation');
    assert.deepEqual(types(), ['alert.open', 'alert.resolve', 'alert.escalate']);

    // kill -9 once the queue has journaled the escalation as sent (a kill between the receiver's answer and that
    // line sends it again after the restart, with the same idempotency key: at least once, not this test's point)
    await new Promise((r) => setTimeout(r, 300));
    await nr.stop('SIGKILL');
    await nr.start();
    await post({ rule: 'vibration', clear: true }); // the escalated quiet alert resolves: news, sent
    await waitFor(() => types().length === 4, 10000, `the resolve after the restart: ${types()}`);
    await post({ rule: 'vibration', severity: 'warning' }); // within the window: quiet again
    await post({ rule: 'vibration', clear: true });
    await waitFor(async () => (await alerts(nr!)).length === 3, 5000, 'three episodes kept');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(types(), ['alert.open', 'alert.resolve', 'alert.escalate', 'alert.resolve']);
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
