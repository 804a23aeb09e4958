import {
  Grouping as GroupingCode,
  MergePhase,
  type MergeRequest,
  type MergeResponse,
  type MergeWindow,
  Metric as MetricCode,
  type TopRow,
  type UndecodedCount,
} from '../../query/generated/sniffmesh.js';
import { UsageError } from '../../util/errors.js';
import { UNDECODED_REASON_COUNT, UNDECODED_REASON_NAMES } from '../decode/decode-outcome.js';
import { FlowFilter } from '../flows/flow-filter.js';
import type { FlowStore } from '../flows/flow-store.js';
import { LocalNetworks } from '../flows/local-networks.js';
import type { Grouping } from '../flows/top-query.js';
import {
  computeWindowTable,
  type WindowTable,
  WindowTableBuilder,
  type WindowTableSpec,
} from '../flows/window-table.js';
import type { LocalQueryEngine, LocalTopAnswer, NodeCaptureStats } from './local-query-engine.js';

const GROUPING_NAMES: Record<number, Grouping> = {
  [GroupingCode.GROUPING_UNSPECIFIED]: 'host',
  [GroupingCode.GROUPING_HOST]: 'host',
  [GroupingCode.GROUPING_SRC]: 'src',
  [GroupingCode.GROUPING_DST]: 'dst',
  [GroupingCode.GROUPING_PAIR]: 'pair',
  [GroupingCode.GROUPING_FLOW]: 'flow',
  [GroupingCode.GROUPING_PORT]: 'port',
  [GroupingCode.GROUPING_PROTO]: 'proto',
};

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

/** A computed window table and what phases need from it, built lazily. */
interface CachedTable {
  readonly table: WindowTable;
  computedAtMs: number;
  /** Per metric and k: the group indices of the local top-k (phase 1), best first. */
  readonly tops: Map<string, Int32Array>;
  /** Per metric: the heaviest groups, heaviest first, and the smallest value among them. */
  readonly heavy: Map<number, { order: Int32Array; floor: number }>;
}

/**
 * Answers a node's queries from its FlowStore, in the process that owns the store. Each cluster query pins
 * its window to closed seconds, and every phase of it must read the same data: the window table computed
 * for the first phase is kept (keyed by the window's full description) and reused by the later phases and
 * by identical queries, for `tableTtlMs`.
 */
