/**
 * Every limit and default of a node's flow store (the capture side's memory and history), in one place:
 * the CLI's flags, the agent, the query service and the store itself read them from here.
 */

/**
 * Default flow budget. A flow costs 128 bytes of record, 16 bytes of index and 24 of cold data, plus
 * history: HISTORY_ENTRIES_PER_FLOW_BUDGET entries of 20 bytes, in an arena of
 * HISTORY_ARENA_ENTRIES_PER_FLOW entries (100 bytes) of which about 1.5x the live ones are ever
 * resident. Measured on a flood: 280-370 bytes of peak RSS per flow of budget in `analyze` (slot sums
 * and residues included), so 500k flows cost 135-180 MB over Node's own ~105 MB. It holds the
 * benchmark's 370k flows without eviction; beyond it the lightest flows are evicted (evictLightest()).
 */
export const DEFAULT_MAX_FLOWS = 500_000;
/** --max-flows bounds: below 16 a table cannot evict in quarters; above 100 M it would not fit in memory. */
export const MIN_MAX_FLOWS = 16;
export const MAX_MAX_FLOWS = 100_000_000;
/** How far back windowed questions can reach ("top talkers in the last N seconds", N <= this). */
export const DEFAULT_RETENTION_SECONDS = 3600;
/**
 * The longest --retention, and so the longest window anyone can mean: a week (at 60-second slices beyond
 * 30 minutes, 10k slices).
 */
export const MAX_RETENTION_SECONDS = 7 * 24 * 3600;
/**
 * History resolution by age: 1-second slices for the last 5 minutes (where operators zoom in), then
 * 10-second slices up to 30 minutes, then 60-second slices. Coarser slices hold each flow once per
 * slice instead of once per second, so an hour of history costs about 300 + 150 + 30 slices.
 */
export const HISTORY_TIERS: readonly { spanSeconds: number; untilAgeSeconds: number }[] = [
  { spanSeconds: 1, untilAgeSeconds: 300 },
  { spanSeconds: 10, untilAgeSeconds: 1800 },
  { spanSeconds: 60, untilAgeSeconds: Number.POSITIVE_INFINITY },
];
/**
 * History entries (one per flow per slice, 20 bytes each) allowed per flow of the budget. When a flood
 * of short flows would exceed it, the oldest history is dropped first and answers say how far back
 * history still reaches.
 */
export const HISTORY_ENTRIES_PER_FLOW_BUDGET = 3;
/**
 * Arena entries per flow of the budget (history-entry-arena.ts): the history budget, plus one closing
 * second or merge that may add up to one entry per flow before the budget is enforced again, plus one
 * per flow of slack so that compactions (copies of the live history) stay rare when history is full.
 */
export const HISTORY_ARENA_ENTRIES_PER_FLOW = HISTORY_ENTRIES_PER_FLOW_BUDGET + 2;
/**
 * Evict this fraction of the table at once when it is full, so one pass over the table (the cost of an
 * eviction round) is paid once per maxFlows/4 new flows. Larger fractions forget more light flows
 * early; smaller ones scan more often (1/8 spent a fifth of a flood's run time scanning).
 */
export const EVICT_FRACTION = 1 / 4;
/** Flows sampled to estimate the eviction threshold. */
export const EVICT_SAMPLE = 4096;

/**
 * Address (and service) rows kept per history slice for evicted flows' traffic (evicted-residue.ts), and
 * at least this many, or one per 8 flows of the budget, in the all-time residue. Beyond twice that the
 * lightest rows are folded together: per slice at most ~2 x 2 x 32 rows of 80 bytes.
 */
export const RESIDUE_ROWS_PER_SLICE = 32;
export const RESIDUE_ROWS_ALL_TIME_MIN = 4096;
