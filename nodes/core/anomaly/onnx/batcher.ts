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
  /** the second input's rows (meta.baseline_input), baseCols.length values per window; empty without one */
  private baseBuf: Float32Array;
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
    this.baseBuf = new Float32Array(Math.min(batchMax, MIN_ROWS) * bundle.baseCols.length);
  }

  /**
   * Queues one window; `fill` writes its rowSize values into the batch buffer at `offset`, and `fillBase` (for
   * bundles with meta.baseline_input) the device's baseCols.length baseline values into the second input's.
   */
  enqueue(
    fill: (buf: Float32Array, offset: number) => void,
    fillBase?: (buf: Float32Array, offset: number) => void
  ): Promise<{ input: Float32Array; outputs: RowOutputs }> {
    return new Promise((resolve, reject) => {
      const rowSize = this.bundle.rowSize;
      const baseSize = this.bundle.baseCols.length;
      const row = this.pending.length;
      const offset = row * rowSize;
      if (offset + rowSize > this.buf.length) {
        // grow by doubling up to batchMax rows: a quiet device does not pay for a full batch buffer
        const rows = Math.min(this.batchMax, 2 * (this.buf.length / rowSize));
        const grown = new Float32Array(rows * rowSize);
        grown.set(this.buf);
        this.buf = grown;
        if (baseSize) {
          const grownBase = new Float32Array(rows * baseSize);
          grownBase.set(this.baseBuf);
          this.baseBuf = grownBase;
        }
      }
      fill(this.buf, offset);
      if (baseSize) fillBase?.(this.baseBuf, row * baseSize);
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
    const baseSize = this.bundle.baseCols.length;
    const base = this.baseBuf.subarray(0, n * baseSize);
    // the run is asynchronous: later windows go to a fresh buffer, sized for a batch like this one
    const rows = Math.min(this.batchMax, Math.max(MIN_ROWS, n));
    this.buf = new Float32Array(rows * rowSize);
    // bundles without a second input keep their empty one: nothing more allocated per batch than before
    if (baseSize) this.baseBuf = new Float32Array(rows * baseSize);
    this.pending = [];
    void this.run(input, base, n, batch);
  }

  private async run(input: Float32Array, base: Float32Array, n: number, batch: Pending[]): Promise<void> {
    const b = this.bundle;
    b.inflight++;
    this.onRun?.(n);
    try {
      const feeds: Record<string, Tensor> = {
        [b.meta.input.name]: new (ort().Tensor)('float32', input, inputDims(b.meta, n)),
      };
      if (b.meta.baseline_input !== undefined)
        feeds[b.meta.baseline_input] = new (ort().Tensor)('float32', base, [n, b.baseCols.length]);
      const result = await b.session.run(feeds);
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
