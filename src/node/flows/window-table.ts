import { UNDECODED_REASON_COUNT, UNDECODED_REASON_NAMES } from '../decode/decode-outcome.js';
import { countingVerdict, VERDICT_SKIP, VERDICT_TRANSIT } from './counting-rule.js';
import type { FlowFilter } from './flow-filter.js';
import type { SteppedRangeRead } from './flow-range-read.js';
import type { FlowStore } from './flow-store.js';
import { REC_INTS } from './flow-table.js';
import {
  COL_BYTES,
  COL_FLOWS,
  COL_FORWARD_BYTES,
  COL_FORWARD_PACKETS,
  COL_PACKETS,
  GROUP_COLUMNS,
  GROUP_KEY_STRIDE,
  GroupAggregator,
} from './group-aggregator.js';
import { flowKeyText, groupKeyText } from './key-text.js';
import {
  GROUP_KEY_WORDS,
  GROUPING_MODE,
  type Grouping,
  KEY_FORWARD,
  KEY_HAS_SECOND,
  MODE_FLOW,
  MODE_PORT,
  MODE_PROTO,
  writeGroupKey,
  writeHostDestinationKey,
} from './key-vocabulary.js';
import type { LocalNetworks } from './local-networks.js';
import { AggregatedGroupKeys, FlowGroupKeys, type WindowTableKeys } from './window-table-keys.js';

/**
 * The node side of an exact cluster query: once per query, every group of the pinned window with its
 * counters under the cluster's counting rule, so that each phase of the TPUT merge (src/query/tput.ts)
 * reads the same numbers. Keys are the texts `analyze` prints (top-query.ts), so cluster rows and local
 * rows name the same things; they are printed only for the groups asked about (window-table-keys.ts).
 * Which flows count is the cluster's counting rule (counting-rule.ts).
 */

/** Start small and grow, as top-query.ts does: most groupings have far fewer groups than flows. */
const INITIAL_GROUPS = 4096;

export interface WindowTableSpec {
  group: Grouping;
  /** Inclusive, Unix seconds (<= 0: from the beginning of history). */
  fromSecond: number;
  /** Inclusive. Only seconds the store has closed are read (a later toSecond: the table says how far). */
  toSecond: number;
  filter: FlowFilter | null;
  /** Networks of the OTHER capturing members answering this query (the counting rule); null = none. */
  memberNetworks: LocalNetworks | null;
  /**
   * Local scope (this node's own answer, not a share of a cluster sum): transit flows count here like any
   * other, so `transit` stays empty. Skipped flows (memberNetworks) are still skipped.
   */
  countTransit?: boolean;
}

/** A flow neither end of which is a mesh member: listed, not counted, and merged across nodes by max. */
export interface TransitFlow {
  /** flowKeyText of the flow. */
  flow: string;
  /** Keys of the groups it would add to (two for host when source and destination differ). */
  groups: string[];
  packets: number;
  bytes: number;
  /** Parallel to `groups`: the forward part (host: sent; pair: first -> second; others: all). */
  forwardPackets: number[];
  forwardBytes: number[];
}

export interface WindowTable extends WindowTableKeys {
  /** Groups, indexed 0..count-1 in the arrays below, in keyOf() and by findKey(). */
  count: number;
  packets: Float64Array;
  bytes: Float64Array;
  flows: Float64Array;
  /** Host: the part the address sent; pair: the part first -> second; other groupings: all of it. */
  forwardPackets: Float64Array;
  forwardBytes: Float64Array;
  transit: TransitFlow[];
  /** ipPackets/ipBytes: counted flows only; packets/bytes add the undecoded frames of the range. */
  totals: { packets: number; bytes: number; ipPackets: number; ipBytes: number };
  /** Reason name -> packets in the range (the names queryTop uses). */
  undecoded: Record<string, number>;
  /**
   * Traffic in the range of flows no longer in the table (evicted for memory): in no group, because its
   * direction, and so its counting rule, is unknown. The error bound of every group. It is not narrowed
   * by the filter: an upper bound.
   */
  evicted: { packets: number; bytes: number };
  /** The seconds read (flow-store.ts WindowCoverage). */
  fromSecond: number | null;
  toSecond: number | null;
  complete: boolean;
}

