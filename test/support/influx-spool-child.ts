// Child process for the spool crash test: appends numbered batches as fast as it can, acknowledges the
// oldest every third step, and reports each append/ack to the parent only after it returned. The parent
// SIGKILLs it at a random moment and checks what a reopened spool holds.
import { Spool } from '../../nodes/core/influx/spool';

const dir = process.argv[2];
const fsync = process.argv[3] === 'fsync';
const spool = Spool.open({ dir, fsync, maxBytes: 1 << 30, segmentBytes: 256 * 1024 });
// big records (~40 KB) make a kill in the middle of a write() likely to tear one
const batch = (i: number) =>
  Array.from({ length: 400 }, (_, j) => `crash,device_id=d${j % 7} seq=${i},j=${j} ${1795307652874 + i * 1000 + j}`);

let i = 0;
function step(): void {
  for (let k = 0; k < 20; k++) {
    spool.append(batch(i));
    process.send!({ appended: i });
    i++;
    if (i % 3 === 0) {
      const head = spool.peek();
      if (head) {
        spool.ack();
        process.send!({ acked: Number(/seq=(\d+)/.exec(head[0])![1]) });
      }
    }
  }
  setImmediate(step);
}
process.send!({ ready: true });
step();
