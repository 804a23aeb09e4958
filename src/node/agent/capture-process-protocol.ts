import type { DropTarget } from '../../util/privilege-drop.js';
import type { TopQuery, TopReport } from '../flows/top-query.js';
import type {
  LocalTopAnswer,
  NodeCaptureStats,
  PhaseAnswer,
  PhaseRequest,
  QueryWindow,
} from './local-query-engine.js';

/**
 * Messages between the agent and its capture process. The capture process owns `cap`, the decoder and the
 * flow store; the agent only ever sees small answers (k rows), never the tables.
 */
export interface CaptureProcessSettings {
  /** Replay a capture file instead of capturing live (agent --pcap): no root needed. */
  replay?: { path: string; speed: number; loop: boolean };
  /** Member name, echoed in merge answers. */
  nodeName?: string;
  /** Window tables kept for the phases of a query (QueryConfig.windowTableTtlMs / CacheEntries). */
  tableTtlMs: number;
  tableCacheEntries: number;
  interfaceName: string | undefined;
  filter: string;
  snaplen: number;
  promiscuous: boolean;
  bufferSizeBytes: number | undefined;
  /** Switch GRO/GSO/TSO off on the interface while capturing (interface-offloads.ts). */
  disableOffloads: boolean;
  /** Keep cap's immediate mode (TPACKET_V2 ring) instead of TPACKET_V3 (live-capture-source.ts). */
  immediate?: boolean;
  maxFlows: number;
  retentionSeconds: number;
  /** --local-net blocks; the capture process adds the host's own interface addresses itself. */
  localNets: string[];
  /**
   * Started as root: the account the capture process becomes once its capture is open (live), or before
   * it reads anything (replay, which needs no privilege). Absent: it keeps the identity it started with.
   */
  dropTo?: DropTarget;
}

export interface CaptureCountersMessage {
  interfaceName: string;
  frames: number;
  kernelDrops: number | null;
  /** Why kernelDrops is null, when it is. */
  kernelDropsUnknownReason: string | null;
  /** The capture ring's layout ('tpacket-v3', 'tpacket-v2'); null when replaying or unknown. */
  ring: string | null;
}

export type ToCaptureProcess =
  | { type: 'query'; id: number; query: TopQuery }
  | { type: 'merge'; id: number; request: PhaseRequest }
  | { type: 'localTop'; id: number; window: QueryWindow; limit: number }
  | { type: 'stats'; id: number }
  | { type: 'stop'; id: number };

export type FromCaptureProcess =
  | { type: 'started'; counters: CaptureCountersMessage }
  | { type: 'report'; id: number; report: TopReport; counters: CaptureCountersMessage }
  | { type: 'stopped'; id: number; counters: CaptureCountersMessage }
  | { type: 'merged'; id: number; answer: PhaseAnswer }
  | { type: 'localTopped'; id: number; answer: LocalTopAnswer }
  | { type: 'statsReport'; id: number; stats: NodeCaptureStats }
  /** One question failed (bad request); the capture goes on. */
  | { type: 'failed'; id: number; error: SerializedError }
  /** A replay without --loop reached the end of its file (its counts stay queryable). */
  | { type: 'replayFinished'; counters: CaptureCountersMessage; error?: SerializedError }
  | { type: 'error'; error: SerializedError };

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  exitCode: number;
}
