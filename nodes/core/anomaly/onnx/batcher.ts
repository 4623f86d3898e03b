// Micro-batching for one bundle: windows queued within batchWaitMs (or until batchMax are waiting) go
// to the model in a single session.run; each caller's promise resolves with its own row of every output.
import type { Tensor } from 'onnxruntime-node';
import { ort } from './ort';
import { inputDims, type LoadedBundle } from './bundles';

export interface RowOutputs {
  /** output name -> that row's values (a view into the batch result) */
  [name: string]: Float32Array;
}

/** initial batch buffer capacity in windows */
const MIN_ROWS = 8;

interface Pending {
  resolve: (out: { input: Float32Array; outputs: RowOutputs }) => void;
  reject: (err: Error) => void;
}

export class MicroBatcher {
  private buf: Float32Array;
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly bundle: LoadedBundle,
    private readonly batchMax: number,
    private readonly batchWaitMs: number,
    private readonly onRun?: (size: number) => void
  ) {
    this.buf = new Float32Array(Math.min(batchMax, MIN_ROWS) * bundle.rowSize);
  }

  /** Queues one window; `fill` writes its rowSize values into the batch buffer at `offset`. */
  enqueue(fill: (buf: Float32Array, offset: number) => void): Promise<{ input: Float32Array; outputs: RowOutputs }> {
    return new Promise((resolve, reject) => {
      const rowSize = this.bundle.rowSize;
      const offset = this.pending.length * rowSize;
      if (offset + rowSize > this.buf.length) {
        // grow by doubling up to batchMax rows: a quiet device does not pay for a full batch buffer
        const grown = new Float32Array(Math.min(this.batchMax, 2 * (this.buf.length / rowSize)) * rowSize);
        grown.set(this.buf);
        this.buf = grown;
      }
      fill(this.buf, offset);
      this.pending.push({ resolve, reject });
      if (this.pending.length >= this.batchMax) this.flush();
      else if (this.batchWaitMs <= 0) {
        // 0 ms: everything queued in this turn of the event loop forms one batch
        if (!this.immediate) this.immediate = setImmediate(() => this.flush());
      } else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.batchWaitMs);
    });
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    const batch = this.pending;
    if (!batch.length) return;
    const n = batch.length;
    const rowSize = this.bundle.rowSize;
    const input = this.buf.subarray(0, n * rowSize);
    // the run is asynchronous: later windows go to a fresh buffer, sized for a batch like this one
    this.buf = new Float32Array(Math.min(this.batchMax, Math.max(MIN_ROWS, n)) * rowSize);
    this.pending = [];
    void this.run(input, n, batch);
  }

  private async run(input: Float32Array, n: number, batch: Pending[]): Promise<void> {
    const b = this.bundle;
    b.inflight++;
    this.onRun?.(n);
    try {
      const result = await b.session.run({
        [b.meta.input.name]: new (ort().Tensor)('float32', input, inputDims(b.meta, n)),
      });
      const names = Object.values(b.meta.outputs) as string[];
      const data: Record<string, Float32Array> = {};
      for (const name of names) {
        const t = result[name] as Tensor;
        if (t.type !== 'float32') throw new Error(`output "${name}" is ${t.type}, expected float32`);
        if (t.data.length % n !== 0)
          throw new Error(`output "${name}" has ${t.data.length} values for a batch of ${n}`);
        data[name] = t.data as Float32Array;
      }
      for (let i = 0; i < n; i++) {
        const outputs: RowOutputs = {};
        for (const name of names) {
          const per = data[name].length / n;
          outputs[name] = data[name].subarray(i * per, (i + 1) * per);
        }
        batch[i].resolve({ input: input.subarray(i * b.rowSize, (i + 1) * b.rowSize), outputs });
      }
    } catch (err) {
      const e = new Error(`${b.id}: inference failed: ${(err as Error).message}`);
      for (const p of batch) p.reject(e);
    } finally {
      b.inflight--;
      if (b.retired && b.inflight === 0) void b.session.release().catch(() => undefined);
    }
  }
}
