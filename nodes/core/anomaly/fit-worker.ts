// Worker-thread entry that runs the pure calibration fit (fitModel) away from the event loop. A PCA fit
// grows about cubically with the feature count; on the main thread a 490-feature device stalled HTTP and
// MQTT for over a minute (issue #10). Jobs arrive as flat Float64Arrays (transferred, not copied).
import { parentPort } from 'node:worker_threads';
import { fitModel, type DetectorConfig } from './detector';

export interface FitJob {
  id: number;
  cfg: DetectorConfig;
  rows: number;
  cols: number;
  data: Float64Array;
}

export type FitReply = { id: number; model: ReturnType<typeof fitModel> } | { id: number; error: string };

parentPort?.on('message', (job: FitJob) => {
  let reply: FitReply;
  try {
    const rows: number[][] = new Array(job.rows);
    for (let i = 0; i < job.rows; i++) rows[i] = Array.from(job.data.subarray(i * job.cols, (i + 1) * job.cols));
    reply = { id: job.id, model: fitModel(job.cfg, rows) };
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
