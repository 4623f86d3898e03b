// Runs calibration fits in one worker thread per owner (a node), one at a time, in order. The caller's event
// loop only flattens the rows of the fit being started and later installs the result, so HTTP, MQTT and
// scoring of other devices carry on while a large device calibrates. Jobs wait here, not in the worker's
// message queue: a waiting job holds only a reference to its rows (no copy), and one whose device was
// evicted or reset meanwhile (`wanted()` false) is dropped before it costs any CPU. If the worker dies, the
// fit in flight fails and the next one starts a new worker. close() terminates the worker; every fit still
// pending fails with `closed`.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DetectorConfig, FittedModel } from './detector';
import type { FitJob, FitReply } from './fit-worker';

interface Queued {
  id: number;
  cfg: DetectorConfig;
  rows: number[][];
  wanted: () => boolean;
  resolve: (m: FittedModel) => void;
  reject: (e: Error) => void;
}

export class FitPool {
  private worker: Worker | null = null;
  private readonly queue: Queued[] = [];
  private running: Queued | null = null;
  private nextId = 1;
  private closed = false;

  /** Fits waiting or running. */
  get busy(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** Fits `rows`; rejects with `discarded` when `wanted()` is false by the time the fit would start. */
  fit(cfg: DetectorConfig, rows: number[][], wanted: () => boolean = () => true): Promise<FittedModel> {
    if (this.closed) return Promise.reject(new Error('closed'));
    return new Promise<FittedModel>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, cfg, rows, wanted, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    const all = this.queue.splice(0);
    if (this.running) all.push(this.running);
    this.running = null;
    for (const q of all) q.reject(new Error('closed'));
    if (w) await w.terminate();
  }

  private pump(): void {
    while (!this.running && !this.closed && this.queue.length) {
      const q = this.queue.shift()!;
      if (!q.wanted()) {
        q.reject(new Error('discarded'));
        continue;
      }
      const cols = q.rows.length ? q.rows[0].length : 0;
      const data = new Float64Array(q.rows.length * cols);
      for (let i = 0; i < q.rows.length; i++) data.set(q.rows[i], i * cols);
      const job: FitJob = { id: q.id, cfg: q.cfg, rows: q.rows.length, cols, data };
      this.running = q;
      try {
        this.ensureWorker().postMessage(job, [data.buffer]);
      } catch (err) {
        this.running = null;
        q.reject(err as Error);
      }
    }
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    // compiled: fit-worker.js beside this file; under ts-node (unit tests): the .ts with ts-node loaded
    const ts = __filename.endsWith('.ts');
    const file = path.join(__dirname, ts ? 'fit-worker.ts' : 'fit-worker.js');
    const w = new Worker(file, ts ? { execArgv: ['-r', 'ts-node/register/transpile-only'] } : {});
    // an idle worker must not keep the process alive (Node-RED's own shutdown, test runners)
    w.unref();
    w.on('message', (reply: FitReply) => {
      const q = this.running;
      if (!q || q.id !== reply.id) return;
      this.running = null;
      if ('error' in reply) q.reject(new Error(reply.error));
      else q.resolve(reply.model);
      this.pump();
    });
    const lost = (err: Error) => {
      if (this.worker === w) this.worker = null;
      const q = this.running;
      this.running = null;
      q?.reject(err);
      this.pump();
    };
    w.on('error', lost);
    w.on('exit', (code) => {
      if (!this.closed) lost(new Error(`fit worker exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }
}
