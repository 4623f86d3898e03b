// The MOBY nodes in the real Node-RED editor, driven in Debian's Chromium through playwright-core:
//  - every shipped flow (flows/pipeline.json, examples/*.json) is imported and checked the way the Deploy
//    button checks it: no node or config node invalid, no unknown type (so no "nodes not properly configured"
//    prompt), no two nodes overlapping, the pipeline within one 1440 px wide screen;
//  - every MOBY edit dialog is opened on a node with its shipped values (or, for types no example uses, a
//    new one): the dialog opens, its title names the paletteLabel, no field is marked invalid; a screenshot of
//    each goes to test-artifacts/editor/<lang>/;
//  - the same in Korean (browser language ko): palette, dialog labels and help are Korean.
// Node-RED runs as a real process with this package linked into its user directory and an empty flow, so
// nothing is deployed and no broker or database is needed.
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { freePort, requiredInCi, waitFor } from '../support/net';

// browser globals used inside page.evaluate callbacks (the tests compile without the DOM library)
declare const window: any;
declare const document: any;
declare const $: any;

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string };
const ARTIFACTS = path.join(root, 'test-artifacts', 'editor');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const FLOW_FILES = [
  'flows/pipeline.json',
  ...fs
    .readdirSync(path.join(root, 'examples'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => `examples/${f}`),
];
const readFlow = (f: string) =>
  JSON.parse(fs.readFileSync(path.join(root, f), 'utf8')) as Array<Record<string, unknown>>;
/** Hangul syllables: a Korean string is present */
const HANGUL = /[\uac00-\ud7a3]/;

interface NodeInfo {
  id: string;
  type: string;
  name: string;
  valid: boolean;
  errors: string[];
  z: string;
  x: number;
  y: number;
  w: number;
  h: number;
  config: boolean;
}

describe('MOBY nodes in the Node-RED editor (Chromium)', function () {
  this.timeout(600000);
  let child: ChildProcess | undefined;
  let userDir = '';
  let url = '';
  let browser: Browser | undefined;
  let output = '';

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) requiredInCi(this, `Chromium is required in CI but was not found at ${CHROMIUM}`);
    assert.ok(fs.existsSync(path.join(root, 'dist', 'nodes', 'influx', 'moby-influx.html')), 'run npm run build first');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-editor-'));
    const link = path.join(userDir, 'node_modules', pkg.name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(root, link, 'dir');
    fs.writeFileSync(
      path.join(userDir, 'package.json'),
      JSON.stringify({ name: 'moby-editor-test', private: true, dependencies: { [pkg.name]: `file:${root}` } })
    );
    fs.writeFileSync(path.join(userDir, 'flows.json'), '[]');
    const settings = path.join(userDir, 'settings.js');
    fs.writeFileSync(
      settings,
      `module.exports = ${JSON.stringify({
        uiPort: port,
        uiHost: '127.0.0.1',
        flowFile: 'flows.json',
        credentialSecret: 'editor-test-only',
        editorTheme: { tours: false, projects: { enabled: false } },
        telemetry: { enabled: false },
        logging: { console: { level: 'info', metrics: false, audit: false } },
      })};\n`
    );
    const c = spawn(
      process.execPath,
      [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', settings],
      {
        cwd: userDir,
        env: { ...process.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    );
    child = c;
    c.stdout!.on('data', (d) => (output += d));
    c.stderr!.on('data', (d) => (output += d));
    await waitFor(
      () => {
        if (c.exitCode !== null) throw new Error(`Node-RED exited with ${c.exitCode}\n${output.slice(-3000)}`);
        // red.js listens only after the flows started: wait for its listen callback's line too
        return /Started flows/.test(output) && /Server now running at/.test(output);
      },
      120000,
      'Node-RED started',
      100
    );
    assert.doesNotMatch(output, /\[moby-[a-z-]+\].*(Error|error)/, 'the MOBY node sets load without errors');
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  // a full-HD screen: the shipped pipeline must fit its workspace at zoom 1
  async function openEditor(lang: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser!.newContext({ locale: lang, viewport: { width: 1920, height: 1080 } });
    const page = await context.newPage();
    // generous: CI machines are shared; nothing here measures speed
    page.setDefaultTimeout(180000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url + '/', { timeout: 180000 });
    // the editor has finished loading: every node set of this package registered its types (the editor appends
    // node sets one after another, MOBY's after the core ones, each after its moby-editor.js <script src> loaded,
    // while the palette already shows) and the loading bar is gone (Node-RED 4 hides #red-ui-loading-progress
    // after the flows loaded). A flow imported earlier gets "unknown" nodes for the sets still missing, and
    // Node-RED re-imports them when the set arrives with the config-node ids of the flow file, not the ones the
    // import generated: the durable MQTT input's broker then pointed at no node (docs/editor.md, "Config-node
    // references and late node sets")
    await page.waitForFunction(
      (mod) => {
        const RED = (window as any).RED;
        const sets = RED?.nodes?.registry?.getNodeList?.() ?? [];
        const ours = sets.filter((s: any) => s.module === mod && s.enabled);
        return (
          ours.length > 0 &&
          ours.every((s: any) => s.types.every((t: string) => RED.nodes.getType(t))) &&
          document.querySelector('#red-ui-palette .red-ui-palette-node') &&
          $('#red-ui-loading-progress').length === 1 &&
          $('#red-ui-loading-progress').is(':hidden')
        );
      },
      pkg.name,
      { timeout: 120000 }
    );
    return { page, errors };
  }

  /** Imports a flow without ids of its own and returns its nodes as the Deploy check sees them. */
  async function importFlow(page: Page, flow: unknown[]): Promise<NodeInfo[]> {
    return page.evaluate((flow) => {
      const RED = (window as any).RED;
      const before = new Set<string>();
      RED.nodes.eachNode((n: any) => before.add(n.id));
      RED.nodes.eachConfig((n: any) => before.add(n.id));
      RED.nodes.import(flow, { generateIds: true, addFlow: false });
      const out: any[] = [];
      // exactly what the Deploy button looks at: regular nodes as the import left them (the red triangle on the
      // canvas), config nodes validated when they have not been yet
      const take = (config: boolean) => (n: any) => {
        if (before.has(n.id)) return;
        if (config && n.valid === undefined) RED.editor.validateNode(n);
        out.push({
          id: n.id,
          type: n.type,
          name: n.name || '',
          valid: n.valid !== false,
          errors: Array.isArray(n.validationErrors) ? n.validationErrors : [],
          z: n.z || '',
          x: n.x,
          y: n.y,
          w: n.w,
          h: n.h,
          config,
        });
      };
      RED.nodes.eachConfig(take(true));
      RED.nodes.eachNode(take(false));
      return out;
    }, flow);
  }

  describe('shipped flows', () => {
    let page: Page;
    let errors: string[];
    before(async () => ({ page, errors } = await openEditor('en-US')));
    after(async () => page?.context().close());

    for (const file of FLOW_FILES) {
      it(`${file}: imports with every node valid, no overlaps, fits the screen`, async () => {
        const flow = readFlow(file);
        const types = [...new Set(flow.map((n) => String(n.type)))].filter((t) => t !== 'tab');
        // openEditor waited for the editor to finish loading: a type missing now is reported below
        const nodes = await importFlow(page, flow);
        const known = await page.evaluate(
          (types) => types.filter((t: string) => !(window as any).RED.nodes.getType(t)),
          types
        );
        assert.deepEqual(known, [], `${file}: unknown node types`);
        const invalid = nodes
          .filter((n) => !n.valid)
          .map((n) => `${n.type} "${n.name}": ${n.errors.join(', ') || 'invalid'}`);
        assert.deepEqual(invalid, [], `${file}: invalid nodes`);
        assert.equal(nodes.length, flow.filter((n) => n.type !== 'tab').length, 'every node imported');

        // layout: the rendered size of each node on its tab; no two overlap, nothing beyond 1440 px
        const tab = flow.find((n) => n.type === 'tab');
        assert.ok(tab, `${file} has a tab`);
        const tabId = await page.evaluate((label) => {
          const RED = (window as any).RED;
          let id = '';
          RED.nodes.eachWorkspace((w: any) => {
            if (w.label === label) id = w.id;
          });
          RED.workspaces.show(id);
          RED.view.redraw(true);
          return id;
        }, String(tab.label));
        await page.waitForTimeout(300);
        // rendered boxes; a node that shows a status (MOBY nodes, mqtt, debug with status) needs room for the
        // status text below it (about 20 px high, up to 180 px wide)
        const { boxes, chart } = await page.evaluate((z) => {
          const RED = (window as any).RED;
          const out: any[] = [];
          RED.nodes.eachNode((n: any) => {
            if (n.z !== z) return;
            const status = /^moby-/.test(n.type) || n.type === 'mqtt in' || (n.type === 'debug' && n.tostatus);
            out.push({
              name: n.name || n.type,
              x: n.x - n.w / 2,
              y: n.y - n.h / 2,
              w: status ? Math.max(n.w, 180) : n.w,
              h: n.h + (status ? 22 : 0),
              right: n.x + n.w / 2,
              bottom: n.y + n.h / 2,
            });
          });
          const el = document.getElementById('red-ui-workspace-chart')!;
          return { boxes: out, chart: { w: el.clientWidth, h: el.clientHeight } };
        }, tabId);
        assert.ok(boxes.length > 0);
        for (let i = 0; i < boxes.length; i++) {
          const a = boxes[i];
          assert.ok(a.w > 0 && a.h > 0, `${a.name} rendered`);
          assert.ok(
            a.x >= 0 && a.y >= 0 && a.right <= chart.w && a.bottom <= chart.h,
            `${file}: "${a.name}" within the ${chart.w}×${chart.h} workspace of a 1920×1080 screen (right ${Math.round(a.right)}, bottom ${Math.round(a.bottom)})`
          );
          for (let j = i + 1; j < boxes.length; j++) {
            const b = boxes[j];
            const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
            assert.ok(!overlap, `${file}: "${a.name}" and "${b.name}" (or their status text) overlap`);
          }
        }
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({
          path: path.join(
            ARTIFACTS,
            `flow-${path.basename(file, '.json')}${file.startsWith('flows/') ? '-shipped' : ''}.png`
          ),
        });
        assert.deepEqual(errors, []);
      });
    }
  });

  // docs/topic-patterns.md: the dialogs show old topic settings in the shared syntax, and Done saves that form
  describe('a flow saved with the old topic settings', () => {
    it('imports valid; the verify and health dialogs show the migrated patterns and save them', async () => {
      const { page, errors } = await openEditor('en-US');
      try {
        const flow = JSON.parse(
          fs.readFileSync(path.join(root, 'test', 'fixtures', 'flows', 'topic-settings-before.json'), 'utf8')
        ) as Array<Record<string, unknown>>;
        const types = [...new Set(flow.map((n) => String(n.type)))].filter((t) => t !== 'tab');
        await page.waitForFunction((types) => types.every((t: string) => (window as any).RED.nodes.getType(t)), types, {
          timeout: 60000,
        });
        const nodes = await importFlow(page, flow);
        assert.deepEqual(
          nodes.filter((n) => !n.valid).map((n) => `${n.type} "${n.name}": ${n.errors.join(', ')}`),
          [],
          'old settings are valid before the dialog migrates them'
        );
        const byName = (name: string) => nodes.find((n) => n.name === name)!.id;
        const edit = async (id: string, fields: string[]) => {
          await page.evaluate((id) => {
            const RED = (window as any).RED;
            const n = RED.nodes.node(id);
            RED.workspaces.show(n.z);
            RED.editor.edit(n);
          }, id);
          await page.waitForFunction(
            () => document.querySelectorAll('.red-ui-tray #dialog-form').length === 1,
            undefined,
            { timeout: 90000 }
          );
          await page.waitForTimeout(400);
          const shown = await page.evaluate(
            (fields) =>
              Object.fromEntries(
                fields.map((f: string) => [
                  f,
                  (document.getElementById(`node-input-${f}`) as unknown as { value: string }).value,
                ])
              ),
            fields
          );
          const invalid = await page.locator('.red-ui-tray .input-error').evaluateAll((els) => els.map((e) => e.id));
          const visible = await page
            .locator('.red-ui-tray #dialog-form input[type=text]')
            .evaluateAll((els) => els.map((e) => e.id));
          await page.locator('#node-dialog-ok').click();
          await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, {
            timeout: 10000,
          });
          const saved = await page.evaluate(
            ({ id, fields }) =>
              Object.fromEntries(fields.map((f: string) => [f, (window as any).RED.nodes.node(id)[f]])),
            { id, fields }
          );
          return { shown, invalid, saved, visible };
        };
        const verify = await edit(byName('verify (device is +2)'), ['topicPattern', 'topicLevel']);
        assert.deepEqual(verify.shown, { topicPattern: 'site/+/+device_id/telemetry', topicLevel: '' });
        assert.deepEqual(verify.invalid, []);
        assert.deepEqual(verify.saved, verify.shown);
        assert.ok(
          verify.visible.includes('node-input-topicPattern') && !verify.visible.includes('node-input-topicLevel'),
          'one Topic pattern field, no "Device ID wildcard"'
        );
        const health = await edit(byName('health'), ['lwtTopics', 'statusTopics', 'activityTopics']);
        const migrated = {
          lwtTopics: 'device/lwt/+device_id',
          statusTopics: 'device/status/+device_id, plant/+/status/+device_id',
          activityTopics: 'factory/+/+device_id/#',
        };
        assert.deepEqual(health.shown, migrated);
        assert.deepEqual(health.invalid, []);
        assert.deepEqual(health.saved, migrated);
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
      }
    });
  });

  for (const lang of ['en-US', 'ko']) {
    describe(`edit dialogs (${lang})`, () => {
      let page: Page;
      let errors: string[];
      before(async () => {
        ({ page, errors } = await openEditor(lang));
        // every shipped flow, so each dialog opens on a node with the values we ship
        for (const file of FLOW_FILES) await importFlow(page, readFlow(file));
      });
      after(async () => page?.context().close());

      // what every dialog's config drop-down needs: the node it names exists, has the property's type and is
      // offered on the node's tab (global or scoped to that tab: the drop-down lists no other), with every shipped
      // flow in one editor (ids shared between flows/pipeline.json and examples/pipeline.json included)
      it('all shipped flows in one editor: every node valid, every config reference offered on its tab', async () => {
        const problems: string[] = await page.evaluate(() => {
          const RED = (window as any).RED;
          const out: string[] = [];
          const check = (n: any) => {
            const label = `${n.type} "${n.name || n.id}"`;
            if (n.type === 'unknown') out.push(`${label}: unknown type`);
            if (n.valid === false) out.push(`${label}: invalid (${(n.validationErrors || []).join(', ')})`);
            const defaults = n._def?.defaults || {};
            for (const prop of Object.keys(defaults)) {
              const type = defaults[prop].type;
              if (!type || !RED.nodes.getType(type) || !n[prop]) continue;
              const c = RED.nodes.node(n[prop]);
              if (!c) out.push(`${label}: ${prop} names no node (${n[prop]})`);
              else if (c.type !== type) out.push(`${label}: ${prop} names a ${c.type}, not a ${type}`);
              else if (c.z && c.z !== n.z) out.push(`${label}: ${prop} is scoped to another tab`);
            }
          };
          RED.nodes.eachNode(check);
          RED.nodes.eachConfig(check);
          return out;
        });
        assert.deepEqual(problems, []);
      });

      it('every MOBY type has a palette label and help in this language', async () => {
        const types: Array<{ type: string; palette: string; category: string; help: string }> = await page.evaluate(
          (mod) => {
            const RED = (window as any).RED;
            return RED.nodes.registry
              .getNodeTypes()
              .filter((t: string) => RED.nodes.registry.getNodeSetForType(t)?.module === mod)
              .map((t: string) => {
                const def = RED.nodes.getType(t);
                const palette = typeof def.paletteLabel === 'function' ? def.paletteLabel.call(def) : def.paletteLabel;
                return {
                  type: t,
                  palette: palette || '',
                  category: def.category,
                  help: $(`script[data-help-name="${t}"]`).text() || RED.nodes.getNodeHelp?.(t) || '',
                };
              });
          },
          pkg.name
        );
        assert.ok(types.length >= 18, `${types.length} MOBY types`);
        for (const t of types) {
          assert.ok(
            t.palette && t.palette !== t.type && !/^moby-/.test(t.palette),
            `${t.type} has a paletteLabel (${t.palette})`
          );
          if (lang === 'ko') assert.match(t.palette, HANGUL, `${t.type} palette label in Korean`);
        }
        if (lang === 'ko') {
          // what the palette shows for each MOBY node
          const shown: string[] = await page.evaluate(() =>
            [
              ...document.querySelectorAll('.red-ui-palette-node[data-palette-type^="moby-"] .red-ui-palette-label'),
            ].map((e: any) => e.textContent.trim())
          );
          assert.ok(shown.length >= 8, `${shown.length} MOBY nodes in the palette`);
          for (const label of shown) assert.match(label, HANGUL, `palette shows "${label}" in Korean`);
        }
      });

      it('a topic pattern the node would refuse is explained in this language, by the field validator', async () => {
        const said: string[] = await page.evaluate(() => {
          const RED = (window as any).RED;
          const verify = RED.nodes.getType('moby-hmac-verify').defaults.topicPattern.validate;
          const health = RED.nodes.getType('moby-device-health').defaults.lwtTopics.validate;
          return [verify.call({}, 'site/plant/data'), health.call({}, 'device/lwt/+, a/#/b')];
        });
        if (lang === 'ko') {
          assert.equal(said[0], '토픽 패턴 "site/plant/data"에 +device_id 레벨이 없습니다');
          assert.match(said[1], /^토픽 패턴 "a\/#\/b", 2번째 레벨 "#": /);
        } else {
          assert.equal(said[0], 'topic pattern "site/plant/data" names no +device_id level');
          assert.match(said[1], /^topic pattern "a\/#\/b", level 2 "#": '#' only as the whole last level/);
        }
      });

      it('each dialog opens with its paletteLabel in the title and no invalid field; screenshots saved', async () => {
        const dir = path.join(ARTIFACTS, lang);
        fs.mkdirSync(dir, { recursive: true });
        const targets: Array<{ type: string; id: string; config: boolean; palette: string }> = await page.evaluate(
          (mod) => {
            const RED = (window as any).RED;
            const out: any[] = [];
            for (const t of RED.nodes.registry.getNodeTypes()) {
              if (RED.nodes.registry.getNodeSetForType(t)?.module !== mod) continue;
              const def = RED.nodes.getType(t);
              const palette = typeof def.paletteLabel === 'function' ? def.paletteLabel.call(def) : def.paletteLabel;
              let id = '';
              const find = (n: any) => {
                if (!id && n.type === t) id = n.id;
              };
              RED.nodes.eachNode(find);
              RED.nodes.eachConfig(find);
              out.push({ type: t, id, config: def.category === 'config', palette });
            }
            return out;
          },
          pkg.name
        );
        const problems: string[] = [];
        for (const t of targets) {
          try {
            await page.evaluate((t) => {
              const RED = (window as any).RED;
              if (t.config) RED.editor.editConfig('', t.type, t.id || '_ADD_', 'node-input');
              else if (t.id) {
                // as a user does: on the node's own flow (config nodes scoped to that flow are offered only there)
                const n = RED.nodes.node(t.id);
                RED.workspaces.show(n.z);
                RED.editor.edit(n);
              } else throw new Error('no ' + t.type + ' node in the shipped flows');
            }, t);
            const tray = page.locator('.red-ui-tray');
            await page.waitForFunction(
              () =>
                document.querySelectorAll('.red-ui-tray #dialog-form, .red-ui-tray #node-config-dialog-edit-form')
                  .length === 1,
              undefined,
              { timeout: 90000 }
            );
            await page.waitForTimeout(400); // typed inputs and tabs settle
            const title = (await tray.locator('.red-ui-tray-titlebar').innerText()).trim();
            if (!title.includes(t.palette)) problems.push(`${t.type}: title "${title}" does not name "${t.palette}"`);
            // config drop-downs fill in on a timer and are validated then: let a dialog with valid values settle
            if (t.id)
              await page
                .waitForFunction(() => !document.querySelector('.red-ui-tray .input-error'), undefined, {
                  timeout: 10000,
                })
                .catch(() => undefined);
            const invalid = await tray
              .locator('.input-error')
              .evaluateAll((els) => els.map((e) => e.id || e.className));
            if (t.id && invalid.length)
              problems.push(`${t.type}: invalid fields with shipped values: ${invalid.join(', ')}`);
            const text = await tray.locator('#dialog-form, #node-config-dialog-edit-form').first().innerText();
            const raw = /\b[a-z-]+\.(label|tabs|placeholder|unit|section|tip)\.[A-Za-z]+/.exec(text);
            if (raw) problems.push(`${t.type}: untranslated key in dialog: ${raw[0]}`);
            if (lang === 'ko' && !HANGUL.test(text)) problems.push(`${t.type}: no Korean text in the dialog`);
            await tray.screenshot({ path: path.join(dir, `${t.type}.png`) });
          } catch (err) {
            problems.push(`${t.type}: ${String(err).split('\n')[0]}`);
          }
          // Cancel, as a user would: it also takes the node off the editor's stack of open dialogs
          await page
            .locator('#node-dialog-cancel, #node-config-dialog-cancel')
            .first()
            .click()
            .catch(() => undefined);
          await page
            .waitForFunction(() => document.querySelectorAll('.red-ui-tray').length === 0, undefined, {
              timeout: 10000,
            })
            .catch(() => undefined);
        }
        assert.deepEqual(problems, []);
        assert.deepEqual(errors, []);
      });

      it('help for every MOBY node is in this language', async () => {
        const types: string[] = await page.evaluate((mod) => {
          const RED = (window as any).RED;
          return RED.nodes.registry
            .getNodeTypes()
            .filter((t: string) => RED.nodes.registry.getNodeSetForType(t)?.module === mod);
        }, pkg.name);
        for (const t of types) {
          const fromDom: string = await page.evaluate((t) => $(`script[data-help-name="${t}"]`).html() || '', t);
          const text = fromDom;
          assert.ok(text.length > 100, `${t}: help present`);
          if (lang === 'ko') assert.match(text, HANGUL, `${t}: Korean help`);
        }
      });
    });
  }
  // docs/editor.md, "Config-node references and late node sets": a user imports a shipped flow before MOBY's MQTT
  // node set is there (not installed yet, or disabled), then installs or enables it in the Palette Manager.
  // Node-RED imports the MOBY nodes as "unknown" and re-imports them when the types arrive; with the ids the
  // Import dialog keeps, the inputs must come back pointing at their broker, valid, and the dialog's drop-down
  // must show it (this is the late-registration path the dialog test above used to hit by accident)
  describe('a shipped flow imported before the MQTT node set is enabled', () => {
    const setUrl = () => `${url}/nodes/${pkg.name}/moby-mqtt`;
    const enable = async (enabled: boolean) => {
      const res = await fetch(setUrl(), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ enabled }),
      });
      assert.equal(res.status, 200, `PUT ${setUrl()} enabled=${enabled}: ${await res.text()}`);
    };
    after(async () => {
      if (url) await enable(true);
    });

    it('comes back with every input on its broker once the set is enabled', async () => {
      await enable(false);
      const { page, errors } = await openEditor('en-US');
      try {
        assert.equal(await page.evaluate(() => !!(window as any).RED.nodes.getType('moby-mqtt-in')), false);
        for (const file of ['flows/pipeline.json', 'examples/mqtt-durable.json']) {
          // as the editor's Import dialog does (it keeps the flow's ids unless they clash)
          await page.evaluate((flow) => (window as any).RED.nodes.import(flow, { generateIds: false }), readFlow(file));
        }
        await enable(true);
        await page.waitForFunction(() => (window as any).RED.nodes.getType('moby-mqtt-in'), undefined, {
          timeout: 60000,
        });
        const inputs: Array<{ id: string; name: string; broker: string; valid: boolean; found: boolean }> =
          await page.evaluate(() => {
            const RED = (window as any).RED;
            const out: any[] = [];
            RED.nodes.eachNode((n: any) => {
              if (n.type === 'moby-mqtt-in')
                out.push({
                  id: n.id,
                  name: n.name,
                  broker: n.broker,
                  valid: n.valid !== false,
                  found: RED.nodes.node(n.broker)?.type === 'moby-mqtt-broker',
                });
            });
            return out;
          });
        assert.equal(inputs.length, 4, "three pipeline inputs and the example's");
        for (const i of inputs) assert.ok(i.valid && i.found, `${i.name}: broker ${i.broker} found, node valid`);
        // the dialog of the example's input: its broker selected, the drop-down not marked
        await page.evaluate(
          (id) => {
            const RED = (window as any).RED;
            const n = RED.nodes.node(id);
            RED.workspaces.show(n.z);
            RED.editor.edit(n);
          },
          inputs.find((i) => i.name === 'points')!.id
        );
        await page.waitForFunction(() => document.querySelectorAll('.red-ui-tray #dialog-form').length === 1);
        await page.waitForTimeout(400); // the drop-down is validated on a 50 ms timer
        const shown = await page.evaluate(() => ({
          value: $('#node-input-broker').val(),
          invalid: $('#node-input-broker').hasClass('input-error'),
        }));
        assert.deepEqual(shown, { value: 'moby-mqtt-ex-broker', invalid: false });
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
      }
    });
  });
});
