'use strict';
// Settings of npm start's processes (scripts/start.js, scripts/node-red.js) read from the environment.

/**
 * A whole number from the environment: unset = undefined (the caller's default); out of [min, max] stops the
 * process with a line naming the variable. `unit`, e.g. " of bytes", for that line.
 */
function wholeNumberSetting(name, value, min, max, unit = '') {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`[moby] ${name}: "${value}" must be a whole number${unit} from ${min} to ${max}`);
    process.exit(1);
  }
  return n;
}

module.exports = { wholeNumberSetting };
