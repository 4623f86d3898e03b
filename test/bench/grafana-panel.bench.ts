// Grafana panel render time in real Chromium: the harness renders the panel with 50 devices (baseline) and
// 2,000 devices (as tiles — every device in the DOM —, as cards opening summarised, and with every card in the
// virtualised grid), several times each.
// Reports React render+commit time and time to the next frame, p50/p99.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, harnessBuilt, startServer } from '../../grafana-plugin/e2e/server';
import { fmt, percentiles } from './lib';

const RUNS = 15;
const WARMUP = 3;

interface Scenario {
  name: string;
  devices: number;
  alerts: number;
  options?: Record<string, unknown>;
}

const SCENARIOS: Scenario[] = [
  { name: '50 devices, 200 alerts (baseline)', devices: 50, alerts: 200 },
  { name: '2,000 devices, 2,000 alerts, tiles (auto)', devices: 2000, alerts: 2000 },
  {
    name: '2,000 devices, 2,000 alerts, cards summarised',
    devices: 2000,
    alerts: 2000,
    options: { equipmentLayout: 'cards' },
  },
  { name: '2,000 devices, 2,000 alerts, all cards', devices: 2000, alerts: 2000, options: { summariseAbove: 1e9 } },
];

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`skipped: no Chromium at ${CHROMIUM}`);
    return;
  }
  if (!harnessBuilt()) {
    const r = spawnSync('npm', ['run', 'build:harness', '-w', 'grafana-plugin'], {
      cwd: path.resolve(__dirname, '..', '..'),
      stdio: 'inherit',
    });
    if (r.status !== 0) {
      throw new Error('harness build failed');
    }
  }
  const server = await startServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    await page.goto(server.url + '/');
    await page.waitForFunction(() => (globalThis as any).mobyHarness?.ready);
    console.log(`Grafana panel render in Chromium, 1,800×1,000 px panel, ${RUNS} runs after ${WARMUP} warm-up`);
    console.log(
      `  ${'scenario'.padEnd(44)} ${'commit p50'.padStart(11)} ${'p99'.padStart(8)} ${'frame p50'.padStart(11)} ${'p99'.padStart(8)}  cards/tiles in DOM`
    );
    let baseline = 0;
    for (const s of SCENARIOS) {
      const commit: number[] = [];
      const frame: number[] = [];
      let cards = 0;
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const res = await page.evaluate((req) => (globalThis as any).mobyHarness.render(req), {
          theme: 'dark',
          devices: s.devices,
          alerts: s.alerts,
          width: 1800,
          height: 1000,
          apiUrl: server.url + '/moby',
          options: s.options,
        });
        if (i >= WARMUP) {
          commit.push(res.commitMs);
          frame.push(res.frameMs);
        }
      }
      cards = (await page.getByTestId('device-card').count()) + (await page.getByTestId('device-tile').count());
      const c = percentiles(commit, [50, 99]);
      const f = percentiles(frame, [50, 99]);
      if (!baseline) {
        baseline = f.p50;
      }
      const ratio = baseline ? `  (${fmt(f.p50 / baseline, 1)}× baseline)` : '';
      console.log(
        `  ${s.name.padEnd(44)} ${(fmt(c.p50, 1) + ' ms').padStart(11)} ${(fmt(c.p99, 1) + ' ms').padStart(8)} ${(fmt(f.p50, 1) + ' ms').padStart(11)} ${(fmt(f.p99, 1) + ' ms').padStart(8)}  ${cards}${ratio}`
      );
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
