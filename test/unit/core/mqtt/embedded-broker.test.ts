// npm start's embedded broker rules (nodes/core/mqtt/embedded-broker.ts): the pipeline's client id and
// subscriptions belong to the pipeline's login; devices connect without one and publish.
import assert from 'node:assert/strict';
import { embeddedBrokerConnect, embeddedBrokerMaySubscribe } from '../../../../nodes/core/mqtt/embedded-broker';

describe('embedded broker rules', () => {
  const login = { clientId: 'moby-pipeline', username: 'moby-pipeline', password: 'pipeline-secret-1234' };

  it('the pipeline connects with its login, under its client id or a partition of it', () => {
    for (const id of ['moby-pipeline', 'moby-pipeline-0', 'anything'])
      assert.deepEqual(embeddedBrokerConnect(login, id, 'moby-pipeline', Buffer.from('pipeline-secret-1234')), {
        ok: true,
        pipeline: true,
      });
  });

  it("refuses the pipeline's client id (and its partitions') without the login, and a wrong password", () => {
    for (const [id, user, pw] of [
      ['moby-pipeline', undefined, undefined],
      ['moby-pipeline-1', undefined, undefined],
      ['moby-pipeline', 'someone', Buffer.from('x')],
      ['fan-001', 'moby-pipeline', Buffer.from('guess')],
      ['fan-001', 'moby-pipeline', undefined],
    ] as const) {
      const v = embeddedBrokerConnect(login, id, user, pw);
      assert.equal(v.ok, false, `${id} ${user}`);
    }
  });

  it('devices and the simulator connect without a login, and only the pipeline subscribes', () => {
    assert.deepEqual(embeddedBrokerConnect(login, 'moby-sim-fan-001', undefined, undefined), {
      ok: true,
      pipeline: false,
    });
    assert.deepEqual(embeddedBrokerConnect(login, 'moby-pipelines', 'dev', Buffer.from('x')), {
      ok: true,
      pipeline: false,
    });
    assert.equal(embeddedBrokerMaySubscribe(false), false);
    assert.equal(embeddedBrokerMaySubscribe(true), true);
  });
});
