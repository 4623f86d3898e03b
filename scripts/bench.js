#!/usr/bin/env node
// Runs every benchmark under test/bench/ (or those named on the command line) one after another, each
// in its own process so memory figures are not polluted by the previous one.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const benchDir = path.join(root, 'test', 'bench');
const filter = process.argv.slice(2);
const files = fs
  .readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filter.length === 0 || filter.some((name) => f.includes(name)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '-r', 'ts-node/register/transpile-only', path.join(benchDir, file)],
    { stdio: 'inherit', cwd: root, env: process.env }
  );
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${file} exited with ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
