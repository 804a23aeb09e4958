import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import { EvictedResidue } from './evicted-residue.js';
import type { FlowFacts } from './flow-facts.js';
import {
  DEFAULT_MAX_FLOWS,
  DEFAULT_RETENTION_SECONDS,
  EVICT_FRACTION,
  EVICT_SAMPLE,
  HISTORY_ARENA_ENTRIES_PER_FLOW,
  HISTORY_ENTRIES_PER_FLOW_BUDGET,
  HISTORY_TIERS,
  RESIDUE_ROWS_ALL_TIME_MIN,
  RESIDUE_ROWS_PER_SLICE,
} from './flow-store-config.js';
import {
  FlowTable,
  REC_FLAGS,
  REC_INTS,
  REC_TOUCHED,
  STAT_BYTES,
  STAT_DOUBLES,
  STAT_FIRST_SEEN,
  STAT_LAST_SEEN,
  STAT_OPEN_BYTES,
  STAT_OPEN_PACKETS,
  STAT_PACKETS,
  STAT_RETAINED_BYTES,
  STAT_RETAINED_PACKETS,
} from './flow-table.js';
import { HistoryEntryArena } from './history-entry-arena.js';
import { HistorySlice } from './history-slice.js';
import type { LocalNetworks } from './local-networks.js';
import { SlotSums } from './slot-sums.js';

export interface FlowStoreOptions {
  maxFlows?: number;
  retentionSeconds?: number;
  localNetworks?: LocalNetworks;
}

/**
 * The flows a question selected and their values (all-time or summed over a window). For all-time
 * questions `slots` is null: every occupied table slot is selected with its all-time counters, read in
 * place (copying 370k flows into fresh arrays cost more than the grouping itself: new pages fault).
 */
export interface FlowSelection {
  /** Slots of selected flows, [0, count); null = every occupied slot, values from the table. */
  slots: Int32Array | null;
  count: number;
  /** Indexed like `slots` (not by slot); empty when `slots` is null. */
  packets: Float64Array;
  bytes: Float64Array;
}

/** A range read done in steps (FlowStore.beginRangeRead). */
export interface SteppedRangeRead {
  /**
   * Sums slices until all are read or performance.now() passes `untilMs`; returns true when done, or
   * when stale (nothing more to read).
   */
  advance(untilMs: number): boolean;
  /** The store evicted flows or began another stepped read meanwhile: the result must not be used. */
  readonly stale: boolean;
  /** What selectRange would have returned when the read began (reads what is left first). */
  result(): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage };
}

/** Everything a range read needs but the per-flow sums (FlowStore.planRange). */
interface RangePlan {
  /** The closed slices inside the range, newest first. */
  slices: HistorySlice[];
  totals: TrafficTotals;
  /** Entries of slots reused since (added to the evicted traffic by rangeResult). */
  stale: { packets: number; bytes: number };
  coverage: WindowCoverage;
}

/**
 * A range's validated start (-Infinity for "from the beginning", fromSecond <= 0) and the seconds it
 * asks for (null for "from the beginning"); throws RangeError naming `caller` for a bad range.
 */
function checkedRange(
  caller: string,
  fromSecond: number,
  toSecond: number,
): { from: number; requested: number | null } {
  if (Number.isNaN(fromSecond) || !Number.isInteger(toSecond) || toSecond < fromSecond) {
    throw new RangeError(`${caller}: bad range [${fromSecond}, ${toSecond}] (integers, from <= to)`);
  }
  const from = fromSecond <= 0 ? Number.NEGATIVE_INFINITY : fromSecond;
  if (!(from === Number.NEGATIVE_INFINITY || Number.isInteger(from))) {
    throw new RangeError(`${caller}: fromSecond ${fromSecond} is not a whole second`);
  }
  return { from, requested: from === Number.NEGATIVE_INFINITY ? null : toSecond - from + 1 };
}

function rangeResult(
  plan: RangePlan,
  sums: SlotSums,
): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage } {
  const { slots, packets, bytes } = sums.copyOut();
  const totals = { ...plan.totals };
  totals.evictedPackets += plan.stale.packets;
  totals.evictedBytes += plan.stale.bytes;
  return { flows: { slots, count: slots.length, packets, bytes }, totals, coverage: plan.coverage };
}

