import { accessSync, constants as fsConstants } from 'node:fs';
import { SniffmeshError, UsageError } from '../../util/errors.js';
import { dropPrivileges } from '../../util/privilege-drop.js';
import { STDIN_PATH } from '../capture/capture-file-source.js';
import type { CaptureSource } from '../capture/frame-sink.js';
import { disableOffloads } from '../capture/interface-offloads.js';
import { LiveCaptureSource } from '../capture/live-capture-source.js';
import { listLocalAddresses } from '../capture/network-interfaces.js';
import { ReplayCaptureSource } from '../capture/replay-source.js';
import { FlowStore } from '../flows/flow-store.js';
import { LocalNetworks } from '../flows/local-networks.js';
import { queryTop } from '../flows/top-query.js';
import { FrameAccountant } from '../frame-accountant.js';
import type {
  CaptureCountersMessage,
  CaptureProcessSettings,
  FromCaptureProcess,
  SerializedError,
  ToCaptureProcess,
} from './capture-process-protocol.js';
import { FlowStoreQueryEngine } from './flow-store-query-engine.js';
import { startStoreClock } from './store-clock.js';

/**
 * The capture process: the only place `cap` is loaded, and where frames are decoded and counted.
 *
 * Why a process and not a worker thread: `cap` registers its poll handle on libuv's default loop, so in a
 * worker the first packet aborts the whole process; it also asserts (aborting the process) when the
 * interface goes down mid-capture. A child process keeps the agent's event loop free of the per-packet
 * work and survives those aborts. Started by CaptureProcessClient with fork(); settings arrive in the
 * first message.
 */

/**
 * Work per prewarm step, ms: frames and queries wait at most this long for it. A 100k-flow host table
 * takes 20-30 steps, well within the time before queries read the new second (closedSecondLagMs).
 */
const PREWARM_STEP_MS = 2;

/** Restores the interface's offloads if this process switched them off (idempotent). */
let restoreOffloads: () => void = () => {};

function send(message: FromCaptureProcess): void {
  process.send?.(message);
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof SniffmeshError) {
    return { name: error.name, code: error.code, message: error.message, exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'Error', code: 'INTERNAL', message, exitCode: 1 };
}

/**
 * A replayed file is read by the capture process after it dropped privileges (and re-opened for every
 * pass of --loop), so the dropped-to user must be able to read it. Checked before 'started', so a file it
 * cannot read fails the agent before it joins.
 */
