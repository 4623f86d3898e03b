// Real-browser test: Debian's Chromium (driven by playwright-core) renders the panel in the harness with 50
// devices and 200 alerts in both themes, checks what an operator sees, acknowledges an alert against a local
// HTTP server, and saves screenshots to test-artifacts/grafana-panel/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Browser, chromium, Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, HarnessServer, harnessBuilt, startServer } from './server';

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'grafana-panel');
const haveChromium = fs.existsSync(CHROMIUM);
// In CI a missing browser is a failure, not a skip.
const skip = !haveChromium && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false;

const EXPECTED_SUMMARY =
  '100 firing (20 critical), 50 acknowledged, 50 resolved · 38/50 online, 5 silent, 5 offline, 2 unknown';

describe('MOBY panel in Chromium', { skip }, () => {
  let server: HarnessServer;
  let browser: Browser;

  before(async () => {
    assert.ok(haveChromium, `Chromium not found at ${CHROMIUM} (CI=true requires it)`);
    assert.ok(harnessBuilt(), 'harness not built: run `npm run build:harness` in grafana-plugin');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(
    theme: 'dark' | 'light',
    devices = 50,
    alerts = 200,
    options: Record<string, unknown> = {}
  ): Promise<{ page: Page; colors: Record<string, string> }> {
    const page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url + '/');
    await page.waitForFunction(() => (window as any).mobyHarness?.ready);
    const res = await page.evaluate(
      (req) => (window as any).mobyHarness.render(req),
      { theme, devices, alerts, apiUrl: server.url + '/moby', width: 1400, height: 900, options }
    );
    assert.deepEqual(errors, []);
    return { page, colors: res.colors };
  }

  for (const theme of ['dark', 'light'] as const) {
    it(`${theme} theme: shows health, alerts and acknowledges through the API`, async () => {
      const { page, colors } = await open(theme);
      try {
        const summary = page.getByTestId('summary');
        assert.equal((await summary.textContent())?.trim(), EXPECTED_SUMMARY);

        // Theme tokens reach the page: the canvas and the state colours are the theme's own.
        const bodyBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        const offline = page.locator('[data-testid="device-card"][data-state="offline"]').first();
        assert.equal(await offline.evaluate((el) => getComputedStyle(el).borderLeftColor), toRgb(colors.error));
        assert.equal(bodyBg, toRgb(colors.canvas));
        assert.match((await offline.textContent()) ?? '', /OFFLINE.*ago/);

        // Worst first on both sides: offline cards, then firing critical alerts.
        const firstCardState = await page.getByTestId('device-card').first().getAttribute('data-state');
        assert.equal(firstCardState, 'offline');
        const rows = page.getByTestId('alert-row');
        assert.equal(await rows.count(), 150);
        assert.equal(await rows.first().getAttribute('data-phase'), 'firing');
        assert.equal(await rows.first().getAttribute('data-severity'), 'critical');
        assert.ok(await rows.first().getByText('Firing').isVisible());

        await page.screenshot({ path: path.join(ARTIFACTS, `panel-${theme}.png`) });

        // Clicking a card narrows the alerts to that device.
        const card = page.locator('[data-testid="device-card"]:has([data-testid="open-alerts"])').first();
        const device = (await card.getAttribute('data-device'))!;
        await card.click();
        const deviceRows = await page.getByTestId('alert-row').allTextContents();
        assert.ok(deviceRows.length > 0 && deviceRows.every((t) => t.includes(device)), 'device filter');
        await page.getByRole('button', { name: `Clear device filter ${device}` }).click();
        assert.equal(await page.getByTestId('alert-row').count(), 150);

        // Acknowledge the top alert with a note; the local API records the call and the row flips.
        const top = page.getByTestId('alert-row').first();
        const id = (await top.getAttribute('data-alert'))!;
        await top.getByRole('button', { name: 'Acknowledge' }).click();
        await top.getByLabel('Note').fill(`on it (${theme})`);
        await top.getByRole('button', { name: 'Confirm acknowledge' }).click();
        const acked = page.locator(`[data-testid="alert-row"][data-alert="${id}"]`);
        await acked.getByText('ack by operator').waitFor();
        assert.equal(await acked.getAttribute('data-phase'), 'acknowledged');
        assert.match((await acked.textContent()) ?? '', new RegExp(`note: on it \\(${theme}\\)`));
        assert.deepEqual(
          server.calls.filter((c) => c.id === id).pop(),
          { id, action: 'ack', body: { by: 'operator', note: `on it (${theme})` } }
        );
        assert.match((await summary.textContent()) ?? '', /^99 firing/);

        // A failing API call is visible on the alert and the row stays firing.
        const next = page.locator('[data-testid="alert-row"][data-phase="firing"]').first();
        const failId = (await next.getAttribute('data-alert'))!;
        server.failIds.add(failId);
        await next.getByRole('button', { name: 'Acknowledge' }).click();
        await next.getByRole('button', { name: 'Confirm acknowledge' }).click();
        const failed = page.locator(`[data-testid="alert-row"][data-alert="${failId}"]`);
        await failed.getByRole('alert').waitFor();
        assert.equal(
          (await failed.getByRole('alert').textContent())?.trim(),
          `Acknowledge failed: alert ${failId} was changed by someone else`
        );
        assert.equal(await failed.getAttribute('data-phase'), 'firing');

        await page.screenshot({ path: path.join(ARTIFACTS, `panel-${theme}-after-ack.png`) });
      } finally {
        await page.close();
      }
    });
  }

  it('wall display: larger cards and text, equipment only', async () => {
    const { page } = await open('dark', 50, 200, { density: 'wall', fontSize: 150, viewMode: 'equipment' });
    try {
      assert.equal(await page.getByTestId('alert-list').count(), 0);
      const card = page.getByTestId('device-card').first();
      const box = (await card.boundingBox())!;
      assert.ok(box.height >= 200, `wall card height ${box.height}`);
      const fontPx = parseFloat(await card.evaluate((el) => getComputedStyle(el).fontSize));
      assert.ok(fontPx >= 28, `wall font ${fontPx}px`);
      await page.screenshot({ path: path.join(ARTIFACTS, 'panel-wall-dark.png') });
      // Picking a device opens its alerts beside the grid.
      await card.click();
      await page.getByTestId('alert-list').waitFor();
    } finally {
      await page.close();
    }
  });

  it('2,000 devices: summarised to problem devices, virtualised when showing all', async () => {
    const { page } = await open('dark', 2000, 400);
    try {
      assert.match((await page.getByTestId('summarised').textContent()) ?? '', /^2,000 devices: showing the \d+ that need attention/);
      const states = await page.getByTestId('device-card').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
      assert.ok(states.length > 0 && !states.includes('online'));
      await page.getByRole('button', { name: 'Show all' }).click();
      const count = await page.getByTestId('device-card').count();
      assert.ok(count > 10 && count < 200, `rendered ${count} cards of 2000`);
      // Scrolling to the end brings the last cards into the DOM.
      await page.getByTestId('equipment-grid').evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid="device-card"]')].some((e) => e.getAttribute('data-state') === 'online')
      );
      await page.screenshot({ path: path.join(ARTIFACTS, 'panel-2000-devices.png') });
    } finally {
      await page.close();
    }
  });
});

/** '#rrggbb' or 'rgb(...)' as getComputedStyle reports it. */
function toRgb(c: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c);
  return m ? `rgb(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)})` : c.replace(/,\s*/g, ', ');
}