/** The selection as dense arrays, for callers that rank individual flows. */
export function denseSelection(
  table: FlowTable,
  flows: FlowSelection,
): {
  slots: Int32Array;
  count: number;
  packets: Float64Array;
  bytes: Float64Array;
} {
  if (flows.slots !== null)
    return { slots: flows.slots, count: flows.count, packets: flows.packets, bytes: flows.bytes };
  const slots = new Int32Array(table.count);
  const packets = new Float64Array(table.count);
  const bytes = new Float64Array(table.count);
  let n = 0;
  for (let slot = 0; slot < table.slotLimit; slot++) {
    if (!table.isOccupied(slot)) continue;
    slots[n] = slot;
    packets[n] = table.stats[slot * STAT_DOUBLES + STAT_PACKETS];
    bytes[n] = table.stats[slot * STAT_DOUBLES + STAT_BYTES];
    n++;
  }
  return { slots, count: n, packets, bytes };
}

export interface TrafficTotals {
  /** Every frame, decoded or not. */
  packets: number;
  bytes: number;
  /** Frames per undecoded reason (index = decode outcome). */
  undecodedPackets: Float64Array;
  undecodedBytes: Float64Array;
  /** IP traffic of flows evicted from the table (in address and service rows via `residue`, not in flow rows). */
  evictedPackets: number;
  evictedBytes: number;
  /** Evicted flows' traffic per address and service, for the groupings that can still be exact. */
  residue: EvictedResidue;
}

export interface WindowCoverage {
  /** Seconds asked for; null = everything since the store started. */
  requestedSeconds: number | null;
  /** First and last second (Unix) the answer covers; null when nothing was counted. */
  fromSecond: number | null;
  toSecond: number | null;
  /** False when history older than the window start was dropped for memory, or coarse slices clip it. */
  complete: boolean;
}

/**
 * Per-flow accounting with time history and a memory budget.
 *
 * Each packet updates its flow's all-time counters and its "open second" counters; when time moves to a
 * new second, the open second becomes a closed 1-second HistorySlice listing the flows it touched.
 * Windowed questions sum closed slices, so repeated reads agree. Packets whose timestamp is older than
 * the open second (out-of-order capture, several interfaces) are counted in the open second.
 *
 * Memory is bounded by `maxFlows` (the table) and HISTORY_ENTRIES_PER_FLOW_BUDGET (the history).
 */
export class FlowStore {
  readonly table: FlowTable;
  readonly retentionSeconds: number;
  private readonly localNetworks: LocalNetworks | null;
  private readonly historyEntryBudget: number;

  /** Closed slices, oldest first. */
  private readonly slices: HistorySlice[] = [];
  private historyEntries = 0;
  /** History before this second was dropped (retention or memory): windows reaching before it are partial. */
  private historyStartSecond = Number.NEGATIVE_INFINITY;
  /** The second being counted; -1 before the first packet. */
  private openSecond = -1;
  private openSlice: HistorySlice = new HistorySlice(0, 1);
  /** The entries of every closed slice. */
  private readonly history: HistoryEntryArena;
  private openStamp = 1;
  private touched = new Int32Array(1024);
  private touchedCount = 0;

  // All-time counters.
  private framePackets = 0;
  private frameBytes = 0;
  private readonly undecodedPackets = new Float64Array(UNDECODED_REASON_COUNT);
  private readonly undecodedBytes = new Float64Array(UNDECODED_REASON_COUNT);
  private evictedPacketsTotal = 0;
  private evictedBytesTotal = 0;
  /** Flows removed to make room. */
  evictedFlows = 0;
  /** Largest all-time count of any evicted flow: the error bound of flows inserted after it. */
  private evictedMaxPackets = 0;
  private evictedMaxBytes = 0;
  private firstSecond = -1;
  /** Evicted flows' traffic since the start, for all-time questions. */
  private readonly residueAllTime: EvictedResidue;
  /** Slots chosen for eviction in the current round (by slot). */
  private evictMark = new Uint8Array(0);
  /** Working arrays of eviction rounds, reused: garbage per round added up in a flood. */
  private readonly evictSample = new Float64Array(EVICT_SAMPLE);
  private evictVictims = new Int32Array(0);
  /** Newest second any frame carried (the open second may be later after closeAll or a live clock). */
  private newestSecond = -1;

  /** Working arrays of range reads and slice merges, indexed by slot. */
  private readonly sums = new SlotSums();
  /**
   * Working arrays of the one range read done in steps at a time (beginRangeRead), apart from `sums`,
   * which reads and merges between its steps use. Made on first use: 24 bytes per slot.
   */
  private backgroundSums: SlotSums | null = null;
  private backgroundOwner: object | null = null;

