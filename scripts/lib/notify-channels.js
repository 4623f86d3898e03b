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

/** The channel node a variable adds (addNotificationChannels), by variable. */
const CHANNEL_OF = { MOBY_SLACK_WEBHOOK_URL: 'moby.notify.slack', MOBY_WEBHOOK_URL: 'moby.notify.webhook' };

/**
 * The start log's line when the deployed flow is kept (MOBY_KEEP_FLOWS=1): the variables add no channel then, but a
 * kept flow deployed by an earlier start holds the channel that refers to the variable, which Node-RED substitutes
 * at every start (operator round 2026-12-07: the line said "not applied" and six pages were delivered after it).
 * `keptNodes`: the kept flow's nodes (omitted or unreadable: not known).
 */
function keptFlowChannelsLine(env, keptNodes) {
  const set = Object.keys(CHANNEL_OF).filter((v) => env[v]);
  const ids = new Set(Array.isArray(keptNodes) ? keptNodes.map((n) => n && n.id) : []);
  const applied = set.filter((v) => ids.has(CHANNEL_OF[v]));
  const notApplied = set.filter((v) => !ids.has(CHANNEL_OF[v]));
  const parts = [];
  if (applied.length)
    parts.push(`${applied.join(' and ')} used by the kept flow's channel node${applied.length > 1 ? 's' : ''}`);
  if (notApplied.length)
    parts.push(
      `${notApplied.join(' and ')} not applied: the deployed flow is kept (MOBY_KEEP_FLOWS=1); set the channel on the alert node in the editor`
    );
  return parts.length
    ? `notifications: ${parts.join('; ')}`
    : 'notifications: as set on the alert node of the kept flow (MOBY_KEEP_FLOWS=1)';
}

module.exports = { addNotificationChannels, keptFlowChannelsLine };
