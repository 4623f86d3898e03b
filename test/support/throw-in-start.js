// Preloaded into `npm start` by a test (NODE_OPTIONS=--require): in scripts/start.js only (its children inherit
// NODE_OPTIONS and ignore this), SIGUSR2 throws an exception nobody catches, as a bug in the embedded broker would.
'use strict';
if (/scripts[\\/]start\.js$/.test(process.argv[1] || '')) {
  process.on('SIGUSR2', () =>
    setImmediate(() => {
      throw new Error('thrown for the test');
    })
  );
}
