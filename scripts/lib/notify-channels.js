'use strict';
/**
 * Notification channels from the environment, so that `npm start` can page someone without editing the flow
 * (operator round 2026-12-06: the shipped flow paged nobody, and a channel added in the editor was replaced at
 * the next start). MOBY_SLACK_WEBHOOK_URL adds a moby-slack-webhook, MOBY_WEBHOOK_URL (+ MOBY_WEBHOOK_SECRET)
 * a moby-webhook; each becomes the channel of every moby-alert node of the flow that has none of its kind.
 * The values stay `${ENV}` references, substituted by Node-RED: never written to the flow files. Changes
 * `nodes` in place; returns the line for the start log.
 */
function addNotificationChannels(nodes, env) {
  const channels = [];
  if (env.MOBY_SLACK_WEBHOOK_URL)
    channels.push([
      'slackWebhook',
      {
        id: 'moby.notify.slack',
        type: 'moby-slack-webhook',
        name: 'Slack (MOBY_SLACK_WEBHOOK_URL)',
        timeout: 10,
        credentials: { url: '${MOBY_SLACK_WEBHOOK_URL}' },
      },
    ]);
  if (env.MOBY_WEBHOOK_URL)
    channels.push([
      'webhook',
      {
        id: 'moby.notify.webhook',
        type: 'moby-webhook',
        name: 'webhook (MOBY_WEBHOOK_URL)',
        url: '${MOBY_WEBHOOK_URL}',
        timeout: 10,
        credentials: { secret: '${MOBY_WEBHOOK_SECRET}' },
      },
    ]);
  for (const [field, channel] of channels) {
    if (nodes.some((n) => n.id === channel.id)) continue;
    nodes.push(channel);
    for (const n of nodes) if (n.type === 'moby-alert' && !n[field]) n[field] = channel.id;
  }
  const paged = channels.map(([, c]) => c.name).join(', ');
  // a receiver cannot tell MOBY's requests from anyone else's without the signature (docs/alerts.md)
  const unsigned =
    env.MOBY_WEBHOOK_URL && !env.MOBY_WEBHOOK_SECRET
      ? ' — the webhook is unsigned: set MOBY_WEBHOOK_SECRET to sign it'
      : '';
  return paged
    ? `notifications: ${paged}${unsigned}`
    : 'notifications: none — alerts are recorded and served by the API but page nobody; set MOBY_SLACK_WEBHOOK_URL or MOBY_WEBHOOK_URL (README, Configuration)';
}

/** The start log's line when the deployed flow is kept (MOBY_KEEP_FLOWS=1): the variables are not applied then. */
function keptFlowChannelsLine(env) {
  const set = ['MOBY_SLACK_WEBHOOK_URL', 'MOBY_WEBHOOK_URL'].filter((v) => env[v]);
  return set.length
    ? `notifications: ${set.join(' and ')} not applied: the deployed flow is kept (MOBY_KEEP_FLOWS=1); set the channel on the alert node in the editor`
    : 'notifications: as set on the alert node of the kept flow (MOBY_KEEP_FLOWS=1)';
}

module.exports = { addNotificationChannels, keptFlowChannelsLine };
