import { UNDECODED_REASON_COUNT } from '../decode/decode-outcome.js';
import { FlowEviction } from './flow-eviction.js';
import type { FlowFacts } from './flow-facts.js';
import { FlowHistory } from './flow-history.js';
import {
  checkedRange,
  emptyTotals,
  type FlowSelection,
  rangeResult,
  type SteppedRangeRead,
  type TrafficTotals,
  type WindowCoverage,
} from './flow-range-read.js';
import {
  DEFAULT_MAX_FLOWS,
  DEFAULT_RETENTION_SECONDS,
  HISTORY_ARENA_ENTRIES_PER_FLOW,
  HISTORY_ENTRIES_PER_FLOW_BUDGET,
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
} from './flow-table.js';
import { HistorySlice } from './history-slice.js';
import type { LocalNetworks } from './local-networks.js';
import { SlotSums } from './slot-sums.js';

export interface FlowStoreOptions {
  maxFlows?: number;
  retentionSeconds?: number;
  localNetworks?: LocalNetworks;
}

type RangeAnswer = { flows: FlowSelection; totals: TrafficTotals; coverage: WindowCoverage };

/**
 * Per-flow accounting with time history and a memory budget (limits: flow-store-config.ts).
 *
 * Each packet updates its flow's all-time counters and its "open second" counters; when time moves to a
 * new second, the open second becomes a closed 1-second slice of the history (flow-history.ts: tiers,
 * retention, entry budget) listing the flows it touched. Windowed questions sum closed slices, so
 * repeated reads agree. Packets whose timestamp is older than the open second (out-of-order capture,
 * several interfaces) are counted in the open second. A full table evicts its lightest flows
 * (flow-eviction.ts).
 *
 * Only the packet path and advanceTo()/closeAll() change a store; every read (select, selectRange,
 * beginRangeRead, rangeSignature) leaves it as it was.
 */
export class FlowStore {
  readonly table: FlowTable;
  readonly retentionSeconds: number;
  private readonly localNetworks: LocalNetworks | null;
  private readonly history: FlowHistory;
  private readonly eviction: FlowEviction;
  /** The second being counted; -1 before the first packet. */
  private openSecond = -1;
  private openSlice: HistorySlice = new HistorySlice(0, 1);
  private openStamp = 1;
  private touched = new Int32Array(1024);
  private touchedCount = 0;

  // All-time counters.
  private framePackets = 0;
  private frameBytes = 0;
  private readonly undecodedPackets = new Float64Array(UNDECODED_REASON_COUNT);
  private readonly undecodedBytes = new Float64Array(UNDECODED_REASON_COUNT);
  private firstSecond = -1;
  /** Newest second any frame carried (the open second may be later after closeAll or a live clock). */
  private newestSecond = -1;

  /**
   * Working arrays of the one range read done in steps at a time (beginRangeRead), apart from the
   * history's, which reads and merges between its steps use. Made on first use: 24 bytes per slot.
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
    this.history = new FlowHistory(
      this.table,
      this.retentionSeconds,
      maxFlows * HISTORY_ENTRIES_PER_FLOW_BUDGET,
      maxFlows * HISTORY_ARENA_ENTRIES_PER_FLOW,
    );
    this.eviction = new FlowEviction(maxFlows);
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
    return this.history.slices.length === 0 ? null : this.openSecond - 1;
  }

  /** Flows removed to make room since the start. */
  get evictedFlows(): number {
    return this.eviction.flows;
  }

  get historyEntryCount(): number {
    return this.history.entries;
  }

  /** How often the history arena moved the live history to its front (history-entry-arena.ts). */
  get historyCompactions(): number {
    return this.history.arena.compactions;
  }

  /** Whether local addresses are known, i.e. whether flow directions (sent/received) mean anything. */
  get knowsLocalAddresses(): boolean {
    return this.localNetworks !== null;
  }

  /**
   * The flows and totals for a window of the last `windowSeconds` closed seconds (ending at the newest
   * closed second), or for everything when `windowSeconds` is null. Allocates only per question.
   */
  select(windowSeconds: number | null): RangeAnswer {
    if (windowSeconds === null) return this.selectAll();
    const newest = this.lastClosedSecond;
    if (newest === null) {
      return {
        flows: {
          slots: new Int32Array(0),
          count: 0,
          packets: new Float64Array(0),
          bytes: new Float64Array(0),
        },
        totals: emptyTotals(),
        coverage: { requestedSeconds: windowSeconds, fromSecond: null, toSecond: null, complete: true },
      };
    }
    return this.readRange(newest - windowSeconds + 1, newest, windowSeconds);
  }

