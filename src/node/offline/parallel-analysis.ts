import { Worker } from 'node:worker_threads';
import type { CaptureSource } from '../capture/frame-sink.js';
import type { TopQuery, TopReport } from '../flows/top-query.js';
import type { AccountingWorkerData } from './accounting-worker.js';
import { BatchingFrameSink } from './batching-frame-sink.js';
import { createSharedBatches } from './packet-batch.js';

const WORKER_URL = new URL('./accounting-worker.js', import.meta.url);

export interface ParallelAnalysisOptions {
  maxFlows: number;
  retentionSeconds: number;
  localNets: string[];
}

/**
 * An offline analysis on two threads: this thread reads and decodes, a worker counts (see
 * packet-batch.ts). On this machine kind (2 cores) reading + decoding and counting each take about half
 * of the single-threaded time, so the file is done in roughly the time of the slower half.
 *
 * `run()` resolves when the source ended (or rejects with its error, after every frame before the damage
 * was counted); `query()` then asks the counted traffic.
 */
export class ParallelAnalysis {
  private readonly worker: Worker;
  private readonly counted: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, (report: TopReport) => void>();
  private readonly shared = createSharedBatches();

  constructor(options: ParallelAnalysisOptions) {
    const workerData: AccountingWorkerData = { shared: this.shared, ...options };
    this.worker = new Worker(WORKER_URL, { workerData });
    this.counted = new Promise((resolve, reject) => {
      this.worker.on('message', (message: { type: string; id?: number; report?: TopReport }) => {
        if (message.type === 'counted') resolve();
        else if (message.type === 'report' && message.id !== undefined) {
          this.pending.get(message.id)?.(message.report!);
          this.pending.delete(message.id);
        }
      });
      this.worker.on('error', reject);
    });
  }

  /** Reads `source` to its end; every frame delivered is counted even when the source then fails. */
  async run(source: CaptureSource): Promise<void> {
    const sink = new BatchingFrameSink(this.shared);
    try {
      await source.run(sink);
    } finally {
      sink.finish();
      await this.counted;
    }
  }

  query(query: TopQuery): Promise<TopReport> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ type: 'query', id, query });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
