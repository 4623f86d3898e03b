#!/usr/bin/env node
// Compiles the TypeScript runtime to CommonJS in dist/ and copies what Node-RED loads beside each
// node's .js: the editor .html, locales/ and icons/.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

// Incremental: `npm start` builds before every start, and a restart after a crash waited the whole compile (~8 s
// on an idle 2-core machine, 35 s under load; the embedded broker is down meanwhile) for sources that had not
// changed (operator round 2026-12-07); unchanged, the build now takes ~2 s. The build info lives in dist/, so
// deleting dist/ rebuilds everything.
// tsc trusts that info about its outputs too: a .js or .d.ts removed from dist/ by hand is not written again, so
// a source without its outputs throws the info away and compiles everything.
const buildInfo = path.join(dist, '.tsbuildinfo');
const tsc = [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')];
tsc.push('--incremental', '--tsBuildInfoFile', buildInfo);

/** An output (.js or .d.ts) of a TypeScript source under `dir` (nodes/, bin/) missing from dist/, or null. */
function missingOutput(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = missingOutput(from);
      if (found) return found;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const base = path.join(dist, path.relative(root, from)).replace(/\.ts$/, '');
      for (const out of [`${base}.js`, `${base}.d.ts`]) if (!fs.existsSync(out)) return out;
    }
  }
  return null;
}

try {
  execFileSync(process.execPath, tsc, { stdio: 'inherit', cwd: root });
  const missing = missingOutput(path.join(root, 'nodes')) ?? missingOutput(path.join(root, 'bin'));
  if (missing) {
    console.log(`build: ${path.relative(root, missing)} was missing; compiling everything again`);
    fs.rmSync(buildInfo, { force: true });
    execFileSync(process.execPath, tsc, { stdio: 'inherit', cwd: root });
  }
} catch (err) {
  // MOBY_BUILD_LOOSE=1 keeps going past type errors (tsc still emits), for parallel work in progress only.
  if (process.env.MOBY_BUILD_LOOSE !== '1') process.exit(typeof err.status === 'number' ? err.status : 1);
  console.error('build: type errors above ignored (MOBY_BUILD_LOOSE=1)');
}

let copied = 0;
function copyAssets(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, entry.name);
    const rel = path.relative(root, from);
    if (entry.isDirectory()) {
      if (entry.name === 'locales' || entry.name === 'icons') {
        fs.cpSync(from, path.join(dist, rel), { recursive: true });
        copied++;
      } else {
        copyAssets(from);
      }
    } else if (entry.name.endsWith('.html')) {
      fs.mkdirSync(path.dirname(path.join(dist, rel)), { recursive: true });
      fs.copyFileSync(from, path.join(dist, rel));
      copied++;
    }
  }
}
copyAssets(path.join(root, 'nodes'));
console.log(`build: compiled to dist/, copied ${copied} editor asset(s)`);
