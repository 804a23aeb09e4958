/**
 * The two-thread offline analysis (reading + decoding here, counting in a worker) must answer exactly
 * like the single-threaded FrameAccountant path, across many batch hand-overs, for every grouping and
 * window, and on a damaged file. Uses the built modules (the worker runs dist/ JavaScript).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCaptureFile } from '../../../src/node/capture/capture-file-source.js';
import { FlowStore } from '../../../src/node/flows/flow-store.js';
import { GROUPINGS } from '../../../src/node/flows/key-vocabulary.js';
import { queryTop, type TopReport } from '../../../src/node/flows/top-query.js';
import { FrameAccountant } from '../../../src/node/frame-accountant.js';
import { REPO_ROOT, requireBuiltCli } from '../../helpers/repo-paths.js';

/** More than several batches of 65,536 records, so both shared batches are reused many times. */
const PACKETS = 400_000;
const WINDOWS = [null, 1, 30, 299, 3600];

interface ParallelModule {
  ParallelAnalysis: new (options: {
    maxFlows: number;
    retentionSeconds: number;
    localNets: string[];
  }) => {
    run(source: unknown): Promise<void>;
    query(query: unknown): Promise<TopReport>;
    close(): Promise<void>;
  };
}

describe('two-thread offline analysis', () => {
  let dir: string;
  let capture: string;
  let parallel: ParallelModule;

  beforeAll(async () => {
    requireBuiltCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'sniffmesh-parallel-'));
    capture = path.join(dir, 'traffic.pcap');
    execFileSync('node', [
      path.join(REPO_ROOT, 'dist', 'bench', 'capture', 'generate-capture.js'),
      '--packets',
      String(PACKETS),
      '--seed',
      '11',
      '--out',
      capture,
    ]);
    parallel = (await import(
      path.join(REPO_ROOT, 'dist', 'src', 'node', 'offline', 'parallel-analysis.js')
    )) as ParallelModule;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function both(file: string, maxFlows: number) {
    const store = new FlowStore({ maxFlows, retentionSeconds: 3600 });
    let singleError: unknown = null;
    await openCaptureFile(file)
      .run(new FrameAccountant(store))
      .catch((error: unknown) => {
        singleError = error;
      });
    store.closeAll();
    const analysis = new parallel.ParallelAnalysis({ maxFlows, retentionSeconds: 3600, localNets: [] });
    let parallelError: unknown = null;
    await analysis.run(openCaptureFile(file)).catch((error: unknown) => {
      parallelError = error;
    });
    return { store, analysis, singleError, parallelError };
  }

  it('answers every grouping and window exactly like the single-threaded path', async () => {
    const { store, analysis } = await both(capture, 500_000);
    try {
      for (const group of GROUPINGS) {
        for (const windowSeconds of WINDOWS) {
          const query = { group, by: 'bytes' as const, limit: 25, windowSeconds };
          expect(await analysis.query(query), `${group} ${windowSeconds}`).toEqual(queryTop(store, query));
        }
      }
      const all = await analysis.query({ group: 'host', by: 'packets', limit: 1, windowSeconds: null });
      expect(all.totals.packets).toBe(PACKETS);
    } finally {
      await analysis.close();
    }
  });

  it('agrees under eviction pressure too (a budget far below the flow count)', async () => {
    const { store, analysis } = await both(capture, 2_000);
    try {
      for (const group of GROUPINGS) {
        const query = { group, by: 'bytes' as const, limit: 25, windowSeconds: null };
        const report = await analysis.query(query);
        expect(report.evicted.flows).toBeGreaterThan(0);
        expect(report, group).toEqual(queryTop(store, query));
      }
    } finally {
      await analysis.close();
    }
  });

  it('counts every frame before the damage of a cut file, then reports the same error', async () => {
    const cut = path.join(dir, 'cut.pcap');
    const bytes = readFileSync(capture);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6) + 7));
    const { store, analysis, singleError, parallelError } = await both(cut, 500_000);
    try {
      expect(singleError).not.toBeNull();
      expect(String(parallelError)).toBe(String(singleError));
      const query = { group: 'src' as const, by: 'bytes' as const, limit: 0, windowSeconds: null };
      expect(await analysis.query(query)).toEqual(queryTop(store, query));
    } finally {
      await analysis.close();
    }
  });
});
