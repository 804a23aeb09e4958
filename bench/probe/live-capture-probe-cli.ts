/**
 * live-capture-probe: capture on one interface with a counting sink and print what arrived, as JSON.
 *
 * A manual tool and the process the live-capture tests start inside a network namespace
 * (`ip netns exec NS node dist/bench/probe/live-capture-probe-cli.js --interface IF ...`).
 * It is a process, not a worker thread, because `cap` delivers packets only on a main thread.
 *
 * Output, one JSON object per line on stdout:
 *   {"event":"capturing",...}   once the capture is open (send traffic after this line)
 *   {"event":"progress",...}    every --report-every-ms, when asked
 *   {"event":"stopped",...}     counters, after a stop request
 *   {"event":"error","code":...,"message":...}   and exit code 1, when the capture cannot run
 * Stop requests: a line "stop" on stdin or the end of stdin (when stdin is a pipe), SIGINT, SIGTERM,
 * or --duration-ms elapsing.
 */
import { fstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { LiveCaptureSource } from '../../src/node/capture/live-capture-source.js';
import { SniffmeshError } from '../../src/util/errors.js';
import { CountingFrameSink } from './counting-frame-sink.js';

const USAGE =
  'usage: live-capture-probe-cli [--interface IF] [--filter BPF] [--snaplen N] [--no-promiscuous] ' +
  '[--kernel-buffer-bytes N] [--immediate] [--duration-ms N] [--report-every-ms N]';

function parseOptionalInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed))
    throw new SniffmeshError('USAGE', `${flag} needs an integer, got ${value}\n${USAGE}`);
  return parsed;
}

function printLine(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

function stdinIsPipe(): boolean {
  try {
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      interface: { type: 'string' },
      filter: { type: 'string' },
      snaplen: { type: 'string' },
      'no-promiscuous': { type: 'boolean' },
      'kernel-buffer-bytes': { type: 'string' },
      immediate: { type: 'boolean' },
      'duration-ms': { type: 'string' },
      'report-every-ms': { type: 'string' },
    },
  });
  const source = new LiveCaptureSource({
    interfaceName: values.interface,
    filter: values.filter,
    snaplen: parseOptionalInteger(values.snaplen, '--snaplen'),
    promiscuous: values['no-promiscuous'] !== true,
    kernelBufferBytes: parseOptionalInteger(values['kernel-buffer-bytes'], '--kernel-buffer-bytes'),
    immediate: values.immediate === true,
  });
  const durationMs = parseOptionalInteger(values['duration-ms'], '--duration-ms');
  const reportEveryMs = parseOptionalInteger(values['report-every-ms'], '--report-every-ms');

  const sink = new CountingFrameSink();
  const stopController = new AbortController();
  const stop = (): void => stopController.abort();
  const running = source.run(sink, stopController.signal);
  const startedMs = Date.now();
  // run() opens synchronously: no link type yet means it failed, and awaiting reports why.
  if (source.linkType < 0) await running;

  printLine({
    event: 'capturing',
    interface: source.interfaceName,
    filter: source.filter,
    linkType: source.linkType,
    snaplen: source.snaplen,
    promiscuous: source.promiscuous,
    kernelBufferBytes: source.kernelBufferBytes,
    ring: source.ring,
    pid: process.pid,
  });

  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timers: NodeJS.Timeout[] = [];
  if (durationMs !== undefined) timers.push(setTimeout(stop, durationMs));
  if (reportEveryMs !== undefined && reportEveryMs > 0) {
    timers.push(
      setInterval(
        () => printLine({ event: 'progress', ...source.counters(), ...sink.counts() }),
        reportEveryMs,
      ),
    );
  }
  let lines: ReturnType<typeof createInterface> | undefined;
  if (stdinIsPipe()) {
    lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'stop') stop();
    });
    lines.on('close', stop);
  }

  await running;
  for (const timer of timers) clearTimeout(timer);
  lines?.close();
  process.stdin.destroy();
  printLine({
    event: 'stopped',
    ...source.counters(),
    kernelPackets: source.kernelPacketsSeen(),
    ...sink.counts(),
    durationMs: Date.now() - startedMs,
  });
}

main().catch((error: unknown) => {
  const code = error instanceof SniffmeshError ? error.code : 'INTERNAL';
  printLine({ event: 'error', code, message: (error as Error).message ?? String(error) });
  process.exitCode = 1;
});