/**
 * Computes the window table of one query. Allocates per question only (typed arrays; key strings only for
 * transit flows and for the groups whose keyOf() is asked). A flow-grouped table reads the store's flow
 * records for its keys: use it before the store evicts flows (window-table-keys.ts FlowGroupKeys).
 */
export function computeWindowTable(store: FlowStore, spec: WindowTableSpec): WindowTable {
  return new WindowTableBuilder(store, spec, false).finish();
}

/** Flows grouped between two looks at the clock in WindowTableBuilder.advance(). */
const FLOWS_PER_CLOCK_READ = 2048;

/**
 * A window table built in steps, so that the process owning the store can go on capturing and answering
 * between them: a table of 100k flows costs tens of milliseconds, which a capturing node's queries must
 * not wait behind (FlowStoreQueryEngine.prewarm builds the next second's tables this way).
 *
 * The steps first sum the range's history (FlowStore.beginRangeRead), then group the flows. Closed
 * history does not change, but a flow evicted meanwhile may leave its slot to another flow, whose key the
 * grouping would then read: `stale` tells, and a stale builder's table must not be used.
 */
export class WindowTableBuilder {
  private readonly read: SteppedRangeRead | null;
  private selection: ReturnType<FlowStore['selectRange']> | null = null;
  private readonly filter: FlowFilter | null;
  private readonly members: LocalNetworks | null;
  private readonly countTransit: boolean;
  private readonly knowsDirections: boolean;
  private readonly mode: number;
  private readonly address = new Uint32Array(4);
  /** Flow rows are the counted flows themselves: their selection indices, no aggregation needed. */
  private countedFlows: Int32Array | null = null;
  private countedFlowCount = 0;
  private agg: GroupAggregator | null = null;
  private readonly transit: TransitFlow[] = [];
  private ipPackets = 0;
  private ipBytes = 0;
  /** The next selection index to group. */
  private next = 0;
  private readonly evictedFlowsAtStart: number;

  /** `stepped` false: the range is read at once, here (computeWindowTable). */
  constructor(
    private readonly store: FlowStore,
    private readonly spec: WindowTableSpec,
    stepped = true,
  ) {
    this.evictedFlowsAtStart = store.evictedFlows;
    this.filter = spec.filter?.restricts ? spec.filter : null;
    this.members = spec.memberNetworks !== null && spec.memberNetworks.size > 0 ? spec.memberNetworks : null;
    this.countTransit = spec.countTransit === true;
    this.knowsDirections = store.knowsLocalAddresses;
    this.mode = GROUPING_MODE[spec.group];
    if (stepped) {
      this.read = store.beginRangeRead(spec.fromSecond, spec.toSecond);
    } else {
      this.read = null;
      this.selected(store.selectRange(spec.fromSecond, spec.toSecond));
    }
  }

  private selected(selection: ReturnType<FlowStore['selectRange']>): void {
    this.selection = selection;
    const count = selection.flows.count;
    if (this.mode === MODE_FLOW) {
      this.countedFlows = new Int32Array(count);
      return;
    }
    this.agg = new GroupAggregator(
      GROUP_KEY_WORDS[this.spec.group],
      // Sized once for one group per flow: growing rehashes every group, which cost more than the
      // grouping itself on 100k flows. Host groupings can reach two per flow (every address distinct)
      // and then grow once; sizing them for that worst case cost ~4 ms more on 100k flows with 65k
      // hosts (zeroing the 25 MB buffer, a sparser index), the common case.
      this.mode === MODE_PORT || this.mode === MODE_PROTO ? INITIAL_GROUPS : Math.max(INITIAL_GROUPS, count),
    );
  }

  /** True when every flow of the range has been grouped. */
  get done(): boolean {
    return this.selection !== null && this.next >= this.selection.flows.count;
  }