  constructor(options: FlowStoreOptions = {}) {
    const maxFlows = options.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.table = new FlowTable(maxFlows);
    this.retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    if (!(this.retentionSeconds >= 1)) throw new RangeError('retentionSeconds must be >= 1');
    this.localNetworks =
      options.localNetworks && options.localNetworks.size > 0 ? options.localNetworks : null;
    this.historyEntryBudget = maxFlows * HISTORY_ENTRIES_PER_FLOW_BUDGET;
    this.history = new HistoryEntryArena(maxFlows * HISTORY_ARENA_ENTRIES_PER_FLOW);
    this.residueAllTime = new EvictedResidue(Math.max(RESIDUE_ROWS_ALL_TIME_MIN, Math.floor(maxFlows / 8)));
  }

  /**
   * Counts one decoded IP packet of `wireLength` bytes seen at tsSeconds + tsNanos. `hash` is
   * FlowTable.hashFacts(f), which a caller on another thread may have computed already.
   */
  addPacket(
    f: FlowFacts,
    wireLength: number,
    tsSeconds: number,
    tsNanos: number,
    hash: number = FlowTable.hashFacts(f),
  ): void {
    if (tsSeconds > this.openSecond) this.rollTo(tsSeconds);
    if (tsSeconds > this.newestSecond) this.newestSecond = tsSeconds;
    const open = this.openSlice;
    open.framePackets++;
    open.frameBytes += wireLength;
    this.framePackets++;
    this.frameBytes += wireLength;
    const t = this.table;
    let slot = t.find(f, hash);
    const time = tsSeconds + tsNanos * 1e-9;
    if (slot < 0) slot = this.insertFlow(f, hash, time);
    const st = t.stats;
    const s = slot * STAT_DOUBLES;
    st[s + STAT_PACKETS] += 1;
    st[s + STAT_BYTES] += wireLength;
    st[s + STAT_OPEN_PACKETS] += 1;
    st[s + STAT_OPEN_BYTES] += wireLength;
    if (time > st[s + STAT_LAST_SEEN]) st[s + STAT_LAST_SEEN] = time;
    else if (time < st[s + STAT_FIRST_SEEN]) st[s + STAT_FIRST_SEEN] = time;
    const rec = t.records;
    const r = slot * REC_INTS;
    rec[r + REC_FLAGS] |= f.tcpFlags;
    if (rec[r + REC_TOUCHED] !== this.openStamp) {
      rec[r + REC_TOUCHED] = this.openStamp;
      if (this.touchedCount === this.touched.length) this.growTouched();
      this.touched[this.touchedCount++] = slot;
    }
  }

  /** Counts one frame the decoder could not attribute to a flow, by reason. */
  addUndecoded(reason: number, wireLength: number, tsSeconds: number): void {
    if (tsSeconds > this.openSecond) this.rollTo(tsSeconds);
    if (tsSeconds > this.newestSecond) this.newestSecond = tsSeconds;
    const open = this.openSlice;
    open.framePackets++;
    open.frameBytes += wireLength;
    open.undecodedPackets[reason] += 1;
    open.undecodedBytes[reason] += wireLength;
    this.framePackets++;
    this.frameBytes += wireLength;
    this.undecodedPackets[reason] += 1;
    this.undecodedBytes[reason] += wireLength;
  }

  /**
   * Closes every second before `second` (a live clock calls this so windows advance without traffic).
   * After closeAll() at the end of a file, nothing is open.
   */
  advanceTo(second: number): void {
    if (second > this.openSecond) this.rollTo(second);
  }

  /** Closes the open second (end of a file, or a live capture stopping). */
  closeAll(): void {
    if (this.openSecond >= 0) this.rollTo(this.openSecond + 1);
  }

  /** Newest closed second, or null when nothing is closed yet. */
  get lastClosedSecond(): number | null {
    return this.slices.length === 0 ? null : this.openSecond - 1;
  }

  get historyEntryCount(): number {
    return this.historyEntries;
  }

  /** How often the history arena moved the live history to its front (history-entry-arena.ts). */
  get historyCompactions(): number {
    return this.history.compactions;
  }

  /**
   * The flows and totals for a window of the last `windowSeconds` closed seconds (ending at the newest
   * closed second), or for everything when `windowSeconds` is null. Allocates only per question.
   */
  select(windowSeconds: number | null): {
    flows: FlowSelection;
    totals: TrafficTotals;
    coverage: WindowCoverage;
  } {
    if (windowSeconds === null) return this.selectAll();
    return this.selectWindow(windowSeconds);
  }

