import { SniffmeshError } from '../../util/errors.js';
import { disableOffloads } from '../capture/interface-offloads.js';
import { LiveCaptureSource } from '../capture/live-capture-source.js';
import { listLocalAddresses } from '../capture/network-interfaces.js';
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

/**
 * The capture process: the only place `cap` is loaded, and where frames are decoded and counted.
 *
 * Why a process and not a worker thread: `cap` registers its poll handle on libuv's default loop, so in a
 * worker the first packet aborts the whole process; it also asserts (aborting the process) when the
 * interface goes down mid-capture. A child process keeps the agent's event loop free of the per-packet
 * work and survives those aborts. Started by CaptureProcessClient with fork(); settings arrive in the
 * first message.
 */

/** How often finished seconds are closed when no packet does it (so windows keep moving). */
const CLOCK_TICK_MS = 200;

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

function start(settings: CaptureProcessSettings): void {
  const localNetworks = new LocalNetworks();
  for (const cidr of settings.localNets) localNetworks.add(cidr);
  for (const local of listLocalAddresses()) localNetworks.add(local.address);
  const store = new FlowStore({
    maxFlows: settings.maxFlows,
    retentionSeconds: settings.retentionSeconds,
    localNetworks,
  });
  const accountant = new FrameAccountant(store);
  const source = new LiveCaptureSource({
    interfaceName: settings.interfaceName,
    filter: settings.filter,
    snaplen: settings.snaplen,
    promiscuous: settings.promiscuous,
    kernelBufferBytes: settings.bufferSizeBytes,
  });
  // Before the capture opens: libpcap sizes the ring's slots when it activates.
  if (settings.disableOffloads) restoreOffloads = disableOffloads(source.interfaceName);
  const counters = (): CaptureCountersMessage => {
    const c = source.counters();
    return {
      interfaceName: source.interfaceName,
      frames: c.frames,
      kernelDrops: c.kernelDrops,
      kernelDropsUnknownReason:
        c.kernelDrops === null ? 'native packet-socket helper not built (npm run build:native)' : null,
    };
  };
  const abort = new AbortController();
  const clock = setInterval(() => store.advanceTo(Math.floor(Date.now() / 1000)), CLOCK_TICK_MS);
  let running = true;
  source.run(accountant, abort.signal).then(
    () => {
      running = false;
    },
    (error: unknown) => {
      running = false;
      clearInterval(clock);
      restoreOffloads();
      send({ type: 'error', error: serializeError(error) });
    },
  );
  process.on('message', (message: ToCaptureProcess) => {
    if (message.type === 'query') {
      send({ type: 'report', id: message.id, report: queryTop(store, message.query), counters: counters() });
    } else if (message.type === 'stop') {
      abort.abort();
      clearInterval(clock);
      restoreOffloads();
      // Count the last partial second too: a stopping capture reports everything it saw.
      store.closeAll();
      send({ type: 'stopped', id: message.id, counters: counters() });
    }
  });
  // Opening errors (bad filter, no permission) reject within the first turn: report 'started' after it.
  setImmediate(() => {
    if (running) send({ type: 'started', counters: counters() });
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
