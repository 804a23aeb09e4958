import { type ChildProcess, fork } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { LiveCaptureError, SniffmeshError } from '../../util/errors.js';
import type { TopQuery, TopReport } from '../flows/top-query.js';
import type {
  CaptureCountersMessage,
  CaptureProcessSettings,
  FromCaptureProcess,
  SerializedError,
  ToCaptureProcess,
} from './capture-process-protocol.js';
import type {
  LocalQueryEngine,
  LocalTopAnswer,
  NodeCaptureStats,
  PhaseAnswer,
  PhaseRequest,
  QueryWindow,
} from './local-query-engine.js';

/** How much lower the capture process's CPU priority is than the agent's (nice increment). */
const CAPTURE_NICE_INCREMENT = 5;

const CAPTURE_PROCESS_PATH = fileURLToPath(new URL('./capture-process.js', import.meta.url));

/**
 * The node binary the capture process runs on (default: the agent's own). An agent that is not started
 * as root captures live when this binary carries file capabilities: `setcap cap_net_raw,cap_net_admin+eip`
 * on a copy of node used only for capture keeps the agent itself (which parses gossip and gRPC) without
 * any capability (README: "Privileges").
 */
const CAPTURE_NODE_ENV = 'SNIFFMESH_CAPTURE_NODE';

function deserializeError(error: SerializedError): SniffmeshError {
  if (error.name === 'LiveCaptureError') return new LiveCaptureError(error.code, error.message);
  return new SniffmeshError(error.code, error.message, { exitCode: error.exitCode });
}

type Waiter = { resolve: (m: FromCaptureProcess) => void; reject: (e: Error) => void };

/**
 * The agent's handle on its capture process: starts it, asks it questions, stops it. Each question is
 * answered with a small report (k rows) and the capture counters.
 */
export class CaptureProcessClient implements LocalQueryEngine {
  private nextId = 1;
  private readonly pending = new Map<number, Waiter>();
  private failure: SniffmeshError | null = null;
  /** Called when capture fails after it started (interface vanished, process died, ...). */
  onFailure: ((error: SniffmeshError) => void) | null = null;
  /** Called when a replay without --loop reached the end of its file (error: it was damaged there). */
  onReplayFinished: ((counters: CaptureCountersMessage, error: SniffmeshError | null) => void) | null = null;

  private constructor(private readonly child: ChildProcess) {}

  /** Starts capturing; resolves once the interface is open, rejects with the opening error. */
  static start(
    settings: CaptureProcessSettings,
  ): Promise<{ client: CaptureProcessClient; counters: CaptureCountersMessage }> {
    // 'advanced' (V8's serializer): merge answers of thousands of rows cross faster than as JSON.
    const captureNode = process.env[CAPTURE_NODE_ENV];
    const child = fork(CAPTURE_PROCESS_PATH, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      ...(captureNode === undefined || captureNode === '' ? {} : { execPath: captureNode }),
    });
    // A little below the agent's CPU priority: when the capture keeps a core busy, the agent's short,
    // latency-bound work (answering a query phase, gossip) goes first; the capture loses only the few ms
    // that work takes, which the kernel ring absorbs (a 15 ms pause at 1 M packets/s is 15k packets of
    // a ring sized for hundreds of thousands).
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, Math.min(19, getPriority(process.pid) + CAPTURE_NICE_INCREMENT));
      } catch {
        // Not permitted (containers without CAP_SYS_NICE still allow raising niceness; never fatal).
      }
    }
    const client = new CaptureProcessClient(child);
    return new Promise((resolve, reject) => {
      let started = false;
      const fail = (error: SniffmeshError) => {
        if (client.failure !== null) return;
        client.failure = error;
        for (const waiter of client.pending.values()) waiter.reject(error);
        client.pending.clear();
        if (!started) {
          child.kill();
          reject(error);
        } else {
          client.onFailure?.(error);
        }
      };
      child.on('message', (message: FromCaptureProcess) => {
        if (message.type === 'started') {
          started = true;
          resolve({ client, counters: message.counters });
        } else if (message.type === 'error') {
          fail(deserializeError(message.error));
        } else if (message.type === 'replayFinished') {
          client.onReplayFinished?.(
            message.counters,
            message.error === undefined ? null : deserializeError(message.error),
          );
        } else if (message.type === 'failed') {
          const waiter = client.pending.get(message.id);
          if (waiter !== undefined) {
            client.pending.delete(message.id);
            waiter.reject(deserializeError(message.error));
          }
        } else {
          const waiter = client.pending.get(message.id);
          if (waiter !== undefined) {
            client.pending.delete(message.id);
            waiter.resolve(message);
          }
        }
      });
      child.on('error', (error) =>
        fail(
          new SniffmeshError('CAPTURE_PROCESS', `capture process failed: ${error.message}`, { cause: error }),
        ),
      );
      child.on('exit', (code, signal) => {
        if (client.stopping) return;
        fail(
          new SniffmeshError(
            'CAPTURE_PROCESS_EXITED',
            `capture process exited unexpectedly (${signal ?? `code ${code}`}); ` +
              'libpcap aborts when the capture interface goes down or disappears',
          ),
        );
      });
      child.send({ type: 'start', settings });
    });
  }

  private stopping = false;

  query(query: TopQuery): Promise<{ report: TopReport; counters: CaptureCountersMessage }> {
    return this.request({ type: 'query', id: this.nextId++, query }).then((m) => {
      if (m.type !== 'report') throw new Error(`unexpected capture-process answer ${m.type}`);
      return { report: m.report, counters: m.counters };
    });
  }

  merge(request: PhaseRequest): Promise<PhaseAnswer> {
    return this.request({ type: 'merge', id: this.nextId++, request }).then((m) => {
      if (m.type !== 'merged') throw new Error(`unexpected capture-process answer ${m.type}`);
      return m.answer;
    });
  }

  localTop(window: QueryWindow, limit: number): Promise<LocalTopAnswer> {
    return this.request({ type: 'localTop', id: this.nextId++, window, limit }).then((m) => {
      if (m.type !== 'localTopped') throw new Error(`unexpected capture-process answer ${m.type}`);
      return m.answer;
    });
  }

  stats(): Promise<NodeCaptureStats> {
    return this.request({ type: 'stats', id: this.nextId++ }).then((m) => {
      if (m.type !== 'statsReport') throw new Error(`unexpected capture-process answer ${m.type}`);
      return m.stats;
    });
  }

  /** Stops capturing (the counts stay queryable); resolves with the final counters. */
  stop(): Promise<CaptureCountersMessage> {
    return this.request({ type: 'stop', id: this.nextId++ }).then((m) => {
      if (m.type !== 'stopped') throw new Error(`unexpected capture-process answer ${m.type}`);
      return m.counters;
    });
  }

  /** Ends the capture process. */
  close(): void {
    this.stopping = true;
    if (this.child.connected) this.child.disconnect();
  }

  private request(message: ToCaptureProcess): Promise<FromCaptureProcess> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      this.child.send(message);
    });
  }
}
