// The editor files without a browser: every message key a dialog or definition uses exists in the en-US and
// ko catalogues (locales/<lang>/<file>.json beside each node file), every node type has help in both
// languages, and the shared number validator (resources/moby-editor.js) accepts ${ENV} references and
// rejects what is not a number. The browser test (test/integration/editor.test.ts) shows the same in the
// real editor.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const root = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  'node-red': { nodes: Record<string, string> };
};
const nodeFiles = Object.values(pkg['node-red'].nodes).map((js) =>
  path.join(root, js.replace(/^dist\//, '').replace(/\.js$/, '.html'))
);
const LANGS = ['en-US', 'ko'];

function lookup(catalogue: Record<string, unknown>, key: string): unknown {
  return key
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), catalogue);
}

function leaves(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null) return [prefix];
  return Object.entries(o).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

describe('editor message catalogues and help', () => {
  for (const html of nodeFiles) {
    const base = path.basename(html, '.html');
    const dir = path.dirname(html);
    const text = fs.readFileSync(html, 'utf8');
    const types = [...text.matchAll(/registerType\(\s*'([^']+)'/g)].map((m) => m[1]);

    it(`${base}: every key used is in en-US and ko, and both catalogues have the same keys`, () => {
      const used = new Set<string>();
      for (const m of text.matchAll(/data-i18n="([^"]+)"/g)) {
        for (const part of m[1].split(';')) {
          const key = part.replace(/^\[[^\]]+\]/, '');
          if (!key.includes(':')) used.add(key);
        }
      }
      for (const m of text.matchAll(/this\._\('([^']+)'/g)) used.add(m[1]);
      for (const m of text.matchAll(/'([a-z-]+\.(?:outputs|tabs)\.[A-Za-z]+)'/g)) used.add(m[1]);
      // tab labels are looked up by MOBY_EDITOR.tabs(node, id, [names]) as <type>.tabs.<name>
      for (const m of text.matchAll(/MOBY_EDITOR\.tabs\(this, '[^']+', \[([^\]]+)\]\)/g)) {
        const type = types.find(
          (t) =>
            text.indexOf(m[0]) > text.indexOf(`registerType('${t}'`) &&
            text.indexOf(m[0]) < text.indexOf('registerType(', text.indexOf(`registerType('${t}'`) + 1) >>> 0
        );
        for (const name of m[1].split(',').map((s) => s.trim().replace(/'/g, ''))) used.add(`${type}.tabs.${name}`);
      }
      assert.ok(used.size > 0, `${base} uses message keys`);
      const catalogues = LANGS.map(
        (lang) =>
          JSON.parse(fs.readFileSync(path.join(dir, 'locales', lang, `${base}.json`), 'utf8')) as Record<
            string,
            unknown
          >
      );
      for (const [i, cat] of catalogues.entries()) {
        const missing = [...used].filter(
          (k) => typeof lookup(cat, k) !== 'string' || !(lookup(cat, k) as string).trim()
        );
        assert.deepEqual(missing, [], `${LANGS[i]} catalogue of ${base} lacks`);
      }
      assert.deepEqual(leaves(catalogues[1]).sort(), leaves(catalogues[0]).sort(), 'ko has exactly the en-US keys');
      for (const t of types)
        assert.equal(typeof lookup(catalogues[1], `${t}.paletteLabel`), 'string', `${t} has a Korean paletteLabel`);
      for (const t of types)
        assert.match(
          String(lookup(catalogues[1], `${t}.paletteLabel`)),
          /[\uac00-\ud7a3]/,
          `${t}: Korean palette label`
        );
    });

    it(`${base}: every type has a paletteLabel and help in en-US (inline) and ko (locales/ko)`, () => {
      const ko = fs.readFileSync(path.join(dir, 'locales', 'ko', `${base}.html`), 'utf8');
      for (const t of types) {
        const def = text.slice(text.indexOf(`registerType('${t}'`));
        assert.match(def.slice(0, def.indexOf('</script>')), /paletteLabel:/, `${t} has a paletteLabel`);
        assert.match(text, new RegExp(`data-help-name="${t}"`), `${t}: English help`);
        const help = new RegExp(`data-help-name="${t}">([\\s\\S]*?)</script>`).exec(ko);
        assert.ok(help, `${t}: Korean help`);
        assert.ok((help[1].match(/[\uac00-\ud7a3]/g) ?? []).length >= 40, `${t}: the Korean help is written in Korean`);
      }
    });

    it(`${base}: every reference to a config node has a label from this file's catalogue`, () => {
      // without a label, Node-RED marks an invalid config drop-down red with no reason and the Deploy check
      // names no field (the core mqtt in labels its broker the same way)
      const refs = [...text.matchAll(/\n\s*(\w+): \{([^{}]*type: 'moby-[a-z-]+'[^{}]*)\}/g)];
      for (const [, prop, body] of refs) {
        const label = /label: RED\._\('@moby-iot\/node-red-moby\/([a-z-]+):([^']+)'\)/.exec(body);
        assert.ok(label, `${base}: ${prop} (a config-node reference) has no label`);
        assert.equal(label[1], base, `${base}: ${prop}'s label is looked up in this file's catalogue`);
        for (const lang of LANGS) {
          const cat = JSON.parse(fs.readFileSync(path.join(dir, 'locales', lang, `${base}.json`), 'utf8'));
          assert.equal(typeof lookup(cat, label[2]), 'string', `${lang} catalogue of ${base} lacks ${label[2]}`);
        }
      }
    });

    it(`${base}: number fields use the shared validator and templates load it`, () => {
      assert.doesNotMatch(text, /RED\.validators\.number\(/, 'RED.validators.number rejects ${ENV} values');
      assert.match(text, /<script src="resources\/@moby-iot\/node-red-moby\/moby-editor\.js"><\/script>/);
    });
  }
});

describe('MOBY_EDITOR.number (resources/moby-editor.js)', () => {
  const win: Record<string, unknown> = {};
  const RED = { _: (key: string, o?: { prop: string }) => (o ? `${o.prop}: ${key}` : key) };
  const doc = { createElement: () => ({ setAttribute() {}, textContent: '' }), head: { appendChild() {} } };
  vm.runInNewContext(fs.readFileSync(path.join(root, 'resources', 'moby-editor.js'), 'utf8'), {
    window: win,
    document: doc,
    RED,
    $: () => undefined,
  });
  const editor = win.MOBY_EDITOR as {
    number: (o?: object) => (v: unknown, opt?: { label: string }) => true | string;
    isEnvReference: (v: unknown) => boolean;
  };

  it('accepts numbers and whole ${ENV} references, as the runtime resolves both', () => {
    const v = editor.number({ min: 1 });
    for (const ok of [900, '900', '0.5e3', '${MOBY_TRAIN_POINTS}', ' ${A_1} ']) assert.equal(v(ok), true, String(ok));
  });

  it('rejects what the runtime could not use, with the field named when the editor gives a label', () => {
    const v = editor.number({ min: 1, integer: true });
    for (const bad of ['abc', '12abc', '$MOBY', '${1BAD}', '${A} ${B}', 0, '1.5', true, ''])
      assert.notEqual(v(bad), true, String(bad));
    assert.equal(v('x', { label: 'Calibrate on' }), 'Calibrate on: validator.errors.invalid-num-prop');
  });

  it('an empty value is valid only for optional fields', () => {
    assert.equal(editor.number({ blank: true })(''), true);
    assert.notEqual(editor.number()(''), true);
    assert.equal(editor.number({ max: 15 })('15'), true);
    assert.notEqual(editor.number({ max: 15 })('16'), true);
  });
});