  /** True when the store evicted flows (or the range read was taken over) since this builder began. */
  get stale(): boolean {
    return (
      this.store.evictedFlows !== this.evictedFlowsAtStart ||
      (this.selection === null && this.read !== null && this.read.stale)
    );
  }

  /**
   * Reads the range, then groups flows, until all are done or performance.now() passes `untilMs`
   * (checked every history slice, then every FLOWS_PER_CLOCK_READ flows); returns `done`.
   */
  advance(untilMs: number): boolean {
    if (this.selection === null) {
      const read = this.read as SteppedRangeRead;
      if (!read.advance(untilMs)) return false;
      this.selected(read.result());
      if (performance.now() >= untilMs) return this.done;
    }
    const flows = (this.selection as ReturnType<FlowStore['selectRange']>).flows;
    const listed = flows.slots as Int32Array;
    const t = this.store.table;
    // Read afresh each step: the table may have grown (a new records array) since the last one.
    const rec = t.records;
    const { filter, members, countTransit, knowsDirections, mode, agg, address } = this;
    const total = flows.count;
    let ipPackets = this.ipPackets;
    let ipBytes = this.ipBytes;
    let i = this.next;
    while (i < total) {
      const end = Math.min(total, i + FLOWS_PER_CLOCK_READ);
      for (; i < end; i++) {
        const slot = listed[i];
        if (filter !== null && !filter.accepts(rec, slot)) continue;
        const direction = knowsDirections ? t.direction(slot) : 0;
        const verdict = countingVerdict(direction, members, rec, slot * REC_INTS, address);
        if (verdict === VERDICT_SKIP) continue;
        const packets = flows.packets[i];
        const bytes = flows.bytes[i];
        if (verdict === VERDICT_TRANSIT && !countTransit) {
          this.transit.push(transitFlow(this.spec.group, mode, rec, slot, packets, bytes));
          continue;
        }
        ipPackets += packets;
        ipBytes += bytes;
        if (agg === null) {
          (this.countedFlows as Int32Array)[this.countedFlowCount++] = i;
          continue;
        }
        // Counters are updated inline: passing float64 values to a helper that is not inlined would box them.
        const k = slot * REC_INTS;
        const shape = writeGroupKey(mode, rec, k, agg.key);
        let base = agg.group() * GROUP_COLUMNS;
        let v = agg.values;
        v[base + COL_PACKETS] += packets;
        v[base + COL_BYTES] += bytes;
        v[base + COL_FLOWS] += 1;
        if ((shape & KEY_FORWARD) !== 0) {
          v[base + COL_FORWARD_PACKETS] += packets;
          v[base + COL_FORWARD_BYTES] += bytes;
        }
        if ((shape & KEY_HAS_SECOND) !== 0) {
          // The destination side of a host flow: received, so nothing forward.
          writeHostDestinationKey(rec, k, agg.key);
          base = agg.group() * GROUP_COLUMNS;
          v = agg.values;
          v[base + COL_PACKETS] += packets;
          v[base + COL_BYTES] += bytes;
          v[base + COL_FLOWS] += 1;
        }
      }
      if (performance.now() >= untilMs) break;
    }
    this.next = i;
    this.ipPackets = ipPackets;
    this.ipBytes = ipBytes;
    return this.done;
  }

