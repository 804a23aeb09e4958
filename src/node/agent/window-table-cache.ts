import type { WindowTable } from '../flows/window-table.js';

/** A computed window table and what the merge phases derive from it, built lazily (merge-phases.ts). */
export interface CachedTable {
  readonly table: WindowTable;
  computedAtMs: number;
  /** Per metric and k: the group indices of the local top-k (phase 1), best first. */
  readonly tops: Map<string, Int32Array>;
  /** Per metric: the heaviest groups, heaviest first, and the smallest value among them. */
  readonly heavy: Map<string, { order: Int32Array; floor: number }>;
}

export interface WindowTableCacheOptions {
  /** How long a table is kept after it was last used (QueryConfig.windowTableTtlMs). */
  readonly ttlMs: number;
  /** Tables kept at once (QueryConfig.windowTableCacheEntries); the least recently used goes first. */
  readonly entries: number;
  /** Wall clock, ms (injectable for tests). */
  readonly nowMs: () => number;
}

/**
 * The window tables a node computed for recent queries, by the data they read (FlowStore.rangeSignature
 * and the question's shape, see FlowStoreQueryEngine.cacheKeyOf): every phase of one query, identical
 * queries and a window sliding over seconds without traffic share one table. Bounded by count and by age.
 */
export class WindowTableCache {
  private readonly tables = new Map<string, CachedTable>();

  constructor(private readonly options: WindowTableCacheOptions) {}

  get size(): number {
    return this.tables.size;
  }

  has(key: string): boolean {
    return this.tables.has(key);
  }

  /** The table cached under `key`, now the most recently used (its age restarts), or undefined. */
  use(key: string): CachedTable | undefined {
    const hit = this.tables.get(key);
    if (hit === undefined) return undefined;
    // Most recently used last, so the oldest is evicted first.
    this.tables.delete(key);
    this.tables.set(key, hit);
    hit.computedAtMs = this.options.nowMs();
    return hit;
  }

  /** Caches a computed table (dropping expired and least recently used ones) and returns its entry. */
  remember(key: string, table: WindowTable): CachedTable {
    const now = this.options.nowMs();
    for (const [old, entry] of this.tables) {
      if (now - entry.computedAtMs > this.options.ttlMs) this.tables.delete(old);
    }
    const entry: CachedTable = { table, computedAtMs: now, tops: new Map(), heavy: new Map() };
    this.tables.set(key, entry);
    while (this.tables.size > this.options.entries) {
      this.tables.delete(this.tables.keys().next().value as string);
    }
    return entry;
  }
}