  /**
   * The flows and totals of the closed seconds [fromSecond, toSecond] (Unix seconds, both inclusive;
   * fromSecond <= 0 or -Infinity = from the beginning of history). Cluster queries pin one such range so
   * that every phase of a query reads the same data on every node.
   *
   * Only slices entirely inside the range are read: a coarse slice straddling either end is left out
   * (never more than asked) and makes `complete` false, as do history dropped before fromSecond and a
   * toSecond that is not closed yet. Seconds still open are never read, and never closed by a read: only
   * the store's clock (advanceTo) and its packets close seconds.
   *
   * Coverage: fromSecond is the first second of history read (null when none); toSecond is the end of
   * the range as read (clipped to the newest closed second and before a straddling slice), null when
   * nothing was ever counted. Allocates only per question.
   */
  selectRange(fromSecond: number, toSecond: number): RangeAnswer {
    const { from, requested } = checkedRange('selectRange', fromSecond, toSecond);
    return this.readRange(from, toSecond, requested);
  }

  /**
   * A description of the data selectRange(from, to) would read (FlowHistory.signature): two ranges with
   * the same signature read the same data.
   */
  rangeSignature(fromSecond: number, toSecond: number): string {
    return this.history.signature(fromSecond, toSecond, this.openSecond, this.eviction.flows);
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
    const plan = this.history.plan(from, toSecond, requested, this.openSecond);
    this.backgroundSums ??= new SlotSums();
    const sums = this.backgroundSums;
    sums.begin(this.table.capacity);
    const owner = {};
    this.backgroundOwner = owner;
    const evictedAtStart = this.eviction.flows;
    const arena = this.history.arena;
    const compactionsAtStart = arena.compactions;
    let next = 0;
    const store = this;
    const unreadEntriesLost = (): boolean => {
      if (arena.compactions === compactionsAtStart) return false;
      for (let i = next; i < plan.slices.length; i++)
        if ((plan.slices[i] as HistorySlice).released) return true;
      return false;
    };
    const read: SteppedRangeRead = {
      get stale() {
        return (
          store.backgroundOwner !== owner || store.eviction.flows !== evictedAtStart || unreadEntriesLost()
        );
      },
      advance(untilMs: number): boolean {
        // A stale read stops (its result is not used): its unread entries may be another slice's by now.
        // Nothing changes during one call, so checking once is enough.
        if (read.stale) return true;
        while (next < plan.slices.length) {
          sums.addSlice(plan.slices[next++] as HistorySlice, arena, store.table, plan.stale);
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

  // ---- internals -------------------------------------------------------------------------------------

  private selectAll(): RangeAnswer {
    const empty = new Float64Array(0);
    return {
      flows: { slots: null, count: this.table.count, packets: empty, bytes: empty },
      totals: {
        packets: this.framePackets,
        bytes: this.frameBytes,
        undecodedPackets: this.undecodedPackets.slice(),
        undecodedBytes: this.undecodedBytes.slice(),
        evictedPackets: this.eviction.packets,
        evictedBytes: this.eviction.bytes,
        residue: this.eviction.residueAllTime,
      },
      coverage: {
        requestedSeconds: null,
        fromSecond: this.firstSecond < 0 ? null : this.firstSecond,
        toSecond: this.newestSecond < 0 ? null : this.newestSecond,
        complete: true,
      },
    };
  }

  /** Sums the closed slices lying entirely inside [fromSecond, toSecond] (fromSecond may be -Infinity). */
  private readRange(fromSecond: number, toSecond: number, requestedSeconds: number | null): RangeAnswer {
    const plan = this.history.plan(fromSecond, toSecond, requestedSeconds, this.openSecond);
    const sums = this.history.sums;
    sums.begin(this.table.capacity);
    for (const slice of plan.slices) sums.addSlice(slice, this.history.arena, this.table, plan.stale);
    return rangeResult(plan, sums);
  }

  private insertFlow(f: FlowFacts, hash: number, time: number): number {
    const t = this.table;
    if (t.isFull) this.eviction.evictLightest(t, this.history, this.openSlice);
    const slot = t.insert(f, hash, this.openSecond);
    t.stats[slot * STAT_DOUBLES + STAT_FIRST_SEEN] = time;
    t.stats[slot * STAT_DOUBLES + STAT_LAST_SEEN] = time;
    t.setErrorBound(slot, this.eviction.maxPackets, this.eviction.maxBytes);
    const local = this.localNetworks;
    if (local !== null) {
      t.setDirection(
        slot,
        (local.contains(f.ipVersion, f.srcAddr) ? 1 : 0) | (local.contains(f.ipVersion, f.dstAddr) ? 2 : 0),
      );
    }
    return slot;
  }

  /** Closes the open second and opens `second`; then the history ages (expiry, tier merges, budget). */
  private rollTo(second: number): void {
    if (this.openSecond >= 0) this.history.close(this.openSlice, this.touched, this.touchedCount);
    else this.firstSecond = second;
    this.touchedCount = 0;
    this.openStamp = (this.openStamp + 1) >>> 0 || 1;
    this.openSecond = second;
    this.openSlice = new HistorySlice(second, 1);
    this.history.age(second);
  }

  private growTouched(): void {
    const bigger = new Int32Array(this.touched.length * 2);
    bigger.set(this.touched);
    this.touched = bigger;
  }
}
