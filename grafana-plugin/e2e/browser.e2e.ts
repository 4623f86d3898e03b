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
    options: Record<string, unknown> = {},
    extra: { viewport?: { width: number; height: number }; fixture?: Record<string, unknown> } = {}
  ): Promise<{ page: Page; colors: Record<string, string> }> {
    const viewport = extra.viewport ?? { width: 1440, height: 960 };
    const page = await browser.newPage({ viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url + '/');
    await page.waitForFunction(() => (window as any).mobyHarness?.ready);
    const res = await page.evaluate((req) => (window as any).mobyHarness.render(req), {
      theme,
      devices,
      alerts,
      // same-origin data source proxy path, the only same-origin base the panel accepts
      apiUrl: '/api/datasources/proxy/uid/moby-api',
      // the panel fills the page (16 px body margin, 8 px panel padding, 1 px border on each side)
      width: viewport.width - 2 * 16 - 2 * 8 - 2,
      height: viewport.height - 2 * 16 - 2 * 8 - 2,
      options,
      fixture: extra.fixture,
    });
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
        // The card's colour is its worst condition: critical red if it also has a critical alert, else the
        // offline colour, which is not the critical one.
        const offlineCondition = await offline.getAttribute('data-condition');
        assert.equal(
          await offline.evaluate((el) => getComputedStyle(el).borderLeftColor),
          toRgb(offlineCondition === 'critical' ? colors.error : colors.offline)
        );
        assert.notEqual(toRgb(colors.offline), toRgb(colors.error));
        assert.equal(bodyBg, toRgb(colors.canvas));
        assert.match((await offline.textContent()) ?? '', /OFFLINE.*ago/);

        // Worst first on both sides: offline cards, then firing critical alerts.
        // Default sort: what the card colour says, worst first.
        const firstCard = page.getByTestId('device-card').first();
        assert.equal(await firstCard.getAttribute('data-condition'), 'critical');
        const rows = page.getByTestId('alert-row');
        // 150 alerts in the list (firing + acknowledged), only the visible ones in the DOM.
        assert.equal(await page.getByTestId('alert-list').getAttribute('data-total'), '150');
        assert.ok((await rows.count()) < 40, `virtualised: ${await rows.count()} rows in the DOM`);
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
        assert.equal(await page.getByTestId('alert-list').getAttribute('data-total'), '150');

        // Acknowledge the top alert with a note; the local API records the call and the row flips.
        const top = page.getByTestId('alert-row').first();
        const id = (await top.getAttribute('data-alert'))!;
        await top.getByRole('button', { name: 'Acknowledge' }).click();
        await top.getByLabel('Note').fill(`on it (${theme})`);
        await top.getByRole('button', { name: 'Confirm acknowledge' }).click();
        const acked = page.locator(`[data-testid="alert-row"][data-alert="${id}"]`);
        // Acknowledged sorts below the 100 firing alerts, out of the virtualised window: find it by its id.
        await page.getByLabel('Filter text').fill(id);
        await acked.getByText('ack by operator').waitFor();
        assert.equal(await acked.getAttribute('data-phase'), 'acknowledged');
        assert.match((await acked.textContent()) ?? '', new RegExp(`note: on it \\(${theme}\\)`));
        assert.deepEqual(server.calls.filter((c) => c.id === id).pop(), {
          id,
          action: 'ack',
          body: { by: 'operator', note: `on it (${theme})` },
        });
        assert.match((await summary.textContent()) ?? '', /^99 firing/);
        await page.getByLabel('Filter text').fill('');

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

  it('wall display: larger cards and text, equipment only (a few machines: no need to shrink)', async () => {
    const { page } = await open('dark', 8, 20, { density: 'wall', fontSize: 150, viewMode: 'equipment' });
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

  it('2,000 devices as cards: summarised to problem devices, virtualised when showing all', async () => {
    const { page } = await open('dark', 2000, 400, { equipmentLayout: 'cards' });
    try {
      assert.match(
        (await page.getByTestId('summarised').textContent()) ?? '',
        /^2,000 devices: showing the \d+ that need attention/
      );
      const states = await page
        .getByTestId('device-card')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
      assert.ok(states.length > 0 && !states.includes('online'));
      await page.getByRole('button', { name: 'Show all' }).click();
      const count = await page.getByTestId('device-card').count();
      assert.ok(count > 10 && count < 200, `rendered ${count} cards of 2000`);
      // Scrolling to the end brings the last cards into the DOM.
      await page.getByTestId('equipment-grid').evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid="device-card"]')].some(
          (e) => e.getAttribute('data-state') === 'online'
        )
      );
      await page.screenshot({ path: path.join(ARTIFACTS, 'panel-2000-devices.png') });
    } finally {
      await page.close();
    }
  });
  // What an operator must see on a card: the worst condition as the colour, each family with its own glyph,
  // measured values with units, the anomaly trend and score as a labelled share of its threshold, maintenance.
  for (const theme of ['dark', 'light'] as const) {
    it(`${theme}, 50 devices: worst-state colour, glyphs, values with units, sparkline, % of threshold, maintenance`, async () => {
      const { page, colors } = await open(
        'dark' === theme ? 'dark' : 'light',
        50,
        60,
        {},
        {
          viewport: { width: 1920, height: 1080 },
          // press-0003 is ONLINE with a critical alert; press-0004 is in a maintenance window
          fixture: { history: 30, telemetry: true, criticalOn: [2], mutedOn: [3] },
        }
      );
      try {
        const card = (id: string) => page.locator(`[data-testid="device-card"][data-device="${id}"]`);
        const band = (id: string) => card(id).getByTestId('card-band');

        // ONLINE with an open critical alert: the card is critical-coloured, not green.
        const hot = card('press-0003');
        assert.equal(await hot.getAttribute('data-state'), 'online');
        assert.equal(await hot.getAttribute('data-condition'), 'critical');
        assert.equal(await hot.evaluate((el) => getComputedStyle(el).borderTopColor), toRgb(colors.error));
        assert.equal(
          await band('press-0003').evaluate((el) => getComputedStyle(el).backgroundColor),
          toRgb(colors.error)
        );
        assert.equal(await band('press-0003').locator('svg').first().getAttribute('data-glyph'), 'critical');
        assert.match((await band('press-0003').textContent()) ?? '', /critical/i);

        // OFFLINE without alerts: its own colour, hatched, its own glyph; never the critical colour.
        const offlineOnly = page.locator('[data-testid="device-card"][data-condition="offline"]').first();
        const offBand = offlineOnly.getByTestId('card-band');
        assert.equal(await offlineOnly.evaluate((el) => getComputedStyle(el).borderTopColor), toRgb(colors.offline));
        assert.match(await offBand.evaluate((el) => getComputedStyle(el).backgroundImage), /repeating-linear-gradient/);
        assert.equal(await offBand.locator('svg').first().getAttribute('data-glyph'), 'offline');
        // SILENT is not drawn as a warning: different glyph and colour.
        const silentOnly = page.locator('[data-testid="device-card"][data-condition="silent"]').first();
        assert.equal(
          await silentOnly.getByTestId('card-band').locator('svg').first().getAttribute('data-glyph'),
          'silent'
        );
        assert.notEqual(await silentOnly.evaluate((el) => getComputedStyle(el).borderTopColor), toRgb(colors.warning));

        // Every card: measured values with units, a sparkline, the score as "% of anomaly threshold".
        const cards = page.getByTestId('device-card');
        const n = await cards.count();
        assert.ok(n >= 30, `${n} cards on screen`);
        for (let i = 0; i < n; i++) {
          const text = (await cards.nth(i).textContent()) ?? '';
          assert.match(text, /vibration\s?\d+(\.\d)? mm\/s/, text);
          assert.match(text, /motor\s?\d+ °C/, text);
          assert.match(text, /(\d+|<1)% of anomaly threshold/, text);
          assert.equal(await cards.nth(i).getByTestId('sparkline').locator('polyline').count(), 1);
        }
        const muted = card('press-0004').getByTestId('muted');
        assert.ok(await muted.isVisible());
        assert.match((await muted.textContent()) ?? '', /until \d\d:\d\d/);
        assert.equal(await card('press-0004').evaluate((el) => getComputedStyle(el).borderTopStyle), 'dashed');

        await page.screenshot({ path: path.join(ARTIFACTS, `panel-50-${theme}.png`) });
      } finally {
        await page.close();
      }
    });

    it(`${theme}, 2,000 devices on 1920×1080: every device a tile on one screen, rollups per line`, async () => {
      const { page } = await open(
        theme,
        2000,
        2000,
        {},
        {
          viewport: { width: 1920, height: 1080 },
          fixture: { criticalOn: [2], mutedOn: [3] },
        }
      );
      try {
        const view = page.getByTestId('tile-view');
        const tiles = page.getByTestId('device-tile');
        assert.equal(await tiles.count(), 2000);
        // Nothing to scroll, and every tile's box lies inside the view and the 1920×1080 viewport.
        const fit = await view.evaluate((el) => {
          const v = el.getBoundingClientRect();
          let outside = 0;
          let minSize = Infinity;
          for (const t of el.querySelectorAll('[data-testid="device-tile"]')) {
            const r = t.getBoundingClientRect();
            minSize = Math.min(minSize, r.width, r.height);
            if (
              r.top < v.top - 0.5 ||
              r.bottom > v.bottom + 0.5 ||
              r.right > v.right + 0.5 ||
              r.bottom > window.innerHeight
            ) {
              outside++;
            }
          }
          return { outside, minSize, scroll: el.scrollHeight - el.clientHeight };
        });
        assert.equal(fit.outside, 0, 'tiles outside the view');
        assert.ok(fit.scroll <= 0, `tile view scrolls by ${fit.scroll}px`);
        assert.ok(fit.minSize >= 12, `tiles ${fit.minSize}px: too small for a glyph`);

        // Rollups: one per line, counts add up to the fleet and match the tiles under them.
        const groups = page.getByTestId('tile-group');
        assert.equal(await groups.count(), 6);
        let total = 0;
        for (let g = 0; g < 6; g++) {
          const counts = await groups.nth(g).evaluate((el) => {
            const rollup: Record<string, number> = {};
            el.querySelectorAll('[data-rollup]').forEach(
              (c) => (rollup[c.getAttribute('data-rollup')!] = Number((c.textContent ?? '').replace(/\D/g, '')))
            );
            const tiles: Record<string, number> = {};
            el.querySelectorAll('[data-testid="device-tile"]').forEach((t) => {
              const c = t.getAttribute('data-condition')!;
              tiles[c] = (tiles[c] ?? 0) + 1;
            });
            return { rollup, tiles };
          });
          assert.deepEqual(counts.rollup, counts.tiles);
          total += Object.values(counts.tiles).reduce((a, b) => a + b, 0);
        }
        assert.equal(total, 2000);
        // The worst-state colour on a tile: the ONLINE press-0003 with a critical alert.
        assert.equal(
          await page.locator('[data-testid="device-tile"][data-device="press-0003"]').getAttribute('data-condition'),
          'critical'
        );
        await page.screenshot({ path: path.join(ARTIFACTS, `panel-2000-tiles-${theme}.png`) });

        // A rollup header narrows the view to its line.
        await groups.nth(0).getByTestId('rollup').click();
        assert.equal(await page.getByTestId('tile-group').count(), 1);
      } finally {
        await page.close();
      }
    });
  }

  it('alert list: 2,000 alerts, all reachable by scrolling (no 300-row stop), only visible rows in the DOM', async () => {
    const { page } = await open('dark', 2000, 2000, {
      viewMode: 'alerts',
      statusFilter: ['firing', 'acknowledged', 'resolved'],
    });
    try {
      const list = page.getByTestId('alert-list');
      assert.equal(await list.getAttribute('data-total'), '2000');
      const inDom = () => page.getByTestId('alert-row').count();
      assert.ok((await inDom()) < 40, `${await inDom()} rows in the DOM`);
      for (const pos of [301, 1000, 2000]) {
        await list.evaluate((el, p) => {
          const rowStride = el.scrollHeight / 2000;
          el.scrollTo(0, (p - 1) * rowStride);
        }, pos);
        const row = page.locator(`[data-testid="alert-row"][aria-posinset="${pos}"]`);
        await row.waitFor();
        assert.ok(await row.isVisible(), `row ${pos} visible`);
        assert.ok((await inDom()) < 40);
      }
      // The last row is the oldest resolved info alert: sorting holds down to the end.
      const last = page.locator('[data-testid="alert-row"][aria-posinset="2000"]');
      assert.equal(await last.getAttribute('data-phase'), 'resolved');
      assert.equal(await last.getAttribute('data-severity'), 'info');
      await page.screenshot({ path: path.join(ARTIFACTS, 'panel-alerts-row-2000.png') });
    } finally {
      await page.close();
    }
  });

  for (const theme of ['dark', 'light'] as const) {
    it(`${theme} wall display at 1920×1080, 150 %: all 50 cards on screen, every control scaled`, async () => {
      const viewport = { width: 1920, height: 1080 };
      const fixture = { history: 30, telemetry: true, criticalOn: [2], mutedOn: [3] };
      // Reference sizes: the same panel at normal density.
      const normal = await open(theme, 50, 60, {}, { viewport, fixture });
      const ref = await controlSizes(normal.page);
      assert.ok(ref.buttonHeight > 0 && ref.inputHeight > 0, `reference sizes ${JSON.stringify(ref)}`);
      await normal.page.close();

      const { page } = await open(
        theme,
        50,
        60,
        { density: 'wall', fontSize: 150, viewMode: 'equipment' },
        { viewport, fixture }
      );
      try {
        const cards = page.getByTestId('device-card');
        assert.equal(await cards.count(), 50);
        const boxes = await cards.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().bottom));
        assert.ok(Math.max(...boxes) <= viewport.height, `a card ends at ${Math.max(...boxes)}px`);
        const wall = await controlSizes(page);
        // 150 % × the wall density's 1.35: the filter, chips, and text grow about 2×; at least 1.8×.
        assert.ok(wall.inputHeight >= ref.inputHeight * 1.8, `filter ${ref.inputHeight} → ${wall.inputHeight}px`);
        assert.ok(wall.chipFont >= ref.chipFont * 1.8, `chip font ${ref.chipFont} → ${wall.chipFont}px`);
        assert.ok(wall.summaryFont >= ref.summaryFont * 1.8, `text ${ref.summaryFont} → ${wall.summaryFont}px`);
        await page.screenshot({ path: path.join(ARTIFACTS, `panel-wall-1920x1080-${theme}.png`) });

        // Picking a device opens its alerts, whose buttons are scaled too.
        await cards.first().click();
        await page.getByTestId('alert-list').waitFor();
        const button = page.getByTestId('alert-row').first().getByRole('button', { name: 'Resolve' });
        const h = (await button.boundingBox())!.height;
        assert.ok(h >= ref.buttonHeight * 1.8, `button ${ref.buttonHeight} → ${h}px`);
        await page.screenshot({ path: path.join(ARTIFACTS, `panel-wall-1920x1080-${theme}-device.png`) });
      } finally {
        await page.close();
      }
    });
  }
});

/** Sizes of the controls an operator reads and clicks, px. */
async function controlSizes(page: Page) {
  const inputHeight = (await page.getByLabel('Filter text').boundingBox())!.height;
  const chipFont = parseFloat(
    await page.getByRole('button', { name: /^offline/ }).evaluate((el) => getComputedStyle(el).fontSize)
  );
  const summaryFont = parseFloat(await page.getByTestId('summary').evaluate((el) => getComputedStyle(el).fontSize));
  const resolve = page.getByRole('button', { name: 'Resolve' }).first();
  const buttonHeight = (await resolve.count()) ? (await resolve.boundingBox())!.height : 0;
  return { inputHeight, chipFont, summaryFont, buttonHeight };
}

/** '#rrggbb' or 'rgb(...)' as getComputedStyle reports it. */
function toRgb(c: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c);
  return m ? `rgb(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)})` : c.replace(/,\s*/g, ', ');
}
