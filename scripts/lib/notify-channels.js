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
  return paged
    ? `notifications: ${paged}`
    : 'notifications: none — alerts are recorded and served by the API but page nobody; set MOBY_SLACK_WEBHOOK_URL or MOBY_WEBHOOK_URL (README, Configuration)';
}

module.exports = { addNotificationChannels };