function checkReplayReadable(path: string, dropTo: CaptureProcessSettings['dropTo']): void {
  if (path === STDIN_PATH) return;
  try {
    accessSync(path, fsConstants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const who =
      dropTo === undefined ? '' : ` by user ${dropTo.user} (the agent drops to it before reading input)`;
    const hint =
      code === 'EACCES' && dropTo !== undefined
        ? `; make it readable (chmod o+r, or a group of --group ${dropTo.group}) or choose --user`
        : '';
    throw new SniffmeshError(
      code === 'ENOENT' ? 'CAPTURE_FILE_NOT_FOUND' : 'CAPTURE_FILE_UNREADABLE',
      `--pcap ${path}: ${code === 'ENOENT' ? 'no such file' : `cannot be read${who} (${code})`}${hint}`,
      { cause: error },
    );
  }
}

function start(settings: CaptureProcessSettings): void {
  if (settings.dropTo !== undefined && settings.disableOffloads) {
    // Restoring the offloads when the capture ends needs CAP_NET_ADMIN, which the drop gives up.
    throw new UsageError('disabling offloads and dropping privileges cannot be combined');
  }
  if (settings.replay !== undefined) {
    // Replay needs no privilege at all: give it up before the first byte of the file is read.
    if (settings.dropTo !== undefined) dropPrivileges(settings.dropTo);
    checkReplayReadable(settings.replay.path, settings.dropTo);
  }
  const localNetworks = new LocalNetworks();
  for (const cidr of settings.localNets) localNetworks.add(cidr);
  // A replayed file was captured elsewhere: only --local-net says which of its addresses are "this host".
  if (settings.replay === undefined) {
    for (const local of listLocalAddresses()) localNetworks.add(local.address);
  }
  const store = new FlowStore({
    maxFlows: settings.maxFlows,
    retentionSeconds: settings.retentionSeconds,
    localNetworks,
  });
  const accountant = new FrameAccountant(store);
  let source: CaptureSource;
  let live: LiveCaptureSource | null = null;
  let interfaceName: string;
  if (settings.replay !== undefined) {
    source = new ReplayCaptureSource(settings.replay);
    interfaceName = `file:${settings.replay.path}`;
  } else {
    live = new LiveCaptureSource({
      interfaceName: settings.interfaceName,
      filter: settings.filter,
      snaplen: settings.snaplen,
      promiscuous: settings.promiscuous,
      kernelBufferBytes: settings.bufferSizeBytes,
      immediate: settings.immediate ?? false,
    });
    source = live;
    interfaceName = live.interfaceName;
    // Before the capture opens: libpcap sizes the ring's slots when it activates.
    if (settings.disableOffloads) restoreOffloads = disableOffloads(live.interfaceName);
  }
  const counters = (): CaptureCountersMessage => {
    const c = source.counters();
    return {
      interfaceName,
      frames: c.frames,
      kernelDrops: c.kernelDrops,
      kernelDropsUnknownReason:
        c.kernelDrops !== null
          ? null
          : settings.replay !== undefined
            ? 'replaying a file'
            : 'native packet-socket helper not built (npm run build:native)',
      ring: live?.ring ?? null,
    };
  };
  const engine = new FlowStoreQueryEngine(
    store,
    {
      captureInterface: interfaceName,
      captureFilter: settings.filter,
      kernelDrops: () => source.counters().kernelDrops,
      tableTtlMs: settings.tableTtlMs,
      tableCacheEntries: settings.tableCacheEntries,
    },
    settings.nodeName ?? '',
  );
  const answer = (id: number, work: () => FromCaptureProcess): void => {
    try {
      send(work());
    } catch (error) {
      send({ type: 'failed', id, error: serializeError(error) });
    }
  };
  const abort = new AbortController();
  // Tables of recent questions for a newly closed second are built in small steps between frames and
  // queries (FlowStoreQueryEngine.prewarm), never in one long block that queries would wait behind.
  let prewarming = false;
  const prewarmStep = (): void => {
    let more = false;
    try {
      more = engine.prewarmStep(PREWARM_STEP_MS);
    } catch {
      // A question that cannot be answered any more (bad filter) is simply not prewarmed.
    }
    if (more) setImmediate(prewarmStep);
    else prewarming = false;
  };
  // Seconds close by this clock or on the packet path (the first frame of the next second); either way,
  // once a second has closed, the tables of recent questions are built for it.
  const stopClock = startStoreClock(store, () => {
    if (engine.prewarm() && !prewarming) {
      prewarming = true;
      setImmediate(prewarmStep);
    }
  });
  // Opening errors (bad filter, no permission, not a capture file) fail the first turn.
  let failed = false;
  const running = source.run(accountant, abort.signal);
  // A live capture is open now (run() opens it synchronously) and is never re-opened: an interface that
  // goes down or away aborts this process (cap asserts) and the agent exits 1. So nothing here needs a
  // privilege any more: drop every one before the first frame is read (frames arrive as events on a
  // later turn of the loop, after this).
  if (settings.replay === undefined && settings.dropTo !== undefined) dropPrivileges(settings.dropTo);
  running.then(
    () => {
      if (settings.replay !== undefined && !abort.signal.aborted) {
        send({ type: 'replayFinished', counters: counters() });
      }
    },
    (error: unknown) => {
      if (settings.replay !== undefined && source.counters().frames > 0) {
        // A damaged file: every frame before the damage is counted and stays queryable.
        send({ type: 'replayFinished', counters: counters(), error: serializeError(error) });
        return;
      }
      failed = true;
      stopClock();
      restoreOffloads();
      send({ type: 'error', error: serializeError(error) });
    },
  );
  process.on('message', (message: ToCaptureProcess) => {
    if (message.type === 'query') {
      answer(message.id, () => ({
        type: 'report',
        id: message.id,
        report: queryTop(store, message.query),
        counters: counters(),
      }));
    } else if (message.type === 'merge') {
      answer(message.id, () => ({
        type: 'merged',
        id: message.id,
        answer: engine.mergeNow(message.request),
      }));
    } else if (message.type === 'localTop') {
      answer(message.id, () => ({
        type: 'localTopped',
        id: message.id,
        answer: engine.localTopNow(message.window, message.limit),
      }));
    } else if (message.type === 'stats') {
      answer(message.id, () => ({ type: 'statsReport', id: message.id, stats: engine.statsNow() }));
    } else if (message.type === 'stop') {
      abort.abort();
      stopClock();
      // A live source first reads what its ring still holds from before the stop (TPACKET_V3 drain).
      const stopped = (): void => {
        restoreOffloads();
        // Count the last partial second too: a stopping capture reports everything it saw.
        store.closeAll();
        send({ type: 'stopped', id: message.id, counters: counters() });
      };
      running.then(stopped, stopped);
    }
  });
  // Opening errors (bad filter, no permission) reject within the first turn: report 'started' after it.
  setImmediate(() => {
    if (!failed) send({ type: 'started', counters: counters() });
  });
}

// Ctrl-C reaches the whole process group: the agent decides when capture stops, so ignore it here.
process.on('SIGINT', () => {});
// When the agent goes away, so does its capture.
process.on('disconnect', () => {
  restoreOffloads();
  process.exit(0);
});
process.on('SIGTERM', () => {
  restoreOffloads();
  process.exit(0);
});
process.once('message', (first: { type: 'start'; settings: CaptureProcessSettings }) => {
  try {
    if (first.type !== 'start') throw new Error(`capture process expected 'start', got '${first.type}'`);
    start(first.settings);
  } catch (error) {
    send({ type: 'error', error: serializeError(error) });
  }
});
