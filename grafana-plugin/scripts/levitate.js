#!/usr/bin/env node
// Checks the plugin's use of @grafana/data, ui and runtime against each targeted Grafana release with
// @grafana/levitate (fetched from the npm registry). Not part of `npm test`: it downloads every target.
// Usage: npm run levitate [-- 12.3.3 13.2.2]
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const TARGETS = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['12.3.3', '12.4.10', '13.0.2', '13.1.1', '13.2.2'];
const root = path.resolve(__dirname, '..');
let failed = 0;
for (const v of TARGETS) {
  const target = ['data', 'ui', 'runtime'].map((p) => `@grafana/${p}@${v}`).join(',');
  console.log(`\n=== Grafana ${v} ===`);
  const r = spawnSync(
    'npx',
    ['-y', '@grafana/levitate@latest', 'is-compatible', '--path', 'src/module.ts', '--target', target],
    {
      cwd: root,
      stdio: 'inherit',
    }
  );
  if (r.status !== 0) {
    failed++;
    console.log(`Grafana ${v}: NOT compatible (exit ${r.status})`);
  } else {
    console.log(`Grafana ${v}: compatible`);
  }
}
process.exit(failed ? 1 : 0);
