import type { Grouping, GroupRow, Metric } from '../flows/key-vocabulary.js';
import type { TransitFlow } from '../flows/window-table.js';

/**
 * What a node's query service needs from whatever holds its flow store: the phases of the exact cluster
 * merge, a local top, and the capture counters. The capture process answers these over IPC
 * (CaptureProcessClient); benchmarks and in-process tests use FlowStoreQueryEngine directly.
 *
 * The types are the node's own (names from key-vocabulary.ts, plain data that crosses the IPC boundary
 * unchanged); src/query adapts them to and from the wire (proto) messages. src/node never imports
 * src/query.
 */
export interface LocalQueryEngine {
  /** One TPUT phase over the pinned window of `request.window`. Never changes what the node stores. */
  merge(request: PhaseRequest): Promise<PhaseAnswer>;
  /**
   * This node's own top `limit` rows (0 = all) for the window, everything counted (no counting rule: the
   * answer is about this node's capture alone) and transit flows included.
   */
  localTop(window: QueryWindow, limit: number): Promise<LocalTopAnswer>;
  stats(): Promise<NodeCaptureStats>;
}

/** Merge phases (= the wire's MergePhase values). */
export const PHASE_LOCAL_TOP = 1;
export const PHASE_ABOVE_THRESHOLD = 2;
export const PHASE_EXACT = 3;
export type MergePhaseCode = typeof PHASE_LOCAL_TOP | typeof PHASE_ABOVE_THRESHOLD | typeof PHASE_EXACT;

/** Which flows a question counts (flow-filter.ts); empty lists do not filter. */
export interface QueryFilters {
  cidrs: string[];
  ports: number[];
  protocols: number[];
}

/** What every phase of one cluster query reads, the same on every node. */
export interface QueryWindow {
  group: Grouping;
  by: Metric;
  /** Whole seconds [fromSecond, toSecond], Unix, inclusive; fromSecond <= 0 = from the beginning. */
  fromSecond: number;
  toSecond: number;
  filters: QueryFilters;
  /** Networks of the other capturing members answering the query (counting-rule.ts); sorted. */
  memberNetworks: string[];
}

export interface PhaseRequest {
  queryId: string;
  window: QueryWindow;
  phase: MergePhaseCode;
  /** Rows of the local top (phase 1), and of the top-k already sent (phase 2). */
  k: number;
  /** Phases 1 (a hint) and 2: also every row at or above this. */
  threshold: number;
  /** Phases 1 (hinted keys) and 3: the rows of these keys. */
  keys: string[];
}

export interface NodeTotals {
  packets: number;
  bytes: number;
  ipPackets: number;
  ipBytes: number;
}

export interface PhaseAnswer {
  rows: GroupRow[];
  /** Phase 1 only. */
  transit: TransitFlow[];
  /** Phase 1 only (null in phases 2 and 3). */
  totals: NodeTotals | null;
  /** Reason -> packets, only reasons with packets. */
  undecoded: { reason: string; packets: number }[];
  evictedPackets: number;
  evictedBytes: number;
  /**
   * False when history no longer covers the whole window, or when this node has not closed the window's
   * last second yet (its clock is behind the coordinator's): the answer holds what it has closed.
   */
  windowComplete: boolean;
  /** The newest second read (null: nothing counted yet). */
  windowToSecond: number | null;
  /** This node's member name. */
  node: string;
}

export interface LocalTopAnswer extends PhaseAnswer {
  /** Distinct groups before the limit. */
  groups: number;
}

export interface NodeCaptureStats {
  /** Interface, or 'file:NAME' when replaying; '' when not capturing. */
  captureInterface: string;
  captureFilter: string;
  /** Frames seen (decoded or not) and their bytes on the wire. */
  packets: number;
  bytes: number;
  /** null when the source cannot know (files, no native helper). */
  kernelDrops: number | null;
  undecoded: Record<string, number>;
  /** Flows in the table now, and flows evicted for memory since the start. */
  flows: number;
  evictedFlows: number;
}
