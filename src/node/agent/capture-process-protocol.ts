import type { TopQuery, TopReport } from '../flows/top-query.js';

/**
 * Messages between the agent and its capture process. The capture process owns `cap`, the decoder and the
 * flow store; the agent only ever sees small answers (k rows), never the tables.
 */
export interface CaptureProcessSettings {
  interfaceName: string | undefined;
  filter: string;
  snaplen: number;
  promiscuous: boolean;
  bufferSizeBytes: number | undefined;
  /** Switch GRO/GSO/TSO off on the interface while capturing (interface-offloads.ts). */
  disableOffloads: boolean;
  maxFlows: number;
  retentionSeconds: number;
  /** --local-net blocks; the capture process adds the host's own interface addresses itself. */
  localNets: string[];
}

export interface CaptureCountersMessage {
  interfaceName: string;
  frames: number;
  kernelDrops: number | null;
  /** Why kernelDrops is null, when it is. */
  kernelDropsUnknownReason: string | null;
}

export type ToCaptureProcess = { type: 'query'; id: number; query: TopQuery } | { type: 'stop'; id: number };

export type FromCaptureProcess =
  | { type: 'started'; counters: CaptureCountersMessage }
  | { type: 'report'; id: number; report: TopReport; counters: CaptureCountersMessage }
  | { type: 'stopped'; id: number; counters: CaptureCountersMessage }
  | { type: 'error'; error: SerializedError };

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  exitCode: number;
}
