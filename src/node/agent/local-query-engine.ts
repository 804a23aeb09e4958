import type { MergeRequest, MergeResponse, MergeWindow } from '../../query/generated/sniffmesh.js';

/**
 * What a node's query service needs from whatever holds its flow store: the phases of the exact cluster
 * merge, a local top, and the capture counters. The capture process answers these over IPC
 * (CaptureProcessClient); benchmarks and in-process tests use FlowStoreQueryEngine directly. The messages
 * are the proto's (plain data), so they cross the IPC and gRPC boundaries unchanged.
 */
export interface LocalQueryEngine {
  /** One TPUT phase over the pinned window of `request.window`. */
  merge(request: MergeRequest): Promise<MergeResponse>;
  /**
   * This node's own top `limit` rows (0 = all) for the window, everything counted (no counting rule: the
   * answer is about this node's capture alone) and transit flows included.
   */
  localTop(window: MergeWindow, limit: number): Promise<LocalTopAnswer>;
  stats(): Promise<NodeCaptureStats>;
}

export interface LocalTopAnswer extends MergeResponse {
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
