// Runs calibration fits in one worker thread per owner (a node), in order. The caller's event loop only
// flattens the rows and later installs the result, so HTTP, MQTT and scoring of other devices carry on
// while a large device calibrates. If the worker dies, its pending fits fail (the caller decides what to
// do) and the next fit starts a new worker. close() terminates the worker; pending fits fail with `closed`.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DetectorConfig, FittedModel } from './detector';
import type { FitJob, FitReply } from './fit-worker';

interface Pending {
  resolve: (m: FittedModel) => void;
  reject: (e: Error) => void;
}

export class FitPool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /** Fits waiting for or running in the worker. */
  get busy(): number {
    return this.pending.size;
  }

  fit(cfg: DetectorConfig, rows: number[][]): Promise<FittedModel> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const cols = rows.length ? rows[0].length : 0;
    const data = new Float64Array(rows.length * cols);
    for (let i = 0; i < rows.length; i++) data.set(rows[i], i * cols);
    const job: FitJob = { id: this.nextId++, cfg, rows: rows.length, cols, data };
    return new Promise<FittedModel>((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      try {
        this.ensureWorker().postMessage(job, [data.buffer]);
      } catch (err) {
        this.pending.delete(job.id);
        reject(err as Error);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    this.failAll(new Error('closed'));
    if (w) await w.terminate();
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
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('error' in reply) p.reject(new Error(reply.error));
      else p.resolve(reply.model);
    });
    w.on('error', (err) => {
      if (this.worker === w) this.worker = null;
      this.failAll(err);
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = null;
      if (!this.closed) this.failAll(new Error(`fit worker exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
