// scripts/lib/notify-channels.js: `npm start` adds the channels named by MOBY_SLACK_WEBHOOK_URL / MOBY_WEBHOOK_URL
// to the flow's alert nodes, as ${ENV} references; without them its log says that alerts page nobody.
import assert from 'node:assert/strict';

const { addNotificationChannels, keptFlowChannelsLine } = require('../../../scripts/lib/notify-channels') as {
  addNotificationChannels(nodes: Array<Record<string, unknown>>, env: Record<string, string | undefined>): string;
  keptFlowChannelsLine(env: Record<string, string | undefined>, keptNodes?: unknown): string;
};

const flow = (): Array<Record<string, unknown>> => [
  { id: 'a1', type: 'moby-alert', slackWebhook: '', webhook: '', smtp: '' },
  { id: 'a2', type: 'moby-alert', slackWebhook: 'mine', webhook: '' },
  { id: 'w', type: 'moby-influx-write' },
];

describe('npm start: notification channels from the environment', () => {
  it('none set: the flow is unchanged and the log line says alerts page nobody', () => {
    const nodes = flow();
    const line = addNotificationChannels(nodes, {});
    assert.deepEqual(nodes, flow());
    assert.match(
      line,
      /^notifications: none — alerts are recorded and served by the API but page nobody; set MOBY_SLACK_WEBHOOK_URL or MOBY_WEBHOOK_URL/
    );
  });

  it('both set: a channel node each, referenced by every alert node without one of its kind, values as ${ENV} references only', () => {
    const nodes = flow();
    const env = {
      MOBY_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/secret',
      MOBY_WEBHOOK_URL: 'https://ops.example/hook',
    };
    const line = addNotificationChannels(nodes, env);
    assert.equal(
      line,
      'notifications: Slack (MOBY_SLACK_WEBHOOK_URL), webhook (MOBY_WEBHOOK_URL) — the webhook is unsigned: set MOBY_WEBHOOK_SECRET to sign it',
      'unsigned, and the line says so (newcomer round 2026-12-06: it did not)'
    );
    assert.equal(
      addNotificationChannels(flow(), { ...env, MOBY_WEBHOOK_SECRET: 'whsec_x' }),
      'notifications: Slack (MOBY_SLACK_WEBHOOK_URL), webhook (MOBY_WEBHOOK_URL)'
    );
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n]));
    assert.deepEqual(byId['moby.notify.slack'], {
      id: 'moby.notify.slack',
      type: 'moby-slack-webhook',
      name: 'Slack (MOBY_SLACK_WEBHOOK_URL)',
      timeout: 10,
      credentials: { url: '${MOBY_SLACK_WEBHOOK_URL}' },
    });
    assert.equal(byId['moby.notify.webhook'].url, '${MOBY_WEBHOOK_URL}');
    assert.deepEqual(byId['moby.notify.webhook'].credentials, { secret: '${MOBY_WEBHOOK_SECRET}' });
    assert.equal(byId.a1.slackWebhook, 'moby.notify.slack');
    assert.equal(byId.a1.webhook, 'moby.notify.webhook');
    assert.equal(byId.a2.slackWebhook, 'mine', "an alert node's own channel is kept");
    assert.equal(byId.a2.webhook, 'moby.notify.webhook');
    assert.ok(!JSON.stringify(nodes).includes('secret/'), 'the URL itself is never written');
    addNotificationChannels(nodes, env);
    assert.equal(nodes.filter((n) => n.id === 'moby.notify.slack').length, 1, 'added once');
  });

  it('a kept flow (MOBY_KEEP_FLOWS=1) does not take the variables, and the line says so instead of nothing (newcomer round 2026-12-06)', () => {
    assert.equal(
      keptFlowChannelsLine({ MOBY_WEBHOOK_URL: 'https://ops.example/hook' }),
      'notifications: MOBY_WEBHOOK_URL not applied: the deployed flow is kept (MOBY_KEEP_FLOWS=1); set the channel on the alert node in the editor'
    );
    assert.match(keptFlowChannelsLine({}), /as set on the alert node of the kept flow/);
  });

  it("a kept flow deployed by an earlier start holds the channel that refers to the variable: the line says it is used (operator round 2026-12-07: 'not applied', then six pages)", () => {
    const env = {
      MOBY_WEBHOOK_URL: 'https://ops.example/hook',
      MOBY_SLACK_WEBHOOK_URL: 'https://hooks.slack.example/x',
    };
    // what an earlier start deployed with MOBY_WEBHOOK_URL set (addNotificationChannels)
    const kept = [
      { id: 'a', type: 'moby-alert', webhook: 'moby.notify.webhook' },
      { id: 'moby.notify.webhook', type: 'moby-webhook' },
    ];
    assert.equal(
      keptFlowChannelsLine(env, kept),
      "notifications: MOBY_WEBHOOK_URL used by the kept flow's channel node; MOBY_SLACK_WEBHOOK_URL not applied: the deployed flow is kept (MOBY_KEEP_FLOWS=1); set the channel on the alert node in the editor"
    );
    assert.equal(
      keptFlowChannelsLine({ MOBY_WEBHOOK_URL: 'x' }, 'not a flow'),
      keptFlowChannelsLine({ MOBY_WEBHOOK_URL: 'x' })
    );
  });
});
