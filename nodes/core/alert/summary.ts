// Alert summaries: a deterministic template always works; an optional OpenAI-compatible chat endpoint may
// write a friendlier one. The LLM is asked once per incident (alert id) and cached; when it is slow, down
// or answers nonsense, the template is used and the notification goes out anyway.
import type { Alert } from '../contract';

export function templateSummary(a: Alert): string {
  const what = a.message || `${a.rule} on ${a.device_id}`;
  const times =
    a.count > 1
      ? ` Seen ${a.count} times since ${new Date(a.opened_at).toISOString()}.`
      : ` Since ${new Date(a.opened_at).toISOString()}.`;
  const action =
    a.rule === 'device_offline'
      ? ' Check power and network of the device.'
      : a.rule === 'rul'
        ? ' Plan maintenance before the remaining life runs out.'
        : ' Inspect the machine and acknowledge the alert once someone is on it.';
  return `${a.severity.toUpperCase()}: ${what}.${times}${action}`.replace(/\.\./g, '.');
}

export interface LlmOptions {
  /** chat completions URL, e.g. https://api.openai.com/v1/chat/completions */
  url: string;
  model: string;
  apiKey?: string;
  timeoutMs?: number;
  /** incidents whose summary is cached (default 1000) */
  cacheSize?: number;
  /** after a failure, skip the LLM for this long so every notification does not wait for a timeout (default 30 s) */
  cooldownMs?: number;
  now?: () => number;
}

export interface SummaryResult {
  text: string;
  source: 'llm' | 'cache' | 'template';
  error?: string;
}

const MAX_SUMMARY = 1000;

export class LlmSummarizer {
  private readonly cache = new Map<string, string>();
  private downUntil = 0;
  private readonly now: () => number;
  calls = 0;

  constructor(private readonly opts: LlmOptions) {
    this.now = opts.now ?? Date.now;
  }

  private prompt(a: Alert): string {
    const facts = {
      device: a.device_id,
      equipment: a.equipment_id,
      rule: a.rule,
      severity: a.severity,
      message: a.message,
      value: a.value,
      threshold: a.threshold,
      occurrences: a.count,
      opened_at: new Date(a.opened_at).toISOString(),
    };
    return `Summarise this factory machine alert for the maintenance team in at most two sentences, with a concrete next step. Facts: ${JSON.stringify(facts)}`;
  }

  async summarize(a: Alert): Promise<SummaryResult> {
    const cached = this.cache.get(a.alert_id);
    if (cached !== undefined) return { text: cached, source: 'cache' };
    if (this.now() < this.downUntil)
      return { text: templateSummary(a), source: 'template', error: 'LLM endpoint cooling down after a failure' };
    this.calls++;
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
      const res = await fetch(this.opts.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: this.opts.model,
          temperature: 0.2,
          max_tokens: 200,
          messages: [
            { role: 'system', content: 'You write short, factual alert summaries for factory maintenance staff.' },
            { role: 'user', content: this.prompt(a) },
          ],
        }),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { choices?: Array<{ message?: { content?: unknown } }> };
      const content = body.choices?.[0]?.message?.content;
      if (typeof content !== 'string' || !content.trim()) throw new Error('no choices[0].message.content in the reply');
      const text = content.trim().slice(0, MAX_SUMMARY);
      this.cache.set(a.alert_id, text);
      if (this.cache.size > (this.opts.cacheSize ?? 1000)) this.cache.delete(this.cache.keys().next().value as string);
      return { text, source: 'llm' };
    } catch (err) {
      const e = err as Error;
      this.downUntil = this.now() + (this.opts.cooldownMs ?? 30000);
      return {
        text: templateSummary(a),
        source: 'template',
        error: e.name === 'TimeoutError' ? 'LLM timed out' : e.message,
      };
    }
  }
}
