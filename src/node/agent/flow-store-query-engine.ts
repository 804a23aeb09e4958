import { UNDECODED_REASON_COUNT, UNDECODED_REASON_NAMES } from '../decode/decode-outcome.js';
import { FlowFilter } from '../flows/flow-filter.js';
import type { FlowStore } from '../flows/flow-store.js';
import { LocalNetworks } from '../flows/local-networks.js';
import {
  computeWindowTable,
  type WindowTable,
  WindowTableBuilder,
  type WindowTableSpec,
} from '../flows/window-table.js';
import {
  type LocalQueryEngine,
  type LocalTopAnswer,
  type NodeCaptureStats,
  PHASE_LOCAL_TOP,
  type PhaseAnswer,
  type PhaseRequest,
  type QueryWindow,
} from './local-query-engine.js';
import { answerPhase, localTopAnswer } from './merge-phases.js';
import { type CachedTable, WindowTableCache } from './window-table-cache.js';

export interface FlowStoreQueryEngineOptions {
  /** Capture description for Stats. */
  captureInterface: string;
  captureFilter: string;
  /** Kernel drops as the capture source knows them (null: unknown). */
  kernelDrops?: () => number | null;
  /** How long and how many window tables are kept (QueryConfig.windowTableTtlMs / CacheEntries). */
  tableTtlMs: number;
  tableCacheEntries: number;
  /** Wall clock, ms (injectable for tests). */
  nowMs?: () => number;
}

/**
 * Answers a node's queries from its FlowStore, in the process that owns the store. Each cluster query pins
 * its window to closed seconds, and every phase of it must read the same data: the window table computed
 * for the first phase is kept (window-table-cache.ts) and reused by the later phases and by identical
 * queries; the phases themselves are merge-phases.ts.
 *
 * Queries only read. No request moves the store's clock or closes a second: the capture's own clock does
 * (capture-process.ts). A window whose last second this node has not closed yet (its clock is behind the
 * coordinator's) is answered from the seconds it has closed, and the answer says so (windowComplete
 * false, windowToSecond the newest second read); the service refuses windows further ahead than the
 * skew tolerance before they get here (QueryConfig.maxClockSkewMs).
 */
export class FlowStoreQueryEngine implements LocalQueryEngine {
  private readonly cache: WindowTableCache;
  /** Recent phase-1 requests by question (prewarm()). */
  private readonly recent = new Map<string, { request: PhaseRequest; askedAtMs: number }>();
  /** Tables prewarm() is building, by cache key, with the request to warm their answer for. */
  private readonly building = new Map<
    string,
    { builder: WindowTableBuilder | null; spec: WindowTableSpec; request: PhaseRequest }
  >();
  private readonly nowMs: () => number;
  /** Tables built while a query waited, and tables prewarm() finished ahead of queries (diagnostics). */
  tablesBuiltOnDemand = 0;
  tablesPrewarmed = 0;

  constructor(
    private readonly store: FlowStore,
    private readonly options: FlowStoreQueryEngineOptions,
    private readonly nodeName = '',
  ) {
    this.nowMs = options.nowMs ?? Date.now;
    this.cache = new WindowTableCache({
      ttlMs: options.tableTtlMs,
      entries: options.tableCacheEntries,
      nowMs: this.nowMs,
    });
  }

  merge(request: PhaseRequest): Promise<PhaseAnswer> {
    return settle(() => this.mergeNow(request));
  }

  localTop(window: QueryWindow, limit: number): Promise<LocalTopAnswer> {
    return settle(() => this.localTopNow(window, limit));
  }

  stats(): Promise<NodeCaptureStats> {
    return settle(() => this.statsNow());
  }

  /**
   * Starts building, for the newest closed second, the tables of the questions asked recently (their
   * windows moved to end at that second), so that queries find them ready. Call when a second closes, then
   * prewarmStep() until it returns false. Returns true when there is building to do.
   *
   * Why: a capturing node's data changes every second, and a table of every flow costs tens of
   * milliseconds at 100k flows (more while the capture keeps this process busy). Built in steps between
   * frames and queries, no query waits for it: coordinators read a second only some time after it
   * closed (QueryConfig.closedSecondLagMs), and until then queries read the previous window's table.
   */
  prewarm(): boolean {
    const newest = this.store.lastClosedSecond;
    if (newest === null) return false;
    const now = this.nowMs();
    for (const [shape, recent] of this.recent) {
      if (now - recent.askedAtMs > this.options.tableTtlMs) {
        this.recent.delete(shape);
        continue;
      }
      const window = recent.request.window;
      const span = window.toSecond - window.fromSecond;
      const shifted: QueryWindow = {
        ...window,
        toSecond: newest,
        fromSecond: window.fromSecond <= 0 ? window.fromSecond : newest - span,
      };
      const key = this.cacheKeyOf(shifted, false);
      if (this.cache.has(key) || this.building.has(key)) continue;
      let spec: WindowTableSpec;
      try {
        spec = specOf(shifted, false);
      } catch {
        // Not answerable (it failed when asked too): nothing to prewarm.
        this.recent.delete(shape);
        continue;
      }
      this.building.set(key, { builder: null, spec, request: { ...recent.request, window: shifted } });
    }
    return this.building.size > 0;
  }

