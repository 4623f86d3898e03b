// Loaded with `--require` (mocha, and NODE_OPTIONS for the Node-RED processes tests spawn) when
// MOBY_NODE_RED_DIR names a directory holding another Node-RED install (node_modules/node-red): every
// `require('node-red')`, `require('node-red/…')`, `require('@node-red/…')` and `require.resolve` of them then loads that one instead of
// the devDependency, so the same test files run against Node-RED 5 (scripts/test-node-red-5.js) without
// each test knowing which Node-RED it drives. Plain JavaScript because child processes load it without ts-node.
'use strict';
const Module = require('node:module');
const path = require('node:path');

const dir = process.env.MOBY_NODE_RED_DIR;
if (dir) {
  const root = path.resolve(dir);
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, isMain, options) {
    // @node-red/* too: tests load core nodes (catch, status …) from @node-red/nodes, which must match the runtime
    if (request === 'node-red' || request.startsWith('node-red/') || request.startsWith('@node-red/')) {
      return resolve.call(this, request, parent, isMain, { ...options, paths: [root] });
    }
    return resolve.call(this, request, parent, isMain, options);
  };
}