  private selectAll(): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage } {
    const empty = new Float64Array(0);
    return {
      flows: { slots: null, count: this.table.count, packets: empty, bytes: empty },
      totals: {
        packets: this.framePackets,
        bytes: this.frameBytes,
        undecodedPackets: this.undecodedPackets.slice(),
        undecodedBytes: this.undecodedBytes.slice(),
        evictedPackets: this.evictedPacketsTotal,
        evictedBytes: this.evictedBytesTotal,
        residue: this.residueAllTime,
      },
      coverage: {
        requestedSeconds: null,
        fromSecond: this.firstSecond < 0 ? null : this.firstSecond,
        toSecond: this.newestSecond < 0 ? null : this.newestSecond,
        complete: true,
      },
    };
  }

  /**
   * The flows and totals of the closed seconds [fromSecond, toSecond] (Unix seconds, both inclusive;
   * fromSecond <= 0 or -Infinity = from the beginning of history). Cluster queries pin one such range so
   * that every phase of a query reads the same data on every node.
   *
   * Only slices entirely inside the range are read: a coarse slice straddling either end is left out
   * (never more than asked) and makes `complete` false, as do history dropped before fromSecond and a
   * toSecond that is not closed yet. Seconds still open are never read: a caller whose toSecond may be
   * the open second (or later) calls advanceTo(toSecond + 1) first. selectRange does not do it itself,
   * because closing seconds changes the store for every later question, which is the caller's decision.
   *
   * Coverage: fromSecond is the first second of history read (null when none); toSecond is the end of
   * the range as read (clipped to the newest closed second and before a straddling slice), null when
   * nothing was ever counted. Allocates only per question.
   */
  /**
   * A description of the data selectRange(from, to) would read: the closed slices inside the range
   * (first start, last end, how many), the eviction count and the history start. Two ranges with the same
   * signature read the same data (closed slices change only by eviction, tier merging or expiry, each of
   * which changes the signature), so an answer computed for one can be reused for the other: a window
   * that slides over seconds without traffic, or every phase of a query. O(slices), allocates one string.
   */
  rangeSignature(fromSecond: number, toSecond: number): string {
    const from = fromSecond <= 0 ? Number.NEGATIVE_INFINITY : fromSecond;
    let first = -1;
    let last = -1;
    let count = 0;
    let straddles = false;
    for (const slice of this.slices) {
      if (slice.lastSecond > toSecond) {
        if (slice.startSecond <= toSecond) straddles = true;
        break;
      }
      if (slice.startSecond < from) {
        if (slice.lastSecond >= from) straddles = true;
        continue;
      }
      if (first < 0) first = slice.startSecond;
      last = slice.lastSecond;
      count++;
    }
    // A range reaching the open second (or beyond) reads up to the newest closed second: which one that
    // is belongs to the data read (seconds without traffic close without a slice).
    const readsTo = toSecond >= this.openSecond ? this.openSecond - 1 : toSecond;
    const historyCut = from < this.historyStartSecond;
    return `${first}:${last}:${count}:${this.evictedFlows}:${straddles}:${readsTo}:${historyCut}`;
  }

  selectRange(
    fromSecond: number,
    toSecond: number,
  ): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage } {
    const { from, requested } = checkedRange('selectRange', fromSecond, toSecond);
    return this.readRange(from, toSecond, requested);
  }

  private selectWindow(windowSeconds: number): {
    flows: FlowSelection;
    totals: TrafficTotals;
    coverage: WindowCoverage;
  } {
    const newest = this.lastClosedSecond;
    if (newest === null) {
      return {
        flows: {
          slots: new Int32Array(0),
          count: 0,
          packets: new Float64Array(0),
          bytes: new Float64Array(0),
        },
        totals: this.emptyTotals(),
        coverage: { requestedSeconds: windowSeconds, fromSecond: null, toSecond: null, complete: true },
      };
    }
    return this.readRange(newest - windowSeconds + 1, newest, windowSeconds);
  }

  private emptyTotals(): TrafficTotals {
    return {
      packets: 0,
      bytes: 0,
      undecodedPackets: new Float64Array(UNDECODED_REASON_COUNT),
      undecodedBytes: new Float64Array(UNDECODED_REASON_COUNT),
      evictedPackets: 0,
      evictedBytes: 0,
      residue: new EvictedResidue(Number.POSITIVE_INFINITY),
    };
  }

  /** Sums the closed slices lying entirely inside [fromSecond, toSecond] (fromSecond may be -Infinity). */
  private readRange(
    fromSecond: number,
    toSecond: number,
    requestedSeconds: number | null,
  ): { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage } {
    const plan = this.planRange(fromSecond, toSecond, requestedSeconds);
    this.sums.begin(this.table.capacity);
    for (const slice of plan.slices) this.sums.addSlice(slice, this.history, this.table, plan.stale);
    return rangeResult(plan, this.sums);
  }

  /**
   * selectRange(fromSecond, toSecond) in steps, for a caller that must go on counting and answering
   * between them (a capturing node preparing the next second's tables: FlowStoreQueryEngine.prewarm).
   * Closed slices change only by eviction, so the steps read the data of the range as it was when the
   * read began; what can go wrong meanwhile is said by `stale`: flows were evicted (history entries of
   * the range may then name slots that other flows took), a slice of the range not read yet was dropped
   * (merged or expired) and the history arena compacted over its entries, or another stepped read began
   * (one at a time: they share working arrays). A stale read's result must not be used.
   */
  beginRangeRead(fromSecond: number, toSecond: number): SteppedRangeRead {
    const { from, requested } = checkedRange('beginRangeRead', fromSecond, toSecond);
    const plan = this.planRange(from, toSecond, requested);
    this.backgroundSums ??= new SlotSums();
    const sums = this.backgroundSums;
    sums.begin(this.table.capacity);
    const owner = {};
    this.backgroundOwner = owner;
    const evictedAtStart = this.evictedFlows;
    const compactionsAtStart = this.history.compactions;
    let next = 0;
    const store = this;
    const unreadEntriesLost = (): boolean => {
      if (store.history.compactions === compactionsAtStart) return false;
      for (let i = next; i < plan.slices.length; i++)
        if ((plan.slices[i] as HistorySlice).released) return true;
      return false;
    };
    const read: SteppedRangeRead = {
      get stale() {
        return (
          store.backgroundOwner !== owner || store.evictedFlows !== evictedAtStart || unreadEntriesLost()
        );
      },
      advance(untilMs: number): boolean {
        // A stale read stops (its result is not used): its unread entries may be another slice's by now.
        // Nothing changes during one call, so checking once is enough.
        if (read.stale) return true;
        while (next < plan.slices.length) {
          sums.addSlice(plan.slices[next++] as HistorySlice, store.history, store.table, plan.stale);
          if (performance.now() >= untilMs) break;
        }
        return next >= plan.slices.length;
      },
      result() {
        read.advance(Number.POSITIVE_INFINITY);
        return rangeResult(plan, sums);
      },
    };
    return read;
  }

  /** The slices a range read sums (newest first), its totals and coverage: everything but the sums. */
  private planRange(fromSecond: number, toSecond: number, requestedSeconds: number | null): RangePlan {
    const slices: HistorySlice[] = [];
    const totals = this.emptyTotals();
    let from = Number.POSITIVE_INFINITY;
    let straddled = false;
    // The newest closed second; the range may not reach past it (those seconds are open or in the future).
    const closedTo = this.openSecond < 0 ? Number.NEGATIVE_INFINITY : this.openSecond - 1;
    let readTo = Math.min(toSecond, closedTo);
    for (let i = this.slices.length - 1; i >= 0; i--) {
      const slice = this.slices[i];
      if (slice.startSecond > toSecond) continue;
      if (slice.lastSecond > toSecond) {
        // A coarse slice that starts inside the range but ends after it is left out, as at the start.
        straddled = true;
        readTo = slice.startSecond - 1;
        continue;
      }
      if (slice.startSecond < fromSecond) {
        // A coarse slice that starts before the range but ends inside it is left out: never more than asked.
        if (slice.lastSecond >= fromSecond) straddled = true;
        break;
      }
      if (slice.startSecond < from) from = slice.startSecond;
      totals.packets += slice.framePackets;
      totals.bytes += slice.frameBytes;
      for (let r = 0; r < UNDECODED_REASON_COUNT; r++) {
        totals.undecodedPackets[r] += slice.undecodedPackets[r];
        totals.undecodedBytes[r] += slice.undecodedBytes[r];
      }
      totals.evictedPackets += slice.evictedPackets;
      totals.evictedBytes += slice.evictedBytes;
      if (slice.residue !== null) {
        totals.residue.addAll(slice.residue);
        totals.evictedPackets += slice.residue.packets;
        totals.evictedBytes += slice.residue.bytes;
      }
      slices.push(slice);
    }
    // Nothing counted yet: nothing can be missing (and no second to name as the end).
    const nothingCounted = this.openSecond < 0;
    const complete =
      nothingCounted || (fromSecond >= this.historyStartSecond && !straddled && toSecond <= closedTo);
    return {
      slices,
      totals,
      stale: { packets: 0, bytes: 0 },
      coverage: {
        requestedSeconds,
        // A coarse slice merged after older seconds were dropped starts before the history does.
        fromSecond: from === Number.POSITIVE_INFINITY ? null : Math.max(from, this.historyStartSecond),
        toSecond: nothingCounted ? null : readTo,
        complete,
      },
    };
  }

  /** Whether local addresses are known, i.e. whether flow directions (sent/received) mean anything. */
  get knowsLocalAddresses(): boolean {
    return this.localNetworks !== null;
  }

  // ---- internals -------------------------------------------------------------------------------------

  private insertFlow(f: FlowFacts, hash: number, time: number): number {
    const t = this.table;
    if (t.isFull) this.evictLightest();
    const slot = t.insert(f, hash, this.openSecond);
    t.stats[slot * STAT_DOUBLES + STAT_FIRST_SEEN] = time;
    t.stats[slot * STAT_DOUBLES + STAT_LAST_SEEN] = time;
    t.setErrorBound(slot, this.evictedMaxPackets, this.evictedMaxBytes);
    const local = this.localNetworks;
    if (local !== null) {
      t.setDirection(
        slot,
        (local.contains(f.ipVersion, f.srcAddr) ? 1 : 0) | (local.contains(f.ipVersion, f.dstAddr) ? 2 : 0),
      );
    }
    return slot;
  }

  /**
   * Makes room by evicting about EVICT_FRACTION of the flows: those with the least retained traffic
   * (idle flows first). The threshold is estimated from a sample, so one eviction round costs one pass
   * over the table and happens once per maxFlows/4 new flows.
   *
   * Error bound (as in Space-Saving/Lossy Counting): the threshold is the sampled 1/4-quantile of
   * retained bytes, so a flow holding more than about total/(3/4 * maxFlows) retained bytes is not evicted;
   * a flow that re-enters after an eviction reports errorBytes = the largest all-time count ever evicted.
   */
  private evictLightest(): void {
    const t = this.table;
    const limit = t.slotLimit;
    const sample = this.evictSample.subarray(0, Math.min(EVICT_SAMPLE, t.count));
    const stride = Math.max(1, Math.floor(limit / sample.length));
    let s = 0;
    for (let slot = 0; slot < limit && s < sample.length; slot += stride) {
      if (t.isOccupied(slot)) sample[s++] = rankBytes(t, slot);
    }
    const sorted = sample.subarray(0, s).sort();
    const threshold = sorted.length > 0 ? sorted[Math.floor(sorted.length * EVICT_FRACTION)] : 0;
    const target = Math.max(1, Math.floor(t.count * EVICT_FRACTION));
    if (this.evictVictims.length < target)
      this.evictVictims = new Int32Array(Math.ceil(t.maxFlows * EVICT_FRACTION) + 1);
    const victims = this.evictVictims;
    let n = 0;
    // One pass: every flow at or below the threshold, until the target is reached.
    for (let slot = 0; slot < limit && n < target; slot++) {
      if (t.isOccupied(slot) && rankBytes(t, slot) <= threshold) victims[n++] = slot;
    }
    if (n === 0) {
      // Everything is above the sampled threshold (tiny or skewed sample): evict the first occupied slot.
      for (let slot = 0; slot < limit && n === 0; slot++) if (t.isOccupied(slot)) victims[n++] = slot;
    }
    this.evictSlots(victims, n);
  }

  /**
   * Removes `victims[0, n)` from the table. Their traffic is not lost to the groupings that can keep it:
   * all-time counts go to the all-time residue, the open second's to the open slice's residue, and each
   * closed slice's entries for them move into that slice's residue (one pass over the history per round).
   */
  private evictSlots(victims: Int32Array, n: number): void {
    const t = this.table;
    if (this.evictMark.length < t.capacity) this.evictMark = new Uint8Array(t.capacity);
    const mark = this.evictMark;
    const st = t.stats;
    const rec = t.records;
    const openResidue = this.residueOf(this.openSlice);
    for (let i = 0; i < n; i++) {
      const slot = victims[i];
      mark[slot] = 1;
      const s = slot * STAT_DOUBLES;
      this.evictedPacketsTotal += st[s + STAT_PACKETS];
      this.evictedBytesTotal += st[s + STAT_BYTES];
      this.residueAllTime.addFlow(rec, slot * REC_INTS, st[s + STAT_PACKETS], st[s + STAT_BYTES]);
      const maxPackets = st[s + STAT_PACKETS] + t.errorPackets(slot);
      const maxBytes = st[s + STAT_BYTES] + t.errorBytes(slot);
      if (maxPackets > this.evictedMaxPackets) this.evictedMaxPackets = maxPackets;
      if (maxBytes > this.evictedMaxBytes) this.evictedMaxBytes = maxBytes;
      if (st[s + STAT_OPEN_PACKETS] > 0) {
        openResidue.addFlow(rec, slot * REC_INTS, st[s + STAT_OPEN_PACKETS], st[s + STAT_OPEN_BYTES]);
        st[s + STAT_OPEN_PACKETS] = 0;
        st[s + STAT_OPEN_BYTES] = 0;
      }
    }
    const entrySlots = this.history.slots;
    const entryPackets = this.history.packets;
    const entryBytes = this.history.bytes;
    for (const slice of this.slices) {
      const last = slice.lastSecond;
      const start = slice.offset;
      const end = start + slice.length;
      let kept = start;
      const before = slice.residue === null ? 0 : slice.residue.rows;
      for (let e = start; e < end; e++) {
        const slot = entrySlots[e];
        if (mark[slot] === 1 && t.insertedAtSecond(slot) <= last) {
          this.residueOf(slice).addFlow(rec, slot * REC_INTS, entryPackets[e], entryBytes[e]);
          continue;
        }
        entrySlots[kept] = slot;
        entryPackets[kept] = entryPackets[e];
        entryBytes[kept] = entryBytes[e];
        kept++;
      }
      if (kept === end) continue;
      this.historyEntries -= end - kept;
      // Shrunk in place: the freed tail of the slice is a hole until the arena's next compaction.
      slice.length = kept - start;
      const residue = slice.residue!;
      this.historyEntries += residue.rows - before;
    }
    for (let i = 0; i < n; i++) {
      mark[victims[i]] = 0;
      t.remove(victims[i]);
    }
    this.evictedFlows += n;
  }

  private residueOf(slice: HistorySlice): EvictedResidue {
    if (slice.residue === null) slice.residue = new EvictedResidue(RESIDUE_ROWS_PER_SLICE);
    return slice.residue;
  }

  /** Closes the open second and opens `second`; then expires, merges and trims history. */
  private rollTo(second: number): void {
    if (this.openSecond >= 0) {
      const t = this.table;
      const slice = this.openSlice;
      const touched = this.touched;
      const count = this.touchedCount;
      const st = t.stats;
      // A slot appears in `touched` more than once when its flow was evicted and the slot reused within
      // the second, but only one listing still has open counts: at most one entry per slot.
      const at = this.history.reserve(Math.min(count, t.capacity), this.slices);
      const slots = this.history.slots;
      const packets = this.history.packets;
      const bytes = this.history.bytes;
      let n = 0;
      for (let i = 0; i < count; i++) {
        const slot = touched[i];
        const s = slot * STAT_DOUBLES;
        const p = st[s + STAT_OPEN_PACKETS];
        if (p === 0) continue;
        const b = st[s + STAT_OPEN_BYTES];
        slots[at + n] = slot;
        packets[at + n] = p;
        bytes[at + n] = b;
        n++;
        st[s + STAT_RETAINED_PACKETS] += p;
        st[s + STAT_RETAINED_BYTES] += b;
        st[s + STAT_OPEN_PACKETS] = 0;
        st[s + STAT_OPEN_BYTES] = 0;
      }
      this.history.commit(slice, at, n);
      if (slice.framePackets > 0 || n > 0) {
        this.slices.push(slice);
        this.historyEntries += n + (slice.residue === null ? 0 : slice.residue.rows);
      }
    } else {
      this.firstSecond = second;
    }
    this.touchedCount = 0;
    this.openStamp = (this.openStamp + 1) >>> 0 || 1;
    this.openSecond = second;
    this.openSlice = new HistorySlice(second, 1);
    this.expireHistory(second);
    this.mergeOldSlices(second);
    this.enforceHistoryBudget();
  }

  /** Drops slices that lie entirely before the retention (relative to `second`, the open one). */
  private expireHistory(second: number): void {
    const oldestKeptSecond = second - this.retentionSeconds;
    let drop = 0;
    while (drop < this.slices.length && this.slices[drop].lastSecond < oldestKeptSecond) {
      this.releaseSlice(this.slices[drop]);
      drop++;
    }
    if (drop > 0) this.slices.splice(0, drop);
  }

  private releaseSlice(slice: HistorySlice): void {
    if (slice.lastSecond + 1 > this.historyStartSecond) this.historyStartSecond = slice.lastSecond + 1;
    const t = this.table;
    const last = slice.lastSecond;
    const entrySlots = this.history.slots;
    const entryPackets = this.history.packets;
    const entryBytes = this.history.bytes;
    const end = slice.offset + slice.length;
    for (let e = slice.offset; e < end; e++) {
      const slot = entrySlots[e];
      if (t.insertedAtSecond(slot) > last) continue;
      t.stats[slot * STAT_DOUBLES + STAT_RETAINED_PACKETS] -= entryPackets[e];
      t.stats[slot * STAT_DOUBLES + STAT_RETAINED_BYTES] -= entryBytes[e];
    }
    slice.released = true;
    this.historyEntries -= slice.length + (slice.residue === null ? 0 : slice.residue.rows);
  }

  /** Merges slices that aged out of their tier into the next tier's aligned slices. */
  private mergeOldSlices(second: number): void {
    for (let tier = 0; tier < HISTORY_TIERS.length - 1; tier++) {
      const span = HISTORY_TIERS[tier].spanSeconds;
      const nextSpan = HISTORY_TIERS[tier + 1].spanSeconds;
      const cutoff = second - HISTORY_TIERS[tier].untilAgeSeconds;
      let i = 0;
      while (i < this.slices.length) {
        const slice = this.slices[i];
        if (slice.spanSeconds !== span) {
          i++;
          continue;
        }
        const bucketStart = Math.floor(slice.startSecond / nextSpan) * nextSpan;
        if (bucketStart + nextSpan > cutoff) break;
        let j = i + 1;
        while (
          j < this.slices.length &&
          this.slices[j].spanSeconds === span &&
          this.slices[j].startSecond < bucketStart + nextSpan
        ) {
          j++;
        }
        // Out of the list first: the merged slice's room may be made by compacting the others.
        const group = this.slices.splice(i, j - i);
        this.slices.splice(i, 0, this.mergeSlices(group, bucketStart, nextSpan));
        i++;
      }
    }
  }

  private mergeSlices(group: HistorySlice[], startSecond: number, spanSeconds: number): HistorySlice {
    const sums = this.sums;
    sums.begin(this.table.capacity);
    const merged = new HistorySlice(startSecond, spanSeconds);
    const stale = { packets: 0, bytes: 0 };
    let before = 0;
    for (const slice of group) {
      merged.addCountersOf(slice);
      before += slice.length + (slice.residue === null ? 0 : slice.residue.rows);
      if (slice.residue !== null) this.residueOf(merged).addAll(slice.residue);
      sums.addSlice(slice, this.history, this.table, stale);
      slice.released = true;
    }
    merged.evictedPackets += stale.packets;
    merged.evictedBytes += stale.bytes;
    const at = this.history.reserve(sums.count, this.slices);
    sums.copyInto(this.history, at);
    this.history.commit(merged, at, sums.count);
    this.historyEntries += merged.length + (merged.residue === null ? 0 : merged.residue.rows) - before;
    return merged;
  }

  private enforceHistoryBudget(): void {
    let drop = 0;
    while (this.historyEntries > this.historyEntryBudget && drop < this.slices.length - 1) {
      const slice = this.slices[drop];
      this.releaseSlice(slice);
      drop++;
    }
    if (drop > 0) this.slices.splice(0, drop);
  }

  private growTouched(): void {
    const bigger = new Int32Array(this.touched.length * 2);
    bigger.set(this.touched);
    this.touched = bigger;
  }
}

/** What eviction ranks a flow by: its retained history plus the open second, in bytes. */
function rankBytes(t: FlowTable, slot: number): number {
  return t.stats[slot * STAT_DOUBLES + STAT_RETAINED_BYTES] + t.stats[slot * STAT_DOUBLES + STAT_OPEN_BYTES];
}
