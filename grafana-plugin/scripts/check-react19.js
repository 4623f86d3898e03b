#!/usr/bin/env node
// Checks the panel on the newest target: copies the plugin to a temporary directory, installs React 19 and
// @grafana/* 13.2.2 there (13.2.3 does not install with React 19), then runs the type check, the Jest suite
// and the Chromium test. Not part of CI: it downloads a second dependency tree (~900 packages).
// Usage: npm run check:react19 [-- <grafana version> <react version>]
'use strict';
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const [grafana = '13.2.2', react = '19.2.0'] = process.argv.slice(2);
const src = path.resolve(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-panel-react19-'));
for (const f of [
  'src',
  'e2e',
  '.config',
  'jest.config.js',
  'tsconfig.json',
  'webpack.config.ts',
  'README.md',
  'CHANGELOG.md',
]) {
  fs.cpSync(path.join(src, f), path.join(dir, f), { recursive: true, filter: (p) => !p.includes(`${path.sep}dist`) });
}
const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'));
const dev = pkg.devDependencies;
for (const p of ['data', 'ui', 'runtime', 'schema']) {
  dev[`@grafana/${p}`] = grafana;
}
Object.assign(dev, {
  react,
  'react-dom': react,
  '@types/react': '^19',
  '@types/react-dom': '^19',
  '@testing-library/dom': '^10',
  typescript: '5.9',
  'ts-node': '^10.9.2',
  '@types/node': '^20',
  'playwright-core': '^1.65.1',
});
fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
const run = (cmd) => {
  console.log(`\n$ ${cmd}`);
  execSync(cmd, { cwd: dir, stdio: 'inherit' });
};
console.log(`React ${react}, @grafana/* ${grafana} in ${dir}`);
// @grafana/ui still declares React 18 peers on some releases; the point here is to run on 19 anyway.
run('npm install --no-audit --no-fund --legacy-peer-deps');
run('npx tsc --noEmit -p tsconfig.json');
run('npx jest --ci');
run('npx webpack -c e2e/webpack.harness.config.ts');
run('node -r ts-node/register/transpile-only e2e/browser.e2e.ts');
fs.rmSync(dir, { recursive: true, force: true });
console.log(`\nReact ${react} with @grafana/* ${grafana}: type check, Jest and Chromium tests pass`);