export class FlowStoreQueryEngine implements LocalQueryEngine {
  private readonly cache = new Map<string, CachedTable>();
  /** Recent phase-1 requests by question (prewarm()). */
  private readonly recent = new Map<string, { request: MergeRequest; askedAtMs: number }>();
  /** Tables prewarm() is building, by cache key, with the request to warm their answer for. */
  private readonly building = new Map<
    string,
    { builder: WindowTableBuilder | null; spec: WindowTableSpec; request: MergeRequest }
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
  }

  merge(request: MergeRequest): Promise<MergeResponse> {
    return settle(() => this.mergeNow(request));
  }

  localTop(window: MergeWindow, limit: number): Promise<LocalTopAnswer> {
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
      const window = recent.request.window as MergeWindow;
      const span = window.toSecond - window.fromSecond;
      const shifted: MergeWindow = {
        ...window,
        toSecond: newest,
        fromSecond: window.fromSecond <= 0 ? window.fromSecond : newest - span,
      };
      const key = this.cacheKeyOf(shifted, false);
      if (this.cache.has(key) || this.building.has(key)) continue;
      let spec: WindowTableSpec;
      try {
        spec = this.specOf(shifted, false);
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
      this.remember(key, build.builder.finish());
      this.tablesPrewarmed++;
      this.answer(build.request);
      if (performance.now() >= until) break;
    }
    return this.building.size > 0;
  }

  /** Synchronous form of merge() for callers in the same process (benchmarks, tests). */
  mergeNow(request: MergeRequest): MergeResponse {
    const window = request.window;
    if (window === undefined) throw new UsageError('merge request without a window');
    if (request.phase === MergePhase.MERGE_PHASE_LOCAL_TOP) {
      // Remembered for prewarm(): a few recent questions, by everything but their seconds.
      const shape = JSON.stringify([window.group, window.by, window.filters ?? null, window.memberNetworks]);
      this.recent.delete(shape);
      this.recent.set(shape, { request, askedAtMs: this.nowMs() });
      // Half the cache: until queries move to a new second they read the previous second's tables, so
      // each prewarmed question holds two tables for a while; more questions would evict the tables in use.
      if (this.recent.size > Math.max(1, Math.floor(this.options.tableCacheEntries / 2))) {
        this.recent.delete(this.recent.keys().next().value as string);
      }
    }
    return this.answer(request);
  }

  private answer(request: MergeRequest): MergeResponse {
    const window = request.window as MergeWindow;
    const cached = this.tableFor(window);
    const table = cached.table;
    const metric = window.by === MetricCode.METRIC_PACKETS ? table.packets : table.bytes;
    const response: MergeResponse = {
      rows: [],
      transit: [],
      totals: undefined,
      undecoded: [],
      evictedPackets: 0,
      evictedBytes: 0,
      windowComplete: table.complete,
      node: this.nodeName,
      requestId: request.requestId,
      error: '',
      errorCode: 0,
    };
    switch (request.phase) {
      case MergePhase.MERGE_PHASE_LOCAL_TOP: {
        // The local top-k; with hints from the coordinator's previous answer to the same question, also
        // every row at or above `threshold` and the rows of `keys`, so that phases 2 and 3 can be skipped.
        const sent = new Set<number>(topOf(cached, window.by, metric, request.k));
        if (request.threshold > 0)
          forEachAtLeast(cached, window.by, metric, request.threshold, (g) => sent.add(g));
        for (const key of request.keys) {
          const g = table.findKey(key);
          if (g >= 0) sent.add(g);
        }
        for (const g of sent) response.rows.push(rowOf(table, g));
        response.transit = table.transit.map((t) => ({
          flow: t.flow,
          groups: t.groups,
          packets: t.packets,
          bytes: t.bytes,
          forwardPackets: t.forwardPackets,
          forwardBytes: t.forwardBytes,
        }));
        response.totals = { ...table.totals };
        response.undecoded = undecodedList(table.undecoded);
        response.evictedPackets = table.evicted.packets;
        response.evictedBytes = table.evicted.bytes;
        break;
      }
      case MergePhase.MERGE_PHASE_ABOVE_THRESHOLD: {
        // The k rows of phase 1 are not sent again: the coordinator still holds them.
        const sent = new Set(topOf(cached, window.by, metric, request.k));
        forEachAtLeast(cached, window.by, metric, request.threshold, (g) => {
          if (!sent.has(g)) response.rows.push(rowOf(table, g));
        });
        break;
      }
      case MergePhase.MERGE_PHASE_EXACT: {
        for (const key of request.keys) {
          const g = table.findKey(key);
          if (g >= 0) response.rows.push(rowOf(table, g));
        }
        break;
      }
      default:
        throw new UsageError(`unknown merge phase ${request.phase}`);
    }
    return response;
  }

  localTopNow(window: MergeWindow, limit: number): LocalTopAnswer {
    const local: MergeWindow = { ...window, memberNetworks: [] };
    // Everything this node saw counts here, transit flows included (counted into their groups).
    const cached = this.tableFor(local, true);
    const table = cached.table;
    const metric = window.by === MetricCode.METRIC_PACKETS ? table.packets : table.bytes;
    // Only the rows returned get their key text (all of them when there is no limit).
    const top = topOf(cached, window.by, metric, limit > 0 ? limit : table.count);
    return {
      rows: Array.from(top, (g) => rowOf(table, g)),
      transit: [],
      totals: { ...table.totals },
      undecoded: undecodedList(table.undecoded),
      evictedPackets: table.evicted.packets,
      evictedBytes: table.evicted.bytes,
      windowComplete: table.complete,
      node: this.nodeName,
      requestId: 0,
      error: '',
      errorCode: 0,
      groups: table.count,
    };
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

  /** The window table for `window`, computed once and kept for the TTL. */
  private tableFor(window: MergeWindow, countTransit = false): CachedTable {
    // The pinned window's last second must be closed here too (this clock may lag the coordinator's):
    // closing it now is safe, a late frame stamped in it counts in the open second instead.
    this.store.advanceTo(window.toSecond + 1);
    const key = this.cacheKeyOf(window, countTransit);
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      // Most recently used last, so the oldest is evicted first.
      this.cache.delete(key);
      this.cache.set(key, hit);
      hit.computedAtMs = this.nowMs();
      return hit;
    }
    // Being prewarmed: finish it now rather than start again.
    const build = this.building.get(key);
    this.building.delete(key);
    this.tablesBuiltOnDemand++;
    const table =
      build !== undefined && build.builder !== null && !build.builder.stale
        ? build.builder.finish()
        : computeWindowTable(this.store, this.specOf(window, countTransit));
    return this.remember(key, table);
  }

  /**
   * The cache key of a window's table: the data the window reads, not its seconds, so that a window
   * sliding over seconds without traffic, identical queries, and every phase of one query share a table.
   */
  private cacheKeyOf(window: MergeWindow, countTransit: boolean): string {
    return JSON.stringify([
      window.group,
      window.filters ?? null,
      [...window.memberNetworks].sort(),
      countTransit,
      this.store.rangeSignature(window.fromSecond, window.toSecond),
    ]);
  }

  private specOf(window: MergeWindow, countTransit: boolean): WindowTableSpec {
    return {
      group: GROUPING_NAMES[window.group] ?? invalid(`unknown grouping ${window.group}`),
      fromSecond: window.fromSecond,
      toSecond: window.toSecond,
      filter: FlowFilter.compile({
        cidrs: window.filters?.cidrs ?? [],
        ports: window.filters?.ports ?? [],
        protocols: window.filters?.protocols ?? [],
      }),
      memberNetworks: networksOf(window.memberNetworks),
      countTransit,
    };
  }

  /** Caches a computed table (dropping expired and least recently used ones) and returns its entry. */
  private remember(key: string, table: WindowTable): CachedTable {
    const now = this.nowMs();
    for (const [old, entry] of this.cache) {
      if (now - entry.computedAtMs > this.options.tableTtlMs) this.cache.delete(old);
    }
    const entry: CachedTable = { table, computedAtMs: now, tops: new Map(), heavy: new Map() };
    this.cache.set(key, entry);
    while (this.cache.size > this.options.tableCacheEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
    return entry;
  }
}

