import type { Command } from 'commander';
import { CaptureProcessClient } from '../node/agent/capture-process-client.js';
import type { CaptureCountersMessage } from '../node/agent/capture-process-protocol.js';
import { offloadsOn } from '../node/capture/interface-offloads.js';
import type { TopReport } from '../node/flows/top-query.js';
import { DEFAULT_QUERY_CONFIG } from '../query/query-config.js';
import type { SniffmeshError } from '../util/errors.js';
import { addReportOptions, parseInteger, type ReportOptionValues, reportSettings } from './common-options.js';
import { formatCount } from './format.js';
import { reportJson, reportTable } from './report-output.js';

interface CaptureOptionValues extends ReportOptionValues {
  interface?: string;
  filter: string;
  snaplen: string;
  promisc: boolean;
  disableOffloads?: boolean;
  immediate?: boolean;
  bufferSize?: string;
  duration?: string;
  refresh: string;
}

/** Largest kernel buffer accepted (libpcap's own buffer size is an int). */
const MAX_BUFFER_MIB = 2047;

/**
 * With cap's own TPACKET_V2 ring (--immediate, or no native helper) and offloads on, the ring holds about
 * a thousand packets and drops start near 100k packets/s (README, "Live capture"): say so once, with the
 * remedy. Silent when ethtool is missing.
 */
function warnAboutOffloads(interfaceName: string): void {
  let on: string[];
  try {
    on = offloadsOn(interfaceName);
  } catch {
    return;
  }
  if (on.length === 0) return;
  process.stderr.write(
    `sniffmesh: note: ${on.join('/')} offloads are on on ${interfaceName}, so the capture ring holds few packets ` +
      'and bursts above ~100k packets/s may drop; --disable-offloads avoids that (restored afterwards)\n',
  );
}

function countersLine(counters: CaptureCountersMessage, report: TopReport): string {
  const undecoded = Object.values(report.undecoded).reduce((a, b) => a + b, 0);
  const drops =
    counters.kernelDrops === null
      ? `unknown (${counters.kernelDropsUnknownReason})`
      : formatCount(counters.kernelDrops);
  const ring = counters.ring === null ? '' : ` (${counters.ring} ring)`;
  return `capture ${counters.interfaceName}${ring}: seen ${formatCount(counters.frames)} frames, undecoded ${formatCount(undecoded)}, kernel drops ${drops}`;
}

/**
 * `sniffmesh capture`: live capture with a refreshing top table (on a terminal) until Ctrl-C or
 * --duration; then the final table, or with --json exactly one JSON object.
 */
export function registerCaptureCommand(program: Command, output: { out: (text: string) => void }): void {
  const command = program
    .command('capture')
    .description('capture live on an interface and show top talkers (needs root or CAP_NET_RAW)')
    .option('-i, --interface <name>', 'interface to capture on (default: the first up, non-loopback one)')
    .option('-f, --filter <expr>', 'BPF capture filter in tcpdump syntax', '')
    .option('-s, --snaplen <bytes>', 'bytes of each frame to keep (decoding needs only the headers)', '65535')
    .option('--no-promisc', 'do not put the interface into promiscuous mode')
    .option(
      '-B, --buffer-size <MiB>',
      'kernel capture buffer in MiB (default: see README, sized against loss)',
    )
    .option(
      '--disable-offloads',
      'switch GRO/GSO/TSO off on the interface while capturing (far less loss with cap; restored afterwards)',
    )
    .option(
      '--immediate',
      "hand each packet over at once (cap's immediate mode: a TPACKET_V2 ring, which loses packets sooner)",
    )
    .option('-d, --duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--refresh <seconds>', 'table refresh interval on a terminal', '1');
  addReportOptions(command);
  command.action(async (values: CaptureOptionValues) => {
    const settings = reportSettings(values);
    const durationSeconds =
      values.duration === undefined ? null : parseInteger('--duration', values.duration, 1, 365 * 24 * 3600);
    const refreshSeconds = parseInteger('--refresh', values.refresh, 1, 3600);
    const snaplen = parseInteger('--snaplen', values.snaplen, 64, 65535);
    const bufferSizeBytes =
      values.bufferSize === undefined
        ? undefined
        : parseInteger('--buffer-size', values.bufferSize, 1, MAX_BUFFER_MIB) * 1024 * 1024;
    const started = await CaptureProcessClient.start({
      interfaceName: values.interface,
      filter: values.filter,
      snaplen,
      promiscuous: values.promisc,
      bufferSizeBytes,
      disableOffloads: values.disableOffloads === true,
      immediate: values.immediate === true,
      maxFlows: settings.maxFlows,
      retentionSeconds: settings.retentionSeconds,
      localNets: settings.localNetworks.describe(),
      tableTtlMs: DEFAULT_QUERY_CONFIG.windowTableTtlMs,
      tableCacheEntries: DEFAULT_QUERY_CONFIG.windowTableCacheEntries,
    });
    const { interfaceName } = started.counters;
    const { client } = started;
    // One status line on stderr (stdout stays clean for --json): scripts can wait for it before sending.
    process.stderr.write(
      `sniffmesh: capturing on ${interfaceName}${values.filter === '' ? '' : ` (filter '${values.filter}')`}` +
        `${durationSeconds === null ? '; Ctrl-C stops' : ` for ${durationSeconds}s`}\n`,
    );
    if (values.disableOffloads !== true && started.counters.ring === 'tpacket-v2') {
      warnAboutOffloads(interfaceName);
    }
    const interactive = process.stdout.isTTY === true && !settings.json;
    const startedAt = Date.now();
    let failure: SniffmeshError | null = null;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearInterval(refresh);
        if (stopTimer !== null) clearTimeout(stopTimer);
        process.off('SIGINT', finish);
        process.off('SIGTERM', finish);
        resolve();
      };
      const refresh = setInterval(() => {
        if (!interactive) return;
        client.query(settings.query).then(
          ({ report, counters }) => {
            const elapsed = ((Date.now() - startedAt) / 1000).toFixed(0);
            process.stdout.write(
              `\x1b[H\x1b[2J${reportTable(report, `live ${counters.interfaceName}, ${elapsed}s (Ctrl-C stops)`)}\n${countersLine(counters, report)}\n`,
            );
          },
          () => {},
        );
      }, refreshSeconds * 1000);
      const stopTimer = durationSeconds === null ? null : setTimeout(finish, durationSeconds * 1000);
      process.on('SIGINT', finish);
      process.on('SIGTERM', finish);
      client.onFailure = (error) => {
        failure = error;
        finish();
      };
    });
    try {
      if (failure !== null) throw failure;
      const counters = await client.stop();
      const { report } = await client.query(settings.query);
      const durationActual = (Date.now() - startedAt) / 1000;
      if (settings.json) {
        output.out(
          reportJson(report, {
            capture: {
              interface: counters.interfaceName,
              filter: values.filter,
              frames: counters.frames,
              kernelDrops: counters.kernelDrops,
              ring: counters.ring,
              durationSeconds: durationActual,
            },
          }),
        );
      } else {
        output.out(
          `${reportTable(report, `live ${counters.interfaceName}, ${durationActual.toFixed(1)}s`)}\n${countersLine(counters, report)}`,
        );
      }
    } finally {
      client.close();
    }
  });
}