  /** The table: reads and groups whatever is left first. */
  finish(): WindowTable {
    if (!this.done) this.advance(Number.POSITIVE_INFINITY);
    const { flows, totals, coverage } = this.selection as ReturnType<FlowStore['selectRange']>;
    const { ipPackets, ipBytes, agg } = this;
    let undecodedPackets = 0;
    let undecodedBytes = 0;
    const undecoded: Record<string, number> = {};
    for (let r = 1; r < UNDECODED_REASON_COUNT; r++) {
      undecoded[UNDECODED_REASON_NAMES[r]] = totals.undecodedPackets[r];
      undecodedPackets += totals.undecodedPackets[r];
      undecodedBytes += totals.undecodedBytes[r];
    }
    let columns: GroupColumns;
    let keys: WindowTableKeys;
    if (agg === null) {
      const slotOfGroup = new Int32Array(this.countedFlowCount);
      columns = flowColumns(
        flows.slots as Int32Array,
        flows.packets,
        flows.bytes,
        this.countedFlows as Int32Array,
        slotOfGroup,
      );
      keys = new FlowGroupKeys(this.store, slotOfGroup);
    } else {
      columns = groupColumns(agg);
      keys = new AggregatedGroupKeys(this.spec.group, agg);
    }
    return {
      ...columns,
      keyOf: (g) => keys.keyOf(g),
      findKey: (text) => keys.findKey(text),
      transit: this.transit,
      totals: {
        packets: ipPackets + undecodedPackets,
        bytes: ipBytes + undecodedBytes,
        ipPackets,
        ipBytes,
      },
      undecoded,
      evicted: { packets: totals.evictedPackets, bytes: totals.evictedBytes },
      fromSecond: coverage.fromSecond,
      toSecond: coverage.toSecond,
      complete: coverage.complete,
    };
  }
}

type GroupColumns = Pick<
  WindowTable,
  'count' | 'packets' | 'bytes' | 'flows' | 'forwardPackets' | 'forwardBytes'
>;

/** The transit entry of one flow, with the keys of the groups it would add to. */
function transitFlow(
  group: Grouping,
  mode: number,
  records: Int32Array,
  slot: number,
  packets: number,
  bytes: number,
): TransitFlow {
  const flow = flowKeyText(records, slot);
  if (mode === MODE_FLOW) {
    return { flow, groups: [flow], packets, bytes, forwardPackets: [packets], forwardBytes: [bytes] };
  }
  const key = new Int32Array(GROUP_KEY_STRIDE);
  const k = slot * REC_INTS;
  const shape = writeGroupKey(mode, records, k, key);
  const forward = (shape & KEY_FORWARD) !== 0;
  const entry: TransitFlow = {
    flow,
    groups: [groupKeyText(group, key, 0)],
    packets,
    bytes,
    forwardPackets: [forward ? packets : 0],
    forwardBytes: [forward ? bytes : 0],
  };
  if ((shape & KEY_HAS_SECOND) !== 0) {
    writeHostDestinationKey(records, k, key);
    entry.groups.push(groupKeyText(group, key, 0));
    entry.forwardPackets.push(0);
    entry.forwardBytes.push(0);
  }
  return entry;
}

function groupColumns(agg: GroupAggregator): GroupColumns {
  const count = agg.count;
  const v = agg.values;
  const packets = new Float64Array(count);
  const bytes = new Float64Array(count);
  const flows = new Float64Array(count);
  const forwardPackets = new Float64Array(count);
  const forwardBytes = new Float64Array(count);
  for (let g = 0; g < count; g++) {
    const base = g * GROUP_COLUMNS;
    packets[g] = v[base + COL_PACKETS];
    bytes[g] = v[base + COL_BYTES];
    flows[g] = v[base + COL_FLOWS];
    forwardPackets[g] = v[base + COL_FORWARD_PACKETS];
    forwardBytes[g] = v[base + COL_FORWARD_BYTES];
  }
  return { count, packets, bytes, flows, forwardPackets, forwardBytes };
}

/**
 * One group per counted flow (`counted` holds selection indices); writes each group's table slot into
 * `slotOfGroup`, whose length is the group count.
 */
function flowColumns(
  slots: Int32Array,
  selectedPackets: Float64Array,
  selectedBytes: Float64Array,
  counted: Int32Array,
  slotOfGroup: Int32Array,
): GroupColumns {
  const count = slotOfGroup.length;
  const packets = new Float64Array(count);
  const bytes = new Float64Array(count);
  for (let g = 0; g < count; g++) {
    const i = counted[g];
    slotOfGroup[g] = slots[i];
    packets[g] = selectedPackets[i];
    bytes[g] = selectedBytes[i];
  }
  return {
    count,
    packets,
    bytes,
    flows: new Float64Array(count).fill(1),
    forwardPackets: packets.slice(),
    forwardBytes: bytes.slice(),
  };
}
