// The output of a child process that npm start / npm run start:cluster runs, printed line by line with the
// child's name in front (so interleaved logs stay readable) and each line handed to an optional watcher
// (which waits for "Started flows", a broker connection …). `redact(line)`, when given, rewrites a line before it is
// printed (start:cluster hides its pipeline's client id, which is a secret there); the watcher sees it unchanged.
'use strict';

function printLines(child, name, onLine = null, redact = null) {
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        console.log(`[${name}] ${redact ? redact(line) : line}`);
        if (onLine) onLine(line);
      }
    });
  }
}

module.exports = { printLines };
