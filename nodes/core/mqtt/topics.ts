// Broker URL lists and MQTT topic filters, for the at-least-once MQTT source (nodes/mqtt).

export interface BrokerServer {
  host: string;
  port: number;
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
}

/** Parses "mqtt://a:1883, mqtts://b:8883" (comma, space or newline separated) into mqtt.js servers. */
export function parseBrokerUrls(text: string): BrokerServer[] {
  const out: BrokerServer[] = [];
  for (const raw of text.split(/[\s,]+/).filter(Boolean)) {
    const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `mqtt://${raw}`;
    const u = new URL(withScheme);
    const protocol = u.protocol.replace(/:$/, '') as 'mqtt' | 'mqtts' | 'ws' | 'wss';
    if (!['mqtt', 'mqtts', 'ws', 'wss'].includes(protocol)) throw new Error(`unsupported broker URL scheme: ${raw}`);
    const port = u.port ? Number(u.port) : protocol === 'mqtts' ? 8883 : protocol === 'ws' ? 80 : protocol === 'wss' ? 443 : 1883;
    out.push({ host: u.hostname, port, protocol });
  }
  return out;
}

/** MQTT topic filter match (+ and #). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i > 0 || !topic.startsWith('$');
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && topic.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