  /**
   * Advances the tables prewarm() started for about `budgetMs` of work; a finished table goes into the
   * cache with its phase-1 answer worked out (top rows, heavy groups, key texts). Returns true while
   * building remains.
   */
  prewarmStep(budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    for (const [key, build] of this.building) {
      // Made here, not by prewarm(): one stepped range read at a time (they share working arrays).
      build.builder ??= new WindowTableBuilder(this.store, build.spec);
      // Flows were evicted meanwhile: its slots may name other flows; a query will build afresh.
      if (build.builder.stale) {
        this.building.delete(key);
        continue;
      }
      if (!build.builder.advance(until)) return true;
      this.building.delete(key);
      const cached = this.cache.remember(key, build.builder.finish());
      this.tablesPrewarmed++;
      answerPhase(cached, build.request, this.nodeName);
      if (performance.now() >= until) break;
    }
    return this.building.size > 0;
  }

  /** Synchronous form of merge() for callers in the same process (benchmarks, tests). */
  mergeNow(request: PhaseRequest): PhaseAnswer {
    const window = request.window;
    if (request.phase === PHASE_LOCAL_TOP) {
      // Remembered for prewarm(): a few recent questions, by everything but their seconds.
      const shape = JSON.stringify([window.group, window.by, window.filters, window.memberNetworks]);
      this.recent.delete(shape);
      this.recent.set(shape, { request, askedAtMs: this.nowMs() });
      // Half the cache: until queries move to a new second they read the previous second's tables, so
      // each prewarmed question holds two tables for a while; more questions would evict the tables in use.
      if (this.recent.size > Math.max(1, Math.floor(this.options.tableCacheEntries / 2))) {
        this.recent.delete(this.recent.keys().next().value as string);
      }
    }
    return answerPhase(this.tableFor(window), request, this.nodeName);
  }

  localTopNow(window: QueryWindow, limit: number): LocalTopAnswer {
    const local: QueryWindow = { ...window, memberNetworks: [] };
    // Everything this node saw counts here, transit flows included (counted into their groups).
    return localTopAnswer(this.tableFor(local, true), window.by, window.toSecond, limit, this.nodeName);
  }

  statsNow(): NodeCaptureStats {
    const { totals } = this.store.select(null);
    const undecoded: Record<string, number> = {};
    for (let r = 1; r < UNDECODED_REASON_COUNT; r++) {
      undecoded[UNDECODED_REASON_NAMES[r] as string] = totals.undecodedPackets[r] as number;
    }
    return {
      captureInterface: this.options.captureInterface,
      captureFilter: this.options.captureFilter,
      packets: totals.packets,
      bytes: totals.bytes,
      kernelDrops: this.options.kernelDrops?.() ?? null,
      undecoded,
      flows: this.store.table.count,
      evictedFlows: this.store.evictedFlows,
    };
  }

  /**
   * The window table for `window`, computed once and kept. Reads only the seconds the store has closed
   * (FlowStore.selectRange never reads the open second); the table says how far it got.
   */
  private tableFor(window: QueryWindow, countTransit = false): CachedTable {
    const key = this.cacheKeyOf(window, countTransit);
    const hit = this.cache.use(key);
    if (hit !== undefined) return hit;
    // Being prewarmed: finish it now rather than start again.
    const build = this.building.get(key);
    this.building.delete(key);
    this.tablesBuiltOnDemand++;
    const table: WindowTable =
      build !== undefined && build.builder !== null && !build.builder.stale
        ? build.builder.finish()
        : computeWindowTable(this.store, specOf(window, countTransit));
    return this.cache.remember(key, table);
  }

  /**
   * The cache key of a window's table: the data the window reads, not its seconds, so that a window
   * sliding over seconds without traffic, identical queries, and every phase of one query share a table.
   */
  private cacheKeyOf(window: QueryWindow, countTransit: boolean): string {
    return JSON.stringify([
      window.group,
      window.filters,
      [...window.memberNetworks].sort(),
      countTransit,
      this.store.rangeSignature(window.fromSecond, window.toSecond),
    ]);
  }
}

function specOf(window: QueryWindow, countTransit: boolean): WindowTableSpec {
  return {
    group: window.group,
    fromSecond: window.fromSecond,
    toSecond: window.toSecond,
    filter: FlowFilter.compile(window.filters),
    memberNetworks: networksOf(window.memberNetworks),
    countTransit,
  };
}

function networksOf(texts: readonly string[]): LocalNetworks | null {
  if (texts.length === 0) return null;
  const networks = new LocalNetworks();
  for (const text of texts) networks.add(text);
  return networks;
}

/** Runs synchronous work as a promise (errors become rejections). */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}
