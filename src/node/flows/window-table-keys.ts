import { SniffmeshError } from '../../util/errors.js';
import type { FlowStore } from './flow-store.js';
import { FlowTable } from './flow-table.js';
import { GROUP_KEY_STRIDE, type GroupAggregator } from './group-aggregator.js';
import { flowKeyText, groupKeyText, ParsedFlowKey, parseFlowKeyText, parseGroupKeyText } from './key-text.js';
import type { Grouping } from './key-vocabulary.js';

/**
 * The key texts of a window table's groups, printed only when asked: a query sends tens of rows, and
 * printing the text of each of 100k groups (address formatting, template strings, the garbage they
 * leave) cost most of a table. Texts are memoised per group; a text a coordinator names is parsed back
 * into key words and looked up (key-text.ts), so no text-to-group map is built either.
 */
export interface WindowTableKeys {
  /** The key text of group `g`, exactly as analyze prints it. */
  keyOf(g: number): string;
  /** The group whose key text is `text`; -1 when none is (including texts no group could print). */
  findKey(text: string): number;
}

/** A flow-grouped table read after its store evicted flows: its slots may hold other flows by now. */
export class StaleWindowTableError extends SniffmeshError {
  override name = 'StaleWindowTableError';
  readonly evictionsWhenComputed: number;
  readonly evictionsNow: number;

  constructor(evictionsWhenComputed: number, evictionsNow: number) {
    super(
      'WINDOW_TABLE_STALE',
      `flow window table read after the store evicted flows (${evictionsWhenComputed} evicted when it was computed, ${evictionsNow} now): compute a new table`,
    );
    this.evictionsWhenComputed = evictionsWhenComputed;
    this.evictionsNow = evictionsNow;
  }
}

/** Keys of aggregated groups (host, src, dst, pair, port, proto): the aggregator holds their key words. */
export class AggregatedGroupKeys implements WindowTableKeys {
  private texts: (string | undefined)[] | null = null;

  constructor(
    private readonly grouping: Grouping,
    private readonly aggregator: GroupAggregator,
  ) {}

  keyOf(g: number): string {
    this.texts ??= new Array<string | undefined>(this.aggregator.count);
    let text = this.texts[g];
    if (text === undefined) {
      text = groupKeyText(this.grouping, this.aggregator.keys, g * GROUP_KEY_STRIDE);
      this.texts[g] = text;
    }
    return text;
  }

  findKey(text: string): number {
    if (!parseGroupKeyText(this.grouping, text, this.aggregator.key)) return -1;
    return this.aggregator.find();
  }
}

/**
 * Keys of a flow-grouped table: group g is the flow in table slot `slotOfGroup[g]`, whose record holds
 * its key words. The records are the store's live ones, valid while no flow has been evicted since the
 * table was computed (slots are reused only after an eviction); after that both methods throw
 * StaleWindowTableError rather than name the wrong flow. A query engine that keys its cached tables by
 * FlowStore.rangeSignature (which includes the eviction count) never serves such a table.
 */
export class FlowGroupKeys implements WindowTableKeys {
  private texts: (string | undefined)[] | null = null;
  /** Slot -> group (-1: not in this table), built on the first findKey. */
  private groupOfSlot: Int32Array | null = null;
  private readonly evictionsWhenComputed: number;

  constructor(
    private readonly store: FlowStore,
    private readonly slotOfGroup: Int32Array,
  ) {
    this.evictionsWhenComputed = store.evictedFlows;
  }

  keyOf(g: number): string {
    this.texts ??= new Array<string | undefined>(this.slotOfGroup.length);
    let text = this.texts[g];
    if (text === undefined) {
      this.ensureFresh();
      text = flowKeyText(this.store.table.records, this.slotOfGroup[g]);
      this.texts[g] = text;
    }
    return text;
  }

  findKey(text: string): number {
    const key = new ParsedFlowKey();
    if (!parseFlowKeyText(text, key)) return -1;
    this.ensureFresh();
    const table = this.store.table;
    const slot = table.find(key, FlowTable.hashFacts(key));
    const groupOfSlot = this.slotToGroup();
    return slot >= 0 && slot < groupOfSlot.length ? groupOfSlot[slot] : -1;
  }

  private slotToGroup(): Int32Array {
    if (this.groupOfSlot !== null) return this.groupOfSlot;
    const slots = this.slotOfGroup;
    // Flows inserted after the table was computed lie beyond this length: in no group, as they should.
    const groupOfSlot = new Int32Array(this.store.table.slotLimit).fill(-1);
    for (let g = 0; g < slots.length; g++) groupOfSlot[slots[g]] = g;
    this.groupOfSlot = groupOfSlot;
    return groupOfSlot;
  }

  private ensureFresh(): void {
    const now = this.store.evictedFlows;
    if (now !== this.evictionsWhenComputed) throw new StaleWindowTableError(this.evictionsWhenComputed, now);
  }
}
