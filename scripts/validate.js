#!/usr/bin/env node
// Offline subset of the Node-RED flow library scorecard (node-red-dev validate) plus our own packaging
// rules. Checks: P01 licence, P03 repository/bugs, P04 scoped name, P05 node-red keyword, P06 declared
// Node-RED version satisfied by the one we test with, P07 engines.node, D02 no known-bad packages in the
// production tree, N01 node types prefixed, N02 examples use every non-config node type. Also: each
// listed node file exists in dist with its .html beside it, and every type has editor help text.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const results = [];
const check = (id, ok, detail) => results.push({ id, ok: Boolean(ok), detail });

function semverSatisfiesMin(version, range) {
  // ranges we use are of the form ">=X.Y.Z"; anything else is reported as unsupported
  const m = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(range.trim());
  if (!m) return false;
  const v = version.split('.').map(Number);
  const r = m.slice(1).map(Number);
  for (let i = 0; i < 3; i++) if (v[i] !== r[i]) return v[i] > r[i];
  return true;
}

check('P01', typeof pkg.license === 'string' && pkg.license.length > 0, `license: ${pkg.license}`);
check('P03', pkg.repository || pkg.bugs, 'repository or bugs URL');
check('P04', /^@[a-z\d][\w.-]+\/[a-z\d][\w.-]*$/.test(pkg.name), `scoped name: ${pkg.name}`);
check('P05', Array.isArray(pkg.keywords) && pkg.keywords.includes('node-red'), 'keyword node-red');
const nrVersion = require('node-red/package.json').version;
check(
  'P06',
  pkg['node-red'] && semverSatisfiesMin(nrVersion, pkg['node-red'].version || ''),
  `node-red.version ${pkg['node-red'] && pkg['node-red'].version} admits tested ${nrVersion}`
);
check('P07', pkg.engines && pkg.engines.node, `engines.node ${pkg.engines && pkg.engines.node}`);

// D02: the scorecard's bad-package list (agent-base < 6)
let tree;
try {
  tree = JSON.parse(
    execFileSync('npm', ['ls', '--all', '--omit=dev', '--json'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    })
  );
} catch (err) {
  tree = err.stdout ? JSON.parse(err.stdout) : {};
}
const bad = [];
(function walk(deps) {
  for (const [name, info] of Object.entries(deps || {})) {
    if (name === 'agent-base' && info.version && Number(info.version.split('.')[0]) < 6)
      bad.push(`${name}@${info.version}`);
    walk(info.dependencies);
  }
})(tree.dependencies);
check('D02', bad.length === 0, bad.length ? `bad packages: ${bad.join(', ')}` : 'no known-bad packages');

// Node types, config flags and help text from the editor .html files
const types = new Map();
const nodeFiles = Object.entries((pkg['node-red'] && pkg['node-red'].nodes) || {});
check('NODES', nodeFiles.length > 0, `${nodeFiles.length} node file(s) listed`);
for (const [set, file] of nodeFiles) {
  const js = path.join(root, file);
  const html = js.replace(/\.js$/, '.html');
  if (!fs.existsSync(js) || !fs.existsSync(html)) {
    check('FILES', false, `${set}: ${file} or its .html missing (run npm run build)`);
    continue;
  }
  const text = fs.readFileSync(html, 'utf8');
  const re = /RED\.nodes\.registerType\(\s*['"]([^'"]+)['"]\s*,\s*\{([\s\S]*?)\n\s*\}\s*\)/g;
  let m;
  while ((m = re.exec(text))) {
    const category = /category\s*:\s*['"]([^'"]+)['"]/.exec(m[2]);
    types.set(m[1], { config: category && category[1] === 'config', html: text });
  }
}
for (const [type, info] of types) {
  check('N01', type.startsWith('moby-'), `type ${type} is prefixed`);
  const help = new RegExp(`data-help-name=["']${type.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']`).test(info.html);
  check('HELP', help, `help text for ${type}`);
}

const used = new Set();
(function scan(dir) {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) scan(p);
    else if (e.name.endsWith('.json')) {
      try {
        const flow = JSON.parse(fs.readFileSync(p, 'utf8'));
        for (const n of Array.isArray(flow) ? flow : []) if (n && n.type) used.add(n.type);
      } catch (err) {
        check('N02', false, `${path.relative(root, p)} is not valid JSON: ${err.message}`);
      }
    }
  }
})(path.join(root, 'examples'));
const missing = [...types].filter(([t, i]) => !i.config && !used.has(t)).map(([t]) => t);
check(
  'N02',
  missing.length === 0 && types.size > 0,
  missing.length
    ? `no example uses: ${missing.join(', ')}`
    : `examples use all ${[...types.values()].filter((i) => !i.config).length} non-config types`
);

let failed = 0;
for (const r of results) {
  if (!r.ok) failed++;
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.id.padEnd(6)} ${r.detail}`);
}
console.log(`validate: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