/**
 * The k best groups by `metric` (ties by key), best first, cached per table. Only the groups at or above
 * the k-th largest value are sorted with their keys: a full sort of 100k groups with a key tie-break
 * cost tens of milliseconds.
 */
function topOf(cached: CachedTable, by: number, metric: Float64Array, k: number): Int32Array {
  const cacheKey = `${by}:${k}`;
  const known = cached.tops.get(cacheKey);
  if (known !== undefined) return known;
  const table = cached.table;
  const n = table.count;
  let kth = Number.NEGATIVE_INFINITY;
  if (k < n) {
    const values = metric.slice(0, n).sort();
    kth = values[n - k] as number;
  }
  const candidates: number[] = [];
  for (let g = 0; g < n; g++) if ((metric[g] as number) >= kth) candidates.push(g);
  // Key texts are printed for tied candidates only (keyOf memoises them).
  candidates.sort((a, b) => {
    const d = (metric[b] as number) - (metric[a] as number);
    if (d !== 0) return d;
    const ka = table.keyOf(a);
    const kb = table.keyOf(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const top = Int32Array.from(candidates.slice(0, Math.max(0, k)));
  cached.tops.set(cacheKey, top);
  return top;
}

/**
 * Groups kept in value order per table and metric, to answer "every row >= threshold" without scanning
 * every group: TPUT's thresholds select tens of rows out of tens of thousands, and a scan per phase per
 * query was most of a node's work (0.2 ms of 0.3 at 65k groups).
 */
const HEAVY_GROUPS = 2048;

/** Calls `visit` for every group whose metric is >= threshold. */
function forEachAtLeast(
  cached: CachedTable,
  by: number,
  metric: Float64Array,
  threshold: number,
  visit: (g: number) => void,
): void {
  const n = cached.table.count;
  let heavy = cached.heavy.get(by);
  if (heavy === undefined) {
    if (n <= HEAVY_GROUPS) {
      const order = Int32Array.from({ length: n }, (_, g) => g);
      heavy = { order, floor: Number.NEGATIVE_INFINITY };
    } else {
      const floor = metric.slice(0, n).sort()[n - HEAVY_GROUPS] as number;
      const picked: number[] = [];
      for (let g = 0; g < n; g++) if ((metric[g] as number) >= floor) picked.push(g);
      heavy = { order: Int32Array.from(picked), floor };
    }
    heavy.order.sort((a, b) => (metric[b] as number) - (metric[a] as number));
    cached.heavy.set(by, heavy);
  }
  if (threshold >= heavy.floor) {
    for (const g of heavy.order) {
      if ((metric[g] as number) < threshold) break;
      visit(g);
    }
    return;
  }
  for (let g = 0; g < n; g++) if ((metric[g] as number) >= threshold) visit(g);
}

function rowOf(table: WindowTable, g: number): TopRow {
  return {
    key: table.keyOf(g),
    packets: table.packets[g] as number,
    bytes: table.bytes[g] as number,
    flows: table.flows[g] as number,
    forwardPackets: table.forwardPackets[g] as number,
    forwardBytes: table.forwardBytes[g] as number,
  };
}

function undecodedList(undecoded: Record<string, number>): UndecodedCount[] {
  return Object.entries(undecoded)
    .filter(([, packets]) => packets > 0)
    .map(([reason, packets]) => ({ reason, packets }));
}

function networksOf(texts: readonly string[]): LocalNetworks | null {
  if (texts.length === 0) return null;
  const networks = new LocalNetworks();
  for (const text of texts) networks.add(text);
  return networks;
}

function invalid(message: string): never {
  throw new UsageError(message);
}

/** Runs synchronous work as a promise (errors become rejections). */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}
