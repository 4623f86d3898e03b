// Config nodes for the alert node's notification channels and the optional LLM summariser. Each one turns
// its settings and password credentials into a sender from nodes/core/alert/channels; the SMTP node owns
// its nodemailer transport (a pooled connection shared by every alert node that uses it).
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { slackBotSender, slackWebhookSender, smtpSender, webhookSender } from '../core/alert/channels';
import { LlmSummarizer } from '../core/alert/summary';
import { proxySummary } from '../core/outbound';
import type { NodeAPI, NodeDef, AnyNode } from '../lib/red';
import { mountMobyRoutes } from '../lib/routes';
import type { ChannelConfigNode, LlmConfigNode } from './channel-types';
import { secondsSetting } from '../lib/settings';

function httpUrl(v: unknown): string | null {
  if (typeof v !== 'string' || !v) return null;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : null;
  } catch {
    return null;
  }
}

/** A channel's request timeout setting (seconds, default 10). */
const timeoutOf = (def: NodeDef) => secondsSetting(def.timeout, 10000, 0.001);

/** One log line when requests to outside services go through a proxy (HTTPS_PROXY etc., core/outbound.ts). */
function logProxy(node: { log(msg: string): void }): void {
  const route = proxySummary();
  if (route) node.log(`requests: ${route}`);
}

/** Its sender, or none and the `problem` the alert node reports for it. */
function useSender(node: ChannelConfigNode, sender: ChannelConfigNode['sender'], problem: string): void {
  node.sender = sender;
  if (!sender) node.problem = problem;
}

export = function (RED: NodeAPI) {
  /** What every channel config node does first: the runtime's part, then its label (name, else `fallback`). */
  function channelNode(self: AnyNode, def: NodeDef, fallback: string): ChannelConfigNode {
    RED.nodes.createNode(self, def);
    const node = self as ChannelConfigNode;
    node.label = def.name ? String(def.name) : fallback;
    return node;
  }

  function SlackWebhookNode(this: AnyNode, def: NodeDef) {
    const node = channelNode(this, def, 'Slack webhook');
    const url = httpUrl(node.credentials.url);
    useSender(node, url ? slackWebhookSender(url, timeoutOf(def)) : null, 'no valid webhook URL');
    if (url) logProxy(node);
  }
  // /moby/metrics is served whichever MOBY node module loads first (mounted once)
  mountMobyRoutes(RED);
  RED.nodes.registerType('moby-slack-webhook', SlackWebhookNode, { credentials: { url: { type: 'password' } } });

  function SlackBotNode(this: AnyNode, def: NodeDef) {
    const node = channelNode(this, def, `Slack ${def.channel}`);
    const api = httpUrl(def.apiUrl || 'https://slack.com/api');
    const token = node.credentials.token;
    const channel = typeof def.channel === 'string' ? def.channel.trim() : '';
    useSender(
      node,
      api && token && channel ? slackBotSender(api, token, channel, timeoutOf(def)) : null,
      !token ? 'no bot token' : !channel ? 'no channel or user id' : 'invalid API URL'
    );
    if (node.sender) logProxy(node);
  }
  RED.nodes.registerType('moby-slack-bot', SlackBotNode, { credentials: { token: { type: 'password' } } });

  function WebhookNode(this: AnyNode, def: NodeDef) {
    const node = channelNode(this, def, 'webhook');
    const url = httpUrl(def.url);
    useSender(
      node,
      url ? webhookSender(url, node.credentials.secret || undefined, timeoutOf(def)) : null,
      'no valid URL'
    );
    if (url) logProxy(node);
  }
  RED.nodes.registerType('moby-webhook', WebhookNode, { credentials: { secret: { type: 'password' } } });

  function SmtpNode(this: AnyNode, def: NodeDef) {
    const node = channelNode(this, def, `email ${def.to}`);
    const host = typeof def.host === 'string' ? def.host.trim() : '';
    const to = typeof def.to === 'string' ? def.to.trim() : '';
    const from = typeof def.from === 'string' && def.from.trim() ? def.from.trim() : 'moby-alerts@localhost';
    // the pooled SMTP connection is shared by the alert nodes using this config: opened for the first user,
    // closed when the last one deregisters (as core mqtt-broker does with its client)
    let transport: Transporter | null = null;
    const users = new Set<string>();
    node.register = (userId) => {
      users.add(userId);
    };
    node.deregister = (userId) => {
      users.delete(userId);
      if (users.size === 0 && transport) {
        transport.close();
        transport = null;
      }
    };
    if (!host || !to) {
      node.sender = null;
      node.problem = !host ? 'no SMTP host' : 'no recipient';
    } else {
      const timeout = secondsSetting(def.timeout, 15000, 0.001);
      const options = {
        host,
        port: Number(def.port) || 587,
        secure: def.secure === true,
        pool: true,
        maxConnections: 1,
        auth: node.credentials.user
          ? { user: node.credentials.user, pass: node.credentials.password ?? '' }
          : undefined,
        tls: { rejectUnauthorized: def.tlsRejectUnauthorized !== false },
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
      };
      const mail = { from, to };
      node.sender = (job) => {
        if (!transport) transport = nodemailer.createTransport(options);
        return smtpSender(transport, mail)(job);
      };
    }
    node.on('close', (_removed: boolean, done: () => void) => {
      transport?.close();
      transport = null;
      done();
    });
  }
  RED.nodes.registerType('moby-smtp', SmtpNode, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });

  function LlmNode(this: AnyNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this as LlmConfigNode;
    const url = httpUrl(def.url);
    const model = typeof def.model === 'string' ? def.model.trim() : '';
    if (!url || !model) {
      node.summarizer = null;
      node.problem = !url ? 'no valid endpoint URL' : 'no model';
    } else {
      node.summarizer = new LlmSummarizer({
        url,
        model,
        apiKey: node.credentials.key || undefined,
        timeoutMs: secondsSetting(def.timeout, 5000, 0.001),
        cooldownMs: secondsSetting(def.cooldown, 30000, 0.001),
      });
      logProxy(node);
    }
  }
  RED.nodes.registerType('moby-llm', LlmNode, { credentials: { key: { type: 'password' } } });
};
