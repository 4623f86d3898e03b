// Notifications from moby-alert through the real Node-RED runtime to local stand-ins: Slack webhook and Slack
// Web API and a webhook receiver that fail (500s, timeouts, ratelimited) before succeeding, a real SMTP
// server that answers 451 first, and an LLM endpoint that is down or up.
import assert from 'node:assert/strict';
import { verifyWebhook } from '../../../nodes/core/alert/channels';
import { waitFor, sleep } from '../../support/net';
import {
  helper,
  loadAlertFlow,
  alertFlow,
  collect,
  api,
  anomalyMsg,
  freshUserDir,
  type Msg,
} from '../../support/alert-red';
import { startReceiver, startSmtp, type Receiver, type SmtpStandIn } from '../../support/alert-servers';

const FAST_RETRY = { retryBaseSec: 0.05, retryCapSec: 0.2, maxAttempts: 6 };
const WEBHOOK_SECRET = 'whsec_' + Buffer.from('a-test-signing-key-of-32-bytes!!').toString('base64');

function send(msg: Msg): void {
  helper.getNode('alert').receive(msg);
}

describe('moby-alert node: notifications', function () {
  const receivers: Receiver[] = [];
  let smtp: SmtpStandIn | null = null;
  async function receiver(opts: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
    const r = await startReceiver(opts);
    receivers.push(r);
    return r;
  }
  // a fresh userDir per test: a notification left pending by one test must not be resumed by the next
  beforeEach(() => freshUserDir());
  afterEach(async () => {
    await helper.unload();
    for (const r of receivers.splice(0)) await r.close();
    await smtp?.close();
    smtp = null;
  });

  it('Slack webhook failing with 500, a timeout and 500 again delivers exactly once', async () => {
    const slack = await receiver({ failures: [500, 'timeout', 500] });
    await loadAlertFlow(
      alertFlow({ slackWebhook: 'sw', ...FAST_RETRY }, [{ id: 'sw', type: 'moby-slack-webhook', timeout: 0.3 }]),
      {
        sw: { url: `${slack.url}/services/T000/B000/XXXX` },
      }
    );
    const fail = collect('fail');
    send(anomalyMsg('pump-1', true));
    await waitFor(() => slack.delivered().length === 1, 10000, 'Slack delivery');
    await sleep(400);
    assert.equal(slack.delivered().length, 1, 'exactly one successful delivery');
    assert.equal(slack.requests.length, 4, 'three failures, then the success');
    assert.equal(fail.length, 0);
    const body = JSON.parse(slack.delivered()[0].body);
    assert.match(body.text, /New alert.*anomaly.*pump-1/);
    assert.ok(Array.isArray(body.blocks));
  });

  it('Slack bot: chat.postMessage with the bearer token, retrying on {ok:false, error:"ratelimited"}', async () => {
    let calls = 0;
    const slack = await receiver({
      failures: [503],
      reply: () => (++calls === 1 ? { ok: false, error: 'ratelimited' } : { ok: true, ts: '1.2' }),
    });
    await loadAlertFlow(
      alertFlow({ slackBot: 'sb', ...FAST_RETRY }, [
        { id: 'sb', type: 'moby-slack-bot', channel: 'U024BE7LH', apiUrl: `${slack.url}/api`, timeout: 1 },
      ]),
      {
        sb: { token: 'xoxb-test-token' },
      }
    );
    send({
      alert: { rule: 'overheat', severity: 'critical', message: 'Motor at 97 °C' },
      moby: { device_id: 'press-4' },
    });
    await waitFor(() => calls === 2, 10000, 'second postMessage');
    await sleep(300);
    assert.equal(slack.requests.length, 3);
    assert.equal(calls, 2, 'no post after Slack said ok');
    const last = slack.requests[2];
    assert.equal(last.path, '/api/chat.postMessage');
    assert.equal(last.headers.authorization, 'Bearer xoxb-test-token');
    const body = JSON.parse(last.body);
    assert.equal(body.channel, 'U024BE7LH');
    assert.match(body.text, /overheat.*press-4.*critical/);
  });

  it('Slack bot configuration errors fail at once onto the delivery-failed output', async () => {
    const slack = await receiver({ reply: () => ({ ok: false, error: 'channel_not_found' }) });
    await loadAlertFlow(
      alertFlow({ slackBot: 'sb', ...FAST_RETRY }, [
        { id: 'sb', type: 'moby-slack-bot', channel: 'C-nope', apiUrl: slack.url },
      ]),
      { sb: { token: 'xoxb-t' } }
    );
    const fail = collect('fail');
    send({ alert: { rule: 'overheat', severity: 'critical' }, moby: { device_id: 'press-4' } });
    await waitFor(() => fail.length === 1, 5000, 'delivery failed');
    assert.equal(slack.requests.length, 1);
    assert.equal(fail[0].payload.kind, 'open');
    assert.match(fail[0].payload.error, /channel_not_found/);
    assert.equal(fail[0].moby!.reject!.code, 'delivery_failed');
    assert.equal(fail[0].moby!.reject!.device_id, 'press-4');
  });

  it('a channel that cannot send (webhook without a URL, Slack bot without a token, config node gone) fails each notification onto the delivery-failed output (before: dropped after one warning at deploy)', async () => {
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', slackBot: 'sb', smtp: 'gone', ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: '' },
        { id: 'sb', type: 'moby-slack-bot', channel: 'C1' },
      ])
    );
    const fail = collect('fail');
    send({ alert: { rule: 'overheat', severity: 'critical' }, moby: { device_id: 'press-4' } });
    await waitFor(() => fail.length === 3, 5000, `three failures (have ${fail.length})`);
    const errors = fail.map((m) => String(m.payload.error)).sort();
    assert.match(errors.join('\n'), /no valid URL; fix the channel's settings/);
    assert.match(errors.join('\n'), /no bot token; fix the channel's settings/);
    assert.match(errors.join('\n'), /config node not found/);
    assert.ok(fail.every((m) => m.moby!.reject!.code === 'delivery_failed' && m.payload.kind === 'open'));
  });

  it("Slack: what the LLM and the device wrote cannot be formatted or auto-linked; MOBY's own labels stay bold", async () => {
    // the LLM answer, steered by device strings, tries every mrkdwn style and two bare links
    const evil = 'All *fine*, _ignore_ ~this~ alert: `reset` at https://evil.example/login or www.evil.example now';
    const llm = await receiver({ reply: () => ({ choices: [{ message: { role: 'assistant', content: evil } }] }) });
    const hook = await receiver();
    const bot = await receiver({ reply: () => ({ ok: true, ts: '1.2' }) });
    await loadAlertFlow(
      alertFlow({ slackWebhook: 'sw', slackBot: 'sb', llm: 'ai', ...FAST_RETRY }, [
        { id: 'sw', type: 'moby-slack-webhook' },
        { id: 'sb', type: 'moby-slack-bot', channel: 'C0MOBY', apiUrl: bot.url },
        { id: 'ai', type: 'moby-llm', url: `${llm.url}/v1/chat/completions`, model: 'tiny', timeout: 1 },
      ]),
      { sw: { url: `${hook.url}/services/T000/B000/XXXX` }, sb: { token: 'xoxb-t' }, ai: { key: 'sk-test' } }
    );
    // a device id and a rule with underscores: mrkdwn would turn `_press_4_` into italics
    send({ alert: { rule: '_hot_', severity: 'critical', message: evil }, moby: { device_id: '_press_4_' } });
    await waitFor(() => hook.delivered().length === 1 && bot.delivered().length === 1, 10000, 'both Slack posts');
    for (const body of [JSON.parse(hook.delivered()[0].body), JSON.parse(bot.delivered()[0].body)]) {
      // the top-level text (notifications, screen readers) is not parsed as mrkdwn
      assert.equal(body.mrkdwn, false);
      assert.match(body.text, /_hot_ on _press_4_/);
      // walk every text object: untrusted words appear only in plain_text ones, never in mrkdwn
      const objects: { type: string; text: string }[] = [];
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string')
            objects.push(o as { type: string; text: string });
          else Object.values(o).forEach(walk);
        }
      };
      walk(body.blocks);
      const plain = objects.filter((o) => o.type === 'plain_text').map((o) => o.text);
      const mrkdwn = objects.filter((o) => o.type === 'mrkdwn').map((o) => o.text);
      assert.ok(
        plain.some((t) => t.includes('All *fine*, _ignore_ ~this~ alert: `reset`')),
        plain.join(' | ')
      );
      assert.ok(plain.includes('_hot_') && plain.includes('_press_4_'), plain.join(' | '));
      for (const t of mrkdwn)
        assert.ok(!/fine|ignore|reset|evil|press_4|_hot_/.test(t), `untrusted text in mrkdwn: ${t}`);
      // MOBY's own labels are still mrkdwn, still bold
      assert.ok(mrkdwn.includes(':rotating_light: *New alert* (critical)'), mrkdwn.join(' | '));
      assert.ok(mrkdwn.includes('*Rule*') && mrkdwn.some((t) => t.startsWith('*Status*\n')), mrkdwn.join(' | '));
      // no bare link survives anywhere in the body, yet the address stays readable
      const raw = JSON.stringify(body);
      assert.ok(!raw.includes('https://evil.example') && !/\bwww\.evil/.test(raw), raw);
      assert.ok(
        plain.some((t) => t.includes('https[:]//evil[.]example/login or www[.]evil[.]example')),
        plain.join(' | ')
      );
    }
  });

  it('webhook: Standard Webhooks signature, same webhook-id on every retry, one delivery per notification', async () => {
    const hook = await receiver({ failures: ['timeout', 500] });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      {
        wh: { secret: WEBHOOK_SECRET },
      }
    );
    send(anomalyMsg('fan-2', true));
    await waitFor(() => hook.delivered().length === 1, 10000, 'open delivered');
    send(anomalyMsg('fan-2', false));
    await waitFor(() => hook.delivered().length === 2, 10000, 'resolve delivered');
    await sleep(300);
    assert.equal(hook.delivered().length, 2);
    assert.equal(hook.requests.length, 4);
    const ids = hook.requests.map((r) => r.headers['webhook-id']);
    assert.equal(ids[0], ids[1]);
    assert.equal(ids[1], ids[2], 'retries carry the same idempotency key');
    assert.notEqual(ids[2], ids[3]);
    for (const r of hook.delivered()) {
      const id = String(r.headers['webhook-id']);
      const ts = Number(r.headers['webhook-timestamp']);
      assert.ok(Math.abs(ts - Date.now() / 1000) < 30);
      assert.ok(
        verifyWebhook(WEBHOOK_SECRET, id, ts, r.body, String(r.headers['webhook-signature'])),
        'signature verifies'
      );
      assert.ok(!verifyWebhook(WEBHOOK_SECRET, id, ts, r.body + ' ', String(r.headers['webhook-signature'])));
    }
    const types = hook.delivered().map((r) => JSON.parse(r.body).type);
    assert.deepEqual(types, ['alert.open', 'alert.resolve']);
  });

  it('email over a real SMTP server: 451 first, then exactly one mail', async () => {
    smtp = await startSmtp(1);
    await loadAlertFlow(
      alertFlow({ smtp: 'mail', ...FAST_RETRY }, [
        {
          id: 'mail',
          type: 'moby-smtp',
          host: '127.0.0.1',
          port: smtp.port,
          secure: false,
          from: 'moby@plant.test',
          to: 'maint@plant.test',
          timeout: 2,
        },
      ])
    );
    send({
      alert: { rule: 'rul', severity: 'warning', message: 'Remaining life 40 h', value: 40, threshold: 72 },
      moby: { device_id: 'spindle-1' },
    });
    await waitFor(() => smtp!.mails.length === 1, 10000, 'mail');
    await sleep(300);
    assert.equal(smtp.refused, 1);
    assert.equal(smtp.mails.length, 1);
    const mail = smtp.mails[0];
    assert.deepEqual(mail.to, ['maint@plant.test']);
    assert.match(mail.raw, /Subject: \[MOBY WARNING\] New alert: rul on spindle-1/);
    assert.match(mail.raw, /X-Moby-Alert-Id: [0-9a-f-]{36}/i);
  });

  it('a page not delivered after the last try is reported on output 2 and kept trying while its alert is open; other channels keep going', async () => {
    // down for 6 requests, then back: before, the page was given up at attempt 3 and the receiver never got it
    // (left alone at stop 54: a webhook down ~4 minutes lost every page for good)
    const down = await receiver({ failures: [500, 500, 500, 500, 500, 500] });
    const up = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'bad', slackWebhook: 'good', retryBaseSec: 0.02, retryCapSec: 0.05, maxAttempts: 3 }, [
        { id: 'bad', type: 'moby-webhook', url: down.url, timeout: 1 },
        { id: 'good', type: 'moby-slack-webhook' },
      ]),
      { good: { url: up.url } }
    );
    const fail = collect('fail');
    send(anomalyMsg('mill-1', true));
    await waitFor(() => fail.length === 1, 5000, 'delivery reported late');
    assert.equal(fail[0].payload.attempts, 3);
    assert.equal(fail[0].payload.still_trying, true);
    assert.match(fail[0].payload.error, /not delivered after 3 attempts: HTTP 500/);
    assert.equal(fail[0].payload.alert.device_id, 'mill-1');
    assert.equal(fail[0].moby!.reject!.code, 'delivery_failed');
    assert.equal(up.delivered().length, 1);
    await waitFor(() => down.delivered().length === 1, 5000, 'the page once the receiver is back');
    assert.equal(down.requests.length, 7);
    assert.equal(JSON.parse(down.delivered()[0].body).type, 'alert.open');
    await sleep(200);
    assert.equal(fail.length, 1, 'reported once');
    // said in the log from the first failed attempt, and when overdue (operator round 2026-12-07: minutes of a
    // hanging webhook without a line, the give-up on the debug output only)
    const warned = (helper.getNode('alert').warn as { getCalls(): Array<{ args: unknown[] }> })
      .getCalls()
      .map((c) => String(c.args[0]));
    const retries = warned.filter((l) => /the open notification of mill-1 \(anomaly\) failed \(HTTP 500/.test(l));
    assert.ok(retries.length >= 2, 'the failed attempts are warnings');
    assert.match(retries[0], /attempt 1; trying again in \d+ s, 1 waiting on this channel$/);
    assert.ok(
      warned.some((l) =>
        /the open notification of mill-1 \(anomaly\) was not delivered after 3 attempts \(HTTP 500: failure scripted by the test\); still trying about every 1 s while the alert is open and unacknowledged/.test(
          l
        )
      ),
      'the overdue page is a warning'
    );
    const logged = (helper.getNode('alert').log as { getCalls(): Array<{ args: unknown[] }> })
      .getCalls()
      .map((c) => String(c.args[0]));
    assert.ok(
      logged.some((l) =>
        /the open notification of mill-1 \(anomaly\) was delivered at attempt 7, .+ after it was due$/.test(l)
      ),
      `its delivery is said:\n${logged.join('\n')}`
    );
  });

  it("a channel shared by tenants: one tenant's storm does not drop another tenant's page (red-team round 2026-12-07: dropped as queue_full), the drops are a few lines and a summary, and the page names its tenant", async () => {
    const hook = await receiver({ failures: ['timeout'] }); // the first request hangs: the storm fills the queue
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', queueSize: 5, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url, timeout: 0.5 },
      ])
    );
    const fail = collect('fail');
    const tenantMsg = (tenant: string, device: string): Msg => {
      const m = anomalyMsg(device, true);
      m.moby = { ...m.moby, tenant };
      return m;
    };
    for (let i = 0; i < 20; i++) send(tenantMsg('acme', `mill-${i}`));
    send(tenantMsg('beta', 'mill-1'));
    for (let i = 20; i < 40; i++) send(tenantMsg('acme', `mill-${i}`));
    await waitFor(() => fail.length === 36, 5000, 'the drops on output 2');
    assert.ok(
      fail.every((m) => m.payload.alert.tenant === 'acme' && /queue_full/.test(m.payload.error)),
      'only acme pages were dropped'
    );
    await waitFor(() => hook.delivered().length === 5, 5000, 'what the queue held');
    const got = hook.delivered().map((r) => JSON.parse(r.body).data.alert);
    assert.deepEqual(got.filter((a: { tenant: string }) => a.tenant === 'beta').length, 1, "beta's page went out");
    // beta's was sent right after the hanging one, not behind acme's
    assert.deepEqual(
      hook.requests.slice(0, 3).map((r) => {
        const a = JSON.parse(r.body).data.alert;
        return `${a.tenant}/${a.device_id}`;
      }),
      ['acme/mill-0', 'beta/mill-1', 'acme/mill-37']
    );
    const warned = (helper.getNode('alert').warn as { getCalls(): Array<{ args: unknown[] }> })
      .getCalls()
      .map((c) => String(c.args[0]))
      .filter((l) => /was not delivered: queue_full/.test(l));
    assert.equal(warned.length, 5, 'a few lines, not one per drop');
    assert.match(
      warned[0],
      /the open notification of mill-\d+ \(tenant acme\) \(anomaly\) was not delivered: queue_full$/
    );
  });

  it('a kept page gives up once its alert is resolved; notifications that are not pages give up after the last try', async () => {
    const down = await receiver({ alwaysFail: 500 });
    await loadAlertFlow(
      alertFlow({ webhook: 'bad', retryBaseSec: 0.05, retryCapSec: 0.1, maxAttempts: 3 }, [
        { id: 'bad', type: 'moby-webhook', url: down.url, timeout: 1 },
      ])
    );
    const fail = collect('fail');
    const ev = collect('ev');
    send(anomalyMsg('mill-2', true));
    await waitFor(() => fail.length === 1, 5000, 'the page reported late');
    assert.equal(fail[0].payload.still_trying, true);
    await sleep(400);
    assert.ok(down.requests.length > 3, 'still trying past the last attempt');
    await api().post(`/moby/alerts/${ev[0].payload.alert.alert_id}/resolve`).send({ by: 'yoon' }).expect(200);
    // the resolve notification fails its 3 attempts and is reported; the open page gives up without a second report
    await waitFor(() => fail.length === 2, 5000, 'the resolve notification given up');
    assert.equal(fail[1].payload.kind, 'resolve');
    assert.equal(fail[1].payload.still_trying, false);
    assert.match(fail[1].payload.error, /gave up after 3 attempts: HTTP 500/);
    const warned = (helper.getNode('alert').warn as { getCalls(): Array<{ args: unknown[] }> })
      .getCalls()
      .map((c) => String(c.args[0]));
    assert.ok(
      warned.some((l) =>
        /the open notification of mill-2 \(anomaly\) was not delivered: gave up after \d+ attempts: HTTP 500: failure scripted by the test \(the alert was resolved meanwhile\)$/.test(
          l
        )
      ),
      'the page given up after the resolve is a warning'
    );
    const settled = down.requests.length;
    await sleep(500);
    assert.equal(down.requests.length, settled, 'nothing more is tried');
    assert.equal(fail.length, 2);
  });

  it('without any notification channel the log says each opening and resolve (operator round 2026-12-07: two alerts open, not a line)', async () => {
    await loadAlertFlow(alertFlow({}));
    const ev = collect('ev');
    send(anomalyMsg('mill-7', true));
    await waitFor(() => ev.length === 1, 2000, 'the opening');
    const id = ev[0].payload.alert.alert_id as string;
    await api().post(`/moby/alerts/${id}/resolve`).send({ by: 'yoon' }).expect(200);
    const logged = () =>
      (helper.getNode('alert').log as { getCalls(): Array<{ args: unknown[] }> })
        .getCalls()
        .map((c) => String(c.args[0]));
    await waitFor(() => logged().some((l) => l.startsWith('alert resolved')), 2000, 'the resolve line');
    const lines = logged().filter((l) => l.startsWith('alert '));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], new RegExp(`^alert opened, (warning|critical) \\[${id.slice(0, 8)}\\]: Anomaly on mill-7`));
    assert.equal(lines[1], `alert resolved [${id.slice(0, 8)}]: mill-7 (anomaly) (by yoon)`);
  });

  it('with a notification channel the log keeps quiet about alerts (the channel says them)', async () => {
    const up = await receiver();
    await loadAlertFlow(alertFlow({ webhook: 'wh' }, [{ id: 'wh', type: 'moby-webhook', url: up.url }]));
    const ev = collect('ev');
    send(anomalyMsg('mill-8', true));
    await waitFor(() => up.delivered().length === 1, 5000, 'the page');
    assert.equal(ev.length, 1);
    const lines = (helper.getNode('alert').log as { getCalls(): Array<{ args: unknown[] }> })
      .getCalls()
      .map((c) => String(c.args[0]))
      .filter((l) => l.startsWith('alert '));
    assert.deepEqual(lines, []);
  });

  it('a hanging channel does not hold up the flow', async () => {
    const hang = await receiver({ alwaysFail: 'timeout' });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', ...FAST_RETRY }, [{ id: 'wh', type: 'moby-webhook', url: hang.url, timeout: 5 }])
    );
    const ev = collect('ev');
    for (let i = 0; i < 50; i++) send(anomalyMsg(`dev-${i}`, true));
    await waitFor(() => ev.length === 50, 2000, 'all events while the webhook hangs');
    await waitFor(() => hang.requests.length === 1, 2000, 'the first notification in flight');
    await sleep(200);
    assert.equal(hang.requests.length, 1, 'one request in flight per channel');
  });

  it('repeats every interval while open and unacknowledged, and stops after ack', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', repeatSec: 0.15, ...FAST_RETRY }, [{ id: 'wh', type: 'moby-webhook', url: hook.url }])
    );
    const ev = collect('ev');
    send(anomalyMsg('comp-1', true));
    await waitFor(
      () => hook.delivered().filter((r) => JSON.parse(r.body).type === 'alert.repeat').length >= 2,
      5000,
      'two repeats'
    );
    await api().post(`/moby/alerts/${ev[0].payload.alert.alert_id}/ack`).send({ by: 'yoon' }).expect(200);
    await sleep(100);
    const n = hook.delivered().length;
    await sleep(500);
    assert.equal(hook.delivered().length, n, 'no repeats after the ack');
    const ids = hook.delivered().map((r) => r.headers['webhook-id']);
    assert.equal(new Set(ids).size, ids.length, 'every reminder has its own id');
  });

  it('LLM endpoint down: the notification goes out with the template summary', async () => {
    const hook = await receiver();
    const llm = await receiver({ alwaysFail: 500 });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', llm: 'ai', ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url },
        { id: 'ai', type: 'moby-llm', url: `${llm.url}/v1/chat/completions`, model: 'tiny', timeout: 1 },
      ]),
      { ai: { key: 'sk-test' } }
    );
    send(anomalyMsg('pump-9', true));
    await waitFor(() => hook.delivered().length === 1, 5000, 'delivery');
    assert.equal(llm.requests.length, 1);
    const body = JSON.parse(hook.delivered()[0].body);
    assert.match(
      body.data.summary,
      /^WARNING: Anomaly on pump-9: readings unlike calibration, pca score 0\.93.*Inspect the machine/
    );
  });

  it('LLM endpoint hanging: after its timeout the template summary goes out, later incidents skip it during the cooldown', async () => {
    const hook = await receiver();
    const llm = await receiver({ alwaysFail: 'timeout' });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', llm: 'ai', ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url },
        {
          id: 'ai',
          type: 'moby-llm',
          url: `${llm.url}/v1/chat/completions`,
          model: 'tiny',
          timeout: 0.3,
          cooldown: 60,
        },
      ])
    );
    send(anomalyMsg('pump-9', true));
    await waitFor(() => hook.delivered().length === 1, 5000, 'first delivery, after the LLM timeout');
    send(anomalyMsg('pump-10', true));
    await waitFor(() => hook.delivered().length === 2, 5000, 'second delivery');
    assert.equal(llm.requests.length, 1, 'the second incident did not wait for another timeout');
    for (const r of hook.delivered()) assert.match(JSON.parse(r.body).data.summary, /^WARNING: Anomaly on pump-(9|10)/);
  });

  it('an open alert raised from warning to critical pages again, once, with a new summary (before: only the warning page)', async () => {
    const hook = await receiver();
    let asked = 0;
    const llm = await receiver({
      reply: () => ({ choices: [{ message: { content: `Summary ${++asked}: stop pump 4 and check its bearing.` } }] }),
    });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', llm: 'ai', autoResolvePoints: 3, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url },
        { id: 'ai', type: 'moby-llm', url: `${llm.url}/v1/chat/completions`, model: 'tiny', timeout: 1 },
      ])
    );
    const critical = () => {
      const m = anomalyMsg('pump-4', true, 11348);
      (m.anomaly as { severity: string }).severity = 'critical';
      return m;
    };
    send(anomalyMsg('pump-4', true));
    await waitFor(() => hook.delivered().length === 1, 5000, 'the opening');
    send(critical());
    await waitFor(() => hook.delivered().length === 2, 5000, 'the rise');
    // more critical readings, and a warning one: the alert stays critical, nobody is paged again
    send(critical());
    send(anomalyMsg('pump-4', true));
    send(critical());
    await sleep(500);
    const bodies = hook.delivered().map((r) => JSON.parse(r.body));
    assert.deepEqual(
      bodies.map((b) => [b.type, b.data.alert.severity]),
      [
        ['alert.open', 'warning'],
        ['alert.raise', 'critical'],
      ]
    );
    assert.equal(bodies[0].data.summary, 'Summary 1: stop pump 4 and check its bearing.');
    assert.equal(bodies[1].data.summary, 'Summary 2: stop pump 4 and check its bearing.');
    assert.equal(llm.requests.length, 2);
  });

  it("an update that pages nobody tells the alert's template summary again: the API does not keep the text of the last page (operator round 2026-12-06, O3: '275 lost so far' beside 2,774)", async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', ...FAST_RETRY }, [{ id: 'wh', type: 'moby-webhook', url: hook.url }])
    );
    const ev = collect('ev');
    const said = (message: string) =>
      send({ alert: { device_id: 'database@db:8086', rule: 'database_unwritable', severity: 'critical', message } });
    said('The database has not taken points, and points are being lost; 275 lost so far.');
    await waitFor(() => hook.delivered().length === 1, 5000, 'the page');
    const id = ev.find((m) => m.payload.event === 'open')!.payload.alert.alert_id;
    assert.match((await api().get(`/moby/alerts/${id}`)).body.summary, /275 lost so far/);
    said('The database has not taken points, and points are being lost; 2774 lost so far.');
    await waitFor(() => ev.some((m) => m.payload.event === 'update'), 5000, 'the update');
    await waitFor(
      async () => /2774 lost so far/.test((await api().get(`/moby/alerts/${id}`)).body.summary),
      5000,
      'the summary told again'
    );
    const { summary } = (await api().get(`/moby/alerts/${id}`)).body;
    assert.match(summary, /^CRITICAL: .*2774 lost so far\./);
    assert.doesNotMatch(summary, /275 lost/);
    await sleep(300);
    assert.equal(hook.delivered().length, 1, 'still one page: an update is not news to wake anyone for');
  });

  it('notifyRaise off: a rise is an update event only, as before', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', notifyRaise: false, autoResolvePoints: 3, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url },
      ])
    );
    const ev = collect('ev');
    send(anomalyMsg('pump-5', true));
    await waitFor(() => hook.delivered().length === 1, 5000, 'the opening');
    const m = anomalyMsg('pump-5', true, 50);
    (m.anomaly as { severity: string }).severity = 'critical';
    send(m);
    await waitFor(() => ev.some((e) => e.payload.event === 'update'), 5000, 'the update event');
    const update = ev.find((e) => e.payload.event === 'update')!;
    assert.equal(update.payload.raised_from, 'warning');
    await sleep(300);
    assert.equal(hook.delivered().length, 1);
  });

  it('LLM endpoint up: summary from the model, asked once per incident and stored on the alert; a resolve gets the template', async () => {
    const hook = await receiver();
    const llm = await receiver({
      reply: () => ({
        choices: [{ message: { role: 'assistant', content: 'Pump 9 vibrates abnormally; check the bearing today.' } }],
      }),
    });
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', llm: 'ai', autoResolvePoints: 1, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: hook.url },
        { id: 'ai', type: 'moby-llm', url: `${llm.url}/v1/chat/completions`, model: 'tiny', timeout: 1 },
      ]),
      { ai: { key: 'sk-test' } }
    );
    const ev = collect('ev');
    send(anomalyMsg('pump-9', true));
    send(anomalyMsg('pump-9', false));
    await waitFor(() => hook.delivered().length === 2, 5000, 'open and resolve');
    assert.equal(llm.requests.length, 1, 'cached for the incident');
    assert.equal(llm.requests[0].headers.authorization, 'Bearer sk-test');
    assert.equal(JSON.parse(llm.requests[0].body).model, 'tiny');
    const [opened, resolved] = hook.delivered().map((r) => JSON.parse(r.body).data.summary);
    assert.equal(opened, 'Pump 9 vibrates abnormally; check the bearing today.');
    // a resolve states facts: the template, which reads as a resolve (the model's summary read like a new alert)
    assert.match(resolved, /^RESOLVED, was WARNING: Anomaly on pump-9: .* Nothing to do unless it comes back\.$/);
    const got = await api().get(`/moby/alerts/${ev[0].payload.alert.alert_id}`).expect(200);
    assert.equal(got.body.summary, resolved, 'the alert keeps the summary of its last notification');
  });
  it('a flapping condition pages once per Quiet reopens window; the next page says how often it flapped', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, quietReopenSec: 1, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      { wh: { secret: WEBHOOK_SECRET } }
    );
    // the metrics are the process's: earlier tests may have quieted openings too
    const quieted = async () =>
      Number(
        /moby_events_total\{node_type="moby-alert",event="reopen_quieted"\} (\d+)/.exec(
          (await api().get('/moby/metrics').expect(200)).text
        )?.[1] ?? 0
      );
    const quietedBefore = await quieted();
    const events = collect('ev');
    for (let i = 0; i < 5; i++) {
      send(anomalyMsg('fan-9', true));
      send(anomalyMsg('fan-9', false));
    }
    await waitFor(() => events.length === 10, 5000, 'five openings and five resolves');
    await waitFor(() => hook.delivered().length === 2, 5000, 'the first opening and its resolve');
    await sleep(300);
    const body = (i: number) => JSON.parse(hook.delivered()[i].body);
    assert.deepEqual(
      [0, 1].map((i) => body(i).type),
      ['alert.open', 'alert.resolve']
    );
    const list = (await api().get('/moby/alerts?device_id=fan-9').expect(200)).body as unknown[];
    assert.equal(list.length, 5, 'every episode keeps its own alert record');
    // past the window the next opening is paged, with the four quiet ones since the last page
    await sleep(1100);
    send(anomalyMsg('fan-9', true));
    await waitFor(() => hook.delivered().length === 3, 5000, 'the next opening after the window');
    assert.equal(body(2).type, 'alert.open');
    assert.equal(body(2).data.quieted.count, 4);
    assert.equal(body(2).data.quieted.since, body(0).data.alert.opened_at);
    assert.equal((await quieted()) - quietedBefore, 4, 'counted in moby_events_total{event="reopen_quieted"}');
  });

  it('the raise of a quiet reopen is paged as its opening, with the quiet count, not as a raise of an alert nobody was told of (red-team round 2026-12-06)', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, quietReopenSec: 600, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      { wh: { secret: WEBHOOK_SECRET } }
    );
    const critical = () => anomalyMsg('fan-8', true, 0.99, 'critical');
    send(critical()); // paged
    send(anomalyMsg('fan-8', false)); // resolved, paged
    await waitFor(() => hook.delivered().length === 2, 5000, 'the first opening and its resolve');
    send(anomalyMsg('fan-8', true)); // a warning within the window: quiet
    await sleep(500);
    assert.equal(hook.delivered().length, 2, 'quiet');
    send(critical()); // the same alert raised to critical
    await waitFor(() => hook.delivered().length === 3, 5000, 'the raise');
    const body = JSON.parse(hook.delivered()[2].body);
    assert.equal(body.type, 'alert.open', 'paged as its opening (before: alert.raise of an alert never paged)');
    assert.equal(body.data.alert.severity, 'critical');
    assert.equal(body.data.quieted, undefined, 'no quiet opening before it');
    send(anomalyMsg('fan-8', false));
    await waitFor(() => hook.delivered().length === 4, 5000, 'its resolve, news now');
    assert.equal(JSON.parse(hook.delivered()[3].body).type, 'alert.resolve');
  });

  it('a condition flapping through a restart (a deploy) stays quiet: the window and the count go on from the alerts and the sent notifications', async () => {
    const hook = await receiver();
    const flow = () =>
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, quietReopenSec: 60, persist: 'journal', ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]);
    await loadAlertFlow(flow(), { wh: { secret: WEBHOOK_SECRET } });
    let events = collect('ev');
    send(anomalyMsg('fan-6', true));
    send(anomalyMsg('fan-6', false));
    send(anomalyMsg('fan-6', true)); // quiet, and left open
    await waitFor(() => events.length === 3, 5000, 'two openings and a resolve');
    await waitFor(() => hook.delivered().length === 2, 5000, 'the first opening and its resolve');
    const pagedAt = JSON.parse(hook.delivered()[0].body).data.alert.opened_at;

    // the node restarts (a deploy or a restart of Node-RED): same user directory, same journals
    await helper.unload();
    await loadAlertFlow(flow(), { wh: { secret: WEBHOOK_SECRET } });
    events = collect('ev');
    send(anomalyMsg('fan-6', false)); // resolves the quiet alert: not news
    send(anomalyMsg('fan-6', true)); // opens again within the window: quiet
    send(anomalyMsg('fan-6', false));
    await waitFor(() => events.length === 3, 5000, 'a resolve, an opening and a resolve after the restart');
    await sleep(500);
    assert.equal(hook.delivered().length, 2, `nothing paged after the restart: ${hook.delivered().map((r) => r.body)}`);
    const list = (await api().get('/moby/alerts?device_id=fan-6').expect(200)).body as unknown[];
    assert.equal(list.length, 3, 'every episode keeps its alert record');

    // a higher severity is news at once, and says how many were quiet since the page before the restart
    const critical = anomalyMsg('fan-6', true);
    (critical.anomaly as { severity: string }).severity = 'critical';
    send(critical);
    await waitFor(() => hook.delivered().length === 3, 5000, 'the critical opening');
    const body = JSON.parse(hook.delivered()[2].body);
    assert.equal(body.type, 'alert.open');
    assert.equal(body.data.alert.severity, 'critical');
    assert.deepEqual(body.data.quieted, { count: 2, since: pagedAt });
  });

  it('a quiet alert escalated before a restart has its resolve sent after it (the escalation made it news)', async () => {
    const hook = await receiver();
    const flow = () =>
      alertFlow(
        {
          webhook: 'wh',
          autoResolvePoints: 1,
          quietReopenSec: 60,
          escalateAfterSec: 0.3,
          persist: 'journal',
          ...FAST_RETRY,
        },
        [{ id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 }]
      );
    await loadAlertFlow(flow(), { wh: { secret: WEBHOOK_SECRET } });
    send(anomalyMsg('fan-7', true)); // paged
    send(anomalyMsg('fan-7', false)); // its resolve is sent
    send(anomalyMsg('fan-7', true)); // quiet, left open, unacknowledged: escalates
    const types = () => hook.delivered().map((r) => JSON.parse(r.body).type as string);
    await waitFor(() => types().length === 3, 5000, 'the opening, its resolve and the escalation of the quiet one');
    assert.deepEqual(types(), ['alert.open', 'alert.resolve', 'alert.escalate']);

    await helper.unload();
    await loadAlertFlow(flow(), { wh: { secret: WEBHOOK_SECRET } });
    send(anomalyMsg('fan-7', false));
    await waitFor(() => types().length === 4, 5000, `the escalated alert's resolve after the restart: ${types()}`);
    assert.equal(types()[3], 'alert.resolve');
    assert.equal(
      JSON.parse(hook.delivered()[3].body).data.alert.alert_id,
      JSON.parse(hook.delivered()[2].body).data.alert.alert_id
    );
  });

  it("an opening right after a person resolved the previous alert says so: the condition outlived the resolve (operator round 2026-12-07: the page did not link it to the operator's resolve)", async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', quietReopenSec: 0, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      { wh: { secret: WEBHOOK_SECRET } }
    );
    const ev = collect('ev');
    send(anomalyMsg('pump-9', true));
    await waitFor(() => hook.delivered().length === 1, 5000, 'the first page');
    const first = ev[0].payload.alert.alert_id;
    await api().post(`/moby/alerts/${first}/resolve`).send({ by: 'op1' }).expect(200);
    send(anomalyMsg('pump-9', true)); // the fault is still there
    await waitFor(() => hook.delivered().length === 3, 5000, 'the resolve and the new opening');
    const bodies = hook.delivered().map((r) => JSON.parse(r.body));
    const opening = bodies[2];
    assert.equal(opening.type, 'alert.open');
    assert.notEqual(opening.data.alert.alert_id, first);
    assert.equal(opening.data.reopened.alert_id, first);
    assert.equal(opening.data.reopened.by, 'op1');
    assert.match(
      opening.data.summary,
      new RegExp(
        `Reopened \\d+ s after op1 resolved the previous alert \\(${first}\\) by hand: its condition is still there\\.$`
      )
    );
    assert.equal(bodies[0].data.reopened, undefined, 'the first opening followed no resolve');
    // an automatic resolve is not a person's: the next opening says nothing of it
    send(anomalyMsg('pump-9', false));
    send(anomalyMsg('pump-9', false));
    send(anomalyMsg('pump-9', false));
    await waitFor(() => hook.delivered().length === 4, 5000, 'the automatic resolve');
    send(anomalyMsg('pump-9', true));
    await waitFor(() => hook.delivered().length === 5, 5000, 'the next opening');
    assert.equal(JSON.parse(hook.delivered()[4].body).data.reopened, undefined);
  });

  it('Quiet reopens 0 pages every opening', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, quietReopenSec: 0, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      { wh: { secret: WEBHOOK_SECRET } }
    );
    for (let i = 0; i < 3; i++) {
      send(anomalyMsg('fan-8', true));
      send(anomalyMsg('fan-8', false));
    }
    await waitFor(() => hook.delivered().length === 6, 5000, 'three openings and three resolves');
  });

  it('a muted device (maintenance window via the API) keeps its alert record but notifies nobody', async () => {
    const hook = await receiver();
    await loadAlertFlow(
      alertFlow({ webhook: 'wh', autoResolvePoints: 1, ...FAST_RETRY }, [
        { id: 'wh', type: 'moby-webhook', url: `${hook.url}/moby`, timeout: 0.3 },
      ]),
      {
        wh: { secret: WEBHOOK_SECRET },
      }
    );
    const muted = await api()
      .post('/moby/devices/pump-1/mute')
      .send({ minutes: 30, by: 'kim', note: 'bearing swap' })
      .expect(200);
    assert.equal(muted.body.muted, true);
    const events = collect('ev');
    send(anomalyMsg('pump-1', true));
    send(anomalyMsg('pump-2', true));
    await waitFor(() => hook.delivered().length === 1, 10000, 'the unmuted device notified');
    send(anomalyMsg('pump-1', false)); // resolves (autoResolvePoints 1): not notified either
    await waitFor(() => events.length === 3, 5000, 'open, open, resolve events');
    await sleep(400);
    assert.equal(hook.delivered().length, 1, 'only pump-2 was notified');
    assert.match(hook.delivered()[0].body, /pump-2/);
    const list = (await api().get('/moby/alerts').expect(200)).body as Array<{ device_id: string; muted?: boolean }>;
    assert.equal(list.find((a) => a.device_id === 'pump-1')?.muted, true, 'the record stays, marked muted');
    assert.equal(list.find((a) => a.device_id === 'pump-2')?.muted, undefined);
    const devices = (await api().get('/moby/devices').expect(200)).body as Array<{
      device_id: string;
      muted?: boolean;
      mute?: { by: string };
    }>;
    assert.equal(devices.find((d) => d.device_id === 'pump-1')?.mute?.by, 'kim');
    // after unmute, the device notifies again
    await api().post('/moby/devices/pump-1/unmute').send({}).expect(200);
    send(anomalyMsg('pump-1', true));
    await waitFor(() => hook.delivered().length === 2, 10000, 'pump-1 notified after unmute');
  });
});
